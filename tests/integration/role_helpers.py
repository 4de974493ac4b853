# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers for the tests of the roles: run the collection's playbooks through ansible-runner, as AWX does,
with the connection only in the XENSERVER_* environment variables an AWX credential injects, and read
the simulator's state."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import ansible_runner
import yaml

from lab_helpers import control

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "simulator" / "labs"
PLAYBOOKS = REPO / "playbooks"
TEST_PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
RUN_TIMEOUT_SECONDS = 600


def lab_dict(name):
    """A lab file as a dict, to start a variant of it."""
    return copy.deepcopy(yaml.safe_load((LABS / name).read_text()))


class RoleRun(object):
    def __init__(self, runner, output, calls, sessions):
        self.rc = runner.rc
        self.status = runner.status
        self.output = output
        self.calls = calls  # the XAPI calls the simulator logged during the run
        self.sessions = sessions  # GET /sessions after the run

    @property
    def writes(self):
        return [call for call in self.calls if call["kind"] == "write"]

    @property
    def methods(self):
        return [call["method"] for call in self.calls]

    def host_calls(self, method):
        return [call for call in self.calls if call["method"] == method]


def run_playbook(lab, playbook, tmp_path, extra_vars=None, check=False, host="xs1", name="run"):
    """Run playbooks/<playbook> (or a path) with ansible-runner; the connection comes only from the environment."""
    since = max([call["seq"] for call in control(lab, "/calls")["calls"]] or [0])
    entry = next(item for item in lab.info["hosts"] if item["name"] == host)
    private = tmp_path / ("runner-%s" % name)
    private.mkdir()
    envvars = {
        # What the collection's AWX credential type injects.
        "XENSERVER_HOST": entry["url"],
        "XENSERVER_USER": entry["username"],
        "XENSERVER_PASSWORD": entry["password"],
        "XENSERVER_VALIDATE_CERTS": "true",
        "XENSERVER_CA_PATH": lab.info["ca_bundle"],
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PATH": "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")),
    }
    path = Path(playbook) if os.path.isabs(str(playbook)) else PLAYBOOKS / playbook
    runner = ansible_runner.run(
        private_data_dir=str(private), playbook=str(path), extravars=dict(extra_vars or {}), envvars=envvars,
        cmdline="--check" if check else None, quiet=True, timeout=RUN_TIMEOUT_SECONDS)
    output = runner.stdout.read()
    calls = control(lab, "/calls?since=%d" % since)["calls"]
    return RoleRun(runner, output, calls, control(lab, "/sessions"))


def state(lab):
    """The first pool's objects by class, and the machines."""
    answer = control(lab, "/state")
    return answer


def pool_objects(lab, pool_index=0):
    return control(lab, "/state")["pools"][pool_index]["objects"]


def the_pool(objects):
    return next(iter(objects["pool"].values()))


def hosts_by_name(objects):
    return dict((host["name_label"], host) for host in objects["host"].values())


def host_name_of(objects, ref):
    return objects["host"][ref]["name_label"] if ref in objects["host"] else None


def vm_placement(objects):
    """{vm name: (host name or None, power state)} for the VMs (not control domains, templates or snapshots)."""
    return dict(
        (vm["name_label"], (host_name_of(objects, vm["resident_on"]), vm["power_state"]))
        for vm in objects["VM"].values()
        if not vm.get("is_control_domain") and not vm.get("is_a_template") and not vm.get("is_a_snapshot"))


def agent_start_times(objects):
    return dict((host["name_label"], float(host["other_config"].get("agent_start_time", 0)))
                for host in objects["host"].values())


def read_json(path):
    return json.loads(Path(path).read_text())
