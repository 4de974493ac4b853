# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.modules import xs_pif
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_storage_pool import FakePool

ARGS = {"hostname": "192.0.2.1", "password": "secret"}
STORAGE = dict(ARGS, host="xs2", device="eth1", ip="172.16.0.34/28", purpose="Storage", disallow_unplug=True)


@pytest.fixture
def pool(xapi):
    return FakePool(xapi)


def pif(pool, host, device):
    return pool.records["PIF"]["OpaqueRef:pif-%s-%s" % (host, device)]


def test_storage_ip_purpose_and_disallow_unplug_then_no_change(xapi, pool, run_module):
    outcome, result = run_module(xs_pif.main, STORAGE)
    assert outcome == "exit" and result["changed"] is True, result
    record = pif(pool, "xs2", "eth1")
    assert (record["ip_configuration_mode"], record["IP"], record["netmask"], record["gateway"]) == (
        "Static", "172.16.0.34", "255.255.255.240", "")
    assert record["other_config"] == {"management_purpose": "Storage"} and record["disallow_unplug"] is True
    assert result["actions"] == ["reconfigure eth1 on xs2 to static 172.16.0.34/255.255.255.240",
                                 "set the purpose of eth1 on xs2 to 'Storage'", "set disallow_unplug of eth1 on xs2 to true"]
    assert result["pif"]["ip"] == "172.16.0.34" and result["pif"]["purpose"] == "Storage"
    del xapi.calls[:]
    outcome, result = run_module(xs_pif.main, STORAGE)
    assert outcome == "exit" and result["changed"] is False and pool.writes() == []


def test_check_mode_and_diff(xapi, pool, run_module):
    outcome, result = run_module(xs_pif.main, dict(STORAGE, _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == "exit" and result["changed"] is True and pool.writes() == []
    assert result["diff"]["before"]["mode"] == "none" and result["diff"]["after"]["mode"] == "static"
    assert result["diff"]["after"]["ip"] == "172.16.0.34" and result["diff"]["after"]["disallow_unplug"] is True
    assert pif(pool, "xs2", "eth1")["IP"] == ""


def test_purpose_is_replaced_and_removed(xapi, pool, run_module):
    pif(pool, "xs1", "eth2")["other_config"] = {"management_purpose": "Backup", "other": "kept"}
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs1", device="eth2", purpose="Storage"))
    assert outcome == "exit"
    assert pif(pool, "xs1", "eth2")["other_config"] == {"management_purpose": "Storage", "other": "kept"}
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs1", device="eth2", purpose=""))
    assert outcome == "exit" and pif(pool, "xs1", "eth2")["other_config"] == {"other": "kept"}


def test_unplugged_interface_with_an_ip_is_plugged(xapi, pool, run_module):
    pif(pool, "xs3", "eth2")["currently_attached"] = False
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs3", device="eth2", mode="dhcp"))
    assert outcome == "exit" and result["actions"][-1] == "plug eth2 on xs3"
    assert pif(pool, "xs3", "eth2")["currently_attached"] is True


def test_management_moves_and_waits(xapi, pool, run_module):
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs2", device="eth1", ip="198.51.100.2/24",
                                                   management=True))
    assert outcome == "exit" and result["changed"] is True, result
    assert pif(pool, "xs2", "eth1")["management"] is True and pif(pool, "xs2", "eth0")["management"] is False
    assert "PIF.get_record" in xapi.methods()  # the wait (polling here: the fake has no event.from)
    assert result["pif"]["management"] is True


@pytest.mark.parametrize("args, message", [
    (dict(ARGS, host="xs1", device="eth0", mode="none"),
     "eth0 on xs1 is the management interface: it cannot lose its IP (mode none)"),
    (dict(ARGS, host="xs1", device="eth1", ip="192.0.2.2/24"), "ip 192.0.2.2 is already used by eth0 on xs2"),
    (dict(ARGS, host="xs9", device="eth1", mode="dhcp"), "host 'xs9' is not a host of this pool"),
    (dict(ARGS, host="xs1", device="eth9", mode="dhcp"), "host xs1 has no interface eth9; its interfaces are: eth0, "
                                                         "eth1, eth2."),
    (dict(ARGS, host="xs1", device="eth1", ip="172.16.0.300/28"), "ip '172.16.0.300' is not a valid IPv4 address"),
    (dict(ARGS, host="xs1", device="eth2", management=True), "eth2 on xs1 has no IP configuration, so it cannot be "
                                                             "the management interface"),
    (dict(ARGS, host="xs1", device="eth0", management=False), "management: false cannot move it"),
])
def test_refusals_are_one_line_and_change_nothing(xapi, pool, run_module, args, message):
    outcome, result = run_module(xs_pif.main, args)
    assert outcome == "fail" and message in result["msg"] and "\n" not in result["msg"], result
    assert pool.writes() == [] and result["changed"] is False


def test_invalid_ip_makes_no_call_at_all(xapi, pool, run_module):
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs1", device="eth1", ip="172.16.0.32/28"))
    assert outcome == "fail" and "is the network address of 172.16.0.32/28" in result["msg"]
    assert xapi.calls == []


def test_bond_member_is_refused(xapi, pool, run_module):
    pool.call_Bond__create("OpaqueRef:network-1", ["OpaqueRef:pif-xs1-eth1", "OpaqueRef:pif-xs1-eth2"], "",
                           "active-backup", {})
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs1", device="eth1", mode="dhcp"))
    assert outcome == "fail" and result["msg"] == "eth1 on xs1 is a member of bond0: configure bond0 instead."


def test_failure_midway_reports_what_was_done(xapi, pool, run_module):
    pool.failures["PIF.set_disallow_unplug"] = [["CLUSTERING_ENABLED", "OpaqueRef:c"]]
    outcome, result = run_module(xs_pif.main, STORAGE)
    assert outcome == "fail" and result["changed"] is True
    assert result["actions"] == ["reconfigure eth1 on xs2 to static 172.16.0.34/255.255.255.240",
                                 "set the purpose of eth1 on xs2 to 'Storage'"]
    assert "CLUSTERING_ENABLED" in result["msg"]


def test_the_master_api_is_followed_to_its_new_management_address(xapi, pool, run_module):
    xapi.endpoints["https://198.51.100.1/"] = pool.endpoint  # the master answers at its new address too
    outcome, result = run_module(xs_pif.main, dict(ARGS, host="xs1", device="eth1", ip="198.51.100.1/24",
                                                   management=True))
    assert outcome == "exit" and result["changed"] is True, result
    moved = [method for _url, method, _args in xapi.calls].index("host.management_reconfigure")
    # the old address is asked where the host is now (XAPI updated host.address); then the new one is used
    assert xapi.calls[moved + 1][:2] == ("https://192.0.2.1/", "host.get_address")
    assert set(url for url, _method, _args in xapi.calls[moved + 2:]) == {"https://198.51.100.1/"}
    assert xapi.sessions == set()  # logged out at the new address
