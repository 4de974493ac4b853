# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool HA and xs_pool_member eject with evacuation against simulator/labs/pool-of-four.yml (a
pool with shared NFS storage and running, suspended and halted VMs). In file order, on one lab."""

from __future__ import annotations

from lab_helpers import control, host
from membership_helpers import assert_clean, writes

HA_ON = {"enabled": True, "heartbeat_srs": ["shared-nfs"], "host_failures_to_tolerate": 1}


def connect(lab, name="xs1", **extra):
    entry = host(lab, name)
    return dict({"xs_hostname": entry["url"], "xs_password": entry["password"], "xs_ca_path": lab.info["ca_bundle"]},
                **extra)


def test_enable_ha_then_no_change(pool_lab, playbook):
    planned = playbook(pool_lab, "xs_pool.yml", connect(pool_lab, xs_ha=HA_ON), args=["--check"])
    assert planned.result["changed"] and writes(planned) == []
    assert planned.result["actions"] == ["set ha host_failures_to_tolerate to 1", "enable HA (pool.enable_ha)"]
    assert_clean(planned, pool_lab)

    run = playbook(pool_lab, "xs_pool.yml", connect(pool_lab, xs_ha=HA_ON))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert writes(run) == ["pool.set_ha_host_failures_to_tolerate", "Async.pool.enable_ha", "task.destroy"]
    assert run.result["pool"]["ha"] == {"enabled": True, "host_failures_to_tolerate": 1, "cluster_stack": "xhad",
                                        "heartbeat_srs": ["shared-nfs"]}
    assert_clean(run, pool_lab)

    again = playbook(pool_lab, "xs_pool.yml", connect(pool_lab, xs_ha=HA_ON))
    assert not again.result["changed"] and writes(again) == []
    assert_clean(again, pool_lab)


def test_ha_on_refuses_master_handover_and_eject(pool_lab, playbook):
    master = playbook(pool_lab, "xs_pool.yml", connect(pool_lab, xs_master="xs2"))
    assert master.result["failed"] and "ha_disabled: HA is enabled" in master.result["msg"]
    eject = playbook(pool_lab, "xs_pool_member.yml", connect(pool_lab, xs_host="xs4", xs_state="absent",
                                                             xs_evacuate=True))
    assert eject.result["failed"] and "ha_disabled: HA is enabled on the pool" in eject.result["msg"]
    for run in (master, eject):
        assert writes(run) == []
        assert_clean(run, pool_lab)


def test_disable_ha(pool_lab, playbook):
    run = playbook(pool_lab, "xs_pool.yml", connect(pool_lab, xs_ha={"enabled": False}))
    assert run.result["changed"] and run.result["pool"]["ha"]["enabled"] is False, run.result.get("msg")
    assert writes(run) == ["Async.pool.disable_ha", "task.destroy"]
    assert_clean(run, pool_lab)


def test_eject_with_running_and_suspended_vms_needs_evacuate(pool_lab, playbook):
    refused = playbook(pool_lab, "xs_pool_member.yml", connect(pool_lab, xs_host="xs4", xs_state="absent"))
    assert refused.result["failed"]
    assert "VMs are running, paused or suspended on xs4: batch-4 (Suspended), db-4 (Running), web-4 (Running)" in \
        refused.result["msg"]
    assert writes(refused) == []
    assert_clean(refused, pool_lab)

    run = playbook(pool_lab, "xs_pool_member.yml", connect(pool_lab, xs_host="xs4", xs_state="absent",
                                                           xs_evacuate=True))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert writes(run) == ["host.disable", "Async.host.evacuate", "task.destroy", "Async.pool.eject", "task.destroy"]
    pool = next(entry for entry in control(pool_lab, "/state")["pools"] if entry["master"] == "xs1")
    assert sorted(pool["hosts"]) == ["xs1", "xs2", "xs3"]
    vms = dict((vm["name_label"], vm) for vm in pool["objects"]["VM"].values())
    hosts = pool["objects"]["host"]
    assert hosts[vms["web-4"]["resident_on"]]["name_label"] in ("xs1", "xs2", "xs3")
    assert vms["web-4"]["power_state"] == "Running" and vms["batch-4"]["power_state"] == "Suspended"
    assert_clean(run, pool_lab)
