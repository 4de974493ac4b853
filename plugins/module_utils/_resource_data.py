# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The data of XenCenter's "Export Resource Data" report, from records read in bulk.

One table per resource type - servers, networks, SRs, VDIs, VMs, GPUs - with the columns the
XenServer admin guide lists for that report, as plain values (names instead of refs, bytes as ints,
times as ISO 8601 UTC strings) that a role can format. Live metrics that XAPI keeps in RRDs rather
than in records (CPU and network usage, GPU power, temperature and utilisation) are not included.

    records = client.get_all_records_of(...)               # pool, host, host_metrics, network, PIF, ...
    records.update(read_records_at_once(client, RESOURCE_CLASSES))
    tables = resource_data(records)
"""

from __future__ import annotations

import datetime

from ansible_collections.xenserver.pools.plugins.module_utils._client import convert_record
from ansible_collections.xenserver.pools.plugins.module_utils._common import hosts_in_order, is_guest, memory_used, the_pool, to_int
from ansible_collections.xenserver.pools.plugins.module_utils._errors import XapiError

# The classes the report needs on top of those xs_pool_info reads (pool, host, host_metrics, network,
# PIF, Bond, SR, PBD, VM). PGPU and PCI are empty on hosts without GPUs.
RESOURCE_CLASSES = ("VDI", "VBD", "VIF", "VM_metrics", "VM_guest_metrics", "PIF_metrics", "PGPU", "PCI")

# PBD device_config keys that say where an SR lives; every other key is left out because some
# (chappassword, cifspassword, ..._secret) hold or point at secrets.
LOCATION_KEYS = ("location", "device", "SCSIid", "targetIQN", "target", "port", "path")


def read_records_at_once(client, classes):
    """{class: {ref: record}} of every object of `classes`, in one call.

    event.from with an empty token returns every existing object of the subscribed classes as an
    `add` event with its full record, so one call replaces one get_all_records per class and the
    call count stays the same whatever the number of classes. A host without event.from (older
    than XenServer 6.0) gets one get_all_records per class instead.
    """
    by_lower_name = dict((name.lower(), name) for name in classes)
    try:
        batch = client.read("event.from", sorted(by_lower_name), "", 0.0,
                            action="Reading all %s records from %s" % (", ".join(classes), client.url))
    except XapiError as error:
        if error.code != "MESSAGE_METHOD_UNKNOWN":
            raise
        return client.get_all_records_of(classes, optional=classes)
    records = dict((name, {}) for name in classes)
    for event in batch.get("events", []):
        name = by_lower_name.get(event.get("class", "").lower())
        if name is not None and event.get("operation") != "del" and "snapshot" in event:
            records[name][event["ref"]] = convert_record(name, event["snapshot"])
    return records


def resource_data(records):
    """{servers, networks, srs, vdis, vms, gpus}: lists of rows, each sorted by name."""
    pool = the_pool(records)
    hosts = records["host"]
    host_order = hosts_in_order(records)  # the order of every list of host names below
    return dict(
        servers=[_server(ref, records, pool) for ref in host_order],
        networks=_by_name(_network(ref, records, host_order) for ref, network in records["network"].items()
                          if not _hidden_network(network)),
        srs=_by_name(_sr(sr, records) for sr in records["SR"].values()),
        vdis=sorted((_vdi(vdi, records) for vdi in records["VDI"].values()),
                    key=lambda vdi: (vdi["sr"], vdi["name"], vdi["uuid"])),
        vms=_by_name(_vm(vm, records) for vm in records["VM"].values()
                     if is_guest(vm)),
        gpus=_by_name(_gpu(gpu, records) for gpu in records["PGPU"].values() if gpu.get("host") in hosts),
    )


def _by_name(rows):
    return sorted(rows, key=lambda row: (row["name"], row["uuid"]))


def _name(records, xapi_class, ref):
    return records[xapi_class].get(ref, {}).get("name_label", "")


def _server(ref, records, pool):
    host = records["host"][ref]
    metrics = records["host_metrics"].get(host.get("metrics"), {})
    memory_total = metrics.get("memory_total", 0)
    used = memory_used(records, ref)
    local_srs = [records["SR"][pbd.get("SR")] for pbd in records["PBD"].values()
                 if pbd.get("host") == ref and pbd.get("SR") in records["SR"]]
    return dict(
        name=host.get("name_label", ""),
        uuid=host["uuid"],
        pool_master=(ref == pool.get("master")),
        address=host.get("address", ""),
        cpu_count=to_int(host.get("cpu_info", {}).get("cpu_count")),
        memory_total=memory_total,
        memory_used=min(used, memory_total) if memory_total else used,
        local_storage=sorted(
            (dict(sr=sr.get("name_label", ""), size=sr.get("physical_size", -1),
                  utilisation=sr.get("physical_utilisation", -1))
             for sr in local_srs if not sr.get("shared") and sr.get("content_type") == "user"),
            key=lambda entry: entry["sr"]),
        boot_time=_iso_from_epoch(host.get("other_config", {}).get("boot_time")),
        description=host.get("name_description", ""),
    )


def _hidden_network(network):
    """Networks XenCenter hides: the guest installer network and the host-internal management network."""
    other_config = network.get("other_config", {})
    return any(other_config.get(key) == "true"
               for key in ("is_guest_installer_network", "is_host_internal_management_network"))


def _network(ref, records, host_order):
    network = records["network"][ref]
    pifs = records["PIF"]
    on_network = [pif for pif in pifs.values() if pif.get("network") == ref]
    by_host = dict((pif.get("host"), pif) for pif in on_network)
    ordered = [by_host[host] for host in host_order if host in by_host]
    vlans = [pif.get("VLAN", -1) for pif in ordered if isinstance(pif.get("VLAN"), int) and pif["VLAN"] >= 0]
    carriers = [_carrier(pif, records) for pif in ordered]
    return dict(
        name=network.get("name_label", ""),
        uuid=network["uuid"],
        link_status=("" if not carriers else "Connected" if all(carriers) else
                     "Disconnected" if not any(carriers) else "Partially connected"),
        macs=[pif.get("MAC", "") for pif in ordered],
        mtu=network.get("MTU"),
        vlan=vlans[0] if vlans else None,
        type=_network_type(ordered),
        # a network without PIFs is internal to each host: every host can use it
        location=[_name(records, "host", host) for host in host_order if host in by_host or not ordered],
    )


def _network_type(pifs):
    if not pifs:
        return "Private"
    pif = pifs[0]
    if pif.get("bond_master_of"):
        return "Bond"
    if isinstance(pif.get("VLAN"), int) and pif["VLAN"] >= 0:
        return "VLAN"
    if pif.get("tunnel_access_PIF_of"):
        return "Private (cross-server)"
    return "Physical" if pif.get("physical") else "Other"


def _carrier(pif, records):
    """Whether the PIF has a link: its own metrics, a bond's members, or a VLAN's physical PIF."""
    pifs = records["PIF"]
    if pif.get("bond_master_of"):
        bond = records["Bond"].get(pif["bond_master_of"][0], {})
        return any(_carrier(pifs[slave], records) for slave in bond.get("slaves", []) if slave in pifs)
    if isinstance(pif.get("VLAN"), int) and pif["VLAN"] >= 0:
        # a VLAN PIF has the device name of the PIF it tags
        tagged = [other for other in pifs.values() if other.get("host") == pif.get("host")
                  and other.get("device") == pif.get("device") and other.get("VLAN", -1) == -1]
        return bool(tagged) and _carrier(tagged[0], records)
    return bool(records["PIF_metrics"].get(pif.get("metrics"), {}).get("carrier"))


def _sr(sr, records):
    return dict(
        name=sr.get("name_label", ""),
        uuid=sr["uuid"],
        type=sr.get("type", ""),
        shared=bool(sr.get("shared")),
        size=sr.get("physical_size", -1),
        utilisation=sr.get("physical_utilisation", -1),
        virtual_allocation=sr.get("virtual_allocation", 0),
        location=_sr_location(sr, records),
        description=sr.get("name_description", ""),
    )


def _sr_location(sr, records):
    """Where the SR's data is, from its PBDs' device_config (each distinct value once)."""
    location = []
    for pbd_ref in sr.get("PBDs", []):
        config = records["PBD"].get(pbd_ref, {}).get("device_config", {})
        entries = []
        if "server" in config:
            entries.append("server:%s%s" % (config["server"], ":" + config["serverpath"] if "serverpath" in config else ""))
        entries.extend("%s:%s" % (key, config[key]) for key in LOCATION_KEYS if key in config)
        location.extend(entry for entry in entries if entry not in location)
    return location


def _vdi(vdi, records):
    return dict(
        name=vdi.get("name_label", ""),
        uuid=vdi["uuid"],
        type=vdi.get("type", ""),
        size=vdi.get("virtual_size", 0),
        sr=_name(records, "SR", vdi.get("SR")),
        description=vdi.get("name_description", ""),
    )


def _vm(vm, records):
    running = vm.get("power_state") in ("Running", "Paused")
    metrics = records["VM_metrics"].get(vm.get("metrics"), {})
    guest = records["VM_guest_metrics"].get(vm.get("guest_metrics"), {})
    vifs = sorted((records["VIF"][ref] for ref in vm.get("VIFs", []) if ref in records["VIF"]),
                  key=lambda vif: to_int(vif.get("device")) or 0)
    disks = []
    for vbd_ref in vm.get("VBDs", []):
        vbd = records["VBD"].get(vbd_ref, {})
        vdi = records["VDI"].get(vbd.get("VDI"))
        if vbd.get("type", "Disk") == "Disk" and vdi is not None:
            disks.append(dict(name=vdi.get("name_label", ""), size=vdi.get("virtual_size", 0),
                              sr=_name(records, "SR", vdi.get("SR")), device=vbd.get("userdevice", "")))
    disks.sort(key=lambda disk: (to_int(disk["device"]) is None, to_int(disk["device"]), disk["name"]))
    return dict(
        name=vm.get("name_label", ""),
        uuid=vm["uuid"],
        power_state=vm.get("power_state", ""),
        running_on=_name(records, "host", vm.get("resident_on")) if running else "",
        addresses=_guest_addresses(guest),
        macs=[vif.get("MAC", "") for vif in vifs],
        nics=len(vm.get("VIFs", [])),
        os=guest.get("os_version", {}).get("name", "").split("|")[0],
        disks=[dict((key, disk[key]) for key in ("name", "size", "sr")) for disk in disks],
        memory_used=metrics.get("memory_actual") if running else None,
        vcpus=(metrics.get("VCPUs_number") if running and metrics.get("VCPUs_number") else vm.get("VCPUs_at_startup")),
        start_time=_iso(metrics.get("start_time")) if running else "",
        template=vm.get("other_config", {}).get("base_template_name", ""),
        description=vm.get("name_description", ""),
    )


def _guest_addresses(guest):
    """IP addresses the guest agent reports, in device order, each once (keys like 0/ip, 0/ipv4/0, 0/ipv6/1)."""
    addresses = []
    for key in sorted(guest.get("networks", {}), key=_device_order):
        value = guest["networks"][key]
        if "/ip" in key and value and value not in addresses:
            addresses.append(value)
    return addresses


def _device_order(key):
    """Sort key for guest network keys: "0/ip" < "0/ipv4/0" < "1/ip" < "10/ip"."""
    return [(to_int(part) is None, to_int(part), part) for part in key.split("/")]


def _gpu(gpu, records):
    pci = records["PCI"].get(gpu.get("PCI"), {})
    return dict(
        name=pci.get("device_name", ""),
        uuid=gpu["uuid"],
        server=_name(records, "host", gpu.get("host")),
        pci_bus_path=pci.get("pci_id", ""),
    )


def _iso(value):
    """An XAPI datetime (xmlrpc DateTime, or the string JSON-RPC sends) as YYYY-MM-DDTHH:MM:SSZ; "" for
    the epoch, which XAPI uses for "never"."""
    text = str(getattr(value, "value", value) or "").rstrip("Z")
    for layout in ("%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            moment = datetime.datetime.strptime(text, layout)
        except ValueError:
            continue
        return "" if moment.year <= 1970 else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ""


def _iso_from_epoch(seconds):
    """other_config boot_time (seconds since the epoch, as a string) as an ISO 8601 UTC time, or ""."""
    try:
        moment = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
