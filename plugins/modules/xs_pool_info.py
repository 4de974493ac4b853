#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_pool_info
short_description: Read a XenServer or XCP-ng pool, its hosts, networks and storage
version_added: 0.1.0
description:
  - Returns the pool as data - the pool, its hosts with their interfaces and bonds, networks,
    storage repositories and a summary of the VMs - for use in later tasks and roles.
  - Point it at any host of the pool; a pool member redirects the module to the master.
  - A standalone host is reported as a pool of one, as XAPI models it.
  - Makes the same small number of XAPI calls whatever the size of the pool (one bulk read per
    object class).
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.INFO_MODULE
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
options:
  resource_data:
    description:
      - Also return RV(resource_data), the tables of XenCenter's "Export Resource Data" report - servers,
        networks, SRs, VDIs, VMs and GPUs - as used by the P(xenserver.pools.pool_report#role) role.
      - Costs one more XAPI call, whatever the size of the pool (one C(event.from) that returns every VDI,
        VBD, VIF, VM metrics, guest metrics, PIF metrics, physical GPU and PCI record at once).
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - RV(hosts[].memory_free) is computed from the records (host memory minus the memory of the VMs
    running on the host, including the control domain), because C(host_metrics.memory_free) no
    longer exists in XAPI and asking each host would cost one call per host.
"""

EXAMPLES = r"""
---
- name: Read the pool (credentials from XENSERVER_HOST, XENSERVER_USER, XENSERVER_PASSWORD)
  xenserver.pools.xs_pool_info:
  register: xs_pool

- name: Read the pool with explicit options and a private CA
  xenserver.pools.xs_pool_info:
    hostname: xs1.example.com
    username: root
    password: "{{ vault_xenserver_password }}"
    ca_path: /etc/pki/xenserver-ca.pem
  register: xs_pool

- name: Read the pool with the data of XenCenter's resource report (VMs, VDIs, GPUs, ...)
  xenserver.pools.xs_pool_info:
    resource_data: true
  register: xs_pool

- name: VMs that are not running
  ansible.builtin.debug:
    msg: "{{ xs_pool.resource_data.vms | rejectattr('power_state', 'eq', 'Running') | map(attribute='name') | list }}"

- name: Show the hosts that are not enabled
  ansible.builtin.debug:
    msg: "{{ xs_pool.hosts | rejectattr('enabled') | map(attribute='name') | list }}"

- name: Share the connection options between tasks
  module_defaults:
    group/xenserver.pools.xenserver:
      hostname: xs1.example.com
      password: "{{ vault_xenserver_password }}"
  block:
    - name: Read the pool
      xenserver.pools.xs_pool_info:
      register: xs_pool
"""

RETURN = r"""
api_url:
  description: URL of the pool master the module talked to (after following a redirect).
  returned: success
  type: str
  sample: https://192.0.2.11/
pool:
  description: The pool itself.
  returned: success
  type: dict
  contains:
    uuid:
      description: Pool UUID.
      type: str
    name:
      description: Pool name (C(name_label)); empty for a standalone host.
      type: str
    description:
      description: Pool description.
      type: str
    master:
      description: Name of the master host.
      type: str
    master_uuid:
      description: UUID of the master host.
      type: str
    master_address:
      description: Management address of the master host.
      type: str
    default_sr:
      description: Default SR as C(name) and C(uuid), or null when not set.
      type: dict
    suspend_image_sr:
      description: SR for suspend images as C(name) and C(uuid), or null.
      type: dict
    crash_dump_sr:
      description: SR for crash dumps as C(name) and C(uuid), or null.
      type: dict
    ha:
      description: High availability state.
      type: dict
      contains:
        enabled:
          description: Whether HA is enabled.
          type: bool
        host_failures_to_tolerate:
          description: Configured number of host failures to tolerate.
          type: int
        cluster_stack:
          description: HA cluster stack.
          type: str
    tags:
      description: Pool tags.
      type: list
      elements: str
  sample:
    uuid: 1b0a1c58-5f9e-4bb6-a8a7-1a0c4e0f3e10
    name: lab
    description: ""
    master: xs1
    master_uuid: 5d1f1c4e-0c0e-4a37-9a55-8ad6a3e0e3d1
    master_address: 192.0.2.11
    default_sr: {name: shared-nfs, uuid: 9a1c2f8e-1d3b-4c5e-8f7a-0b1c2d3e4f5a}
    suspend_image_sr: null
    crash_dump_sr: null
    ha: {enabled: false, host_failures_to_tolerate: 0, cluster_stack: xhad}
    tags: []
hosts:
  description: The hosts of the pool, master first, then by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Host name (C(name_label)).
      type: str
    uuid:
      description: Host UUID.
      type: str
    hostname:
      description: The host's own host name.
      type: str
    address:
      description: Management IP address.
      type: str
    is_master:
      description: Whether the host is the pool master.
      type: bool
    enabled:
      description: Whether the host is enabled (a disabled host starts no VMs).
      type: bool
    live:
      description: Whether the master currently sees the host as alive.
      type: bool
    product_brand:
      description: Product brand, for example C(XenServer) or C(XCP-ng).
      type: str
    product_version:
      description: Product version.
      type: str
    build_number:
      description: Product build number.
      type: str
    updates:
      description: Updates applied to the host.
      type: list
      elements: dict
      contains:
        name:
          description: Update name.
          type: str
        version:
          description: Update version.
          type: str
        uuid:
          description: Update UUID.
          type: str
    updates_requiring_reboot:
      description:
        - Names of the updates applied to the host that take effect only after it reboots (the host's
          C(updates_requiring_reboot)), sorted; empty when none is pending.
        - The C(rolling_maintenance) role reboots these hosts without being asked.
      type: list
      elements: str
    agent_start_time:
      description:
        - When the toolstack (xapi) of the host last started, in seconds since the epoch (C(other_config.agent_start_time));
          null when the host does not say.
        - It changes when the host reboots or its toolstack restarts.
      type: float
    edition:
      description: Licensed edition.
      type: str
    cpu:
      description: CPU C(vendor), C(model), C(count) and C(sockets).
      type: dict
    memory_total:
      description: Total host memory in bytes.
      type: int
    memory_free:
      description: Memory not used by running VMs (including the control domain) in bytes, computed from the records.
      type: int
    resident_vms:
      description: Number of VMs running on the host, not counting the control domain.
      type: int
    power_on_mode:
      description: How the pool powers the host on (empty when disabled).
      type: str
    power_on_config:
      description: Power-on settings; keys that hold or name secrets are left out.
      type: dict
    maintenance_mode:
      description: Whether the host's C(other_config) marks it as in maintenance mode.
      type: bool
    maintenance_markers:
      description: The C(MAINTENANCE_MODE*) keys of the host's C(other_config).
      type: dict
    pifs:
      description: Network interfaces of the host, sorted by device.
      type: list
      elements: dict
      contains:
        device:
          description: Device name, for example C(eth0) or C(bond0).
          type: str
        uuid:
          description: PIF UUID.
          type: str
        network:
          description: Name of the network the PIF is on.
          type: str
        network_uuid:
          description: UUID of that network.
          type: str
        mac:
          description: MAC address.
          type: str
        mtu:
          description: MTU.
          type: int
        vlan:
          description: VLAN tag, or null when the PIF is not a VLAN.
          type: int
        physical:
          description: Whether this is a physical NIC.
          type: bool
        attached:
          description: Whether the PIF is currently attached.
          type: bool
        ip_mode:
          description: IPv4 configuration mode (C(None), C(DHCP) or C(Static)).
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
        management:
          description: Whether this is the management interface.
          type: bool
        purpose:
          description: C(other_config.management_purpose), the name given to a secondary (for example storage) interface.
          type: str
        bond_member_of:
          description: Device of the bond this PIF is a member of, or null.
          type: str
        disallow_unplug:
          description: Whether the PIF may not be unplugged.
          type: bool
    bonds:
      description: Bonds of the host.
      type: list
      elements: dict
      contains:
        device:
          description: Device of the bond's master PIF.
          type: str
        uuid:
          description: Bond UUID.
          type: str
        mode:
          description: Bond mode.
          type: str
        network:
          description: Name of the bond's network.
          type: str
        members:
          description: Devices of the member PIFs.
          type: list
          elements: str
        links_up:
          description: Number of member links that are up.
          type: int
  sample:
    - name: xs1
      uuid: 5d1f1c4e-0c0e-4a37-9a55-8ad6a3e0e3d1
      hostname: xs1
      address: 192.0.2.11
      is_master: true
      enabled: true
      live: true
      product_brand: XenServer
      product_version: 8.4.0
      build_number: "1"
      updates: []
      edition: xenserver-premium
      cpu: {vendor: GenuineIntel, model: Intel Xeon, count: 16, sockets: 1}
      memory_total: 68719476736
      memory_free: 60129542144
      resident_vms: 2
      power_on_mode: ""
      power_on_config: {}
      maintenance_mode: false
      maintenance_markers: {}
      pifs: []
      bonds: []
networks:
  description: Networks of the pool, by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Network name.
      type: str
    uuid:
      description: Network UUID.
      type: str
    description:
      description: Network description.
      type: str
    bridge:
      description: Bridge name on the hosts.
      type: str
    mtu:
      description: MTU.
      type: int
srs:
  description: Storage repositories, by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: SR name.
      type: str
    uuid:
      description: SR UUID.
      type: str
    type:
      description: SR type, for example C(nfs), C(lvmoiscsi), C(ext), C(iso).
      type: str
    content_type:
      description: Content type, for example C(user) or C(iso).
      type: str
    shared:
      description: Whether the SR is shared by the hosts of the pool.
      type: bool
    size:
      description: Physical size in bytes (-1 until scanned).
      type: int
    utilisation:
      description: Physical utilisation in bytes.
      type: int
    default:
      description: Whether this is the pool's default SR.
      type: bool
    pbds:
      description: One entry per host the SR is configured on, with C(host) (name) and C(attached) (bool).
      type: list
      elements: dict
vms:
  description: VMs (not templates, snapshots or control domains) summarised by power state and host.
  returned: success
  type: dict
  contains:
    total:
      description: Number of VMs.
      type: int
    by_power_state:
      description: Number of VMs per power state.
      type: dict
    by_host:
      description: For each host name, the number of VMs resident on it per power state.
      type: dict
  sample:
    total: 3
    by_power_state: {Running: 2, Halted: 1}
    by_host: {xs1: {Running: 2}}
resource_data:
  description:
    - The tables of XenCenter's "Export Resource Data" report, one list per resource type, each sorted by
      name (VDIs by SR, then name). Sizes and memory are in bytes, times are ISO 8601 UTC strings (empty
      when unknown).
    - Live metrics that XAPI keeps in round-robin databases rather than in its records - CPU and network
      usage, GPU power, temperature and utilisation - are not included.
  returned: when O(resource_data=true)
  type: dict
  version_added: 0.1.0
  contains:
    servers:
      description:
        - One entry per host, the master first - C(name), C(uuid), C(pool_master) (bool), C(address),
          C(cpu_count), C(memory_total), C(memory_used) (host overhead and running VMs, the control domain
          included), C(local_storage) (the host's non-shared SRs, each with C(sr), C(size) and
          C(utilisation)), C(boot_time) (from the host's C(other_config.boot_time)) and C(description).
      type: list
      elements: dict
    networks:
      description:
        - One entry per network (the guest installer and host-internal networks left out) - C(name), C(uuid),
          C(link_status) (C(Connected), C(Disconnected), C(Partially connected), or empty when the network has
          no physical interface), C(macs) (of its interfaces, one per host), C(mtu), C(vlan) (tag or null),
          C(type) (C(Physical), C(Bond), C(VLAN), C(Private), C(Private (cross-server)) or C(Other)) and
          C(location) (names of the hosts that can use it).
      type: list
      elements: dict
    srs:
      description:
        - One entry per SR - C(name), C(uuid), C(type), C(shared), C(size), C(utilisation),
          C(virtual_allocation), C(location) (where the data is, from the PBDs' device configuration, for
          example C(server:192.0.2.5:/export); keys that can hold secrets are left out) and C(description).
      type: list
      elements: dict
    vdis:
      description:
        - One entry per VDI - C(name), C(uuid), C(type), C(size) (virtual size), C(sr) (name of its SR) and
          C(description).
      type: list
      elements: dict
    vms:
      description:
        - One entry per VM (not templates, snapshots or control domains) - C(name), C(uuid), C(power_state),
          C(running_on) (host name, empty unless running or paused), C(addresses) (IP addresses reported by the
          guest agent), C(macs), C(nics) (number of virtual interfaces), C(os) (as the guest agent reports it),
          C(disks) (each with C(name), C(size) and C(sr)), C(memory_used) (bytes, null unless running), C(vcpus),
          C(start_time), C(template) (the template it was made from) and C(description).
      type: list
      elements: dict
    gpus:
      description:
        - One entry per physical GPU - C(name), C(uuid), C(server) (host name) and C(pci_bus_path). Empty when
          the pool has no GPU.
      type: list
      elements: dict
  sample:
    servers:
      - {name: xs1, uuid: 5d1f1c4e-0c0e-4a37-9a55-8ad6a3e0e3d1, pool_master: true, address: 192.0.2.11,
         cpu_count: 16, memory_total: 68719476736, memory_used: 17179869184,
         local_storage: [{sr: Local storage, size: 1099511627776, utilisation: 4194304}],
         boot_time: "2026-01-05T08:00:00Z", description: ""}
    networks:
      - {name: Pool-wide network associated with eth0, uuid: 0b7c52a6-7f7e-4b0e-9f3c-2f61d9e5d6a1,
         link_status: Connected, macs: ["52:54:00:12:34:56"], mtu: 1500, vlan: null, type: Physical,
         location: [xs1]}
    srs:
      - {name: shared-nfs, uuid: 9a1c2f8e-1d3b-4c5e-8f7a-0b1c2d3e4f5a, type: nfs, shared: true,
         size: 2199023255552, utilisation: 107374182400, virtual_allocation: 214748364800,
         location: ["server:192.0.2.5:/srv/vhd"], description: ""}
    vdis:
      - {name: web-1 disk 0, uuid: 6c0f6b7e-4f5b-4f0a-8a7e-3b3b5c1d2e3f, type: user, size: 21474836480,
         sr: shared-nfs, description: ""}
    vms:
      - {name: web-1, uuid: 90ff0c6c-d204-4a16-b1d0-7da7387970eb, power_state: Running, running_on: xs1,
         addresses: [192.0.2.101], macs: ["96:a2:4e:0e:5b:01"], nics: 1, os: Debian GNU/Linux 12,
         disks: [{name: web-1 disk 0, size: 21474836480, sr: shared-nfs}], memory_used: 4294967296, vcpus: 2,
         start_time: "2026-01-05T08:05:00Z", template: Debian Bookworm 12, description: ""}
    gpus: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._common import (
    NULL_REF,
    hosts_in_order,
    is_guest,
    memory_free,
    pool_summary,
    public_power_on_config,
    running_vms,
    the_pool,
    to_int,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import XenServerError
from ansible_collections.xenserver.pools.plugins.module_utils._resource_data import (
    RESOURCE_CLASSES,
    read_records_at_once,
    resource_data,
)

# One get_all_records per class: the number of calls does not depend on the pool size.
CLASSES = ("pool", "host", "host_metrics", "network", "PIF", "Bond", "SR", "PBD", "VM", "pool_update")
# Hosts older than XenServer 7.1 have no pool_update class.
OPTIONAL_CLASSES = ("pool_update",)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(resource_data=dict(type="bool", default=False))
    return spec


def summarise_pool(records):
    """The module's result from {class: {ref: record}}."""
    pool = the_pool(records)
    return dict(
        pool=pool_summary(records),
        hosts=[_host(ref, records, is_master=(ref == pool["master"])) for ref in hosts_in_order(records)],
        networks=sorted((_network(net) for net in records["network"].values()), key=lambda net: net["name"]),
        srs=sorted((_sr(ref, records, pool) for ref in records["SR"]), key=lambda sr: sr["name"]),
        vms=_vm_summary(records),
    )


def _host(ref, records, is_master):
    host = records["host"][ref]
    metrics = records["host_metrics"].get(host.get("metrics"), {})
    software = host.get("software_version", {})
    cpu_info = host.get("cpu_info", {})
    other_config = host.get("other_config", {})
    markers = dict((key, value) for key, value in other_config.items() if key.startswith("MAINTENANCE_MODE"))
    return dict(
        name=host.get("name_label", ""),
        uuid=host["uuid"],
        hostname=host.get("hostname", ""),
        address=host.get("address", ""),
        is_master=is_master,
        enabled=bool(host.get("enabled")),
        live=bool(metrics.get("live", False)),
        product_brand=software.get("product_brand", ""),
        product_version=software.get("product_version", ""),
        build_number=software.get("build_number", ""),
        updates=sorted(
            (_update(records["pool_update"].get(update_ref)) for update_ref in host.get("updates", [])),
            key=lambda update: update["name"]),
        updates_requiring_reboot=sorted(
            _update(records["pool_update"].get(update_ref))["name"] or update_ref
            for update_ref in host.get("updates_requiring_reboot", [])),
        agent_start_time=to_float(other_config.get("agent_start_time")),
        edition=host.get("edition", ""),
        cpu=dict(
            vendor=cpu_info.get("vendor", ""),
            model=cpu_info.get("modelname", ""),
            count=to_int(cpu_info.get("cpu_count")),
            sockets=to_int(cpu_info.get("socket_count")),
        ),
        memory_total=metrics.get("memory_total", 0),
        memory_free=max(0, memory_free(records, ref)),
        resident_vms=sum(1 for vm in running_vms(records, ref) if not vm.get("is_control_domain")),
        power_on_mode=host.get("power_on_mode", ""),
        power_on_config=public_power_on_config(host.get("power_on_config")),
        maintenance_mode=markers.get("MAINTENANCE_MODE", "").lower() == "true",
        maintenance_markers=markers,
        pifs=sorted((_pif(pif_ref, records) for pif_ref, pif in records["PIF"].items() if pif.get("host") == ref),
                    key=lambda pif: (pif["device"], pif["vlan"] if pif["vlan"] is not None else -1)),
        bonds=sorted((_bond(bond, records) for bond in records["Bond"].values()
                      if records["PIF"].get(bond.get("master"), {}).get("host") == ref),
                     key=lambda bond: bond["device"]),
    )


def to_float(text):
    """A number XAPI keeps as a string ("1764312345.123"), or None when it is missing or not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _update(update):
    update = update or {}
    return dict(name=update.get("name_label", ""), version=update.get("version", ""), uuid=update.get("uuid", ""))


def _pif(ref, records):
    pif = records["PIF"][ref]
    network = records["network"].get(pif.get("network"), {})
    bond = records["Bond"].get(pif.get("bond_slave_of"))
    bond_master = records["PIF"].get(bond.get("master")) if bond else None
    vlan = pif.get("VLAN", -1)
    return dict(
        device=pif.get("device", ""),
        uuid=pif["uuid"],
        network=network.get("name_label", ""),
        network_uuid=network.get("uuid", ""),
        mac=pif.get("MAC", ""),
        mtu=pif.get("MTU"),
        vlan=vlan if isinstance(vlan, int) and vlan >= 0 else None,
        physical=bool(pif.get("physical")),
        attached=bool(pif.get("currently_attached")),
        ip_mode=pif.get("ip_configuration_mode", "None"),
        ip=pif.get("IP", ""),
        netmask=pif.get("netmask", ""),
        gateway=pif.get("gateway", ""),
        management=bool(pif.get("management")),
        purpose=pif.get("other_config", {}).get("management_purpose", ""),
        bond_member_of=bond_master.get("device") if bond_master else None,
        disallow_unplug=bool(pif.get("disallow_unplug")),
    )


def _bond(bond, records):
    pifs = records["PIF"]
    master = pifs.get(bond.get("master"), {})
    return dict(
        device=master.get("device", ""),
        uuid=bond["uuid"],
        mode=bond.get("mode", ""),
        network=records["network"].get(master.get("network"), {}).get("name_label", ""),
        members=sorted(pifs[slave].get("device", "") for slave in bond.get("slaves", []) if slave in pifs),
        links_up=bond.get("links_up", 0),
    )


def _network(network):
    return dict(
        name=network.get("name_label", ""),
        uuid=network["uuid"],
        description=network.get("name_description", ""),
        bridge=network.get("bridge", ""),
        mtu=network.get("MTU"),
    )


def _sr(ref, records, pool):
    sr = records["SR"][ref]
    hosts = records["host"]
    pbds = [records["PBD"][pbd_ref] for pbd_ref in sr.get("PBDs", []) if pbd_ref in records["PBD"]]
    return dict(
        name=sr.get("name_label", ""),
        uuid=sr["uuid"],
        type=sr.get("type", ""),
        content_type=sr.get("content_type", ""),
        shared=bool(sr.get("shared")),
        size=sr.get("physical_size", -1),
        utilisation=sr.get("physical_utilisation", -1),
        default=(ref == pool.get("default_SR")),
        pbds=sorted((dict(host=hosts.get(pbd.get("host"), {}).get("name_label", ""),
                          attached=bool(pbd.get("currently_attached"))) for pbd in pbds),
                    key=lambda pbd: pbd["host"]),
    )


def _vm_summary(records):
    hosts = records["host"]
    summary = dict(total=0, by_power_state={}, by_host={})
    for vm in records["VM"].values():
        if not is_guest(vm):
            continue
        state = vm.get("power_state", "unknown")
        summary["total"] += 1
        summary["by_power_state"][state] = summary["by_power_state"].get(state, 0) + 1
        host = hosts.get(vm.get("resident_on", NULL_REF))
        if host is not None:
            per_host = summary["by_host"].setdefault(host.get("name_label", ""), {})
            per_host[state] = per_host.get(state, 0) + 1
    return summary


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        with XapiClient.from_module(module) as client:
            records = client.get_all_records_of(CLASSES, optional=OPTIONAL_CLASSES)
            if module.params["resource_data"]:
                records.update(read_records_at_once(client, RESOURCE_CLASSES))
            api_url = client.url
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    result = summarise_pool(records)
    if module.params["resource_data"]:
        result["resource_data"] = resource_data(records)
    module.exit_json(changed=False, api_url=api_url, **result)


if __name__ == "__main__":
    main()
