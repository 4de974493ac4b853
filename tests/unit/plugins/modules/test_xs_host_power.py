# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible_collections.xenserver.pools.plugins.modules import xs_host_power
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_pool import FakePool

IPMI = dict(power_on_mode="IPMI", power_on_config={"power_on_ip": "10.0.0.2", "power_on_user": "admin"},
            power_on_password="bmc-pw")


@pytest.fixture
def pool(xapi):
    return FakePool(xapi, hosts=3)


def ipmi(password):
    options = dict(IPMI)
    options["power_on_password"] = password
    return options


def args(**kwargs):
    base = dict(hostname="https://192.0.2.1/", password="secret", host="xs2")
    base.update(kwargs)
    return base


def secrets(pool):
    return dict((secret["uuid"], secret["value"]) for secret in pool.records["secret"].values())


# ---- plain functions ----

@pytest.mark.parametrize("given, canonical", [("disabled", ""), ("", ""), ("Wake-On-LAN", "wake-on-lan"),
                                              ("ipmi", "IPMI"), ("DRAC", "DRAC"), ("ILO", "iLO"),
                                              ("my_script", "my_script")])
def test_canonical_mode(given, canonical):
    assert xs_host_power.canonical_mode(given) == canonical


def test_a_mode_that_is_no_script_name_is_refused():
    with pytest.raises(InvalidParameterError, match="is not a mode"):
        xs_host_power.canonical_mode("rm -rf /")


@pytest.mark.parametrize("mode, xapi, platform, refused", [
    ("iLO", "25.6", "3.4.0", "removed in Citrix Hypervisor 8.0"),
    ("iLO", "1.100", "2.9.0", None),
    ("DRAC", "25.6", "3.4.0", "replaced by IPMI in xapi 24.19"),
    ("DRAC", "1.249", "3.2.0", None),
    ("IPMI", "1.249", "3.2.0", "use power_on_mode: DRAC"),
    ("IPMI", "24.19", "3.4.0", None),
    ("wake-on-lan", "25.6", "3.4.0", None),
    ("custom", "25.6", "3.4.0", None),
])
def test_modes_the_version_removed_are_refused_with_the_reason(mode, xapi, platform, refused):
    host = {"software_version": {"xapi": xapi, "platform_version": platform, "product_brand": "XenServer",
                                 "product_version": "8.4.0"}}
    reason = xs_host_power.mode_refusal(mode, host)
    if refused is None:
        assert reason is None
    else:
        assert refused in reason


def test_password_is_never_accepted_in_power_on_config():
    params = dict(power_on_mode="IPMI", power_on_config={"power_on_password": "x"}, power_on_password=None)
    with pytest.raises(InvalidParameterError, match="power_on_password"):
        xs_host_power.desired_power_config(params)


# ---- configured ----

def test_configure_ipmi_stores_the_password_as_a_secret(pool, run_module, xapi):
    status, result = run_module(xs_host_power.main, args(**IPMI))
    assert status == "exit", result
    assert result["changed"] is True
    host = pool.host(2)
    assert host["power_on_mode"] == "IPMI"
    uuid = host["power_on_config"]["power_on_password_secret"]
    assert secrets(pool) == {uuid: "bmc-pw"}
    assert result["host"]["power_on_config"] == {"power_on_ip": "10.0.0.2", "power_on_user": "admin"}
    assert result["host"]["power_on_password_set"] is True
    text = json.dumps(result)
    assert "bmc-pw" not in text and uuid not in text


def test_configure_twice_compares_the_stored_secret_and_changes_nothing(pool, run_module, xapi):
    run_module(xs_host_power.main, args(**IPMI))
    del xapi.calls[:]
    status, result = run_module(xs_host_power.main, args(**IPMI))
    assert status == "exit" and result["changed"] is False
    assert pool.writes() == []
    assert "secret.get_value" in xapi.methods()


def test_a_new_password_replaces_the_secret_and_the_old_one_is_gone(pool, run_module):
    run_module(xs_host_power.main, args(**IPMI))
    old = pool.host(2)["power_on_config"]["power_on_password_secret"]
    status, result = run_module(xs_host_power.main, args(_ansible_diff=True, **ipmi("new-pw")))
    assert status == "exit" and result["changed"] is True
    new = pool.host(2)["power_on_config"]["power_on_password_secret"]
    assert new != old and secrets(pool) == {new: "new-pw"}
    assert result["diff"]["before"]["power_on_password"] == "set"
    assert result["diff"]["after"]["power_on_password"] == "changed"


def test_a_changed_setting_keeps_the_password_in_a_fresh_secret(pool, run_module):
    run_module(xs_host_power.main, args(**IPMI))
    old = pool.host(2)["power_on_config"]["power_on_password_secret"]
    status, result = run_module(xs_host_power.main, args(power_on_mode="IPMI", power_on_config={
        "power_on_ip": "10.0.0.99", "power_on_user": "admin"}))
    assert status == "exit", result
    new = pool.host(2)["power_on_config"]["power_on_password_secret"]
    assert new != old and secrets(pool) == {new: "bmc-pw"}


def test_check_mode_writes_nothing(pool, run_module):
    status, result = run_module(xs_host_power.main, args(_ansible_check_mode=True, **IPMI))
    assert status == "exit" and result["changed"] is True
    assert pool.writes() == []
    assert result["host"]["power_on_mode"] == "IPMI"


def test_disabling_removes_the_secret(pool, run_module):
    run_module(xs_host_power.main, args(**IPMI))
    status, result = run_module(xs_host_power.main, args(power_on_mode="disabled"))
    assert status == "exit" and result["changed"] is True
    assert pool.host(2)["power_on_mode"] == "" and pool.host(2)["power_on_config"] == {}
    assert secrets(pool) == {}


def test_the_old_secret_is_removed_even_when_xapi_left_it(pool, run_module):
    run_module(xs_host_power.main, args(**IPMI))
    pool.handlers["host.set_power_on_mode"] = lambda ref, mode, config: pool.host(2).update(
        power_on_mode=mode, power_on_config=dict(config)) or ""
    run_module(xs_host_power.main, args(**ipmi("new-pw")))
    assert list(secrets(pool).values()) == ["new-pw"]


def test_ipmi_without_a_password_is_refused(pool, run_module):
    status, result = run_module(xs_host_power.main, args(**ipmi(None)))
    assert status == "fail"
    assert result["msg"] == "power_on_mode IPMI needs power_on_password."
    assert pool.writes() == []


def test_ilo_is_refused_on_current_releases(pool, run_module):
    status, result = run_module(xs_host_power.main, args(power_on_mode="iLO", power_on_config={
        "power_on_ip": "10.0.0.2", "power_on_user": "admin"}, power_on_password="x"))
    assert status == "fail"
    assert "Host xs2: power_on_mode iLO was removed" in result["msg"]
    assert pool.writes() == []


def test_configured_needs_a_mode(pool, run_module):
    status, result = run_module(xs_host_power.main, args())
    assert status == "fail" and result["msg"] == "power_on_mode is required with state: configured."


# ---- powered_on ----

def test_power_on_a_host_that_is_off(pool, run_module):
    run_module(xs_host_power.main, args(**IPMI))
    pool.set_live("OpaqueRef:host2", False)
    pool.host(2)["enabled"] = False
    status, result = run_module(xs_host_power.main, args(state="powered_on"))
    assert status == "exit", result
    assert result["changed"] is True
    assert result["host"]["live"] is True and result["host"]["enabled"] is True
    assert "Async.host.power_on" in pool.write_methods()
    status, result = run_module(xs_host_power.main, args(state="powered_on"))
    assert status == "exit" and result["changed"] is False


def test_wrong_bmc_password_is_refused_with_a_clear_message(pool, run_module):
    run_module(xs_host_power.main, args(**ipmi("wrong")))
    pool.set_live("OpaqueRef:host2", False)
    status, result = run_module(xs_host_power.main, args(state="powered_on"))
    assert status == "fail"
    assert "Powering on host xs2 (IPMI at 10.0.0.2 as admin) failed" in result["msg"]
    assert "XENAPI_PLUGIN_FAILURE" in result["msg"] and "BMC password" in result["msg"]
    assert "wrong" not in result["msg"]


def test_power_on_without_a_mode_says_so(pool, run_module):
    pool.set_live("OpaqueRef:host2", False)
    status, result = run_module(xs_host_power.main, args(state="powered_on"))
    assert status == "fail" and "power-on mode is disabled" in result["msg"]


def test_power_on_check_mode(pool, run_module):
    pool.set_live("OpaqueRef:host2", False)
    pool.host(2)["power_on_mode"] = "wake-on-lan"
    status, result = run_module(xs_host_power.main, args(state="powered_on", _ansible_check_mode=True))
    assert status == "exit" and result["changed"] is True and pool.writes() == []


# ---- powered_off ----

def test_power_off_evacuates_then_shuts_down(pool, run_module):
    status, result = run_module(xs_host_power.main, args(state="powered_off"))
    assert status == "exit", result
    assert pool.live("OpaqueRef:host2") is False
    assert pool.host(2)["other_config"]["MAINTENANCE_MODE"] == "true"
    methods = pool.write_methods()
    assert methods.index("Async.host.evacuate") < methods.index("host.shutdown")
    assert result["host"]["live"] is False
    status, result = run_module(xs_host_power.main, args(state="powered_off"))
    assert status == "exit" and result["changed"] is False


def test_power_off_refuses_blocked_vms_before_any_change(pool, run_module):
    pool.blockers = {"OpaqueRef:vm-web-2": ["VM_HAS_VGPU", "OpaqueRef:vm-web-2", "OpaqueRef:vgpu"]}
    status, result = run_module(xs_host_power.main, args(state="powered_off"))
    assert status == "fail"
    assert "VM 'web-2' (uuid-web-2): it uses a virtual GPU of this host" in result["msg"]
    assert pool.writes() == []


# ---- rebooted ----

def test_reboot_of_an_active_host_brings_it_and_its_vms_back(pool, run_module):
    before = pool.host(2)["other_config"]["agent_start_time"]
    status, result = run_module(xs_host_power.main, args(state="rebooted"))
    assert status == "exit", result
    assert pool.host(2)["other_config"]["agent_start_time"] != before
    assert pool.host(2)["enabled"] is True
    assert "MAINTENANCE_MODE" not in pool.host(2)["other_config"]
    assert pool.vm("web-2")["resident_on"] == "OpaqueRef:host2"
    methods = pool.write_methods()
    assert methods.index("host.disable") < methods.index("Async.host.evacuate") < methods.index("host.reboot")
    assert sorted(vm["action"] for vm in result["vms"]) == ["migrated"] * 4


def test_reboot_with_persistent_disable_enables_the_host_afterwards(xapi, run_module):
    pool = FakePool(xapi, hosts=3, xapi_version="25.31")
    status, result = run_module(xs_host_power.main, args(state="rebooted"))
    assert status == "exit", result
    assert pool.host(2)["enabled"] is True


def test_reboot_of_a_host_in_maintenance_keeps_it_in_maintenance(pool, run_module):
    from ansible_collections.xenserver.pools.plugins.modules import xs_maintenance
    run_module(xs_maintenance.main, args())
    status, result = run_module(xs_host_power.main, args(state="rebooted"))
    assert status == "exit", result
    assert pool.host(2)["enabled"] is False
    assert pool.host(2)["other_config"]["MAINTENANCE_MODE"] == "true"
    # the fake host re-enabled itself at boot (no auto_enable): the module disabled it again
    assert pool.write_methods()[-1] == "host.disable"


def test_a_host_that_never_comes_back_reaches_the_deadline_with_a_clear_error(pool, run_module):
    pool.reboot_comes_back = False
    status, result = run_module(xs_host_power.main, args(state="rebooted", timeout=60))
    assert status == "fail"
    assert "Host xs2 was rebooted but did not come back" in result["msg"]
    assert "within 60 seconds" in result["msg"]
    assert "left disabled, in maintenance" in result["msg"]


def test_reboot_is_always_a_change_and_check_mode_writes_nothing(pool, run_module):
    status, result = run_module(xs_host_power.main, args(state="rebooted", _ansible_check_mode=True))
    assert status == "exit" and result["changed"] is True
    assert pool.writes() == []
    assert "would reboot host xs2" in result["actions"]


def test_reboot_of_the_master_without_handover_is_refused(pool, run_module):
    status, result = run_module(xs_host_power.main, args(host="xs1", state="rebooted", master_handover=False))
    assert status == "fail" and "master_handover is false" in result["msg"]
    assert pool.writes() == []
