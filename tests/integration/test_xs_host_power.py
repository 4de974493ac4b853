# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_host_power against pool-of-four.yml with out-of-band power control added (seed 000 "Host power
on"): xs2 wakes on LAN, xs3 has an IPMI BMC, xs4 a custom power-on script. Each mode is configured,
the host is powered off and on again; a wrong BMC password is refused with a clear message; the
password never shows in results or the call log and the old secret is gone after a change; modes
the version removed are refused. Then reboots: a normal one (VMs move away and come back), a slow
one, and one that never comes back (deadline reached, clear error; a power-on brings it back).
Tests run in file order on one lab."""

from __future__ import annotations

import contextlib
import ssl
import xmlrpc.client

import pytest

import XenAPI

from lab_helpers import arm_fault, clear_faults
from lifecycle_helpers import (
    connect,
    failed,
    host_record,
    is_live,
    lab_host,
    markers,
    master_name,
    placement,
    start_lab,
    succeeded,
    writes,
)

BMC_PASSWORD = "bmc-Secret-8472"
WRONG_PASSWORD = "not-the-bmc-password-1234"
NEW_BMC_PASSWORD = "bmc-Changed-5531"
IPMI = {"power_on_ip": "10.0.0.13", "power_on_user": "admin"}
SECRETS = (BMC_PASSWORD, WRONG_PASSWORD, NEW_BMC_PASSWORD)


def add_power_control(lab_dict):
    lab_host(lab_dict, "xs3")["power_on"] = {"bmc": {"ip": IPMI["power_on_ip"], "user": "admin",
                                                     "password": BMC_PASSWORD}}
    lab_host(lab_dict, "xs4")["power_on"] = {"plugins": ["lab_power"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with start_lab(tmp_path_factory, "host-power", add_power_control) as running:
        running.initial = placement(running)
        yield running


def power(lab, name, **extra):
    return connect(lab, "xs1", xs_host=name, **dict(("xs_" + key, value) for key, value in extra.items()))


class _LabTransport(xmlrpc.client.SafeTransport):
    def __init__(self, lab):
        super().__init__(context=ssl.create_default_context(cafile=lab.info["ca_bundle"]))


@contextlib.contextmanager
def xapi(lab):
    """A XenAPI session to the pool master, to look at what the modules do not return (secrets)."""
    master = [entry for entry in lab.info["hosts"] if entry["name"] == master_name(lab)][0]
    session = XenAPI.Session(master["url"], transport=_LabTransport(lab))
    session.xenapi.login_with_password(master["username"], master["password"], "1.0", "pytest")
    try:
        yield session.xenapi
    finally:
        session.xenapi.session.logout()


def secret_value(lab, uuid):
    with xapi(lab) as api:
        try:
            return api.secret.get_value(api.secret.get_by_uuid(uuid))
        except XenAPI.Failure as failure:
            return failure.details[0]


def power_off_then_on(lab, playbook, name, secrets=SECRETS):
    run = playbook(lab, "xs_host_power.yml", power(lab, name, state="powered_off"))
    result = succeeded(run, lab, secrets)
    assert result["changed"] is True and result["host"]["live"] is False
    assert is_live(lab, name) is False
    assert markers(lab, name)["MAINTENANCE_MODE"] == "true"
    run = playbook(lab, "xs_host_power.yml", power(lab, name, state="powered_on"))
    result = succeeded(run, lab, secrets)
    assert result["changed"] is True and is_live(lab, name) is True
    # it was put into maintenance to be powered off: it stays there until taken out
    assert result["host"]["maintenance_mode"] is True and host_record(lab, name)["enabled"] is False
    again = playbook(lab, "xs_host_power.yml", power(lab, name, state="powered_on"))
    assert succeeded(again, lab, secrets)["changed"] is False and writes(again) == []
    back = playbook(lab, "xs_maintenance.yml", power(lab, name, state="active"))
    succeeded(back, lab, secrets)
    assert placement(lab) == lab.initial


# ---- wake on LAN ----

def test_wake_on_lan_check_mode_then_configured_then_no_change(lab, playbook):
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs2", power_on_mode="wake-on-lan"), args=["--check"])
    assert succeeded(run, lab)["changed"] is True and writes(run) == []
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs2", power_on_mode="wake-on-lan"))
    assert succeeded(run, lab)["changed"] is True
    assert host_record(lab, "xs2")["power_on_mode"] == "wake-on-lan"
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs2", power_on_mode="wake-on-lan"))
    assert succeeded(run, lab)["changed"] is False and writes(run) == []


def test_wake_on_lan_powers_off_and_on(lab, playbook):
    power_off_then_on(lab, playbook, "xs2")


# ---- IPMI ----

def test_ipmi_password_goes_into_a_secret_only(lab, playbook):
    options = dict(power_on_mode="IPMI", power_on_config=IPMI, power_on_password=BMC_PASSWORD)
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", **options), args=["--diff"])
    result = succeeded(run, lab, SECRETS)
    assert result["changed"] is True
    config = host_record(lab, "xs3")["power_on_config"]
    assert set(config) == {"power_on_ip", "power_on_user", "power_on_password_secret"}
    assert secret_value(lab, config["power_on_password_secret"]) == BMC_PASSWORD
    assert config["power_on_password_secret"] not in run.output + str(run.result)
    assert result["host"]["power_on_config"] == IPMI and result["host"]["power_on_password_set"] is True
    assert result["diff"]["after"]["power_on_password"] == "set"
    assert "secret.create" in writes(run)
    again = playbook(lab, "xs_host_power.yml", power(lab, "xs3", **options))
    assert succeeded(again, lab, SECRETS)["changed"] is False and writes(again) == []


def test_a_new_password_replaces_the_secret_and_the_old_one_is_gone(lab, playbook):
    old = host_record(lab, "xs3")["power_on_config"]["power_on_password_secret"]
    options = dict(power_on_mode="IPMI", power_on_config=IPMI, power_on_password=NEW_BMC_PASSWORD)
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", **options), args=["--diff"])
    result = succeeded(run, lab, SECRETS)
    assert result["diff"]["after"]["power_on_password"] == "changed"
    new = host_record(lab, "xs3")["power_on_config"]["power_on_password_secret"]
    assert new != old
    assert secret_value(lab, old) == "UUID_INVALID"
    assert secret_value(lab, new) == NEW_BMC_PASSWORD


def test_a_wrong_bmc_password_is_refused_with_a_clear_message(lab, playbook):
    # The new password is not the BMC's: powering on fails and says where to look.
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", state="powered_off"))
    succeeded(run, lab, SECRETS)
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", state="powered_on"))
    message = failed(run, lab, SECRETS)
    assert message.startswith("Powering on host xs3 (IPMI at 10.0.0.13 as admin) failed")
    assert "XENAPI_PLUGIN_FAILURE" in message and "RAKP 2 HMAC is invalid" in message
    assert "power_on_password" in message
    assert is_live(lab, "xs3") is False


def test_ipmi_powers_on_with_the_right_password(lab, playbook):
    options = dict(power_on_mode="IPMI", power_on_config=IPMI, power_on_password=BMC_PASSWORD, state="powered_on")
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", **options))
    result = succeeded(run, lab, SECRETS)
    assert result["changed"] is True and is_live(lab, "xs3") is True
    back = playbook(lab, "xs_maintenance.yml", power(lab, "xs3", state="active"))
    succeeded(back, lab, SECRETS)
    assert placement(lab) == lab.initial


# ---- a custom script ----

def test_custom_script_mode_powers_off_and_on(lab, playbook):
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs4", power_on_mode="lab_power",
                                                   power_on_config={"outlet": "12"}))
    assert succeeded(run, lab)["changed"] is True
    assert host_record(lab, "xs4")["power_on_config"] == {"outlet": "12"}
    power_off_then_on(lab, playbook, "xs4")


# ---- modes the version removed ----

@pytest.mark.parametrize("mode, reason", [("iLO", "iLO was removed in Citrix Hypervisor 8.0"),
                                          ("DRAC", "DRAC was replaced by IPMI in xapi 24.19")])
def test_removed_modes_are_refused_with_the_reason(lab, playbook, mode, reason):
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", power_on_mode=mode, power_on_config=IPMI,
                                                   power_on_password=BMC_PASSWORD))
    message = failed(run, lab, SECRETS)
    assert reason in message and message.startswith("Host xs3: power_on_mode")
    assert writes(run) == []


# ---- reboots ----

def test_reboot_check_mode_writes_nothing(lab, playbook):
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs2", state="rebooted"), args=["--check"])
    result = succeeded(run, lab)
    assert result["changed"] is True and writes(run) == []
    assert "would reboot host xs2" in result["actions"]


def test_reboot_moves_vms_away_and_back(lab, playbook):
    before = host_record(lab, "xs2")["other_config"]["agent_start_time"]
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs2", state="rebooted"))
    result = succeeded(run, lab)
    record = host_record(lab, "xs2")
    assert float(record["other_config"]["agent_start_time"].rstrip(".")) > float(before.rstrip("."))
    assert record["enabled"] is True and markers(lab, "xs2") == {}
    assert placement(lab) == lab.initial
    methods = writes(run)
    # xapi 25.6 has no auto_enable: the host re-enabled itself at boot, then its VMs came back
    assert methods.index("Async.host.evacuate") < methods.index("host.reboot") < methods.index("Async.VM.pool_migrate")
    assert sorted(vm["action"] for vm in result["vms"]) == ["migrated"] * 4


def test_a_slow_reboot_is_waited_for(lab, playbook):
    arm_fault(lab, {"kind": "slow_reboot", "host": "xs3", "factor": 20})
    try:
        run = playbook(lab, "xs_host_power.yml", power(lab, "xs3", state="rebooted", timeout=120))
    finally:
        clear_faults(lab)
    succeeded(run, lab, SECRETS)
    assert host_record(lab, "xs3")["enabled"] is True and placement(lab) == lab.initial


def test_a_host_that_never_comes_back_reaches_the_deadline(lab, playbook):
    arm_fault(lab, {"kind": "reboot_hang", "host": "xs4"})
    try:
        run = playbook(lab, "xs_host_power.yml", power(lab, "xs4", state="rebooted", timeout=10))
    finally:
        clear_faults(lab)
    message = failed(run, lab)
    assert message.startswith("Host xs4 was rebooted but did not come back")
    assert "within 10 seconds" in message and "left disabled, in maintenance" in message
    assert is_live(lab, "xs4") is False
    # its VMs run elsewhere meanwhile
    assert all(where not in (None, "xs4") for vm, (where, state) in placement(lab).items()
               if vm.endswith("-4") and state == "Running")
    # a power cycle brings it back; then it leaves maintenance with its VMs
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs4", state="powered_on"))
    succeeded(run, lab)
    run = playbook(lab, "xs_maintenance.yml", power(lab, "xs4", state="active"))
    succeeded(run, lab)
    assert placement(lab) == lab.initial


def test_reboot_of_the_master_moves_the_master_role_first(lab, playbook):
    run = playbook(lab, "xs_host_power.yml", power(lab, "xs1", state="rebooted"))
    result = succeeded(run, lab)
    assert result["master_handover"]["old"] == "xs1"
    assert master_name(lab) != "xs1"
    assert host_record(lab, "xs1")["enabled"] is True
    assert placement(lab) == lab.initial
