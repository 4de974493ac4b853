# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool and xs_pool_member against simulator/labs/three-standalone.yml, as an operator builds a
pool (seeds 000, 002, 004): name the pool, join both members, re-run with no change, check mode,
hand the master role over and back, and eject with each safety case refused, then allowed with its
option. The tests run in file order on one lab, each starting where the previous one ended."""

from __future__ import annotations

import pytest

from xapisim import Lab

from conftest import LABS, TIME_SCALE
from lab_helpers import control, host
from membership_helpers import assert_clean, is_write, pools, writes


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab.start(LABS / "three-standalone.yml", state_dir=tmp_path_factory.mktemp("three-standalone-pool"),
                   time_scale=TIME_SCALE) as running:
        yield running


def connect(lab, name="xs1"):
    entry = host(lab, name)
    return {"xs_hostname": entry["url"], "xs_password": entry["password"], "xs_ca_path": lab.info["ca_bundle"]}


def member(lab, name, via="xs1", **extra):
    entry = host(lab, name)
    return dict(connect(lab, via), xs_host=entry["url"], xs_host_password=entry["password"], **extra)


def eject(lab, name, via="xs1", **extra):
    return dict(connect(lab, via), xs_host=name, xs_state="absent", **extra)


def add_vm(lab, host_name, vm_name, power_state, local_disk=False):
    """A VM on a host, made the way the lab file makes them (test set-up, not an API call)."""
    from xapisim.factory import create_vm

    def create(world):
        machine = world.machine(host_name)
        db = machine.db
        local = next(pbd["SR"] for pbd in db.all("PBD").values()
                     if pbd["host"] == machine.host_ref and not db.get("SR", pbd["SR"])["shared"])
        disks = [{"sr": "local", "size_gib": 20}] if local_disk else []
        create_vm(db, machine.host_ref, {"name": vm_name, "power_state": power_state, "memory_gib": 1, "vcpus": 1,
                                         "disks": disks}, {"local": local})
    lab.run(create)


def test_name_the_pool(lab, playbook):
    planned = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_name_label="PDX0"), args=["--check", "--diff"])
    assert planned.result["changed"] and writes(planned) == []
    assert planned.result["diff"] == {"before": {"name_label": ""}, "after": {"name_label": "PDX0"}}
    assert_clean(planned, lab)

    run = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_name_label="PDX0", xs_name_description="NA-US-OR-PDX-0"))
    assert run.result["changed"] and writes(run) == ["pool.set_name_label", "pool.set_name_description"]
    assert run.result["pool"]["name"] == "PDX0" and run.result["pool"]["master"] == "xs1"
    assert_clean(run, lab)

    again = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_name_label="PDX0", xs_name_description="NA-US-OR-PDX-0"))
    assert not again.result["changed"] and writes(again) == []
    assert_clean(again, lab)


def test_join_both_members(lab, playbook):
    planned = playbook(lab, "xs_pool_member.yml", member(lab, "xs2"), args=["--check", "--diff"])
    assert planned.result["changed"] and writes(planned) == []
    assert planned.result["actions"][0] == "join xs2 to pool PDX0 (pool.join)"
    assert planned.result["diff"]["after"] == {"hosts": ["xs1", "xs2"]}
    assert_clean(planned, lab)

    for name in ("xs2", "xs3"):
        run = playbook(lab, "xs_pool_member.yml", member(lab, name))
        assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
        assert run.result["host"]["live"] and run.result["host"]["enabled"]
        assert [call["method"] for call in run.calls if call["host"] == name and is_write(call)] == ["pool.join"]
        assert_clean(run, lab)
        if name == "xs2":  # the master's local SR is no default for a pool: cleared, as XenCenter does
            assert sorted(entry["setting"] for entry in run.result["cleared_pool_srs"]) == [
                "crash_dump_sr", "default_sr", "suspend_image_sr"]
    assert pools(lab)["xs1"] == ["xs1", "xs2", "xs3"]


def test_rerun_makes_no_change(lab, playbook):
    for name in ("xs2", "xs3"):
        run = playbook(lab, "xs_pool_member.yml", member(lab, name))
        assert not run.result["changed"] and not run.result["failed"] and writes(run) == []
        assert_clean(run, lab)
    run = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_name_label="PDX0"))
    assert not run.result["changed"] and run.result["pool"]["hosts"] == 3
    assert_clean(run, lab)


def test_check_mode_shows_the_plan_without_writing(lab, playbook):
    run = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_name_label="PDX1", xs_master="xs3",
                                            xs_tags=["prod"], xs_other_config={"owner": "ops"}),
                   args=["--check", "--diff"])
    assert run.result["changed"]
    assert run.result["actions"] == ["set name_label to 'PDX1'", "set tags to prod", "set other_config keys owner",
                                     "hand the master role to xs3 (pool.designate_new_master)"]
    assert run.result["diff"]["after"]["master"] == "xs3"
    assert writes(run) == [] and run.calls and all(call["kind"] in ("read", "session") for call in run.calls)
    assert pools(lab)["xs1"] == ["xs1", "xs2", "xs3"]
    assert_clean(run, lab)


def test_refusals_change_nothing(lab, playbook):
    ha = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_ha={"enabled": True}))
    assert ha.result["failed"] and "heartbeat_sr: no SR can hold the HA heartbeat" in ha.result["msg"]
    tls = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_tls_verification=False))
    assert tls.result["failed"] and "one-way" in tls.result["msg"]
    default = playbook(lab, "xs_pool.yml", dict(connect(lab), xs_default_sr="Local storage"))
    assert default.result["failed"] and "3 SRs are named 'Local storage'" in default.result["msg"]
    for run in (ha, tls, default):
        assert writes(run) == [] and run.result["msg"].endswith(".")
        assert_clean(run, lab)


def test_designate_a_new_master_and_back(lab, playbook):
    run = playbook(lab, "xs_pool.yml", dict(connect(lab, "xs1"), xs_master="xs2"))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert run.result["pool"]["master"] == "xs2"
    assert writes(run) == ["pool.designate_new_master"]
    assert pools(lab) == {"xs2": ["xs1", "xs2", "xs3"]}
    assert_clean(run, lab)

    again = playbook(lab, "xs_pool.yml", dict(connect(lab, "xs1"), xs_master="xs2"))  # via the old master
    assert not again.result["changed"] and writes(again) == []
    assert_clean(again, lab)

    back = playbook(lab, "xs_pool.yml", dict(connect(lab, "xs1"), xs_master="xs1"))
    assert back.result["changed"] and back.result["pool"]["master"] == "xs1", back.result.get("msg")
    assert pools(lab) == {"xs1": ["xs1", "xs2", "xs3"]}
    info = playbook(lab, "pool_info.yml", {"xs_hostname": host(lab, "xs2")["url"], "xs_password": host(lab, "xs2")["password"],
                                           "xs_ca_path": lab.info["ca_bundle"]})
    assert info.result["pool"]["master"] == "xs1"
    assert all(entry["live"] for entry in info.result["hosts"])
    assert_clean(back, lab)


def test_eject_the_master_refused_then_handed_over(lab, playbook):
    refused = playbook(lab, "xs_pool_member.yml", eject(lab, "xs1"))
    assert refused.result["failed"] and "not_master: xs1 is the pool master" in refused.result["msg"]
    assert writes(refused) == []
    assert_clean(refused, lab)

    run = playbook(lab, "xs_pool_member.yml", eject(lab, "xs1", xs_designate_new_master="xs2"))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert writes(run) == ["pool.designate_new_master", "Async.pool.eject", "task.destroy"]
    assert pools(lab)["xs2"] == ["xs2", "xs3"] and pools(lab)["xs1"] == ["xs1"]
    assert_clean(run, lab)

    again = playbook(lab, "xs_pool_member.yml", eject(lab, "xs1", via="xs2", xs_designate_new_master="xs2"))
    assert not again.result["changed"] and "not a member" in again.result["msg"]
    assert_clean(again, lab)


def test_eject_with_vms_and_local_disks_refused_then_allowed(lab, playbook):
    add_vm(lab, "xs3", "web", "running")
    add_vm(lab, "xs3", "db", "halted", local_disk=True)

    refused = playbook(lab, "xs_pool_member.yml", eject(lab, "xs3", via="xs2"))
    assert refused.result["failed"]
    assert "no_resident_vms: VMs are running, paused or suspended on xs3: web (Running)" in refused.result["msg"]
    assert "no_local_data: ejecting xs3 erases its local storage and these 1 virtual disk(s) would be lost: " \
           "Local storage: 'db disk 0' (20.0 GiB, VM db)" in refused.result["msg"]
    assert writes(refused) == []

    still = playbook(lab, "xs_pool_member.yml", eject(lab, "xs3", via="xs2", xs_evacuate=True))
    assert still.result["failed"] and "no_resident_vms" not in still.result["msg"]
    assert "no_local_data" in still.result["msg"] and writes(still) == []

    run = playbook(lab, "xs_pool_member.yml", eject(lab, "xs3", via="xs2", xs_evacuate=True,
                                                    xs_allow_local_data_loss=True))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert writes(run)[:2] == ["host.disable", "Async.host.evacuate"]
    assert "Async.pool.eject" in writes(run)
    assert pools(lab)["xs2"] == ["xs2"]
    state = control(lab, "/state")
    vms = next(pool for pool in state["pools"] if pool["master"] == "xs2")["objects"]["VM"]
    web = next(vm for vm in vms.values() if vm["name_label"] == "web")
    xs2_ref = next(ref for ref, record in next(pool for pool in state["pools"] if pool["master"] == "xs2")[
        "objects"]["host"].items() if record["name_label"] == "xs2")
    assert web["resident_on"] == xs2_ref and web["power_state"] == "Running"
    for entry in (refused, still, run):
        assert_clean(entry, lab)
