# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The storage_network role (playbooks/storage_network.yml) against a pool-of-four whose xs3 and xs4 have no
storage address yet, run through ansible-runner with the connection only in the XENSERVER_* variables."""

from __future__ import annotations

from xapisim import Lab

from role_helpers import lab_dict, pool_objects, run_playbook

TIME_SCALE = 0.001
PROBES = ("SR.probe", "SR.probe_ext")
TARGET = {"type": "nfs", "device_config": {"server": "172.16.0.34", "serverpath": "/srv/vhd"}}


def half_configured():
    """pool-of-four where xs3 and xs4 have eth1 unconfigured: the shared SR is not attached on them."""
    spec = lab_dict("pool-of-four.yml")
    for host in spec["hosts"][2:]:
        host["nics"][1] = {"device": "eth1"}
    return spec


def storage(objects):
    """{host name: (eth1 address, purpose, disallow_unplug)} and {host name: shared SR attached}."""
    hosts = objects["host"]
    pifs = dict((hosts[pif["host"]]["name_label"],
                 (pif["IP"], pif["other_config"].get("management_purpose", ""), pif["disallow_unplug"]))
                for pif in objects["PIF"].values() if pif["device"] == "eth1")
    sr_ref = next(ref for ref, sr in objects["SR"].items() if sr["name_label"] == "shared-nfs")
    attached = dict((hosts[pbd["host"]]["name_label"], pbd["currently_attached"])
                    for pbd in objects["PBD"].values() if pbd["SR"] == sr_ref)
    return pifs, attached


def changes(run):
    return [call["method"] for call in run.writes if call["method"] not in PROBES]


def test_storage_addresses_allocated_then_the_sr_plugged_everywhere(tmp_path):
    with Lab.start(half_configured(), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        pifs, attached = storage(pool_objects(lab))
        assert attached == {"xs1": True, "xs2": True, "xs3": False, "xs4": False}

        options = dict(storage_network_device="eth1", storage_network_cidr="172.16.0.32/28",
                       storage_network_targets=[TARGET])
        run = run_playbook(lab, "storage_network.yml", tmp_path, options, name="configure")
        assert run.rc == 0, run.output
        pifs, attached = storage(pool_objects(lab))
        # xs1 and xs2 keep their addresses; xs3 and xs4 get the lowest free ones (.34 is the NFS server).
        assert pifs == {"xs1": ("172.16.0.35", "Storage", True), "xs2": ("172.16.0.36", "Storage", True),
                        "xs3": ("172.16.0.33", "Storage", True), "xs4": ("172.16.0.37", "Storage", True)}
        assert attached == {"xs1": True, "xs2": True, "xs3": True, "xs4": True}
        assert "xs3              eth1         172.16.0.33      allocated yes      shared-nfs" in run.output
        assert run.sessions["total"] == 0

        again = run_playbook(lab, "storage_network.yml", tmp_path, options, name="again")
        assert again.rc == 0, again.output
        assert "changed=0" in again.output.split("PLAY RECAP")[-1]
        assert changes(again) == []


def test_explicit_addresses_and_a_range(tmp_path):
    with Lab.start(half_configured(), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        options = dict(storage_network_device="eth1", storage_network_cidr="172.16.0.32/28",
                       storage_network_range_start="172.16.0.40", storage_network_ips={"xs4": "172.16.0.45"},
                       storage_network_targets=[TARGET])
        run = run_playbook(lab, "storage_network.yml", tmp_path, options, name="configure")
        assert run.rc == 0, run.output
        pifs, attached = storage(pool_objects(lab))
        assert pifs["xs3"][0] == "172.16.0.40" and pifs["xs4"][0] == "172.16.0.45"
        assert all(attached.values())


def test_an_export_that_does_not_allow_the_addresses_stops_before_any_change(tmp_path):
    with Lab.start(half_configured(), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        options = dict(storage_network_device="eth1", storage_network_cidr="10.9.0.0/24", storage_network_targets=[TARGET])
        run = run_playbook(lab, "storage_network.yml", tmp_path, options, name="refused")
        assert run.rc != 0
        assert "NFS export 172.16.0.34:/srv/vhd allows only 172.16.0.32/28, so hosts xs1 (10.9.0.1)" in run.output
        assert "nothing was changed" in run.output
        assert changes(run) == []

        missing = dict(options, storage_network_cidr="172.16.0.32/28", storage_network_targets=[
            {"type": "nfs", "device_config": {"server": "172.16.0.34", "serverpath": "/srv/backups"}}])
        run = run_playbook(lab, "storage_network.yml", tmp_path, missing, name="missing")
        assert run.rc != 0
        assert "NFS server 172.16.0.34 does not export /srv/backups (it exports /srv/vhd, /srv/iso)" in run.output
        assert changes(run) == []

        bad = run_playbook(lab, "storage_network.yml", tmp_path,
                           dict(storage_network_device="eth9", storage_network_cidr="172.16.0.32/28"), name="bad-device")
        assert bad.rc != 0 and "has no interface eth9" in bad.output
        assert changes(bad) == []


def test_storage_addresses_on_a_new_bond(tmp_path):
    with Lab.start(lab_dict("three-standalone.yml"), state_dir=tmp_path / "lab", time_scale=TIME_SCALE) as lab:
        build = run_playbook(lab, "pool_build.yml", tmp_path, dict(
            pool_build_name="PDX0", pool_build_members=[{"host": host["url"]} for host in lab.info["hosts"][1:]]),
            name="build")
        assert build.rc == 0, build.output
        options = dict(storage_network_bond={"network": "Storage bond", "devices": ["eth1", "eth2"], "mode": "active-backup"},
                       storage_network_cidr="172.16.0.32/28", storage_network_range_start="172.16.0.35",
                       storage_network_targets=[TARGET])
        run = run_playbook(lab, "storage_network.yml", tmp_path, options, name="configure")
        assert run.rc == 0, run.output
        objects = pool_objects(lab)
        bonded = dict((objects["host"][pif["host"]]["name_label"], pif) for pif in objects["PIF"].values()
                      if pif["bond_master_of"] and not pif["management"])
        assert dict((name, pif["IP"]) for name, pif in bonded.items()) == {
            "xs1": "172.16.0.35", "xs2": "172.16.0.36", "xs3": "172.16.0.37"}
        assert all(pif["other_config"].get("management_purpose") == "Storage" and pif["disallow_unplug"]
                   for pif in bonded.values())
        again = run_playbook(lab, "storage_network.yml", tmp_path, options, name="again")
        assert again.rc == 0, again.output
        assert changes(again) == []
