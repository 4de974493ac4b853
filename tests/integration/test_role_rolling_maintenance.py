# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rolling_maintenance role (playbooks/rolling_maintenance.yml) against pool-of-four, run through
ansible-runner with the connection only in the XENSERVER_* environment variables."""

from __future__ import annotations

import json

import pytest

from xapisim import Lab

from lab_helpers import arm_fault, clear_faults
from role_helpers import (
    agent_start_times,
    host_name_of,
    hosts_by_name,
    lab_dict,
    pool_objects,
    read_json,
    run_playbook,
    the_pool,
    vm_placement,
    TEST_PLAYBOOKS,
)

TIME_SCALE = 0.001
LOCK_KEY = "xenserver.pools.rolling_maintenance.lock"
PROGRESS_KEY = "xenserver.pools.rolling_maintenance.progress"
PASSWORD = "lab-root-pw"


def start(tmp_path, lab):
    return Lab.start(lab, state_dir=tmp_path / "lab", time_scale=TIME_SCALE)


def pool_of_four(ha=False, power_on=None):
    lab = lab_dict("pool-of-four.yml")
    if ha:
        lab["pools"][0]["ha"] = {"enabled": True, "host_failures_to_tolerate": 1}
    for host in lab["hosts"]:
        if power_on and host["name"] in power_on:
            host["power_on"] = {"mode": "wake-on-lan"}
    return lab


def maintain(lab, tmp_path, name="run", **extra):
    extra_vars = dict(rolling_maintenance_report_path=str(tmp_path / ("%s-report.json" % name)))
    extra_vars.update(extra)
    check = extra_vars.pop("check", False)
    return run_playbook(lab, "rolling_maintenance.yml", tmp_path, extra_vars, check=check, name=name)


def set_pool(lab, tmp_path, name, **options):
    run = run_playbook(lab, TEST_PLAYBOOKS / "role_pool_settings.yml", tmp_path,
                       dict(("test_%s" % key, value) for key, value in options.items()), name=name)
    assert run.rc == 0, run.output


def progress(objects):
    text = the_pool(objects)["other_config"].get(PROGRESS_KEY, "")
    return json.loads(text) if text else {}


def reboots(run):
    return [call["args"][0] for call in run.host_calls("host.reboot")]


def assert_clean(run):
    assert PASSWORD not in run.output
    assert all(PASSWORD not in json.dumps(call["args"]) for call in run.calls)
    assert run.sessions["total"] == 0, run.sessions


def test_rolling_reboot_keeps_vms_ha_and_auto_poweron(tmp_path):
    with start(tmp_path, pool_of_four(ha=True)) as lab:
        set_pool(lab, tmp_path, "auto-poweron", other_config={"auto_poweron": "true"})
        before = pool_objects(lab)
        pool_before = the_pool(before)
        assert pool_before["ha_enabled"]

        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True)
        assert run.rc == 0, run.output
        assert_clean(run)

        after = pool_objects(lab)
        pool_after = the_pool(after)
        # Every host rebooted exactly once, the master first.
        assert len(reboots(run)) == 4
        started_before, started_after = agent_start_times(before), agent_start_times(after)
        assert all(started_after[name] > started_before[name] for name in started_before), (started_before, started_after)
        # Every VM back on its host, in its state.
        assert vm_placement(after) == vm_placement(before)
        # HA and auto power-on as before; the master is the one before the run; the lock released.
        assert pool_after["ha_enabled"]
        assert pool_after["ha_host_failures_to_tolerate"] == pool_before["ha_host_failures_to_tolerate"]
        assert pool_after["ha_statefiles"]
        assert pool_after["other_config"]["auto_poweron"] == "true"
        assert pool_after["master"] == pool_before["master"]
        assert pool_after["other_config"].get(LOCK_KEY) is None
        assert progress(after)["state"] == "complete"
        # HA and auto power-on were off while the hosts rebooted.
        disable_ha = [call["seq"] for call in run.calls if call["method"] in ("pool.disable_ha", "Async.pool.disable_ha")]
        first_reboot = min(call["seq"] for call in run.host_calls("host.reboot"))
        assert disable_ha and disable_ha[0] < first_reboot

        report = read_json(tmp_path / "run-report.json")
        assert report["result"] == "completed"
        assert [entry["host"] for entry in report["hosts"]] == ["xs1", "xs2", "xs3", "xs4"]
        assert all(entry["rebooted"] and entry["result"] == "done" for entry in report["hosts"])
        assert sum(entry["vms_moved"] for entry in report["hosts"]) == 8  # two running VMs per host
        assert report["ha"] == {"before": True, "restored": True}
        assert report["auto_poweron"] == {"before": True, "restored": True}
        assert "host             result" in run.output


def test_the_next_host_waits_for_the_previous_hosts_vms_to_be_on_their_way_back(tmp_path):
    # The background job that takes a host out of maintenance starts late (its host.enable is slow): the
    # next host must not be evacuated before that host's VMs are on their way back, or the evacuation moves
    # them elsewhere (migrating them again) and plans without the memory they will take there.
    with start(tmp_path, pool_of_four()) as lab:
        before = pool_objects(lab)
        arm_fault(lab, {"kind": "latency", "method": "host.enable", "seconds": 2})
        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True)
        assert run.rc == 0, run.output
        names = dict((ref, host["name_label"]) for ref, host in before["host"].items())
        unmarked = dict((names[call["args"][0]], call["seq"]) for call in run.host_calls("host.remove_from_other_config")
                        if call["args"][-1] == "MAINTENANCE_MODE")
        evacuated = dict((names[call["args"][0]], call["seq"]) for call in run.host_calls("Async.host.evacuate"))
        order = ["xs1", "xs2", "xs3", "xs4"]
        assert sorted(unmarked) == order and sorted(evacuated) == order
        assert all(unmarked[previous] < evacuated[host] for previous, host in zip(order, order[1:])), (unmarked, evacuated)
        assert vm_placement(pool_objects(lab)) == vm_placement(before)
        assert_clean(run)


def test_same_run_again_changes_nothing_and_check_mode_writes_nothing(tmp_path):
    with start(tmp_path, pool_of_four()) as lab:
        planned = maintain(lab, tmp_path, name="check", check=True, rolling_maintenance_reboot=True)
        assert planned.rc == 0, planned.output
        assert planned.writes == [], [call["method"] for call in planned.writes]

        first = maintain(lab, tmp_path, name="first", rolling_maintenance_run_id="2026-11 updates")
        assert first.rc == 0, first.output
        assert reboots(first) == []  # no reboot asked for, none needed
        again = maintain(lab, tmp_path, name="again", rolling_maintenance_run_id="2026-11 updates")
        assert again.rc == 0, again.output
        assert again.writes == [], [call["method"] for call in again.writes]
        assert "changed=0" in again.output.split("PLAY RECAP")[-1]
        assert "already complete" in read_json(tmp_path / "again-report.json")["message"]
        assert_clean(again)


def test_a_host_with_updates_requiring_reboot_is_rebooted_without_being_asked(tmp_path):
    lab_spec = pool_of_four()
    xs2 = next(host for host in lab_spec["hosts"] if host["name"] == "xs2")
    xs2["updates"] = list(xs2.get("updates", [])) + ["XS84ECU1001"]
    xs2["updates_requiring_reboot"] = ["XS84ECU1001"]
    with start(tmp_path, lab_spec) as lab:
        before = pool_objects(lab)
        run = maintain(lab, tmp_path)
        assert run.rc == 0, run.output
        after = pool_objects(lab)
        # Only xs2 rebooted (xs1's toolstack restarted when the master role went and came back).
        assert [host_name_of(before, ref) for ref in reboots(run)] == ["xs2"]
        assert agent_start_times(after)["xs2"] > agent_start_times(before)["xs2"]
        report = dict((entry["host"], entry) for entry in read_json(tmp_path / "run-report.json")["hosts"])
        assert report["xs2"]["reboot_reason"] == "updates applied need it (XS84ECU1001)"
        assert not report["xs1"]["rebooted"] and report["xs2"]["rebooted"]
        assert vm_placement(after) == vm_placement(before)


def test_a_second_concurrent_run_is_refused(tmp_path):
    with start(tmp_path, pool_of_four()) as lab:
        other = {"run": "other-run", "by": "alice", "since": "2026-11-21T06:00:00Z"}
        set_pool(lab, tmp_path, "lock", other_config={LOCK_KEY: json.dumps(other)})
        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True)
        assert run.rc != 0
        assert "locked by rolling maintenance run other-run" in run.output
        assert "alice" in run.output
        assert run.writes == []
        assert json.loads(the_pool(pool_objects(lab))["other_config"][LOCK_KEY])["run"] == "other-run"


def test_a_vm_that_cannot_move_stops_the_run_before_any_change(tmp_path):
    lab_spec = pool_of_four()
    xs2 = next(host for host in lab_spec["hosts"] if host["name"] == "xs2")
    xs2["vms"].append({"name": "pinned-1", "power_state": "running", "memory_gib": 2,
                       "disks": [{"sr": "Local storage", "size_gib": 10}]})
    with start(tmp_path, lab_spec) as lab:
        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True)
        assert run.rc != 0
        assert "VM pinned-1 cannot leave host xs2" in run.output
        assert run.writes == []


def test_operator_tasks_that_fail_stop_the_run_and_restore_the_host(tmp_path):
    tasks = tmp_path / "updates.yml"
    tasks.write_text(
        "---\n"
        "- name: Apply the updates\n"
        "  ansible.builtin.fail:\n"
        "    msg: yum update failed on {{ xs_name }}\n"
        "  when: xs_name == 'xs2'\n")
    with start(tmp_path, pool_of_four()) as lab:
        before = pool_objects(lab)
        run = maintain(lab, tmp_path, rolling_maintenance_tasks=str(tasks), rolling_maintenance_reboot=True)
        assert run.rc != 0
        after = pool_objects(lab)
        assert "stopped" in run.output and "yum update failed on xs2" in run.output
        # xs1 done, xs2 back in service with its VMs, xs3 and xs4 untouched.
        assert len(reboots(run)) == 1
        hosts = hosts_by_name(after)
        assert all(host["enabled"] for host in hosts.values())
        assert "MAINTENANCE_MODE" not in hosts["xs2"]["other_config"]
        assert vm_placement(after) == vm_placement(before)
        assert the_pool(after)["other_config"].get(LOCK_KEY) is None
        state = progress(after)
        assert state["state"] == "failed"
        assert [hosts_by_name(after)[name]["uuid"] for name in ("xs1",)] == state["done"]
        report = read_json(tmp_path / "run-report.json")
        assert [(entry["host"], entry["result"]) for entry in report["hosts"]] == [("xs1", "done"), ("xs2", "failed")]
        assert report["not_done"] == ["xs2", "xs3", "xs4"]
        assert_clean(run)


def test_a_host_that_never_comes_back_stops_the_run_and_a_new_run_resumes(tmp_path):
    with start(tmp_path, pool_of_four(ha=True, power_on=["xs3"])) as lab:
        set_pool(lab, tmp_path, "auto-poweron", other_config={"auto_poweron": "true"})
        before = pool_objects(lab)
        arm_fault(lab, {"kind": "reboot_hang", "host": "xs3"})

        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True, rolling_maintenance_reboot_timeout=10)
        assert run.rc != 0
        middle = pool_objects(lab)
        hosts = hosts_by_name(middle)
        xs3_ref = next(ref for ref, host in middle["host"].items() if host["name_label"] == "xs3")
        # Stopped at xs3: xs1 and xs2 rebooted, xs4 untouched.
        assert [middle["host"][ref]["name_label"] for ref in reboots(run)] == ["xs1", "xs2", "xs3"]
        assert agent_start_times(middle)["xs4"] == agent_start_times(before)["xs4"]
        assert hosts["xs4"]["enabled"] and "MAINTENANCE_MODE" not in hosts["xs4"]["other_config"]
        # xs3 stays in maintenance with its VMs recorded; they run on the other hosts.
        assert hosts["xs3"]["other_config"].get("MAINTENANCE_MODE") == "true"
        assert not any(vm["resident_on"] == xs3_ref and vm["power_state"] == "Running" and not vm["is_control_domain"]
                       for vm in middle["VM"].values())
        # Lock released, auto power-on back; HA cannot be enabled while xs3 is down: the report says so.
        pool = the_pool(middle)
        assert pool["other_config"].get(LOCK_KEY) is None
        assert pool["other_config"]["auto_poweron"] == "true"
        report = read_json(tmp_path / "run-report.json")
        assert report["result"] == "failed"
        assert "xs3" in report["message"] and "did not come back" in report["message"]
        assert "resume" in report["message"]
        assert report["not_done"] == ["xs3", "xs4"]
        assert report["ha"]["before"] is True
        # XAPI enables HA only when every host is live (HOST_OFFLINE): it stays off until xs3 is back, the
        # progress keeps it, and the next run turns it on when it ends.
        assert not pool["ha_enabled"]
        assert report["ha"]["restored"] is False and "HA is still OFF" in report["message"]
        assert progress(middle)["saved"]["ha"]["enabled"] is True
        assert_clean(run)

        # The operator powers xs3 on; the new run starts with xs3 and does xs4.
        clear_faults(lab)
        powered = run_playbook(lab, TEST_PLAYBOOKS / "role_power_on.yml", tmp_path, {"test_host": "xs3"}, name="power-on")
        assert powered.rc == 0, powered.output
        resumed = maintain(lab, tmp_path, name="resumed", rolling_maintenance_reboot=True)
        assert resumed.rc == 0, resumed.output
        after = pool_objects(lab)
        assert [after["host"][ref]["name_label"] for ref in reboots(resumed)] == ["xs3", "xs4"]
        assert vm_placement(after) == vm_placement(before)
        pool = the_pool(after)
        assert pool["ha_enabled"] and pool["other_config"]["auto_poweron"] == "true"
        assert pool["other_config"].get(LOCK_KEY) is None and progress(after)["state"] == "complete"
        report = read_json(tmp_path / "resumed-report.json")
        assert report["result"] == "completed" and report["resumed"] is True
        assert [(entry["host"], entry["result"]) for entry in report["hosts"]] == [
            ("xs1", "done earlier"), ("xs2", "done earlier"), ("xs3", "done"), ("xs4", "done")]
        assert_clean(resumed)


@pytest.mark.parametrize("order, expected", [("master_last", ["xs2", "xs4", "xs1"]), ("as_listed", ["xs2", "xs1", "xs4"])])
def test_order_and_subset_of_hosts(tmp_path, order, expected):
    with start(tmp_path, pool_of_four()) as lab:
        before = pool_objects(lab)
        run = maintain(lab, tmp_path, rolling_maintenance_reboot=True, rolling_maintenance_order=order,
                       rolling_maintenance_hosts=["xs2", "xs1", "127.0.0.24"])
        assert run.rc == 0, run.output
        objects = pool_objects(lab)
        assert [objects["host"][ref]["name_label"] for ref in reboots(run)] == expected
        assert the_pool(objects)["master"] == next(ref for ref, host in objects["host"].items() if host["name_label"] == "xs1")
        assert vm_placement(objects) == vm_placement(before)  # also the VMs coming back while the master moved
