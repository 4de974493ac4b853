#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_bond
short_description: Manage a pool-wide NIC bond on every host of a XenServer or XCP-ng pool
version_added: 0.1.0
description:
  - Makes sure every host of the pool has a bond of the same member devices on one network, with
    the given mode and properties, creating it on the hosts that lack it (including hosts that
    joined the pool later), or removes the bond from every host.
  - XAPI bonds are per host; the network is pool-wide and is created when it does not exist.
  - With O(management=true), moves each host's management interface onto its bond, the step the
    XenServer documentation asks for after a host joins a pool whose management is bonded.
  - The members of an existing bond are never changed silently; the module refuses and explains.
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  network:
    description:
      - Name of the bond's network (C(name_label)). Created, pool-wide, when no network has this name.
    type: str
    required: true
  devices:
    description:
      - The member devices, the same on every host, for example V([eth1, eth2]). At least two.
      - Required with O(state=present).
    type: list
    elements: str
  mode:
    description:
      - Bond mode. V(lacp) needs the openvswitch network backend.
      - When not given, a new bond uses V(balance-slb) and an existing bond keeps its mode.
    type: str
    choices: [balance-slb, active-backup, lacp]
  properties:
    description:
      - Properties of an LACP bond (O(mode=lacp)) - C(hashing_algorithm) (V(src_mac) or V(tcpudp_ports)),
        C(lacp-time) (V(slow) or V(fast)), C(lacp-aggregation-key) (a number) and
        C(lacp-fallback-ab) (V(true) or V(false)). Only the keys given are compared; XAPI fills in
        defaults for the others.
    type: dict
  management:
    description:
      - V(true) moves each host's management interface onto its bond. When the bond has no IP
        configuration of its own, the management interface's configuration is copied onto the bond
        and removed from the old interface, so the host keeps its address.
      - When the management interface is a member of the bond, XAPI moves it when it creates the bond.
    type: bool
    default: false
  state:
    description:
      - V(present) creates the bond where it is missing and updates mode and properties.
      - V(absent) destroys the bond on every host (XAPI moves the IP configuration and the management
        interface back to the bond's primary member). The network is kept.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: xenserver.pools.xs_pif
"""

EXAMPLES = r"""
---
- name: Bond eth0 and eth1 on every host for management and VM traffic
  xenserver.pools.xs_bond:
    network: Bond 0+1
    devices: [eth0, eth1]
    mode: active-backup
    management: true

- name: LACP bond for storage, hashing on TCP/UDP ports
  xenserver.pools.xs_bond:
    network: storage-bond
    devices: [eth2, eth3]
    mode: lacp
    properties:
      hashing_algorithm: tcpudp_ports
      lacp-time: fast

- name: Remove the storage bond from every host
  xenserver.pools.xs_bond:
    network: storage-bond
    state: absent
"""

RETURN = r"""
network:
  description: Name and uuid of the bond's network (uuid empty when it does not exist yet, in check mode).
  returned: always
  type: dict
  sample: {name: Bond 0+1, uuid: 4b0a8e6e-3c8e-4d0f-9a0e-8f7c1d2e3f4a}
bonds:
  description: The bond of each host, master first (empty with O(state=absent)).
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: Host name.
      type: str
    device:
      description: Device of the bond's interface, for example V(bond0); empty before it is created.
      type: str
    uuid:
      description: Bond uuid; empty before it is created.
      type: str
    mode:
      description: Bond mode.
      type: str
    members:
      description: Member devices.
      type: list
      elements: str
    properties:
      description: Bond properties.
      type: dict
    management:
      description: Whether the host's management interface is on the bond.
      type: bool
  sample:
    - {host: xs1, device: bond0, uuid: 0a9d..., mode: active-backup, members: [eth0, eth1],
       properties: {}, management: true}
actions:
  description: What was done (or would be done, in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create network 'Bond 0+1'", "create bond of eth0, eth1 on xs3 (active-backup)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import XapiClient, connection_argument_spec
from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF, hosts_in_order
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError, XenServerError
from ansible_collections.xenserver.pools.plugins.module_utils._network import (
    find_pif,
    host_name,
    management_pif,
    move_management,
)

CLASSES = ("pool", "host", "PIF", "network", "Bond")

# The properties XAPI accepts for an LACP bond and their values (xapi_bond.ml requirements_of_mode); None: an integer.
KNOWN_PROPERTIES = {
    "hashing_algorithm": ("src_mac", "tcpudp_ports"),
    "lacp-time": ("slow", "fast"),
    "lacp-aggregation-key": None,
    "lacp-fallback-ab": ("true", "false"),
}
DEFAULT_MODE = "balance-slb"


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        network=dict(type="str", required=True),
        devices=dict(type="list", elements="str"),
        mode=dict(type="str", choices=["balance-slb", "active-backup", "lacp"]),
        properties=dict(type="dict"),
        management=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    return spec


def check_options(devices, mode, properties, state):
    """Options checked before any call; returns properties as {str: str}."""
    properties = dict((str(key), str(value).lower() if isinstance(value, bool) else str(value))
                      for key, value in (properties or {}).items())
    if state == "absent":
        return properties
    if not devices or len(set(devices)) < 2:
        raise InvalidParameterError("devices must list at least two different interfaces (for example [eth1, eth2]).")
    for key, value in properties.items():
        if key not in KNOWN_PROPERTIES:
            raise InvalidParameterError("properties: unknown key %r; known keys: %s." % (key, ", ".join(sorted(KNOWN_PROPERTIES))))
        allowed = KNOWN_PROPERTIES[key]
        if allowed is None and not value.lstrip("-").isdigit():
            raise InvalidParameterError("properties.%s must be a whole number, not %r." % (key, value))
        if allowed is not None and value not in allowed:
            raise InvalidParameterError("properties.%s must be one of %s, not %r." % (key, ", ".join(allowed), value))
    if properties and mode != "lacp":
        raise InvalidParameterError("properties need mode: lacp (XAPI accepts bond properties for LACP bonds only).")
    return properties


def find_network(records, name):
    matches = [ref for ref, network in records["network"].items() if network.get("name_label") == name]
    if len(matches) > 1:
        raise InvalidParameterError("%d networks are named %r: rename all but one, or choose another name."
                                    % (len(matches), name))
    return matches[0] if matches else None


def bonds_of(records, host_ref):
    """{bond ref: bond} of the host's bonds."""
    return dict((ref, bond) for ref, bond in records["Bond"].items()
                if records["PIF"].get(bond.get("master"), {}).get("host") == host_ref)


def member_devices(records, bond):
    return sorted(records["PIF"].get(slave, {}).get("device", "") for slave in bond.get("slaves", []))


def bond_summary(records, host_ref, bond_ref):
    bond = records["Bond"][bond_ref]
    master = records["PIF"].get(bond.get("master"), {})
    return dict(host=host_name(records, host_ref), device=master.get("device", ""), uuid=bond.get("uuid", ""),
                mode=bond.get("mode", ""), members=member_devices(records, bond),
                properties=dict(bond.get("properties", {})), management=bool(master.get("management")))


def plan_host(records, host_ref, network_ref, devices, mode, properties, management):
    """(steps, summary after) for one host. A step is (action text, kind, data)."""
    name = host_name(records, host_ref)
    steps = []
    wanted = sorted(devices)
    host_bonds = bonds_of(records, host_ref)
    on_network = [ref for ref, bond in host_bonds.items()
                  if network_ref and records["PIF"].get(bond.get("master"), {}).get("network") == network_ref]
    if on_network:
        bond_ref = on_network[0]
        bond = records["Bond"][bond_ref]
        summary = bond_summary(records, host_ref, bond_ref)
        if summary["members"] != wanted:
            raise InvalidParameterError(
                "the bond on %s has members %s, not %s: the members of a bond cannot change; remove it first "
                "(state: absent) and create it again." % (name, ", ".join(summary["members"]), ", ".join(wanted)))
        if mode and bond.get("mode") != mode:
            steps.append(("set the mode of %s on %s to %s" % (summary["device"], name, mode), "call",
                          ("Bond.set_mode", (bond_ref, mode))))
            summary["mode"] = mode
        for key in sorted(properties):
            if bond.get("properties", {}).get(key) != properties[key]:
                steps.append(("set %s=%s on %s of %s" % (key, properties[key], summary["device"], name), "call",
                              ("Bond.set_property", (bond_ref, key, properties[key]))))
                summary["properties"][key] = properties[key]
        master_ref = bond["master"]
        if management and not summary["management"]:
            steps.append(("move the management interface of %s to %s" % (name, summary["device"]), "management",
                          master_ref))
            summary["management"] = True
        return steps, summary
    members = [find_pif(records, host_ref, device=device) for device in devices]
    for device, ref in zip(devices, members):
        pif = records["PIF"][ref]
        if pif.get("bond_slave_of", NULL_REF) not in (NULL_REF, "", None) or pif.get("bond_master_of"):
            owner = next((bond_summary(records, host_ref, bond_ref) for bond_ref in host_bonds
                          if ref in host_bonds[bond_ref].get("slaves", []) or host_bonds[bond_ref].get("master") == ref),
                         None)
            where = ("%s (members %s)" % (owner["device"], ", ".join(owner["members"]))) if owner else "another bond"
            raise InvalidParameterError("%s on %s is already in %s: remove that bond first, or choose other devices."
                                        % (device, name, where))
        if not pif.get("physical", True):
            raise InvalidParameterError("%s on %s is not a physical interface: a bond is made of NICs." % (device, name))
    with_ip = [device for device, ref in zip(devices, members)
               if records["PIF"][ref].get("ip_configuration_mode", "None") != "None"]
    if len(with_ip) > 1:
        raise InvalidParameterError("%s on %s all have an IP configuration; XAPI bonds at most one interface with an IP: "
                                    "remove the others' (xs_pif mode: none) first." % (" and ".join(with_ip), name))
    new_mode = mode or DEFAULT_MODE
    if new_mode == "lacp":
        backend = records["host"][host_ref].get("software_version", {}).get("network_backend", "openvswitch")
        if backend != "openvswitch":
            raise InvalidParameterError("mode lacp needs the openvswitch network backend; %s uses %s." % (name, backend))
    mgmt = management_pif(records, host_ref)
    carries_management = mgmt in members
    steps.append(("create a bond of %s on %s (%s)" % (", ".join(devices), name, new_mode), "create",
                  (members, new_mode, properties)))
    if management and not carries_management:
        steps.append(("move the management interface of %s to the bond" % name, "management", None))
    summary = dict(host=name, device="", uuid="", mode=new_mode, members=wanted, properties=dict(properties),
                   management=carries_management or bool(management))
    return steps, summary


def plan_absent(records, host_ref, network_ref):
    name = host_name(records, host_ref)
    steps = []
    if network_ref is None:
        return steps
    ha_enabled = any(pool.get("ha_enabled") for pool in records["pool"].values())
    for bond_ref, bond in bonds_of(records, host_ref).items():
        master = records["PIF"].get(bond.get("master"), {})
        if master.get("network") != network_ref:
            continue
        if master.get("management") and ha_enabled:
            raise InvalidParameterError("the bond %s on %s carries the management interface and HA is enabled: XAPI "
                                        "refuses to remove it; disable HA first." % (master.get("device"), name))
        steps.append(("destroy %s (%s) on %s" % (master.get("device"), ", ".join(member_devices(records, bond)), name),
                      "call", ("Bond.destroy", (bond_ref,))))
    return steps


def run(module, client, properties, done):
    params = module.params
    records = client.get_all_records_of(CLASSES)
    network_ref = find_network(records, params["network"])
    network_info = dict(name=params["network"], uuid=records["network"].get(network_ref, {}).get("uuid", ""))
    before = dict((host_name(records, ref), bond_summary(records, ref, bond_ref))
                  for ref in records["host"] for bond_ref, bond in bonds_of(records, ref).items()
                  if network_ref and records["PIF"].get(bond.get("master"), {}).get("network") == network_ref)
    plan = []  # (host ref, steps)
    after = {}
    if params["state"] == "absent":
        for host_ref in hosts_in_order(records, master_last=True):
            plan.append((host_ref, plan_absent(records, host_ref, network_ref)))
    else:
        for host_ref in hosts_in_order(records, master_last=True):
            steps, summary = plan_host(records, host_ref, network_ref, params["devices"], params["mode"], properties,
                                       params["management"])
            plan.append((host_ref, steps))
            after[summary["host"]] = summary
    # in the order they are carried out: management moves wait until every bond exists
    actions = ([text for _host, steps in plan for text, kind, _data in steps if kind != "management"]
               + [text for _host, steps in plan for text, kind, _data in steps if kind == "management"])
    if params["state"] == "present" and network_ref is None:
        actions.insert(0, "create network %r" % params["network"])
    result = dict(changed=bool(actions), actions=actions, network=network_info,
                  bonds=[after[host_name(records, ref)] for ref in hosts_in_order(records)
                         if host_name(records, ref) in after],
                  diff=dict(before=before, after=after))
    if module.check_mode or not actions:
        return result
    if params["state"] == "present" and network_ref is None:
        network_ref = client.write("network.create", dict(name_label=params["network"], name_description="",
                                                          MTU=1500, other_config={}, tags=[]),
                                   action="Creating network %r" % params["network"])
        done.append(actions[0])
        network_info["uuid"] = client.read("network.get_uuid", network_ref)
    moves = []  # management moves wait until every bond exists
    for host_ref, steps in plan:
        for text, kind, data in steps:
            if kind == "management":
                moves.append((host_ref, text, data))
                continue
            if kind == "call":
                method, args = data
                client.write(method, *args)
            else:
                members, mode, props = data
                where = "%s on %s" % (", ".join(params["devices"]), host_name(records, host_ref))
                client.write("Bond.create", network_ref, members, "", mode, props,
                             action="Creating a bond of %s" % where)
            done.append(text)
    if moves:
        records = dict(records, **client.get_all_records_of(("PIF", "Bond")))
        for host_ref, text, target in moves:
            if target is None:  # a bond created in this run
                target = next(bond["master"] for bond in bonds_of(records, host_ref).values()
                              if records["PIF"].get(bond["master"], {}).get("network") == network_ref)
            move_management(client, records, host_ref, target)
            done.append(text)
    records = dict(records, **client.get_all_records_of(("PIF", "Bond")))
    result["bonds"] = [bond_summary(records, ref, bond_ref) for ref in hosts_in_order(records)
                       for bond_ref, bond in bonds_of(records, ref).items()
                       if records["PIF"].get(bond.get("master"), {}).get("network") == network_ref]
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("state", "present", ("devices",))],
    )
    params = module.params
    done = []
    try:
        properties = check_options(params["devices"], params["mode"], params["properties"], params["state"])
        with XapiClient.from_module(module) as client:
            result = run(module, client, properties, done)
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error, changed=bool(done), actions=done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
