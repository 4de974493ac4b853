# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenserver.pools.plugins.module_utils import _client
from ansible_collections.xenserver.pools.plugins.modules import xs_pool_info

MASTER = "https://192.0.2.1/"
GIB = 1024 ** 3
NULL = "OpaqueRef:NULL"


def pool_records(host_count):
    """Records as XAPI sends them over XML-RPC: ints are strings."""
    records = {name: {} for name in xs_pool_info.CLASSES}
    records["pool"]["OpaqueRef:pool"] = {
        "uuid": "pool-uuid", "name_label": "lab", "name_description": "test pool", "master": "OpaqueRef:host1",
        "default_SR": "OpaqueRef:sr-nfs", "suspend_image_SR": NULL, "crash_dump_SR": "OpaqueRef:sr-local1",
        "ha_enabled": False, "ha_host_failures_to_tolerate": "0", "ha_cluster_stack": "xhad", "tags": ["prod"],
    }
    records["network"]["OpaqueRef:net-mgmt"] = {"uuid": "net-mgmt-uuid", "name_label": "Pool-wide network",
                                                "name_description": "", "bridge": "xenbr0", "MTU": "1500"}
    records["network"]["OpaqueRef:net-storage"] = {"uuid": "net-st-uuid", "name_label": "storage",
                                                   "name_description": "NFS", "bridge": "xapi1", "MTU": "9000"}
    records["network"]["OpaqueRef:net-vlan"] = {"uuid": "net-vlan-uuid", "name_label": "vlan 20",
                                                "name_description": "", "bridge": "xapi2", "MTU": "1500"}
    records["pool_update"]["OpaqueRef:upd1"] = {"uuid": "upd1-uuid", "name_label": "XS84E001", "version": "1.0"}
    records["SR"]["OpaqueRef:sr-nfs"] = {"uuid": "sr-nfs-uuid", "name_label": "shared-nfs", "type": "nfs",
                                         "content_type": "user", "shared": True, "physical_size": "1099511627776",
                                         "physical_utilisation": "1073741824", "PBDs": []}
    for number in range(1, host_count + 1):
        host = "OpaqueRef:host%d" % number
        name = "xs%d" % number
        metrics = "OpaqueRef:metrics%d" % number
        records["host"][host] = {
            "uuid": "%s-uuid" % name, "name_label": name, "hostname": name, "address": "192.0.2.%d" % number,
            "enabled": number != 3, "metrics": metrics, "memory_overhead": str(GIB // 4),
            "software_version": {"product_brand": "XenServer", "product_version": "8.4.0", "build_number": "77"},
            "updates": ["OpaqueRef:upd1"] if number == 1 else [], "edition": "xenserver-premium",
            "updates_requiring_reboot": ["OpaqueRef:upd1"] if number == 1 else [],
            "cpu_info": {"vendor": "GenuineIntel", "modelname": "Xeon Gold", "cpu_count": "16", "socket_count": "2"},
            "power_on_mode": "IPMI" if number == 2 else "",
            "power_on_config": ({"power_on_ip": "10.0.0.2", "power_on_user": "admin",
                                 "power_on_password_secret": "secret-uuid"} if number == 2 else {}),
            "other_config": ({"MAINTENANCE_MODE": "true", "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "vm-a",
                              "agent_start_time": "1"} if number == 3
                             else {"agent_start_time": "1795240087."} if number == 1 else {}),
        }
        records["host_metrics"][metrics] = {"uuid": "m%d" % number, "memory_total": str(64 * GIB),
                                            "live": number != 3}
        # eth0: management; eth1 + eth2: bond0 on the storage network with a purpose; VLAN 20 on eth0
        pifs = {
            "eth0": {"network": "OpaqueRef:net-mgmt", "management": True, "ip_configuration_mode": "Static",
                     "IP": "192.0.2.%d" % number, "VLAN": "-1", "physical": True, "other_config": {}},
            "eth1": {"network": "OpaqueRef:net-storage", "bond_slave_of": "OpaqueRef:bond%d" % number,
                     "VLAN": "-1", "physical": True},
            "eth2": {"network": "OpaqueRef:net-storage", "bond_slave_of": "OpaqueRef:bond%d" % number,
                     "VLAN": "-1", "physical": True},
            "bond0": {"network": "OpaqueRef:net-storage", "ip_configuration_mode": "Static",
                      "IP": "198.51.100.%d" % number, "VLAN": "-1", "physical": False,
                      "other_config": {"management_purpose": "storage"}},
            "eth0.20": {"network": "OpaqueRef:net-vlan", "VLAN": "20", "physical": False, "device": "eth0"},
        }
        for key, fields in pifs.items():
            record = {"uuid": "pif-%s-%s" % (name, key), "host": host, "device": key, "MAC": "aa:bb:cc:00:00:%02d" % number,
                      "MTU": "1500", "currently_attached": True, "management": False, "ip_configuration_mode": "None",
                      "IP": "", "netmask": "", "gateway": "", "bond_slave_of": NULL, "other_config": {},
                      "disallow_unplug": key == "bond0"}
            record.update(fields)
            records["PIF"]["OpaqueRef:pif-%s-%s" % (name, key)] = record
        records["Bond"]["OpaqueRef:bond%d" % number] = {
            "uuid": "bond-%s" % name, "master": "OpaqueRef:pif-%s-bond0" % name, "mode": "active-backup",
            "slaves": ["OpaqueRef:pif-%s-eth2" % name, "OpaqueRef:pif-%s-eth1" % name], "links_up": "2"}
        # the shared SR is plugged everywhere except on the host in maintenance
        pbd = "OpaqueRef:pbd-nfs-%s" % name
        records["PBD"][pbd] = {"uuid": pbd, "host": host, "SR": "OpaqueRef:sr-nfs", "currently_attached": number != 3}
        records["SR"]["OpaqueRef:sr-nfs"]["PBDs"].append(pbd)
        local_sr, local_pbd = "OpaqueRef:sr-local%d" % number, "OpaqueRef:pbd-local-%s" % name
        records["SR"][local_sr] = {"uuid": "sr-local-%s" % name, "name_label": "Local storage on %s" % name,
                                   "type": "ext", "content_type": "user", "shared": False,
                                   "physical_size": str(500 * GIB), "physical_utilisation": "0", "PBDs": [local_pbd]}
        records["PBD"][local_pbd] = {"uuid": local_pbd, "host": host, "SR": local_sr, "currently_attached": True}
        # control domain (4 GiB) on every host, plus guests
        records["VM"]["OpaqueRef:dom0-%s" % name] = {
            "name_label": "Control domain on host: %s" % name, "is_control_domain": True, "is_a_template": False,
            "is_a_snapshot": False, "power_state": "Running", "resident_on": host, "memory_target": str(4 * GIB),
            "memory_dynamic_max": str(4 * GIB), "memory_overhead": "0"}
    guests = [("web1", "Running", "OpaqueRef:host1", 8), ("web2", "Running", "OpaqueRef:host1", 4),
              ("db1", "Paused", "OpaqueRef:host2", 16), ("old", "Halted", NULL, 2), ("sus", "Suspended", NULL, 2)]
    for name, state, host, gib in guests:
        records["VM"]["OpaqueRef:%s" % name] = {
            "name_label": name, "is_control_domain": False, "is_a_template": False, "is_a_snapshot": False,
            "power_state": state, "resident_on": host, "memory_target": str(gib * GIB) if state != "Paused" else "0",
            "memory_dynamic_max": str(gib * GIB), "memory_overhead": str(GIB // 32)}
    records["VM"]["OpaqueRef:template"] = {"name_label": "Debian", "is_a_template": True, "power_state": "Halted",
                                           "resident_on": NULL, "is_control_domain": False}
    records["VM"]["OpaqueRef:snap"] = {"name_label": "web1 snap", "is_a_template": False, "is_a_snapshot": True,
                                       "power_state": "Halted", "resident_on": NULL, "is_control_domain": False}
    return records


def serve_pool(xapi, host_count=3, url=MASTER):
    endpoint = xapi.add_endpoint(url)
    endpoint.records = pool_records(host_count)
    return endpoint


ARGS = {"hostname": "192.0.2.1", "password": "secret"}


def test_pool_facts(xapi, run_module):
    serve_pool(xapi)
    outcome, result = run_module(xs_pool_info.main, ARGS)
    assert outcome == "exit", result
    assert result["changed"] is False
    assert result["api_url"] == MASTER
    assert result["pool"] == {
        "uuid": "pool-uuid", "name": "lab", "description": "test pool", "master": "xs1", "master_uuid": "xs1-uuid",
        "master_address": "192.0.2.1", "default_sr": {"name": "shared-nfs", "uuid": "sr-nfs-uuid"},
        "suspend_image_sr": None, "crash_dump_sr": {"name": "Local storage on xs1", "uuid": "sr-local-xs1"},
        "ha": {"enabled": False, "host_failures_to_tolerate": 0, "cluster_stack": "xhad"}, "tags": ["prod"],
    }
    assert [host["name"] for host in result["hosts"]] == ["xs1", "xs2", "xs3"]
    xs1, xs2, xs3 = result["hosts"]
    assert (xs1["is_master"], xs2["is_master"]) == (True, False)
    assert xs1["updates"] == [{"name": "XS84E001", "version": "1.0", "uuid": "upd1-uuid"}]
    assert (xs1["updates_requiring_reboot"], xs2["updates_requiring_reboot"]) == (["XS84E001"], [])
    # OCaml prints whole floats with a trailing dot; a host that does not say gives null
    assert (xs1["agent_start_time"], xs2["agent_start_time"], xs3["agent_start_time"]) == (1795240087.0, None, 1.0)
    assert xs1["cpu"] == {"vendor": "GenuineIntel", "model": "Xeon Gold", "count": 16, "sockets": 2}
    assert (xs1["product_brand"], xs1["product_version"], xs1["build_number"]) == ("XenServer", "8.4.0", "77")
    assert xs1["memory_total"] == 64 * GIB
    # 64 GiB - 1/4 GiB host overhead - 4 GiB dom0 - (8 + 1/32) - (4 + 1/32) GiB guests
    assert xs1["memory_free"] == 64 * GIB - GIB // 4 - 4 * GIB - 12 * GIB - 2 * (GIB // 32)
    # a paused VM with no memory_target counts its memory_dynamic_max
    assert xs2["memory_free"] == 64 * GIB - GIB // 4 - 4 * GIB - 16 * GIB - GIB // 32
    assert (xs1["resident_vms"], xs2["resident_vms"], xs3["resident_vms"]) == (2, 1, 0)
    assert xs2["power_on_mode"] == "IPMI"
    assert xs2["power_on_config"] == {"power_on_ip": "10.0.0.2", "power_on_user": "admin"}
    assert (xs3["enabled"], xs3["live"], xs3["maintenance_mode"]) == (False, False, True)
    assert xs3["maintenance_markers"] == {"MAINTENANCE_MODE": "true",
                                          "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED": "vm-a"}
    assert xs1["maintenance_mode"] is False and xs1["maintenance_markers"] == {}


def test_interfaces_and_bonds_per_host(xapi, run_module):
    serve_pool(xapi)
    _outcome, result = run_module(xs_pool_info.main, ARGS)
    xs2 = result["hosts"][1]
    pifs = {pif["device"] + ("" if pif["vlan"] is None else ".%d" % pif["vlan"]): pif for pif in xs2["pifs"]}
    assert sorted(pifs) == ["bond0", "eth0", "eth0.20", "eth1", "eth2"]
    assert pifs["eth0"]["management"] is True and pifs["eth0"]["ip"] == "192.0.2.2"
    assert pifs["eth0"]["ip_mode"] == "Static" and pifs["eth0"]["network"] == "Pool-wide network"
    assert pifs["eth0.20"]["vlan"] == 20 and pifs["eth0.20"]["network"] == "vlan 20"
    assert pifs["bond0"]["purpose"] == "storage" and pifs["bond0"]["ip"] == "198.51.100.2"
    assert pifs["bond0"]["disallow_unplug"] is True and pifs["bond0"]["mtu"] == 1500
    assert pifs["eth1"]["bond_member_of"] == "bond0" and pifs["eth0"]["bond_member_of"] is None
    assert xs2["bonds"] == [{"device": "bond0", "uuid": "bond-xs2", "mode": "active-backup", "network": "storage",
                             "members": ["eth1", "eth2"], "links_up": 2}]


def test_networks_storage_and_vms(xapi, run_module):
    serve_pool(xapi)
    _outcome, result = run_module(xs_pool_info.main, ARGS)
    assert [net["name"] for net in result["networks"]] == ["Pool-wide network", "storage", "vlan 20"]
    assert result["networks"][1] == {"name": "storage", "uuid": "net-st-uuid", "description": "NFS",
                                     "bridge": "xapi1", "mtu": 9000}
    srs = {sr["name"]: sr for sr in result["srs"]}
    assert srs["shared-nfs"] == {
        "name": "shared-nfs", "uuid": "sr-nfs-uuid", "type": "nfs", "content_type": "user", "shared": True,
        "size": 1024 * GIB, "utilisation": GIB, "default": True,
        "pbds": [{"host": "xs1", "attached": True}, {"host": "xs2", "attached": True},
                 {"host": "xs3", "attached": False}],
    }
    assert srs["Local storage on xs2"]["default"] is False
    assert srs["Local storage on xs2"]["pbds"] == [{"host": "xs2", "attached": True}]
    assert result["vms"] == {"total": 5,
                             "by_power_state": {"Running": 2, "Paused": 1, "Halted": 1, "Suspended": 1},
                             "by_host": {"xs1": {"Running": 2}, "xs2": {"Paused": 1}}}


def test_the_result_is_plain_json(xapi, run_module):
    serve_pool(xapi)
    _outcome, result = run_module(xs_pool_info.main, ARGS)
    assert json.loads(json.dumps(result)) == result


@pytest.mark.parametrize("host_count", [1, 3, 64])
def test_call_count_does_not_grow_with_the_pool(xapi, run_module, host_count):
    serve_pool(xapi, host_count)
    outcome, result = run_module(xs_pool_info.main, ARGS)
    assert outcome == "exit" and len(result["hosts"]) == host_count
    methods = xapi.methods()
    assert methods[0] == "login_with_password" and methods[-1] == "session.logout"
    assert sorted(methods[1:-1]) == sorted("%s.get_all_records" % name for name in xs_pool_info.CLASSES)
    assert len(methods) == 12 <= 15
    assert not any(method.startswith(("Async.", "task.")) or ".set_" in method for method in methods)


def test_member_redirects_to_master(xapi, run_module):
    xapi.add_endpoint("https://192.0.2.2/", master_address="192.0.2.1")
    serve_pool(xapi)
    outcome, result = run_module(xs_pool_info.main, dict(ARGS, hostname="192.0.2.2"))
    assert outcome == "exit" and result["api_url"] == MASTER
    assert result["pool"]["master"] == "xs1" and xapi.sessions == set()


def test_host_without_pool_update_class(xapi, run_module):
    endpoint = serve_pool(xapi)
    del endpoint.records["pool_update"]
    outcome, result = run_module(xs_pool_info.main, ARGS)
    assert outcome == "exit" and result["hosts"][0]["updates"] == [{"name": "", "version": "", "uuid": ""}]
    assert result["hosts"][0]["updates_requiring_reboot"] == ["OpaqueRef:upd1"]


def test_credentials_from_the_environment(xapi, run_module, monkeypatch):
    serve_pool(xapi, url="https://192.0.2.1:8443/")
    monkeypatch.setenv("XENSERVER_HOST", "192.0.2.1:8443")
    monkeypatch.setenv("XENSERVER_USER", "root")
    monkeypatch.setenv("XENSERVER_PASSWORD", "secret")
    monkeypatch.setenv("XENSERVER_VALIDATE_CERTS", "false")
    monkeypatch.setenv("XENSERVER_TIMEOUT", "33")
    outcome, result = run_module(xs_pool_info.main, {})
    assert outcome == "exit", result
    assert result["api_url"] == "https://192.0.2.1:8443/"
    login = xapi.calls[0][2]
    assert login[:2] == ("root", "secret")


def test_failure_logs_out_and_is_one_sentence(xapi, run_module):
    endpoint = serve_pool(xapi)
    endpoint.raise_next["SR.get_all_records"] = [xapi.module.Failure(["INTERNAL_ERROR", "db locked"])]
    outcome, result = run_module(xs_pool_info.main, ARGS)
    assert outcome == "fail"
    assert result["msg"] == ("Reading all SR records from https://192.0.2.1/ failed: XAPI returned INTERNAL_ERROR "
                             "['db locked']: XAPI hit an internal error: db locked; look at "
                             "/var/log/xensource.log on the pool master.")
    assert xapi.sessions == set() and xapi.methods()[-1] == "session.logout"


def test_wrong_password(xapi, run_module):
    serve_pool(xapi)
    outcome, result = run_module(xs_pool_info.main, dict(ARGS, password="hunter2"))
    assert outcome == "fail"
    assert "wrong user name or password" in result["msg"]
    assert "hunter2" not in json.dumps(result, default=str)


@pytest.mark.parametrize("args, message", [
    (dict(ARGS, hostname="ftp://xs1"), "scheme must be https:// or http://"),
    (dict(ARGS, timeout=0), "timeout must be a positive number"),
    (dict(ARGS, ca_path="/nonexistent/ca.pem"), "ca_path /nonexistent/ca.pem cannot be used as a CA bundle"),
])
def test_bad_input_is_one_clear_line(xapi, run_module, args, message):
    outcome, result = run_module(xs_pool_info.main, args)
    assert outcome == "fail" and message in result["msg"] and "\n" not in result["msg"]
    assert xapi.calls == []


def test_missing_xenapi(xapi, run_module, monkeypatch):
    monkeypatch.setattr(_client, "XenAPI", None)
    outcome, result = run_module(xs_pool_info.main, ARGS)
    assert outcome == "fail"
    assert "Failed to import the required Python library (XenAPI)" in result["msg"]


def test_real_fail_json_output(xapi, capsys):
    """Without patched exit/fail: what Ansible actually receives on a failure."""
    serve_pool(xapi)
    with patch_module_args(dict(ARGS, password="hunter2")):
        with pytest.raises(SystemExit) as exited:
            xs_pool_info.main()
    assert exited.value.code == 1
    output = json.loads(capsys.readouterr().out)
    assert output["failed"] is True
    assert output["msg"].startswith("Login to https://192.0.2.1/ as 'root' failed")
    assert "hunter2" not in json.dumps(output)
    assert xapi.sessions == set()
