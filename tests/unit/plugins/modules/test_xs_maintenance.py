# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _maintenance as xs_maintenance_utils
from ansible_collections.xenserver.pools.plugins.modules import xs_maintenance
from ansible_collections.xenserver.pools.tests.unit.conftest import as_json
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_pool import FakePool

KEYS = ("MAINTENANCE_MODE", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED", "MAINTENANCE_MODE_EVACUATED_VMS_HALTED",
        "MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED")


@pytest.fixture
def pool(xapi):
    return FakePool(xapi, hosts=3)


def args(**kwargs):
    base = dict(hostname="https://192.0.2.1/", password="secret", host="xs2")
    base.update(kwargs)
    return base


def markers(host):
    return dict((key, value) for key, value in host["other_config"].items() if key in KEYS)


def test_enter_records_disables_and_evacuates(pool, run_module):
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    assert result["changed"] is True
    xs2 = pool.host(2)
    assert xs2["enabled"] is False
    assert markers(xs2) == {"MAINTENANCE_MODE": "true",
                            "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "uuid-db-2,uuid-web-2"}
    # nothing runs on xs2 any more; suspended and halted VMs are untouched
    assert [vm["name_label"] for vm in pool.records["VM"].values()
            if vm["resident_on"] == "OpaqueRef:host2" and not vm["is_control_domain"]] == []
    assert pool.vm("batch-2")["power_state"] == "Suspended"
    assert pool.vm("tmpl-2")["power_state"] == "Halted"
    moved = dict((vm["name"], vm) for vm in result["vms"])
    assert set(moved) == {"web-2", "db-2"}
    assert moved["web-2"]["action"] == "migrated" and moved["web-2"]["source"] == "xs2"
    assert moved["web-2"]["destination"] in ("xs1", "xs3")
    assert result["host"]["maintenance_mode"] is True and result["host"]["enabled"] is False
    assert result["elapsed_seconds"] >= 0
    # records are written before the host is disabled, so an interrupted run can finish from them
    methods = pool.write_methods()
    assert methods.index("host.add_to_other_config") < methods.index("host.disable") < methods.index("Async.host.evacuate")
    as_json(result)


def test_enter_twice_changes_nothing(pool, run_module, xapi):
    run_module(xs_maintenance.main, args())
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit" and result["changed"] is False
    assert pool.writes() == []


def test_check_mode_writes_nothing(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(_ansible_check_mode=True, _ansible_diff=True))
    assert status == "exit", result
    assert result["changed"] is True
    assert pool.writes() == []
    assert any(action.startswith("would disable") for action in result["actions"])
    assert result["diff"]["before"]["enabled"] is True and result["diff"]["after"]["enabled"] is False
    assert sorted(vm["name"] for vm in result["vms"]) == ["db-2", "web-2"]


def test_blockers_refuse_before_any_change_with_reasons_in_words(pool, run_module):
    pool.add_vm("local-2", "OpaqueRef:host2", "Running")
    pool.blockers = {"OpaqueRef:vm-local-2": ["VM_REQUIRES_SR", "OpaqueRef:vm-local-2", "OpaqueRef:local2"],
                     "OpaqueRef:vm-db-2": ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm-db-2"]}
    status, result = run_module(xs_maintenance.main, args())
    assert status == "fail"
    message = result["msg"]
    assert "2 VMs would block the evacuation" in message
    assert "VM 'local-2' (uuid-local-2): it has a disk on storage repository 'Local storage'" in message
    assert "local disk" in message and "VM_REQUIRES_SR" in message
    assert "VM 'db-2' (uuid-db-2): no other enabled host has enough free memory" in message
    assert "Nothing was changed" in message and "blocked_vms: shutdown" in message
    assert pool.writes() == []


def test_blocked_vms_shutdown_then_started_again_on_exit(pool, run_module):
    pool.add_vm("local-2", "OpaqueRef:host2", "Running")
    pool.blockers = {"OpaqueRef:vm-local-2": ["VM_REQUIRES_SR", "OpaqueRef:vm-local-2", "OpaqueRef:local2"]}
    status, result = run_module(xs_maintenance.main, args(blocked_vms="shutdown"))
    assert status == "exit", result
    assert pool.vm("local-2")["power_state"] == "Halted"
    assert markers(pool.host(2))["MAINTENANCE_MODE_EVACUATED_VMS_HALTED"] == "uuid-local-2"
    assert "local-2" not in markers(pool.host(2))["MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"]
    assert {"name": "local-2", "uuid": "uuid-local-2", "action": "halted", "source": "xs2",
            "destination": None} in result["vms"]
    assert result["blocked_vms"][0]["code"] == "VM_REQUIRES_SR"

    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "exit", result
    assert pool.vm("local-2")["power_state"] == "Running"
    assert pool.vm("local-2")["resident_on"] == "OpaqueRef:host2"
    assert pool.vm("web-2")["resident_on"] == "OpaqueRef:host2"
    assert pool.vm("db-2")["resident_on"] == "OpaqueRef:host2"
    assert markers(pool.host(2)) == {}
    assert pool.host(2)["enabled"] is True
    assert sorted((vm["name"], vm["action"]) for vm in result["vms"]) == [
        ("db-2", "migrated"), ("local-2", "started"), ("web-2", "migrated")]


def test_blocked_vms_suspend_then_resumed(pool, run_module):
    pool.blockers = {"OpaqueRef:vm-web-2": ["VM_HAS_PCI_ATTACHED", "OpaqueRef:vm-web-2"]}
    status, result = run_module(xs_maintenance.main, args(blocked_vms="suspend"))
    assert status == "exit", result
    assert pool.vm("web-2")["power_state"] == "Suspended"
    assert markers(pool.host(2))["MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED"] == "uuid-web-2"
    assert "passthrough" in result["blocked_vms"][0]["reason"]
    run_module(xs_maintenance.main, args(state="active"))
    assert pool.vm("web-2")["power_state"] == "Running" and pool.vm("web-2")["resident_on"] == "OpaqueRef:host2"


def test_leave_twice_changes_nothing(pool, run_module, xapi):
    run_module(xs_maintenance.main, args())
    run_module(xs_maintenance.main, args(state="active"))
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "exit" and result["changed"] is False
    assert pool.writes() == []


def test_leave_check_mode_writes_nothing(pool, run_module, xapi):
    run_module(xs_maintenance.main, args())
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(state="active", _ansible_check_mode=True))
    assert status == "exit" and result["changed"] is True
    assert pool.writes() == []
    assert "would enable host xs2" in result["actions"]


def test_leave_starts_every_migration_before_waiting(pool, run_module, xapi):
    run_module(xs_maintenance.main, args())
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "exit", result
    calls = [(method, call_args) for _url, method, call_args in xapi.calls]
    migrations = [index for index, (method, _args) in enumerate(calls) if method == "Async.VM.pool_migrate"]
    waits = [call_args[0] for method, call_args in calls[migrations[0]:] if method == "event.from"]
    assert len(migrations) == 2 and migrations[1] == migrations[0] + 1  # the second starts before any wait
    assert all(len(subscriptions) == 2 for subscriptions in waits)  # one wait for both tasks
    assert sorted(vm["name"] for vm in result["vms"]) == ["db-2", "web-2"]


def test_leave_removes_the_mark_only_once_the_migrations_are_started(pool, run_module, xapi):
    # another host's evacuation waits while this one is enabled and marked: the mark must stay from the
    # moment the host is enabled until every migration back holds its memory
    run_module(xs_maintenance.main, args())
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "exit", result
    calls = [(method, call_args) for _url, method, call_args in xapi.calls]
    methods = [method for method, _args in calls]
    unmark = [index for index, (method, call_args) in enumerate(calls)
              if method == "host.remove_from_other_config" and call_args[-1] == "MAINTENANCE_MODE"]
    migrations = [index for index, method in enumerate(methods) if method == "Async.VM.pool_migrate"]
    assert len(migrations) == 2 and len(unmark) == 1
    assert methods.index("host.enable") < migrations[0] and migrations[-1] < unmark[0] < methods.index("event.from")
    assert markers(pool.host(2)) == {}


def evacuating_after_a_wait(pool, run_module, xapi, meanwhile=None):
    """xs3 is leaving maintenance (enabled, still marked, its VMs not moving yet) while xs2 enters it."""
    run_module(xs_maintenance.main, args(host="xs3"))
    pool.host(3)["enabled"] = True
    if meanwhile:
        pool.meanwhile("event.from", meanwhile)
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(host="xs2"))
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    return methods.index("event.from") < methods.index("Async.host.evacuate")


def test_an_evacuation_waits_for_a_host_whose_vms_are_about_to_come_back(pool, run_module, xapi):
    def migrations_start():   # xs3's leave starts its migrations and drops the mark
        pool.host(3)["other_config"].pop("MAINTENANCE_MODE", None)
    assert evacuating_after_a_wait(pool, run_module, xapi, migrations_start)
    assert pool.host(2)["enabled"] is False


def test_a_host_left_marked_by_hand_does_not_stop_an_evacuation(pool, run_module, xapi, monkeypatch):
    monkeypatch.setattr(xs_maintenance_utils, "RETURN_START_SECONDS", 0.0)
    assert evacuating_after_a_wait(pool, run_module, xapi)
    assert markers(pool.host(3))["MAINTENANCE_MODE"] == "true" and pool.host(2)["enabled"] is False


def test_a_host_named_as_leaving_is_waited_for_before_it_is_even_enabled(pool, run_module, xapi):
    run_module(xs_maintenance.main, args(host="xs3"))   # xs3 in maintenance; its leave runs elsewhere, not started yet

    def leave_starts():   # xs3's leave: enabled, its migrations started, the mark dropped
        pool.host(3)["enabled"] = True
        pool.host(3)["other_config"].pop("MAINTENANCE_MODE", None)
    pool.meanwhile("event.from", leave_starts)
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args(host_leaving_maintenance="xs3"))
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    assert methods.index("event.from") < methods.index("host.get_vms_which_prevent_evacuation")
    assert pool.host(2)["enabled"] is False


def test_a_host_in_maintenance_not_named_as_leaving_is_not_waited_for(pool, run_module, xapi):
    run_module(xs_maintenance.main, args(host="xs3"))
    del xapi.calls[:]
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    assert methods.index("Async.host.evacuate") < methods.index("event.from")   # only the evacuation is waited on


def test_an_unknown_leaving_host_is_refused_before_any_change(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(host_leaving_maintenance="xs9"))
    assert status == "fail" and "host 'xs9' is not a host of this pool" in result["msg"]
    assert pool.writes() == []


BUSY_WEB2 = {"OpaqueRef:vm-web-2": ["OTHER_OPERATION_IN_PROGRESS", "VM", "OpaqueRef:vm-web-2"]}


def web2_starts_going_back(pool):
    """web-2 (on xs2) migrates back to xs1, whose maintenance ended: XAPI names it a blocker meanwhile."""
    pool.vm("web-2")["current_operations"] = {"OpaqueRef:task-back": "pool_migrate"}
    pool.blockers = dict(BUSY_WEB2)


def web2_arrives(pool):
    pool.vm("web-2").update(resident_on="OpaqueRef:host1", current_operations={})
    pool.blockers = {}


def test_a_vm_still_migrating_away_is_waited_for_not_refused_as_a_blocker(pool, run_module, xapi):
    web2_starts_going_back(pool)
    pool.meanwhile("event.from", lambda: web2_arrives(pool))
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    assert methods.index("event.from") < methods.index("host.get_vms_which_prevent_evacuation")
    assert [vm["name"] for vm in result["vms"]] == ["db-2"] and result["blocked_vms"] == []
    assert pool.host(2)["enabled"] is False


def test_a_return_starting_between_the_read_and_the_blocker_question_is_waited_for(pool, run_module, xapi):
    def first_question():   # its answer comes while web-2 has just started going back
        if not pool.blockers and pool.vm("web-2")["resident_on"] == "OpaqueRef:host2":
            web2_starts_going_back(pool)
    pool.meanwhile("host.get_vms_which_prevent_evacuation", first_question)
    pool.meanwhile("event.from", lambda: web2_arrives(pool))
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    assert methods.count("host.get_vms_which_prevent_evacuation") == 2
    assert [vm["name"] for vm in result["vms"]] == ["db-2"] and result["blocked_vms"] == []


def test_a_vm_busy_with_something_else_is_still_refused(pool, run_module):
    pool.vm("web-2")["current_operations"] = {"OpaqueRef:task-snap": "snapshot"}
    pool.blockers = dict(BUSY_WEB2)
    status, result = run_module(xs_maintenance.main, args())
    assert status == "fail" and "another operation is running on it" in result["msg"]
    assert pool.writes() == []


def test_a_vm_that_cannot_come_back_is_reported_not_fatal(pool, run_module):
    run_module(xs_maintenance.main, args())
    pool.fail["VM.pool_migrate"] = ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm-db-2"]
    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "exit", result
    assert [vm["name"] for vm in result["vms_not_restored"]] == ["db-2"]
    assert "enough free memory" in result["vms_not_restored"][0]["reason"]
    assert markers(pool.host(2)) == {}


def test_restore_strict_fails_and_keeps_the_vm_recorded(pool, run_module):
    run_module(xs_maintenance.main, args())
    pool.fail["VM.pool_migrate"] = ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm-db-2"]
    status, result = run_module(xs_maintenance.main, args(state="active", restore_strict=True))
    assert status == "fail"
    assert "db-2 (uuid-db-2)" in result["msg"] and "running the task again retries" in result["msg"]
    assert markers(pool.host(2)) == {"MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "uuid-db-2"}
    assert pool.host(2)["enabled"] is True
    status, result = run_module(xs_maintenance.main, args(state="active", restore_strict=True))
    assert status == "exit", result
    assert pool.vm("db-2")["resident_on"] == "OpaqueRef:host2" and markers(pool.host(2)) == {}


def test_failed_evacuation_enables_the_host_again_and_says_why(pool, run_module):
    pool.fail["host.evacuate"] = ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm-db-2"]
    status, result = run_module(xs_maintenance.main, args())
    assert status == "fail"
    assert "Putting host xs2 into maintenance failed" in result["msg"]
    assert "VM 'db-2' (uuid-db-2): no other enabled host has enough free memory" in result["msg"]
    assert "host xs2 is enabled again" in result["msg"]
    assert pool.host(2)["enabled"] is True
    assert markers(pool.host(2)) == {}


def test_an_interrupted_run_is_finished_from_the_records(pool, run_module, xapi):
    # The connection drops while host.evacuate is sent: the module cannot know what happened.
    endpoint = pool.endpoints[0]
    endpoint.raise_next["Async.host.evacuate"] = [ConnectionResetError(104, "Connection reset by peer")]
    status, result = run_module(xs_maintenance.main, args())
    assert status == "fail"
    assert "running the task again finishes the maintenance" in result["msg"]
    assert pool.host(2)["enabled"] is False
    assert markers(pool.host(2))["MAINTENANCE_MODE"] == "true"
    # A VM started on the host since then is recorded too.
    pool.add_vm("late-2", "OpaqueRef:host2", "Running")
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    assert markers(pool.host(2))["MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"] == "uuid-db-2,uuid-web-2,uuid-late-2"
    assert pool.vm("late-2")["resident_on"] != "OpaqueRef:host2"
    run_module(xs_maintenance.main, args(state="active"))
    for name in ("web-2", "db-2", "late-2"):
        assert pool.vm(name)["resident_on"] == "OpaqueRef:host2"


def test_persistent_disable_where_the_version_has_it(xapi, run_module):
    pool = FakePool(xapi, hosts=3, xapi_version="25.31")
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    assert ("host.disable", ("OpaqueRef:host2", False)) in pool.writes()
    assert "OpaqueRef:host2" in pool.persistent_disabled


def test_persistent_disable_falls_back_on_parameter_count_mismatch(xapi, run_module):
    pool = FakePool(xapi, hosts=3, xapi_version="25.31")
    pool.auto_enable = False  # the version says yes, the host says no
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit", result
    assert [a for m, a in pool.writes() if m == "host.disable"] == [("OpaqueRef:host2", False), ("OpaqueRef:host2",)]
    assert pool.host(2)["enabled"] is False


def test_master_hands_over_to_the_host_with_most_free_memory(pool, run_module):
    pool.add_vm("big-2", "OpaqueRef:host2", "Running", memory_gib=20)
    status, result = run_module(xs_maintenance.main, args(host="xs1"))
    assert status == "exit", result
    assert result["master_handover"] == {"old": "xs1", "new": "xs3"}
    assert pool.records["pool"]["OpaqueRef:pool"]["master"] == "OpaqueRef:host3"
    assert result["api_url"] == "https://192.0.2.3/"
    assert pool.host(1)["enabled"] is False and result["host"]["is_master"] is False
    # after the handover every call goes to the new master
    methods = pool.write_methods()
    assert methods[0] == "pool.designate_new_master"
    # the old session was logged out and a new one opened through the new master
    assert not pool.xapi.sessions


def test_the_master_role_moves_only_once_no_vm_is_migrating(pool, run_module, xapi):
    # db-3 is on its way (back) to xs3: the transition would restart the toolstacks under that migration
    db3 = pool.vm("db-3")
    db3["current_operations"] = {"OpaqueRef:task-back": "pool_migrate"}
    arrived = []

    def migration_ends():
        arrived.append(True)
        db3["current_operations"] = {}
    pool.meanwhile("event.from", migration_ends)
    status, result = run_module(xs_maintenance.main, args(host="xs1"))
    assert status == "exit", result
    methods = [method for _url, method, _args in xapi.calls]
    assert methods.index("event.from") < methods.index("pool.designate_new_master")
    assert result["master_handover"] is not None and arrived


def test_master_handover_to_a_named_host(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(host="xs1", new_master="xs2"))
    assert status == "exit", result
    assert result["master_handover"] == {"old": "xs1", "new": "xs2"}


def test_master_handover_refused_when_no_host_can_take_it(pool, run_module):
    pool.host(2)["enabled"] = False
    pool.set_live("OpaqueRef:host3", False)
    status, result = run_module(xs_maintenance.main, args(host="xs1"))
    assert status == "fail"
    assert "no other host is live and enabled" in result["msg"] and "master_handover: false" in result["msg"]
    assert pool.writes() == []


def test_master_without_handover_stays_master(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(host="xs1", master_handover=False))
    assert status == "exit", result
    assert result["master_handover"] is None
    assert pool.records["pool"]["OpaqueRef:pool"]["master"] == "OpaqueRef:host1"
    assert pool.host(1)["enabled"] is False


def test_migration_network_is_passed_to_evacuate(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(migration_network="storage"))
    assert status == "exit", result
    assert pool.evacuated_with == "OpaqueRef:net1"


def test_unknown_migration_network_is_one_clear_line(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(migration_network="nope"))
    assert status == "fail"
    assert result["msg"].startswith("migration_network 'nope' is not a network of this pool")
    assert pool.writes() == []


def test_unknown_host_is_one_clear_line(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(host="xs9"))
    assert status == "fail"
    assert result["msg"] == "host 'xs9' is not a host of this pool; its hosts are: xs1, xs2, xs3 (name, uuid or address)."


def test_offline_host_cannot_leave_maintenance(pool, run_module):
    run_module(xs_maintenance.main, args())
    pool.set_live("OpaqueRef:host2", False)
    status, result = run_module(xs_maintenance.main, args(state="active"))
    assert status == "fail"
    assert "not live" in result["msg"] and "powered_on" in result["msg"]


def test_host_by_uuid_and_address(pool, run_module):
    status, result = run_module(xs_maintenance.main, args(host="host3-uuid"))
    assert status == "exit" and result["host"]["name"] == "xs3"
    status, result = run_module(xs_maintenance.main, args(host="192.0.2.3"))
    assert status == "exit" and result["changed"] is False


def test_a_host_that_re_enabled_itself_is_disabled_again(pool, run_module):
    run_module(xs_maintenance.main, args())
    pool.host(2)["enabled"] = True  # a reboot on a version without auto_enable
    status, result = run_module(xs_maintenance.main, args())
    assert status == "exit" and result["changed"] is True
    assert pool.host(2)["enabled"] is False
    assert pool.write_methods()[-1] == "host.disable"
