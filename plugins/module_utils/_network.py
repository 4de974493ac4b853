# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Networking helpers shared by xs_pif, xs_bond and xs_sr.

Plain functions over records fetched once ({class: {ref: record}} from get_all_records_of), so each
check can be unit-tested on its own. Input validation raises InvalidParameterError with one
sentence that says what to fix; nothing here talks to XAPI except move_management().
"""

from __future__ import annotations

import ipaddress

from ansible_collections.xenserver.pools.plugins.module_utils._client import Deadline
from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError, XenServerError
from ansible_collections.xenserver.pools.plugins.module_utils._pool_membership import match_hosts

# XAPI's ip_configuration_mode enum, by the lower-case names the modules take.
IP_MODES = {"static": "Static", "dhcp": "DHCP", "none": "None"}

PURPOSE_KEY = "management_purpose"  # PIF.other_config key XenCenter uses to name a secondary interface

# After moving the master's management interface: how long its old address is given to answer.
MOVE_CHECK_SECONDS = 15


# --- IP settings --------------------------------------------------------------------------

def parse_ipv4(value, option):
    """An IPv4 address as a string, or InvalidParameterError naming the option."""
    text = str(value).strip()
    if ":" in text:
        raise InvalidParameterError("%s %r is an IPv6 address: only IPv4 is supported." % (option, value))
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InvalidParameterError("%s %r is not a valid IPv4 address (expected four numbers 0-255, "
                                    "for example 172.16.0.33)." % (option, value)) from None


def parse_netmask(value, option="netmask"):
    """A dotted netmask from 255.255.255.240, 28 or /28."""
    text = str(value).strip().lstrip("/")
    try:
        return str(ipaddress.IPv4Network("0.0.0.0/%s" % text).netmask)
    except ValueError:
        raise InvalidParameterError("%s %r is not a valid IPv4 netmask (give a dotted mask such as "
                                    "255.255.255.240 or a prefix length such as 28)." % (option, value)) from None


def parse_dns(value):
    """XAPI's DNS string (comma-separated IPv4 addresses) from a list or a comma/space separated string."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).replace(" ", ",").split(",")
    return ",".join(parse_ipv4(item, "dns entry") for item in items if str(item).strip())


def ip_settings(mode=None, ip=None, netmask=None, gateway=None, dns=None):
    """Validated IPv4 settings, or None when no IP option is given.

    Returns {"mode": "Static"|"DHCP"|"None", "IP", "netmask", "gateway", "DNS"}; gateway and DNS are
    None when not given, meaning "keep what the interface has". `ip` may carry a prefix (172.16.0.33/28).
    """
    if mode is None and ip is None and netmask is None and gateway is None and dns is None:
        return None
    if mode is None:
        if ip is None:
            raise InvalidParameterError("netmask, gateway or dns given without ip: give mode (static or dhcp) "
                                        "or ip as well.")
        mode = "static"
    if mode not in IP_MODES:
        raise InvalidParameterError("mode %r is not one of: %s." % (mode, ", ".join(sorted(IP_MODES))))
    if mode != "static":
        extra = [name for name, value in (("ip", ip), ("netmask", netmask), ("gateway", gateway)) if value is not None]
        if mode == "none" and dns is not None:
            extra.append("dns")
        if extra:
            raise InvalidParameterError("%s cannot be set with mode %s: remove %s, or use mode static."
                                        % (", ".join(extra), mode, " and ".join(extra)))
        return {"mode": IP_MODES[mode], "IP": "", "netmask": "", "gateway": "" if mode == "none" else None,
                "DNS": "" if mode == "none" else parse_dns(dns)}
    if ip is None:
        raise InvalidParameterError("mode static needs ip (for example ip: 172.16.0.33/28).")
    address, _slash, prefix = str(ip).partition("/")
    address = parse_ipv4(address, "ip")
    mask_from_ip = parse_netmask(prefix, "the prefix of ip") if prefix else None
    mask = parse_netmask(netmask) if netmask is not None else None
    if mask_from_ip and mask and mask_from_ip != mask:
        raise InvalidParameterError("ip %s says netmask %s but netmask says %s: give one of them." % (ip, mask_from_ip, mask))
    mask = mask or mask_from_ip
    if mask is None:
        raise InvalidParameterError("ip %s has no netmask: give netmask, or ip with a prefix length "
                                    "(for example %s/28)." % (ip, address))
    network = ipaddress.IPv4Network("%s/%s" % (address, mask), strict=False)
    if network.prefixlen < 31 and ipaddress.IPv4Address(address) in (network.network_address, network.broadcast_address):
        raise InvalidParameterError("ip %s is the %s address of %s: choose a host address between %s and %s."
                                    % (address, "network" if ipaddress.IPv4Address(address) == network.network_address
                                       else "broadcast", network, network.network_address + 1,
                                       network.broadcast_address - 1))
    if gateway is not None and str(gateway).strip():
        gateway = parse_ipv4(gateway, "gateway")
        if ipaddress.IPv4Address(gateway) not in network:
            raise InvalidParameterError("gateway %s is not in %s, the subnet of ip %s/%s: give a gateway inside "
                                        "that subnet, or none." % (gateway, network, address, network.prefixlen))
        if gateway == address:
            raise InvalidParameterError("gateway %s is the interface's own ip: give the router's address." % gateway)
    elif gateway is not None:
        gateway = ""
    return {"mode": "Static", "IP": address, "netmask": mask, "gateway": gateway, "DNS": parse_dns(dns)}


def desired_ip(current, settings):
    """The full (mode, IP, netmask, gateway, DNS) the PIF should have: gateway/DNS not given are kept."""
    def keep(key):
        value = settings[key]
        if value is not None:
            return value
        return current.get(key, "") if current.get("ip_configuration_mode") == settings["mode"] else ""

    return {"mode": settings["mode"], "IP": settings["IP"], "netmask": settings["netmask"],
            "gateway": keep("gateway"), "DNS": keep("DNS")}


def current_ip(pif):
    mode = pif.get("ip_configuration_mode", "None")
    return {"mode": mode, "IP": pif.get("IP", "") if mode != "None" else "",
            "netmask": pif.get("netmask", "") if mode != "None" else "",
            "gateway": pif.get("gateway", "") if mode != "None" else "",
            "DNS": pif.get("DNS", "") if mode != "None" else ""}


def ip_differs(pif, wanted):
    """Whether PIF.reconfigure_ip is needed. With DHCP the leased address is not compared."""
    have = current_ip(pif)
    if wanted["mode"] != have["mode"]:
        return True
    if wanted["mode"] == "Static":
        return any(have[key] != wanted[key] for key in ("IP", "netmask", "gateway", "DNS"))
    if wanted["mode"] == "DHCP":
        return any(have[key] != wanted[key] for key in ("gateway", "DNS"))
    return False


def ip_owner(records, address, except_pif=None):
    """(host name, device) of another PIF of the pool that already has this IPv4 address, or None."""
    for ref, pif in records["PIF"].items():
        if ref != except_pif and pif.get("IP") == address and pif.get("ip_configuration_mode") != "None":
            return host_name(records, pif.get("host")), pif.get("device", "")
    return None


# --- lookups ------------------------------------------------------------------------------

def host_name(records, ref):
    return records["host"].get(ref, {}).get("name_label", ref)


def find_host(records, name_or_uuid, option="host"):
    """The ref of the host with this uuid, name_label, hostname or address (match_hosts), or
    InvalidParameterError listing the hosts."""
    _how, matches = match_hosts(records, name_or_uuid)
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(sorted(host.get("name_label", "") for host in records["host"].values()))
    if not matches:
        raise InvalidParameterError("%s %r is not a host of this pool; its hosts are: %s." % (option, name_or_uuid, names))
    raise InvalidParameterError("%s %r names %d hosts: give the host's uuid." % (option, name_or_uuid, len(matches)))


def host_pifs(records, host_ref):
    return dict((ref, pif) for ref, pif in records["PIF"].items() if pif.get("host") == host_ref)


def _untagged(pif):
    return pif.get("VLAN", -1) in (-1, "-1", None)


def find_pif(records, host_ref=None, device=None, network=None, uuid=None):
    """The ref of one PIF: by uuid, or on host_ref by device (eth1, bond0) or by network name.

    Raises InvalidParameterError naming what exists when nothing (or more than one PIF) matches.
    """
    pifs = records["PIF"]
    if uuid:
        for ref, pif in pifs.items():
            if pif.get("uuid") == uuid:
                return ref
        raise InvalidParameterError("uuid %r is not the uuid of an interface (PIF) of this pool." % uuid)
    name = host_name(records, host_ref)
    on_host = host_pifs(records, host_ref)
    if device:
        matches = [ref for ref, pif in on_host.items() if pif.get("device") == device and _untagged(pif)]
        if not matches:
            devices = sorted(set(pif.get("device", "") for pif in on_host.values() if _untagged(pif)))
            raise InvalidParameterError("host %s has no interface %s; its interfaces are: %s."
                                        % (name, device, ", ".join(devices) or "none"))
        return matches[0]
    networks = records["network"]
    matches = [ref for ref, pif in on_host.items()
               if networks.get(pif.get("network"), {}).get("name_label") == network]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        names = sorted(set(networks.get(pif.get("network"), {}).get("name_label", "") for pif in on_host.values()))
        raise InvalidParameterError("host %s has no interface on network %r; its networks are: %s."
                                    % (name, network, ", ".join(repr(n) for n in names)))
    raise InvalidParameterError("host %s has %d interfaces on network %r: give device instead."
                                % (name, len(matches), network))


def host_ip_list(records, host_ref):
    """[(device, IP, netmask)] of the host's attached interfaces that have an IPv4 address."""
    found = []
    for pif in host_pifs(records, host_ref).values():
        if pif.get("IP") and pif.get("currently_attached", True) and pif.get("ip_configuration_mode") != "None":
            found.append((pif.get("device", ""), pif["IP"], pif.get("netmask", "")))
    return sorted(found)


def ips_in(addresses, cidrs):
    """The addresses that lie in one of the networks (CIDR strings; unparsable entries are skipped)."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.IPv4Network(cidr.strip(), strict=False))
        except ValueError:
            continue
    inside = []
    for address in addresses:
        try:
            value = ipaddress.IPv4Address(address)
        except ValueError:
            continue
        if any(value in network for network in networks):
            inside.append(address)
    return inside


# --- PIF summary ----------------------------------------------------------------------------

def pif_summary(records, ref):
    """What the modules return about a PIF."""
    pif = records["PIF"][ref]
    network = records["network"].get(pif.get("network"), {})
    mode = pif.get("ip_configuration_mode", "None")
    return {
        "uuid": pif.get("uuid", ""),
        "host": host_name(records, pif.get("host")),
        "device": pif.get("device", ""),
        "network": network.get("name_label", ""),
        "mode": mode.lower(),
        "ip": pif.get("IP", "") if mode != "None" else "",
        "netmask": pif.get("netmask", "") if mode != "None" else "",
        "gateway": pif.get("gateway", "") if mode != "None" else "",
        "dns": [entry for entry in pif.get("DNS", "").split(",") if entry] if mode != "None" else [],
        "purpose": pif.get("other_config", {}).get(PURPOSE_KEY, ""),
        "disallow_unplug": bool(pif.get("disallow_unplug")),
        "management": bool(pif.get("management")),
        "attached": bool(pif.get("currently_attached")),
    }


def management_pif(records, host_ref):
    for ref, pif in host_pifs(records, host_ref).items():
        if pif.get("management"):
            return ref
    return None


def move_management(client, records, host_ref, target_ref, copy_ip=None, new_address=None):
    """Move the host's management interface onto target_ref and wait until XAPI reports it there.

    copy_ip (default: when the target has no IP configuration): copy the management interface's IP
    configuration onto the target first and remove it from the old interface afterwards, as
    XenCenter does, so that the host keeps its management address.
    new_address: the target's IPv4 address when it is being changed in the same run.
    When the host is the pool master and its address changes, the client follows it (the session
    stays valid: it belongs to the pool). Returns the actions taken, one line each.
    """
    actions = []
    target = records["PIF"][target_ref]
    old_ref = management_pif(records, host_ref)
    old = records["PIF"].get(old_ref, {})
    host = host_name(records, host_ref)
    name = "%s on %s" % (target.get("device"), host)
    if copy_ip is None:
        copy_ip = target.get("ip_configuration_mode", "None") == "None"
    if copy_ip:
        if not old or old.get("ip_configuration_mode", "None") == "None":
            raise InvalidParameterError("%s has no IP configuration and the host's management interface has none "
                                        "to copy: give it an IP with xenserver.pools.xs_pif first." % name)
        have = current_ip(old)
        client.write("PIF.reconfigure_ip", target_ref, have["mode"], have["IP"], have["netmask"], have["gateway"],
                     have["DNS"], action="Copying the management IP configuration of %s to %s" % (host, name))
        actions.append("copy the IP configuration of %s to %s" % (old.get("device"), name))
        new_address = have["IP"]
    elif new_address is None and target.get("ip_configuration_mode") == "Static":
        new_address = target.get("IP")
    # host.management_reconfigure tolerates losing the connection and is a no-op when already done.
    client.write("host.management_reconfigure", target_ref, repeat_safe=True,
                 action="Moving the management interface of %s to %s" % (host, target.get("device")))
    actions.append("move the management interface of %s to %s" % (host, target.get("device")))
    is_master = any(pool.get("master") == host_ref for pool in records.get("pool", {}).values())
    old_address = records["host"].get(host_ref, {}).get("address")
    if is_master and new_address and new_address != old_address:
        # The master's API moves with its management interface: ask at the old address what the host's
        # address is now (XAPI updates host.address), or, if it no longer answers, go to the new one.
        try:
            address = client.read("host.get_address", host_ref, deadline=Deadline(MOVE_CHECK_SECONDS),
                                  request_timeout=MOVE_CHECK_SECONDS)
        except XenServerError:
            address = new_address
        if address and address != old_address:
            client._follow_master(address)  # pylint: disable=protected-access
    client.wait_for(["PIF/%s" % target_ref],
                    lambda state: bool(state.get("pif", {}).get(target_ref, {}).get("management")),
                    "the management interface of %s to be %s" % (host, target.get("device")))
    if copy_ip and old_ref and old_ref != target_ref and old.get("bond_slave_of", NULL_REF) == NULL_REF:
        client.write("PIF.reconfigure_ip", old_ref, "None", "", "", "", "",
                     action="Removing the IP configuration of %s on %s" % (old.get("device"), host))
        actions.append("remove the IP configuration of %s on %s" % (old.get("device"), host))
    return actions
