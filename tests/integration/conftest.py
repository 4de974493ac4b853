# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Integration tests: real ansible-playbook runs against xapisim labs over HTTPS with the lab CA.

Fixtures:
- standalone_lab / pool_lab / big_lab: a running lab (simulator/labs/*.yml), one per test module.
- playbook: runs a playbook from tests/integration/playbooks and returns a PlaybookRun with the
  module result, the output, and the XAPI calls and open sessions the simulator recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xapisim import Lab

from lab_helpers import control

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "simulator" / "labs"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
# Simulated time runs this much faster than real time (a 10 s XAPI restart takes 10 ms).
TIME_SCALE = 0.001
PLAYBOOK_TIMEOUT_SECONDS = 300


def _start(name, tmp_path_factory):
    return Lab.start(LABS / name, state_dir=tmp_path_factory.mktemp(name.replace(".yml", "")),
                     time_scale=TIME_SCALE)


@pytest.fixture(scope="module")
def standalone_lab(tmp_path_factory):
    with _start("three-standalone.yml", tmp_path_factory) as lab:
        yield lab


@pytest.fixture(scope="module")
def pool_lab(tmp_path_factory):
    with _start("pool-of-four.yml", tmp_path_factory) as lab:
        yield lab


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory):
    with _start("big-pool.yml", tmp_path_factory) as lab:
        yield lab


class PlaybookRun(object):
    def __init__(self, process, result, calls, sessions):
        self.returncode = process.returncode
        self.output = process.stdout + process.stderr
        self.result = result  # the registered module result
        self.calls = calls  # XAPI calls the simulator logged during the run
        self.sessions = sessions  # GET /sessions after the run

    @property
    def methods(self):
        return [call["method"] for call in self.calls]


@pytest.fixture
def playbook(tmp_path):
    """playbook(lab, name, extra_vars, env=None, args=()) -> PlaybookRun."""

    def run(lab, name, extra_vars, env=None, args=()):
        since = max([call["seq"] for call in control(lab, "/calls")["calls"]] or [0])
        result_path = tmp_path / "result.json"
        vars_path = tmp_path / "vars.json"  # a file, so that passwords are not on the command line
        vars_path.write_text(json.dumps(dict(extra_vars, result_path=str(result_path))))
        inventory = tmp_path / "inventory.ini"
        # The venv's Python runs the module (interpreter discovery could pick a pyenv shim instead).
        inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        environment = {key: value for key, value in os.environ.items() if not key.startswith("XENSERVER_")}
        environment.update({
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "PATH": "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")),
        })
        environment.update(env or {})
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                   "-e", "@%s" % vars_path, str(PLAYBOOKS / name)] + list(args)
        process = subprocess.run(command, env=environment, cwd=str(tmp_path), capture_output=True, text=True,
                                 timeout=PLAYBOOK_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False)
        result = json.loads(result_path.read_text()) if result_path.exists() else None
        calls = control(lab, "/calls?since=%d" % since)["calls"]
        return PlaybookRun(process, result, calls, control(lab, "/sessions"))

    return run
