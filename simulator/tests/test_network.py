"""Networking through XenAPI over HTTPS: PIF.reconfigure_ip, disallow_unplug, plug/unplug, the
management interface, Bond, VLAN and network calls (BEHAVIOUR.md §4)."""
from __future__ import annotations

import pytest
import XenAPI

from conftest import xapi_session

NICS = [{"device": "eth0", "management": True}, {"device": "eth1"}, {"device": "eth2"}, {"device": "eth3"}]


def network_lab() -> dict:
    return {"name": "network", "host_defaults": {"password": "pw", "nics": NICS},
            "hosts": [{"name": "xs1", "address": "127.0.5.1"}, {"name": "xs2", "address": "127.0.5.2"}],
            "pools": [{"name": "net-pool", "master": "xs1", "members": ["xs2"]}]}


@pytest.fixture
def lab(start_lab):
    return start_lab(network_lab())


@pytest.fixture
def x(lab):
    return xapi_session(lab).xenapi


def failure(fn, *args) -> list:
    with pytest.raises(XenAPI.Failure) as caught:
        fn(*args)
    return caught.value.details


def host_named(x, name):
    return x.host.get_by_name_label(name)[0]


def pif(x, host_name, device):
    host = host_named(x, host_name)
    return next(p for p in x.host.get_PIFs(host) if x.PIF.get_device(p) == device and x.PIF.get_VLAN(p) == "-1")


def set_db(lab, cls, ref, **fields):
    lab.run(lambda world: world.machine("xs1").db.set(cls, ref, **fields))


def pool_ref(x):
    return x.pool.get_all()[0]


# -- PIF.reconfigure_ip ------------------------------------------------------------------------
def test_reconfigure_ip_validates_its_addresses(x):
    eth1 = pif(x, "xs1", "eth1")
    assert failure(x.PIF.reconfigure_ip, eth1, "Static", "", "255.255.255.0", "", "") == \
        ["INVALID_IP_ADDRESS_SPECIFIED", "IP"]
    assert failure(x.PIF.reconfigure_ip, eth1, "Static", "172.16.0.300", "255.255.255.0", "", "") == \
        ["INVALID_IP_ADDRESS_SPECIFIED", "IP"]
    assert failure(x.PIF.reconfigure_ip, eth1, "static", "172.16.0.35", "255.255.255", "", "") == \
        ["INVALID_IP_ADDRESS_SPECIFIED", "netmask"]
    assert failure(x.PIF.reconfigure_ip, eth1, "Static", "172.16.0.35", "255.255.255.240", "gw", "") == \
        ["INVALID_IP_ADDRESS_SPECIFIED", "gateway"]
    assert failure(x.PIF.reconfigure_ip, eth1, "DHCP", "", "", "nope", "") == ["INVALID_IP_ADDRESS_SPECIFIED", "gateway"]
    assert x.PIF.get_ip_configuration_mode(eth1) == "None"
    x.PIF.reconfigure_ip(eth1, "Static", "172.16.0.35", "255.255.255.240", "172.16.0.33", "8.8.8.8,dns.lab,1.1.1.1")
    record = x.PIF.get_record(eth1)
    assert (record["ip_configuration_mode"], record["IP"], record["netmask"], record["gateway"], record["DNS"]) == \
        ("Static", "172.16.0.35", "255.255.255.240", "172.16.0.33", "8.8.8.8,1.1.1.1")
    x.PIF.reconfigure_ip(eth1, "None", "", "", "", "")
    assert (x.PIF.get_ip_configuration_mode(eth1), x.PIF.get_IP(eth1)) == ("None", "")


def test_reconfigure_ip_refusals(lab, x):
    management = pif(x, "xs1", "eth0")
    assert failure(x.PIF.reconfigure_ip, management, "None", "", "", "", "") == \
        ["PIF_IS_MANAGEMENT_INTERFACE", management]
    eth2 = pif(x, "xs2", "eth2")
    set_db(lab, "PIF", eth2, managed=False)
    assert failure(x.PIF.reconfigure_ip, eth2, "Static", "10.0.0.2", "255.0.0.0", "", "") == ["PIF_UNMANAGED", eth2]
    eth1 = pif(x, "xs1", "eth1")
    x.PIF.reconfigure_ip(eth1, "Static", "172.16.0.35", "255.255.255.240", "", "")
    set_db(lab, "pool", pool_ref(x), ha_enabled=True)
    assert failure(x.PIF.reconfigure_ip, eth1, "Static", "172.16.0.36", "255.255.255.240", "", "") == ["HA_IS_ENABLED"]
    x.PIF.reconfigure_ip(eth1, "Static", "172.16.0.35", "255.255.255.240", "", "9.9.9.9")   # DNS only: allowed
    assert x.PIF.get_DNS(eth1) == "9.9.9.9"
    set_db(lab, "pool", pool_ref(x), ha_enabled=False)
    member = host_named(x, "xs2")
    lab.run(lambda w: w.machine("xs1").db.set("host_metrics", x_metrics(w, "xs2"), live=False))
    assert failure(x.PIF.reconfigure_ip, pif(x, "xs2", "eth1"), "Static", "10.0.0.1", "255.0.0.0", "", "") == \
        ["HOST_OFFLINE", member]


def x_metrics(world, name):
    machine = world.machine(name)
    return machine.db.get("host", machine.host_ref)["metrics"]


def test_purpose_and_disallow_unplug(x):
    eth1 = pif(x, "xs1", "eth1")
    x.PIF.add_to_other_config(eth1, "management_purpose", "Storage")
    x.PIF.set_disallow_unplug(eth1, True)
    assert x.PIF.get_other_config(eth1) == {"management_purpose": "Storage"}
    assert failure(x.PIF.unplug, eth1) == ["PIF_DOES_NOT_ALLOW_UNPLUG", eth1]
    management = pif(x, "xs1", "eth0")
    assert failure(x.PIF.unplug, management) == ["PIF_IS_MANAGEMENT_INTERFACE", management]
    x.PIF.set_disallow_unplug(eth1, False)
    x.PIF.unplug(eth1)
    assert not x.PIF.get_currently_attached(eth1)
    x.PIF.plug(eth1)
    assert x.PIF.get_currently_attached(eth1)


# -- management interface ----------------------------------------------------------------------
def test_host_management_reconfigure(lab, x):
    eth0, eth1, eth2 = pif(x, "xs2", "eth0"), pif(x, "xs2", "eth1"), pif(x, "xs2", "eth2")
    x.host.management_reconfigure(eth0)   # already: no action
    assert x.PIF.get_management(eth0)
    assert failure(x.host.management_reconfigure, eth2) == ["PIF_HAS_NO_NETWORK_CONFIGURATION", eth2]
    x.PIF.reconfigure_ip(eth1, "Static", "10.1.0.2", "255.255.255.0", "", "")
    set_db(lab, "pool", pool_ref(x), ha_enabled=True)
    assert failure(x.host.management_reconfigure, eth1) == ["HA_IS_ENABLED"]
    set_db(lab, "pool", pool_ref(x), ha_enabled=False)
    x.host.management_reconfigure(eth1)
    assert (x.PIF.get_management(eth1), x.PIF.get_management(eth0)) == (True, False)
    assert x.host.get_address(host_named(x, "xs2")) == "127.0.5.2"   # the simulated host answers there


def test_pool_management_reconfigure_moves_every_host(x):
    network = x.PIF.get_network(pif(x, "xs1", "eth1"))
    first = pif(x, "xs1", "eth1")
    x.PIF.reconfigure_ip(first, "Static", "10.1.0.1", "255.255.255.0", "", "")
    assert failure(x.pool.management_reconfigure, network) == ["PIF_HAS_NO_NETWORK_CONFIGURATION", pif(x, "xs2", "eth1")]
    x.PIF.reconfigure_ip(pif(x, "xs2", "eth1"), "Static", "10.1.0.2", "255.255.255.0", "", "")
    lonely = x.network.create({"name_label": "lonely", "other_config": {}})
    x.VLAN.create(first, "7", lonely)
    assert failure(x.pool.management_reconfigure, lonely) == ["PIF_NOT_PRESENT", host_named(x, "xs2"), lonely]
    token = x.event_from(["pif"], "", 0.0)["token"]
    x.pool.management_reconfigure(network)
    for name in ("xs1", "xs2"):
        assert x.PIF.get_management(pif(x, name, "eth1")) and not x.PIF.get_management(pif(x, name, "eth0"))
    changed = [e["ref"] for e in x.event_from(["pif"], token, 0.0)["events"] if e["snapshot"]["management"]]
    assert changed == [pif(x, "xs2", "eth1"), first]   # the members first, the master last


# -- Bond ----------------------------------------------------------------------------------
def bond_network(x):
    return x.network.create({"name_label": "bond", "other_config": {}})


def test_bond_create_refusals(lab, x):
    network = bond_network(x)
    eth1, eth2, eth3 = (pif(x, "xs1", d) for d in ("eth1", "eth2", "eth3"))
    assert failure(x.Bond.create, network, [], "", "balance-slb", {}) == ["PIF_BOND_NEEDS_MORE_MEMBERS"]
    assert failure(x.Bond.create, network, [eth1, pif(x, "xs2", "eth1")], "", "balance-slb", {}) == \
        ["PIF_CANNOT_BOND_CROSS_HOST"]
    assert failure(x.Bond.create, network, [eth1, eth2], "02:00:zz:00:00:01", "balance-slb", {}) == \
        ["MAC_INVALID", "02:00:zz:00:00:01"]
    assert failure(x.Bond.create, network, [eth1, eth2], "", "balance-slb", {"hashing_algorithm": "src_mac"}) == \
        ["INVALID_VALUE", "properties", "hashing_algorithm = src_mac"]
    assert failure(x.Bond.create, network, [eth1, eth2], "", "lacp", {"lacp-time": "sometimes"}) == \
        ["INVALID_VALUE", "properties", "lacp-time = sometimes"]
    x.PIF.reconfigure_ip(eth1, "Static", "10.0.0.1", "255.0.0.0", "", "")
    x.PIF.reconfigure_ip(eth2, "DHCP", "", "", "", "")
    assert failure(x.Bond.create, network, [eth1, eth2], "", "balance-slb", {}) == ["PIF_BOND_MORE_THAN_ONE_IP"]
    set_db(lab, "PIF", eth3, properties={"gro": "off"})
    assert failure(x.Bond.create, network, [eth1, eth3], "", "balance-slb", {}) == ["INCOMPATIBLE_PIF_PROPERTIES"]
    set_db(lab, "pool", pool_ref(x), ha_enabled=True)
    assert failure(x.Bond.create, network, [pif(x, "xs1", "eth0"), eth3], "", "balance-slb", {}) == \
        ["HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE"]
    set_db(lab, "pool", pool_ref(x), ha_enabled=False)
    assert failure(x.Bond.create, x.PIF.get_network(eth3), [eth2, eth1], "", "balance-slb", {}) == \
        ["NETWORK_ALREADY_CONNECTED", host_named(x, "xs1"), eth3]
    x.PIF.reconfigure_ip(eth2, "None", "", "", "", "")
    bond = x.Bond.create(network, [eth1, eth2], "", "active-backup", {})
    other = bond_network(x)
    assert failure(x.Bond.create, other, [eth2, eth3], "", "balance-slb", {}) == ["PIF_ALREADY_BONDED", eth2]
    assert x.Bond.get_mode(bond) == "active-backup"


def test_bond_takes_over_the_management_interface_and_gives_it_back(x):
    network = bond_network(x)
    eth0, eth1 = pif(x, "xs1", "eth0"), pif(x, "xs1", "eth1")
    before = x.PIF.get_record(eth0)
    x.PIF.set_disallow_unplug(eth1, True)
    bond = x.Bond.create(network, [eth1, eth0], "", "lacp", {"lacp-time": "fast"})
    record = x.Bond.get_record(bond)
    master = x.PIF.get_record(record["master"])
    assert (master["device"], master["physical"], master["currently_attached"], master["network"]) == \
        ("bond0", False, True, network)
    assert (master["IP"], master["ip_configuration_mode"], master["MAC"], master["management"]) == \
        (before["IP"], "Static", before["MAC"], True)
    assert master["disallow_unplug"] and master["other_config"] == {}
    assert (record["primary_slave"], sorted(record["slaves"]), record["auto_update_mac"]) == \
        (eth0, sorted([eth0, eth1]), True)
    assert record["properties"] == {"hashing_algorithm": "tcpudp_ports", "lacp-time": "fast", "lacp-fallback-ab": "true"}
    for member in (eth0, eth1):
        m = x.PIF.get_record(member)
        assert (m["bond_slave_of"], m["management"], m["ip_configuration_mode"], m["IP"], m["disallow_unplug"]) == \
            (bond, False, "None", "", False)
    assert failure(x.PIF.plug, eth1) == ["CANNOT_PLUG_BOND_SLAVE", eth1]
    assert failure(x.host.management_reconfigure, eth1) == ["CANNOT_PLUG_BOND_SLAVE", eth1]
    x.Bond.set_mode(bond, "balance-slb")
    assert x.Bond.get_properties(bond) == {}
    assert failure(x.Bond.set_property, bond, "lacp-time", "fast") == ["INVALID_VALUE", "properties", "lacp-time = fast"]
    x.Bond.set_mode(bond, "lacp")
    x.Bond.set_property(bond, "hashing_algorithm", "src_mac")
    assert x.Bond.get_properties(bond)["hashing_algorithm"] == "src_mac"
    x.Bond.destroy(bond)
    assert failure(x.PIF.get_record, record["master"]) == ["HANDLE_INVALID", "PIF", record["master"]]
    after = x.PIF.get_record(eth0)
    assert (after["IP"], after["ip_configuration_mode"], after["management"], after["bond_slave_of"]) == \
        (before["IP"], "Static", True, "OpaqueRef:NULL")
    assert after["disallow_unplug"]   # the primary member takes the bond's flag
    assert x.Bond.get_all() == []


# -- VLAN ----------------------------------------------------------------------------------
def test_vlan_create_and_destroy(x):
    eth1 = pif(x, "xs1", "eth1")
    network = x.network.create({"name_label": "vlan 100", "other_config": {}})
    assert failure(x.VLAN.create, eth1, "5000", network) == ["VLAN_TAG_INVALID", "5000"]
    vlan = x.VLAN.create(eth1, "100", network)
    untagged = x.VLAN.get_untagged_PIF(vlan)
    record = x.PIF.get_record(untagged)
    assert (record["device"], record["VLAN"], record["MAC"], record["physical"], record["currently_attached"]) == \
        ("eth1", "100", "fe:ff:ff:ff:ff:ff", False, True)
    assert (record["VLAN_master_of"], x.PIF.get_VLAN_slave_of(eth1)) == (vlan, [vlan])
    assert failure(x.VLAN.create, eth1, "101", network) == ["NETWORK_ALREADY_CONNECTED", host_named(x, "xs1"), untagged]
    other = x.network.create({"name_label": "vlan 100 again", "other_config": {}})
    assert failure(x.VLAN.create, eth1, "100", other) == ["PIF_VLAN_EXISTS", "eth1"]
    assert failure(x.VLAN.create, untagged, "200", other) == ["PIF_IS_VLAN", untagged]
    x.PIF.set_disallow_unplug(untagged, True)
    assert failure(x.VLAN.destroy, vlan) == ["PIF_DOES_NOT_ALLOW_UNPLUG", untagged]
    x.PIF.set_disallow_unplug(untagged, False)
    x.VLAN.destroy(vlan)
    assert x.network.get_PIFs(network) == [] and x.PIF.get_VLAN_slave_of(eth1) == []


def test_vlan_on_a_bond_member_is_refused(x):
    eth2, eth3 = pif(x, "xs2", "eth2"), pif(x, "xs2", "eth3")
    x.Bond.create(bond_network(x), [eth2, eth3], "", "balance-slb", {})
    network = x.network.create({"name_label": "v", "other_config": {}})
    assert failure(x.VLAN.create, eth2, "10", network) == ["CANNOT_ADD_VLAN_TO_BOND_SLAVE", eth2]


# -- network -------------------------------------------------------------------------------
def test_network_create_and_destroy(x):
    taken = {x.network.get_bridge(n) for n in x.network.get_all()}
    network = x.network.create({"name_label": "storage", "MTU": "0", "other_config": {"k": "v"}})
    record = x.network.get_record(network)
    expected = next(f"xapi{i}" for i in range(100) if f"xapi{i}" not in taken)
    assert (record["bridge"], record["MTU"], record["managed"], record["other_config"]) == \
        (expected, "1500", True, {"k": "v"})
    assert failure(x.network.create, {"name_label": "n", "bridge": "xenbr9", "other_config": {}}) == \
        ["INVALID_VALUE", "bridge", "xenbr9"]
    x.network.create({"name_label": "mine", "bridge": "br-mine", "other_config": {}})
    assert failure(x.network.create, {"name_label": "n", "bridge": "br-mine", "other_config": {}}) == \
        ["BRIDGE_NAME_EXISTS", "br-mine"]
    assert failure(x.network.create, {"name_label": "n"}) == \
        ["INTERNAL_ERROR", 'Server_helpers.Dispatcher_FieldNotFound("other_config")']
    physical = x.PIF.get_network(pif(x, "xs1", "eth1"))
    assert failure(x.network.destroy, physical) == ["NETWORK_CONTAINS_PIF", *x.network.get_PIFs(physical)]
    x.network.destroy(network)
    assert failure(x.network.get_record, network) == ["HANDLE_INVALID", "network", network]
