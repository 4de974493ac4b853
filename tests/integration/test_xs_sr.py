# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_sr and xs_pif: the storage tutorial of seeds/004 on three-standalone.yml made a pool.

The tests of this file are the steps of one scenario and run in order on one lab: the NFS export
/srv/vhd allows only the storage subnet 172.16.0.32/28; the hosts get storage IPs on eth1 with
xs_pif; the SR is then attached everywhere, made the default, forgotten and introduced again, and
finally destroyed. The lab also has an iSCSI target with CHAP and an SMB share with a password, for
the secrets checks.

The storage IPs are 172.16.0.35-37: 172.16.0.34 is the NFS server's own address in the tutorial.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import xmlrpc.client
from pathlib import Path

import pytest
import XenAPI
import yaml

from lab_helpers import connection_vars, control
from xapisim import Lab

LABS = Path(__file__).resolve().parents[2] / "simulator" / "labs"
NFS = {"server": "172.16.0.34", "serverpath": "/srv/vhd"}
SR = dict(name_label="NAS-2-VHD", type="nfs", device_config=NFS)
STORAGE_IPS = {"xs1": "172.16.0.35", "xs2": "172.16.0.36", "xs3": "172.16.0.37"}
CHAP_PASSWORD = "chap-Secret-4711"
SMB_PASSWORD = "smb-Secret-0815"
IQN = "iqn.2026-01.lab.example:san"


def tutorial_pool():
    """three-standalone.yml with its hosts formed into one pool, plus an iSCSI and an SMB server."""
    lab = yaml.safe_load((LABS / "three-standalone.yml").read_text())
    lab["pools"] = [{"name": "tutorial", "description": "seed 004", "master": "xs1", "members": ["xs2", "xs3"]}]
    lab["storage"] += [
        {"name": "san", "type": "iscsi", "address": "172.16.0.40",
         "targets": [{"iqn": IQN, "allowed": ["172.16.0.32/28"], "chap": {"user": "xen", "password": CHAP_PASSWORD},
                      "luns": [{"id": 0, "size_gib": 100}]}]},
        {"name": "filer", "type": "smb", "address": "172.16.0.41",
         "shares": [{"name": "vms", "allowed": ["172.16.0.32/28"], "user": "xen", "password": SMB_PASSWORD}]},
    ]
    return lab


@pytest.fixture(scope="module")
def lab():
    with tempfile.TemporaryDirectory() as state_dir:
        with Lab.start(tutorial_pool(), state_dir=state_dir, time_scale=0.001) as running:
            yield running


def run_module(lab, playbook, name, *items, args=()):
    """Runs tests/integration/playbooks/<name>.yml against the master xs1, once per item."""
    run = playbook(lab, name + ".yml", dict(connection_vars(lab, "xs1"), xs_items=list(items)), args=args)
    assert run.returncode == 0, run.output
    assert run.sessions["total"] == 0, run.sessions
    return run, run.result["results"]


def writes(run):
    return [call["method"] for call in run.calls if call["kind"] == "write"]


def objects(lab, cls):
    state = control(lab, "/state")
    pool = next(pool for pool in state["pools"] if pool["name"] == "tutorial")
    return pool["objects"].get(cls, {})


def nfs_srs(lab):
    return dict((ref, sr) for ref, sr in objects(lab, "SR").items() if sr["type"] == "nfs")


def api(lab):
    """A XenAPI session on the master, for what the modules do not do (making a disk)."""
    entry = lab.info["hosts"][0]
    transport = xmlrpc.client.SafeTransport(context=ssl.create_default_context(cafile=lab.info["ca_bundle"]))
    session = XenAPI.Session(entry["url"], transport=transport)
    session.xenapi.login_with_password(entry["username"], entry["password"], "1.0", "test_xs_sr")
    return session


def test_probe_sees_the_export_and_its_subnet(lab, playbook):
    probe = dict(state="probed", type="nfs", device_config={"server": "172.16.0.34"})
    run, [result] = run_module(lab, playbook, "xs_sr", probe, args=["--check"])
    assert result["changed"] is False and not result.get("failed"), result
    exports = dict((export["path"], export["allowed"]) for export in result["probe"]["exports"])
    assert exports["/srv/vhd"] == ["172.16.0.32/28"] and exports["/srv/backups"] == ["172.16.0.0/27"]
    assert writes(run) == []  # SR.probe changes nothing: the call log counts it as a read


def test_create_without_storage_ips_is_refused_and_names_every_host(lab, playbook):
    run, [result] = run_module(lab, playbook, "xs_sr", SR)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == (
        "SR 'NAS-2-VHD' would not be attached on xs1, xs2, xs3: the NFS export 172.16.0.34:/srv/vhd allows "
        "172.16.0.32/28 and xs1 (127.0.0.11), xs2 (127.0.0.12), xs3 (127.0.0.13) have no IP in it: give each of "
        "them a storage IP in that subnet with xenserver.pools.xs_pif; then run this task again (nothing was created)")
    assert nfs_srs(lab) == {} and writes(run) == []


def test_with_require_all_hosts_false_the_master_must_reach_it(lab, playbook):
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, require_all_hosts=False))
    assert result["failed"] is True and "would not be attached on xs1:" in result["msg"]
    assert nfs_srs(lab) == {}


def test_storage_ip_on_the_master_then_the_sr_is_created_with_a_warning(lab, playbook):
    item = dict(host="xs1", device="eth1", ip=STORAGE_IPS["xs1"] + "/28", purpose="Storage", disallow_unplug=True)
    run, [pif] = run_module(lab, playbook, "xs_pif", item)
    assert pif["changed"] is True and pif["pif"]["ip"] == "172.16.0.35", pif
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, require_all_hosts=False))
    assert result["changed"] is True and not result.get("failed"), result
    assert [(entry["host"], entry["attached"]) for entry in result["sr"]["hosts"]] == [
        ("xs1", True), ("xs2", False), ("xs3", False)]
    assert result["sr"]["hosts"][2]["reason"] == (
        "NFS mount error [opterr=mount failed on server `172.16.0.34` with return code 32]")
    warning = " ".join(run.output.split())  # warnings are shown, not kept in the registered result
    assert "is not attached on 2 of 3 hosts (xs2, xs3: NFS mount error" in warning
    assert "allows 172.16.0.32/28 and xs2 (127.0.0.12), xs3 (127.0.0.13) have no IP in it" in warning
    assert len(nfs_srs(lab)) == 1


def test_the_default_run_fails_while_hosts_are_unattached(lab, playbook):
    [sr_ref] = nfs_srs(lab)
    run, [result] = run_module(lab, playbook, "xs_sr", SR)
    assert result["failed"] is True and result["changed"] is False
    assert "xs2, xs3: NFS mount error" in result["msg"] and "give each of them a storage IP" in result["msg"]
    assert list(nfs_srs(lab)) == [sr_ref]
    # the module tried the plugs again (to learn the reason) and nothing else
    assert sorted(set(writes(run)) - {"task.destroy"}) == ["Async.PBD.plug"]


def test_storage_ips_for_every_host_check_mode_then_real_then_no_change(lab, playbook):
    items = [dict(host=name, device="eth1", ip=ip + "/28", purpose="Storage", disallow_unplug=True)
             for name, ip in sorted(STORAGE_IPS.items())]
    run, results = run_module(lab, playbook, "xs_pif", *items, args=["--check", "--diff"])
    assert [result["changed"] for result in results] == [False, True, True]
    assert writes(run) == []
    assert results[1]["diff"]["after"]["ip"] == "172.16.0.36"
    run, results = run_module(lab, playbook, "xs_pif", *items)
    assert [result["changed"] for result in results] == [False, True, True]
    pifs = [pif for pif in objects(lab, "PIF").values() if pif["device"] == "eth1"]
    assert sorted(pif["IP"] for pif in pifs) == sorted(STORAGE_IPS.values())
    assert all(pif["netmask"] == "255.255.255.240" and pif["disallow_unplug"]
               and pif["other_config"] == {"management_purpose": "Storage"} for pif in pifs)
    run, results = run_module(lab, playbook, "xs_pif", *items)
    assert [result["changed"] for result in results] == [False, False, False] and writes(run) == []


def test_present_again_attaches_every_host_with_no_new_sr_and_sets_the_default(lab, playbook):
    [sr_ref] = nfs_srs(lab)
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, default=True), args=["--check"])
    assert result["changed"] is True and writes(run) == []
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, default=True))
    assert result["changed"] is True and not result.get("failed"), result
    assert list(nfs_srs(lab)) == [sr_ref]
    assert [(entry["host"], entry["attached"]) for entry in result["sr"]["hosts"]] == [
        ("xs1", True), ("xs2", True), ("xs3", True)]
    assert all(pbd["currently_attached"] for pbd in objects(lab, "PBD").values() if pbd["SR"] == sr_ref)
    [pool] = objects(lab, "pool").values()
    assert pool["default_SR"] == sr_ref and result["sr"]["default"] is True
    assert "Async.PBD.plug" in writes(run) and "pool.set_default_SR" in writes(run)
    assert "SR.create" not in writes(run) and "Async.SR.create" not in writes(run)


def test_a_rerun_changes_nothing(lab, playbook):
    for args in (["--check"], []):
        run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, default=True), args=args)
        assert result["changed"] is False and result["actions"] == [] and writes(run) == []


@pytest.mark.parametrize("name, item, message", [
    ("xs_pif", dict(host="xs2", device="eth1", ip="172.16.0.360/28"), "ip '172.16.0.360' is not a valid IPv4 address"),
    ("xs_pif", dict(host="xs2", device="eth1", ip="172.16.0.36/28", gateway="10.0.0.1"),
     "gateway 10.0.0.1 is not in 172.16.0.32/28"),
    ("xs_pif", dict(host="xs9", device="eth1", mode="dhcp"), "host 'xs9' is not a host of this pool; its hosts are: "
                                                             "xs1, xs2, xs3."),
    ("xs_pif", dict(host="xs2", device="eth7", mode="dhcp"), "host xs2 has no interface eth7; its interfaces are: "
                                                             "eth0, eth1, eth2."),
    ("xs_pif", dict(host="xs3", device="eth2", ip="172.16.0.35/28"), "ip 172.16.0.35 is already used by eth1 on xs1"),
    ("xs_sr", dict(SR, type="nfz", name_label="other"), "type 'nfz' is not a storage type this pool supports; it "
                                                        "supports: "),
    ("xs_sr", dict(SR, type="lvmoiscsi"), "SR 'NAS-2-VHD' ("),
    ("xs_sr", dict(SR, device_config={"server": "172.16.0.34", "serverpath": "/srv/iso"}),
     "device_config.serverpath is '/srv/vhd', not '/srv/iso': this cannot change on an existing SR"),
])
def test_bad_input_is_one_clear_line_and_changes_nothing(lab, playbook, name, item, message):
    run, [result] = run_module(lab, playbook, name, item)
    assert result["failed"] is True and message in result["msg"] and "\n" not in result["msg"], result
    assert "Traceback" not in run.output and writes(run) == []
    if "valid IPv4" in message or "gateway" in message:
        assert run.calls == []  # checked before the first call


def test_forget_keeps_the_disks_and_introduce_finds_them_again(lab, playbook):
    [sr_ref] = nfs_srs(lab)
    uuid = objects(lab, "SR")[sr_ref]["uuid"]
    session = api(lab)
    try:
        session.xenapi.VDI.create(dict(SR=sr_ref, name_label="web-1 disk 0", name_description="", virtual_size=str(20 << 30),
                                       type="user", sharable=False, read_only=False, other_config={}))
    finally:
        session.xenapi.session.logout()
    vdi_uuids = sorted(vdi["uuid"] for vdi in objects(lab, "VDI").values() if vdi["SR"] == sr_ref)
    run, [result] = run_module(lab, playbook, "xs_sr", dict(name_label="NAS-2-VHD", type="nfs", state="absent"))
    assert result["changed"] is True and [vdi["uuid"] for vdi in result["vdis"]] == vdi_uuids, result
    label = "'NAS-2-VHD' (%s)" % uuid
    assert result["actions"][-2:] == ["clear the pool's default SR (was %s)" % label,
                                      "forget SR %s (its data stays on the storage)" % label]
    assert writes(run).count("PBD.unplug") == 3 and writes(run)[-1] == "SR.forget"
    assert nfs_srs(lab) == {}
    [pool] = objects(lab, "pool").values()
    assert pool["default_SR"] == "OpaqueRef:NULL"
    # forgotten, not gone: the probe of the export lists it, and its uuid brings it back with its disk
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, state="probed"))
    assert result["probe"]["sr_uuids"] == [uuid] and result["probe"]["known_srs"] == {}
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, uuid=uuid))
    assert result["changed"] is True and not result.get("failed"), result
    [again] = nfs_srs(lab)
    assert objects(lab, "SR")[again]["uuid"] == uuid
    assert sorted(vdi["uuid"] for vdi in objects(lab, "VDI").values() if vdi["SR"] == again) == vdi_uuids
    assert all(entry["attached"] for entry in result["sr"]["hosts"])
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, uuid=uuid))
    assert result["changed"] is False


def test_secrets_never_leave_the_module(lab, playbook):
    """CHAP and SMB passwords: not in results, diffs, the -vvv log or the simulator's call log."""
    run, [probe] = run_module(lab, playbook, "xs_sr", dict(
        state="probed", type="lvmoiscsi", device_config={"target": "172.16.0.40", "targetIQN": IQN,
                                                         "chapuser": "xen", "chappassword": CHAP_PASSWORD}))
    assert not probe.get("failed"), probe
    [lun] = probe["probe"]["luns"]
    secrets = dict(connection_vars(lab, "xs1"), xs_iscsi_target="172.16.0.40", xs_iscsi_iqn=IQN,
                   xs_iscsi_scsi_id=lun["scsi_id"], xs_chap_password=CHAP_PASSWORD,
                   xs_smb_server="\\\\172.16.0.41\\vms", xs_smb_password=SMB_PASSWORD)
    run = playbook(lab, "xs_sr_secrets.yml", secrets, args=["--diff", "-vvv"])
    assert run.returncode == 0, run.output
    results = run.result["results"]
    assert [result["changed"] for result in results] == [True, True], results
    assert all(entry["attached"] for result in results for entry in result["sr"]["hosts"])
    assert results[0]["sr"]["device_config"] == {"target": "172.16.0.40", "targetIQN": IQN, "SCSIid": lun["scsi_id"],
                                                 "chapuser": "xen"}
    assert results[1]["sr"]["device_config"] == {"server": "\\\\172.16.0.41\\vms", "username": "xen"}
    calls = control(lab, "/calls")["calls"]
    for password in (CHAP_PASSWORD, SMB_PASSWORD):
        assert password not in run.output
        assert password not in json.dumps(results)
        assert password not in json.dumps(calls)
    # XAPI holds the passwords as secrets, referenced by the PBDs
    srs = dict((sr["name_label"], ref) for ref, sr in objects(lab, "SR").items())
    for pbd in objects(lab, "PBD").values():
        if pbd["SR"] in (srs["san-lun0"], srs["filer-vms"]):
            assert not any(key.endswith("password") for key in pbd["device_config"])
            assert any(key.endswith("password_secret") for key in pbd["device_config"])
    run = playbook(lab, "xs_sr_secrets.yml", secrets)
    assert [result["changed"] for result in run.result["results"]] == [False, False]


def test_destroy_lists_the_disks_then_deletes_them(lab, playbook):
    [sr_ref] = nfs_srs(lab)
    args = dict(name_label="NAS-2-VHD", type="nfs", state="absent", destroy_data=True)
    run, [result] = run_module(lab, playbook, "xs_sr", args, args=["--check"])
    assert result["changed"] is True and writes(run) == []
    # the disk came back by a scan after the introduce: a VHD file keeps its uuid, not its name
    [vdi] = [vdi for vdi in objects(lab, "VDI").values() if vdi["SR"] == sr_ref]
    assert [(entry["uuid"], entry["name"], entry["size_gib"]) for entry in result["vdis"]] == [(vdi["uuid"], "", 20.0)]
    assert "would delete 1 disk: %s (20.0 GiB)" % vdi["uuid"] in " ".join(run.output.split())
    run, [result] = run_module(lab, playbook, "xs_sr", args)
    assert result["changed"] is True and not result.get("failed"), result
    assert nfs_srs(lab) == {} and not any(vdi["SR"] == sr_ref for vdi in objects(lab, "VDI").values())
    assert [method for method in writes(run) if method != "task.destroy"][-1] == "Async.SR.destroy"
    run, [result] = run_module(lab, playbook, "xs_sr", dict(SR, state="probed"))
    assert result["probe"]["sr_uuids"] == []  # gone from the export too


def test_destroy_and_forget_are_refused_while_a_disk_is_in_use(pool_lab, playbook):
    """pool-of-four: running VMs on every host have their disks on shared-nfs."""
    for destroy in (True, False):
        run = playbook(pool_lab, "xs_sr.yml", dict(connection_vars(pool_lab, "xs1"), xs_items=[
            dict(name_label="shared-nfs", state="absent", destroy_data=destroy)]))
        assert run.returncode == 0, run.output
        [result] = run.result["results"]
        assert result["failed"] is True and result["changed"] is False
        assert "has disks in use by running VMs: " in result["msg"] and "VM web-1" in result["msg"]
        assert result["msg"].endswith("shut those VMs down or move their disks first (nothing was changed)")
        assert writes(run) == [] and run.sessions["total"] == 0
