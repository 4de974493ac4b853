#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_pool
short_description: Manage a XenServer or XCP-ng pool's settings, master, HA and TLS
version_added: 0.1.0
description:
  - Names the pool and sets its default, suspend-image and crash-dump storage, its tags and
    C(other_config); hands the master role to another host; enables or disables high availability;
    enables TLS verification; turns the legacy SSL mode off on releases that still have it.
  - Only the options given are managed; everything else is left as it is.
  - Every change is checked first, and a change that cannot be made is refused with the reason
    before anything is changed.
  - Use M(xenserver.pools.xs_pool_member) to add hosts to the pool and to remove them.
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
attributes:
  check_mode:
    support: full
    details:
      - Returns the planned actions and the diff; changes nothing.
  diff_mode:
    support: full
    details:
      - Before and after of the managed settings.
  idempotent:
    support: full
options:
  name_label:
    description: Name of the pool. A standalone host's pool has an empty name until you give it one.
    type: str
  name_description:
    description: Description of the pool.
    type: str
  default_sr:
    description:
      - Default SR for new virtual disks, by name or UUID; an empty string clears it.
      - In a pool of more than one host it must be a shared SR.
    type: str
  suspend_image_sr:
    description: SR for the memory images of suspended VMs, by name or UUID; an empty string clears it.
    type: str
  crash_dump_sr:
    description: SR for crash dumps, by name or UUID; an empty string clears it.
    type: str
  master:
    description:
      - The host (name, UUID or address) that must be the pool master. When it is not, the role is
        handed over (C(pool.designate_new_master)) and the module waits until logins at the old
        master are sent to the new one and every host is live again; later tasks should connect to
        any host of the pool, which redirects them.
      - The handover restarts the toolstacks, so it waits first until no VM of the pool is migrating.
      - Refused while HA is enabled (unless this task disables it) or while a host is offline.
    type: str
  ha:
    description: High availability.
    type: dict
    suboptions:
      enabled:
        description:
          - V(true) enables HA when it is off, after checking its requirements (licence, every host
            live, a shared heartbeat SR attached on every host, required interfaces plugged).
          - V(false) disables HA when it is on. Not given - HA is left as it is.
        type: bool
      heartbeat_srs:
        description:
          - SRs (names or UUIDs) for the HA heartbeat (state file). Empty - XAPI picks a suitable one.
          - Applies when HA is enabled; moving the heartbeat of an enabled HA needs it disabled first.
        type: list
        elements: str
      host_failures_to_tolerate:
        description: Number of host failures HA plans for.
        type: int
      timeout:
        description: Seconds without heartbeat before a host is considered failed; applies when HA is enabled.
        type: int
  tls_verification:
    description:
      - V(true) enables TLS verification between the hosts (C(pool.enable_tls_verification)).
      - This is one-way; V(false) is refused when it is already on. Refused on releases without it.
    type: bool
  ssl_legacy:
    description:
      - V(false) turns the legacy SSL mode off (TLS 1.2 only), on releases that still have the switch;
        newer releases always use TLS 1.2 or later and need nothing.
    type: bool
  tags:
    description: Tags of the pool; merged with the existing ones unless O(purge_tags=true).
    type: list
    elements: str
  purge_tags:
    description: Remove the tags not listed in O(tags).
    type: bool
    default: false
  other_config:
    description:
      - Keys to set in the pool's C(other_config); merged unless O(purge_other_config=true).
      - A key with a null value is removed.
    type: dict
  purge_other_config:
    description:
      - Remove the C(other_config) keys not listed in O(other_config).
      - XAPI and other tools keep their own keys there; purge only when you manage all of them.
    type: bool
    default: false
"""

EXAMPLES = r"""
---
- name: Name the pool and set shared storage as its default SR
  xenserver.pools.xs_pool:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    name_label: PDX0
    name_description: NA-US-OR-PDX-0
    default_sr: NAS-2-VHD

- name: Make xs2 the pool master
  xenserver.pools.xs_pool:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    master: xs2

- name: Enable HA with a heartbeat on the NFS SR, tolerating one host failure
  xenserver.pools.xs_pool:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    ha:
      enabled: true
      heartbeat_srs: [NAS-2-VHD]
      host_failures_to_tolerate: 1

- name: TLS verification between hosts, TLS 1.2 only
  xenserver.pools.xs_pool:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    tls_verification: true
    ssl_legacy: false
"""

RETURN = r"""
pool:
  description: The pool after the changes, as M(xenserver.pools.xs_pool_info) returns it, plus the managed settings.
  returned: success
  type: dict
  contains:
    uuid:
      description: Pool UUID.
      type: str
    name:
      description: Pool name.
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
      description: Default SR as C(name) and C(uuid), or null.
      type: dict
    suspend_image_sr:
      description: Suspend-image SR as C(name) and C(uuid), or null.
      type: dict
    crash_dump_sr:
      description: Crash-dump SR as C(name) and C(uuid), or null.
      type: dict
    ha:
      description: C(enabled), C(host_failures_to_tolerate), C(cluster_stack) and C(heartbeat_srs) (names).
      type: dict
    tags:
      description: Pool tags.
      type: list
      elements: str
    other_config:
      description: The pool's C(other_config).
      type: dict
    tls_verification_enabled:
      description: Whether TLS verification is enabled.
      type: bool
    ssl_legacy:
      description: Whether a host still allows legacy SSL; null on releases without the switch.
      type: bool
    hosts:
      description: Number of hosts in the pool.
      type: int
checks:
  description:
    - When a change is refused, the checks behind the refusal (master handover, HA requirements), each
      as C(name), C(passed), C(detail), C(blocking) and C(overridable_by_force).
  returned: when a change is refused
  type: list
  elements: dict
actions:
  description: What the module did (or, in check mode, would do), in order.
  returned: success
  type: list
  elements: str
  sample: ["set name_label to 'PDX0'", "set default_sr to NAS-2-VHD"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._common import (
    NULL_REF,
    is_live,
    other_config_changes,
    the_pool,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    InvalidParameterError,
    Refused,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._join_prechecks import describe, refusals, result
from ansible_collections.xenserver.pools.plugins.module_utils import _pool_membership as membership

CLASSES = ("pool", "host", "host_metrics", "SR", "PBD", "VDI", "PIF", "SM")
OPTIONAL_CLASSES = ("SM",)
# SM features that let an SR hold the HA state file (BEHAVIOUR.md 5, pool.enable_ha).
HA_SR_FEATURES = ("VDI_GENERATE_CONFIG", "VDI_ATTACH_OFFLINE")
SR_OPTIONS = (("default_sr", "default_SR"), ("suspend_image_sr", "suspend_image_SR"), ("crash_dump_sr", "crash_dump_SR"))


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name_label=dict(type="str"),
        name_description=dict(type="str"),
        default_sr=dict(type="str"),
        suspend_image_sr=dict(type="str"),
        crash_dump_sr=dict(type="str"),
        master=dict(type="str"),
        ha=dict(type="dict", options=dict(
            enabled=dict(type="bool"),
            heartbeat_srs=dict(type="list", elements="str"),
            host_failures_to_tolerate=dict(type="int"),
            timeout=dict(type="int"),
        )),
        tls_verification=dict(type="bool"),
        ssl_legacy=dict(type="bool"),
        tags=dict(type="list", elements="str"),
        purge_tags=dict(type="bool", default=False),
        other_config=dict(type="dict"),
        purge_other_config=dict(type="bool", default=False),
    )
    return spec


# --- lookups ------------------------------------------------------------------------------------

def resolve_sr(records, text, option):
    """SR ref for a uuid or name; "" means none (NULL)."""
    if text == "":
        return NULL_REF
    srs = records["SR"]
    for ref, sr in srs.items():
        if sr.get("uuid") == text:
            return ref
    named = [ref for ref, sr in srs.items() if sr.get("name_label") == text]
    if len(named) > 1:
        raise InvalidParameterError("%s: %d SRs are named %r; give the uuid instead." % (option, len(named), text))
    if not named:
        raise InvalidParameterError("%s: the pool has no SR named or with uuid %r; the SRs are: %s."
                                    % (option, text, ", ".join(sorted(sr.get("name_label", "") for sr in srs.values()))))
    return named[0]


def _sr_label(records, ref):
    return records["SR"].get(ref, {}).get("name_label", "") if ref not in (None, "", NULL_REF) else None


def _host_label(records, ref):
    return records["host"].get(ref, {}).get("name_label", ref)


# --- HA requirements: plain functions, like the join pre-flight checks --------------------------

def ha_sr_problems(records, sr_ref):
    """Why an SR cannot hold the HA heartbeat (empty when it can)."""
    sr = records["SR"][sr_ref]
    problems = []
    if not sr.get("shared"):
        problems.append("it is not shared")
    attached = set(pbd.get("host") for pbd in records["PBD"].values()
                   if pbd.get("SR") == sr_ref and pbd.get("currently_attached"))
    missing = [_host_label(records, ref) for ref in records["host"] if ref not in attached]
    if missing:
        problems.append("it is not attached on %s" % ", ".join(sorted(missing)))
    drivers = [sm for sm in records.get("SM", {}).values() if sm.get("type") == sr.get("type")]
    if drivers and not any(feature in (sm.get("features") or {}) for sm in drivers for feature in HA_SR_FEATURES):
        problems.append("its driver (%s) cannot hold an HA state file" % sr.get("type"))
    return problems


def ha_enable_checks(records, heartbeat_refs):
    pool = the_pool(records)
    checks = []
    xha = pool.get("restrictions", {}).get("enable_xha")
    checks.append(result("ha_licensed", xha is None or str(xha).lower() == "true",
                         "the pool's licence %s HA" % ("allows" if xha is None or str(xha).lower() == "true"
                                                       else "does not allow (enable_xha is false): license it for")))
    offline = [host.get("name_label", ref) for ref, host in records["host"].items() if not is_live(records, ref)]
    checks.append(result("hosts_live", not offline,
                         "host(s) %s are offline; every host must be live to enable HA: power them on or eject them"
                         % ", ".join(sorted(offline)) if offline else "every host is live"))
    versions = set(host.get("software_version", {}).get("platform_version") for host in records["host"].values())
    checks.append(result("same_versions", len(versions) <= 1,
                         "the hosts run different releases (%s); finish the upgrade first" % ", ".join(sorted(map(str, versions)))
                         if len(versions) > 1 else "every host runs the same release"))
    unplugged = ["%s on %s" % (pif.get("device"), _host_label(records, pif.get("host")))
                 for pif in records["PIF"].values() if pif.get("disallow_unplug") and not pif.get("currently_attached")]
    checks.append(result("required_pifs_plugged", not unplugged,
                         "interfaces marked disallow_unplug are not plugged: %s; plug them (PIF.plug) first"
                         % ", ".join(sorted(unplugged)) if unplugged else "every required interface is plugged"))
    if heartbeat_refs:
        problems = ["%s: %s" % (_sr_label(records, ref), "; ".join(ha_sr_problems(records, ref)))
                    for ref in heartbeat_refs if ha_sr_problems(records, ref)]
        checks.append(result("heartbeat_sr", not problems,
                             "the heartbeat SR(s) cannot be used: %s" % " / ".join(problems) if problems
                             else "the heartbeat SR(s) are shared and attached on every host"))
    else:
        usable = [ref for ref in records["SR"] if not ha_sr_problems(records, ref)]
        checks.append(result("heartbeat_sr", bool(usable),
                             "no SR can hold the HA heartbeat: it needs a shared SR attached on every host (for "
                             "example NFS or iSCSI); create one first" if not usable else
                             "XAPI can put the heartbeat on %s" % ", ".join(sorted(_sr_label(records, ref) for ref in usable))))
    return checks


# --- comparing current and desired -------------------------------------------------------------

class Plan(object):
    """Changes to make, in order, with the diff of the managed settings."""

    def __init__(self):
        self.steps = []  # (description, callable(client))
        self.before = {}
        self.after = {}

    def add(self, description, action):
        self.steps.append((description, action))


def _other_config_target(current, wanted, purge):
    """The other_config wanted: a null value removes its key (as in xs_host)."""
    target = {} if purge else dict(current)
    for key, value in (wanted or {}).items():
        if value is None:
            target.pop(str(key), None)
        else:
            target[str(key)] = str(value)
    return target


def plan_changes(params, records):
    """Compare the pool with the options; return a Plan or raise Refused/InvalidParameterError."""
    plan = Plan()
    pool_ref, pool = next(iter(records["pool"].items()))
    hosts = records["host"]

    for option in ("name_label", "name_description"):
        wanted = params[option]
        if wanted is not None and wanted != pool.get(option, ""):
            plan.before[option], plan.after[option] = pool.get(option, ""), wanted
            plan.add("set %s to %r" % (option, wanted),
                     lambda client, option=option, wanted=wanted: client.write("pool.set_%s" % option, pool_ref, wanted))

    for option, field in SR_OPTIONS:
        if params[option] is None:
            continue
        wanted = resolve_sr(records, params[option], option)
        if option == "default_sr" and wanted != NULL_REF and len(hosts) > 1 and not records["SR"][wanted].get("shared"):
            raise InvalidParameterError(
                "default_sr: %s is not shared storage, and in a pool of %d hosts the default SR must be shared (VMs "
                "could start only on the one host that has it); give a shared SR." % (_sr_label(records, wanted), len(hosts)))
        current = pool.get(field, NULL_REF)
        if wanted != current and not (wanted == NULL_REF and current not in records["SR"]):
            plan.before[option], plan.after[option] = _sr_label(records, current), _sr_label(records, wanted)
            plan.add("set %s to %s" % (option, _sr_label(records, wanted) or "none"),
                     lambda client, field=field, wanted=wanted: client.write("pool.set_%s" % field, pool_ref, wanted))

    if params["tags"] is not None:
        current = sorted(pool.get("tags", []))
        wanted = sorted(set(params["tags"]) | (set() if params["purge_tags"] else set(current)))
        if wanted != current:
            plan.before["tags"], plan.after["tags"] = current, wanted
            plan.add("set tags to %s" % ", ".join(wanted),
                     lambda client, wanted=wanted: client.write("pool.set_tags", pool_ref, wanted))

    if params["other_config"] is not None or params["purge_other_config"]:
        current = dict(pool.get("other_config", {}))
        wanted = _other_config_target(current, params["other_config"], params["purge_other_config"])
        if wanted != current:
            plan.before["other_config"], plan.after["other_config"] = current, wanted
            changed = sorted(key for key in wanted if current.get(key) != wanted[key])
            removed = sorted(key for key in current if key not in wanted)
            removal = "; remove %s" % ", ".join(removed) if removed else ""
            plan.add("set other_config keys %s%s" % (", ".join(changed) or "-", removal),
                     lambda client: _write_other_config(client, pool_ref, current, wanted))

    _plan_tls(params, records, plan, pool)
    _plan_ssl_legacy(params, records, plan, pool_ref)

    ha = params["ha"] or {}
    ha_on = bool(pool.get("ha_enabled"))
    disabling = ha.get("enabled") is False and ha_on
    if disabling:
        plan.before.setdefault("ha", {})["enabled"], plan.after.setdefault("ha", {})["enabled"] = True, False
        plan.add("disable HA (pool.disable_ha)", lambda client: client.run_task("pool.disable_ha", what="disabling HA"))

    _plan_master(params, records, plan, ha_on and not disabling)
    _plan_ha(params, records, plan, pool_ref, pool, ha_on, disabling)
    return plan


def _write_other_config(client, pool_ref, current, wanted):
    # Key by key, so that keys other tools write meanwhile are not overwritten.
    remove, add = other_config_changes(current, wanted)
    for key in remove:
        client.write("pool.remove_from_other_config", pool_ref, key)
    for key in sorted(add):
        client.write("pool.add_to_other_config", pool_ref, key, add[key])


def _plan_tls(params, records, plan, pool):
    wanted = params["tls_verification"]
    if wanted is None:
        return
    if "tls_verification_enabled" not in pool:
        if wanted:
            raise Refused("tls_verification: this release has no TLS verification between hosts (it came with "
                          "XenServer 8 / Citrix Hypervisor 8.2 CU1); upgrade the pool first, or leave the option out.",
                          checks=[])
        return
    current = bool(pool["tls_verification_enabled"])
    if current and not wanted:
        raise Refused("tls_verification: TLS verification is enabled and cannot be turned off again (it is "
                      "one-way); set tls_verification: true or leave the option out.", checks=[])
    if wanted and not current:
        plan.before["tls_verification"], plan.after["tls_verification"] = False, True
        plan.add("enable TLS verification (pool.enable_tls_verification)",
                 lambda client: client.write("pool.enable_tls_verification"))


def _plan_ssl_legacy(params, records, plan, pool_ref):
    wanted = params["ssl_legacy"]
    if wanted is None:
        return
    hosts = records["host"].values()
    if not any("ssl_legacy" in host for host in hosts):
        if wanted:
            raise Refused("ssl_legacy: this release has no legacy SSL mode (it always uses TLS 1.2 or later); "
                          "set ssl_legacy: false or leave the option out.", checks=[])
        return  # already TLS 1.2 only
    current = any(host.get("ssl_legacy") for host in hosts)
    if current != wanted:
        plan.before["ssl_legacy"], plan.after["ssl_legacy"] = current, wanted
        method = "pool.enable_ssl_legacy" if wanted else "pool.disable_ssl_legacy"
        plan.add("%s legacy SSL (%s)" % ("allow" if wanted else "turn off", method),
                 lambda client: client.write(method, pool_ref))


def _plan_master(params, records, plan, ha_stays_on):
    if params["master"] is None:
        return
    pool = the_pool(records)
    target = membership.find_host(records, params["master"])
    if target is None:
        raise InvalidParameterError("master: %r names no host of the pool; the hosts are: %s."
                                    % (params["master"], ", ".join(sorted(_host_label(records, ref) for ref in records["host"]))))
    if target == pool.get("master"):
        return
    checks = [result("ha_disabled", not ha_stays_on,
                     "HA is enabled and XAPI refuses to move the master then; disable it (ha.enabled: false) in the "
                     "same task or before" if ha_stays_on else "HA is off")]
    offline = [host.get("name_label", ref) for ref, host in records["host"].items() if not is_live(records, ref)]
    checks.append(result("hosts_live", not offline,
                         "host(s) %s are offline; every host must be live to hand the master role over: power them "
                         "on or eject them first" % ", ".join(sorted(offline)) if offline else "every host is live"))
    refused = refusals(checks)
    if refused:
        raise Refused("master: cannot make %s the pool master: %s." % (_host_label(records, target), describe(refused)),
                      checks=checks)
    plan.before["master"], plan.after["master"] = _host_label(records, pool.get("master")), _host_label(records, target)
    plan.add("hand the master role to %s (pool.designate_new_master)" % _host_label(records, target),
             lambda client: membership.designate_new_master(client, records, target))


def _statefile_srs(records, pool):
    vdis = records["VDI"]
    return sorted(set(vdis[ref]["SR"] for ref in membership.statefile_vdis(pool, vdis) if ref in vdis))


def _plan_ha(params, records, plan, pool_ref, pool, ha_on, disabling):
    ha = params["ha"] or {}
    if not ha:
        return
    heartbeat = None
    if ha.get("heartbeat_srs") is not None:
        heartbeat = sorted(set(resolve_sr(records, text, "ha.heartbeat_srs") for text in ha["heartbeat_srs"]))
    enabling = ha.get("enabled") is True and not ha_on
    stays_on = ha_on and not disabling
    if stays_on:
        changes = []
        if heartbeat is not None and heartbeat and heartbeat != _statefile_srs(records, pool):
            changes.append("heartbeat_srs")
        current_timeout = (pool.get("ha_configuration") or {}).get("timeout")
        if ha.get("timeout") is not None and current_timeout is not None and str(ha["timeout"]) != str(current_timeout):
            changes.append("timeout")
        if changes:
            raise Refused("ha: %s of an enabled HA cannot be changed; disable HA (ha.enabled: false), then enable it "
                          "again with the new settings." % " and ".join(changes), checks=[])
    ntol = ha.get("host_failures_to_tolerate")
    if ntol is not None:
        if ntol < 0:
            raise InvalidParameterError("ha.host_failures_to_tolerate must be 0 or more, got %d." % ntol)
        if ntol != pool.get("ha_host_failures_to_tolerate", 0):
            plan.before.setdefault("ha", {})["host_failures_to_tolerate"] = pool.get("ha_host_failures_to_tolerate", 0)
            plan.after.setdefault("ha", {})["host_failures_to_tolerate"] = ntol
            plan.add("set ha host_failures_to_tolerate to %d" % ntol,
                     lambda client: client.write("pool.set_ha_host_failures_to_tolerate", pool_ref, str(ntol)))
    if enabling:
        checks = ha_enable_checks(records, heartbeat or [])
        refused = refusals(checks)
        if refused:
            raise Refused("ha: cannot enable HA: %s." % describe(refused), checks=checks)
        configuration = {"timeout": str(ha["timeout"])} if ha.get("timeout") is not None else {}
        plan.before.setdefault("ha", {})["enabled"], plan.after.setdefault("ha", {})["enabled"] = False, True
        if heartbeat:
            plan.after["ha"]["heartbeat_srs"] = [_sr_label(records, ref) for ref in heartbeat]
        plan.add("enable HA (pool.enable_ha)",
                 lambda client: client.run_task("pool.enable_ha", heartbeat or [], configuration, what="enabling HA"))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    refusal = None
    try:
        with XapiClient.from_module(module) as client:
            records = client.get_all_records_of(CLASSES, optional=OPTIONAL_CLASSES)
            plan = plan_changes(module.params, records)
            if plan.steps and not module.check_mode:
                for _description, action in plan.steps:
                    action(client)
                records = client.get_all_records_of(CLASSES, optional=OPTIONAL_CLASSES)
    except Refused as refused:
        refusal = refused  # reported below, outside the except: an answer, not a crash (no traceback)
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    if refusal is not None:
        module.fail_json(msg=str(refusal), changed=False, **refusal.result)
    module.exit_json(changed=bool(plan.steps), actions=[description for description, _action in plan.steps],
                     pool=membership.pool_facts(records), diff=dict(before=plan.before, after=plan.after))


if __name__ == "__main__":
    main()
