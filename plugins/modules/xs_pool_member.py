#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_pool_member
short_description: Join a host to a XenServer or XCP-ng pool, or eject it safely
version_added: 0.1.0
description:
  - O(state=present) joins the host O(host) to the pool whose master the connection options point
    at. Before anything changes, the module logs in to the host and checks it against the pool, for
    every requirement the XenServer documentation states for a joining host and every check XAPI
    makes in C(pool.join), plus some XAPI does not make (clock, CPU model and features, supplemental
    packs, static management address). Every check is returned in RV(preflight); a failed blocking
    check refuses the join, naming every failed check and what to do.
  - After the join it waits until the host is live and enabled in the pool, clears the pool's
    default, suspend-image and crash-dump SR settings that point at storage that is not shared
    (as XenCenter does), and reports in RV(storage) whether each shared SR of the pool is attached
    on the new host, with the likely cause when it is not.
  - A host already in the pool is left alone (no change), also when its login answers that it is a
    member of this pool (C(HOST_IS_SLAVE) naming our master). A member of another pool is refused.
  - O(state=absent) ejects the host. XAPI wipes an ejected host and loses every virtual disk on its
    local storage, so the module refuses to eject the master unless O(designate_new_master) names a
    successor, refuses while VMs run, are paused or suspended on the host unless O(evacuate=true),
    and refuses while its local storage holds virtual disks unless O(allow_local_data_loss=true),
    listing the disks and their VMs. A host not in the pool is no change.
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
      - Returns the pre-flight report (or the eject checks) and the planned actions; changes nothing.
  diff_mode:
    support: full
    details:
      - The pool's host list before and after.
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) - the host is a member of the pool.
      - V(absent) - the host is not a member of the pool (it is ejected and reset by XAPI).
    type: str
    choices: [present, absent]
    default: present
  host:
    description:
      - The host to join or eject.
      - With O(state=present), its management address (name or IP, optionally with scheme and port);
        the module logs in to it with O(host_username) and O(host_password).
      - With O(state=absent), its name, UUID or address in the pool.
    type: str
    required: true
  host_username:
    description:
      - User to log in to O(host) as, before it joins.
    type: str
    default: root
  host_password:
    description:
      - Password of O(host_username) on O(host). Required with O(state=present).
    type: str
  master_address:
    description:
      - The address the joining host uses to reach the pool master.
      - Defaults to the master's management address as the pool knows it (its C(address) field).
    type: str
  force:
    description:
      - Join even though the host's CPU differs from the pool's hosts in model or features (a
        heterogeneous pool); the module then uses C(pool.join_force).
      - Never overrides a different CPU vendor or any other failed check.
    type: bool
    default: false
  max_clock_skew:
    description:
      - Largest difference in seconds allowed between the clocks of the joining host and the master.
    type: int
    default: 60
  designate_new_master:
    description:
      - With O(state=absent) and O(host) the pool master, the member (name, UUID or address) that takes
        over the master role before the old master is ejected (once no VM of the pool is migrating, as the
        handover restarts the toolstacks).
    type: str
  evacuate:
    description:
      - With O(state=absent), migrate the running and paused VMs on the host to other hosts first
        (the host is disabled meanwhile). Fails cleanly, changing nothing, when a VM cannot move.
    type: bool
    default: false
  allow_local_data_loss:
    description:
      - With O(state=absent), eject even though the host's local storage holds virtual disks; they
        are lost.
    type: bool
    default: false
notes:
  - C(pool.join) runs on the joining host and its API restarts about 10 seconds later; the module
    waits for the new member with XAPI events, up to O(timeout).
  - When the joining host refuses connections (its API is starting, for example after a reboot), the
    module keeps trying to log in to it for up to O(timeout) seconds.
  - The joining host's password and the pool's password are never returned or logged.
"""

EXAMPLES = r"""
---
- name: Join xs2 to the pool of xs1
  xenserver.pools.xs_pool_member:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    host: xs2.example.com
    host_password: "{{ vault_xs2_password }}"
  register: joined

- name: Show what the pre-flight checks found
  ansible.builtin.debug:
    msg: "{{ joined.preflight | rejectattr('passed') | list }}"

- name: Check every candidate first, without joining any (check mode)
  xenserver.pools.xs_pool_member:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    host: "{{ item }}"
    host_password: "{{ vault_host_password }}"
  check_mode: true
  loop: [xs2.example.com, xs3.example.com]

- name: Join a host with another CPU model (heterogeneous pool)
  xenserver.pools.xs_pool_member:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    host: xs4.example.com
    host_password: "{{ vault_host_password }}"
    force: true

- name: Eject xs3, migrating its VMs away first
  xenserver.pools.xs_pool_member:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    host: xs3
    state: absent
    evacuate: true

- name: Eject the master, handing the role to xs2 first
  xenserver.pools.xs_pool_member:
    hostname: xs1.example.com
    password: "{{ vault_pool_password }}"
    host: xs1
    state: absent
    designate_new_master: xs2
"""

RETURN = r"""
host:
  description:
    - The host, as a member of the pool (after the join; before the eject). Before a join (check mode,
      or a refused join), the joining host as it is. Null when it is not and will not be a member.
  returned: always
  type: dict
  contains:
    name:
      description: Host name (C(name_label)).
      type: str
    uuid:
      description: Host UUID.
      type: str
    address:
      description: Management address.
      type: str
    is_master:
      description: Whether the host is the pool master.
      type: bool
    live:
      description: Whether the master sees the host as alive.
      type: bool
    enabled:
      description: Whether the host is enabled.
      type: bool
    interfaces:
      description:
        - Device names of the host's physical network interfaces, for example C(eth0) and C(eth1) (read
          from the joining host itself before a join).
      type: list
      elements: str
preflight:
  description:
    - The checks made before joining (O(state=present)) or ejecting (O(state=absent)), also when the
      operation goes ahead. Empty when the host already was in the wanted state.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name, for example C(cpu_vendor), C(clock_skew), C(no_local_data).
      type: str
    passed:
      description: Whether the requirement holds.
      type: bool
    detail:
      description: What was found and, when it failed, what to do.
      type: str
    blocking:
      description: Whether a failure stops the operation (false for warnings, or when an option allows it).
      type: bool
    overridable_by_force:
      description: Whether O(force=true) lets the join go ahead despite a failure.
      type: bool
  sample:
    - name: cpu_vendor
      passed: true
      detail: same CPU vendor (GenuineIntel)
      blocking: true
      overridable_by_force: false
actions:
  description: What the module did (or, in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample: ["join xs2 to pool lab (pool.join)", "clear the pool's default_sr (Local storage, not shared)"]
join_method:
  description: C(pool.join) or C(pool.join_force) when the module joins (or would join) the host.
  returned: when O(state=present)
  type: str
storage:
  description: Every shared SR of the pool and whether it is attached on the host.
  returned: when O(state=present) and the host is a member
  type: list
  elements: dict
  contains:
    sr:
      description: SR name.
      type: str
    uuid:
      description: SR UUID.
      type: str
    type:
      description: SR type.
      type: str
    attached:
      description: Whether the host's PBD for the SR is plugged.
      type: bool
    likely_cause:
      description: When not attached, the likely reason and what to do; null otherwise.
      type: str
cleared_pool_srs:
  description: The pool SR settings that pointed at storage that is not shared and were (or would be) cleared.
  returned: when O(state=present)
  type: list
  elements: dict
  contains:
    setting:
      description: C(default_sr), C(suspend_image_sr) or C(crash_dump_sr).
      type: str
    sr:
      description: The SR it pointed at, as C(name) and C(uuid).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF, master_ref, sr_name, the_pool
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    AuthenticationError,
    ConnectionFailedError,
    InvalidParameterError,
    Refused,
    RequestTimeoutError,
    XapiError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._join_prechecks import (
    describe,
    needs_force,
    non_blocking_failures,
    refusals,
    result,
    run_prechecks,
)
from ansible_collections.xenserver.pools.plugins.module_utils import _pool_membership as membership

# What is re-read after a join, to tidy the pool and report the new host's storage.
AFTER_JOIN_CLASSES = ("pool", "host", "host_metrics", "SR", "PBD", "PIF", "network")


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        host=dict(type="str", required=True),
        host_username=dict(type="str", default="root"),
        host_password=dict(type="str", no_log=True),
        master_address=dict(type="str"),
        force=dict(type="bool", default=False),
        max_clock_skew=dict(type="int", default=60),
        designate_new_master=dict(type="str"),
        evacuate=dict(type="bool", default=False),
        allow_local_data_loss=dict(type="bool", default=False),
    )
    return spec


def _pool_label(records):
    pool = the_pool(records)
    return pool.get("name_label") or "(unnamed, uuid %s)" % pool.get("uuid", "")


def _host_names(records):
    return sorted(host.get("name_label", "") for host in records["host"].values())


def _diff(before_names, after_names):
    return dict(before=dict(hosts=sorted(before_names)), after=dict(hosts=sorted(after_names)))


# --- state: present -----------------------------------------------------------------------------

def ensure_member(module, client):
    params = module.params
    pool_side = membership.read_side(client)
    records = pool_side.records
    member_ref = membership.find_host(records, params["host"], by_name=False)
    if member_ref is not None:
        return _already_member(records, member_ref, "%s is already a member of pool %s"
                               % (params["host"], _pool_label(records)))

    candidate_client = membership.open_client(params, params["host"], params["host_username"],
                                              params["host_password"], follow_master=False)
    try:
        outcome = _log_in_to_candidate(candidate_client, params, client, pool_side)
        if outcome is not None:
            return outcome
        candidate = membership.read_side(candidate_client)
        pool_uuids = dict((host.get("uuid"), ref) for ref, host in records["host"].items())
        if candidate.host.get("uuid") in pool_uuids:
            return _already_member(records, pool_uuids[candidate.host["uuid"]], "%s is already a member of pool %s"
                                   % (params["host"], _pool_label(records)))
        planned = _plan_join(module, candidate, pool_side)
        if module.check_mode:
            return planned
        lost_connection = _join(candidate_client, params, planned, candidate, pool_side)
    finally:
        # Log out at once: the joining host's API restarts shortly after pool.join returns.
        candidate_client.close()
    return _after_join(module, client, candidate, planned, lost_connection)


def _log_in_to_candidate(candidate_client, params, client, pool_side):
    """Log in to the joining host itself. Returns None when logged in, or the no-change outcome
    when its login says it already is a member of this pool; refuses a member of another pool."""
    records = pool_side.records
    pool_name = _pool_label(records)
    try:
        # wait=True: a freshly installed or rebooted host's API may still be starting.
        candidate_client.login(wait=True)
        return None
    except AuthenticationError:
        raise AuthenticationError(
            "Login to %s as %r failed: XAPI returned SESSION_AUTHENTICATION_FAILED (wrong user name or password); "
            "check host_username and host_password, the credentials of the joining host. Nothing was changed."
            % (candidate_client.url, params["host_username"])) from None
    except XapiError as error:
        if error.code != "HOST_IS_SLAVE":
            raise
        named = error.params[0] if error.params else ""
    if any(membership.same_address(named, ours) for ours in (pool_side.host.get("address", ""), client.url)):
        names = _host_names(records)
        return dict(changed=False, host=None, preflight=[], actions=[], join_method=None, storage=[],
                    cleared_pool_srs=[], diff=_diff(names, names),
                    msg="%s is already a member of pool %s (its login names our master %s)"
                        % (params["host"], pool_name, named))
    detail = ("%s is a member of another pool, whose master is %s; eject it from that pool first (or point the "
              "connection options at that pool)" % (params["host"], named))
    raise Refused("Refusing to join %s to pool %s: not_in_another_pool: %s."
                  % (params["host"], pool_name, detail), preflight=[result("not_in_another_pool", False, detail)])


def _plan_join(module, candidate, pool_side):
    """The pre-flight report and the planned changes; refuses when a blocking check failed."""
    params = module.params
    records = pool_side.records
    pool_name = _pool_label(records)
    checks = run_prechecks(candidate, pool_side, max_clock_skew=params["max_clock_skew"])
    # As the pool will see it before it is up: not master, not live, not enabled.
    host = dict(membership.host_facts(candidate.records, candidate.host_ref), is_master=False, live=False, enabled=False)
    refused = refusals(checks, params["force"])
    if refused:
        raise Refused("Refusing to join %s to pool %s: %d pre-flight check(s) failed - %s."
                      % (candidate.name, pool_name, len(refused), describe(refused)), preflight=checks, host=host)
    for warning in non_blocking_failures(checks, params["force"]):
        module.warn("%s: %s" % (warning["name"], warning["detail"]))

    # join_force only when a check it is meant for failed: XAPI's own homogeneity check stays on otherwise.
    method = "pool.join_force" if params["force"] and needs_force(checks) else "pool.join"
    to_clear = membership.non_shared_pool_srs(records)
    names = _host_names(records)
    return dict(
        changed=True, preflight=checks, join_method=method, storage=[],
        actions=["join %s to pool %s (%s)" % (candidate.name, pool_name, method)] + [
            "clear the pool's %s (%s, not shared)" % (option, records["SR"][ref].get("name_label", ""))
            for _field, option, ref in to_clear],
        cleared_pool_srs=[dict(setting=option, sr=sr_name(records["SR"], ref))
                          for _field, option, ref in to_clear],
        diff=_diff(names, names + [candidate.host.get("name_label", "")]),
        host=host,
    )


def _join(candidate_client, params, planned, candidate, pool_side):
    """pool.join (or join_force) on the joining host. Returns the connection error when the answer
    was lost: the host may have joined and restarted before answering, and the pool will tell."""
    method = planned["join_method"]
    master_address = params["master_address"] or pool_side.host.get("address")
    action = "Joining %s to pool %s (%s on %s)" % (candidate.name, _pool_label(pool_side.records), method,
                                                   candidate_client.url)
    try:
        candidate_client.write(method, master_address, params["username"], params["password"], action=action)
    except (ConnectionFailedError, RequestTimeoutError) as error:
        return error
    return None


def _after_join(module, client, candidate, planned, lost_connection):
    """Wait until the new member is live and enabled, clear pool SR settings that point at storage
    that is not shared, and report the new member's shared-SR attachments."""
    uuid = candidate.host.get("uuid")
    try:
        client.wait_for(["host", "host_metrics"], membership.member_is_up(uuid),
                        "%s to be a live, enabled member of the pool" % candidate.name)
    except RequestTimeoutError:
        if lost_connection is not None:
            raise lost_connection from None
        raise
    records = client.get_all_records_of(AFTER_JOIN_CLASSES)
    new_ref = next(ref for ref, host in records["host"].items() if host.get("uuid") == uuid)
    pool_ref = next(iter(records["pool"]))
    cleared = []
    for field, option, sr_ref in membership.non_shared_pool_srs(records):
        client.write("pool.set_%s" % field, pool_ref, NULL_REF,
                     action="Clearing the pool's %s (it points at storage that is not shared)" % option)
        cleared.append(dict(setting=option, sr=sr_name(records["SR"], sr_ref)))
    storage = membership.shared_sr_report(records, new_ref)
    for entry in storage:
        if not entry["attached"]:
            module.warn("shared SR %s is not attached on %s: %s" % (entry["sr"], candidate.name, entry["likely_cause"]))
    actions = planned["actions"][:1] + ["clear the pool's %s (%s, not shared)" % (entry["setting"], entry["sr"]["name"])
                                        for entry in cleared]
    names_before = planned["diff"]["before"]["hosts"]
    return dict(planned, actions=actions, cleared_pool_srs=cleared, storage=storage,
                host=membership.host_facts(records, new_ref), diff=_diff(names_before, _host_names(records)))


def _already_member(records, ref, message):
    names = _host_names(records)
    return dict(changed=False, host=membership.host_facts(records, ref), preflight=[], actions=[], join_method=None,
                storage=membership.shared_sr_report(records, ref), cleared_pool_srs=[], diff=_diff(names, names),
                msg=message)


# --- state: absent ------------------------------------------------------------------------------

def ensure_not_member(module, client):
    params = module.params
    records = client.get_all_records_of(membership.CLASSES, optional=membership.OPTIONAL_CLASSES)
    pool_name = _pool_label(records)
    names = _host_names(records)
    host_ref = membership.find_host(records, params["host"])
    if host_ref is None:
        return dict(changed=False, host=None, preflight=[], actions=[], diff=_diff(names, names),
                    msg="%s is not a member of pool %s" % (params["host"], pool_name))
    host_name = records["host"][host_ref].get("name_label", host_ref)
    if len(records["host"]) == 1:
        # The connection reached the host itself, alone in its pool: e.g. an old master that was ejected
        # after handing the role over, on a re-run of the same task.
        return dict(changed=False, host=None, preflight=[], actions=[], diff=_diff(names, names),
                    msg="%s is a standalone host (the only host of its pool), not a pool member; nothing to eject"
                        % host_name)
    successor_ref = None
    if params["designate_new_master"]:
        successor_ref = membership.find_host(records, params["designate_new_master"])
        if successor_ref is None:
            raise InvalidParameterError("designate_new_master %r names no host of pool %s; give the name, uuid or "
                                        "address of a member." % (params["designate_new_master"], pool_name))
    is_master = host_ref == master_ref(records)

    on_host = membership.vms_on_host(records, host_ref)
    blockers = None
    if params["evacuate"] and on_host:
        blockers = _evacuation_blockers(client, host_ref)
    checks = membership.eject_checks(records, host_ref, successor_ref if is_master else None, params["evacuate"],
                                     params["allow_local_data_loss"], blockers)
    refused = refusals(checks)
    if refused:
        raise Refused("Refusing to eject %s from pool %s: %s."
                      % (host_name, pool_name, describe(refused)), preflight=checks)
    for warning in non_blocking_failures(checks):
        module.warn("%s: %s" % (warning["name"], warning["detail"]))

    actions = []
    if is_master:
        actions.append("hand the master role to %s (pool.designate_new_master)"
                       % records["host"][successor_ref].get("name_label", ""))
    evacuating = params["evacuate"] and any(records["VM"][ref].get("resident_on") == host_ref for ref in on_host)
    if evacuating:
        actions.append("disable %s and migrate its VMs to other hosts (host.evacuate)" % host_name)
    actions.append("eject %s from pool %s (pool.eject); XAPI resets it to a fresh standalone host" % (host_name, pool_name))
    outcome = dict(changed=True, host=membership.host_facts(records, host_ref), preflight=checks, actions=actions,
                   diff=_diff(names, [name for name in names if name != host_name]))
    if module.check_mode:
        return outcome

    if is_master:
        membership.designate_new_master(client, records, successor_ref)
    if evacuating:
        _evacuate(client, host_ref, host_name)
    try:
        client.run_task("pool.eject", host_ref, what="ejecting %s from pool %s" % (host_name, pool_name))
    except XenServerError:
        if evacuating:
            _enable_quietly(client, host_ref)
        raise
    client.wait_for(["host"], lambda state: host_ref not in state.get("host", {}),
                    "%s to leave pool %s" % (host_name, pool_name))
    return outcome


def _evacuation_blockers(client, host_ref):
    """{VM ref: [code, ...]} of the VMs that cannot leave the host; None when the release cannot say."""
    try:
        return client.read("host.get_vms_which_prevent_evacuation", host_ref)
    except XapiError as error:
        if error.code == "MESSAGE_METHOD_UNKNOWN":
            return None  # host.evacuate itself refuses then, before migrating anything
        raise


def _evacuate(client, host_ref, host_name):
    """Disable the host (no VM may start there meanwhile) and migrate its VMs; on failure enable
    it again, so that a failed evacuation leaves the host as it was."""
    client.write("host.disable", host_ref, repeat_safe=True, action="Disabling %s before evacuating it" % host_name)
    try:
        client.run_task("host.evacuate", host_ref, what="migrating the VMs off %s (host.evacuate)" % host_name)
        records = client.get_all_records_of(["VM"])
        left = [vm.get("name_label", ref) for ref, vm in records["VM"].items()
                if vm.get("resident_on") == host_ref and not vm.get("is_control_domain")
                and vm.get("power_state") != "Halted"]
        if left:
            raise XapiError("VMs are still on %s after the evacuation: %s; move or shut them down, then retry. "
                            "The host was enabled again." % (host_name, ", ".join(sorted(left))))
    except XenServerError:
        _enable_quietly(client, host_ref)
        raise


def _enable_quietly(client, host_ref):
    try:
        client.write("host.enable", host_ref, repeat_safe=True)
    except XenServerError:
        pass  # the original error is what the user needs to see


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "present", ("host_password",))])
    refusal = None
    try:
        with XapiClient.from_module(module) as client:
            if module.params["state"] == "present":
                outcome = ensure_member(module, client)
            else:
                outcome = ensure_not_member(module, client)
    except Refused as refused:
        refusal = refused  # reported below, outside the except: an answer, not a crash (no traceback)
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    if refusal is not None:
        module.fail_json(msg=str(refusal), changed=False, **refusal.result)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
