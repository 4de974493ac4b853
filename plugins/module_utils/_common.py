# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""What every module reads out of the records it fetched in bulk ({class: {ref: record}}).

The pool and its master, the hosts in display order, whether a host is live, when its toolstack
started and how much memory its running VMs use, which VMs are guests, the pool as xs_pool_info
returns it, power-on settings without secrets, and the other_config keys to remove and add to reach
a wanted state. Plain functions; nothing here talks to XAPI.
"""

from __future__ import annotations

NULL_REF = "OpaqueRef:NULL"

# VM power states in which a VM holds memory on its host.
RUNNING_POWER_STATES = ("Running", "Paused")


def the_pool(records):
    """The pool record (XAPI has exactly one, also for a standalone host)."""
    return next(iter(records["pool"].values()))


def master_ref(records):
    return the_pool(records).get("master")


def hosts_in_order(records, master_last=False):
    """Host refs, the master first (or last: pool members are changed before the master, whose
    connection carries the session), then by name."""
    master = master_ref(records)
    return sorted(records["host"],
                  key=lambda ref: ((ref == master) == master_last, records["host"][ref].get("name_label", "")))


def is_live(records, host_ref):
    host = records["host"].get(host_ref, {})
    return bool(records.get("host_metrics", {}).get(host.get("metrics"), {}).get("live", False))


def to_int(value, default=None):
    """An int from a record field (XML-RPC may deliver numbers as strings); default when it is none."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def is_guest(vm):
    """Whether a VM record is a guest: not a control domain, template or snapshot."""
    return not (vm.get("is_control_domain") or vm.get("is_a_template") or vm.get("is_a_snapshot"))


def running_vms(records, host_ref):
    """The VM records using memory on the host right now, the control domain included."""
    return [vm for vm in records.get("VM", {}).values()
            if vm.get("resident_on") == host_ref and vm.get("power_state") in RUNNING_POWER_STATES]


def memory_used(records, host_ref):
    """The host's own overhead plus what its running VMs use (control domain included), in bytes."""
    return to_int(records["host"][host_ref].get("memory_overhead"), 0) + sum(
        _vm_memory(vm) for vm in running_vms(records, host_ref))


def _vm_memory(vm):
    # memory_target is what the balloon driver aims at for a running VM; 0 when unknown.
    target = to_int(vm.get("memory_target"), 0) or to_int(vm.get("memory_dynamic_max"), 0)
    return to_int(vm.get("memory_overhead"), 0) + target


def memory_free(records, host_ref):
    """Host memory minus memory_used(). Computed from the records because host_metrics.memory_free no
    longer exists in XAPI, and asking each host would cost one call per host."""
    metrics = records.get("host_metrics", {}).get(records["host"][host_ref].get("metrics"), {})
    return to_int(metrics.get("memory_total"), 0) - memory_used(records, host_ref)


def agent_start_time(host):
    """other_config:agent_start_time, when the host's toolstack last started, as a float ("1700000000." on
    the wire); None when absent."""
    text = str((host.get("other_config") or {}).get("agent_start_time", "")).strip()
    try:
        return float(text.rstrip(".") or "x")
    except ValueError:
        return None


def started_after(host, before):
    """Whether the host's toolstack started after `before` (an agent_start_time, may be None)."""
    now = agent_start_time(host)
    return now is not None and (before is None or now > before)


def sr_name(srs, ref):
    """An SR as {name, uuid}, or None when ref is not an SR (NULL, or gone)."""
    sr = srs.get(ref)
    return None if sr is None else dict(name=sr.get("name_label", ""), uuid=sr.get("uuid", ""))


def pool_summary(records):
    """The pool object as xs_pool_info returns it."""
    pool = the_pool(records)
    master = records["host"].get(pool.get("master"), {})
    srs = records.get("SR", {})
    return dict(
        uuid=pool.get("uuid", ""),
        name=pool.get("name_label", ""),
        description=pool.get("name_description", ""),
        master=master.get("name_label"),
        master_uuid=master.get("uuid"),
        master_address=master.get("address"),
        default_sr=sr_name(srs, pool.get("default_SR")),
        suspend_image_sr=sr_name(srs, pool.get("suspend_image_SR")),
        crash_dump_sr=sr_name(srs, pool.get("crash_dump_SR")),
        ha=dict(
            enabled=bool(pool.get("ha_enabled")),
            host_failures_to_tolerate=pool.get("ha_host_failures_to_tolerate", 0),
            cluster_stack=pool.get("ha_cluster_stack", ""),
        ),
        tags=list(pool.get("tags", [])),
    )


def holds_secret(key):
    """Whether a power_on_config key holds a password or names a XAPI secret (power_on_password_secret)."""
    return "password" in key.lower() or "secret" in key.lower()


def public_power_on_config(config):
    """power_on_config without the keys that hold or name secrets."""
    return dict((key, value) for key, value in (config or {}).items() if not holds_secret(key))


def other_config_changes(current, wanted, keys=None):
    """(keys to remove, {key: value} to add) turning `current` into `wanted`, over `keys` (default: every key
    of either). A changed key is removed and added again: add_to_other_config refuses an existing key."""
    remove, add = [], {}
    for key in keys if keys is not None else sorted(set(current) | set(wanted)):
        old, new = current.get(key), wanted.get(key)
        if old == new:
            continue
        if old is not None:
            remove.append(key)
        if new is not None:
            add[key] = new
    return remove, add
