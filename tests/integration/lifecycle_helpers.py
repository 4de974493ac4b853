# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers for the host lifecycle integration tests (xs_maintenance, xs_host_power, xs_host):
labs derived from pool-of-four.yml, the pool as the simulator holds it, and run checks."""

from __future__ import annotations

import copy
import json

import yaml

from xapisim import Lab

from conftest import LABS, TIME_SCALE
from lab_helpers import control, host

POOL_OF_FOUR = LABS / "pool-of-four.yml"


def start_lab(tmp_path_factory, name, change=None):
    """pool-of-four.yml, changed by change(lab_dict) when given, running at the tests' time scale."""
    lab = yaml.safe_load(POOL_OF_FOUR.read_text())
    if change is not None:
        lab = copy.deepcopy(lab)
        change(lab)
    return Lab.start(lab, state_dir=tmp_path_factory.mktemp(name), time_scale=TIME_SCALE)


def lab_host(lab_dict, name):
    return next(entry for entry in lab_dict["hosts"] if entry["name"] == name)


def connect(lab, via="xs1", **extra):
    """Extra vars that log in through host `via` with the lab CA."""
    entry = host(lab, via)
    return dict({"xs_hostname": entry["url"], "xs_password": entry["password"],
                 "xs_ca_path": lab.info["ca_bundle"]}, **extra)


def pool_state(lab):
    state = control(lab, "/state")
    return state["pools"][0]


def objects(lab, xapi_class):
    return pool_state(lab)["objects"].get(xapi_class, {})


def host_ref(lab, name):
    return next(ref for ref, record in objects(lab, "host").items() if record["name_label"] == name)


def host_record(lab, name):
    return objects(lab, "host")[host_ref(lab, name)]


def is_live(lab, name):
    record = host_record(lab, name)
    return objects(lab, "host_metrics")[record["metrics"]]["live"]


def master_name(lab):
    return pool_state(lab)["master"]


def vm_ref(lab, name):
    return next(ref for ref, record in objects(lab, "VM").items() if record["name_label"] == name)


def placement(lab):
    """{VM name: (host name or None, power state)} for the guest VMs of the pool."""
    state = pool_state(lab)["objects"]
    hosts = dict((ref, record["name_label"]) for ref, record in state["host"].items())
    return dict((vm["name_label"], (hosts.get(vm["resident_on"]), vm["power_state"]))
                for vm in state["VM"].values()
                if not vm["is_control_domain"] and not vm["is_a_template"] and not vm["is_a_snapshot"])


def markers(lab, name):
    return dict((key, value) for key, value in host_record(lab, name)["other_config"].items()
                if key.startswith("MAINTENANCE_MODE"))


def is_write(call):
    """A call that may change something. The simulator logs a method it does not know as "write"
    (ARCHITECTURE.md says get_* are reads): such a read, refused as unknown, changed nothing."""
    if call["kind"] != "write":
        return False
    unknown = call["status"] == "error" and (call["error"] or [""])[0] == "MESSAGE_METHOD_UNKNOWN"
    return not (unknown and call["method"].split(".")[-1].startswith("get_"))


def writes(run):
    return [call["method"] for call in run.calls if is_write(call)]


def assert_clean(run, lab, secrets=()):
    """The playbook ran, every session was logged out, and no password or secret leaked anywhere."""
    assert run.returncode == 0, run.output
    assert run.result is not None, run.output
    assert run.sessions["total"] == 0, run.sessions
    assert "Traceback" not in run.output, run.output
    text = run.output + json.dumps(run.result) + json.dumps([call["args"] for call in run.calls])
    for secret in [entry["password"] for entry in lab.info["hosts"]] + list(secrets):
        assert secret not in text


def succeeded(run, lab, secrets=()):
    assert_clean(run, lab, secrets)
    assert not run.result.get("failed"), run.result.get("msg")
    return run.result


def failed(run, lab, secrets=()):
    assert_clean(run, lab, secrets)
    assert run.result.get("failed"), run.result
    return run.result["msg"]
