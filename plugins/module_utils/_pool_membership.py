# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Pool membership: what xs_pool_member and xs_pool share.

- Reading one side of a join (records in bulk plus the host's clock): read_side().
- Finding hosts by uuid, name, host name or address: match_hosts() (every module's one way to look a
  host up), find_host(), same_address().
- After a join: the PBD state of the pool's shared SRs on the new host, with the likely cause of an
  unplugged one (shared_sr_report), and the pool SR settings that point at non-shared SRs
  (non_shared_pool_srs).
- Before an eject: the safety checks (eject_checks), in the same shape as the join pre-flight checks.
- Handing the master role over and waiting until the pool runs under the new master
  (designate_new_master; xs_maintenance and xs_host_power use it too).
"""

from __future__ import annotations

import calendar
import datetime
import socket
import time
from urllib.parse import urlsplit

from ansible_collections.xenserver.pools.plugins.module_utils import _client
from ansible_collections.xenserver.pools.plugins.module_utils._common import (
    NULL_REF,
    agent_start_time,
    is_guest,
    is_live,
    master_ref,
    pool_summary,
    started_after,
    the_pool,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    ConnectionFailedError,
    InvalidParameterError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._join_prechecks import Side, result

GIB = 1024 ** 3
# VM.current_operations values of a VM moving to another host.
MIGRATIONS = frozenset(("pool_migrate", "migrate_send"))

# One get_all_records per class on each side: the number of calls does not grow with the pool.
CLASSES = ("pool", "host", "host_metrics", "PIF", "Bond", "VLAN", "tunnel", "network_sriov", "network", "SR",
           "PBD", "VDI", "VBD", "VM", "pool_update", "SM", "Cluster", "Cluster_host", "Certificate")
# Classes an older release (or a smaller XAPI) may not have: read as empty.
OPTIONAL_CLASSES = ("tunnel", "network_sriov", "pool_update", "SM", "Cluster", "Cluster_host", "Certificate")

# SR types whose "disks" are devices, not data (nothing is lost when the host leaves).
DEVICE_SR_TYPES = ("udev",)
# The pool's SR settings, as (record field, option name).
POOL_SR_FIELDS = (("default_SR", "default_sr"), ("suspend_image_SR", "suspend_image_sr"),
                  ("crash_dump_SR", "crash_dump_sr"))
# device_config keys that say where the storage is (never keys that hold secrets).
STORAGE_LOCATION_KEYS = ("server", "serverpath", "target", "targetIQN", "SCSIid", "location", "device")

# Indirection so that unit tests can drive the clock.
_now = time.time


# --- connecting and reading ---------------------------------------------------------------------

def open_client(params, hostname=None, username=None, password=None, follow_master=True):
    """A XapiClient with the module's TLS and timeout options, for another host or user."""
    return _client.XapiClient(hostname or params["hostname"], username or params["username"],
                              password if password is not None else params["password"], params["validate_certs"],
                              params["ca_path"], params["timeout"], follow_master=follow_master)


def parse_xapi_time(value):
    """Seconds since the epoch from a XAPI datetime (xmlrpc DateTime, string or datetime)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return calendar.timegm(value.timetuple())
        return value.timestamp()
    text = str(getattr(value, "value", value)).strip()
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        text = text[:-6]  # an offset such as +00:00: XAPI sends UTC
    text = text.split(".", maxsplit=1)[0].replace("-", "")
    return calendar.timegm(time.strptime(text, "%Y%m%dT%H:%M:%S"))


def clock_offset(client, host_ref):
    """(host clock minus controller clock in seconds, None) or (None, why it is unknown).

    The controller's time is taken halfway through the call, so the network round trip does not
    count as skew.
    """
    before = _now()
    try:
        value = client.read("host.get_servertime", host_ref)
    except XenServerError as error:
        return None, "host.get_servertime failed on %s: %s" % (client.url, getattr(error, "code", None) or error)
    after = _now()
    try:
        return parse_xapi_time(value) - (before + after) / 2.0, None
    except (TypeError, ValueError):
        return None, "host.get_servertime on %s answered %r, which is not a time" % (client.url, value)


def read_side(client, host_ref=None):
    """One side of a join (Side): every record of CLASSES plus the host's clock offset.

    Cluster objects are read only when the side has cluster members (one call fewer otherwise).
    """
    records = client.get_all_records_of([cls for cls in CLASSES if cls != "Cluster"], optional=OPTIONAL_CLASSES)
    records["Cluster"] = (client.get_all_records_of(["Cluster"], optional=OPTIONAL_CLASSES)["Cluster"]
                          if records.get("Cluster_host") else {})
    side = Side(records, host_ref)
    side.clock_offset, side.clock_error = clock_offset(client, side.host_ref)
    return side


# --- finding hosts ------------------------------------------------------------------------------

def bare_address(text):
    """The host part of an address that may carry a scheme and a port ("https://xs2:8443/" -> "xs2")."""
    text = (text or "").strip()
    if "://" in text:
        return urlsplit(text).hostname or text
    if text.count(":") == 1 and text.rsplit(":", 1)[1].isdigit():
        return text.rsplit(":", 1)[0]  # name:port (an IPv6 address has more colons)
    return text.strip("[]")


def _resolve(address, cache):
    if address not in cache:
        try:
            cache[address] = set(info[4][0] for info in socket.getaddrinfo(address, None))
        except (socket.gaierror, UnicodeError, OSError):
            cache[address] = set()
    return cache[address]


def same_address(first, second, cache=None):
    """Whether two addresses name the same machine: equal, or resolving to a common IP."""
    first, second = bare_address(first).lower(), bare_address(second).lower()
    if not first or not second:
        return False
    if first == second:
        return True
    cache = {} if cache is None else cache
    return bool(_resolve(first, cache) & _resolve(second, cache))


def match_hosts(records, text, by_name=True):
    """(how, refs): the hosts `text` names, by the first way that matches any host - its uuid, its name
    (name_label, when by_name), its host name, its management address, or a name that resolves to that
    address; a scheme and port around an address are ignored. ("", []) when nothing matches.

    The one way every module looks a host up; the modules differ only in what they say when nothing,
    or more than one host, matches.
    """
    text = (text or "").strip()
    if not text:
        return "", []
    bare = bare_address(text)
    wanted = bare.lower()
    cache = {}
    ways = [("uuid", lambda host: host.get("uuid") == bare),
            ("name_label", lambda host: by_name and host.get("name_label") == text),
            ("hostname", lambda host: (host.get("hostname") or "").lower() == wanted),
            ("address", lambda host: (host.get("address") or "").lower() == wanted),
            ("address", lambda host: bool(host.get("address")) and same_address(host["address"], wanted, cache))]
    hosts = records.get("host", {})
    for how, matches in ways:
        refs = sorted(ref for ref, host in hosts.items() if matches(host))
        if refs:
            return how, refs
    return "", []


def find_host(records, text, by_name=True):
    """The ref of the host that `text` names (match_hosts), or None when none does. Several hosts
    matching (a shared name) are refused: give the uuid or the address."""
    how, refs = match_hosts(records, text, by_name)
    if len(refs) > 1:
        raise InvalidParameterError("%d hosts of the pool %s %r: give the uuid or the address instead."
                                    % (len(refs), "are named" if how == "name_label" else "have the %s" % how, text))
    return refs[0] if refs else None


def host_facts(records, ref):
    """A host as the modules return it."""
    host = records["host"][ref]
    return dict(name=host.get("name_label", ""), uuid=host.get("uuid", ""), address=host.get("address", ""),
                is_master=(ref == master_ref(records)), live=is_live(records, ref), enabled=bool(host.get("enabled")),
                interfaces=physical_interfaces(records, ref))


def physical_interfaces(records, ref):
    """Device names of the host's physical interfaces (eth0, eth1...), sorted."""
    return sorted(pif.get("device", "") for pif in records.get("PIF", {}).values()
                  if pif.get("host") == ref and pif.get("physical"))


def pool_facts(records):
    """The pool object as xs_pool_info returns it, plus the settings xs_pool manages."""
    pool = the_pool(records)
    hosts = records["host"]
    srs = records.get("SR", {})
    vdis = records.get("VDI", {})
    facts = pool_summary(records)
    facts["ha"]["heartbeat_srs"] = sorted(srs[vdis[vdi]["SR"]].get("name_label", "")
                                          for vdi in statefile_vdis(pool, vdis) if vdis[vdi].get("SR") in srs)
    facts.update(
        tags=sorted(pool.get("tags", [])),
        other_config=dict(pool.get("other_config", {})),
        tls_verification_enabled=bool(pool.get("tls_verification_enabled", False)),
        ssl_legacy=any(host.get("ssl_legacy") for host in hosts.values()) if any(
            "ssl_legacy" in host for host in hosts.values()) else None,
        hosts=len(hosts),
    )
    return facts


def statefile_vdis(pool, vdis):
    """pool.ha_statefiles holds VDI refs (or uuids on some releases)."""
    by_uuid = dict((vdi.get("uuid"), ref) for ref, vdi in vdis.items())
    found = []
    for entry in pool.get("ha_statefiles") or []:
        ref = entry if entry in vdis else by_uuid.get(entry)
        if ref:
            found.append(ref)
    return found


# --- after a join -------------------------------------------------------------------------------

def non_shared_pool_srs(records):
    """[(field, option, SR ref)] of the pool's default/suspend/crash-dump SRs that are not shared.

    In a pool of several hosts such a setting points at one host's local disk: XenCenter clears
    them after a join, and so do we.
    """
    pool = the_pool(records)
    srs = records.get("SR", {})
    return [(field, option, pool.get(field)) for field, option in POOL_SR_FIELDS
            if pool.get(field) in srs and not srs[pool[field]].get("shared")]


def _ip_pifs(records, host_ref):
    """Attached interfaces of a host that have an IP address."""
    return [pif for pif in records.get("PIF", {}).values()
            if pif.get("host") == host_ref and pif.get("currently_attached") and pif.get("IP")]


def _location(pbd):
    config = pbd.get("device_config", {})
    parts = ["%s=%s" % (key, config[key]) for key in STORAGE_LOCATION_KEYS if config.get(key)]
    return " ".join(parts) or "the storage"


def likely_unplug_cause(records, sr_ref, pbd, host_ref):
    """Why a shared SR's PBD is probably not attached on host_ref, from the records alone."""
    pbds = records.get("PBD", {})
    hosts = records.get("host", {})
    networks = records.get("network", {})
    host_name = hosts.get(host_ref, {}).get("name_label", host_ref)
    attached_elsewhere = [other for other in pbds.values()
                          if other.get("SR") == sr_ref and other.get("host") != host_ref
                          and other.get("currently_attached")]
    if not attached_elsewhere:
        return ("no host of the pool has this SR attached: %s is probably unreachable or down; check the storage "
                "server, then plug the PBDs (PBD.plug)" % _location(pbd))
    my_networks = set(pif.get("network") for pif in _ip_pifs(records, host_ref))
    storage_paths = []
    for other in attached_elsewhere:
        for pif in _ip_pifs(records, other.get("host")):
            if not pif.get("management") and pif.get("network") not in my_networks:
                storage_paths.append((pif.get("network"), other.get("host"), pif))
    if storage_paths:
        network_ref, other_host, pif = storage_paths[0]
        network_name = networks.get(network_ref, {}).get("name_label", network_ref)
        return ("no storage-network IP yet: %s reaches this SR through network %r (%s %s) but %s has no IP "
                "address on that network; give it one (PIF.reconfigure_ip on its interface there, or the "
                "storage_network role), then plug the PBD (PBD.plug)"
                % (hosts.get(other_host, {}).get("name_label", other_host), network_name, pif.get("device", ""),
                   pif.get("IP", ""), host_name))
    addresses = ", ".join("%s %s" % (pif.get("device", ""), pif.get("IP")) for pif in _ip_pifs(records, host_ref))
    return ("other hosts have this SR attached but %s cannot reach %s from its addresses (%s); check routing and "
            "the storage server's access list (export, initiator or share permissions), then plug the PBD "
            "(PBD.plug)" % (host_name, _location(pbd), addresses or "none"))


def shared_sr_report(records, host_ref):
    """For each shared SR of the pool: is it attached on host_ref, and if not, the likely cause."""
    pbds = records.get("PBD", {})
    report = []
    for sr_ref, sr in sorted(records.get("SR", {}).items(), key=lambda item: item[1].get("name_label", "")):
        if not sr.get("shared") or sr.get("is_tools_sr"):
            continue
        pbd = next((record for record in pbds.values()
                    if record.get("SR") == sr_ref and record.get("host") == host_ref), None)
        entry = dict(sr=sr.get("name_label", ""), uuid=sr.get("uuid", ""), type=sr.get("type", ""),
                     attached=bool(pbd and pbd.get("currently_attached")), likely_cause=None)
        if pbd is None:
            entry["likely_cause"] = ("the host has no PBD for this SR (XAPI creates one when a new member starts); "
                                     "create it with the pool's device_config (PBD.create) and plug it")
        elif not pbd.get("currently_attached"):
            entry["likely_cause"] = likely_unplug_cause(records, sr_ref, pbd, host_ref)
        report.append(entry)
    return report


# --- before an eject ----------------------------------------------------------------------------

def vms_on_host(records, host_ref):
    """Guests that live on the host: resident and not halted, or suspended with their affinity there."""
    found = []
    for ref, vm in records.get("VM", {}).items():
        if not is_guest(vm):
            continue
        state = vm.get("power_state")
        if (vm.get("resident_on") == host_ref and state != "Halted") or (
                state == "Suspended" and vm.get("affinity") == host_ref):
            found.append(ref)
    return sorted(found, key=lambda ref: records["VM"][ref].get("name_label", ""))


def local_srs(records, host_ref):
    """Non-shared SRs whose every PBD is on the host: XAPI forgets them when the host leaves."""
    found = []
    for ref, sr in records.get("SR", {}).items():
        if sr.get("shared") or sr.get("type") in DEVICE_SR_TYPES:
            continue
        sr_pbds = [pbd for pbd in records.get("PBD", {}).values() if pbd.get("SR") == ref]
        if sr_pbds and all(pbd.get("host") == host_ref for pbd in sr_pbds):
            found.append(ref)
    return sorted(found, key=lambda ref: records["SR"][ref].get("name_label", ""))


def local_vdis(records, host_ref):
    """[{sr, vdi, uuid, size_gib, vms}] for every VDI on the host's local SRs (lost on eject)."""
    vms = records.get("VM", {})
    owners = {}
    for vbd in records.get("VBD", {}).values():
        vm = vms.get(vbd.get("VM"))
        if vm is not None and not vm.get("is_control_domain"):
            owners.setdefault(vbd.get("VDI"), set()).add(vm.get("name_label", ""))
    for vm in vms.values():
        if vm.get("suspend_VDI") not in (None, "", NULL_REF):
            owners.setdefault(vm["suspend_VDI"], set()).add("%s (suspend image)" % vm.get("name_label", ""))
    found = []
    for sr_ref in local_srs(records, host_ref):
        sr = records["SR"][sr_ref]
        for vdi_ref, vdi in sorted(records.get("VDI", {}).items(), key=lambda item: item[1].get("name_label", "")):
            if vdi.get("SR") != sr_ref or vdi.get("managed") is False:
                continue
            found.append(dict(sr=sr.get("name_label", ""), vdi=vdi.get("name_label", ""), uuid=vdi.get("uuid", ""),
                              size_gib=round(int(vdi.get("virtual_size") or 0) / float(GIB), 1),
                              vms=sorted(owners.get(vdi_ref, ()))))
    return found


def _vdi_text(entry):
    owner = "VM %s" % ", ".join(entry["vms"]) if entry["vms"] else "no VM"
    return "%s: %r (%s GiB, %s)" % (entry["sr"], entry["vdi"], entry["size_gib"], owner)


def eject_checks(records, host_ref, successor_ref=None, evacuate=False, allow_local_data_loss=False,
                 evacuation_blockers=None):
    """Safety checks before pool.eject, in the pre-flight result shape.

    A check whose option allows what it found reports passed=False, blocking=False.
    evacuation_blockers: host.get_vms_which_prevent_evacuation's answer ({VM ref: [code, ...]}),
    when evacuate is set and VMs are on the host.
    """
    pool = the_pool(records)
    hosts = records["host"]
    name = hosts[host_ref].get("name_label", host_ref)
    vms = records.get("VM", {})
    checks = []

    if pool.get("ha_enabled"):
        checks.append(result("ha_disabled", False, "HA is enabled on the pool and XAPI refuses to eject a host then; "
                                                   "disable HA (xs_pool ha.enabled: false) first"))
    else:
        checks.append(result("ha_disabled", True, "HA is off"))

    if not is_live(records, host_ref):
        checks.append(result("host_live", False, "%s is not live (offline); XAPI can only eject a running host: "
                                                 "power it on first" % name))
    else:
        checks.append(result("host_live", True, "%s is live" % name))

    if host_ref == pool.get("master"):
        if successor_ref is None:
            checks.append(result("not_master", False,
                                 "%s is the pool master; set designate_new_master to the host that should take over "
                                 "(it is handed the role first)" % name))
        else:
            checks.append(result("not_master", False, "%s is the pool master: %s takes over first"
                                 % (name, hosts[successor_ref].get("name_label", successor_ref)), blocking=False))
            checks.append(_successor_check(records, host_ref, successor_ref))
    else:
        checks.append(result("not_master", True, "%s is not the pool master" % name))

    on_host = vms_on_host(records, host_ref)
    if on_host:
        listed = ", ".join("%s (%s)" % (vms[ref].get("name_label", ref), vms[ref].get("power_state")) for ref in on_host)
        if evacuate:
            checks.append(result("no_resident_vms", False,
                                 "VMs on %s: %s; they are migrated to other hosts first (evacuate: true; suspended "
                                 "VMs stay suspended and resume elsewhere)" % (name, listed), blocking=False))
        else:
            checks.append(result("no_resident_vms", False,
                                 "VMs are running, paused or suspended on %s: %s; shut them down or set evacuate: true "
                                 "to migrate them to other hosts first" % (name, listed)))
        if evacuate and evacuation_blockers:
            reasons = "; ".join("%s: %s" % (vms.get(ref, {}).get("name_label", ref), " ".join(str(part) for part in why))
                                for ref, why in sorted(evacuation_blockers.items()))
            checks.append(result("evacuation_possible", False,
                                 "these VMs cannot be migrated off %s: %s; fix that (free memory, shared storage, "
                                 "networks) or shut them down first" % (name, reasons)))
        elif evacuate:
            checks.append(result("evacuation_possible", True, "every VM on %s can be migrated" % name))
    else:
        checks.append(result("no_resident_vms", True, "no VMs are running, paused or suspended on %s" % name))

    lost = local_vdis(records, host_ref)
    if lost:
        listed = "; ".join(_vdi_text(entry) for entry in lost)
        if allow_local_data_loss:
            checks.append(result("no_local_data", False,
                                 "ejecting %s erases its local storage, losing %d virtual disk(s) (allowed by "
                                 "allow_local_data_loss): %s" % (name, len(lost), listed), blocking=False))
        else:
            checks.append(result("no_local_data", False,
                                 "ejecting %s erases its local storage and these %d virtual disk(s) would be lost: %s; "
                                 "move them to shared storage first (VM.copy, VDI.pool_migrate), or set "
                                 "allow_local_data_loss: true" % (name, len(lost), listed)))
    else:
        srs = [records["SR"][ref].get("name_label", "") for ref in local_srs(records, host_ref)]
        checks.append(result("no_local_data", True, "the local storage of %s (%s) holds no virtual disks"
                             % (name, ", ".join(srs) or "none")))
    return checks


def _successor_check(records, host_ref, successor_ref):
    hosts = records["host"]
    successor = hosts[successor_ref]
    name = successor.get("name_label", successor_ref)
    live = is_live(records, successor_ref)
    if successor_ref == host_ref:
        return result("successor_ready", False, "designate_new_master names the host being ejected; name another "
                                                "member of the pool")
    if not live or not successor.get("enabled"):
        return result("successor_ready", False, "the new master %s is %s; choose a live, enabled member"
                      % (name, "offline" if not live else "disabled"))
    return result("successor_ready", True, "%s is live and enabled" % name)


# --- waiting ------------------------------------------------------------------------------------

def member_is_up(uuid):
    """wait_for condition: the host with this uuid is in the pool, live and enabled."""
    def condition(state):
        for host in state.get("host", {}).values():
            if host.get("uuid") == uuid:
                metrics = state.get("host_metrics", {}).get(host.get("metrics"), {})
                return bool(metrics.get("live")) and bool(host.get("enabled"))
        return False
    return condition


def all_hosts_live(state):
    hosts = state.get("host", {})
    metrics = state.get("host_metrics", {})
    return bool(hosts) and all(metrics.get(host.get("metrics"), {}).get("live") for host in hosts.values())


def is_migrating(vm):
    return bool(set((vm.get("current_operations") or {}).values()) & MIGRATIONS)


def _restarted(host, before):
    # A release that records no agent_start_time cannot show a restart: the master and liveness must do.
    return started_after(host, before) or (before is None and agent_start_time(host) is None)


def designate_new_master(client, records, target_ref):
    """pool.designate_new_master, then wait until the pool runs under the new master and log in again.
    The client ends up on the new master.

    Both masters' toolstacks restart in the transition (BEHAVIOUR.md 2), so the wait (XAPI events) ends
    when the target is pool.master, every host is live, and the old and the new master have a newer
    other_config:agent_start_time: a host acted on before its restart would undo it (a host.disable,
    say), and from then on logins at the old master's address are sent to the new one.
    """
    hosts = records["host"]
    old_ref = master_ref(records)
    name = hosts[target_ref].get("name_label", target_ref)
    started = dict((ref, agent_start_time(hosts[ref])) for ref in (old_ref, target_ref))
    # The transition restarts the toolstacks, which would cut short a migration under way (the VMs of a host
    # leaving maintenance in the background, say): let them arrive first.
    client.wait_for(["VM"], lambda state: not any(is_migrating(vm) for vm in state.get("vm", {}).values()),
                    "the VMs migrating in the pool to arrive, before handing the master role to %s" % name)
    try:
        client.write("pool.designate_new_master", target_ref,
                     action="Handing the pool master role from %s to %s (pool.designate_new_master)"
                     % (hosts[old_ref].get("name_label", old_ref), name))
    except ConnectionFailedError:
        pass  # the old master may drop the connection as it restarts; the wait below tells the outcome

    def settled(state):
        pool = next(iter(state.get("pool", {}).values()), {})
        now = state.get("host", {})
        return (pool.get("master") == target_ref and all_hosts_live(state)
                and all(ref in now and _restarted(now[ref], before) for ref, before in started.items()))

    client.wait_for(["pool", "host", "host_metrics"], settled, "%s to be the master and every host live" % name)
    # A fresh session: the old master now answers HOST_IS_SLAVE, which the login follows to the new one.
    client.close()
    client.login(wait=True)
