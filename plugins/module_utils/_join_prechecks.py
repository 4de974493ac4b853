# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Pre-flight checks for joining a host to a pool: plain functions over records read once.

Every requirement the XenServer documents state for a joining host (seeds 000, 001, 003, 004) and
every check XAPI makes in pool.join (BEHAVIOUR.md 1.2) is one function here:

    check(candidate, pool, options) -> {name, passed, detail, blocking, overridable_by_force}

`candidate` and `pool` are Side objects built from {class: {ref: record}} (one get_all_records per
class on each side); nothing here talks to XAPI or to Ansible, so the pool_build role can check
every candidate before joining any, and each check is unit-tested on its own.

- blocking: a failure refuses the join. Non-blocking checks are warnings (the documents advise,
  nothing can verify, or the information could not be read).
- overridable_by_force: `force: true` lets the join go ahead despite this failure (only CPU model
  and features; XAPI's own pool.join_force then skips its homogeneity check).
"""

from __future__ import annotations

from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF, is_guest, to_int

# Documented limits (seed 003): 64 hosts at most; 16 when HA or GFS2 storage is in use.
MAX_POOL_SIZE = 64
MAX_POOL_SIZE_WITH_HA_OR_GFS2 = 16
# XAPI's licence-based cap (Xapi_globs.restricted_pool_size).
RESTRICTED_POOL_SIZE = 3
DEFAULT_MAX_CLOCK_SKEW = 60

# VM power states that mean "the VM lives on this host right now" (seeds: running or suspended;
# paused is a running domain).
ACTIVE_POWER_STATES = ("Running", "Paused", "Suspended")


class Side(object):
    """One side of a join: the candidate's own (standalone) database, or the pool's.

    records: {class: {ref: record}}, int fields already converted (XapiClient.get_all_records_of).
    host_ref: the host this side is about: the candidate host, or the pool master (default: the
    master of the pool object in the records).
    clock_offset: that host's clock minus the controller's clock, in seconds; None when unknown.
    """

    def __init__(self, records, host_ref=None, clock_offset=None, clock_error=None):
        self.records = records
        self.pool_ref, self.pool = next(iter(records.get("pool", {}).items()), (NULL_REF, {}))
        self.hosts = records.get("host", {})
        self.host_ref = host_ref or self.pool.get("master", NULL_REF)
        self.host = self.hosts.get(self.host_ref, {})
        self.clock_offset = clock_offset
        self.clock_error = clock_error

    def all(self, xapi_class):
        return self.records.get(xapi_class, {})

    @property
    def name(self):
        return self.host.get("name_label") or self.host.get("address") or self.host_ref

    @property
    def software(self):
        return self.host.get("software_version", {}) or {}

    def host_name(self, ref):
        host = self.hosts.get(ref, {})
        return host.get("name_label") or host.get("address") or ref

    def management_pif(self, host_ref=None):
        host_ref = host_ref or self.host_ref
        for ref, pif in sorted(self.all("PIF").items()):
            if pif.get("host") == host_ref and pif.get("management"):
                return ref, pif
        return None, None

    def user_vms(self):
        """VMs that are guests: not the control domain, not templates or snapshots."""
        return dict((ref, vm) for ref, vm in self.all("VM").items() if is_guest(vm))


def result(name, passed, detail, blocking=True, overridable_by_force=False):
    return dict(name=name, passed=bool(passed), detail=detail, blocking=blocking,
                overridable_by_force=overridable_by_force)


def _names(items):
    return ", ".join(sorted(items))


def _is_true(value):
    return str(value).strip().lower() == "true"


def _pool_size(pool, options):
    """Hosts in the pool once the candidate (and any candidates joining before it) are in."""
    return len(pool.hosts) + 1 + int(options.get("pending_joins", 0) or 0)


# --- membership and licence ---------------------------------------------------------------------

def check_not_in_another_pool(candidate, pool, options):
    others = sorted(candidate.host_name(ref) for ref in candidate.hosts if ref != candidate.host_ref)
    if others:
        pool_name = candidate.pool.get("name_label") or "(unnamed)"
        return result("not_in_another_pool", False,
                      "%s is the master of pool %s with %d other host(s) (%s); a joining host must be "
                      "standalone: eject those hosts from it first (or join them to this pool one by one after "
                      "ejecting them)" % (candidate.name, pool_name, len(others), ", ".join(others)))
    return result("not_in_another_pool", True, "%s is a standalone host (a pool of one)" % candidate.name)


def check_pooling_licensed(candidate, pool, options):
    restricted = (_is_true(candidate.host.get("license_params", {}).get("restrict_pooling"))
                  or _is_true(candidate.pool.get("restrictions", {}).get("restrict_pooling")))
    if restricted:
        return result("pooling_licensed", False,
                      "the licence of %s does not allow resource pools (restrict_pooling); apply a licence "
                      "that includes pooling to the host first" % candidate.name)
    return result("pooling_licensed", True, "the licence of %s allows pooling" % candidate.name)


def check_pool_size_licence(candidate, pool, options):
    size = _pool_size(pool, options)
    joiner = _is_true(candidate.host.get("license_params", {}).get("restrict_pool_size"))
    target = _is_true(pool.pool.get("restrictions", {}).get("restrict_pool_size"))
    if (joiner or target) and size > RESTRICTED_POOL_SIZE:
        whose = "%s's licence" % candidate.name if joiner else "the pool's licence"
        return result("pool_size_licence", False,
                      "%s limits a pool to %d hosts and the pool would have %d; license the hosts for larger "
                      "pools first" % (whose, RESTRICTED_POOL_SIZE, size))
    return result("pool_size_licence", True, "no licence limit on the pool size is reached (%d hosts)" % size)


def check_pool_size(candidate, pool, options):
    size = _pool_size(pool, options)
    if size > MAX_POOL_SIZE:
        return result("pool_size", False,
                      "the pool would have %d hosts; %d is the most XenServer supports: create another pool"
                      % (size, MAX_POOL_SIZE))
    return result("pool_size", True, "the pool would have %d hosts (at most %d are supported)" % (size, MAX_POOL_SIZE))


def check_pool_size_recommended(candidate, pool, options):
    size = _pool_size(pool, options)
    reasons = []
    if pool.pool.get("ha_enabled"):
        reasons.append("HA is enabled")
    if any(sr.get("type") == "gfs2" for side in (pool, candidate) for sr in side.all("SR").values()):
        reasons.append("GFS2 storage is in use")
    if reasons and size > MAX_POOL_SIZE_WITH_HA_OR_GFS2:
        return result("pool_size_recommended", False,
                      "the pool would have %d hosts while %s; XenServer recommends at most %d hosts then "
                      "(more monitoring traffic, risk of unexpected fencing); consider a second pool"
                      % (size, " and ".join(reasons), MAX_POOL_SIZE_WITH_HA_OR_GFS2), blocking=False)
    return result("pool_size_recommended", True, "the pool size (%d) is within the recommendations" % size,
                  blocking=False)


# --- management network -------------------------------------------------------------------------

def check_management_interface(candidate, pool, options):
    ref, pif = candidate.management_pif()
    if pif is None:
        return result("management_interface", False,
                      "%s has no management interface (XAPI answers HOST_STILL_BOOTING); wait until it has "
                      "finished booting, or configure a management interface on it" % candidate.name)
    return result("management_interface", True, "%s manages through %s" % (candidate.name, pif.get("device", ref)))


def _bond_of_pif(side, pif):
    """The Bond a PIF is the master of, directly or as the tagged PIF under a management VLAN."""
    if pif.get("bond_master_of"):
        return pif["bond_master_of"][0]
    vlan = side.all("VLAN").get(pif.get("VLAN_master_of"))
    tagged = side.all("PIF").get(vlan.get("tagged_PIF"), {}) if vlan else {}
    if tagged.get("bond_master_of"):
        return tagged["bond_master_of"][0]
    # Records from a release without bond_master_of: the bond master PIF is the virtual "bondN".
    if pif.get("device", "").startswith("bond") and not pif.get("physical", True):
        return pif["device"]
    return None


def check_management_not_bonded(candidate, pool, options):
    _ref, pif = candidate.management_pif()
    if pif is not None and _bond_of_pif(candidate, pif):
        return result("management_not_bonded", False,
                      "the management interface of %s (%s) is a bond; a joining host's management interface must "
                      "not be bonded: move management to a physical NIC and remove the bond, then bond again "
                      "after the join (the pool's bonds are copied to the host)" % (candidate.name, pif.get("device")))
    return result("management_not_bonded", True, "the management interface of %s is not bonded" % candidate.name)


def check_management_static_ip(candidate, pool, options):
    _ref, pif = candidate.management_pif()
    if pif is None:
        return result("management_static_ip", False, "no management interface to check", blocking=False)
    if pif.get("primary_address_type", "IPv4") == "IPv6":
        mode, address = pif.get("ipv6_configuration_mode", "None"), ", ".join(pif.get("IPv6") or [])
    else:
        mode, address = pif.get("ip_configuration_mode", "None"), pif.get("IP", "")
    if mode == "Static":
        return result("management_static_ip", True,
                      "the management address of %s is static (%s)" % (candidate.name, address), blocking=False)
    return result("management_static_ip", False,
                  "the management interface of %s uses %s (%s); a pool member's management address must not "
                  "change: make sure the DHCP server always gives it this address (a reservation), or set a "
                  "static address (PIF.reconfigure_ip)" % (candidate.name, mode, address or "no address"),
                  blocking=False)


def _vlan_tag(pif):
    tag = pif.get("VLAN", -1) if pif else -1
    try:
        return int(tag)
    except (TypeError, ValueError):
        return -1


def _vlan_text(tag):
    return "VLAN %d" % tag if tag >= 0 else "no VLAN (untagged)"


def check_management_vlan(candidate, pool, options):
    _ref, joiner_pif = candidate.management_pif()
    _ref, master_pif = pool.management_pif()
    joiner_tag, pool_tag = _vlan_tag(joiner_pif), _vlan_tag(master_pif)
    if joiner_pif is not None and master_pif is not None and joiner_tag != pool_tag:
        return result("management_vlan", False,
                      "the management interface of %s is on %s but the pool's is on %s; it must be on the same "
                      "tagged VLAN as the pool: reconfigure the host's management interface"
                      % (candidate.name, _vlan_text(joiner_tag), _vlan_text(pool_tag)))
    return result("management_vlan", True, "management is on %s on both sides" % _vlan_text(pool_tag))


def check_no_bonds(candidate, pool, options):
    pifs = candidate.all("PIF")
    bonds = [pifs.get(bond.get("master"), {}).get("device", ref) for ref, bond in candidate.all("Bond").items()]
    if bonds:
        return result("no_bonds", False,
                      "%s has bond(s) %s; a joining host may have no bonds (XAPI: POOL_JOINING_HOST_HAS_BONDS): "
                      "remove them (Bond.destroy) before the join, the pool's bonds are re-created on the host "
                      "afterwards" % (candidate.name, _names(bonds)))
    return result("no_bonds", True, "%s has no bonds" % candidate.name)


def check_no_non_management_vlans(candidate, pool, options):
    pifs = candidate.all("PIF")
    tags = [str(vlan.get("tag")) for vlan in candidate.all("VLAN").values()
            if not pifs.get(vlan.get("untagged_PIF"), {}).get("management")]
    if tags:
        return result("no_non_management_vlans", False,
                      "%s has VLAN(s) %s that are not its management interface; remove them before the join "
                      "(the pool's VLANs are re-created on the host afterwards)" % (candidate.name, _names(tags)))
    return result("no_non_management_vlans", True, "%s has no VLANs besides its management interface" % candidate.name)


def check_no_tunnels(candidate, pool, options):
    count = len(candidate.all("tunnel"))
    if count:
        return result("no_tunnels", False, "%s has %d tunnel(s); remove them before the join" % (candidate.name, count))
    return result("no_tunnels", True, "%s has no tunnels" % candidate.name)


def check_no_network_sriovs(candidate, pool, options):
    count = len(candidate.all("network_sriov"))
    if count:
        return result("no_network_sriovs", False,
                      "%s has %d SR-IOV network(s); remove them before the join" % (candidate.name, count))
    return result("no_network_sriovs", True, "%s has no SR-IOV networks" % candidate.name)


def check_primary_address_type(candidate, pool, options):
    _ref, joiner_pif = candidate.management_pif()
    _ref, master_pif = pool.management_pif()
    joiner = (joiner_pif or {}).get("primary_address_type", "IPv4")
    target = (master_pif or {}).get("primary_address_type", "IPv4")
    if joiner != target:
        return result("primary_address_type", False,
                      "%s manages over %s but the pool over %s; reconfigure its management interface to %s"
                      % (candidate.name, joiner, target, target))
    return result("primary_address_type", True, "both sides manage over %s" % target)


def check_network_purpose(candidate, pool, options):
    def purposes(side):
        found = set()
        for network in side.all("network").values():
            found.update(network.get("purpose") or [])
        return found & {"nbd", "insecure_nbd"}

    joiner, target = purposes(candidate), purposes(pool)
    if joiner and target and joiner != target:
        return result("network_purpose", False,
                      "%s uses NBD purpose %s but the pool uses %s; use the same NBD setting on both sides"
                      % (candidate.name, _names(joiner), _names(target)))
    return result("network_purpose", True, "no conflicting NBD network purposes")


# --- storage and VMs ----------------------------------------------------------------------------

def check_no_shared_srs(candidate, pool, options):
    shared = [sr.get("name_label") or sr.get("uuid", ref) for ref, sr in candidate.all("SR").items()
              if sr.get("shared") and not sr.get("is_tools_sr")]
    if shared:
        return result("no_shared_srs", False,
                      "%s has shared SR(s) %s; a joining host may have no shared storage: detach it from the host "
                      "(PBD.unplug, then SR.forget: the data stays on the storage) and attach it to the pool after "
                      "the join" % (candidate.name, _names(shared)))
    return result("no_shared_srs", True, "%s has no shared storage" % candidate.name)


def check_no_active_vms(candidate, pool, options):
    active = ["%s (%s)" % (vm.get("name_label") or vm.get("uuid", ref), vm.get("power_state"))
              for ref, vm in candidate.user_vms().items() if vm.get("power_state") in ACTIVE_POWER_STATES]
    if active:
        return result("no_active_vms", False,
                      "%s hosts VM(s) that are not halted: %s; a joining host may have no running, paused or "
                      "suspended VMs: shut them down first (a suspended VM: resume and shut down, or "
                      "VM.hard_shutdown to discard its suspended state)" % (candidate.name, _names(active)))
    return result("no_active_vms", True, "%s has no running, paused or suspended VMs" % candidate.name)


def check_no_vm_operations(candidate, pool, options):
    busy = ["%s (%s)" % (vm.get("name_label") or vm.get("uuid", ref), ", ".join(sorted(set(vm["current_operations"].values()))))
            for ref, vm in candidate.all("VM").items() if vm.get("current_operations")]
    if busy:
        return result("no_vm_operations", False,
                      "VM operations are in progress on %s: %s; wait until they have finished, then retry"
                      % (candidate.name, _names(busy)))
    return result("no_vm_operations", True, "no VM operations are in progress on %s" % candidate.name)


def check_sm_features(candidate, pool, options):
    """XAPI (25.6+): for every storage driver type of the pool the joiner has exactly one driver of
    that type, with at least the pool's features at at least the pool's versions."""
    problems = []
    for sm in sorted(pool.all("SM").values(), key=lambda sm: sm.get("type", "")):
        sm_type = sm.get("type", "")
        mine = [other for other in candidate.all("SM").values() if other.get("type") == sm_type]
        if len(mine) != 1:
            problems.append("%s (%d driver(s) on the host)" % (sm_type, len(mine)))
            continue
        theirs = mine[0].get("features") or {}
        lacking = [feature for feature, version in (sm.get("features") or {}).items()
                   if to_int(theirs.get(feature), -1) < to_int(version, 0)]
        if lacking:
            problems.append("%s (lacks %s)" % (sm_type, _names(lacking)))
    if problems:
        return result("sm_features", False,
                      "the storage drivers of %s do not match the pool's: %s; install the same storage "
                      "drivers (updates, supplemental packs) as the pool hosts" % (candidate.name, "; ".join(problems)))
    return result("sm_features", True, "%s has the pool's storage drivers" % candidate.name)


# --- pool state on both sides -------------------------------------------------------------------

def check_ha_disabled(candidate, pool, options):
    sides = []
    if candidate.pool.get("ha_enabled"):
        sides.append("on %s's own pool" % candidate.name)
    if pool.pool.get("ha_enabled"):
        sides.append("on the pool")
    if sides:
        return result("ha_disabled", False,
                      "high availability is enabled %s; HA must be off on both sides during a join: disable it "
                      "(xs_pool ha.enabled: false), join, then enable it again" % " and ".join(sides))
    return result("ha_disabled", True, "HA is off on both sides")


def check_clustering_disabled(candidate, pool, options):
    enabled = [ref for ref, cluster_host in candidate.all("Cluster_host").items() if cluster_host.get("enabled")]
    if enabled:
        return result("clustering_disabled", False,
                      "clustering is enabled on %s; leave its cluster (Cluster_host.destroy) before the join"
                      % candidate.name)
    return result("clustering_disabled", True, "clustering is not enabled on %s" % candidate.name)


def check_clustering_network(candidate, pool, options):
    """A pool whose cluster auto-joins new hosts needs exactly one IP on the clustering network."""
    clusters = [cluster for cluster in pool.all("Cluster").values() if cluster.get("pool_auto_join")]
    if not clusters:
        return result("clustering_network", True, "the pool has no cluster that new hosts join")
    pifs = pool.all("PIF")
    cluster_pif = next((pifs.get(cluster_host.get("PIF")) for cluster_host in pool.all("Cluster_host").values()
                        if cluster_host.get("host") == pool.host_ref and cluster_host.get("PIF") in pifs), None)
    if cluster_pif is None:
        return result("clustering_network", True, "the pool master has no clustering interface to compare with")
    if _vlan_tag(cluster_pif) >= 0 and not cluster_pif.get("management"):
        return result("clustering_network", False,
                      "the pool's clustering network is a VLAN (%d) that is not the management network; XAPI cannot "
                      "enable clustering on it for a joining host" % _vlan_tag(cluster_pif))
    bridge = pool.all("network").get(cluster_pif.get("network"), {}).get("bridge")
    networks = [ref for ref, network in candidate.all("network").items() if network.get("bridge") == bridge]
    with_ip = [pif for pif in candidate.all("PIF").values() if pif.get("network") in networks and pif.get("IP")]
    if len(with_ip) != 1:
        return result("clustering_network", False,
                      "%s has %d IP address(es) on the clustering network (bridge %s); it needs exactly one"
                      % (candidate.name, len(with_ip), bridge))
    return result("clustering_network", True, "%s has one IP on the clustering network" % candidate.name)


def check_no_pending_guidances(candidate, pool, options):
    pending = []
    for side in (candidate, pool):
        guidances = side.host.get("pending_guidances") or []
        if guidances:
            pending.append("%s: %s" % (side.name, _names(guidances)))
    if pending:
        return result("no_pending_guidances", False,
                      "update guidance is pending (%s); carry it out first (for example reboot the host after "
                      "its updates)" % "; ".join(pending))
    return result("no_pending_guidances", True, "no update guidance is pending on %s or the master" % candidate.name)


def check_not_updating(candidate, pool, options):
    busy = [label for label, side in (("the candidate", candidate), ("the pool", pool))
            if "apply_updates" in (side.pool.get("current_operations") or {}).values()]
    if busy:
        return result("not_updating", False,
                      "updates are being applied on %s; wait until that has finished" % " and ".join(busy))
    return result("not_updating", True, "no updates are being applied on either side")


# --- software -----------------------------------------------------------------------------------

def _brand(software):
    return software.get("product_brand") or software.get("platform_name", "")


def check_product_version(candidate, pool, options):
    joiner, master = candidate.software, pool.software
    fields = (("product", _brand(joiner), _brand(master)),
              ("product_version", joiner.get("product_version", ""), master.get("product_version", "")),
              ("platform_version", joiner.get("platform_version", ""), master.get("platform_version", "")))
    different = ["%s %s (pool: %s)" % (label, mine or "none", theirs or "none") for label, mine, theirs in fields
                 if mine != theirs]
    if different:
        return result("product_version", False,
                      "%s runs another release than the pool: %s; install the pool's release on it (or upgrade the "
                      "pool first)" % (candidate.name, ", ".join(different)))
    return result("product_version", True, "both run %s %s" % (_brand(master), master.get("product_version", "")))


def check_software_build(candidate, pool, options):
    joiner, master = candidate.software, pool.software
    different = ["%s %s (pool: %s)" % (key, joiner.get(key) or "none", master.get(key) or "none")
                 for key in ("build_number", "xapi", "git_id") if joiner.get(key, "") != master.get(key, "")]
    if different:
        return result("software_build", False,
                      "%s is not at the pool's build and patch level: %s; update it (or the pool) to the same "
                      "level first" % (candidate.name, ", ".join(different)))
    return result("software_build", True,
                  "same build (%s) and xapi (%s)" % (master.get("build_number", ""), master.get("xapi", "")))


def check_api_version(candidate, pool, options):
    def version(side):
        return "%s.%s" % (side.host.get("API_version_major", "?"), side.host.get("API_version_minor", "?"))

    if version(candidate) != version(pool):
        return result("api_version", False,
                      "%s speaks API %s but the pool master %s; install the same release on both"
                      % (candidate.name, version(candidate), version(pool)))
    return result("api_version", True, "both speak API %s" % version(pool))


def check_db_schema(candidate, pool, options):
    joiner, master = candidate.software.get("db_schema"), pool.software.get("db_schema")
    if not joiner or not master or joiner != master:
        return result("db_schema", False,
                      "database schema %s on %s, %s on the pool; install the same release on both"
                      % (joiner or "unknown", candidate.name, master or "unknown"))
    return result("db_schema", True, "both use database schema %s" % master)


def _updates(side):
    """{uuid: name} of the updates applied to the side's host."""
    updates = side.all("pool_update")
    found = {}
    for ref in side.host.get("updates") or []:
        update = updates.get(ref, {})
        found[update.get("uuid", ref)] = update.get("name_label") or update.get("uuid", ref)
    return found


def check_updates(candidate, pool, options):
    joiner, master = _updates(candidate), _updates(pool)
    missing = [master[uuid] for uuid in master if uuid not in joiner]
    extra = [joiner[uuid] for uuid in joiner if uuid not in master]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing on %s: %s" % (candidate.name, _names(missing)))
        if extra:
            parts.append("applied on %s but not on the pool: %s" % (candidate.name, _names(extra)))
        return result("updates", False,
                      "%s is not at the pool's patch level (%s); apply the same updates on both sides first"
                      % (candidate.name, "; ".join(parts)))
    return result("updates", True, "same updates applied (%d)" % len(master))


def _packs(software):
    """Supplemental packs: the "<originator>:<name>" keys of software_version (xs:linux included)."""
    return dict((key, value) for key, value in software.items() if ":" in key)


def check_supplemental_packs(candidate, pool, options):
    joiner, master = _packs(candidate.software), _packs(pool.software)
    different = []
    for key in sorted(set(joiner) | set(master)):
        if key not in joiner:
            different.append("%s missing on %s" % (key, candidate.name))
        elif key not in master:
            different.append("%s only on %s" % (key, candidate.name))
        elif joiner[key] != master[key]:
            different.append("%s at another revision (%s; pool: %s)" % (key, joiner[key], master[key]))
    if different:
        return result("supplemental_packs", False,
                      "the supplemental packs differ: %s; install the same packs at the same revision on every "
                      "host of the pool" % "; ".join(different))
    return result("supplemental_packs", True, "same supplemental packs (%s)" % (_names(master) or "none"))


def check_license_edition(candidate, pool, options):
    edition = candidate.host.get("edition", "")
    others = sorted(set("%s (%s)" % (host.get("edition", ""), host.get("name_label", ref))
                        for ref, host in pool.hosts.items() if host.get("edition", "") != edition))
    if others:
        return result("license_edition", False,
                      "%s is licensed as %s but the pool has %s; apply the same licence edition to the host "
                      "before the join" % (candidate.name, edition or "no edition", ", ".join(others)))
    return result("license_edition", True, "same licence edition (%s)" % edition)


def check_network_backend(candidate, pool, options):
    joiner = candidate.software.get("network_backend", "bridge")
    master = pool.software.get("network_backend", "bridge")
    if joiner != master:
        return result("network_backend", False,
                      "%s uses the %s network backend but the pool %s; switch the host to %s (xe-switch-network-"
                      "backend) first" % (candidate.name, joiner, master, master))
    return result("network_backend", True, "both use the %s network backend" % master)


def check_external_auth(candidate, pool, options):
    def auth(side):
        return (side.host.get("external_auth_type", ""), (side.host.get("external_auth_service_name") or "").lower())

    if auth(candidate) != auth(pool):
        def text(side):
            kind, service = auth(side)
            return "%s %s" % (kind, service) if kind else "none"
        return result("external_auth", False,
                      "external authentication differs: %s on %s, %s on the pool; configure the same (or none) "
                      "on the host first" % (text(candidate), candidate.name, text(pool)))
    return result("external_auth", True, "same external authentication (%s)" % (auth(pool)[0] or "none"))


def check_tls_verification(candidate, pool, options):
    joiner = bool(candidate.pool.get("tls_verification_enabled"))
    target = bool(pool.pool.get("tls_verification_enabled"))
    if joiner != target:
        return result("tls_verification", False,
                      "TLS verification is %s on %s but %s on the pool; enable it on the side where it is off "
                      "(it cannot be turned off)" % ("on" if joiner else "off", candidate.name, "on" if target else "off"))
    return result("tls_verification", True, "TLS verification is %s on both sides" % ("on" if target else "off"))


def check_ca_certificates(candidate, pool, options):
    def cas(side):
        return dict((cert.get("name"), cert.get("fingerprint_sha256") or cert.get("fingerprint"))
                    for cert in side.all("Certificate").values() if cert.get("type") == "ca" and cert.get("name"))

    joiner, target = cas(candidate), cas(pool)
    conflicts = [name for name in joiner if name in target and joiner[name] != target[name]]
    if conflicts:
        return result("ca_certificates", False,
                      "CA certificate(s) %s exist on both sides with different contents; remove or rename them on "
                      "%s first" % (_names(conflicts), candidate.name))
    return result("ca_certificates", True, "no conflicting CA certificates")


# --- CPU and clock ------------------------------------------------------------------------------

def _cpu_features(cpu_info):
    text = cpu_info.get("features_hvm_host") or cpu_info.get("features_hvm") or cpu_info.get("features", "")
    try:
        return [int(word, 16) for word in text.split("-")] if text else []
    except ValueError:
        return []


def check_cpu_vendor(candidate, pool, options):
    joiner = candidate.host.get("cpu_info", {}).get("vendor", "")
    target = pool.pool.get("cpu_info", {}).get("vendor") or pool.host.get("cpu_info", {}).get("vendor", "")
    if joiner and target and joiner != target:
        return result("cpu_vendor", False,
                      "the CPU vendor of %s is %s but the pool's is %s; hosts of different CPU vendors can never "
                      "share a pool (force does not change that)" % (candidate.name, joiner, target))
    return result("cpu_vendor", True, "same CPU vendor (%s)" % (target or joiner or "unknown"))


def check_cpu_features(candidate, pool, options):
    """The candidate's CPU model and features equal those of a host already in the pool: it adds no
    new CPU to the pool (in a pool made heterogeneous with force, a twin of any member is fine)."""
    joiner = candidate.host.get("cpu_info", {})
    joiner_features = _cpu_features(joiner)
    differing, twin = [], None
    for ref in sorted(pool.hosts, key=pool.host_name):
        cpu_info = pool.hosts[ref].get("cpu_info") or {}
        if not cpu_info:
            continue  # a host whose CPU is not known yet (just joined): nothing to compare
        if cpu_info.get("modelname") != joiner.get("modelname") or _cpu_features(cpu_info) != joiner_features:
            differing.append("%s (%s)" % (pool.host_name(ref), cpu_info.get("modelname", "unknown model")))
        elif twin is None:
            twin = pool.host_name(ref)
    if differing and twin is None:
        pool_features = _cpu_features(pool.pool.get("cpu_info", {}))
        lowers = any(mine & theirs != theirs for mine, theirs in zip(joiner_features, pool_features))
        effect = ("its CPU lacks features the pool has: the pool's CPU feature level drops, running VMs keep "
                  "their features but cannot move to it until restarted" if lowers else
                  "the pool's CPU features are levelled to what every host has")
        return result("cpu_features", False,
                      "the CPU of %s (%s) differs in model or features from %s; a pool is homogeneous unless you "
                      "accept a heterogeneous one: set force: true to join anyway (%s)"
                      % (candidate.name, joiner.get("modelname", "unknown model"), ", ".join(differing), effect),
                      overridable_by_force=True)
    return result("cpu_features", True, "same CPU model and features (%s) as %s"
                  % (joiner.get("modelname", "unknown"), twin or "the pool"), overridable_by_force=True)


def check_clock_skew(candidate, pool, options):
    limit = options.get("max_clock_skew", DEFAULT_MAX_CLOCK_SKEW)
    if candidate.clock_offset is None or pool.clock_offset is None:
        errors = "; ".join(error for error in (candidate.clock_error, pool.clock_error) if error)
        return result("clock_skew", False,
                      "the clocks could not be compared (%s); make sure %s and the master use the same NTP "
                      "servers" % (errors or "no server time", candidate.name), blocking=False)
    skew = abs(candidate.clock_offset - pool.clock_offset)
    if skew > limit:
        return result("clock_skew", False,
                      "the clock of %s is %d s %s the master's (at most %d s allowed by max_clock_skew); "
                      "synchronise both with NTP first" % (candidate.name, round(skew),
                                                           "ahead of" if candidate.clock_offset > pool.clock_offset
                                                           else "behind", limit))
    return result("clock_skew", True, "the clocks differ by %d s (at most %d s allowed)" % (round(skew), limit))


# Order: what makes a join impossible first, then configuration, software, hardware and clock.
CHECKS = (
    check_not_in_another_pool,
    check_pooling_licensed,
    check_pool_size_licence,
    check_pool_size,
    check_pool_size_recommended,
    check_ha_disabled,
    check_clustering_disabled,
    check_clustering_network,
    check_not_updating,
    check_no_pending_guidances,
    check_no_active_vms,
    check_no_vm_operations,
    check_no_shared_srs,
    check_sm_features,
    check_management_interface,
    check_management_not_bonded,
    check_management_static_ip,
    check_management_vlan,
    check_primary_address_type,
    check_no_bonds,
    check_no_non_management_vlans,
    check_no_tunnels,
    check_no_network_sriovs,
    check_network_purpose,
    check_product_version,
    check_software_build,
    check_api_version,
    check_db_schema,
    check_updates,
    check_supplemental_packs,
    check_license_edition,
    check_network_backend,
    check_external_auth,
    check_tls_verification,
    check_ca_certificates,
    check_cpu_vendor,
    check_cpu_features,
    check_clock_skew,
)


def run_prechecks(candidate, pool, max_clock_skew=DEFAULT_MAX_CLOCK_SKEW, pending_joins=0):
    """Every check, in CHECKS order.

    pending_joins: candidates that will join before this one (the pool_build role checks all
    candidates first), counted for the pool-size checks.
    """
    options = dict(max_clock_skew=max_clock_skew, pending_joins=pending_joins)
    return [check(candidate, pool, options) for check in CHECKS]


def refusals(results, force=False):
    """The failed checks that stop the join: blocking, and not overridden by force."""
    return [item for item in results
            if not item["passed"] and item["blocking"] and not (force and item["overridable_by_force"])]


def non_blocking_failures(results, force=False):
    """Failed checks that do not stop the join (warnings, and what force overrides)."""
    return [item for item in results if not item["passed"] and item not in refusals(results, force)]


def needs_force(results):
    """Whether a join must use pool.join_force: an overridable check failed."""
    return any(not item["passed"] and item["overridable_by_force"] for item in results)


def describe(items):
    """'name: detail; name: detail' for a message."""
    return "; ".join("%s: %s" % (item["name"], item["detail"]) for item in items)
