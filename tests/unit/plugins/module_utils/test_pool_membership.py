# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import xmlrpc.client

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _pool_membership as membership
from ansible_collections.xenserver.pools.plugins.module_utils._client import XapiClient
from ansible_collections.xenserver.pools.plugins.module_utils._common import sr_name
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError, XapiError
from ansible_collections.xenserver.pools.tests.unit.plugins.pool_records import (
    NULL,
    SERVER_EPOCH,
    SERVER_TIME,
    FakePoolXapi,
    add_vm,
    pool_of,
    standalone,
)


def three_hosts():
    return pool_of(standalone("xs1", 1), standalone("xs2", 2), standalone("xs3", 3))


# --- addresses and lookups ----------------------------------------------------------------------

@pytest.mark.parametrize("text, bare", [
    ("https://192.0.2.2:8443/", "192.0.2.2"), ("xs2.example.com:443", "xs2.example.com"), ("xs2", "xs2"),
    ("[2001:db8::2]", "2001:db8::2"), ("2001:db8::2", "2001:db8::2"), ("https://[2001:db8::2]:443/", "2001:db8::2"),
])
def test_bare_address(text, bare):
    assert membership.bare_address(text) == bare


def test_same_address_compares_literally_then_by_resolving():
    assert membership.same_address("https://192.0.2.1:443/", "192.0.2.1")
    assert membership.same_address("localhost", "127.0.0.1")
    assert not membership.same_address("192.0.2.1", "192.0.2.2")
    assert not membership.same_address("", "192.0.2.2")
    assert not membership.same_address("no-such-host.invalid", "192.0.2.2")


def test_match_hosts_tries_uuid_name_hostname_then_address():
    records = three_hosts()
    records["host"]["OpaqueRef:host-xs3"]["hostname"] = "XS3.example.com"
    assert membership.match_hosts(records, " host-uuid-xs2 ") == ("uuid", ["OpaqueRef:host-xs2"])
    assert membership.match_hosts(records, "xs2") == ("name_label", ["OpaqueRef:host-xs2"])
    assert membership.match_hosts(records, "xs3.example.com") == ("hostname", ["OpaqueRef:host-xs3"])
    assert membership.match_hosts(records, "https://192.0.2.1:8443/") == ("address", ["OpaqueRef:host-xs1"])
    assert membership.match_hosts(records, "xs2", by_name=False) == ("hostname", ["OpaqueRef:host-xs2"])
    assert membership.match_hosts(records, "no-such-host.invalid") == ("", [])
    assert membership.match_hosts(records, "  ") == ("", [])


def test_find_host_by_uuid_address_hostname_and_name():
    records = three_hosts()
    assert membership.find_host(records, "host-uuid-xs2") == "OpaqueRef:host-xs2"
    assert membership.find_host(records, "https://192.0.2.3:8443/") == "OpaqueRef:host-xs3"
    assert membership.find_host(records, "xs1") == "OpaqueRef:host-xs1"
    assert membership.find_host(records, "xs4") is None
    records["host"]["OpaqueRef:host-xs3"].update(name_label="twin", hostname="h3")
    records["host"]["OpaqueRef:host-xs2"].update(name_label="twin", hostname="h2")
    assert membership.find_host(records, "twin", by_name=False) is None
    with pytest.raises(InvalidParameterError, match="2 hosts of the pool are named 'twin'"):
        membership.find_host(records, "twin")


# --- clocks -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    SERVER_TIME, xmlrpc.client.DateTime(SERVER_TIME), "20260101T12:00:00", "2026-01-01T12:00:00Z",
    "20260101T12:00:00.123Z", "20260101T12:00:00+00:00", "2026-01-01T12:00:00-00:00",
    datetime.datetime(2026, 1, 1, 12, 0, 0), datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc),
])
def test_parse_xapi_time(value):
    assert membership.parse_xapi_time(value) == SERVER_EPOCH


def test_clock_offset_takes_the_controller_time_halfway(xapi, monkeypatch):
    endpoint = xapi.add_endpoint("https://192.0.2.1/")
    FakePoolXapi(xapi, endpoint, standalone("xs1", 1))
    times = iter([SERVER_EPOCH - 101.0, SERVER_EPOCH - 99.0])
    monkeypatch.setattr(membership, "_now", lambda: next(times))
    with XapiClient("192.0.2.1", "root", "secret") as client:
        assert membership.clock_offset(client, "OpaqueRef:host-xs1") == (100.0, None)


def test_clock_offset_unknown(xapi):
    endpoint = xapi.add_endpoint("https://192.0.2.1/")
    endpoint.records = standalone("xs1", 1)
    with XapiClient("192.0.2.1", "root", "secret") as client:
        offset, error = membership.clock_offset(client, "OpaqueRef:host-xs1")
        assert offset is None and "MESSAGE_METHOD_UNKNOWN" in error
        endpoint.handlers["host.get_servertime"] = lambda host: "yesterday"
        offset, error = membership.clock_offset(client, "OpaqueRef:host-xs1")
        assert offset is None and "'yesterday'" in error


def test_read_side_reads_each_class_once_and_the_clock(xapi, monkeypatch):
    endpoint = xapi.add_endpoint("https://192.0.2.1/")
    records = standalone("xs1", 1)
    del records["Cluster"], records["Certificate"]  # a release without these classes
    FakePoolXapi(xapi, endpoint, records)
    monkeypatch.setattr(membership, "_now", lambda: SERVER_EPOCH)
    with XapiClient("192.0.2.1", "root", "secret") as client:
        side = membership.read_side(client)
    assert side.host["name_label"] == "xs1" and side.clock_offset == 0 and side.records["Cluster"] == {}
    methods = xapi.methods()
    assert methods.count("host.get_servertime") == 1
    assert sorted(m for m in methods if m.endswith("get_all_records")) == sorted(
        "%s.get_all_records" % cls for cls in membership.CLASSES if cls != "Cluster")


def test_read_side_reads_clusters_only_with_cluster_members(xapi, monkeypatch):
    endpoint = xapi.add_endpoint("https://192.0.2.1/")
    records = standalone("xs1", 1)
    records["Cluster_host"]["OpaqueRef:ch"] = {"host": "OpaqueRef:host-xs1", "enabled": True}
    records["Cluster"]["OpaqueRef:c"] = {"pool_auto_join": True}
    FakePoolXapi(xapi, endpoint, records)
    with XapiClient("192.0.2.1", "root", "secret") as client:
        assert membership.read_side(client).records["Cluster"] == {"OpaqueRef:c": {"pool_auto_join": True}}


# --- the client does not follow HOST_IS_SLAVE when asked not to ---------------------------------

def test_login_without_following_the_master(xapi):
    xapi.add_endpoint("https://192.0.2.2/", master_address="192.0.2.1")
    xapi.add_endpoint("https://192.0.2.1/")
    client = XapiClient("192.0.2.2", "root", "secret", follow_master=False)
    with pytest.raises(XapiError) as caught:
        client.login()
    assert caught.value.code == "HOST_IS_SLAVE" and caught.value.params == ["192.0.2.1"]
    assert [url for url, _method, _args in xapi.calls] == ["https://192.0.2.2/"]


# --- after a join -------------------------------------------------------------------------------

def test_non_shared_pool_srs():
    records = standalone("xs1", 1)
    assert [option for _field, option, _ref in membership.non_shared_pool_srs(records)] == [
        "default_sr", "suspend_image_sr", "crash_dump_sr"]
    next(iter(records["SR"].values()))["shared"] = True
    assert membership.non_shared_pool_srs(records) == []


def _with_shared_sr(records, attached):
    """An NFS SR with a PBD per host; attached: {host name: bool}."""
    records["SR"]["OpaqueRef:nfs"] = {"uuid": "nfs-uuid", "name_label": "NAS", "type": "nfs", "shared": True}
    for name, plugged in attached.items():
        records["PBD"]["OpaqueRef:pbd-nfs-%s" % name] = {
            "host": "OpaqueRef:host-%s" % name, "SR": "OpaqueRef:nfs", "currently_attached": plugged,
            "device_config": {"server": "172.16.0.34", "serverpath": "/srv/vhd", "password_secret": "x"}}
    return records


def _storage_ip(records, name, ip):
    eth1 = records["PIF"]["OpaqueRef:pif-%s-eth1" % name]
    eth1.update(IP=ip, ip_configuration_mode="Static")


def test_shared_sr_report_names_a_missing_storage_network_ip():
    records = _with_shared_sr(three_hosts(), {"xs1": True, "xs2": True, "xs3": False})
    for name, ip in (("xs1", "172.16.0.35"), ("xs2", "172.16.0.36")):
        _storage_ip(records, name, ip)
    for pif in records["PIF"].values():  # one pool-wide storage network
        if pif["device"] == "eth1":
            pif["network"] = "OpaqueRef:net1-xs1"
    [entry] = membership.shared_sr_report(records, "OpaqueRef:host-xs3")
    assert entry["sr"] == "NAS" and entry["attached"] is False
    assert entry["likely_cause"].startswith("no storage-network IP yet")
    assert "172.16.0.35" in entry["likely_cause"] and "password" not in entry["likely_cause"]
    assert membership.shared_sr_report(records, "OpaqueRef:host-xs1")[0] == dict(
        sr="NAS", uuid="nfs-uuid", type="nfs", attached=True, likely_cause=None)


def test_shared_sr_report_when_no_host_reaches_the_storage():
    records = _with_shared_sr(three_hosts(), {"xs1": False, "xs2": False, "xs3": False})
    cause = membership.shared_sr_report(records, "OpaqueRef:host-xs3")[0]["likely_cause"]
    assert cause.startswith("no host of the pool has this SR attached")
    assert "server=172.16.0.34 serverpath=/srv/vhd" in cause


def test_shared_sr_report_when_other_hosts_reach_it_over_management():
    records = _with_shared_sr(three_hosts(), {"xs1": True, "xs2": True, "xs3": False})
    cause = membership.shared_sr_report(records, "OpaqueRef:host-xs3")[0]["likely_cause"]
    assert "cannot reach server=172.16.0.34" in cause and "eth0 192.0.2.3" in cause


def test_shared_sr_report_without_a_pbd():
    records = _with_shared_sr(three_hosts(), {"xs1": True})
    assert "has no PBD" in membership.shared_sr_report(records, "OpaqueRef:host-xs2")[0]["likely_cause"]


# --- before an eject ----------------------------------------------------------------------------

def _checks(records, host="OpaqueRef:host-xs2", **kwargs):
    return dict((item["name"], item) for item in membership.eject_checks(records, host, **kwargs))


def test_eject_checks_pass_for_an_empty_member():
    checks = _checks(three_hosts())
    assert all(item["passed"] for item in checks.values())
    assert sorted(checks) == ["ha_disabled", "host_live", "no_local_data", "no_resident_vms", "not_master"]


def test_eject_refuses_the_master_without_a_successor():
    records = three_hosts()
    refused = _checks(records, "OpaqueRef:host-xs1")["not_master"]
    assert not refused["passed"] and refused["blocking"] and "designate_new_master" in refused["detail"]
    with_successor = _checks(records, "OpaqueRef:host-xs1", successor_ref="OpaqueRef:host-xs2")
    assert with_successor["not_master"]["blocking"] is False and with_successor["successor_ready"]["passed"]
    records["host_metrics"]["OpaqueRef:metrics-xs2"]["live"] = False
    refused = _checks(records, "OpaqueRef:host-xs1", successor_ref="OpaqueRef:host-xs2")["successor_ready"]
    assert not refused["passed"] and "offline" in refused["detail"]
    itself = _checks(records, "OpaqueRef:host-xs1", successor_ref="OpaqueRef:host-xs1")["successor_ready"]
    assert not itself["passed"]


def test_eject_refuses_resident_vms_unless_evacuating():
    records = three_hosts()
    add_vm(records, "OpaqueRef:host-xs2", "web", "Running")
    add_vm(records, "OpaqueRef:host-xs2", "batch", "Suspended")
    add_vm(records, "OpaqueRef:host-xs2", "off", "Halted")
    refused = _checks(records)["no_resident_vms"]
    assert refused["blocking"] and "batch (Suspended), web (Running)" in refused["detail"]
    assert "evacuate: true" in refused["detail"]
    allowed = _checks(records, evacuate=True)
    assert not allowed["no_resident_vms"]["passed"] and not allowed["no_resident_vms"]["blocking"]
    assert allowed["evacuation_possible"]["passed"]
    blocked = _checks(records, evacuate=True, evacuation_blockers={"OpaqueRef:vm-web": ["VM_REQUIRES_SR", "vm", "sr"]})
    assert blocked["evacuation_possible"]["blocking"] and "web: VM_REQUIRES_SR" in blocked["evacuation_possible"]["detail"]


def test_eject_refuses_local_data_and_lists_disks_and_vms():
    records = three_hosts()
    local = "OpaqueRef:sr-local-xs2"
    add_vm(records, "OpaqueRef:host-xs2", "db", "Halted", disk_sr=local, size_gib=40)
    records["VDI"]["OpaqueRef:spare"] = {"uuid": "spare", "name_label": "spare", "SR": local, "virtual_size": 0}
    refused = _checks(records)["no_local_data"]
    assert refused["blocking"]
    assert "Local storage: 'db disk 0' (40.0 GiB, VM db)" in refused["detail"]
    assert "'spare' (0.0 GiB, no VM)" in refused["detail"] and "allow_local_data_loss: true" in refused["detail"]
    allowed = _checks(records, allow_local_data_loss=True)["no_local_data"]
    assert not allowed["passed"] and not allowed["blocking"]
    assert [entry["vdi"] for entry in membership.local_vdis(records, "OpaqueRef:host-xs2")] == ["db disk 0", "spare"]


def test_local_data_ignores_shared_and_device_srs_and_counts_suspend_images():
    records = three_hosts()
    records["SR"]["OpaqueRef:udev"] = {"name_label": "DVD drives", "type": "udev", "shared": False}
    records["PBD"]["OpaqueRef:pbd-udev"] = {"host": "OpaqueRef:host-xs2", "SR": "OpaqueRef:udev"}
    records["VDI"]["OpaqueRef:cd"] = {"name_label": "cd", "SR": "OpaqueRef:udev", "virtual_size": 1}
    _with_shared_sr(records, {"xs2": True})
    records["VDI"]["OpaqueRef:shared-disk"] = {"name_label": "on nfs", "SR": "OpaqueRef:nfs", "virtual_size": 1}
    assert membership.local_vdis(records, "OpaqueRef:host-xs2") == []
    vm = add_vm(records, "OpaqueRef:host-xs2", "sleepy", "Suspended")
    records["VDI"]["OpaqueRef:img"] = {"name_label": "suspend image", "SR": "OpaqueRef:sr-local-xs2", "virtual_size": 1}
    records["VM"][vm]["suspend_VDI"] = "OpaqueRef:img"
    assert membership.local_vdis(records, "OpaqueRef:host-xs2")[0]["vms"] == ["sleepy (suspend image)"]


def test_eject_refuses_with_ha_or_offline():
    records = three_hosts()
    next(iter(records["pool"].values()))["ha_enabled"] = True
    records["host_metrics"]["OpaqueRef:metrics-xs2"]["live"] = False
    checks = _checks(records)
    assert not checks["ha_disabled"]["passed"] and not checks["host_live"]["passed"]


def test_facts():
    records = three_hosts()
    records["SR"]["OpaqueRef:nfs"] = {"uuid": "nfs-uuid", "name_label": "NAS", "shared": True}
    records["VDI"]["OpaqueRef:statefile"] = {"uuid": "sf", "SR": "OpaqueRef:nfs"}
    pool = next(iter(records["pool"].values()))
    pool.update(name_label="lab", default_SR="OpaqueRef:nfs", ha_statefiles=["sf"], tags=["b", "a"])
    facts = membership.pool_facts(records)
    assert facts["name"] == "lab" and facts["master"] == "xs1" and facts["hosts"] == 3
    assert facts["default_sr"] == {"name": "NAS", "uuid": "nfs-uuid"} and facts["crash_dump_sr"] is None
    assert facts["ha"]["heartbeat_srs"] == ["NAS"] and facts["tags"] == ["a", "b"] and facts["ssl_legacy"] is None
    assert membership.host_facts(records, "OpaqueRef:host-xs2") == dict(
        name="xs2", uuid="host-uuid-xs2", address="192.0.2.2", is_master=False, live=True, enabled=True,
        interfaces=["eth0", "eth1"])
    assert sr_name(records["SR"], NULL) is None


def test_member_is_up_and_all_hosts_live():
    records = three_hosts()
    state = {"host": records["host"], "host_metrics": records["host_metrics"]}
    assert membership.member_is_up("host-uuid-xs2")(state)
    assert not membership.member_is_up("host-uuid-xs9")(state)
    records["host"]["OpaqueRef:host-xs2"]["enabled"] = False
    assert not membership.member_is_up("host-uuid-xs2")(state)
    assert membership.all_hosts_live(state)
    records["host_metrics"]["OpaqueRef:metrics-xs3"]["live"] = False
    assert not membership.all_hosts_live(state)


def test_designate_new_master_waits_until_logins_follow(xapi):
    """Both toolstacks restart after the commit, the old master last: the wait lasts until XAPI's events show
    the new master, every host live and both restarts; then a login at the old master is sent to the new one.
    Events, not probing: nothing sleeps."""
    records = three_hosts()
    for host in records["host"].values():
        host["other_config"]["agent_start_time"] = "100."
    old = xapi.add_endpoint("https://192.0.2.1/")
    pool_xapi = FakePoolXapi(xapi, old, records)
    new = xapi.add_endpoint("https://192.0.2.2/")
    FakePoolXapi(xapi, new, records)
    pool = next(iter(records["pool"].values()))
    restarts = ["OpaqueRef:host-xs2", "OpaqueRef:host-xs1"]  # one per event.from after the commit
    event_from = pool_xapi.event_from

    def designate(host):
        pool["master"] = host
        return ""

    def events(classes, token, timeout):
        if pool["master"] == "OpaqueRef:host-xs2" and restarts and token:
            records["host"][restarts.pop(0)]["other_config"]["agent_start_time"] = "200."
        if not restarts:
            old.master_address = "192.0.2.2"
        return event_from(classes, token, timeout)
    old.handlers["pool.designate_new_master"] = designate
    old.handlers["event.from"] = new.handlers["event.from"] = events
    with XapiClient("192.0.2.1", "root", "secret") as client:
        membership.designate_new_master(client, records, "OpaqueRef:host-xs2")
        assert client.url == "https://192.0.2.2/"
    assert restarts == [] and xapi.sleeps == []
    logins = [url for url, method, _args in xapi.calls if method.startswith("login")]
    assert logins[-2:] == ["https://192.0.2.1/", "https://192.0.2.2/"]  # sent on by the old master
    assert xapi.sessions == set()
