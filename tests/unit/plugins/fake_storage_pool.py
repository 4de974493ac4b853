# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small pool behind the fake XenAPI (tests/unit/conftest.py) for the xs_sr, xs_pif and xs_bond
unit tests: records as XAPI returns them, and handlers for the few calls that change them.

The NFS server at 172.16.0.34 exports /srv/vhd to 172.16.0.32/28 only (seed 004): a host plugs an
NFS SR only with an attached interface in that subnet. Only what the modules use is modelled;
the simulator (tests/integration) is the faithful one.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools

NULL = "OpaqueRef:NULL"
MASTER_URL = "https://192.0.2.1/"
NFS_SERVER = "172.16.0.34"
NFS_EXPORTS = {"/srv/vhd": ["172.16.0.32/28"], "/srv/iso": ["172.16.0.32/28", "192.0.2.0/24"]}
GIB = 1024 ** 3
SM_TYPES = ("nfs", "lvmoiscsi", "lvmohba", "smb", "iso", "ext", "lvm", "udev")


class FakePool(object):
    """records: {class: {ref: record}}; failures: method -> list of error details raised once each."""

    def __init__(self, xapi, host_count=3, url=MASTER_URL):
        self.xapi = xapi
        self.endpoint = xapi.add_endpoint(url)
        self.numbers = itertools.count(1)
        self.records = dict((cls, {}) for cls in ("pool", "host", "host_metrics", "PIF", "network", "Bond", "SR",
                                                  "PBD", "SM", "VDI", "VBD", "VM", "secret", "task"))
        self.endpoint.records = self.records
        self.failures = {}
        self.nfs_content = {}  # SR uuid -> [VDI name] still on the NFS server after a forget
        self._build(host_count)
        for name in dir(self):
            if name.startswith("call_"):
                method = name[len("call_"):].replace("__", ".")
                self.endpoint.handlers[method] = self._guard(method, getattr(self, name))
                self.endpoint.handlers["Async." + method] = self._async(method, getattr(self, name))
        for cls in self.records:
            self.endpoint.handlers["%s.get_record" % cls] = self._getter(cls)
            self.endpoint.handlers["%s.get_uuid" % cls] = self._field_getter(cls, "uuid")
        self.endpoint.handlers["host.get_address"] = self._field_getter("host", "address")
        self.endpoint.handlers["Bond.get_master"] = self._field_getter("Bond", "master")

    # --- building --------------------------------------------------------------------------

    def new_ref(self, kind):
        return "OpaqueRef:%s-%d" % (kind, next(self.numbers))

    def add(self, cls, record, ref=None):
        ref = ref or self.new_ref(cls.lower())
        record.setdefault("uuid", "%s-uuid-%s" % (cls.lower(), ref.split(":")[1]))
        self.records[cls][ref] = record
        return ref

    def _build(self, host_count):
        for sm_type in SM_TYPES:
            self.add("SM", {"type": sm_type, "name_label": sm_type})
        self.networks = {}
        for index, device in enumerate(("eth0", "eth1", "eth2")):
            self.networks[device] = self.add("network", {"name_label": "Pool-wide network associated with %s" % device,
                                                         "bridge": "xenbr%d" % index, "PIFs": []})
        for number in range(1, host_count + 1):
            self.add_host(number)
        self.add("pool", {"name_label": "lab", "master": "OpaqueRef:host-xs1", "default_SR": NULL, "ha_enabled": False},
                 ref="OpaqueRef:pool")

    def add_host(self, number):
        """Host xs<number>: eth0 management at 192.0.2.<number>/24, eth1 and eth2 free, a local SR."""
        name = "xs%d" % number
        host = self.add("host", {"name_label": name, "hostname": name, "address": "192.0.2.%d" % number,
                                 "software_version": {"network_backend": "openvswitch"}, "enabled": True},
                        ref="OpaqueRef:host-%s" % name)
        for device in ("eth0", "eth1", "eth2"):
            management = device == "eth0"
            self.add("PIF", {
                "host": host, "device": device, "network": self.networks[device], "VLAN": -1, "physical": True,
                "currently_attached": True, "management": management, "managed": True,
                "ip_configuration_mode": "Static" if management else "None",
                "IP": "192.0.2.%d" % number if management else "", "netmask": "255.255.255.0" if management else "",
                "gateway": "", "DNS": "", "other_config": {}, "disallow_unplug": False,
                "bond_slave_of": NULL, "bond_master_of": [], "MAC": "02:00:00:00:%02d:%s" % (number, device[-1])},
                ref="OpaqueRef:pif-%s-%s" % (name, device))
        local = self.add("SR", {"name_label": "Local storage", "type": "ext", "content_type": "user",
                                "shared": False, "PBDs": [], "VDIs": [], "sm_config": {}, "other_config": {}},
                         ref="OpaqueRef:sr-local-%s" % name)
        self.new_pbd(local, host, {"device": "/dev/sda3"}, attached=True)
        return host

    def new_pbd(self, sr, host, config, attached=False):
        pbd = self.add("PBD", {"host": host, "SR": sr, "device_config": dict(config), "currently_attached": attached,
                               "other_config": {}})
        self.records["SR"][sr]["PBDs"].append(pbd)
        return pbd

    def set_ip(self, host_name, device, ip, netmask="255.255.255.240"):
        pif = self.records["PIF"]["OpaqueRef:pif-%s-%s" % (host_name, device)]
        pif.update(ip_configuration_mode="Static", IP=ip, netmask=netmask)

    def shared_nfs_sr(self, name="NAS-2-VHD", path="/srv/vhd", attached=True, vdis=()):
        """An existing shared NFS SR with a PBD on every host."""
        sr = self.add("SR", {"name_label": name, "name_description": "", "type": "nfs", "content_type": "user",
                             "shared": True, "PBDs": [], "VDIs": [], "sm_config": {}, "other_config": {}})
        for host in sorted(self.records["host"]):
            self.new_pbd(sr, host, {"server": NFS_SERVER, "serverpath": path}, attached=attached)
        for vdi_name, vm_state in vdis:
            vdi = self.add("VDI", {"name_label": vdi_name, "SR": sr, "virtual_size": 20 * GIB, "managed": True,
                                   "type": "user"})
            self.records["SR"][sr]["VDIs"].append(vdi)
            if vm_state:
                vm = self.add("VM", {"name_label": "vm-" + vdi_name.split()[0], "power_state": vm_state})
                self.add("VBD", {"VM": vm, "VDI": vdi, "currently_attached": vm_state == "Running"})
        return sr

    # --- helpers ---------------------------------------------------------------------------

    def writes(self):
        """Methods called that are neither reads, sessions nor events (the simulator's `write` kind)."""
        reads = ("get_", "get_all", "get_record", "get_by")
        return [method for method in self.xapi.methods()
                if not method.split(".")[-1].startswith(reads) and not method.startswith(("session.", "login", "event."))]

    def _guard(self, method, function):
        def handler(*args):
            queued = self.failures.get(method)
            if queued:
                raise self.xapi.module.Failure(queued.pop(0))
            return function(*args)
        return handler

    def _async(self, method, function):
        guarded = self._guard(method, function)

        def handler(*args):
            task = self.new_ref("task")
            record = {"uuid": task, "status": "success", "result": "", "error_info": []}
            try:
                value = guarded(*args)
                record["result"] = "<value>%s</value>" % value if value else ""
            except self.xapi.module.Failure as failure:
                record.update(status="failure", error_info=list(failure.details))
            self.records["task"][task] = record
            return task
        return handler

    def _getter(self, cls):
        def handler(ref):
            if ref not in self.records[cls]:
                raise self.xapi.module.Failure(["HANDLE_INVALID", cls, ref])
            return copy.deepcopy(self.records[cls][ref])
        return handler

    def _field_getter(self, cls, field):
        def handler(ref):
            return self._getter(cls)(ref)[field]
        return handler

    def fail(self, *details):
        raise self.xapi.module.Failure(list(details))

    def host_ips(self, host):
        return [pif["IP"] for pif in self.records["PIF"].values()
                if pif["host"] == host and pif["currently_attached"] and pif["IP"] and pif["bond_slave_of"] == NULL]

    def reaches(self, host, config):
        allowed = NFS_EXPORTS.get(config.get("serverpath"), [])
        return any(ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(cidr)
                   for ip in self.host_ips(host) for cidr in allowed)

    def mount_error(self, config):
        self.fail("SR_BACKEND_FAILURE_73", "", "NFS mount error [opterr=mount failed on server `%s` with return "
                  "code 32]" % config.get("server"), "")

    def resolve(self, config):
        out = {}
        for key, value in config.items():
            if key.endswith("password"):
                out[key + "_secret"] = self.records["secret"][self.call_secret__create({"value": value})]["uuid"]
            else:
                out[key] = value
        return out

    # --- handlers (call_<class>__<message>) ------------------------------------------------

    def call_task__destroy(self, task):
        self.records["task"].pop(task, None)

    def call_task__cancel(self, task):
        pass

    def call_secret__create(self, record):
        return self.add("secret", {"value": record["value"], "other_config": record.get("other_config", {})})

    def call_secret__destroy(self, ref):
        del self.records["secret"][ref]

    def call_pool__set_default_SR(self, pool, sr):
        self.records["pool"][pool]["default_SR"] = sr

    def call_SR__probe(self, host, config, sr_type, sm_config):
        if sr_type != "nfs":
            return "<SRlist/>"
        if "serverpath" not in config:
            exports = "".join("<Export><Target>%s</Target><Path>%s</Path><Accesslist>%s</Accesslist></Export>"
                              % (config["server"], path, ",".join(allowed)) for path, allowed in NFS_EXPORTS.items())
            self.fail("SR_BACKEND_FAILURE_101", "", "The request is missing the serverpath parameter",
                      "<?xml version=\"1.0\" ?>\n<nfs-exports>%s</nfs-exports>\n" % exports)
        if not self.reaches(host, config):
            self.mount_error(config)
        return "<SRlist>%s</SRlist>" % "".join("<SR><UUID>%s</UUID></SR>" % uuid for uuid in self.nfs_content)

    def call_SR__create(self, host, config, size, name, description, sr_type, content_type, shared, sm_config):
        master = self.records["pool"]["OpaqueRef:pool"]["master"]
        config = self.resolve(config)
        if sr_type == "nfs" and not self.reaches(master if shared else host, config):
            self.mount_error(config)
        sr = self.add("SR", {"name_label": name, "name_description": description, "type": sr_type,
                             "content_type": content_type, "shared": shared, "PBDs": [], "VDIs": [],
                             "sm_config": dict(sm_config), "other_config": {}})
        for target in sorted(self.records["host"]) if shared else [host]:
            pbd = self.new_pbd(sr, target, self.copy_secrets(config))
            self.records["PBD"][pbd]["currently_attached"] = sr_type != "nfs" or self.reaches(target, config)
        self.nfs_content.setdefault(self.records["SR"][sr]["uuid"], [])
        return sr

    def copy_secrets(self, config):
        out = dict(config)
        for key, value in config.items():
            if key.endswith("_secret"):
                secret = next(record for record in self.records["secret"].values() if record["uuid"] == value)
                out[key] = self.records["secret"][self.call_secret__create({"value": secret["value"]})]["uuid"]
        return out

    def call_SR__introduce(self, uuid, name, description, sr_type, content_type, shared, sm_config):
        return self.add("SR", {"uuid": uuid, "name_label": name, "name_description": description, "type": sr_type,
                               "content_type": content_type, "shared": shared, "PBDs": [], "VDIs": [],
                               "sm_config": dict(sm_config), "other_config": {}})

    def call_SR__scan(self, sr):
        for name in self.nfs_content.get(self.records["SR"][sr]["uuid"], []):
            vdi = self.add("VDI", {"name_label": name, "SR": sr, "virtual_size": 20 * GIB, "managed": True,
                                   "type": "user"})
            self.records["SR"][sr]["VDIs"].append(vdi)

    def _forget(self, sr):
        record = self.records["SR"][sr]
        self.nfs_content[record["uuid"]] = [self.records["VDI"][vdi]["name_label"] for vdi in record["VDIs"]]
        for pbd in record["PBDs"]:
            del self.records["PBD"][pbd]
        for vdi in record["VDIs"]:
            del self.records["VDI"][vdi]
        del self.records["SR"][sr]

    def call_SR__forget(self, sr):
        if any(self.records["PBD"][pbd]["currently_attached"] for pbd in self.records["SR"][sr]["PBDs"]):
            self.fail("SR_HAS_PBD", sr)
        self._forget(sr)

    def call_SR__destroy(self, sr):
        record = self.records["SR"][sr]
        if any(self.records["PBD"][pbd]["currently_attached"] for pbd in record["PBDs"]):
            self.fail("SR_HAS_PBD", sr)
        if record["VDIs"]:
            self.fail("SR_NOT_EMPTY")
        uuid = record["uuid"]
        self._forget(sr)
        self.nfs_content.pop(uuid, None)

    def call_SR__set_name_description(self, sr, value):
        self.records["SR"][sr]["name_description"] = value

    def call_SR__set_name_label(self, sr, value):
        self.records["SR"][sr]["name_label"] = value

    def call_PBD__create(self, record):
        sr = record["SR"]
        if any(self.records["PBD"][pbd]["host"] == record["host"] for pbd in self.records["SR"][sr]["PBDs"]):
            self.fail("PBD_EXISTS", sr, record["host"], "")
        return self.new_pbd(sr, record["host"], self.copy_secrets(self.resolve(record["device_config"])))

    def call_PBD__plug(self, pbd):
        record = self.records["PBD"][pbd]
        sr = self.records["SR"][record["SR"]]
        if sr["type"] == "nfs" and not self.reaches(record["host"], record["device_config"]):
            self.mount_error(record["device_config"])
        record["currently_attached"] = True

    def call_PBD__unplug(self, pbd):
        self.records["PBD"][pbd]["currently_attached"] = False

    def call_VDI__destroy(self, vdi):
        sr = self.records["VDI"][vdi]["SR"]
        self.records["SR"][sr]["VDIs"].remove(vdi)
        del self.records["VDI"][vdi]

    def call_PIF__reconfigure_ip(self, pif, mode, ip, netmask, gateway, dns):
        record = self.records["PIF"][pif]
        if record["management"] and mode == "None":
            self.fail("PIF_IS_MANAGEMENT_INTERFACE", pif)
        record.update(ip_configuration_mode=mode, IP=ip, netmask=netmask, gateway=gateway, DNS=dns)

    def call_PIF__add_to_other_config(self, pif, key, value):
        if key in self.records["PIF"][pif]["other_config"]:
            self.fail("MAP_DUPLICATE_KEY", "PIF", "other_config", pif, key)
        self.records["PIF"][pif]["other_config"][key] = value

    def call_PIF__remove_from_other_config(self, pif, key):
        self.records["PIF"][pif]["other_config"].pop(key, None)

    def call_PIF__set_disallow_unplug(self, pif, value):
        self.records["PIF"][pif]["disallow_unplug"] = value

    def call_PIF__plug(self, pif):
        self.records["PIF"][pif]["currently_attached"] = True

    def call_host__management_reconfigure(self, pif):
        record = self.records["PIF"][pif]
        if record["ip_configuration_mode"] == "None":
            self.fail("PIF_HAS_NO_NETWORK_CONFIGURATION", pif)
        for other in self.records["PIF"].values():
            if other["host"] == record["host"]:
                other["management"] = False
        record["management"] = True
        self.records["host"][record["host"]]["address"] = record["IP"]  # as xapi does

    def call_network__create(self, record):
        return self.add("network", {"name_label": record["name_label"], "bridge": "xapi%d" % next(self.numbers),
                                    "PIFs": []})

    def call_Bond__create(self, network, members, mac, mode, properties):
        pifs = self.records["PIF"]
        for member in members:
            if pifs[member]["bond_slave_of"] != NULL:
                self.fail("PIF_ALREADY_BONDED", member)
        host = pifs[members[0]]["host"]
        primary = next((m for m in members if pifs[m]["management"]), None) or next(
            (m for m in members if pifs[m]["ip_configuration_mode"] != "None"), members[0])
        index = sum(1 for pif in pifs.values() if pif["host"] == host and pif["device"].startswith("bond"))
        bond = self.new_ref("bond")
        source = pifs[primary]
        master = self.add("PIF", {
            "host": host, "device": "bond%d" % index, "network": network, "VLAN": -1, "physical": False,
            "currently_attached": True, "management": source["management"], "managed": True,
            "ip_configuration_mode": source["ip_configuration_mode"], "IP": source["IP"], "netmask": source["netmask"],
            "gateway": source["gateway"], "DNS": source["DNS"], "other_config": dict(source["other_config"]),
            "disallow_unplug": any(pifs[m]["disallow_unplug"] for m in members), "bond_slave_of": NULL,
            "bond_master_of": [bond], "MAC": source["MAC"]})
        self.add("Bond", {"master": master, "slaves": list(members), "mode": mode, "primary_slave": primary,
                          "properties": dict(properties) if mode == "lacp" else {}, "links_up": len(members)},
                 ref=bond)
        for member in members:
            pifs[member].update(bond_slave_of=bond, management=False, ip_configuration_mode="None", IP="",
                                netmask="", gateway="", DNS="", disallow_unplug=False)
        return bond

    def call_Bond__set_mode(self, bond, mode):
        self.records["Bond"][bond]["mode"] = mode

    def call_Bond__set_property(self, bond, key, value):
        self.records["Bond"][bond]["properties"][key] = value

    def call_Bond__destroy(self, bond):
        record = self.records["Bond"].pop(bond)
        master = self.records["PIF"].pop(record["master"])
        primary = self.records["PIF"][record["primary_slave"]]
        primary.update(ip_configuration_mode=master["ip_configuration_mode"], IP=master["IP"],
                       netmask=master["netmask"], management=master["management"])
        for member in record["slaves"]:
            self.records["PIF"][member]["bond_slave_of"] = NULL
