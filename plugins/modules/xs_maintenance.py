#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_maintenance
short_description: Put a XenServer or XCP-ng host into maintenance mode and take it out again
version_added: 0.1.0
description:
  - Entering (O(state=maintenance)) follows the documented procedure and XenCenter's maintenance mode - it
    first asks XAPI which VMs would block the evacuation and, by default, refuses before changing anything,
    naming each VM with the reason in words. It then hands the master role to another host when the host is
    the pool master, records the resident VMs in the host's C(other_config) with XenCenter's keys
    (C(MAINTENANCE_MODE), C(MAINTENANCE_MODE_EVACUATED_VMS_MIGRATED), C(..._HALTED), C(..._SUSPENDED)) so
    that XenCenter shows the same state, disables the host, evacuates it and waits until no VM runs on it.
  - The host is disabled so that it stays disabled across a reboot where the pool's version allows it
    (C(host.disable) with C(auto_enable=false), xapi 25.31 and later). On older versions a host re-enables
    itself when its toolstack restarts; running this module again disables it again.
  - Leaving (O(state=active)) enables the host and, with O(restore_vms), migrates the recorded running VMs
    back, starts the VMs it shut down and resumes the VMs it suspended, then clears the records.
  - When the evacuation fails (XAPI refuses or a VM cannot move), the host is enabled again, VMs that already
    moved or were shut down are brought back, and the error says why.
  - When a run is interrupted (connection lost, deadline reached), the host's records are kept; running the
    module again finishes the job from them.
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._maintenance
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
options:
  host:
    description:
      - The host - its name (C(name_label) or host name), uuid or management address.
    type: str
    required: true
  state:
    description:
      - V(maintenance) - the host is disabled, recorded as in maintenance, runs no VM and, with
        O(master_handover), is not the pool master.
      - V(active) - the host is enabled and has no maintenance records left.
    type: str
    choices: [maintenance, active]
    default: maintenance
attributes:
  check_mode:
    support: full
    details:
      - Reads only; RV(actions) and RV(vms) say what would be done.
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - O(timeout) is also the deadline of each wait - for the master role to move, for the evacuation and for
    each VM brought back.
  - Point O(hostname) at any host of the pool. After a master handover the module continues through the new
    master, so later tasks that point at the old master are redirected too.
seealso:
  - module: xenserver.pools.xs_host_power
  - module: xenserver.pools.xs_pool_info
"""

EXAMPLES = r"""
---
- name: Put xs2 into maintenance (refuses if a VM cannot be moved)
  xenserver.pools.xs_maintenance:
    hostname: xs1.example.com
    password: "{{ vault_xenserver_password }}"
    host: xs2
    state: maintenance
  register: xs_maintenance

- name: Show where each VM went
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.action }} to {{ item.destination }}"
  loop: "{{ xs_maintenance.vms }}"

- name: Maintain the master, shutting down VMs that live on local storage; evacuate over the storage network
  xenserver.pools.xs_maintenance:
    host: xs1
    blocked_vms: shutdown
    migration_network: storage
    new_master: xs3

- name: Take xs2 out of maintenance and bring its VMs back
  xenserver.pools.xs_maintenance:
    host: xs2
    state: active
"""

RETURN = r"""
api_url:
  description: URL of the pool master the module talked to last (after a master handover, the new master).
  returned: success
  type: str
  sample: https://192.0.2.12/
host:
  description: The host's state after the run (predicted in check mode).
  returned: success
  type: dict
  contains:
    name:
      description: Host name.
      type: str
    uuid:
      description: Host uuid.
      type: str
    maintenance_mode:
      description: Whether C(other_config:MAINTENANCE_MODE) is set.
      type: bool
    enabled:
      description: Whether the host is enabled.
      type: bool
    live:
      description: Whether the host is live.
      type: bool
    is_master:
      description: Whether the host is the pool master.
      type: bool
    resident_vms:
      description: Names of the VMs running on the host.
      type: list
      elements: str
    recorded_vms:
      description: The uuids recorded as C(migrated), C(halted) and C(suspended).
      type: dict
  sample:
    name: xs2
    uuid: 2f3c9a4e-6a36-4b5e-9d8a-3c1d2e4f5a6b
    maintenance_mode: true
    enabled: false
    live: true
    is_master: false
    resident_vms: []
    recorded_vms: {migrated: [5b1c...], halted: [], suspended: []}
vms:
  description: The VMs moved, shut down, suspended or brought back, in order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    uuid:
      description: VM uuid.
      type: str
    action:
      description: C(migrated), C(halted), C(suspended), C(started) or C(resumed).
      type: str
    source:
      description: Host the VM was on, or null.
      type: str
    destination:
      description: Host the VM went to, or null (halted, suspended, or not known in check mode).
      type: str
  sample:
    - {name: web-2, uuid: 5b1c..., action: migrated, source: xs2, destination: xs3}
vms_not_restored:
  description: Recorded VMs that could not be brought back, each with C(name), C(uuid), C(recorded) and C(reason).
  returned: success
  type: list
  elements: dict
blocked_vms:
  description: The VMs XAPI would not move, each with C(vm), C(uuid), C(code), C(params) and C(reason) in words.
  returned: success
  type: list
  elements: dict
master_handover:
  description: The master role's move as C(old) and C(new) host names, or null.
  returned: success
  type: dict
  sample: {old: xs1, new: xs3}
actions:
  description: What was done (in check mode, what would be done), in order.
  returned: success
  type: list
  elements: str
elapsed_seconds:
  description: Time the run took.
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import XenServerError
from ansible_collections.xenserver.pools.plugins.module_utils._maintenance import (
    Maintenance,
    find_host,
    host_state,
    maintenance_argument_spec,
    maintenance_options,
)


def argument_spec():
    spec = connection_argument_spec()
    spec.update(maintenance_argument_spec())
    spec.update(
        host=dict(type="str", required=True),
        state=dict(type="str", default="maintenance", choices=["maintenance", "active"]),
    )
    return spec


def predicted_state(before, state, report):
    """The host as check mode expects it after the run."""
    after = dict(before)
    if state == "maintenance":
        after.update(maintenance_mode=True, enabled=False, resident_vms=[])
        if report["master_handover"]:
            after["is_master"] = False
    else:
        after.update(maintenance_mode=False, enabled=True,
                     recorded_vms=dict((name, []) for name in before["recorded_vms"]))
    return after


def run(module, client):
    params = module.params
    started = time.monotonic()
    maintenance = Maintenance(client, maintenance_options(params), check_mode=module.check_mode)
    records = maintenance.read()
    host_ref = find_host(records, params["host"])
    before = host_state(records, host_ref)
    if params["state"] == "maintenance":
        report = maintenance.enter(host_ref, records)
    else:
        report = maintenance.leave(host_ref, records)
    if not report["changed"]:
        after = before
    elif module.check_mode:
        after = predicted_state(before, params["state"], report)
    else:
        after = host_state(maintenance.read(), host_ref)
    return dict(
        changed=report["changed"],
        api_url=client.url,
        host=after,
        vms=report["vms"],
        vms_not_restored=report["vms_not_restored"],
        blocked_vms=report["blocked_vms"],
        master_handover=report["master_handover"],
        actions=report["actions"],
        elapsed_seconds=round(time.monotonic() - started, 3),
        diff=dict(before=before, after=after),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        with XapiClient.from_module(module) as client:
            result = run(module, client)
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
