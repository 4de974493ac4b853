# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command against a simulated lab: start the lab, run the command, stop the lab.

    python tools/with_lab.py simulator/labs/three-standalone.yml -- ansible-playbook playbooks/demo.yml

The command gets the lab's first host as its connection, through the collection's environment
variables (XENSERVER_HOST, XENSERVER_USER, XENSERVER_PASSWORD, XENSERVER_CA_PATH), and the whole lab
through XAPISIM_LAB_JSON (path of lab.json) and XAPISIM_CONTROL_URL. Exits with the command's exit
code; the lab is stopped in every case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lab", help="lab file, e.g. simulator/labs/three-standalone.yml")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="simulated seconds per real second override (smaller is faster)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command to run after --")

    try:
        from xapisim import Lab
    except ImportError:
        sys.exit("with_lab: the simulator is not installed; run `make setup` (pip install -e simulator).")

    with tempfile.TemporaryDirectory(prefix="xs-lab-") as state_dir:
        print("with_lab: starting %s" % options.lab, flush=True)
        with Lab.start(options.lab, state_dir=state_dir, time_scale=options.time_scale) as lab:
            first = lab.info["hosts"][0]
            env = dict(os.environ)
            env.update({
                "XENSERVER_HOST": first["url"],
                "XENSERVER_USER": first["username"],
                "XENSERVER_PASSWORD": first["password"],
                "XAPISIM_LAB_JSON": str(Path(state_dir) / "lab.json"),
                "XAPISIM_CONTROL_URL": lab.control_url,
            })
            if lab.info["ca_bundle"]:
                env["XENSERVER_CA_PATH"] = lab.info["ca_bundle"]
            print("with_lab: %d host(s) listening, first %s; running: %s"
                  % (len(lab.info["hosts"]), first["url"], " ".join(command)), flush=True)
            returncode = subprocess.call(command, env=env)
        print("with_lab: lab stopped; command exited with %d" % returncode, flush=True)
    return returncode


if __name__ == "__main__":
    sys.exit(main())
