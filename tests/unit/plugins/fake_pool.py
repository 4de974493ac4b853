# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small pool behind the fake XenAPI of tests/unit/conftest.py, for the host lifecycle modules.

FakePool(xapi, hosts=3) adds one endpoint per host (https://192.0.2.<n>/) that share one set of
records and handlers, as the hosts of a pool share one database. Handlers change the records the
way XAPI would, synchronously: an Async call creates a task that is already finished, and
event.from returns the current records of the subscribed classes at once.

Knobs: blockers ({vm ref: [code, ...]}), fail ({method: [code, ...]}, raised by that method once),
auto_enable (host.disable takes auto_enable), reboot_comes_back, bmc_password, editions; meanwhile()
for what changes in the pool while a call is made.
"""

from __future__ import annotations

import itertools

GIB = 1024 ** 3
NULL = "OpaqueRef:NULL"
VMS_PER_HOST = (("web", "Running"), ("db", "Running"), ("batch", "Suspended"), ("tmpl", "Halted"))
WRITE_PREFIXES = ("Async.", "host.disable", "host.enable", "host.add", "host.remove", "host.set", "host.evacuate",
                  "host.reboot", "host.shutdown", "host.power_on", "host.apply_edition", "pool.designate",
                  "VM.", "secret.create", "secret.destroy")


class FakePool(object):
    def __init__(self, xapi, hosts=3, vms_per_host=VMS_PER_HOST, xapi_version="25.6"):
        self.xapi = xapi
        # The fake XenAPI's own Failure class (pytest loads conftest under another module name).
        self.Failure = xapi.module.Failure
        self.records = {"pool": {}, "host": {}, "host_metrics": {}, "VM": {}, "network": {}, "SR": {}, "task": {},
                        "secret": {}}
        self.blockers = {}
        self.fail = {}
        self.auto_enable = xapi_version >= "25.31"
        self.persistent_disabled = set()
        self.reboot_comes_back = True
        self.bmc_password = "bmc-pw"
        self.numbers = itertools.count(1)
        self.clock = 1000
        self.endpoints = []
        self.handlers = {}
        for number in range(1, hosts + 1):
            self._add_host(number, xapi_version)
        self.records["pool"]["OpaqueRef:pool"] = {"uuid": "pool-uuid", "name_label": "lab",
                                                  "master": "OpaqueRef:host1", "ha_enabled": False}
        self.records["network"]["OpaqueRef:net0"] = {"uuid": "net0-uuid", "name_label": "management",
                                                     "bridge": "xenbr0"}
        self.records["network"]["OpaqueRef:net1"] = {"uuid": "net1-uuid", "name_label": "storage",
                                                     "bridge": "xenbr1"}
        self.records["SR"]["OpaqueRef:local2"] = {"uuid": "sr-local2", "name_label": "Local storage"}
        for number in range(1, hosts + 1):
            for name, power_state in vms_per_host:
                self.add_vm("%s-%d" % (name, number), "OpaqueRef:host%d" % number, power_state)
        self._register()

    # ---- building ----

    def _add_host(self, number, xapi_version):
        ref = "OpaqueRef:host%d" % number
        address = "192.0.2.%d" % number
        self.records["host"][ref] = {
            "uuid": "host%d-uuid" % number, "name_label": "xs%d" % number, "hostname": "xs%d" % number,
            "address": address, "enabled": True, "metrics": "OpaqueRef:metrics%d" % number,
            "memory_overhead": "0", "software_version": {"xapi": xapi_version, "platform_version": "3.4.0"},
            "other_config": {"agent_start_time": "%d." % self.clock}, "tags": [], "name_description": "",
            "edition": "standard", "editions": ["trial", "standard", "premier"],
            "license_server": {"address": "localhost", "port": "27000"},
            "power_on_mode": "", "power_on_config": {},
        }
        self.records["host_metrics"]["OpaqueRef:metrics%d" % number] = {"uuid": "m%d" % number,
                                                                        "memory_total": str(64 * GIB), "live": True}
        self.add_vm("Control domain on host: xs%d" % number, ref, "Running", control_domain=True)
        endpoint = self.xapi.add_endpoint("https://%s/" % address)
        endpoint.records = self.records
        endpoint.handlers = self.handlers
        endpoint.master_address = None if number == 1 else "192.0.2.1"
        self.endpoints.append(endpoint)

    def add_vm(self, name, host_ref, power_state, control_domain=False, memory_gib=4):
        ref = "OpaqueRef:vm-%s" % name
        self.records["VM"][ref] = {
            "uuid": "uuid-%s" % name, "name_label": name, "power_state": power_state,
            "resident_on": host_ref if power_state in ("Running", "Paused") else NULL,
            "affinity": host_ref, "is_control_domain": control_domain, "is_a_template": False,
            "is_a_snapshot": False, "memory_target": str(memory_gib * GIB), "memory_overhead": "0",
            "memory_dynamic_max": str(memory_gib * GIB),
        }
        return ref

    def host(self, number):
        return self.records["host"]["OpaqueRef:host%d" % number]

    def vm(self, name):
        return self.records["VM"]["OpaqueRef:vm-%s" % name]

    def url(self, number=1):
        return "https://192.0.2.%d/" % number

    def writes(self):
        return [(method, args) for _url, method, args in self.xapi.calls
                if method.startswith(WRITE_PREFIXES) and not method.startswith(("host.get", "VM.get"))]

    def write_methods(self):
        return [method for method, _args in self.writes()]

    # ---- handlers ----

    def _register(self):
        sync = {
            "host.get_vms_which_prevent_evacuation": self.get_vms_which_prevent_evacuation,
            "host.get_record": lambda ref: self.records["host"][ref],
            "host.disable": self.disable,
            "host.enable": self.enable,
            "host.add_to_other_config": self.add_to_other_config,
            "host.remove_from_other_config": self.remove_from_other_config,
            "host.reboot": self.reboot,
            "host.shutdown": self.shutdown,
            "host.set_power_on_mode": self.set_power_on_mode,
            "host.set_name_label": lambda ref, value: self._set("host", ref, "name_label", value),
            "host.set_name_description": lambda ref, value: self._set("host", ref, "name_description", value),
            "host.add_tags": self.add_tags,
            "host.set_license_server": lambda ref, value: self._set("host", ref, "license_server", value),
            "host.apply_edition": self.apply_edition,
            "pool.designate_new_master": self.designate_new_master,
            "secret.create": self.secret_create,
            "secret.get_uuid": lambda ref: self.records["secret"][ref]["uuid"],
            "secret.get_by_uuid": self.secret_by_uuid,
            "secret.get_value": lambda ref: self.records["secret"][ref]["value"],
            "secret.destroy": lambda ref: self.records["secret"].pop(ref) and "",
            "event.from": self.event_from,
            "task.destroy": lambda ref: self.records["task"].pop(ref, None) and "",
            "task.cancel": lambda ref: "",
        }
        tasks = {
            "host.evacuate": self.evacuate,
            "host.power_on": self.power_on,
            "VM.pool_migrate": self.pool_migrate,
            "VM.start_on": self.start_on,
            "VM.resume_on": self.resume_on,
            "VM.clean_shutdown": self.shutdown_vm,
            "VM.hard_shutdown": self.shutdown_vm,
            "VM.suspend": self.suspend_vm,
        }
        for method, handler in sync.items():
            self.handlers[method] = self._failing(method, handler)
        for method, handler in tasks.items():
            self.handlers["Async." + method] = self._task(method, self._failing(method, handler))

    def meanwhile(self, method, change):
        """Run change() each time method is called, before it answers: what happens in the pool meanwhile
        (another client's work, a migration ending)."""
        handler = self.handlers[method]

        def call(*args):
            change()
            return handler(*args)
        self.handlers[method] = call

    def _failing(self, method, handler):
        def call(*args):
            if self.fail.get(method):
                raise self.Failure(self.fail.pop(method))
            return handler(*args)
        return call

    def _task(self, method, handler):
        def start(*args):
            ref = "OpaqueRef:task%d" % next(self.numbers)
            record = {"uuid": ref[10:], "status": "success", "result": "", "error_info": []}
            try:
                handler(*args)
            except self.Failure as failure:
                record.update(status="failure", error_info=list(failure.details))
            self.records["task"][ref] = record
            return ref
        return start

    def _set(self, xapi_class, ref, field, value):
        self.records[xapi_class][ref][field] = value
        return ""

    def event_from(self, classes, token, timeout):
        if token:
            # Nothing changes between two calls in this fake: the caller waited the whole timeout.
            self.xapi.now += float(timeout)
        events = []
        for subscription in classes:
            xapi_class, _sep, ref = subscription.partition("/")
            name = next((key for key in self.records if key.lower() == xapi_class.lower()), xapi_class)
            for each_ref, record in self.records.get(name, {}).items():
                if not ref or ref == each_ref:
                    events.append({"class": xapi_class, "operation": "add", "ref": each_ref, "snapshot": dict(record)})
        return {"events": events, "token": "1", "valid_ref_counts": {}}

    def get_vms_which_prevent_evacuation(self, host):
        return dict((vm, details) for vm, details in self.blockers.items()
                    if self.records["VM"][vm]["resident_on"] == host)

    def disable(self, host, *auto_enable):
        if auto_enable and not self.auto_enable:
            raise self.Failure(["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.disable", "2", "3"])
        if auto_enable and auto_enable[0] is False:
            self.persistent_disabled.add(host)
        self.records["host"][host]["enabled"] = False
        return ""

    def enable(self, host):
        self.persistent_disabled.discard(host)
        self.records["host"][host]["enabled"] = True
        return ""

    def add_to_other_config(self, host, key, value):
        other_config = self.records["host"][host]["other_config"]
        if key in other_config:
            raise self.Failure(["MAP_DUPLICATE_KEY", "host", "other_config", host, key])
        other_config[key] = value
        return ""

    def remove_from_other_config(self, host, key):
        self.records["host"][host]["other_config"].pop(key, None)
        return ""

    def add_tags(self, host, value):
        if value not in self.records["host"][host]["tags"]:
            self.records["host"][host]["tags"].append(value)
        return ""

    def apply_edition(self, host, edition, force=False):
        if edition not in self.records["host"][host]["editions"]:
            raise self.Failure(["INVALID_EDITION", edition])
        self.records["host"][host]["edition"] = edition
        return ""

    def live(self, host):
        return self.records["host_metrics"][self.records["host"][host]["metrics"]]["live"]

    def set_live(self, host, value):
        self.records["host_metrics"][self.records["host"][host]["metrics"]]["live"] = value

    def _restart(self, host):
        self.clock += 10
        self.records["host"][host]["other_config"]["agent_start_time"] = "%d." % self.clock

    def evacuate(self, host, network=None):
        targets = [ref for ref, record in sorted(self.records["host"].items())
                   if ref != host and record["enabled"] and self.live(ref)]
        movable = [ref for ref, vm in self.records["VM"].items()
                   if vm["resident_on"] == host and not vm["is_control_domain"]]
        if movable and not targets:
            raise self.Failure(["NO_HOSTS_AVAILABLE", movable[0]])
        for index, ref in enumerate(sorted(movable)):
            self.records["VM"][ref]["resident_on"] = targets[index % len(targets)]
        self.evacuated_with = network
        return ""

    def pool_migrate(self, vm, host, options):
        self.records["VM"][vm]["resident_on"] = host
        return ""

    def start_on(self, vm, host, paused, force):
        if not self.records["host"][host]["enabled"]:
            raise self.Failure(["HOST_DISABLED", host])
        self.records["VM"][vm].update(power_state="Running", resident_on=host)
        return ""

    resume_on = start_on

    def shutdown_vm(self, vm):
        self.records["VM"][vm].update(power_state="Halted", resident_on=NULL)
        return ""

    def suspend_vm(self, vm):
        self.records["VM"][vm].update(power_state="Suspended", resident_on=NULL)
        return ""

    def designate_new_master(self, host):
        old = self.records["pool"]["OpaqueRef:pool"]["master"]
        self.records["pool"]["OpaqueRef:pool"]["master"] = host
        self._restart(old)
        self._restart(host)
        address = self.records["host"][host]["address"]
        for endpoint in self.endpoints:
            endpoint.master_address = None if endpoint.url == "https://%s/" % address else address
        return ""

    def reboot(self, host):
        if self.records["host"][host]["enabled"]:
            raise self.Failure(["HOST_NOT_DISABLED"])
        if self.reboot_comes_back:
            self._restart(host)
            self.records["host"][host]["enabled"] = host not in self.persistent_disabled
        else:
            self.set_live(host, False)
        return ""

    def shutdown(self, host):
        if self.records["host"][host]["enabled"]:
            raise self.Failure(["HOST_NOT_DISABLED"])
        self.set_live(host, False)
        return ""

    def power_on(self, host):
        record = self.records["host"][host]
        if self.live(host):
            raise self.Failure(["HOST_IS_LIVE", host])
        if not record["power_on_mode"]:
            raise self.Failure(["HOST_POWER_ON_MODE_DISABLED"])
        if record["power_on_mode"] == "IPMI":
            secret = self.secret_by_uuid(record["power_on_config"].get("power_on_password_secret", ""))
            if self.records["secret"][secret]["value"] != self.bmc_password:
                raise self.Failure(["XENAPI_PLUGIN_FAILURE", "main", "", "ipmitool: Unable to establish IPMI v2 session"])
        self.set_live(host, True)
        self._restart(host)
        record["enabled"] = host not in self.persistent_disabled
        return ""

    def set_power_on_mode(self, host, mode, config):
        record = self.records["host"][host]
        for key, value in record["power_on_config"].items():
            if key.endswith("password_secret"):
                for ref, secret in list(self.records["secret"].items()):
                    if secret["uuid"] == value:
                        del self.records["secret"][ref]
        record.update(power_on_mode=mode, power_on_config=dict(config))
        return ""

    def secret_create(self, args):
        number = next(self.numbers)
        ref = "OpaqueRef:secret%d" % number
        self.records["secret"][ref] = {"uuid": "secret%d-uuid" % number, "value": args["value"],
                                       "other_config": args.get("other_config", {})}
        return ref

    def secret_by_uuid(self, uuid):
        for ref, secret in self.records["secret"].items():
            if secret["uuid"] == uuid:
                return ref
        raise self.Failure(["UUID_INVALID", "secret", uuid])
