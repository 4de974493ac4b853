# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.modules import xs_bond
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_storage_pool import FakePool

ARGS = {"hostname": "192.0.2.1", "password": "secret"}
BOND = dict(ARGS, network="Bond 1+2", devices=["eth1", "eth2"], mode="active-backup")


@pytest.fixture
def pool(xapi):
    return FakePool(xapi)


def bonds(pool):
    """{host name: (device, members, mode, management)}."""
    pifs = pool.records["PIF"]
    found = {}
    for bond in pool.records["Bond"].values():
        master = pifs[bond["master"]]
        found[pool.records["host"][master["host"]]["name_label"]] = (
            master["device"], sorted(pifs[slave]["device"] for slave in bond["slaves"]), bond["mode"],
            master["management"])
    return found


def test_bond_on_every_host_then_no_change(xapi, pool, run_module):
    outcome, result = run_module(xs_bond.main, BOND)
    assert outcome == "exit" and result["changed"] is True, result
    assert bonds(pool) == dict((name, ("bond0", ["eth1", "eth2"], "active-backup", False)) for name in ("xs1", "xs2", "xs3"))
    assert result["actions"][0] == "create network 'Bond 1+2'"
    # pool members first, the master last
    assert result["actions"][1:] == ["create a bond of eth1, eth2 on %s (active-backup)" % name
                                     for name in ("xs2", "xs3", "xs1")]
    assert [entry["host"] for entry in result["bonds"]] == ["xs1", "xs2", "xs3"]
    assert result["network"]["uuid"]
    del xapi.calls[:]
    outcome, result = run_module(xs_bond.main, BOND)
    assert outcome == "exit" and result["changed"] is False and pool.writes() == []


def test_check_mode_makes_no_write_call(xapi, pool, run_module):
    outcome, result = run_module(xs_bond.main, dict(BOND, _ansible_check_mode=True, _ansible_diff=True))
    assert outcome == "exit" and result["changed"] is True and pool.writes() == []
    assert result["diff"]["before"] == {} and sorted(result["diff"]["after"]) == ["xs1", "xs2", "xs3"]


def test_a_host_that_lacks_the_bond_gets_it_and_management_moves(xapi, pool, run_module):
    run_module(xs_bond.main, BOND)
    # a host that joined later: no bond yet
    pool.add_host(4)
    outcome, result = run_module(xs_bond.main, dict(BOND, management=True))
    assert outcome == "exit" and result["changed"] is True, result
    assert bonds(pool)["xs4"] == ("bond0", ["eth1", "eth2"], "active-backup", True)
    assert all(entry[3] for entry in bonds(pool).values())
    # the bond took the management address; the old interface has none left
    master = next(pif for pif in pool.records["PIF"].values() if pif["host"] == "OpaqueRef:host-xs4"
                  and pif["device"] == "bond0")
    assert master["IP"] == "192.0.2.4"
    assert pool.records["PIF"]["OpaqueRef:pif-xs4-eth0"]["ip_configuration_mode"] == "None"
    assert "create a bond of eth1, eth2 on xs4 (active-backup)" in result["actions"]
    assert result["actions"][-1] == "move the management interface of xs1 to bond0"
    del xapi.calls[:]
    outcome, result = run_module(xs_bond.main, dict(BOND, management=True))
    assert outcome == "exit" and result["changed"] is False and pool.writes() == []


def test_bond_with_the_management_nic_carries_management_at_once(xapi, pool, run_module):
    outcome, result = run_module(xs_bond.main, dict(ARGS, network="Bond 0+1", devices=["eth0", "eth1"],
                                                    management=True))
    assert outcome == "exit", result
    assert all(entry == ("bond0", ["eth0", "eth1"], "balance-slb", True) for entry in bonds(pool).values())
    assert not any(call == "host.management_reconfigure" for call in xapi.methods())


def test_mode_and_properties_are_updated_in_place(xapi, pool, run_module):
    run_module(xs_bond.main, BOND)
    del xapi.calls[:]
    outcome, result = run_module(xs_bond.main, dict(BOND, mode="lacp", properties={"lacp-time": "fast"}))
    assert outcome == "exit" and result["changed"] is True
    assert all(bond["mode"] == "lacp" and bond["properties"] == {"lacp-time": "fast"}
               for bond in pool.records["Bond"].values())
    assert "Bond.create" not in xapi.methods()


def test_absent_destroys_every_bond(xapi, pool, run_module):
    run_module(xs_bond.main, BOND)
    outcome, result = run_module(xs_bond.main, dict(ARGS, network="Bond 1+2", state="absent"))
    assert outcome == "exit" and result["changed"] is True and pool.records["Bond"] == {}
    assert result["bonds"] == []
    outcome, result = run_module(xs_bond.main, dict(ARGS, network="Bond 1+2", state="absent"))
    assert outcome == "exit" and result["changed"] is False


@pytest.mark.parametrize("args, message", [
    (dict(BOND, devices=["eth1"]), "devices must list at least two different interfaces"),
    (dict(BOND, devices=["eth1", "eth9"]), "host xs2 has no interface eth9; its interfaces are: eth0, eth1, eth2."),
    (dict(BOND, properties={"hashing_algorithm": "tcpudp_ports"}), "properties need mode: lacp"),
    (dict(BOND, mode="lacp", properties={"lacp-time": "sometimes"}), "properties.lacp-time must be one of slow, fast"),
    (dict(BOND, mode="lacp", properties={"colour": "blue"}), "properties: unknown key 'colour'"),
])
def test_refusals_are_one_line_and_change_nothing(xapi, pool, run_module, args, message):
    outcome, result = run_module(xs_bond.main, args)
    assert outcome == "fail" and message in result["msg"] and "\n" not in result["msg"], result
    assert pool.writes() == []


def test_members_of_an_existing_bond_do_not_change(xapi, pool, run_module):
    run_module(xs_bond.main, BOND)
    outcome, result = run_module(xs_bond.main, dict(BOND, devices=["eth0", "eth1"]))
    assert outcome == "fail" and result["changed"] is False
    assert "the bond on xs2 has members eth1, eth2, not eth0, eth1: the members of a bond cannot change" in result["msg"]


def test_two_members_with_an_ip_are_refused(xapi, pool, run_module):
    pool.set_ip("xs3", "eth1", "172.16.0.35")
    outcome, result = run_module(xs_bond.main, dict(ARGS, network="Bond 0+1", devices=["eth0", "eth1"]))
    assert outcome == "fail" and "eth0 and eth1 on xs3 all have an IP configuration" in result["msg"]
    assert pool.writes() == []


def test_lacp_needs_openvswitch(xapi, pool, run_module):
    pool.records["host"]["OpaqueRef:host-xs2"]["software_version"]["network_backend"] = "bridge"
    outcome, result = run_module(xs_bond.main, dict(BOND, mode="lacp"))
    assert outcome == "fail" and result["msg"] == "mode lacp needs the openvswitch network backend; xs2 uses bridge."
