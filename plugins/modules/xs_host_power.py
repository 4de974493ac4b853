#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_host_power
short_description: Configure how a XenServer or XCP-ng host is powered on, and power it on, off or reboot it
version_added: 0.1.0
description:
  - O(state=configured) sets the host's power-on mode (C(host.set_power_on_mode)) - Wake on LAN, IPMI, DRAC or a
    custom script - with its settings. The BMC password is stored only as a XAPI secret (C(secret.create)) whose
    uuid goes into C(power_on_config:power_on_password_secret); the previous secret is removed. The password is
    compared with the stored secret's value, so a second run with the same password changes nothing, and it is
    never returned.
  - O(state=powered_on) powers the host on through the pool master (C(host.power_on)) and waits until it is live
    and enabled (a host recorded in maintenance stays disabled).
  - O(state=powered_off) puts the host into maintenance as M(xenserver.pools.xs_maintenance) does (refusing when a
    VM cannot be moved, unless O(blocked_vms) says otherwise; handing over the master role), shuts it down and
    waits until it is no longer live. Its VMs stay recorded; after powering it on, take it out of maintenance
    with M(xenserver.pools.xs_maintenance) to bring them back.
  - O(state=rebooted) puts the host into maintenance, reboots it, waits for a newer
    C(other_config:agent_start_time), live and enabled, then restores its previous state - an active host is
    taken out of maintenance and, with O(restore_vms), gets its VMs back; a host that was in maintenance stays
    in it (disabled again if it re-enabled itself). This state always reports a change.
  - Power-on modes the host's version has removed are refused with the reason - C(iLO) since Citrix Hypervisor
    8.0, C(DRAC) since xapi 24.19 (replaced by C(IPMI)); C(IPMI) before xapi 24.19.
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
      - What to make of the host; see the description.
    type: str
    choices: [configured, powered_on, powered_off, rebooted]
    default: configured
  power_on_mode:
    description:
      - V(disabled), V(wake-on-lan), V(IPMI), V(DRAC), V(iLO), or the name of a custom power-on script installed
        in C(/etc/xapi.d/plugins) on the pool master.
      - Required with O(state=configured); with the other states, the mode is configured first when given.
    type: str
  power_on_config:
    description:
      - Settings of the mode, for example C(power_on_ip) and C(power_on_user) for IPMI and DRAC, or any keys a
        custom script reads. Replaces the current settings.
      - Give the password as O(power_on_password), never here.
    type: dict
  power_on_password:
    description:
      - The BMC (or custom script) password. Stored as a XAPI secret; compared with the stored secret's value.
      - When not given, a password stored before is kept for modes that use one.
    type: str
attributes:
  check_mode:
    support: full
    details:
      - Reads only (including the stored secret's value, to compare the password).
  diff_mode:
    support: full
    details:
      - The password is shown only as V(set), V(not set) or V(changed).
  idempotent:
    support: partial
    details:
      - V(rebooted) reboots the host on every run.
notes:
  - O(timeout) is also the deadline of each wait - for the host to come back after a reboot or a power-on, for
    it to go off, and for each maintenance step.
  - A host that does not come back before the deadline is left in maintenance (disabled, its VMs recorded) and
    the module fails saying so.
seealso:
  - module: xenserver.pools.xs_maintenance
"""

EXAMPLES = r"""
---
- name: Power xs3 on through its BMC (IPMI)
  xenserver.pools.xs_host_power:
    host: xs3
    power_on_mode: IPMI
    power_on_config:
      power_on_ip: 10.0.0.13
      power_on_user: admin
    power_on_password: "{{ vault_bmc_password }}"
    state: powered_on

- name: Wake on LAN for every host of the pool
  xenserver.pools.xs_host_power:
    host: "{{ item }}"
    power_on_mode: wake-on-lan
  loop: [xs1, xs2, xs3]

- name: Reboot xs2 without VM downtime (VMs move away and come back)
  xenserver.pools.xs_host_power:
    host: xs2
    state: rebooted
    timeout: 1200

- name: Shut xs4 down, shutting down the VMs that cannot move
  xenserver.pools.xs_host_power:
    host: xs4
    state: powered_off
    blocked_vms: shutdown
"""

RETURN = r"""
api_url:
  description: URL of the pool master the module talked to last.
  returned: success
  type: str
host:
  description: The host after the run (predicted in check mode).
  returned: success
  type: dict
  contains:
    name:
      description: Host name.
      type: str
    uuid:
      description: Host uuid.
      type: str
    live:
      description: Whether the host is live.
      type: bool
    enabled:
      description: Whether the host is enabled.
      type: bool
    maintenance_mode:
      description: Whether the host is recorded as in maintenance.
      type: bool
    power_on_mode:
      description: Power-on mode, C("") when disabled.
      type: str
    power_on_config:
      description: Power-on settings without the keys that hold or name secrets.
      type: dict
    power_on_password_set:
      description: Whether a password secret is configured.
      type: bool
    agent_start_time:
      description: C(other_config:agent_start_time), when the host's toolstack last started.
      type: float
  sample:
    name: xs3
    uuid: 7c0b5f0e-1f0a-4c57-8d6e-2b1c3d4e5f60
    live: true
    enabled: true
    maintenance_mode: false
    power_on_mode: IPMI
    power_on_config: {power_on_ip: 10.0.0.13, power_on_user: admin}
    power_on_password_set: true
    agent_start_time: 1763700000.0
vms:
  description: VMs moved, shut down, suspended or brought back (see M(xenserver.pools.xs_maintenance)).
  returned: success
  type: list
  elements: dict
vms_not_restored:
  description: Recorded VMs that could not be brought back after a reboot.
  returned: success
  type: list
  elements: dict
master_handover:
  description: The master role's move as C(old) and C(new) host names, or null.
  returned: success
  type: dict
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

import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    InvalidParameterError,
    RequestTimeoutError,
    XapiError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._common import (
    agent_start_time,
    is_live,
    holds_secret,
    master_ref,
    public_power_on_config,
    started_after,
)
from ansible_collections.xenserver.pools.plugins.module_utils._maintenance import (
    Maintenance,
    MaintenanceError,
    find_host,
    host_name,
    maintenance_argument_spec,
    maintenance_options,
    maintenance_records,
    supports_persistent_disable,
    version_tuple,
    xapi_version,
)

SECRET_KEY = "power_on_password_secret"
# Canonical spelling of the modes XAPI knows; anything else names a custom script.
KNOWN_MODES = {"disabled": "", "": "", "wake-on-lan": "wake-on-lan", "ipmi": "IPMI", "drac": "DRAC", "ilo": "iLO"}
BMC_MODES = ("IPMI", "DRAC")
NO_PASSWORD_MODES = ("", "wake-on-lan")
SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
IPMI_SINCE_XAPI = (24, 19)       # python3/poweron: DRAC.py replaced by IPMI.py
ILO_REMOVED_PLATFORM = (3, 0, 0)  # Stockholm (Citrix Hypervisor 8.0) removed iLO.py


def argument_spec():
    spec = connection_argument_spec()
    spec.update(maintenance_argument_spec())
    spec.update(
        host=dict(type="str", required=True),
        state=dict(type="str", default="configured", choices=["configured", "powered_on", "powered_off", "rebooted"]),
        power_on_mode=dict(type="str"),
        power_on_config=dict(type="dict"),
        power_on_password=dict(type="str", no_log=True),
    )
    return spec


def canonical_mode(mode):
    text = (mode or "").strip()
    if text.lower() in KNOWN_MODES:
        return KNOWN_MODES[text.lower()]
    if not SCRIPT_NAME.match(text):
        raise InvalidParameterError(
            "power_on_mode %r is not a mode: use disabled, wake-on-lan, IPMI, DRAC, iLO or the name of a custom "
            "power-on script (letters, digits, '_', '-', '.')." % mode)
    return text


def mode_refusal(mode, host):
    """Why the host's version cannot use this mode, or None."""
    software = host.get("software_version") or {}
    xapi = xapi_version(host)
    platform = version_tuple(software.get("platform_version", ""))
    brand = "%s %s" % (software.get("product_brand", ""), software.get("product_version", "")) if software.get(
        "product_version") else "this version"
    if mode == "iLO" and platform is not None and platform >= ILO_REMOVED_PLATFORM:
        return ("power_on_mode iLO was removed in Citrix Hypervisor 8.0 (its power-on script is gone) and the host "
                "runs %s: use IPMI (iLO speaks IPMI over LAN once enabled) or a custom script." % brand.strip())
    if mode == "DRAC" and xapi is not None and xapi >= IPMI_SINCE_XAPI:
        return ("power_on_mode DRAC was replaced by IPMI in xapi 24.19 and the host runs xapi %s: use "
                "power_on_mode: IPMI with the same power_on_config." % software.get("xapi"))
    if mode == "IPMI" and xapi is not None and xapi < IPMI_SINCE_XAPI:
        return ("power_on_mode IPMI exists from xapi 24.19 and the host runs xapi %s: use power_on_mode: DRAC "
                "with the same power_on_config." % software.get("xapi"))
    return None


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def desired_power_config(params):
    """(mode, config without the secret key) from the module options; raises on bad input."""
    mode = canonical_mode(params["power_on_mode"])
    config = dict((str(key), _text(value)) for key, value in (params["power_on_config"] or {}).items())
    secret_keys = sorted(key for key in config if holds_secret(key))
    if secret_keys:
        raise InvalidParameterError("power_on_config must not hold %s: give the password as power_on_password; it "
                                    "is stored as a XAPI secret." % ", ".join(secret_keys))
    if mode in NO_PASSWORD_MODES:
        if config:
            raise InvalidParameterError("power_on_mode %s takes no power_on_config (got %s)."
                                        % (mode or "disabled", ", ".join(sorted(config))))
        if params["power_on_password"]:
            raise InvalidParameterError("power_on_mode %s takes no power_on_password." % (mode or "disabled"))
    return mode, config


class PowerConfig(object):
    """The comparison and the few calls of state=configured."""

    def __init__(self, client, check_mode, act):
        self.client = client
        self.check_mode = check_mode
        self.act = act

    def stored_password(self, host):
        """(secret ref, value) of the host's current password secret, or (None, None)."""
        uuid = (host.get("power_on_config") or {}).get(SECRET_KEY)
        if not uuid:
            return None, None
        try:
            ref = self.client.read("secret.get_by_uuid", uuid, action="Reading the power-on password secret")
        except XapiError as error:
            if error.code in ("UUID_INVALID", "HANDLE_INVALID"):
                return None, None  # the config names a secret that is gone
            raise
        return ref, self.client.read("secret.get_value", ref, action="Reading the power-on password secret")

    def apply(self, records, host_ref, params):
        """The power-on settings after the run (password as set / not set / changed), for the diff."""
        host = records["host"][host_ref]
        name = host_name(records, host_ref)
        mode, config = desired_power_config(params)
        refusal = mode_refusal(mode, host)
        if refusal:
            raise InvalidParameterError("Host %s: %s" % (name, refusal))
        password = params["power_on_password"]
        old_ref, old_value = self.stored_password(host)
        keep_value = None
        if mode not in NO_PASSWORD_MODES:
            keep_value = password if password else old_value
        if mode in BMC_MODES:
            missing = [key for key in ("power_on_ip", "power_on_user") if not config.get(key)]
            if keep_value is None:
                missing.append("power_on_password")
            if missing:
                raise InvalidParameterError("power_on_mode %s needs %s." % (mode, ", ".join(missing)))
        current_config = public_power_on_config(host.get("power_on_config"))
        same = (host.get("power_on_mode", "") == mode and current_config == config
                and (keep_value is None) == (old_ref is None) and keep_value == old_value)
        before = dict(power_on_mode=host.get("power_on_mode", ""), power_on_config=current_config,
                      power_on_password="set" if old_ref else "not set")
        after = dict(power_on_mode=mode, power_on_config=config,
                     power_on_password=("not set" if keep_value is None else
                                        "changed" if old_ref and keep_value != old_value else "set"))
        if same:
            return before
        self.act("set the power-on mode of host %s to %s" % (name, mode or "disabled"))
        if self.check_mode:
            return after
        new_ref = None
        full_config = dict(config)
        if keep_value is not None:
            # set_power_on_mode destroys the secrets the old config names, so even an unchanged password
            # needs a fresh secret.
            new_ref = self.client.write("secret.create", {"value": keep_value, "other_config": {}},
                                        action="Storing the power-on password of host %s as a secret" % name)
            full_config[SECRET_KEY] = self.client.read("secret.get_uuid", new_ref, action="Reading the new secret")
        try:
            self.client.write("host.set_power_on_mode", host_ref, mode, full_config,
                              action="Setting the power-on mode of host %s" % name)
        except XenServerError:
            if new_ref:
                self._destroy_quietly(new_ref)
            raise
        if old_ref:
            self._remove_old_secret(old_ref)
        host.update(power_on_mode=mode, power_on_config=full_config)
        return after

    def _remove_old_secret(self, ref):
        """XAPI removes the old secret itself; make sure, without failing when it is already gone."""
        try:
            self.client.read("secret.get_uuid", ref, action="Checking the old power-on secret")
        except XapiError:
            return
        self._destroy_quietly(ref)

    def _destroy_quietly(self, ref):
        try:
            self.client.write("secret.destroy", ref, action="Removing a power-on secret")
        except XapiError:
            pass  # already gone


def power_view(records, host_ref):
    host = records["host"][host_ref]
    config = host.get("power_on_config") or {}
    return dict(
        name=host.get("name_label", ""),
        uuid=host.get("uuid", ""),
        live=is_live(records, host_ref),
        enabled=bool(host.get("enabled")),
        maintenance_mode=maintenance_records(host)["mode"],
        power_on_mode=host.get("power_on_mode", ""),
        power_on_config=public_power_on_config(config),
        power_on_password_set=bool(config.get(SECRET_KEY)),
        agent_start_time=agent_start_time(host),
    )


def diff_view(view, password):
    """A power_view for the diff: the password only as set / not set / changed."""
    shown = dict((key, value) for key, value in view.items() if key not in ("agent_start_time", "power_on_password_set"))
    shown["power_on_password"] = password
    return shown


def wait_until_back(client, host_ref, name, before, expect_disabled, why):
    """Events until the host's toolstack started after `before`, it is live and (unless it is expected to stay
    disabled) enabled. Returns the state."""
    def back(state):
        host = state.get("host", {}).get(host_ref)
        if not host:
            return False
        metrics = state.get("host_metrics", {}).get(host.get("metrics"), {})
        return bool(started_after(host, before) and metrics.get("live") and (host.get("enabled") or expect_disabled))

    return client.wait_for(["host", "host_metrics"], back, "host %s to come back %s" % (name, why))


class PowerRun(object):
    def __init__(self, module, client):
        self.params = module.params
        self.client = client
        self.check_mode = module.check_mode
        self.maintenance = Maintenance(client, maintenance_options(self.params), check_mode=self.check_mode)
        self.report = self.maintenance.report
        self.act = self.maintenance.act

    def run(self):
        params = self.params
        records = self.maintenance.read()
        host_ref = find_host(records, params["host"])
        before = power_view(records, host_ref)
        password_before = "set" if before["power_on_password_set"] else "not set"
        password_after, configured = password_before, None
        if params["state"] == "configured" and params["power_on_mode"] is None:
            raise InvalidParameterError("power_on_mode is required with state: configured.")
        if params["power_on_mode"] is not None:
            configured = PowerConfig(self.client, self.check_mode, self.act).apply(records, host_ref, params)
            password_after = configured["power_on_password"]
        state = params["state"]
        if state == "powered_on":
            self.power_on(records, host_ref)
        elif state == "powered_off":
            self.power_off(records, host_ref)
        elif state == "rebooted":
            self.reboot(records, host_ref)
        if self.report["changed"] and not self.check_mode:
            after = power_view(self.maintenance.read(), host_ref)
        else:
            after = self.predicted(before, configured if self.report["changed"] else None, state)
        return dict(changed=self.report["changed"], api_url=self.client.url, host=after, vms=self.report["vms"],
                    vms_not_restored=self.report["vms_not_restored"], master_handover=self.report["master_handover"],
                    actions=self.report["actions"],
                    diff=dict(before=diff_view(before, password_before), after=diff_view(after, password_after)))

    def predicted(self, before, configured, state):
        after = dict(before)
        if configured:
            after.update(power_on_mode=configured["power_on_mode"], power_on_config=configured["power_on_config"],
                         power_on_password_set=configured["power_on_password"] != "not set")
        if state == "powered_on":
            after.update(live=True)
        elif state == "powered_off":
            after.update(live=False, enabled=False, maintenance_mode=True)
        return after

    # ---- powered_on ----

    def power_on(self, records, host_ref):
        name = host_name(records, host_ref)
        host = records["host"][host_ref]
        if is_live(records, host_ref):
            return records
        if not host.get("power_on_mode"):
            raise MaintenanceError("Cannot power on host %s: its power-on mode is disabled. Set power_on_mode "
                                   "(wake-on-lan, IPMI, ...) with its power_on_config." % name)
        self.act("power on host %s (%s)" % (name, host.get("power_on_mode")))
        if self.check_mode:
            return records
        # A host put into maintenance with auto_enable=false comes back disabled and stays so.
        in_maintenance = maintenance_records(host)["mode"]
        expect_disabled = in_maintenance and supports_persistent_disable(host) and not host.get("enabled")
        before = agent_start_time(host)
        try:
            self.client.run_task("host.power_on", host_ref, what="powering on host %s (%s%s)" % (
                name, host.get("power_on_mode"), self._bmc_words(host)))
        except XapiError as error:
            raise MaintenanceError("%s Check power_on_mode, power_on_config and power_on_password for host %s."
                                   % (error, name)) from error
        self._wait_back(host_ref, name, before, expect_disabled, "after powering on", "powered on")
        records = self.maintenance.read()
        if in_maintenance:
            self._keep_disabled(records, host_ref)
        return records

    def _bmc_words(self, host):
        config = host.get("power_on_config") or {}
        if host.get("power_on_mode") in BMC_MODES:
            return " at %s as %s" % (config.get("power_on_ip", "?"), config.get("power_on_user", "?"))
        return ""

    def _wait_back(self, host_ref, name, before, expect_disabled, why, verb):
        try:
            wait_until_back(self.client, host_ref, name, before, expect_disabled, why)
        except RequestTimeoutError as error:
            raise MaintenanceError(
                "Host %s was %s but did not come back (live%s, with a newer agent_start_time) within %s seconds: %s "
                "It is left disabled, in maintenance, with its VMs recorded in its other_config. Check its console "
                "or BMC; once it is back, take it out of maintenance with xenserver.pools.xs_maintenance state: "
                "active." % (name, verb, "" if expect_disabled else " and enabled", self.client.timeout, error)) from error

    def _keep_disabled(self, records, host_ref):
        """A host recorded in maintenance that re-enabled itself (no auto_enable=false) is disabled again."""
        if records["host"][host_ref].get("enabled"):
            self.act("disable host %s again (it is in maintenance and re-enabled itself at boot)"
                     % host_name(records, host_ref))
            self.maintenance.disable(host_ref, records)

    # ---- powered_off ----

    def _refuse_lonely_master(self, records, host_ref, what):
        if master_ref(records) == host_ref and len(records["host"]) > 1 and not self.params["master_handover"]:
            raise MaintenanceError("Cannot %s host %s: it is the pool master and master_handover is false, so the "
                                   "pool would not answer while it is down. Nothing was changed. Set "
                                   "master_handover: true (the default)." % (what, host_name(records, host_ref)))

    def power_off(self, records, host_ref):
        name = host_name(records, host_ref)
        if not is_live(records, host_ref):
            return records
        self._refuse_lonely_master(records, host_ref, "shut down")
        alone = len(records["host"]) == 1
        self.maintenance.enter(host_ref, records)
        self.act("shut down host %s" % name)
        if self.check_mode:
            return records
        records = self.maintenance.read()
        self.client.write("host.shutdown", host_ref, action="Shutting down host %s" % name)
        if alone:
            return records  # the pool's only host: nobody is left to report it off

        def off(state):
            host = state.get("host", {}).get(host_ref, {})
            return not state.get("host_metrics", {}).get(host.get("metrics"), {}).get("live", True)

        self.client.wait_for(["host", "host_metrics"], off, "host %s to be off" % name)
        return records

    # ---- rebooted ----

    def reboot(self, records, host_ref):
        name = host_name(records, host_ref)
        host = records["host"][host_ref]
        if not is_live(records, host_ref):
            raise MaintenanceError("Cannot reboot host %s: it is not live. Nothing was changed. Power it on with "
                                   "state: powered_on." % name)
        self._refuse_lonely_master(records, host_ref, "reboot")
        was_active = bool(host.get("enabled")) and not maintenance_records(host)["mode"]
        self.maintenance.enter(host_ref, records)
        self.act("reboot host %s" % name)
        if self.check_mode:
            if was_active:
                self.act("take host %s out of maintenance again" % name)
            return records
        records = self.maintenance.read()
        host = records["host"][host_ref]
        if supports_persistent_disable(host) and self.maintenance.persistent_disable is None:
            # Disabled before this run: say again that it must stay disabled, so that we know how it comes back.
            self.maintenance.disable(host_ref, records)
        expect_disabled = bool(self.maintenance.persistent_disable)
        before = agent_start_time(host)
        self.client.write("host.reboot", host_ref, action="Rebooting host %s" % name)
        self._wait_back(host_ref, name, before, expect_disabled, "after its reboot", "rebooted")
        records = self.maintenance.read()
        if was_active:
            self.maintenance.leave(host_ref, records)
        else:
            self._keep_disabled(records, host_ref)
        return records


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    started = time.monotonic()
    try:
        with XapiClient.from_module(module) as client:
            result = PowerRun(module, client).run()
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    result["elapsed_seconds"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
