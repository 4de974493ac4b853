# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pool_build role (playbooks/pool_build.yml) against three-standalone, run through ansible-runner with
the connection only in the XENSERVER_* environment variables."""

from __future__ import annotations

import json

from xapisim import Lab

from lab_helpers import control
from role_helpers import lab_dict, run_playbook

TIME_SCALE = 0.001
PASSWORD = "lab-root-pw"
# Probing the storage is SR.probe, which the call log counts as a write although it changes nothing.
PROBES = ("SR.probe", "SR.probe_ext")


def tutorial(lab, **extra):
    """The pool of the storage tutorial (seed 004)."""
    options = dict(
        pool_build_name="PDX0",
        pool_build_description="NA-US-OR-PDX-0",
        pool_build_members=[{"host": host["url"]} for host in lab.info["hosts"][1:]],
        pool_build_storage_network={"device": "eth1", "cidr": "172.16.0.32/28", "range_start": "172.16.0.35"},
        pool_build_srs=[{"name_label": "NAS-2-VHD", "type": "nfs",
                         "device_config": {"server": "172.16.0.34", "serverpath": "/srv/vhd"}}],
        pool_build_default_sr="NAS-2-VHD",
    )
    options.update(extra)
    return options


def pools(lab):
    return control(lab, "/state")["pools"]


def changes(run):
    return [call["method"] for call in run.writes if call["method"] not in PROBES]


def assert_clean(run):
    assert PASSWORD not in run.output
    assert all(PASSWORD not in json.dumps(call["args"]) for call in run.calls)
    assert run.sessions["total"] == 0, run.sessions


def test_build_the_tutorial_pool_and_run_again(tmp_path):
    with Lab.start(lab_dict("three-standalone.yml"), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        run = run_playbook(lab, "pool_build.yml", tmp_path, tutorial(lab), name="build")
        assert run.rc == 0, run.output
        assert_clean(run)
        # Members joined one at a time, after the pre-flight of both.
        joins = [call for call in run.calls if call["method"] in ("pool.join", "Async.pool.join")]
        assert [call["host"] for call in joins] == ["xs2", "xs3"]

        (pool,) = pools(lab)
        objects = pool["objects"]
        record = next(iter(objects["pool"].values()))
        assert record["name_label"] == "PDX0" and record["name_description"] == "NA-US-OR-PDX-0"
        assert sorted(host["name_label"] for host in objects["host"].values()) == ["xs1", "xs2", "xs3"]
        sr_ref, sr = next((ref, sr) for ref, sr in objects["SR"].items() if sr["name_label"] == "NAS-2-VHD")
        assert sr["shared"] and record["default_SR"] == sr_ref
        plugged = [objects["host"][pbd["host"]]["name_label"] for pbd in objects["PBD"].values()
                   if pbd["SR"] == sr_ref and pbd["currently_attached"]]
        assert sorted(plugged) == ["xs1", "xs2", "xs3"]
        storage = dict((objects["host"][pif["host"]]["name_label"], pif) for pif in objects["PIF"].values()
                       if pif["device"] == "eth1")
        assert dict((name, pif["IP"]) for name, pif in storage.items()) == {
            "xs1": "172.16.0.35", "xs2": "172.16.0.36", "xs3": "172.16.0.37"}
        assert all(pif["netmask"] == "255.255.255.240" and pif["disallow_unplug"]
                   and pif["other_config"].get("management_purpose") == "Storage" for pif in storage.values())
        assert "NAS-2-VHD                nfs      yes      3 of 3 host(s)" in run.output

        again = run_playbook(lab, "pool_build.yml", tmp_path, tutorial(lab), name="again")
        assert again.rc == 0, again.output
        assert "changed=0" in again.output.split("PLAY RECAP")[-1]
        assert changes(again) == []
        assert_clean(again)


def test_a_member_breaking_a_requirement_stops_the_build_before_any_change(tmp_path):
    spec = lab_dict("three-standalone.yml")
    spec["hosts"][2]["vms"] = [{"name": "busy-1", "power_state": "running", "memory_gib": 1}]
    spec["hosts"][1]["clock_offset"] = 600
    with Lab.start(spec, state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        run = run_playbook(lab, "pool_build.yml", tmp_path, tutorial(lab), name="refused")
        assert run.rc != 0
        assert "nothing was changed" in run.output
        # Every failing member and check is named.
        assert "no_active_vms" in run.output and "127.0.0.13" in run.output
        assert "clock_skew" in run.output and "127.0.0.12" in run.output
        assert run.writes == [], [call["method"] for call in run.writes]
        assert len(pools(lab)) == 3 and all(not pool["name"] for pool in pools(lab))
        assert_clean(run)


def test_editions_are_aligned_before_the_joins(tmp_path):
    spec = lab_dict("three-standalone.yml")
    spec["hosts"][2]["edition"] = "premier"
    spec["host_defaults"]["license_server"] = {"address": "license.example.com"}  # what the lab's licences check out from
    with Lab.start(spec, state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        refused = run_playbook(lab, "pool_build.yml", tmp_path, tutorial(lab), name="refused")
        assert refused.rc != 0
        assert "license_edition" in refused.output
        assert refused.writes == []

        run = run_playbook(lab, "pool_build.yml", tmp_path, tutorial(
            lab, pool_build_edition="standard", pool_build_license_server={"address": "license.example.com"}), name="aligned")
        assert run.rc == 0, run.output
        (pool,) = pools(lab)
        assert sorted(host["edition"] for host in pool["objects"]["host"].values()) == ["standard"] * 3
        applied = [call for call in run.calls if call["method"] == "host.apply_edition"]
        assert "xs3" in [call["host"] for call in applied]
        assert_clean(refused)
        assert_clean(run)


def test_management_moves_onto_a_bond_on_every_host(tmp_path):
    with Lab.start(lab_dict("three-standalone.yml"), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        bond = {"network": "Bond 0+2", "devices": ["eth0", "eth2"], "mode": "active-backup"}
        options = tutorial(lab, pool_build_management_bond=bond)
        run = run_playbook(lab, "pool_build.yml", tmp_path, options, name="build")
        assert run.rc == 0, run.output
        (pool,) = pools(lab)
        objects = pool["objects"]
        management = dict((objects["host"][pif["host"]]["name_label"], pif) for pif in objects["PIF"].values()
                          if pif["management"])
        assert sorted(management) == ["xs1", "xs2", "xs3"]
        assert all(pif["bond_master_of"] for pif in management.values())
        again = run_playbook(lab, "pool_build.yml", tmp_path, options, name="again")
        assert again.rc == 0, again.output
        assert changes(again) == []
        assert_clean(again)
