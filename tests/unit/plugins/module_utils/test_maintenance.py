# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plain functions of _maintenance, one by one, over hand-made records."""

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _maintenance as m
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError

GIB = 1024 ** 3
NULL = "OpaqueRef:NULL"


def records(hosts=3):
    data = {"pool": {"P": {"master": "H1"}}, "host": {}, "host_metrics": {}, "VM": {}}
    for number in range(1, hosts + 1):
        data["host"]["H%d" % number] = {"uuid": "h%d" % number, "name_label": "xs%d" % number,
                                        "hostname": "xs%d" % number, "address": "10.0.0.%d" % number,
                                        "enabled": True, "metrics": "M%d" % number, "memory_overhead": 0,
                                        "other_config": {}, "software_version": {"xapi": "25.6"}}
        data["host_metrics"]["M%d" % number] = {"live": True, "memory_total": 64 * GIB}
        data["VM"]["D%d" % number] = {"uuid": "dom0-%d" % number, "name_label": "Control domain",
                                      "is_control_domain": True, "power_state": "Running",
                                      "resident_on": "H%d" % number, "memory_target": 4 * GIB}
    return data


def vm(data, ref, host, state="Running", memory_gib=4, **extra):
    data["VM"][ref] = dict({"uuid": "uuid-" + ref, "name_label": ref.lower(), "power_state": state,
                            "resident_on": host if state in ("Running", "Paused") else NULL,
                            "memory_target": memory_gib * GIB, "is_control_domain": False,
                            "is_a_template": False, "is_a_snapshot": False}, **extra)
    return ref


# ---- finding hosts ----

@pytest.mark.parametrize("wanted", ["h2", "xs2", "10.0.0.2", " xs2 "])
def test_find_host_by_uuid_name_or_address(wanted):
    assert m.find_host(records(), wanted) == "H2"


def test_find_host_not_found_lists_the_hosts():
    with pytest.raises(InvalidParameterError) as error:
        m.find_host(records(), "xs9")
    assert str(error.value) == "host 'xs9' is not a host of this pool; its hosts are: xs1, xs2, xs3 (name, uuid or address)."


def test_find_host_ambiguous_name_asks_for_the_uuid():
    data = records()
    data["host"]["H3"]["name_label"] = "xs2"
    data["host"]["H3"]["hostname"] = "other"
    with pytest.raises(InvalidParameterError, match="matches 2 hosts by name_label .*give the uuid"):
        m.find_host(data, "xs2")


# ---- resident VMs and memory ----

def test_resident_vms_leave_out_control_domain_halted_and_templates():
    data = records()
    vm(data, "A", "H2")
    vm(data, "B", "H2", state="Paused")
    vm(data, "C", "H2", state="Halted")
    vm(data, "T", "H2", is_a_template=True)
    assert m.resident_vms(data, "H2") == ["A", "B"]


def test_memory_free_counts_running_vms_and_control_domain():
    data = records()
    vm(data, "A", "H2", memory_gib=10)
    assert m.memory_free(data, "H2") == (64 - 4 - 10) * GIB
    assert m.memory_free(data, "H3") == 60 * GIB


# ---- records ----

def test_maintenance_records_parse_xencenter_keys():
    host = {"other_config": {"MAINTENANCE_MODE": "True", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "a, b,",
                             "MAINTENANCE_MODE_EVACUATED_VMS_HALTED": ""}}
    assert m.maintenance_records(host) == {"mode": True, "migrated": ["a", "b"], "halted": [], "suspended": []}
    assert m.has_records(host)
    assert not m.has_records({"other_config": {"agent_start_time": "1."}})


def test_records_to_other_config_and_changes():
    wanted = m.records_to_other_config({"migrated": ["a", "b"], "halted": [], "suspended": ["c"]}, True)
    assert wanted == {"MAINTENANCE_MODE": "true", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "a,b",
                      "MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED": "c"}
    current = {"agent_start_time": "1.", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "a",
               "MAINTENANCE_MODE_EVACUATED_VMS_HALTED": "x"}
    remove, add = m.other_config_changes(current, wanted, m.RECORD_KEYS)
    assert sorted(remove) == ["MAINTENANCE_MODE_EVACUATED_VMS_HALTED", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"]
    assert add == {"MAINTENANCE_MODE": "true", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "a,b",
                   "MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED": "c"}


def test_planned_records_keep_earlier_records_and_add_new_resident_vms():
    data = records()
    vm(data, "A", "H2")
    vm(data, "B", "H2")
    vm(data, "L", "H2")
    data["host"]["H2"]["other_config"] = {"MAINTENANCE_MODE": "true",
                                          "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "uuid-GONE,uuid-A,uuid-L"}
    lists = m.planned_records(data, "H2", {"L": {}}, "shutdown")
    assert lists == {"migrated": ["uuid-GONE", "uuid-A", "uuid-B"], "halted": ["uuid-L"], "suspended": []}


def test_is_in_maintenance_needs_records_disabled_empty_and_not_master():
    data = records()
    data["host"]["H2"].update(enabled=False, other_config={"MAINTENANCE_MODE": "true"})
    assert m.is_in_maintenance(data, "H2", master_handover=True)
    vm(data, "A", "H2")
    assert not m.is_in_maintenance(data, "H2")
    data["host"]["H1"].update(enabled=False, other_config={"MAINTENANCE_MODE": "true"})
    assert m.is_in_maintenance(data, "H1", master_handover=False)
    assert not m.is_in_maintenance(data, "H1", master_handover=True)


def test_leaving_vms_are_resident_vms_with_a_migration_in_progress():
    data = records()
    vm(data, "A", "H2", current_operations={"OpaqueRef:t1": "pool_migrate"})
    vm(data, "B", "H2", current_operations={"OpaqueRef:t2": "clean_reboot"})
    vm(data, "C", "H2")
    vm(data, "D", "H3", current_operations={"OpaqueRef:t3": "migrate_send"})
    assert m.leaving_vms(data, "H2") == ["A"]
    assert m.leaving_vms(data, "H3") == ["D"]


def test_returns_not_started_are_other_hosts_enabled_and_still_marked():
    data = records()
    data["host"]["H1"]["other_config"] = {"MAINTENANCE_MODE": "true"}                 # enabled, marked: leaving
    data["host"]["H3"].update(enabled=False, other_config={"MAINTENANCE_MODE": "true"})  # still in maintenance
    assert m.returns_not_started(data, "H2") == ["xs1"]
    assert m.returns_not_started(data, "H1") == []                                     # not itself
    data["host"]["H1"]["other_config"] = {"MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "uuid-A"}  # mark gone
    assert m.returns_not_started(data, "H2") == []
    # a host named as leaving counts while it is marked, even before it is enabled
    assert m.returns_not_started(data, "H2", leaving_ref="H3") == ["xs3"]
    data["host"]["H3"]["other_config"] = {}
    assert m.returns_not_started(data, "H2", leaving_ref="H3") == []


def test_restore_plan_per_recorded_state():
    data = records()
    vm(data, "A", "H3")                       # migrated away, still running elsewhere: migrate back
    vm(data, "B", "H2")                       # already home
    vm(data, "C", None, state="Halted")      # shut down by us: start
    vm(data, "D", None, state="Suspended")   # suspended by us: resume
    vm(data, "E", None, state="Halted")      # was migrated, someone shut it down: leave it
    data["host"]["H2"]["other_config"] = {
        "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "uuid-A,uuid-B,uuid-E,uuid-X",
        "MAINTENANCE_MODE_EVACUATED_VMS_HALTED": "uuid-C",
        "MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED": "uuid-D"}
    plan = dict((item["uuid"], item) for item in m.restore_plan(data, "H2"))
    assert plan["uuid-A"]["action"] == "migrate"
    assert plan["uuid-B"]["action"] == "none" and plan["uuid-B"]["reason"] == "already running on this host"
    assert plan["uuid-C"]["action"] == "start"
    assert plan["uuid-D"]["action"] == "resume"
    assert plan["uuid-E"]["action"] == "none" and "Halted now" in plan["uuid-E"]["reason"]
    assert plan["uuid-X"]["reason"] == "the VM no longer exists"


# ---- blockers in words ----

@pytest.mark.parametrize("details, words", [
    (["VM_REQUIRES_SR", "A", "SR1"], "it has a disk on storage repository 'Local storage', a local disk the other hosts cannot reach [VM_REQUIRES_SR]"),
    (["HOST_NOT_ENOUGH_FREE_MEMORY", "A"], "no other enabled host has enough free memory for it [HOST_NOT_ENOUGH_FREE_MEMORY]"),
    (["NO_HOSTS_AVAILABLE", "A"], "no other enabled host can run it (not enough free memory elsewhere"),
    (["VM_HAS_PCI_ATTACHED", "A"], "it uses a PCI device of this host (passthrough)"),
    (["VM_HAS_VGPU", "A", "VGPU1"], "it uses a virtual GPU of this host (passthrough)"),
    (["VM_HAS_SRIOV_VIF", "A"], "SR-IOV"),
    (["HOST_EVACUATE_VM_NOT_HA_PROTECTED", "A"], "HA is enabled and it is not protected by HA"),
    (["HOST_CANNOT_ATTACH_NETWORK", "H3", "NET1"], "host xs3 cannot attach network 'storage' that it uses"),
    (["VM_LACKS_FEATURE", "A"], "PV drivers"),
    (["SOMETHING_NEW", "A", "x"], "XAPI will not move it [SOMETHING_NEW]"),
])
def test_each_blocker_code_in_words(details, words):
    data = records()
    vm(data, "A", "H2")
    blocker = m.describe_blocker(data, "A", details, {"SR1": "'Local storage'", "NET1": "'storage'"})
    assert blocker["vm"] == "a" and blocker["uuid"] == "uuid-A" and blocker["code"] == details[0]
    assert words in blocker["reason"]


def test_refusal_message_lists_every_vm():
    blockers = [{"vm": "a", "uuid": "1", "reason": "r1"}, {"vm": "b", "uuid": "2", "reason": "r2"}]
    message = m.refusal_message("xs2", blockers)
    assert message.startswith("Cannot put host xs2 into maintenance: 2 VMs would block the evacuation: "
                              "VM 'a' (1): r1; VM 'b' (2): r2. Nothing was changed.")


# ---- the master ----

def test_choose_new_master_most_free_memory_live_and_enabled():
    data = records(4)
    vm(data, "BIG", "H3", memory_gib=30)
    data["host"]["H4"]["enabled"] = False
    assert m.choose_new_master(data, "H1") == "H2"
    data["host_metrics"]["M2"]["live"] = False
    assert m.choose_new_master(data, "H1") == "H3"


def test_choose_new_master_named_must_be_live_enabled_and_not_itself():
    data = records()
    assert m.choose_new_master(data, "H1", "xs3") == "H3"
    with pytest.raises(InvalidParameterError, match="itself"):
        m.choose_new_master(data, "H1", "xs1")
    data["host"]["H3"]["enabled"] = False
    with pytest.raises(InvalidParameterError, match="it is disabled"):
        m.choose_new_master(data, "H1", "xs3")


def test_choose_new_master_none_left():
    data = records(2)
    data["host"]["H2"]["enabled"] = False
    with pytest.raises(m.MaintenanceError, match="no other host is live and enabled"):
        m.choose_new_master(data, "H1")


# ---- versions and times ----

@pytest.mark.parametrize("xapi, persistent", [
    ("25.31", True), ("26.0", True), ("25.6", False), ("1.249", False), ("", False), ("abc", False)])
def test_persistent_disable_by_xapi_version(xapi, persistent):
    assert m.supports_persistent_disable({"software_version": {"xapi": xapi}}) is persistent
