# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command against a simulated lab: start the lab, run the command, stop the lab.

    python tools/with_lab.py [--time-scale S] simulator/labs/three-standalone.yml -- ansible-playbook playbooks/demo.yml

The command gets the lab's first host as its connection, through the collection's environment
variables (XENSERVER_HOST, XENSERVER_USER, XENSERVER_PASSWORD, XENSERVER_CA_PATH; any other
XENSERVER_* variable is left out, so nothing reaches a real pool), and the whole lab through
XAPISIM_LAB_JSON (path of lab.json) and XAPISIM_CONTROL_URL. Exits with the command's exit code;
the lab is stopped in every case. running_lab() is the same for other tools (tools/rehearse.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path


@contextlib.contextmanager
def running_lab(source, time_scale=None, host=None):
    """Starts a lab (a lab file or dict) in a temporary state directory; yields (lab, env): the
    xapisim.Lab and os.environ with the connection to `host` (a host name; default the lab's first
    host) in the XENSERVER_* variables and the lab in XAPISIM_LAB_JSON / XAPISIM_CONTROL_URL.
    The lab is stopped and its directory removed on the way out."""
    try:
        from xapisim import Lab
    except ImportError:
        sys.exit("the simulator is not installed; run `make setup` (pip install -e simulator).")

    with tempfile.TemporaryDirectory(prefix="xs-lab-") as state_dir:
        with Lab.start(source, state_dir=state_dir, time_scale=time_scale) as lab:
            entry = next(h for h in lab.info["hosts"] if host in (None, h["name"]))
            env = dict((k, v) for k, v in os.environ.items() if not k.startswith("XENSERVER_"))
            env.update({
                "XENSERVER_HOST": entry["url"],
                "XENSERVER_USER": entry["username"],
                "XENSERVER_PASSWORD": entry["password"],
                "XAPISIM_LAB_JSON": str(Path(state_dir) / "lab.json"),
                "XAPISIM_CONTROL_URL": lab.control_url,
            })
            if lab.info["ca_bundle"]:
                env["XENSERVER_CA_PATH"] = lab.info["ca_bundle"]
            yield lab, env


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # Everything after "--" is the command, whatever comes before it (options may follow the lab).
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     usage="%(prog)s [--time-scale S] LAB -- COMMAND ...")
    parser.add_argument("lab", help="lab file, e.g. simulator/labs/three-standalone.yml")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="simulated seconds per real second override (smaller is faster)")
    options = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("give the command to run after --")

    print("with_lab: starting %s" % options.lab, flush=True)
    with running_lab(options.lab, time_scale=options.time_scale) as (lab, env):
        print("with_lab: %d host(s) listening, first %s; running: %s"
              % (len(lab.info["hosts"]), env["XENSERVER_HOST"], " ".join(command)), flush=True)
        returncode = subprocess.call(command, env=env)
    print("with_lab: lab stopped; command exited with %d" % returncode, flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
