#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_pif
short_description: Configure a host network interface (PIF) of a XenServer or XCP-ng pool
version_added: 0.1.0
description:
  - Gives one interface of one host its IPv4 configuration, a purpose (for example a dedicated
    storage interface, as XenCenter names them), the C(disallow_unplug) flag, and optionally makes
    it the host's management interface.
  - Joining hosts do not inherit secondary (storage) IP addresses; run this module for each host
    with its own address, typically in a loop over the pool's hosts.
  - Every option is checked before the first XAPI call; an option left out is left as it is.
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
  host:
    description:
      - The host the interface belongs to, by name, host name, address or uuid.
      - Required with O(device) or O(network).
    type: str
  device:
    description:
      - The interface's device name on O(host), for example V(eth1) or V(bond0).
      - A VLAN interface is not selected this way; a bond member is refused (configure the bond).
    type: str
  network:
    description:
      - Select the interface of O(host) that is on the network with this name.
    type: str
  uuid:
    description:
      - Select the interface by its PIF uuid instead of O(host) and O(device).
    type: str
  mode:
    description:
      - IPv4 configuration mode.
      - Defaults to V(static) when O(ip) is given; otherwise the mode is left as it is.
      - V(none) removes the address; it is refused on the management interface.
    type: str
    choices: [static, dhcp, none]
  ip:
    description:
      - IPv4 address for V(static), optionally with a prefix length (V(172.16.0.33/28)).
    type: str
  netmask:
    description:
      - IPv4 netmask for V(static), dotted (V(255.255.255.240)) or as a prefix length (V(28)).
      - Not needed when O(ip) has a prefix length.
    type: str
  gateway:
    description:
      - IPv4 gateway; must lie in the interface's subnet. An empty string removes it.
      - Left as it is when not given. A storage interface normally has none.
    type: str
  dns:
    description:
      - DNS servers (IPv4 addresses). Left as they are when not given.
    type: list
    elements: str
  purpose:
    description:
      - What the interface is for, for example V(Storage); stored in the PIF's
        C(other_config:management_purpose) as XenCenter does. An empty string removes it.
    type: str
  disallow_unplug:
    description:
      - Whether XAPI must refuse to unplug the interface (recommended for a storage interface; HA
        requires such interfaces to be up).
    type: bool
  management:
    description:
      - V(true) makes this interface the host's management interface (C(host.management_reconfigure))
        and waits until XAPI reports it there. The interface must have, or be given, an IP configuration.
      - V(false) is refused on the current management interface; set V(true) on the interface that
        should carry management instead.
    type: bool
notes:
  - Moving the management interface of the pool master to another static address moves the API
    too; the module then talks to the new address with the same session. With DHCP the new
    address is not known in advance, so point later tasks at it yourself.
seealso:
  - module: xenserver.pools.xs_bond
  - module: xenserver.pools.xs_sr
"""

EXAMPLES = r"""
---
- name: Give every host its storage IP on eth1 (seed 004), marked as a storage interface
  xenserver.pools.xs_pif:
    host: "{{ item.host }}"
    device: eth1
    ip: "{{ item.ip }}/28"
    purpose: Storage
    disallow_unplug: true
  loop:
    - {host: xs1, ip: 172.16.0.35}
    - {host: xs2, ip: 172.16.0.33}
    - {host: xs3, ip: 172.16.0.34}

- name: Use DHCP on eth2 of xs1
  xenserver.pools.xs_pif:
    host: xs1
    device: eth2
    mode: dhcp

- name: Move the management interface of xs2 onto its bond
  xenserver.pools.xs_pif:
    host: xs2
    device: bond0
    management: true
"""

RETURN = r"""
pif:
  description: The interface after the change (or as it would be, in check mode).
  returned: success
  type: dict
  contains:
    uuid:
      description: PIF uuid.
      type: str
    host:
      description: Host name.
      type: str
    device:
      description: Device name.
      type: str
    network:
      description: Name of the interface's network.
      type: str
    mode:
      description: IPv4 mode, V(static), V(dhcp) or V(none).
      type: str
    ip:
      description: IPv4 address.
      type: str
    netmask:
      description: IPv4 netmask.
      type: str
    gateway:
      description: IPv4 gateway.
      type: str
    dns:
      description: DNS servers.
      type: list
      elements: str
    purpose:
      description: C(other_config:management_purpose).
      type: str
    disallow_unplug:
      description: Whether the interface may not be unplugged.
      type: bool
    management:
      description: Whether this is the host's management interface.
      type: bool
    attached:
      description: Whether the interface is plugged.
      type: bool
  sample:
    uuid: 767aac49-ba37-3be7-5bad-87ae26d97e02
    host: xs1
    device: eth1
    network: Pool-wide network associated with eth1
    mode: static
    ip: 172.16.0.35
    netmask: 255.255.255.240
    gateway: ""
    dns: []
    purpose: Storage
    disallow_unplug: true
    management: false
    attached: true
actions:
  description: What was done (or would be done, in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["reconfigure eth1 on xs1 to static 172.16.0.35/255.255.255.240", "set purpose Storage", "set disallow_unplug true"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import XapiClient, connection_argument_spec
from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError, XenServerError
from ansible_collections.xenserver.pools.plugins.module_utils._network import (
    PURPOSE_KEY,
    current_ip,
    desired_ip,
    find_host,
    find_pif,
    host_name,
    ip_differs,
    ip_owner,
    ip_settings,
    move_management,
    pif_summary,
)

CLASSES = ("pool", "host", "PIF", "network", "Bond")


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        host=dict(type="str"),
        device=dict(type="str"),
        network=dict(type="str"),
        uuid=dict(type="str"),
        mode=dict(type="str", choices=["static", "dhcp", "none"]),
        ip=dict(type="str"),
        netmask=dict(type="str"),
        gateway=dict(type="str"),
        dns=dict(type="list", elements="str"),
        purpose=dict(type="str"),
        disallow_unplug=dict(type="bool"),
        management=dict(type="bool"),
    )
    return spec


def plan_changes(records, ref, settings, purpose=None, disallow_unplug=None, management=None):
    """([(action, [(method, args)])], predicted summary) for one PIF.

    Raises InvalidParameterError for a change that is refused; nothing has been done then.
    The pseudo-method "management" stands for move_management().
    """
    pif = records["PIF"][ref]
    where = "%s on %s" % (pif.get("device"), host_name(records, pif.get("host")))
    if pif.get("bond_slave_of", NULL_REF) not in (NULL_REF, "", None):
        bond = records["Bond"].get(pif["bond_slave_of"], {})
        master = records["PIF"].get(bond.get("master"), {}).get("device", "its bond")
        raise InvalidParameterError("%s is a member of %s: configure %s instead." % (where, master, master))
    steps = []
    after = pif_summary(records, ref)
    final_mode = current_ip(pif)["mode"]
    new_address = None
    if settings is not None:
        wanted = desired_ip(pif, settings)
        final_mode = wanted["mode"]
        if wanted["mode"] == "None" and pif.get("management"):
            raise InvalidParameterError("%s is the management interface: it cannot lose its IP (mode none); move "
                                        "management to another interface first." % where)
        if wanted["mode"] == "Static":
            owner = ip_owner(records, wanted["IP"], except_pif=ref)
            if owner:
                raise InvalidParameterError("ip %s is already used by %s on %s: give each interface its own address."
                                            % (wanted["IP"], owner[1], owner[0]))
            new_address = wanted["IP"]
        if ip_differs(pif, wanted):
            text = {"Static": "static %s/%s" % (wanted["IP"], wanted["netmask"]), "DHCP": "dhcp",
                    "None": "no IP"}[wanted["mode"]]
            if wanted["gateway"]:
                text += " gateway %s" % wanted["gateway"]
            steps.append(("reconfigure %s to %s" % (where, text),
                          [("PIF.reconfigure_ip", (ref, wanted["mode"], wanted["IP"], wanted["netmask"],
                                                   wanted["gateway"], wanted["DNS"]))]))
            after.update(mode=wanted["mode"].lower(), ip=wanted["IP"], netmask=wanted["netmask"],
                         gateway=wanted["gateway"], dns=[entry for entry in wanted["DNS"].split(",") if entry])
    if purpose is not None:
        have = pif.get("other_config", {}).get(PURPOSE_KEY)
        if (have or "") != purpose:
            # add_to_other_config refuses an existing key (MAP_DUPLICATE_KEY): remove it first
            calls = [("PIF.remove_from_other_config", (ref, PURPOSE_KEY))] if have is not None else []
            if purpose:
                calls.append(("PIF.add_to_other_config", (ref, PURPOSE_KEY, purpose)))
            steps.append(("set the purpose of %s to %r" % (where, purpose), calls))
            after["purpose"] = purpose
    if disallow_unplug is not None and bool(pif.get("disallow_unplug")) != disallow_unplug:
        steps.append(("set disallow_unplug of %s to %s" % (where, str(disallow_unplug).lower()),
                      [("PIF.set_disallow_unplug", (ref, disallow_unplug))]))
        after["disallow_unplug"] = disallow_unplug
    if not pif.get("currently_attached") and final_mode != "None":
        steps.append(("plug %s" % where, [("PIF.plug", (ref,))]))
        after["attached"] = True
    if management is False and pif.get("management"):
        raise InvalidParameterError("%s is the management interface; management: false cannot move it: set "
                                    "management: true on the interface that should carry it." % where)
    if management and not pif.get("management"):
        if final_mode == "None":
            raise InvalidParameterError("%s has no IP configuration, so it cannot be the management interface: give "
                                        "it mode and ip as well." % where)
        host = host_name(records, pif.get("host"))
        steps.append(("move the management interface of %s to %s" % (host, pif.get("device")),
                      [("management", (new_address,))]))
        after["management"] = True
    return steps, after


def run(module, client, settings, done):
    """Reads, compares, and (unless in check mode) changes; `done` collects the actions carried out."""
    params = module.params
    records = client.get_all_records_of(CLASSES)
    if params["uuid"]:
        ref = find_pif(records, uuid=params["uuid"])
    else:
        host_ref = find_host(records, params["host"])
        ref = find_pif(records, host_ref, device=params["device"], network=params["network"])
    before = pif_summary(records, ref)
    steps, after = plan_changes(records, ref, settings, params["purpose"], params["disallow_unplug"],
                                params["management"])
    result = dict(changed=bool(steps), actions=[text for text, _calls in steps], pif=after,
                  diff=dict(before=before, after=after))
    if module.check_mode or not steps:
        return result
    for text, calls in steps:
        for method, args in calls:
            if method == "management":
                move_management(client, records, records["PIF"][ref]["host"], ref, copy_ip=False, new_address=args[0])
            else:
                client.write(method, *args)
        done.append(text)
    final = dict(records, PIF=dict(records["PIF"]))
    final["PIF"][ref] = client.read("PIF.get_record", ref)
    result["pif"] = pif_summary(final, ref)
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("device", "network", "uuid"), ("uuid", "host")],
        required_one_of=[("device", "network", "uuid")],
        required_by={"device": "host", "network": "host"},
    )
    params = module.params
    done = []
    try:
        settings = ip_settings(params["mode"], params["ip"], params["netmask"], params["gateway"], params["dns"])
        with XapiClient.from_module(module) as client:
            result = run(module, client, settings, done)
    except XenServerError as error:
        # what was done before the failure is reported, so that a re-run is not a surprise
        module.fail_json(msg=str(error), exception=error, changed=bool(done), actions=done)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
