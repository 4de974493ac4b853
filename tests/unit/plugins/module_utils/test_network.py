# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.plugins.module_utils._network import (
    desired_ip,
    find_host,
    find_pif,
    host_ip_list,
    ip_differs,
    ip_owner,
    ip_settings,
    ips_in,
    parse_netmask,
    pif_summary,
)

from ansible_collections.xenserver.pools.tests.unit.plugins.fake_storage_pool import FakePool


@pytest.fixture
def records(xapi):
    return FakePool(xapi).records


@pytest.mark.parametrize("kwargs, expected", [
    (dict(ip="172.16.0.33/28"),
     dict(mode="Static", IP="172.16.0.33", netmask="255.255.255.240", gateway=None, DNS=None)),
    (dict(mode="static", ip="172.16.0.33", netmask="28", gateway="172.16.0.46", dns=["8.8.8.8", "1.1.1.1"]),
     dict(mode="Static", IP="172.16.0.33", netmask="255.255.255.240", gateway="172.16.0.46", DNS="8.8.8.8,1.1.1.1")),
    (dict(ip="172.16.0.33", netmask="255.255.255.240", gateway=""),
     dict(mode="Static", IP="172.16.0.33", netmask="255.255.255.240", gateway="", DNS=None)),
    (dict(mode="dhcp"), dict(mode="DHCP", IP="", netmask="", gateway=None, DNS=None)),
    (dict(mode="none"), dict(mode="None", IP="", netmask="", gateway="", DNS="")),
])
def test_ip_settings(kwargs, expected):
    assert ip_settings(**kwargs) == expected


def test_no_ip_option_means_no_ip_change():
    assert ip_settings() is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(ip="172.16.0.333/28"), "ip '172.16.0.333' is not a valid IPv4 address"),
    (dict(ip="fe80::1/64"), "is an IPv6 address"),
    (dict(ip="172.16.0.33"), "ip 172.16.0.33 has no netmask: give netmask, or ip with a prefix length"),
    (dict(ip="172.16.0.33/28", netmask="255.255.255.0"), "says netmask 255.255.255.240 but netmask says 255.255.255.0"),
    (dict(ip="172.16.0.33", netmask="255.0.255.0"), "netmask '255.0.255.0' is not a valid IPv4 netmask"),
    (dict(ip="172.16.0.32/28"), "ip 172.16.0.32 is the network address of 172.16.0.32/28: choose a host address "
                                "between 172.16.0.33 and 172.16.0.46"),
    (dict(ip="172.16.0.47/28"), "is the broadcast address"),
    (dict(ip="172.16.0.33/28", gateway="10.0.0.1"), "gateway 10.0.0.1 is not in 172.16.0.32/28"),
    (dict(ip="172.16.0.33/28", gateway="172.16.0.33"), "is the interface's own ip"),
    (dict(mode="dhcp", ip="172.16.0.33/28"), "ip cannot be set with mode dhcp"),
    (dict(mode="none", dns=["8.8.8.8"]), "dns cannot be set with mode none"),
    (dict(mode="static"), "mode static needs ip"),
    (dict(gateway="172.16.0.46"), "given without ip"),
    (dict(ip="172.16.0.33/28", dns=["8.8.8"]), "dns entry '8.8.8' is not a valid IPv4 address"),
])
def test_bad_ip_settings_are_one_clear_line(kwargs, message):
    with pytest.raises(InvalidParameterError) as error:
        ip_settings(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("value", ["28", "/28", "255.255.255.240"])
def test_netmask_forms(value):
    assert parse_netmask(value) == "255.255.255.240"


def test_gateway_and_dns_not_given_are_kept(records):
    pif = dict(records["PIF"]["OpaqueRef:pif-xs1-eth0"], gateway="192.0.2.254", DNS="192.0.2.53")
    wanted = desired_ip(pif, ip_settings(ip="192.0.2.1/24"))
    assert wanted == dict(mode="Static", IP="192.0.2.1", netmask="255.255.255.0", gateway="192.0.2.254",
                          DNS="192.0.2.53")
    assert not ip_differs(pif, wanted)
    assert ip_differs(pif, desired_ip(pif, ip_settings(ip="192.0.2.1/24", gateway="")))


def test_static_to_dhcp_differs_but_dhcp_lease_is_not_compared(records):
    pif = records["PIF"]["OpaqueRef:pif-xs1-eth1"]
    dhcp = dict(pif, ip_configuration_mode="DHCP", IP="10.1.1.7", netmask="255.255.255.0")
    assert not ip_differs(dhcp, desired_ip(dhcp, ip_settings(mode="dhcp")))
    assert ip_differs(pif, desired_ip(pif, ip_settings(mode="dhcp")))


def test_find_host_by_name_uuid_or_address(records):
    assert find_host(records, "xs2") == "OpaqueRef:host-xs2"
    assert find_host(records, records["host"]["OpaqueRef:host-xs3"]["uuid"]) == "OpaqueRef:host-xs3"
    assert find_host(records, "192.0.2.1") == "OpaqueRef:host-xs1"


def test_unknown_host_lists_the_hosts(records):
    with pytest.raises(InvalidParameterError) as error:
        find_host(records, "xs9")
    assert str(error.value) == "host 'xs9' is not a host of this pool; its hosts are: xs1, xs2, xs3."


def test_find_pif(records):
    host = "OpaqueRef:host-xs2"
    assert find_pif(records, host, device="eth1") == "OpaqueRef:pif-xs2-eth1"
    assert find_pif(records, host, network="Pool-wide network associated with eth2") == "OpaqueRef:pif-xs2-eth2"
    uuid = records["PIF"]["OpaqueRef:pif-xs3-eth0"]["uuid"]
    assert find_pif(records, uuid=uuid) == "OpaqueRef:pif-xs3-eth0"


@pytest.mark.parametrize("kwargs, message", [
    (dict(device="eth7"), "host xs2 has no interface eth7; its interfaces are: eth0, eth1, eth2."),
    (dict(network="storage"), "host xs2 has no interface on network 'storage'; its networks are: "),
    (dict(uuid="nope"), "uuid 'nope' is not the uuid of an interface (PIF) of this pool."),
])
def test_unknown_interface(records, kwargs, message):
    with pytest.raises(InvalidParameterError) as error:
        find_pif(records, "OpaqueRef:host-xs2", **kwargs)
    assert message in str(error.value)


def test_ip_owner_and_host_ips(records):
    records["PIF"]["OpaqueRef:pif-xs1-eth1"].update(ip_configuration_mode="Static", IP="172.16.0.35",
                                                    netmask="255.255.255.240")
    assert ip_owner(records, "172.16.0.35") == ("xs1", "eth1")
    assert ip_owner(records, "172.16.0.35", except_pif="OpaqueRef:pif-xs1-eth1") is None
    assert host_ip_list(records, "OpaqueRef:host-xs1") == [("eth0", "192.0.2.1", "255.255.255.0"),
                                                           ("eth1", "172.16.0.35", "255.255.255.240")]
    assert ips_in(["192.0.2.1", "172.16.0.35", "bogus"], ["172.16.0.32/28", "not-a-network"]) == ["172.16.0.35"]


def test_pif_summary(records):
    summary = pif_summary(records, "OpaqueRef:pif-xs1-eth0")
    assert summary["host"] == "xs1" and summary["mode"] == "static" and summary["management"] is True
    assert summary["network"] == "Pool-wide network associated with eth0" and summary["dns"] == []
