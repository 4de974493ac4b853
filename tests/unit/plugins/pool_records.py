# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Records of standalone hosts and small pools, as XAPI returns them (after int conversion), and
fake XAPI endpoints serving them, for the pool membership unit tests.

standalone("xs2", 2) is a fresh host identical to standalone("xs1", 1) except for its name,
address, uuid and refs: the two pass every join pre-flight check against each other. Tests change
one field to break one check.
"""

from __future__ import annotations

import copy
import itertools

NULL = "OpaqueRef:NULL"
GIB = 1024 ** 3
FEATURES = "1fcbfbff-f7fa3223-2c100800-00000121-0000000f-219c07a9-18c05f5e-00000000-00000000-00000000"
SERVER_TIME = "20260101T12:00:00Z"
SERVER_EPOCH = 1767268800  # SERVER_TIME as seconds since the epoch


def standalone(name, number, vms=()):
    """{class: {ref: record}} of a fresh standalone host (the master of its own pool of one)."""
    host, metrics, pool = "OpaqueRef:host-%s" % name, "OpaqueRef:metrics-%s" % name, "OpaqueRef:pool-%s" % name
    local_sr, local_pbd = "OpaqueRef:sr-local-%s" % name, "OpaqueRef:pbd-local-%s" % name
    records = dict((cls, {}) for cls in ("pool", "host", "host_metrics", "PIF", "Bond", "VLAN", "tunnel",
                                         "network_sriov", "network", "SR", "PBD", "VDI", "VBD", "VM", "pool_update",
                                         "SM", "Cluster", "Cluster_host", "Certificate"))
    records["pool"][pool] = {
        "uuid": "pool-uuid-%s" % name, "name_label": "", "name_description": "", "master": host,
        "default_SR": local_sr, "suspend_image_SR": local_sr, "crash_dump_SR": local_sr, "ha_enabled": False,
        "ha_host_failures_to_tolerate": 0, "ha_statefiles": [], "ha_configuration": {}, "tags": [],
        "other_config": {}, "current_operations": {}, "tls_verification_enabled": True,
        "restrictions": {"restrict_pooling": "false", "restrict_pool_size": "false", "enable_xha": "true"},
        "cpu_info": {"vendor": "GenuineIntel", "features_hvm_host": FEATURES, "features_pv_host": FEATURES},
    }
    records["host"][host] = {
        "uuid": "host-uuid-%s" % name, "name_label": name, "hostname": name, "address": "192.0.2.%d" % number,
        "enabled": True, "metrics": metrics, "API_version_major": 2, "API_version_minor": 21,
        "software_version": {"product_brand": "XenServer", "product_version": "8.4.0", "platform_version": "3.4.0",
                             "build_number": "8.4.0-xs.1", "xapi": "25.6", "git_id": "abc123", "db_schema": "5.786",
                             "network_backend": "openvswitch", "xs:linux": "Linux Pack, version 1.0, homogeneous"},
        "cpu_info": {"vendor": "GenuineIntel", "modelname": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                     "features_hvm_host": FEATURES, "cpu_count": "64", "socket_count": "2"},
        "edition": "standard", "license_params": {"restrict_pooling": "false", "restrict_pool_size": "false"},
        "external_auth_type": "", "external_auth_service_name": "", "pending_guidances": [],
        "updates": ["OpaqueRef:update-%s" % name], "other_config": {}, "suspend_image_sr": local_sr,
        "crash_dump_sr": local_sr,
    }
    records["host_metrics"][metrics] = {"uuid": "metrics-uuid-%s" % name, "live": True, "memory_total": 256 * GIB}
    records["pool_update"]["OpaqueRef:update-%s" % name] = {"uuid": "update-uuid-1", "name_label": "XS84E001",
                                                            "enforce_homogeneity": True, "hosts": [host]}
    network = "OpaqueRef:net0-%s" % name
    records["network"][network] = {"uuid": "net0-uuid-%s" % name, "name_label": "Pool-wide network associated with eth0",
                                   "bridge": "xenbr0", "purpose": []}
    records["network"]["OpaqueRef:net1-%s" % name] = {"uuid": "net1-uuid-%s" % name, "bridge": "xenbr1", "purpose": [],
                                                      "name_label": "Pool-wide network associated with eth1"}
    for index, device in enumerate(("eth0", "eth1")):
        records["PIF"]["OpaqueRef:pif-%s-%s" % (name, device)] = {
            "uuid": "pif-uuid-%s-%s" % (name, device), "device": device, "host": host,
            "network": "OpaqueRef:net%d-%s" % (index, name), "management": device == "eth0", "VLAN": -1,
            "physical": True, "currently_attached": True, "ip_configuration_mode": "Static" if device == "eth0" else "None",
            "IP": "192.0.2.%d" % number if device == "eth0" else "", "primary_address_type": "IPv4",
            "bond_master_of": [], "bond_slave_of": NULL, "VLAN_master_of": NULL, "disallow_unplug": False,
            "other_config": {},
        }
    records["SR"][local_sr] = {"uuid": "sr-uuid-local-%s" % name, "name_label": "Local storage", "type": "ext",
                               "shared": False, "is_tools_sr": False, "PBDs": [local_pbd], "VDIs": []}
    records["PBD"][local_pbd] = {"uuid": "pbd-uuid-local-%s" % name, "host": host, "SR": local_sr,
                                 "device_config": {"device": "/dev/sda3"}, "currently_attached": True}
    records["SM"]["OpaqueRef:sm-ext-%s" % name] = {"type": "ext", "features": {"VDI_CREATE": 1, "VDI_DELETE": 1}}
    records["SM"]["OpaqueRef:sm-nfs-%s" % name] = {"type": "nfs", "features": {"VDI_CREATE": 1,
                                                                               "VDI_GENERATE_CONFIG": 1}}
    records["VM"]["OpaqueRef:dom0-%s" % name] = {"uuid": "dom0-uuid-%s" % name, "name_label": "Control domain",
                                                 "is_control_domain": True, "power_state": "Running",
                                                 "resident_on": host, "current_operations": {}, "affinity": NULL,
                                                 "suspend_VDI": NULL}
    for vm_name, state in vms:
        add_vm(records, host, vm_name, state)
    return records


def add_vm(records, host, vm_name, state, disk_sr=None, size_gib=20):
    ref = "OpaqueRef:vm-%s" % vm_name
    records["VM"][ref] = {"uuid": "vm-uuid-%s" % vm_name, "name_label": vm_name, "is_control_domain": False,
                          "is_a_template": False, "is_a_snapshot": False, "power_state": state,
                          "resident_on": host if state in ("Running", "Paused") else NULL,
                          "affinity": host if state == "Suspended" else NULL, "current_operations": {},
                          "suspend_VDI": NULL}
    if disk_sr is not None:
        vdi = "OpaqueRef:vdi-%s" % vm_name
        records["VDI"][vdi] = {"uuid": "vdi-uuid-%s" % vm_name, "name_label": "%s disk 0" % vm_name, "SR": disk_sr,
                               "virtual_size": size_gib * GIB, "managed": True}
        records["VBD"]["OpaqueRef:vbd-%s" % vm_name] = {"VM": ref, "VDI": vdi}
    return ref


def pool_of(*members):
    """The master's records (the first member) with the others joined, as after pool.join."""
    records = copy.deepcopy(members[0])
    pool = next(iter(records["pool"].values()))
    for other in members[1:]:
        for cls in ("host", "host_metrics", "PIF", "network", "SR", "PBD", "VM", "VDI", "VBD"):
            for ref, record in other[cls].items():
                records[cls][ref] = copy.deepcopy(record)
        update = next(iter(records["pool_update"].values()))
        update["hosts"].extend(other["host"])
    pool["default_SR"] = pool["suspend_image_SR"] = pool["crash_dump_SR"] = NULL
    return records


class FakePoolXapi(object):
    """Serves records on a FakeXapi endpoint the way the modules use them: get_all_records, event.from
    (the current records, at once), get_servertime, tasks that finish at once, and scripted writes."""

    def __init__(self, xapi, endpoint, records):
        self.xapi = xapi
        self.endpoint = endpoint
        self.records = records
        endpoint.records = records
        self.server_time = SERVER_TIME
        self.task_numbers = itertools.count(1)
        handlers = endpoint.handlers
        handlers["event.from"] = self.event_from
        handlers["host.get_servertime"] = lambda host: self.server_time
        handlers["task.destroy"] = lambda task: self.records.get("task", {}).pop(task, None) and ""
        handlers["pool.get_all"] = lambda: list(self.records["pool"])
        handlers["host.get_uuid"] = lambda host: self.records["host"][host]["uuid"]
        handlers["pool.get_all_records"] = lambda: copy.deepcopy(self.records["pool"])

    def event_from(self, classes, token, timeout):
        events = []
        for subscription in classes:
            cls, _sep, ref = subscription.partition("/")
            table = next((records for name, records in self.records.items() if name.lower() == cls.lower()), {})
            for object_ref, record in table.items():
                if not ref or ref == object_ref:
                    events.append({"class": cls, "operation": "mod", "ref": object_ref, "snapshot": copy.deepcopy(record)})
        if token:
            self.xapi.now += float(timeout)  # a later call waits out its timeout: nothing changes by itself
        return {"events": events, "token": str(int(token or 0) + 1), "valid_ref_counts": {}}

    def task(self, method, action):
        """Handler for Async.<method>: runs action(*args) at once; the task ends success or failure."""
        def start(*args):
            ref = "OpaqueRef:task-%d" % next(self.task_numbers)
            try:
                action(*args)
                record = {"status": "success", "result": "", "error_info": []}
            except self.xapi.module.Failure as failure:
                record = {"status": "failure", "result": "", "error_info": list(failure.details)}
            self.records.setdefault("task", {})[ref] = record
            return ref
        self.endpoint.handlers["Async." + method] = start
        return start
