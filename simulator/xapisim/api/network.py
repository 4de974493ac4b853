"""Networking: PIF, management interface, Bond, VLAN and network calls (BEHAVIOUR.md §4;
ocaml/xapi/xapi_pif.ml, xapi_host.ml, xapi_pool.ml, xapi_bond.ml, xapi_vlan.ml, xapi_network.ml
and their message_forwarding.ml wrappers).  A call that xapi forwards to the PIF's host fails
with HOST_OFFLINE when that host is down, before any other check.

The management interface: `host.management_reconfigure` moves the `management` flag as xapi
does, but `host.address` keeps the host's lab address, because the simulated host answers its
API only there: a move to a PIF with another IP, or a new IP on the management PIF (which on a
real host drop the connection to the old address), change the PIF records only.  Bonds carry
the IP over, so the common move, onto a bond, changes nothing else on a real host either."""
from __future__ import annotations

import ipaddress

from ..dispatch import api
from ..errors import XapiError
from ..factory import BOND_PROPERTIES, make_bond, make_vlan, move_ip_configuration, move_vlans, new_bridge_name, the_pool
from ..model import NULL_REF
from .storage import assert_live, master_of, record_arg

BRIDGE_BLACKLIST = ("xen", "xapi", "vif", "tap", "eth")   # prefixes a user may not give a bridge


# -- helpers ---------------------------------------------------------------------------
def forwarded_to(db, host: str) -> None:
    """do_op_on: the call runs on `host`, which must be up."""
    if host != master_of(db):
        assert_live(db, host)


def pool_record(db) -> dict:
    return db.get("pool", the_pool(db))


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def assert_managed(db, pif: str) -> None:
    if not db.get("PIF", pif)["managed"]:
        raise XapiError("PIF_UNMANAGED", pif)


def assert_no_protection(db, pif: str) -> None:
    """An attached PIF is not reconfigured while HA or the redo log could fence the host."""
    if db.get("PIF", pif)["currently_attached"]:
        pool = pool_record(db)
        if pool["ha_enabled"]:
            raise XapiError("HA_IS_ENABLED")
        if pool["redo_log_enabled"]:
            raise XapiError("REDO_LOG_IS_ENABLED")


def assert_no_clustering(db, pif: str) -> None:
    for ref, cluster_host in db.all("Cluster_host").items():
        if cluster_host["PIF"] == pif and cluster_host["enabled"]:
            raise XapiError("CLUSTERING_ENABLED", ref)


def set_attached(db, pif: str, value: bool) -> None:
    """Bringing a PIF up or down: a bond's members follow their master."""
    db.set("PIF", pif, currently_attached=value)
    for bond in db.get("PIF", pif)["bond_master_of"]:
        for member in db.get("Bond", bond)["slaves"]:
            db.set("PIF", member, currently_attached=value)


def dhcp_lease(call, pif: dict) -> tuple[str, str]:
    """What the lab's DHCP server hands out on this NIC: the lab's address for it, and the
    host's own address on its management interface."""
    machine = call.world.machine_of(call.db, pif["host"])
    nic = next((n for n in (machine.spec.get("nics", []) if machine else []) if n["device"] == pif["device"]), None)
    if nic and nic.get("ip"):
        return nic["ip"], nic.get("netmask") or ""
    if pif["management"] and machine:
        return machine.address, pif["netmask"]
    return "", ""


# -- PIF -------------------------------------------------------------------------------
@api("PIF.reconfigure_ip", "PIF ref self, enum ip_configuration_mode mode, string IP, string netmask, "
     "string gateway, string DNS")
async def pif_reconfigure_ip(call, self, mode, ip, netmask, gateway, dns):
    db = call.db
    pif = db.get("PIF", self)
    forwarded_to(db, pif["host"])
    assert_managed(db, self)
    # only the DNS servers of a static configuration may change under HA or clustering
    if not (mode == "Static" and pif["ip_configuration_mode"] == mode and pif["IP"] == ip
            and pif["netmask"] == netmask and pif["gateway"] == gateway):
        assert_no_protection(db, self)
        assert_no_clustering(db, self)
    if mode == "Static":
        for name, value in (("IP", ip), ("netmask", netmask)):
            if not is_ipv4(value):
                raise XapiError("INVALID_IP_ADDRESS_SPECIFIED", name)
    for name, value in (("IP", ip), ("netmask", netmask), ("gateway", gateway)):
        if value and not is_ipv4(value):
            raise XapiError("INVALID_IP_ADDRESS_SPECIFIED", name)
    if pif["management"] and mode == "None" and pif["primary_address_type"] == "IPv4":
        raise XapiError("PIF_IS_MANAGEMENT_INTERFACE", self)
    # xapi keeps the IPv4 entries of DNS (split on ",", unstripped) and the PIF's IPv6 ones
    dns4 = [d for d in dns.split(",") if d and is_ipv4(d)]
    dns6 = [d for d in pif["DNS"].split(",") if d and not is_ipv4(d) and ":" in d]
    if mode == "DHCP" and pif["currently_attached"]:   # the address comes from the DHCP server
        ip, netmask = dhcp_lease(call, pif)
    db.set("PIF", self, ip_configuration_mode=mode, IP=ip, netmask=netmask, gateway=gateway, DNS=",".join(dns4 + dns6))


@api("PIF.set_disallow_unplug", "PIF ref self, bool value")
async def pif_set_disallow_unplug(call, self, value):
    db = call.db
    if db.get("PIF", self)["disallow_unplug"] != value:
        if not value:
            assert_no_clustering(db, self)
        db.set("PIF", self, disallow_unplug=value)


@api("PIF.plug", "PIF ref self")
async def pif_plug(call, self):
    db = call.db
    pif = db.get("PIF", self)
    forwarded_to(db, pif["host"])
    assert_managed(db, self)
    if pif["bond_slave_of"] != NULL_REF:
        raise XapiError("CANNOT_PLUG_BOND_SLAVE", self)
    set_attached(db, self, True)


def unplug(db, pif_ref: str) -> None:
    """Xapi_pif.unplug's checks and effect."""
    pif = db.get("PIF", pif_ref)
    assert_managed(db, pif_ref)
    assert_no_protection(db, pif_ref)
    if pif["management"]:
        raise XapiError("PIF_IS_MANAGEMENT_INTERFACE", pif_ref)
    for vif_ref in db.get("network", pif["network"])["VIFs"]:
        vif = db.get("VIF", vif_ref)
        vm = db.get("VM", vif["VM"]) if db.exists("VM", vif["VM"]) else None
        if vm and vm["resident_on"] == pif["host"] and vif["currently_attached"]:
            raise XapiError("VIF_IN_USE", pif["network"], vif_ref)
    if pif["disallow_unplug"]:
        raise XapiError("PIF_DOES_NOT_ALLOW_UNPLUG", pif_ref)
    if pif["bond_slave_of"] == NULL_REF:   # a member goes down with its bond, not alone
        set_attached(db, pif_ref, False)


@api("PIF.unplug", "PIF ref self")
async def pif_unplug(call, self):
    db = call.db
    forwarded_to(db, db.get("PIF", self)["host"])
    unplug(db, self)


# -- the management interface ----------------------------------------------------------
def assert_usable_for_management(db, pif_ref: str) -> None:
    pif = db.get("PIF", pif_ref)
    if pif["bond_slave_of"] != NULL_REF:
        raise XapiError("CANNOT_PLUG_BOND_SLAVE", pif_ref)
    if pif["primary_address_type"] == "IPv4" and pif["ip_configuration_mode"] == "None":
        raise XapiError("PIF_HAS_NO_NETWORK_CONFIGURATION", pif_ref)
    if pif["primary_address_type"] == "IPv6" and pif["ipv6_configuration_mode"] == "None":
        raise XapiError("PIF_HAS_NO_V6_NETWORK_CONFIGURATION", pif_ref)


def management_reconfigure(db, pif_ref: str) -> None:
    """Xapi_host.management_reconfigure on the PIF's host."""
    if pool_record(db)["ha_enabled"]:
        raise XapiError("HA_IS_ENABLED")
    pif = db.get("PIF", pif_ref)
    if pif["managed"]:
        assert_usable_for_management(db, pif_ref)
    if pif["management"]:
        return   # already the management interface: no action
    set_attached(db, pif_ref, True)   # Xapi_network.attach_internal
    # update_management_flags: the host's PIFs on the management bridge, and only they
    for ref, other in list(db.all("PIF").items()):
        if other["host"] == pif["host"] and other["management"] != (other["network"] == pif["network"]):
            db.set("PIF", ref, management=other["network"] == pif["network"])


@api("host.management_reconfigure", "PIF ref pif")
async def host_management_reconfigure(call, pif):
    db = call.db
    forwarded_to(db, db.get("PIF", pif)["host"])
    management_reconfigure(db, pif)


@api("pool.management_reconfigure", "network ref network")
async def pool_management_reconfigure(call, network):
    db = call.db
    if pool_record(db)["ha_enabled"]:
        raise XapiError("HA_IS_ENABLED")
    pifs = db.get("network", network)["PIFs"]
    on_host = {db.get("PIF", p)["host"]: p for p in pifs}
    for host in db.all("host"):
        if host not in on_host:
            raise XapiError("PIF_NOT_PRESENT", host, network)
    address_type = db.get("PIF", pifs[0])["primary_address_type"]
    for p in pifs:
        if db.get("PIF", p)["primary_address_type"] != address_type:
            raise XapiError("PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE", p)
        assert_usable_for_management(db, p)
    master = master_of(db)
    for host in [*[h for h in db.all("host") if h != master], master]:   # members first, the master last
        forwarded_to(db, host)
        management_reconfigure(db, on_host[host])


# -- Bond ------------------------------------------------------------------------------
def valid_mac(mac: str) -> bool:
    groups = mac.split(":")
    return len(groups) == 6 and all(len(g) == 2 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups)


def bond_property_ok(mode: str, name: str, value: str) -> bool:
    """xapi_bond.ml requirements_of_mode: only lacp takes properties."""
    if mode != "lacp":
        return False
    if name == "hashing_algorithm":
        return value in ("src_mac", "tcpudp_ports")
    if name == "lacp-time":
        return value in ("fast", "slow")
    if name == "lacp-fallback-ab":
        return value in ("true", "false")
    if name == "lacp-aggregation-key":
        try:
            int(value)
            return True
        except ValueError:
            return False
    return False


def assert_bond_property(mode: str, name: str, value: str) -> None:
    if not bond_property_ok(mode, name, value):
        raise XapiError("INVALID_VALUE", "properties", f"{name} = {value}")


@api("Bond.create", "network ref network, PIF ref set members, string MAC, enum bond_mode mode, "
     "(string -> string) map properties", "Bond ref", defaults=2)
async def bond_create(call, network, members, mac, mode="balance-slb", properties=None):
    db = call.db
    properties = properties or {}
    if not members:
        raise XapiError("PIF_BOND_NEEDS_MORE_MEMBERS")
    host = db.get("PIF", members[0])["host"]
    forwarded_to(db, host)
    if not db.get("network", network)["managed"]:
        raise XapiError("NETWORK_UNMANAGED", network)
    connected = [p for p in db.get("network", network)["PIFs"] if db.get("PIF", p)["host"] == host]
    if connected:
        raise XapiError("NETWORK_ALREADY_CONNECTED", host, connected[0])
    if mac and not valid_mac(mac):
        raise XapiError("MAC_INVALID", mac)
    for name, value in properties.items():
        assert_bond_property(mode, name, value)
    members = list(dict.fromkeys(members))   # the same PIF twice counts once
    records = {m: db.get("PIF", m) for m in members}
    primary = next((m for m in members if records[m]["management"]), None) or next(
        (m for m in members if records[m]["ip_configuration_mode"] != "None"), members[0])
    for m in members:
        if records[m]["primary_address_type"] != records[primary]["primary_address_type"]:
            raise XapiError("PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE", m)
    for m in members:
        assert_managed(db, m)
        if records[m]["bond_slave_of"] != NULL_REF and db.exists("Bond", records[m]["bond_slave_of"]):
            raise XapiError("PIF_ALREADY_BONDED", m)
        if records[m]["VLAN"] >= 0:
            raise XapiError("PIF_VLAN_EXISTS", records[m]["device"])
        if pool_record(db)["ha_enabled"] and records[m]["management"]:
            raise XapiError("HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE")
    if len({records[m]["host"] for m in members}) != 1:
        raise XapiError("PIF_CANNOT_BOND_CROSS_HOST")
    if any(records[m]["properties"] != records[members[0]]["properties"] for m in members):
        raise XapiError("INCOMPATIBLE_PIF_PROPERTIES")
    if sum(1 for m in members if records[m]["ip_configuration_mode"] != "None") > 1:
        raise XapiError("PIF_BOND_MORE_THAN_ONE_IP")
    bond = make_bond(db, members, network, mac, mode, properties)
    call.progress(1.0)
    return bond


@api("Bond.destroy", "Bond ref self")
async def bond_destroy(call, self):
    db = call.db
    bond = db.get("Bond", self)
    master = bond["master"]
    master_pif = db.get("PIF", master)
    forwarded_to(db, master_pif["host"])
    if pool_record(db)["ha_enabled"] and master_pif["management"]:
        raise XapiError("HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE")
    members, primary = list(bond["slaves"]), bond["primary_slave"]
    move_ip_configuration(db, master, primary)
    if master_pif["management"]:
        db.set("PIF", primary, management=True)
        db.set("PIF", master, management=False)
    for m in members:
        db.set("PIF", m, currently_attached=master_pif["currently_attached"] or master_pif["management"])
    move_vlans(db, [master], primary)
    if master_pif["disallow_unplug"]:
        db.set("PIF", primary, disallow_unplug=True)
    db.delete("Bond", self)
    db.delete("PIF", master)
    if db.exists("PIF_metrics", master_pif["metrics"]):
        db.delete("PIF_metrics", master_pif["metrics"])
    for m in members:
        db.set("PIF", m, bond_slave_of=NULL_REF)
    call.progress(1.0)


@api("Bond.set_mode", "Bond ref self, enum bond_mode value")
async def bond_set_mode(call, self, value):
    db = call.db
    bond = db.get("Bond", self)
    forwarded_to(db, db.get("PIF", bond["master"])["host"])
    kept = {k: v for k, v in bond["properties"].items() if bond_property_ok(value, k, v)}
    db.set("Bond", self, mode=value, properties={**BOND_PROPERTIES.get(value, {}), **kept})


@api("Bond.set_property", "Bond ref self, string name, string value")
async def bond_set_property(call, self, name, value):
    db = call.db
    bond = db.get("Bond", self)
    forwarded_to(db, db.get("PIF", bond["master"])["host"])
    assert_bond_property(bond["mode"], name, value)
    db.set("Bond", self, properties={**bond["properties"], name: value})


# -- VLAN ------------------------------------------------------------------------------
@api("VLAN.create", "PIF ref tagged_PIF, int tag, network ref network", "VLAN ref")
async def vlan_create(call, tagged_PIF, tag, network):
    db = call.db
    tagged = db.get("PIF", tagged_PIF)
    host = tagged["host"]
    forwarded_to(db, host)
    if not db.get("network", network)["managed"]:
        raise XapiError("NETWORK_UNMANAGED", network)
    connected = [p for p in db.get("network", network)["PIFs"] if db.get("PIF", p)["host"] == host]
    if connected:
        raise XapiError("NETWORK_ALREADY_CONNECTED", host, connected[0])
    assert_managed(db, tagged_PIF)
    if tagged["physical"] and tagged["bond_slave_of"] != NULL_REF:
        raise XapiError("CANNOT_ADD_VLAN_TO_BOND_SLAVE", tagged_PIF)
    if tagged["VLAN"] >= 0:
        raise XapiError("PIF_IS_VLAN", tagged_PIF)
    if not 0 <= tag <= 4094:
        raise XapiError("VLAN_TAG_INVALID", tag)
    if any(v["tagged_PIF"] == tagged_PIF and v["tag"] == tag for v in db.all("VLAN").values()):
        raise XapiError("PIF_VLAN_EXISTS", tagged["device"])
    return make_vlan(db, tagged_PIF, tag, network)


@api("VLAN.destroy", "VLAN ref self")
async def vlan_destroy(call, self):
    db = call.db
    vlan = db.get("VLAN", self)
    untagged = vlan["untagged_PIF"]
    if not db.exists("PIF", untagged):   # an orphaned record
        db.delete("VLAN", self)
        return
    pif = db.get("PIF", untagged)
    forwarded_to(db, pif["host"])
    if (pif["bond_slave_of"] != NULL_REF and db.exists("Bond", pif["bond_slave_of"])) or pif["bond_master_of"]:
        raise XapiError("PIF_ALREADY_BONDED", untagged)
    if pif["host"] != master_of(db) and pif["currently_attached"] and pif["management"]:
        raise XapiError("PIF_IS_MANAGEMENT_INTERFACE", untagged)
    assert_no_protection(db, untagged)
    if pif["VLAN"] < 0:
        raise XapiError("PIF_IS_PHYSICAL")
    unplug(db, untagged)
    db.delete("VLAN", self)
    db.delete("PIF", untagged)   # its metrics are the tagged PIF's


# -- network ---------------------------------------------------------------------------
@api("network.create", "network record args", "network ref")
async def network_create(call, args):
    db = call.db
    fields = record_arg("network", args, required=("other_config",))
    mtu = fields.get("MTU", 1500)
    bridge = fields.get("bridge", "")
    if bridge:
        session = db.get("session", call.session) if call.session and db.exists("session", call.session) else {}
        if not session.get("pool") and (len(bridge) > 15 or bridge.startswith(BRIDGE_BLACKLIST)):
            raise XapiError("INVALID_VALUE", "bridge", bridge)
        if any(n["bridge"] == bridge for n in db.all("network").values()):
            raise XapiError("BRIDGE_NAME_EXISTS", bridge)
    else:
        bridge = new_bridge_name(db)
    return db.create("network", name_label=fields.get("name_label", ""), name_description=fields.get("name_description", ""),
                     MTU=mtu if mtu > 0 else 1500, other_config=fields["other_config"], bridge=bridge,
                     managed=fields.get("managed", True), tags=fields.get("tags", []))


@api("network.destroy", "network ref self")
async def network_destroy(call, self):
    db = call.db
    network = db.get("network", self)
    connected = [v for v in network["VIFs"] if db.get("VIF", v)["currently_attached"] or db.get("VIF", v).get("reserved")]
    if connected:
        raise XapiError("NETWORK_CONTAINS_VIF", *connected)
    if network["PIFs"]:
        raise XapiError("NETWORK_CONTAINS_PIF", *network["PIFs"])
    if network["other_config"].get("is_host_internal_management_network", "").lower() == "true":
        raise XapiError("CANNOT_DESTROY_SYSTEM_NETWORK", self)
    for v in list(network["VIFs"]):
        db.delete("VIF", v)
    db.delete("network", self)
