# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Host maintenance: the steps xs_maintenance and xs_host_power share.

Entering (XenCenter's procedure, seeds 000/002): find the VMs that would block the evacuation and
refuse (or shut down / suspend them), hand the master role to another host, record the resident
VMs in the host's other_config with XenCenter's keys, disable the host, evacuate it, wait until no
VM is resident. Leaving: enable the host, bring the recorded VMs back, clear the records.

The plain functions at the top work on records fetched once ({class: {ref: record}}) and are unit
tested one by one; the Maintenance class sequences the XAPI calls.
"""

from __future__ import annotations

import time

from ansible_collections.xenserver.pools.plugins.module_utils._common import (
    RUNNING_POWER_STATES,
    is_guest,
    is_live,
    master_ref,
    memory_free,
    other_config_changes,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    ConnectionFailedError,
    InvalidParameterError,
    RequestTimeoutError,
    XapiError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._pool_membership import (
    designate_new_master,
    is_migrating,
    match_hosts,
)

# XenCenter's records (xenadmin Host.SaveEvacuatedVMs / EvacuateHostAction): comma-separated uuids.
KEY_MODE = "MAINTENANCE_MODE"
KEY_MIGRATED = "MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED"
KEY_HALTED = "MAINTENANCE_MODE_EVACUATED_VMS_HALTED"
KEY_SUSPENDED = "MAINTENANCE_MODE_EVACUATED_VMS_SUSPENDED"
LIST_KEYS = {"migrated": KEY_MIGRATED, "halted": KEY_HALTED, "suspended": KEY_SUSPENDED}
RECORD_KEYS = (KEY_MODE, KEY_MIGRATED, KEY_HALTED, KEY_SUSPENDED)

# One get_all_records per class, whatever the pool size.
CLASSES = ("pool", "host", "host_metrics", "VM")

# How long an evacuation waits for another host's VMs to start coming back (normally a second or two):
# a host that stays marked longer was enabled by hand or failed to leave, and is not waited for.
RETURN_START_SECONDS = 30.0

# host.disable(host, auto_enable) exists from xapi 25.31.0; earlier hosts re-enable themselves after a
# toolstack restart or reboot, so the disable must be repeated by us afterwards.
PERSISTENT_DISABLE_XAPI = (25, 31)

BLOCKED_VMS_CHOICES = ("refuse", "shutdown", "suspend")
# A clean shutdown these codes refuse is done hard (no guest agent to ask).
HARD_SHUTDOWN_CODES = ("VM_MISSING_PV_DRIVERS", "VM_LACKS_FEATURE", "VM_LACKS_FEATURE_SHUTDOWN",
                       "VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT")

# host.get_vms_which_prevent_evacuation codes, in words. "{vm}" is the VM, "{0}", "{1}"... the error's
# parameters after the VM (refs replaced by names where known). The raw code is added after the text.
BLOCKER_REASONS = {
    "VM_REQUIRES_SR": "it has a disk on storage repository {0}, a local disk the other hosts cannot reach",
    "VM_REQUIRES_VDI": "it needs virtual disk {0} that the other hosts cannot reach",
    "HOST_NOT_ENOUGH_FREE_MEMORY": "no other enabled host has enough free memory for it",
    "NO_HOSTS_AVAILABLE": "no other enabled host can run it (not enough free memory elsewhere, or the other "
                          "hosts are disabled or offline)",
    "VM_HAS_PCI_ATTACHED": "it uses a PCI device of this host (passthrough)",
    "VM_HAS_VGPU": "it uses a virtual GPU of this host (passthrough)",
    "VM_HAS_SRIOV_VIF": "it has an SR-IOV network interface on this host's NIC (passthrough)",
    "VM_HAS_VUSBS": "it uses a USB device of this host (passthrough)",
    "VM_REQUIRES_GPU": "it needs a GPU that no other host has",
    "VM_REQUIRES_VGPU": "it needs a virtual GPU type that no other host offers",
    "VM_REQUIRES_VUSB": "it needs a USB device that no other host has",
    "VM_REQUIRES_NETWORK": "it is connected to network {0} that no other host has",
    "HOST_CANNOT_ATTACH_NETWORK": "host {host} cannot attach network {1} that it uses",
    "HOST_EVACUATE_VM_NOT_HA_PROTECTED": "HA is enabled and it is not protected by HA, so XAPI will not move "
                                         "it (protect it with a restart priority, or shut it down)",
    "VM_LACKS_FEATURE": "its guest has no PV drivers / guest tools, which live migration needs",
    "VM_MISSING_PV_DRIVERS": "its guest has no PV drivers / guest tools, which live migration needs",
    "VM_IS_IMMOBILE": "it is marked as not movable (nomigrate or nested virtualisation)",
    "VM_IS_USING_NESTED_VIRT": "it uses nested virtualisation, which cannot be live migrated",
    "VM_HOST_INCOMPATIBLE_VERSION": "no other host runs a version it can move to",
    "VM_INCOMPATIBLE_WITH_THIS_HOST": "it is not compatible with the other hosts ({1})",
    "OTHER_OPERATION_IN_PROGRESS": "another operation is running on it",
    "OPERATION_NOT_ALLOWED": "XAPI does not allow moving it now ({0})",
}
UNKNOWN_BLOCKER = "XAPI will not move it"


class MaintenanceError(XenServerError):
    """A maintenance step was refused or failed; str() says why and what state the host is left in."""


# --- plain functions over records -----------------------------------------------------------------


def find_host(records, wanted):
    """The host ref for a uuid, name (name_label or hostname) or management address (match_hosts)."""
    text = (wanted or "").strip()
    if not text:
        raise InvalidParameterError("host is empty: give the name, uuid or address of a host of the pool.")
    hosts = records["host"]
    how, found = match_hosts(records, text)
    if len(found) > 1:
        raise InvalidParameterError("host %r matches %d hosts by %s (uuids %s): give the uuid instead."
                                    % (text, len(found), how, ", ".join(hosts[ref]["uuid"] for ref in found)))
    if not found:
        names = sorted(host.get("name_label", "") for host in hosts.values())
        raise InvalidParameterError("host %r is not a host of this pool; its hosts are: %s (name, uuid or address)."
                                    % (text, ", ".join(names)))
    return found[0]


def host_name(records, ref):
    host = records["host"].get(ref)
    return host.get("name_label") or host["uuid"] if host else ref


def vm_label(vm):
    return "%s (%s)" % (vm.get("name_label", ""), vm.get("uuid", ""))


def resident_vms(records, host_ref):
    """Refs of the guest VMs running (or paused) on the host, by name."""
    vms = records["VM"]
    found = [ref for ref, vm in vms.items()
             if vm.get("resident_on") == host_ref and is_guest(vm) and vm.get("power_state") in RUNNING_POWER_STATES]
    return sorted(found, key=lambda ref: vms[ref].get("name_label", ""))


def maintenance_records(host):
    """What a host's other_config says: {"mode": bool, "migrated": [uuid], "halted": [...], "suspended": [...]}."""
    other_config = host.get("other_config") or {}
    result = dict(mode=str(other_config.get(KEY_MODE, "")).lower() == "true")
    for name, key in LIST_KEYS.items():
        result[name] = [uuid.strip() for uuid in str(other_config.get(key, "")).split(",") if uuid.strip()]
    return result


def has_records(host):
    records = maintenance_records(host)
    return records["mode"] or any(records[name] for name in LIST_KEYS)


def is_in_maintenance(records, host_ref, master_handover=False):
    """The desired end state of entering: recorded, disabled, nothing resident (and no longer master)."""
    host = records["host"][host_ref]
    if not maintenance_records(host)["mode"] or host.get("enabled") or resident_vms(records, host_ref):
        return False
    return not (master_handover and master_ref(records) == host_ref and len(records["host"]) > 1)


def is_active(records, host_ref):
    """The desired end state of leaving: enabled and no maintenance records left."""
    host = records["host"][host_ref]
    return bool(host.get("enabled")) and not has_records(host)


def leaving_vms(records, host_ref):
    """Resident VMs already migrating away, for example going back to another host after its maintenance."""
    vms = records["VM"]
    return [ref for ref in resident_vms(records, host_ref) if is_migrating(vms[ref])]


def returns_not_started(records, host_ref, leaving_ref=None):
    """Other hosts leaving maintenance, their VMs' migrations back not yet started (leave() removes the mark
    once they are, and they then hold their memory): the hosts enabled again but still marked, and leaving_ref,
    a host the caller knows is leaving (in an Ansible async task, say), while it is marked, enabled or not yet."""
    return sorted(host_name(records, ref) for ref, host in records["host"].items()
                  if ref != host_ref and maintenance_records(host)["mode"] and (host.get("enabled") or ref == leaving_ref))


def returning(records, host_ref, leaving_ref=None):
    """VMs leaving this host, or another host's VMs about to come back: an evacuation waits for them."""
    return bool(leaving_vms(records, host_ref) or returns_not_started(records, host_ref, leaving_ref))


def version_tuple(text):
    """"25.31" -> (25, 31); "1.249.42" -> (1, 249, 42); None when it is not dotted digits."""
    try:
        return tuple(int(part) for part in str(text).split("."))
    except ValueError:
        return None


def xapi_version(host):
    return version_tuple((host.get("software_version") or {}).get("xapi", ""))


def supports_persistent_disable(host):
    """Whether host.disable takes auto_enable (xapi 25.31.0 and later)."""
    version = xapi_version(host)
    return version is not None and version >= PERSISTENT_DISABLE_XAPI


def choose_new_master(records, host_ref, wanted=None):
    """The host to hand the master role to: the named one, or the live, enabled host with most free memory."""
    hosts = records["host"]
    name = host_name(records, host_ref)
    if wanted:
        target = find_host(records, wanted)
        if target == host_ref:
            raise InvalidParameterError("new_master %r is host %s itself: name another host of the pool." % (wanted, name))
        problems = [word for word, bad in (("not live", not is_live(records, target)),
                                           ("disabled", not hosts[target].get("enabled"))) if bad]
        if problems:
            raise InvalidParameterError("new_master %s cannot take the master role: it is %s; name a live, enabled host."
                                        % (host_name(records, target), " and ".join(problems)))
        return target
    candidates = [ref for ref, host in hosts.items()
                  if ref != host_ref and host.get("enabled") and is_live(records, ref)]
    if not candidates:
        raise MaintenanceError(
            "Cannot hand the master role of host %s to another host: no other host is live and enabled. Nothing was "
            "changed. Bring another host back into service, or set master_handover: false to keep the master role "
            "on %s." % (name, name))
    return sorted(candidates, key=lambda ref: (-memory_free(records, ref), hosts[ref].get("name_label", "")))[0]


def _names_of_refs(records, extra_names):
    """{ref: display name} for hosts, VMs and whatever extra_names holds (SRs, networks...)."""
    names = dict(extra_names or {})
    for ref, host in records.get("host", {}).items():
        names[ref] = "%s" % (host.get("name_label") or host.get("uuid"))
    for ref, vm in records.get("VM", {}).items():
        names[ref] = "'%s'" % vm.get("name_label", "")
    return names


def describe_blocker(records, vm_ref, details, extra_names=None):
    """One blocking VM as a dict: vm (name), uuid, code, params, reason (a sentence in words)."""
    details = [str(item) for item in (details or ["UNKNOWN"])]
    code, params = details[0], details[1:]
    names = _names_of_refs(records, extra_names)
    # Most codes put the VM first; drop it so that {0} is the first parameter about something else.
    rest = params[1:] if params and params[0] == vm_ref else params
    shown = [names.get(param, param) for param in rest] + ["(not given)"] * 4
    template = BLOCKER_REASONS.get(code, UNKNOWN_BLOCKER)
    host_ref = rest[0] if rest else ""
    reason = template.format(*shown, host=names.get(host_ref, host_ref))
    vm = records["VM"].get(vm_ref, {})
    return dict(vm=vm.get("name_label", vm_ref), uuid=vm.get("uuid", ""), code=code, params=rest,
                reason="%s [%s]" % (reason, code))


def blockers_sentence(blockers):
    return "; ".join("VM '%s' (%s): %s" % (item["vm"], item["uuid"], item["reason"]) for item in blockers)


def refusal_message(name, blockers):
    return ("Cannot put host %s into maintenance: %d VM%s would block the evacuation: %s. Nothing was changed. "
            "Move or shut down these VMs first, or set blocked_vms: shutdown (or suspend) to have them shut down "
            "(suspended) now and started (resumed) on this host again when it leaves maintenance."
            % (name, len(blockers), "" if len(blockers) == 1 else "s", blockers_sentence(blockers)))


def planned_records(records, host_ref, blocked, blocked_vms):
    """The lists to record on entering: what is recorded already plus what is resident now.

    blocked: {vm ref: blocker} handled by blocked_vms (shutdown -> halted list, suspend -> suspended list).
    """
    vms = records["VM"]
    current = maintenance_records(records["host"][host_ref])
    lists = dict((name, list(current[name])) for name in LIST_KEYS)
    known = set(uuid for name in LIST_KEYS for uuid in lists[name])
    for ref in resident_vms(records, host_ref):
        uuid = vms[ref]["uuid"]
        if ref in blocked:
            target = "halted" if blocked_vms == "shutdown" else "suspended"
            for name in LIST_KEYS:  # a VM recorded as migrated by an earlier run is now handled differently
                if uuid in lists[name] and name != target:
                    lists[name].remove(uuid)
            if uuid not in lists[target]:
                lists[target].append(uuid)
        elif uuid not in known:
            lists["migrated"].append(uuid)
    return lists


def vm_by_uuid(records, uuid):
    for ref, vm in records["VM"].items():
        if vm.get("uuid") == uuid:
            return ref
    return None


def restore_plan(records, host_ref):
    """What leaving does for each recorded VM: a list of dicts (uuid, ref, name, recorded, action, reason).

    action: migrate | start | resume | none (already home, or cannot be brought back: see reason).
    """
    lists = maintenance_records(records["host"][host_ref])
    plan = []
    for recorded in ("migrated", "halted", "suspended"):
        for uuid in lists[recorded]:
            ref = vm_by_uuid(records, uuid)
            vm = records["VM"].get(ref, {}) if ref else {}
            item = dict(uuid=uuid, ref=ref, name=vm.get("name_label", ""), recorded=recorded, action="none", reason="")
            state = vm.get("power_state")
            if ref is None:
                item["reason"] = "the VM no longer exists"
            elif state in RUNNING_POWER_STATES:
                if vm.get("resident_on") == host_ref:
                    item["reason"] = "already running on this host"
                else:
                    item["action"] = "migrate"
            elif recorded == "halted" and state == "Halted":
                item["action"] = "start"
            elif recorded == "suspended" and state == "Suspended":
                item["action"] = "resume"
            else:
                item["reason"] = ("it is %s now although it was %s: it was changed by someone else during the "
                                  "maintenance, so it is left as it is"
                                  % (state, {"migrated": "running", "halted": "shut down by us",
                                             "suspended": "suspended by us"}[recorded]))
            plan.append(item)
    return plan


def records_to_other_config(lists, mode):
    """The XenCenter keys for lists {migrated, halted, suspended}; empty lists are left out."""
    wanted = {}
    if mode:
        wanted[KEY_MODE] = "true"
    for name, key in LIST_KEYS.items():
        if lists.get(name):
            wanted[key] = ",".join(lists[name])
    return wanted


def blocker_from_error(records, error, extra_names=None):
    """A per-VM evacuation error (code [vm, ...]) in words, or None when the error names no VM."""
    params = list(getattr(error, "params", []) or [])
    if params and params[0] in records.get("VM", {}):
        return describe_blocker(records, params[0], [error.code] + params, extra_names)
    return None


# --- the steps ---------------------------------------------------------------------------------


class Maintenance(object):
    """Enter and leave maintenance for one host, through an XapiClient.

    options: blocked_vms (refuse|shutdown|suspend), migration_network (name or uuid, or None),
    master_handover (bool), new_master (name/uuid/address or None), restore_vms (bool),
    restore_strict (bool), host_leaving_maintenance (name/uuid/address or None). In check mode nothing
    is written; the report says what would happen.
    """

    def __init__(self, client, options, check_mode=False):
        self.client = client
        self.options = dict(blocked_vms="refuse", migration_network=None, master_handover=True, new_master=None,
                            restore_vms=True, restore_strict=False, host_leaving_maintenance=None)
        self.options.update(dict((key, value) for key, value in (options or {}).items() if key in self.options))
        if self.options["blocked_vms"] not in BLOCKED_VMS_CHOICES:
            raise InvalidParameterError("blocked_vms must be one of %s." % ", ".join(BLOCKED_VMS_CHOICES))
        self.check_mode = check_mode
        self.persistent_disable = None  # set by disable(): True when auto_enable=false was accepted
        self.leaving_ref = None  # the host of host_leaving_maintenance, found by enter()
        self.report = dict(changed=False, actions=[], vms=[], vms_not_restored=[], blocked_vms=[], master_handover=None)

    # ---- small helpers ----

    def act(self, text):
        self.report["changed"] = True
        self.report["actions"].append(text if not self.check_mode else "would " + text)

    def read(self):
        return self.client.get_all_records_of(CLASSES)

    def _host_call(self, method, host_ref, records, *args, **kwargs):
        action = "%s on host %s" % (method, host_name(records, host_ref))
        return self.client.write(method, host_ref, *args, action=action[:1].upper() + action[1:], **kwargs)

    # ---- entering ----

    def enter(self, host_ref, records=None):
        """Put the host into maintenance. Returns the report; raises MaintenanceError on refusal or failure."""
        records = records or self.read()
        name = host_name(records, host_ref)
        if is_in_maintenance(records, host_ref, self.options["master_handover"]):
            return self.report
        if not is_live(records, host_ref):
            raise MaintenanceError("Cannot put host %s into maintenance: it is not live (offline or still booting). "
                                   "Nothing was changed. Power it on or wait until it is back, then retry." % name)
        if self.options["host_leaving_maintenance"]:
            self.leaving_ref = find_host(records, self.options["host_leaving_maintenance"])
        # XAPI names a VM that is migrating as blocking the evacuation (OTHER_OPERATION_IN_PROGRESS)
        # and plans without the memory of returns not yet started: ask it once they are under way.
        if returning(records, host_ref, self.leaving_ref):
            records = self._wait_for_returns(records, host_ref)
        blocked = self._blockers(records, host_ref)
        if any(item["code"] == "OTHER_OPERATION_IN_PROGRESS" for item in blocked.values()):
            fresh = self.read()  # a return may have started between the read and the question
            if returning(fresh, host_ref, self.leaving_ref):
                records = self._wait_for_returns(fresh, host_ref)
                blocked = self._blockers(records, host_ref)
        if blocked and self.options["blocked_vms"] == "refuse":
            raise MaintenanceError(refusal_message(name, list(blocked.values())))
        self.report["blocked_vms"] = list(blocked.values())
        network = self._migration_network()
        handover_to = None
        if self.options["master_handover"] and master_ref(records) == host_ref and len(records["host"]) > 1:
            handover_to = choose_new_master(records, host_ref, self.options["new_master"])
        if handover_to:
            self.report["master_handover"] = dict(old=name, new=host_name(records, handover_to))
            self.act("hand the master role from %s to %s" % (name, host_name(records, handover_to)))
            if not self.check_mode:
                records = self.hand_over_master(records, handover_to)
        lists = planned_records(records, host_ref, blocked, self.options["blocked_vms"])
        self._write_records(records, host_ref, lists, True,
                            "record maintenance mode and the VMs of host %s in its other_config")
        if self.check_mode:
            self._plan_report(records, host_ref, lists, blocked)
            if records["host"][host_ref].get("enabled"):
                self.act("disable host %s" % name)
            if resident_vms(records, host_ref):
                self.act("evacuate host %s" % name)
            return self.report
        try:
            if records["host"][host_ref].get("enabled"):
                self.act("disable host %s" % name)
                self.disable(host_ref, records)
            self._handle_blocked(records, host_ref, blocked)
            records = self._evacuate(records, host_ref, network)
        except (ConnectionFailedError, RequestTimeoutError) as error:
            # We cannot tell what XAPI did: leave everything as it is, the records let a new run finish.
            raise MaintenanceError(
                "%s Host %s is left as it is (disabled, part of its VMs may have moved); its other_config records "
                "which VMs were moved, so running the task again finishes the maintenance from there, and "
                "state: active brings them back." % (error, name)) from error
        except XapiError as error:
            raise MaintenanceError(self._rollback_after(records, host_ref, error)) from error
        self._ensure_disabled(records, host_ref)
        return self.report

    def _blockers(self, records, host_ref):
        """{vm ref: blocker dict} for the VMs XAPI would not move (one read, only when VMs are resident)."""
        if not resident_vms(records, host_ref):
            return {}
        answer = self.client.read("host.get_vms_which_prevent_evacuation", host_ref,
                                  action="Checking which VMs prevent evacuating host %s" % host_name(records, host_ref))
        if not answer:
            return {}
        extra = self._extra_names(answer.values())
        return dict((vm_ref, describe_blocker(records, vm_ref, details, extra))
                    for vm_ref, details in sorted(answer.items(), key=lambda item: records["VM"].get(item[0], {}).get("name_label", "")))

    def _extra_names(self, detail_lists):
        """Names of the SRs and networks that blocker details mention (read only when needed)."""
        refs = set(param for details in detail_lists for param in list(details)[1:] if str(param).startswith("OpaqueRef:"))
        names = {}
        if not refs:
            return names
        for xapi_class in ("SR", "network"):
            try:
                for ref, record in self.client.get_all_records(xapi_class).items():
                    if ref in refs:
                        names[ref] = "'%s'" % record.get("name_label", ref)
            except XapiError:
                pass  # the names only make the message nicer
        return names

    def _migration_network(self):
        wanted = self.options["migration_network"]
        if not wanted:
            return None
        networks = self.client.get_all_records("network")
        for field in ("uuid", "name_label", "bridge"):
            found = [ref for ref, network in networks.items() if network.get(field) == wanted]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidParameterError("migration_network %r matches %d networks by %s: give its uuid."
                                            % (wanted, len(found), field))
        raise InvalidParameterError("migration_network %r is not a network of this pool; its networks are: %s."
                                    % (wanted, ", ".join(sorted(n.get("name_label", "") for n in networks.values()))))

    def _plan_report(self, records, host_ref, lists, blocked):
        vms = records["VM"]
        for ref in resident_vms(records, host_ref):
            vm = vms[ref]
            action = "migrated"
            if ref in blocked:
                action = "halted" if self.options["blocked_vms"] == "shutdown" else "suspended"
            self.report["vms"].append(dict(name=vm.get("name_label", ""), uuid=vm["uuid"], action=action,
                                           source=host_name(records, host_ref), destination=None))

    def hand_over_master(self, records, target):
        """Make target the pool master; the client continues through it. Returns the records read again."""
        designate_new_master(self.client, records, target)
        return self.read()

    def _write_records(self, records, host_ref, lists, mode, text):
        """Set the XenCenter keys of the host's other_config to lists/mode, touching no other key."""
        host = records["host"][host_ref]
        current = host.get("other_config") or {}
        wanted = records_to_other_config(lists, mode)
        remove, add = other_config_changes(current, wanted, RECORD_KEYS)
        if not remove and not add:
            return
        self.act(text % host_name(records, host_ref))
        if self.check_mode:
            return
        for key in remove:
            self._host_call("host.remove_from_other_config", host_ref, records, key, repeat_safe=True)
        for key, value in sorted(add.items()):
            self._host_call("host.add_to_other_config", host_ref, records, key, value)
        other_config = dict((key, value) for key, value in current.items() if key not in remove)
        other_config.update(add)
        host["other_config"] = other_config

    def disable(self, host_ref, records):
        """host.disable so that the host stays disabled across a reboot where the pool's version allows it."""
        host = records["host"][host_ref]
        if supports_persistent_disable(host):
            try:
                self._host_call("host.disable", host_ref, records, False, repeat_safe=True)
                self.persistent_disable = True
                host["enabled"] = False
                return
            except XapiError as error:
                if error.code != "MESSAGE_PARAMETER_COUNT_MISMATCH":
                    raise
        self._host_call("host.disable", host_ref, records, repeat_safe=True)
        self.persistent_disable = False
        host["enabled"] = False

    def _handle_blocked(self, records, host_ref, blocked):
        vms = records["VM"]
        for vm_ref in blocked:
            vm = vms[vm_ref]
            if vm.get("resident_on") != host_ref or vm.get("power_state") not in RUNNING_POWER_STATES:
                continue
            if self.options["blocked_vms"] == "suspend":
                self.act("suspend VM %s" % vm_label(vm))
                self.client.run_task("VM.suspend", vm_ref, what="suspending VM %s" % vm_label(vm))
                action = "suspended"
            else:
                self.act("shut down VM %s" % vm_label(vm))
                try:
                    self.client.run_task("VM.clean_shutdown", vm_ref, what="shutting down VM %s" % vm_label(vm))
                except XapiError as error:
                    if error.code not in HARD_SHUTDOWN_CODES:
                        raise
                    self.client.run_task("VM.hard_shutdown", vm_ref, what="forcing VM %s off" % vm_label(vm))
                action = "halted"
            self.report["vms"].append(dict(name=vm.get("name_label", ""), uuid=vm["uuid"], action=action,
                                           source=host_name(records, host_ref), destination=None))

    def _evacuate(self, records, host_ref, network):
        name = host_name(records, host_ref)
        if not resident_vms(records, host_ref):
            return records
        # Read again: the VMs handled as blockers are no longer resident, and new ones may have started.
        fresh = self.read()
        if returning(fresh, host_ref, self.leaving_ref):
            fresh = self._wait_for_returns(fresh, host_ref)
        moving = resident_vms(fresh, host_ref)
        if not moving:
            return fresh
        self.act("evacuate host %s" % name)
        # The network argument exists from xapi 1.297; it is only sent when asked for.
        args = (host_ref, network) if network else (host_ref,)
        self.client.run_task("host.evacuate", *args, what="evacuating host %s" % name)

        state = self.client.wait_for(["VM"], lambda state: not resident_vms({"VM": state.get("vm", {})}, host_ref),
                                     "no VM to be running on host %s" % name)
        after = dict(fresh)
        after["VM"] = state.get("vm", {})
        for ref in moving:
            vm = after["VM"].get(ref, fresh["VM"].get(ref, {}))
            destination = vm.get("resident_on")
            self.report["vms"].append(dict(
                name=vm.get("name_label", ""), uuid=vm.get("uuid", ""), action="migrated", source=name,
                destination=host_name(fresh, destination) if destination in fresh["host"] else None))
        return after

    def _wait_for_returns(self, records, host_ref):
        """Before evacuating, let the VMs of another host leaving maintenance start coming back, and those
        resident here finish leaving: the evacuation plan then counts the memory they hold, and does not
        try to move a VM that is already moving. Returns the records read again."""
        started = time.monotonic()

        def settled(state):
            current = dict(records, host=state.get("host", {}), VM=state.get("vm", {}))
            return not leaving_vms(current, host_ref) and (
                not returns_not_started(current, host_ref, self.leaving_ref)
                or time.monotonic() - started > RETURN_START_SECONDS)

        self.client.wait_for(["host", "VM"], settled, "the VMs of other hosts leaving maintenance to move (before "
                             "evacuating host %s)" % host_name(records, host_ref))
        return self.read()

    def _ensure_disabled(self, records, host_ref):
        """A toolstack restart during the steps re-enables a host disabled the old way: disable it again."""
        host = self.client.read("host.get_record", host_ref,
                                action="Reading host %s" % host_name(records, host_ref))
        if host.get("enabled"):
            self.act("disable host %s again (it re-enabled itself)" % host_name(records, host_ref))
            records["host"][host_ref]["enabled"] = True
            self.disable(host_ref, records)

    def _rollback_after(self, records, host_ref, error):
        """An XAPI error while entering: enable the host again and bring its VMs back; the message says why."""
        name = host_name(records, host_ref)
        fresh = self.read()
        blocker = blocker_from_error(fresh, error)
        # A per-VM error names the VM by ref: say which VM and why in words instead.
        why = ("evacuating it failed because of %s" % blockers_sentence([blocker])) if blocker else str(error)
        steps = []
        try:
            undo = Maintenance(self.client, dict(self.options, restore_strict=False))
            undo.leave(host_ref, fresh)
            self.report["actions"].extend("rollback: " + action for action in undo.report["actions"])
            self.report["vms_not_restored"] = undo.report["vms_not_restored"]
            steps.append("host %s is enabled again" % name)
            moved_back = list(undo.report["vms"])
            if moved_back:
                steps.append("%d VM%s brought back (%s)" % (len(moved_back), "" if len(moved_back) == 1 else "s",
                                                            ", ".join(vm["name"] for vm in moved_back)))
            if undo.report["vms_not_restored"]:
                steps.append("not brought back: %s" % "; ".join(
                    "%s: %s" % (vm["name"] or vm["uuid"], vm["reason"]) for vm in undo.report["vms_not_restored"]))
            undone = "; ".join(steps) + "."
        except XenServerError as undo_error:
            undone = ("undoing it failed too (%s): the host may still be disabled, and its other_config records "
                      "its VMs; run the task with state: active to bring it back." % undo_error)
        return "Putting host %s into maintenance failed: %s. Undone: %s" % (name, why, undone)

    # ---- leaving ----

    def leave(self, host_ref, records=None):
        """Take the host out of maintenance and bring the recorded VMs back. Returns the report."""
        records = records or self.read()
        name = host_name(records, host_ref)
        host = records["host"][host_ref]
        if is_active(records, host_ref):
            return self.report
        if not is_live(records, host_ref):
            raise MaintenanceError("Cannot take host %s out of maintenance: it is not live (offline or still booting). "
                                   "Nothing was changed. Power it on first (xenserver.pools.xs_host_power "
                                   "state: powered_on), then retry." % name)
        lists = maintenance_records(host)
        if not host.get("enabled"):
            self.act("enable host %s" % name)
            if not self.check_mode:
                self._host_call("host.enable", host_ref, records, repeat_safe=True)
                host["enabled"] = True
        started, failed = self._start_restore(records, host_ref) if self.options["restore_vms"] else ([], [])
        # The mark goes once the VMs' migrations hold their memory here: until then another host's
        # evacuation waits (returns_not_started), so that it does not take that memory.
        self._write_records(records, host_ref, lists, False, "remove " + KEY_MODE + " from host %s")
        self._wait_for_restore(records, name, started, failed)
        keep = dict((recorded, [item["uuid"] for item in failed if item["recorded"] == recorded]) for recorded in LIST_KEYS)
        if not self.options["restore_strict"]:
            keep = dict((recorded, []) for recorded in LIST_KEYS)
        self._write_records(records, host_ref, keep, False, "clear the VM records of host %s")
        if failed and self.options["restore_strict"]:
            raise MaintenanceError(
                "Host %s is enabled again, but %d VM%s could not be brought back: %s. They stay recorded in its "
                "other_config, so running the task again retries them." % (
                    name, len(failed), "" if len(failed) == 1 else "s",
                    "; ".join("%s (%s): %s" % (item["name"], item["uuid"], item["reason"]) for item in failed)))
        return self.report

    def _start_restore(self, records, host_ref):
        """Start bringing the recorded VMs back, all at once. Returns (started, failed): the tasks to wait
        for with _wait_for_restore, and the plan items that failed already (also put in the report).

        The host takes the migrations / starts / resumes in parallel, as an evacuation does. XAPI checks
        the host's free memory for each one, so a VM that no longer fits is refused on its own and
        reported; the others still come back.
        """
        name = host_name(records, host_ref)
        failed = []
        # action -> (method, arguments after vm and host, what we do, what we wait for, result action)
        calls = dict(
            migrate=("VM.pool_migrate", ({"live": "true"},), "migrate VM %s back to %s", "migrating VM %s back to %s",
                     "migrated"),
            start=("VM.start_on", (False, False), "start VM %s on %s", "starting VM %s on %s", "started"),
            resume=("VM.resume_on", (False, False), "resume VM %s on %s", "resuming VM %s on %s", "resumed"))
        started = []  # (task, item, what, done, source), in plan order
        for item in restore_plan(records, host_ref):
            label = "%s (%s)" % (item["name"], item["uuid"])
            if item["action"] == "none":
                if item["reason"] != "already running on this host":
                    self._not_restored(item, item["reason"], failed)
                continue
            method, extra, text, what, done = calls[item["action"]]
            vm = records["VM"][item["ref"]]
            source = host_name(records, vm.get("resident_on")) if vm.get("resident_on") in records["host"] else None
            self.act(text % (label, name))
            if self.check_mode:
                continue
            try:
                task = self.client.start_task(method, item["ref"], host_ref, *extra)
            except XapiError as error:
                self._not_restored_by(records, item, error, failed)
                continue
            started.append((task, item, what % (label, name), done, source))
        return started, failed

    def _wait_for_restore(self, records, name, started, failed):
        if not started:
            return
        outcomes = self.client.wait_for_tasks(
            dict((task, what) for task, _item, what, _done, _source in started),
            "%d VM%s to come back to host %s" % (len(started), "" if len(started) == 1 else "s", name))
        for task, item, _what, done, source in started:
            outcome = outcomes[task]
            if isinstance(outcome, XapiError):
                self._not_restored_by(records, item, outcome, failed)
                continue
            self.report["vms"].append(dict(name=item["name"], uuid=item["uuid"], action=done, source=source,
                                           destination=name))

    def _not_restored_by(self, records, item, error, failed):
        blocker = blocker_from_error(records, error)
        self._not_restored(item, blocker["reason"] if blocker else str(error), failed)

    def _not_restored(self, item, reason, failed):
        entry = dict(name=item["name"], uuid=item["uuid"], recorded=item["recorded"], reason=reason)
        self.report["vms_not_restored"].append(entry)
        failed.append(item)


# --- shared by the modules ---------------------------------------------------------------------


def maintenance_argument_spec():
    """Options of xs_maintenance that xs_host_power shares (documented in doc_fragments/_maintenance.py)."""
    return dict(
        blocked_vms=dict(type="str", default="refuse", choices=list(BLOCKED_VMS_CHOICES)),
        migration_network=dict(type="str"),
        master_handover=dict(type="bool", default=True),
        new_master=dict(type="str"),
        restore_vms=dict(type="bool", default=True),
        restore_strict=dict(type="bool", default=False),
        host_leaving_maintenance=dict(type="str"),
    )


def maintenance_options(params):
    return dict((key, params.get(key)) for key in maintenance_argument_spec())


def host_state(records, host_ref):
    """What the modules show of a host, before and after (diff)."""
    host = records["host"][host_ref]
    lists = maintenance_records(host)
    return dict(
        name=host.get("name_label", ""),
        uuid=host.get("uuid", ""),
        maintenance_mode=lists["mode"],
        enabled=bool(host.get("enabled")),
        live=is_live(records, host_ref),
        is_master=master_ref(records) == host_ref,
        resident_vms=[records["VM"][ref].get("name_label", "") for ref in resident_vms(records, host_ref)],
        recorded_vms=dict((name, list(lists[name])) for name in LIST_KEYS),
    )
