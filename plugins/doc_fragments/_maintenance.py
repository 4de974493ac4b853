# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Keep in sync with maintenance_argument_spec() in plugins/module_utils/_maintenance.py.

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  blocked_vms:
    description:
      - What to do with the VMs that XAPI would not move off the host, as C(host.get_vms_which_prevent_evacuation)
        lists them - a disk on local storage, not enough free memory on the other hosts, a passthrough device,
        HA not protecting them...
      - V(refuse) stops before anything is changed and lists each such VM with the reason in words.
      - V(shutdown) shuts them down (cleanly; hard when the guest has no PV drivers) and records them, so that
        leaving maintenance starts them on this host again.
      - V(suspend) suspends them and records them, so that leaving maintenance resumes them on this host.
    type: str
    choices: [refuse, shutdown, suspend]
    default: refuse
  migration_network:
    description:
      - Name, uuid or bridge of the network the evacuation migrates the VMs over (C(host.evacuate) with a
        network, XenServer 8 / xapi 1.297 and later). Default is the management network.
    type: str
  master_handover:
    description:
      - When the host is the pool master, hand the master role to another live, enabled host first
        (C(pool.designate_new_master)), then continue through the new master.
      - The new master is O(new_master), or the live, enabled host with the most free memory.
      - The handover restarts the toolstacks, so it waits first until no VM of the pool is migrating.
      - With V(false) the master stays master while in maintenance.
    type: bool
    default: true
  new_master:
    description:
      - Name, uuid or address of the host to hand the master role to. See O(master_handover).
    type: str
  restore_vms:
    description:
      - When the host leaves maintenance, bring back the VMs recorded on entering - migrate the running ones
        back, start the ones that were shut down, resume the ones that were suspended - then clear the records.
      - With V(false) the records are cleared and the VMs stay where they are.
    type: bool
    default: true
  restore_strict:
    description:
      - Fail when a recorded VM cannot be brought back (it stays recorded, so a new run retries it).
      - With V(false) such VMs are reported in RV(vms_not_restored) and the records are cleared.
    type: bool
    default: false
  host_leaving_maintenance:
    description:
      - Name, uuid or address of another host that is leaving maintenance at the same time, for example in an
        Ansible C(async) task, as the P(xenserver.pools.rolling_maintenance#role) role runs it.
      - Before moving this host's VMs, wait until that host has started taking its VMs back (it drops its
        C(MAINTENANCE_MODE) mark once they are all on their way), so that the evacuation leaves those VMs alone
        and counts the memory they take there. Waited for at most 30 seconds.
      - Without it, the same wait starts only once that host is enabled again.
      - Only used when this host goes into maintenance.
    type: str
"""
