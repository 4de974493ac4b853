# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_maintenance against simulator/labs/pool-of-four.yml, as an operator maintains hosts (seeds 000
and 002): a member with running, suspended and halted VMs goes into maintenance and comes back with
every VM where and as it was; then the master, whose role moves first while the pool keeps
answering. A second lab adds a VM on local storage: it blocks entry with a clear list, is shut down
and started again with blocked_vms: shutdown, an evacuation failing part way is undone, and a run
that dies between disable and evacuate is finished by the next one. Tests run in file order, each
starting where the previous one ended."""

from __future__ import annotations

import pytest

from lab_helpers import arm_fault, clear_faults
from lifecycle_helpers import (
    assert_clean,
    connect,
    failed,
    host_record,
    lab_host,
    markers,
    master_name,
    objects,
    placement,
    start_lab,
    succeeded,
    vm_ref,
    writes,
)

RECORD_KEYS = {"MAINTENANCE_MODE", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with start_lab(tmp_path_factory, "maintenance") as running:
        running.initial = placement(running)
        yield running


def add_local_vm(lab_dict):
    lab_host(lab_dict, "xs2")["vms"].append(
        {"name": "local-2", "power_state": "running", "memory_gib": 2, "disks": [{"sr": "Local storage", "size_gib": 10}]})


@pytest.fixture(scope="module")
def local_lab(tmp_path_factory):
    with start_lab(tmp_path_factory, "maintenance-local", add_local_vm) as running:
        running.initial = placement(running)
        yield running


def maintain(lab, name, via="xs1", **extra):
    return connect(lab, via, xs_host=name, **dict(("xs_" + key, value) for key, value in extra.items()))


def host_vm_uuid(lab, name):
    return objects(lab, "VM")[vm_ref(lab, name)]["uuid"]


def on_host(lab, name):
    return sorted(vm for vm, (where, _state) in placement(lab).items() if where == name)


# ---- a member ----

def test_check_mode_enter_writes_nothing(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2"), args=["--check", "--diff"])
    result = succeeded(run, lab)
    assert result["changed"] is True
    assert writes(run) == []
    assert result["diff"]["after"]["maintenance_mode"] is True
    assert placement(lab) == lab.initial


def test_enter_maintenance_on_a_member(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2"))
    result = succeeded(run, lab)
    assert result["changed"] is True
    xs2 = host_record(lab, "xs2")
    assert xs2["enabled"] is False
    assert set(markers(lab, "xs2")) == RECORD_KEYS
    assert markers(lab, "xs2")["MAINTENANCE_MODE"] == "true"
    now = placement(lab)
    # the running VMs went elsewhere and still run; the suspended and halted ones were not touched
    for vm in ("web-2", "db-2"):
        assert now[vm][0] not in (None, "xs2") and now[vm][1] == "Running"
    assert now["batch-2"] == lab.initial["batch-2"] and now["template-2"] == lab.initial["template-2"]
    moved = dict((vm["name"], vm) for vm in result["vms"])
    assert set(moved) == {"web-2", "db-2"}
    assert moved["db-2"]["destination"] == now["db-2"][0] and moved["db-2"]["source"] == "xs2"
    assert result["host"]["resident_vms"] == [] and result["elapsed_seconds"] > 0
    methods = writes(run)
    assert methods.index("host.disable") < methods.index("Async.host.evacuate")


def test_enter_again_changes_nothing(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2"))
    result = succeeded(run, lab)
    assert result["changed"] is False
    assert writes(run) == []


def test_check_mode_leave_writes_nothing(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2", state="active"), args=["--check"])
    result = succeeded(run, lab)
    assert result["changed"] is True and writes(run) == []
    assert host_record(lab, "xs2")["enabled"] is False


def test_leave_brings_every_vm_back_where_and_as_it_was(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2", state="active"))
    result = succeeded(run, lab)
    assert result["changed"] is True
    assert host_record(lab, "xs2")["enabled"] is True
    assert markers(lab, "xs2") == {}
    assert placement(lab) == lab.initial
    assert sorted((vm["name"], vm["action"], vm["destination"]) for vm in result["vms"]) == [
        ("db-2", "migrated", "xs2"), ("web-2", "migrated", "xs2")]
    assert result["vms_not_restored"] == []


def test_leave_again_changes_nothing(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs2", state="active"))
    assert succeeded(run, lab)["changed"] is False
    assert writes(run) == []


# ---- the master ----

def test_master_hands_its_role_over_first_and_the_pool_keeps_answering(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs1"))
    result = succeeded(run, lab)
    new_master = master_name(lab)
    assert new_master != "xs1"
    assert result["master_handover"] == {"old": "xs1", "new": new_master}
    methods = writes(run)
    assert methods.index("pool.designate_new_master") < methods.index("host.disable")
    assert host_record(lab, "xs1")["enabled"] is False
    assert on_host(lab, "xs1") == []
    assert result["host"]["is_master"] is False
    # the pool answers through the old master's address, which now redirects to the new master
    info = playbook(lab, "pool_info.yml", connect(lab, "xs1"))
    assert_clean(info, lab)
    assert info.result["pool"]["master"] == new_master


def test_master_enter_again_changes_nothing(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs1"))
    assert succeeded(run, lab)["changed"] is False
    assert writes(run) == []


def test_former_master_leaves_maintenance_with_its_vms(lab, playbook):
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs1", state="active"))
    succeeded(run, lab)
    assert host_record(lab, "xs1")["enabled"] is True
    assert placement(lab) == lab.initial
    again = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs1", state="active"))
    assert succeeded(again, lab)["changed"] is False and writes(again) == []


def test_evacuation_over_the_storage_network(lab, playbook):
    storage = next(ref for ref, network in objects(lab, "network").items() if network["bridge"] == "xenbr1")
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs3", migration_network="xenbr1"))
    succeeded(run, lab)
    evacuate = next(call for call in run.calls if call["method"] == "Async.host.evacuate")
    assert evacuate["args"][1] == storage
    assert on_host(lab, "xs3") == []
    run = playbook(lab, "xs_maintenance.yml", maintain(lab, "xs3", state="active"))
    succeeded(run, lab)
    assert placement(lab) == lab.initial


# ---- a VM on local storage ----

def test_a_local_disk_blocks_entry_with_a_clear_list(local_lab, playbook):
    run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2"))
    message = failed(run, local_lab)
    assert message.startswith("Cannot put host xs2 into maintenance: 1 VM would block the evacuation: VM 'local-2'")
    assert "a local disk the other hosts cannot reach [VM_REQUIRES_SR]" in message
    assert "Nothing was changed" in message and "blocked_vms: shutdown" in message
    assert writes(run) == []
    assert placement(local_lab) == local_lab.initial


def test_an_evacuation_failing_part_way_is_undone_and_says_why(local_lab, playbook):
    # local-2 is shut down first, then the evacuation fails: the host is enabled again and local-2 restarted
    arm_fault(local_lab, {"kind": "error", "method": "host.evacuate", "code": "HOST_NOT_ENOUGH_FREE_MEMORY",
                          "params": [vm_ref(local_lab, "db-2")]})
    try:
        run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", blocked_vms="shutdown"))
    finally:
        clear_faults(local_lab)
    message = failed(run, local_lab)
    assert "Putting host xs2 into maintenance failed" in message
    assert "VM 'db-2'" in message and "no other enabled host has enough free memory" in message
    assert "host xs2 is enabled again" in message and "local-2" in message
    methods = writes(run)
    assert "Async.VM.clean_shutdown" in methods and "Async.VM.start_on" in methods
    assert host_record(local_lab, "xs2")["enabled"] is True
    assert markers(local_lab, "xs2") == {}
    assert placement(local_lab) == local_lab.initial


def test_blocked_vms_shutdown_then_started_again_on_exit(local_lab, playbook):
    run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", blocked_vms="shutdown"))
    result = succeeded(run, local_lab)
    assert placement(local_lab)["local-2"] == (None, "Halted")
    assert markers(local_lab, "xs2")["MAINTENANCE_MODE_EVACUATED_VMS_HALTED"] == host_vm_uuid(local_lab, "local-2")
    assert {"name": "local-2", "action": "halted"}.items() <= next(
        vm for vm in result["vms"] if vm["name"] == "local-2").items()
    assert on_host(local_lab, "xs2") == []
    run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", state="active"))
    result = succeeded(run, local_lab)
    assert placement(local_lab) == local_lab.initial
    assert ("local-2", "started") in [(vm["name"], vm["action"]) for vm in result["vms"]]


def test_a_run_dying_between_disable_and_evacuate_is_finished_by_the_next(local_lab, playbook):
    arm_fault(local_lab, {"kind": "drop_connection", "method": "host.evacuate"})
    try:
        run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", blocked_vms="shutdown"))
    finally:
        clear_faults(local_lab)
    message = failed(run, local_lab)
    assert "running the task again finishes the maintenance" in message
    assert host_record(local_lab, "xs2")["enabled"] is False
    assert markers(local_lab, "xs2")["MAINTENANCE_MODE"] == "true"
    assert sorted(on_host(local_lab, "xs2")) == ["db-2", "web-2"]   # disabled, not evacuated yet
    run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", blocked_vms="shutdown"))
    result = succeeded(run, local_lab)
    assert result["changed"] is True
    assert on_host(local_lab, "xs2") == []
    recorded = markers(local_lab, "xs2")
    assert recorded["MAINTENANCE_MODE_EVACUATED_VMS_HALTED"] == host_vm_uuid(local_lab, "local-2")
    assert set(recorded["MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"].split(",")) == {
        host_vm_uuid(local_lab, "web-2"), host_vm_uuid(local_lab, "db-2")}
    run = playbook(local_lab, "xs_maintenance.yml", maintain(local_lab, "xs2", state="active"))
    succeeded(run, local_lab)
    assert placement(local_lab) == local_lab.initial


# ---- a version whose host.disable takes auto_enable ----

def newer_xapi(lab_dict):
    lab_dict["host_defaults"]["software"] = {"xapi": "25.31"}


@pytest.fixture(scope="module")
def newer_lab(tmp_path_factory):
    with start_lab(tmp_path_factory, "maintenance-25.31", newer_xapi) as running:
        running.initial = placement(running)
        yield running


def test_disable_asks_to_stay_disabled_where_the_version_has_auto_enable(newer_lab, playbook):
    run = playbook(newer_lab, "xs_maintenance.yml", maintain(newer_lab, "xs2"))
    succeeded(run, newer_lab)
    disables = [(call["status"], call["args"][1:]) for call in run.calls if call["method"] == "host.disable"]
    # xapi 25.31 has host.disable(host, auto_enable): one call, asking to stay disabled over reboots
    assert disables == [("ok", [False])]
    assert host_record(newer_lab, "xs2")["enabled"] is False
    run = playbook(newer_lab, "xs_maintenance.yml", maintain(newer_lab, "xs2", state="active"))
    succeeded(run, newer_lab)
    assert placement(newer_lab) == newer_lab.initial
