# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenserver.pools.plugins.modules import xs_sr
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_storage_pool import NFS_SERVER, FakePool

ARGS = {"hostname": "192.0.2.1", "password": "secret"}
NFS = dict(ARGS, name_label="NAS-2-VHD", type="nfs", device_config={"server": NFS_SERVER, "serverpath": "/srv/vhd"})


@pytest.fixture
def pool(xapi):
    return FakePool(xapi)


def storage_ips(pool, hosts=("xs1", "xs2", "xs3")):
    for number, name in enumerate(hosts):
        pool.set_ip(name, "eth1", "172.16.0.%d" % (33 + number))


def nfs_srs(pool):
    return [ref for ref, sr in pool.records["SR"].items() if sr["type"] == "nfs"]


def attached(pool, sr):
    return sorted(pool.records["host"][pool.records["PBD"][pbd]["host"]]["name_label"]
                  for pbd in pool.records["SR"][sr]["PBDs"] if pool.records["PBD"][pbd]["currently_attached"])


def test_probe_lists_the_exports_and_their_subnets(xapi, pool, run_module):
    outcome, result = run_module(xs_sr.main, dict(ARGS, state="probed", type="nfs",
                                                  device_config={"server": NFS_SERVER}, _ansible_check_mode=True))
    assert outcome == "exit" and result["changed"] is False, result
    assert result["probe"]["exports"][0] == dict(path="/srv/vhd", target=NFS_SERVER, allowed=["172.16.0.32/28"])
    assert pool.writes() == ["SR.probe"]


def test_create_is_refused_before_anything_when_no_host_can_reach_the_export(xapi, pool, run_module):
    outcome, result = run_module(xs_sr.main, NFS)
    assert outcome == "fail" and result["changed"] is False
    assert result["msg"] == (
        "SR 'NAS-2-VHD' would not be attached on xs1, xs2, xs3: the NFS export 172.16.0.34:/srv/vhd allows "
        "172.16.0.32/28 and xs1 (192.0.2.1), xs2 (192.0.2.2), xs3 (192.0.2.3) have no IP in it: give each of them a "
        "storage IP in that subnet with xenserver.pools.xs_pif; then run this task again (nothing was created)")
    assert nfs_srs(pool) == [] and pool.writes() == ["SR.probe"]


def test_create_attaches_every_host_and_a_rerun_changes_nothing(xapi, pool, run_module):
    storage_ips(pool)
    outcome, result = run_module(xs_sr.main, dict(NFS, default=True))
    assert outcome == "exit" and result["changed"] is True, result
    [sr] = nfs_srs(pool)
    assert attached(pool, sr) == ["xs1", "xs2", "xs3"]
    assert pool.records["pool"]["OpaqueRef:pool"]["default_SR"] == sr
    assert result["actions"] == ["create shared nfs SR 'NAS-2-VHD'",
                                 "make SR 'NAS-2-VHD' (%s) the pool's default SR" % pool.records["SR"][sr]["uuid"]]
    assert result["sr"]["hosts"] == [dict(host="xs1", attached=True), dict(host="xs2", attached=True),
                                     dict(host="xs3", attached=True)]
    assert result["sr"]["default"] is True and result["sr"]["device_config"] == NFS["device_config"]
    del xapi.calls[:]
    outcome, result = run_module(xs_sr.main, dict(NFS, default=True))
    assert outcome == "exit" and result["changed"] is False and result["actions"] == []
    assert pool.writes() == []


def test_check_mode_makes_no_write_call(xapi, pool, run_module):
    storage_ips(pool)
    outcome, result = run_module(xs_sr.main, dict(NFS, default=True, _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == "exit" and result["changed"] is True
    assert pool.writes() == [] and nfs_srs(pool) == []
    assert result["diff"]["before"] == dict(exists=False)
    assert result["diff"]["after"]["default"] is True and result["sr"]["uuid"] == ""


def test_hosts_without_storage_ip_warn_with_require_all_hosts_false_then_repair(xapi, pool, run_module, monkeypatch):
    warnings = []
    monkeypatch.setattr(xs_sr.SecretAwareModule, "warn", lambda self, text: warnings.append(text))
    storage_ips(pool, hosts=("xs1",))
    outcome, result = run_module(xs_sr.main, dict(NFS, require_all_hosts=False))
    assert outcome == "exit" and result["changed"] is True, result
    [sr] = nfs_srs(pool)
    assert attached(pool, sr) == ["xs1"]
    assert [entry["attached"] for entry in result["sr"]["hosts"]] == [True, False, False]
    assert result["sr"]["hosts"][1]["reason"].startswith("NFS mount error [opterr=mount failed on server")
    assert "reason" not in result["sr"]["hosts"][0]
    assert len(warnings) == 1 and "is not attached on 2 of 3 hosts (xs2, xs3: NFS mount error" in warnings[0]
    assert "allows 172.16.0.32/28 and xs2 (192.0.2.2), xs3 (192.0.2.3) have no IP in it" in warnings[0]
    # the default (require_all_hosts) fails, naming the same hosts; it keeps the SR it made
    outcome, result = run_module(xs_sr.main, NFS)
    assert outcome == "fail" and result["changed"] is False and "xs2, xs3: NFS mount error" in result["msg"]
    assert result["msg"].endswith("give the hosts access to the storage, then run this task again")
    # storage IPs on xs2 and xs3: the same SR is plugged everywhere, no new SR
    storage_ips(pool)
    del xapi.calls[:]
    outcome, result = run_module(xs_sr.main, NFS)
    assert outcome == "exit" and result["changed"] is True
    assert nfs_srs(pool) == [sr] and attached(pool, sr) == ["xs1", "xs2", "xs3"]
    assert sorted(pool.writes()) == ["Async.PBD.plug", "Async.PBD.plug", "task.destroy", "task.destroy"]
    assert result["actions"] == ["plug SR 'NAS-2-VHD' (%s) on %s" % (pool.records["SR"][sr]["uuid"], name)
                                 for name in ("xs2", "xs3")]


def test_a_host_without_pbd_gets_one(xapi, pool, run_module):
    storage_ips(pool)
    sr = pool.shared_nfs_sr()
    missing = next(ref for ref in pool.records["SR"][sr]["PBDs"]
                   if pool.records["PBD"][ref]["host"] == "OpaqueRef:host-xs3")
    pool.records["SR"][sr]["PBDs"].remove(missing)
    del pool.records["PBD"][missing]
    outcome, result = run_module(xs_sr.main, NFS)
    assert outcome == "exit" and result["changed"] is True
    assert attached(pool, sr) == ["xs1", "xs2", "xs3"]
    created = [args for _url, method, args in xapi.calls if method == "PBD.create"]
    assert created[0][0]["device_config"] == {"server": NFS_SERVER, "serverpath": "/srv/vhd"}


@pytest.mark.parametrize("args, message", [
    (dict(NFS, device_config={"server": NFS_SERVER, "serverpath": "/srv/iso"}),
     "device_config.serverpath is '/srv/vhd', not '/srv/iso': this cannot change on an existing SR"),
    (dict(NFS, type="lvmoiscsi"), "its type is nfs, not lvmoiscsi"),
    (dict(NFS, type="nfz"), "type 'nfz' is not a storage type this pool supports; it supports: ext, iso,"),
    (dict(NFS, host="xs9"), "host 'xs9' is not a host of this pool; its hosts are: xs1, xs2, xs3."),
    (dict(NFS, name_label="other", device_config={"server": NFS_SERVER}), "type nfs needs device_config serverpath."),
    (dict(NFS, name_label="other", host="xs2", shared=True), "host is for a local SR: remove host, or set shared: false."),
])
def test_refusals_are_one_line_and_change_nothing(xapi, pool, run_module, args, message):
    pool.shared_nfs_sr()
    outcome, result = run_module(xs_sr.main, args)
    assert outcome == "fail" and message in result["msg"] and "\n" not in result["msg"]
    assert pool.writes() == [] and result["changed"] is False


def test_forget_keeps_the_data_and_introduce_finds_it_again(xapi, pool, run_module):
    storage_ips(pool)
    sr = pool.shared_nfs_sr(vdis=[("web disk 0", "Halted")])
    uuid = pool.records["SR"][sr]["uuid"]
    pool.nfs_content[uuid] = []
    outcome, result = run_module(xs_sr.main, dict(ARGS, name_label="NAS-2-VHD", state="absent"))
    assert outcome == "exit" and result["changed"] is True
    assert result["vdis"][0]["name"] == "web disk 0"
    assert result["actions"][-1] == "forget SR 'NAS-2-VHD' (%s) (its data stays on the storage)" % uuid
    unplugs = [pool.records["host"].get(args[0], args[0]) for _url, method, args in xapi.calls if method == "PBD.unplug"]
    assert len(unplugs) == 3
    assert nfs_srs(pool) == [] and pool.nfs_content[uuid] == ["web disk 0"]
    outcome, result = run_module(xs_sr.main, dict(ARGS, name_label="NAS-2-VHD", state="absent"))
    assert outcome == "exit" and result["changed"] is False
    # the probe finds it, and present with its uuid introduces it again with its disk
    outcome, result = run_module(xs_sr.main, dict(NFS, state="probed"))
    assert result["probe"]["sr_uuids"] == [uuid] and result["probe"]["known_srs"] == {}
    outcome, result = run_module(xs_sr.main, dict(NFS, uuid=uuid))
    assert outcome == "exit" and result["changed"] is True, result
    [again] = nfs_srs(pool)
    assert pool.records["SR"][again]["uuid"] == uuid and attached(pool, again) == ["xs1", "xs2", "xs3"]
    assert [pool.records["VDI"][vdi]["name_label"] for vdi in pool.records["SR"][again]["VDIs"]] == ["web disk 0"]
    assert result["actions"][0] == "introduce nfs SR 'NAS-2-VHD' (uuid %s) found on the storage" % uuid


def test_forget_unplugs_members_first_and_the_master_last(xapi, pool, run_module):
    storage_ips(pool)
    sr = pool.shared_nfs_sr()
    run_module(xs_sr.main, dict(ARGS, name_label="NAS-2-VHD", state="absent"))
    order = [pool_host for _url, method, args in xapi.calls if method == "PBD.unplug"
             for pool_host in [args[0]]]
    assert len(order) == 3 and sr not in pool.records["SR"]
    texts = [call for call in xapi.methods() if call in ("PBD.unplug", "SR.forget")]
    assert texts == ["PBD.unplug", "PBD.unplug", "PBD.unplug", "SR.forget"]


def test_destroy_lists_the_disks_and_is_refused_while_one_is_in_use(xapi, pool, run_module, monkeypatch):
    warnings = []
    monkeypatch.setattr(xs_sr.SecretAwareModule, "warn", lambda self, text: warnings.append(text))
    storage_ips(pool)
    sr = pool.shared_nfs_sr(vdis=[("web disk 0", "Running"), ("old disk 0", "Halted")])
    args = dict(ARGS, name_label="NAS-2-VHD", state="absent", destroy_data=True)
    outcome, result = run_module(xs_sr.main, args)
    assert outcome == "fail" and result["changed"] is False
    assert result["msg"] == ("SR 'NAS-2-VHD' (%s) has disks in use by running VMs: web disk 0 (20.0 GiB, VM vm-web): "
                             "shut those VMs down or move their disks first (nothing was changed)"
                             % pool.records["SR"][sr]["uuid"])
    assert pool.writes() == []
    # the VM is shut down: check mode lists what would be lost, then the real run deletes it
    pool.records["VM"][next(ref for ref, vm in pool.records["VM"].items() if vm["name_label"] == "vm-web")][
        "power_state"] = "Halted"
    for vbd in pool.records["VBD"].values():
        vbd["currently_attached"] = False
    outcome, result = run_module(xs_sr.main, dict(args, _ansible_check_mode=True))
    assert outcome == "exit" and result["changed"] is True and pool.writes() == []
    assert [vdi["name"] for vdi in result["vdis"]] == ["old disk 0", "web disk 0"]
    assert "would delete 2 disks: old disk 0 (20.0 GiB, VM vm-old), web disk 0 (20.0 GiB, VM vm-web)" in warnings[0]
    outcome, result = run_module(xs_sr.main, args)
    assert outcome == "exit" and result["changed"] is True, result
    assert sr not in pool.records["SR"] and pool.records["VDI"] == {}
    methods = [method for method in pool.writes() if not method.startswith("task.")]
    assert methods == ["VDI.destroy", "VDI.destroy", "PBD.unplug", "PBD.unplug", "PBD.unplug", "Async.SR.destroy"]


def test_chap_password_is_a_secret_and_never_shown(xapi, pool, capsys):
    """Without patched exit_json: what Ansible receives, invocation included."""
    args = dict(ARGS, name_label="san", type="lvmoiscsi", _ansible_diff=True,
                device_config={"target": "10.0.50.10", "targetIQN": "iqn.2026-01.com.example:storage",
                               "SCSIid": "36001405a1b2", "chapuser": "xen", "chappassword": "hunter2"})
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            xs_sr.main()
    output = capsys.readouterr().out
    assert "hunter2" not in output
    result = json.loads(output)
    assert result["changed"] is True and result["sr"]["device_config"] == {
        "target": "10.0.50.10", "targetIQN": "iqn.2026-01.com.example:storage", "SCSIid": "36001405a1b2",
        "chapuser": "xen"}
    [sr] = [ref for ref, record in pool.records["SR"].items() if record["name_label"] == "san"]
    configs = [pool.records["PBD"][pbd]["device_config"] for pbd in pool.records["SR"][sr]["PBDs"]]
    assert all("chappassword" not in config and "chappassword_secret" in config for config in configs)
    # SR.create got a secret reference, not the password; our own secret was dropped after the copy
    [create] = [args for _url, method, args in xapi.calls if method == "Async.SR.create"]
    assert "hunter2" not in json.dumps(create)
    assert sorted(secret["value"] for secret in pool.records["secret"].values()) == ["hunter2"] * len(configs)


def test_local_sr_cannot_be_default_of_a_pool(xapi, pool, run_module):
    outcome, result = run_module(xs_sr.main, dict(ARGS, name_label="Local storage", host="xs2", default=True))
    assert outcome == "fail"
    assert "is local to one host and cannot be the default SR of a pool of 3 hosts" in result["msg"]


def test_local_sr_on_one_host(xapi, pool, run_module):
    args = dict(ARGS, name_label="scratch", type="ext", host="xs2", device_config={"device": "/dev/sdb"})
    outcome, result = run_module(xs_sr.main, args)
    assert outcome == "exit" and result["changed"] is True, result
    assert result["sr"]["shared"] is False and result["sr"]["hosts"] == [dict(host="xs2", attached=True)]
    [create] = [call_args for _url, method, call_args in xapi.calls if method == "Async.SR.create"]
    assert create[0] == "OpaqueRef:host-xs2" and create[7] is False
    outcome, result = run_module(xs_sr.main, args)
    assert outcome == "exit" and result["changed"] is False


def test_rename_and_describe_by_uuid(xapi, pool, run_module):
    storage_ips(pool)
    sr = pool.shared_nfs_sr()
    uuid = pool.records["SR"][sr]["uuid"]
    outcome, result = run_module(xs_sr.main, dict(ARGS, uuid=uuid, name_label="vhd", name_description="tutorial"))
    assert outcome == "exit" and result["changed"] is True
    assert (pool.records["SR"][sr]["name_label"], pool.records["SR"][sr]["name_description"]) == ("vhd", "tutorial")
    outcome, result = run_module(xs_sr.main, dict(ARGS, uuid=uuid, name_label="vhd", name_description="tutorial"))
    assert result["changed"] is False
