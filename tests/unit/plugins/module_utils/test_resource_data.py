# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The resource report tables (module_utils/_resource_data.py) and xs_pool_info's resource_data option."""

from __future__ import annotations

import json
import xmlrpc.client

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _resource_data
from ansible_collections.xenserver.pools.plugins.module_utils._resource_data import resource_data
from ansible_collections.xenserver.pools.plugins.modules import xs_pool_info

GIB = 1024 ** 3
NULL = "OpaqueRef:NULL"
MASTER = "https://192.0.2.1/"


def report_records():
    """A pool of two (master xs2) with a bond, a VLAN, a private network, NFS and local storage,
    VMs in every power state, a template, a snapshot and one GPU. Ints as XAPI sends them (strings)."""
    records = {name: {} for name in xs_pool_info.CLASSES + _resource_data.RESOURCE_CLASSES}
    records["pool"]["OpaqueRef:pool"] = {"uuid": "pool-uuid", "name_label": "lab", "master": "OpaqueRef:h2"}
    for number in (1, 2):
        host = "OpaqueRef:h%d" % number
        records["host"][host] = {
            "uuid": "h%d-uuid" % number, "name_label": "xs%d" % number, "address": "192.0.2.%d" % number,
            "metrics": "OpaqueRef:hm%d" % number, "memory_overhead": str(GIB // 4),
            "cpu_info": {"cpu_count": "16"}, "name_description": "rack %d" % number,
            "other_config": {"boot_time": "1767600000.5"} if number == 1 else {}}
        records["host_metrics"]["OpaqueRef:hm%d" % number] = {"memory_total": str(64 * GIB), "live": True}
        records["VM"]["OpaqueRef:dom0-%d" % number] = {
            "uuid": "dom0-%d" % number, "name_label": "Control domain", "is_control_domain": True,
            "power_state": "Running", "resident_on": host, "memory_target": str(4 * GIB)}
        # eth0 (management, link up on xs1 only), eth1 + eth2 in bond0, VLAN 20 on eth0
        for device, fields in (("eth0", {"network": "OpaqueRef:net-mgmt", "physical": True}),
                               ("eth1", {"network": "OpaqueRef:net-bond-members", "physical": True}),
                               ("eth2", {"network": "OpaqueRef:net-bond-members", "physical": True}),
                               ("bond0", {"network": "OpaqueRef:net-bond", "physical": False,
                                          "bond_master_of": ["OpaqueRef:bond%d" % number]}),
                               ("eth0", {"network": "OpaqueRef:net-vlan", "physical": False, "VLAN": "20"})):
            ref = "OpaqueRef:pif-%d-%s-%s" % (number, device, fields.get("VLAN", ""))
            carrier = device != "eth0" or number == 1
            records["PIF"][ref] = dict({"uuid": ref, "host": host, "device": device, "VLAN": "-1",
                                        "MAC": "aa:00:00:00:%02d:%s" % (number, device[-1]),
                                        "metrics": "OpaqueRef:pm-%s" % ref, "bond_master_of": []}, **fields)
            records["PIF_metrics"]["OpaqueRef:pm-%s" % ref] = {"carrier": carrier}
        records["Bond"]["OpaqueRef:bond%d" % number] = {
            "uuid": "bond%d" % number, "master": "OpaqueRef:pif-%d-bond0-" % number,
            "slaves": ["OpaqueRef:pif-%d-eth1-" % number, "OpaqueRef:pif-%d-eth2-" % number]}
        local, pbd = "OpaqueRef:local%d" % number, "OpaqueRef:pbd-local%d" % number
        records["SR"][local] = {"uuid": "local%d" % number, "name_label": "Local storage", "type": "ext",
                                "content_type": "user", "shared": False, "physical_size": str(500 * GIB),
                                "physical_utilisation": str(10 * GIB), "PBDs": [pbd]}
        records["PBD"][pbd] = {"host": host, "SR": local, "device_config": {"device": "/dev/sda3"}}
        nfs_pbd = "OpaqueRef:pbd-nfs%d" % number
        records["PBD"][nfs_pbd] = {"host": host, "SR": "OpaqueRef:nfs", "device_config": {
            "server": "192.0.2.50", "serverpath": "/srv/vhd", "nfsversion": "4"}}
        records["PBD"]["OpaqueRef:pbd-iscsi%d" % number] = {"host": host, "SR": "OpaqueRef:iscsi", "device_config": {
            "target": "192.0.2.60", "targetIQN": "iqn.2026-01.lab:disk", "SCSIid": "360014",
            "chapuser": "admin", "chappassword": "chap-secret", "chappassword_secret": "secret-uuid"}}
    records["network"]["OpaqueRef:net-mgmt"] = {"uuid": "net-mgmt", "name_label": "Management", "MTU": "1500"}
    records["network"]["OpaqueRef:net-bond-members"] = {"uuid": "net-bm", "name_label": "Bond members", "MTU": "1500"}
    records["network"]["OpaqueRef:net-bond"] = {"uuid": "net-bond", "name_label": "Storage bond", "MTU": "9000"}
    records["network"]["OpaqueRef:net-vlan"] = {"uuid": "net-vlan", "name_label": "VLAN 20", "MTU": "1500"}
    records["network"]["OpaqueRef:net-private"] = {"uuid": "net-priv", "name_label": "Private", "MTU": "1500"}
    records["network"]["OpaqueRef:net-himn"] = {
        "uuid": "net-himn", "name_label": "Host internal management network",
        "other_config": {"is_host_internal_management_network": "true"}}
    records["SR"]["OpaqueRef:nfs"] = {"uuid": "nfs", "name_label": "shared-nfs", "type": "nfs", "content_type": "user",
                                      "shared": True, "physical_size": str(2048 * GIB),
                                      "physical_utilisation": str(100 * GIB), "virtual_allocation": str(400 * GIB),
                                      "PBDs": ["OpaqueRef:pbd-nfs1", "OpaqueRef:pbd-nfs2"], "name_description": "NFS"}
    records["SR"]["OpaqueRef:iscsi"] = {"uuid": "iscsi", "name_label": "shared-iscsi", "type": "lvmoiscsi",
                                        "shared": True, "PBDs": ["OpaqueRef:pbd-iscsi1", "OpaqueRef:pbd-iscsi2"]}
    records["SR"]["OpaqueRef:iso"] = {"uuid": "iso", "name_label": "ISOs", "type": "iso", "content_type": "iso",
                                      "shared": True, "PBDs": []}
    records["VDI"]["OpaqueRef:web-root"] = {"uuid": "vdi-web-root", "name_label": "web root", "type": "user",
                                            "virtual_size": str(20 * GIB), "SR": "OpaqueRef:nfs",
                                            "name_description": "boot disk"}
    records["VDI"]["OpaqueRef:web-data"] = {"uuid": "vdi-web-data", "name_label": "web data", "type": "user",
                                            "virtual_size": str(100 * GIB), "SR": "OpaqueRef:iscsi"}
    records["VDI"]["OpaqueRef:debian-iso"] = {"uuid": "vdi-iso", "name_label": "debian.iso", "type": "user",
                                              "virtual_size": str(GIB), "SR": "OpaqueRef:iso"}
    records["VBD"]["OpaqueRef:vbd-root"] = {"VDI": "OpaqueRef:web-root", "type": "Disk", "userdevice": "0"}
    records["VBD"]["OpaqueRef:vbd-data"] = {"VDI": "OpaqueRef:web-data", "type": "Disk", "userdevice": "1"}
    records["VBD"]["OpaqueRef:vbd-cd"] = {"VDI": "OpaqueRef:debian-iso", "type": "CD", "userdevice": "3"}
    records["VIF"]["OpaqueRef:vif1"] = {"device": "1", "MAC": "96:00:00:00:00:02"}
    records["VIF"]["OpaqueRef:vif0"] = {"device": "0", "MAC": "96:00:00:00:00:01"}
    records["VM_metrics"]["OpaqueRef:vm-web-metrics"] = {
        "memory_actual": str(4 * GIB), "VCPUs_number": "2",
        "start_time": xmlrpc.client.DateTime("20260105T08:05:00Z")}
    records["VM_metrics"]["OpaqueRef:vm-old-metrics"] = {"memory_actual": "0", "VCPUs_number": "0",
                                                         "start_time": xmlrpc.client.DateTime("19700101T00:00:00Z")}
    records["VM_guest_metrics"]["OpaqueRef:vm-web-guest"] = {
        "os_version": {"name": "Debian GNU/Linux 12|/dev/xvda1", "distro": "debian"},
        "networks": {"1/ip": "198.51.100.7", "0/ipv6/0": "fe80::1", "0/ip": "192.0.2.101", "0/ipv4/0": "192.0.2.101"}}
    records["VM"]["OpaqueRef:web"] = {
        "uuid": "vm-web", "name_label": "web", "power_state": "Running", "resident_on": "OpaqueRef:h1",
        "metrics": "OpaqueRef:vm-web-metrics", "guest_metrics": "OpaqueRef:vm-web-guest",
        "VIFs": ["OpaqueRef:vif1", "OpaqueRef:vif0"],
        "VBDs": ["OpaqueRef:vbd-cd", "OpaqueRef:vbd-data", "OpaqueRef:vbd-root"],
        "memory_target": str(4 * GIB), "memory_overhead": str(GIB // 32), "VCPUs_at_startup": "2",
        "other_config": {"base_template_name": "Debian Bookworm 12"}, "name_description": "front end"}
    records["VM"]["OpaqueRef:old"] = {
        "uuid": "vm-old", "name_label": "old", "power_state": "Halted", "resident_on": NULL,
        "metrics": "OpaqueRef:vm-old-metrics", "guest_metrics": NULL, "VIFs": [], "VBDs": [],
        "VCPUs_at_startup": "1"}
    records["VM"]["OpaqueRef:sus"] = {"uuid": "vm-sus", "name_label": "sus", "power_state": "Suspended",
                                      "resident_on": NULL, "affinity": "OpaqueRef:h2", "VCPUs_at_startup": "4"}
    records["VM"]["OpaqueRef:tmpl"] = {"uuid": "tmpl", "name_label": "Debian", "is_a_template": True}
    records["VM"]["OpaqueRef:snap"] = {"uuid": "snap", "name_label": "web snap", "is_a_snapshot": True}
    records["PCI"]["OpaqueRef:pci-gpu"] = {"device_name": "GV100GL [Tesla V100]", "pci_id": "0000:3b:00.0"}
    records["PGPU"]["OpaqueRef:pgpu"] = {"uuid": "pgpu-uuid", "PCI": "OpaqueRef:pci-gpu", "host": "OpaqueRef:h1"}
    return records


def converted(records):
    """What the client hands over: int fields converted."""
    from ansible_collections.xenserver.pools.plugins.module_utils._client import convert_record
    return {cls: {ref: convert_record(cls, dict(record)) for ref, record in objects.items()}
            for cls, objects in records.items()}


@pytest.fixture
def tables():
    return resource_data(converted(report_records()))


def by_name(rows):
    return {row["name"]: row for row in rows}


def test_servers(tables):
    assert [server["name"] for server in tables["servers"]] == ["xs2", "xs1"]  # the master first
    xs1 = by_name(tables["servers"])["xs1"]
    assert xs1 == {
        "name": "xs1", "uuid": "h1-uuid", "pool_master": False, "address": "192.0.2.1", "cpu_count": 16,
        "memory_total": 64 * GIB, "memory_used": GIB // 4 + 4 * GIB + 4 * GIB + GIB // 32,
        "local_storage": [{"sr": "Local storage", "size": 500 * GIB, "utilisation": 10 * GIB}],
        "boot_time": "2026-01-05T08:00:00Z", "description": "rack 1"}
    assert by_name(tables["servers"])["xs2"]["boot_time"] == ""  # no boot_time key: unknown


def test_networks(tables):
    networks = by_name(tables["networks"])
    assert sorted(networks) == ["Bond members", "Management", "Private", "Storage bond", "VLAN 20"]  # no HIMN
    assert networks["Management"]["link_status"] == "Partially connected"  # link up on xs1 only
    assert networks["Management"]["macs"] == ["aa:00:00:00:02:0", "aa:00:00:00:01:0"]  # master first
    assert networks["Management"]["location"] == ["xs2", "xs1"]
    assert (networks["Management"]["type"], networks["Management"]["vlan"]) == ("Physical", None)
    assert networks["Storage bond"]["type"] == "Bond" and networks["Storage bond"]["link_status"] == "Connected"
    assert networks["Storage bond"]["mtu"] == 9000
    assert (networks["VLAN 20"]["type"], networks["VLAN 20"]["vlan"]) == ("VLAN", 20)
    assert networks["VLAN 20"]["link_status"] == "Partially connected"  # follows eth0
    assert networks["Private"] == {"name": "Private", "uuid": "net-priv", "link_status": "", "macs": [], "mtu": 1500,
                                   "vlan": None, "type": "Private", "location": ["xs2", "xs1"]}


def test_srs_never_show_secrets(tables):
    srs = by_name(tables["srs"])
    assert srs["shared-nfs"] == {
        "name": "shared-nfs", "uuid": "nfs", "type": "nfs", "shared": True, "size": 2048 * GIB,
        "utilisation": 100 * GIB, "virtual_allocation": 400 * GIB, "location": ["server:192.0.2.50:/srv/vhd"],
        "description": "NFS"}
    assert srs["shared-iscsi"]["location"] == ["SCSIid:360014", "targetIQN:iqn.2026-01.lab:disk", "target:192.0.2.60"]
    assert "chap" not in json.dumps(tables)
    assert srs["ISOs"]["size"] == -1 and srs["ISOs"]["location"] == []


def test_vdis(tables):
    assert [(vdi["sr"], vdi["name"]) for vdi in tables["vdis"]] == [
        ("ISOs", "debian.iso"), ("shared-iscsi", "web data"), ("shared-nfs", "web root")]
    assert tables["vdis"][2] == {"name": "web root", "uuid": "vdi-web-root", "type": "user", "size": 20 * GIB,
                                 "sr": "shared-nfs", "description": "boot disk"}


def test_vms(tables):
    vms = by_name(tables["vms"])
    assert sorted(vms) == ["old", "sus", "web"]  # no template, snapshot or control domain
    assert vms["web"] == {
        "name": "web", "uuid": "vm-web", "power_state": "Running", "running_on": "xs1",
        "addresses": ["192.0.2.101", "fe80::1", "198.51.100.7"], "macs": ["96:00:00:00:00:01", "96:00:00:00:00:02"],
        "nics": 2, "os": "Debian GNU/Linux 12",
        "disks": [{"name": "web root", "size": 20 * GIB, "sr": "shared-nfs"},
                  {"name": "web data", "size": 100 * GIB, "sr": "shared-iscsi"}],  # not the CD
        "memory_used": 4 * GIB, "vcpus": 2, "start_time": "2026-01-05T08:05:00Z", "template": "Debian Bookworm 12",
        "description": "front end"}
    assert (vms["old"]["running_on"], vms["old"]["memory_used"], vms["old"]["start_time"]) == ("", None, "")
    assert (vms["old"]["vcpus"], vms["old"]["os"], vms["old"]["nics"]) == (1, "", 0)
    assert vms["sus"]["running_on"] == "" and vms["sus"]["power_state"] == "Suspended"


def test_gpus(tables):
    assert tables["gpus"] == [{"name": "GV100GL [Tesla V100]", "uuid": "pgpu-uuid", "server": "xs1",
                               "pci_bus_path": "0000:3b:00.0"}]


def test_the_tables_are_plain_json(tables):
    assert json.loads(json.dumps(tables)) == tables


@pytest.mark.parametrize("value, expected", [
    (xmlrpc.client.DateTime("20260105T08:05:00Z"), "2026-01-05T08:05:00Z"),
    ("20260105T08:05:00Z", "2026-01-05T08:05:00Z"),
    ("2026-01-05T08:05:00", "2026-01-05T08:05:00Z"),
    (xmlrpc.client.DateTime("19700101T00:00:00Z"), ""),
    (None, ""), ("garbage", ""),
])
def test_iso(value, expected):
    assert _resource_data._iso(value) == expected


# --- xs_pool_info resource_data=true against the fake XenAPI ---------------------------------------------

def serve(xapi, event_from=True):
    endpoint = xapi.add_endpoint(MASTER)
    records = report_records()
    endpoint.records = {cls: records[cls] for cls in xs_pool_info.CLASSES}
    extra = {cls: records[cls] for cls in _resource_data.RESOURCE_CLASSES}
    if event_from:
        def event_from_handler(classes, token, timeout):
            assert (token, timeout) == ("", 0.0)
            return {"token": "1,0", "valid_ref_counts": {}, "events": [
                {"class": cls.lower(), "operation": "add", "ref": ref, "snapshot": dict(record)}
                for cls, objects in extra.items() if cls.lower() in classes for ref, record in objects.items()]}
        endpoint.handlers["event.from"] = event_from_handler
    else:
        endpoint.records.update(extra)
    return endpoint


def test_module_default_output_is_unchanged(xapi, run_module):
    serve(xapi)
    outcome, result = run_module(xs_pool_info.main, {"hostname": "192.0.2.1", "password": "secret"})
    assert outcome == "exit" and "resource_data" not in result
    assert "event.from" not in xapi.methods()


def test_module_resource_data_costs_one_call(xapi, run_module):
    serve(xapi)
    outcome, result = run_module(xs_pool_info.main, {"hostname": "192.0.2.1", "password": "secret",
                                                     "resource_data": True})
    assert outcome == "exit", result
    methods = xapi.methods()
    assert methods.count("event.from") == 1 and len(methods) == 13 <= 15
    assert [vm["name"] for vm in result["resource_data"]["vms"]] == ["old", "sus", "web"]
    assert result["resource_data"]["gpus"][0]["server"] == "xs1"
    assert json.loads(json.dumps(result)) == result and xapi.sessions == set()


def test_module_without_event_from_reads_each_class(xapi, run_module):
    serve(xapi, event_from=False)  # the fake answers MESSAGE_METHOD_UNKNOWN for event.from
    outcome, result = run_module(xs_pool_info.main, {"hostname": "192.0.2.1", "password": "secret",
                                                     "resource_data": True})
    assert outcome == "exit", result
    assert "VDI.get_all_records" in xapi.methods()
    assert [vdi["name"] for vdi in result["resource_data"]["vdis"]] == ["debian.iso", "web data", "web root"]
