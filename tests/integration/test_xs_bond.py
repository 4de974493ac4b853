# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_bond: a pool-wide bond with the management interface on it, and a host that joins later
(the post-join step of seeds/000). The tests of this file are steps of one scenario on one lab:
three-standalone.yml with xs1 and xs2 formed into a pool; xs3 joins with xs_pool_member.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from lab_helpers import connection_vars, control, host
from xapisim import Lab

LABS = Path(__file__).resolve().parents[2] / "simulator" / "labs"
BOND = dict(network="Bond 1+2", devices=["eth1", "eth2"], mode="active-backup", management=True)


@pytest.fixture(scope="module")
def lab():
    spec = yaml.safe_load((LABS / "three-standalone.yml").read_text())
    spec["pools"] = [{"name": "bonded", "master": "xs1", "members": ["xs2"]}]
    with tempfile.TemporaryDirectory() as state_dir:
        with Lab.start(spec, state_dir=state_dir, time_scale=0.001) as running:
            yield running


def run_bond(lab, playbook, *items, args=()):
    run = playbook(lab, "xs_bond.yml", dict(connection_vars(lab, "xs1"), xs_items=list(items)), args=args)
    assert run.returncode == 0, run.output
    assert run.sessions["total"] == 0, run.sessions
    return run, run.result["results"]


def writes(run):
    return [call["method"] for call in run.calls if call["kind"] == "write"]


def pool_objects(lab):
    state = control(lab, "/state")
    return next(pool for pool in state["pools"] if pool["name"] == "bonded")["objects"]


def interfaces(lab):
    """{host name: {device: (IP, management, bond member)}}."""
    objects = pool_objects(lab)
    hosts = dict((ref, record["name_label"]) for ref, record in objects["host"].items())
    found = {}
    for pif in objects["PIF"].values():
        found.setdefault(hosts[pif["host"]], {})[pif["device"]] = (
            pif["IP"], pif["management"], pif["bond_slave_of"] != "OpaqueRef:NULL")
    return found


def test_check_mode_makes_no_write_call(lab, playbook):
    run, [result] = run_bond(lab, playbook, BOND, args=["--check", "--diff"])
    assert result["changed"] is True and not result.get("failed"), result
    assert writes(run) == []
    assert sorted(result["diff"]["after"]) == ["xs1", "xs2"] and result["diff"]["before"] == {}
    assert "Bond" not in pool_objects(lab) or pool_objects(lab)["Bond"] == {}


def test_bond_on_every_host_with_the_management_interface_on_it(lab, playbook):
    run, [result] = run_bond(lab, playbook, BOND)
    assert result["changed"] is True and not result.get("failed"), result
    assert [(bond["host"], bond["device"], bond["members"], bond["mode"], bond["management"])
            for bond in result["bonds"]] == [("xs1", "bond0", ["eth1", "eth2"], "active-backup", True),
                                             ("xs2", "bond0", ["eth1", "eth2"], "active-backup", True)]
    found = interfaces(lab)
    for name in ("xs1", "xs2"):
        # the bond took the management address; eth0 kept no IP; the members have none
        assert found[name]["bond0"] == (host(lab, name)["address"], True, False)
        assert found[name]["eth0"] == ("", False, False)
        assert found[name]["eth1"][2] and found[name]["eth2"][2]
    # members first, the master last
    assert result["actions"][1:3] == ["create a bond of eth1, eth2 on xs2 (active-backup)",
                                      "create a bond of eth1, eth2 on xs1 (active-backup)"]
    assert writes(run).count("host.management_reconfigure") == 2


def test_a_rerun_changes_nothing(lab, playbook):
    for args in (["--check"], []):
        run, [result] = run_bond(lab, playbook, BOND, args=args)
        assert result["changed"] is False and writes(run) == [], result


def test_a_host_that_joins_gets_the_bond_and_management_moves_onto_it(lab, playbook):
    joiner = host(lab, "xs3")
    join = playbook(lab, "xs_pool_member.yml", dict(connection_vars(lab, "xs1"), xs_host=joiner["url"],
                                                    xs_host_password=joiner["password"]))
    assert join.returncode == 0 and not join.result.get("failed"), join.result.get("msg")
    run, [result] = run_bond(lab, playbook, BOND)
    assert result["changed"] is True and not result.get("failed"), result
    assert [bond["host"] for bond in result["bonds"]] == ["xs1", "xs2", "xs3"]
    assert all(bond["management"] and bond["members"] == ["eth1", "eth2"] for bond in result["bonds"])
    assert interfaces(lab)["xs3"]["bond0"] == (joiner["address"], True, False)
    # XAPI copied the bond from the master at the join; only the management move was left to do
    assert result["actions"] in (["move the management interface of xs3 to bond0"],
                                 ["create a bond of eth1, eth2 on xs3 (active-backup)",
                                  "move the management interface of xs3 to the bond"])
    run, [result] = run_bond(lab, playbook, BOND)
    assert result["changed"] is False and writes(run) == []


def test_mode_change_and_bad_input(lab, playbook):
    run, [result] = run_bond(lab, playbook, dict(BOND, mode="balance-slb"))
    assert result["changed"] is True and writes(run).count("Bond.set_mode") == 3
    run, results = run_bond(lab, playbook, dict(BOND, devices=["eth0", "eth1"]),
                            dict(BOND, devices=["eth1", "eth7"], network="other"),
                            dict(BOND, properties={"lacp-time": "fast"}))
    assert [result["failed"] for result in results] == [True, True, True]
    assert "the bond on xs2 has members eth1, eth2, not eth0, eth1" in results[0]["msg"]
    assert "has no interface eth7" in results[1]["msg"]
    assert "properties need mode: lacp" in results[2]["msg"]
    assert all("\n" not in result["msg"] for result in results) and writes(run) == []


def test_absent_removes_the_bond_from_every_host(lab, playbook):
    run, [result] = run_bond(lab, playbook, dict(network="Bond 1+2", state="absent"))
    assert result["changed"] is True and not result.get("failed"), result
    assert writes(run).count("Bond.destroy") == 3 and pool_objects(lab).get("Bond", {}) == {}
    # XAPI moves the IP and management back to the bond's primary member
    for name in ("xs1", "xs2", "xs3"):
        assert [device for device, (ip, management, _member) in interfaces(lab)[name].items() if management] == ["eth1"]
    run, [result] = run_bond(lab, playbook, dict(network="Bond 1+2", state="absent"))
    assert result["changed"] is False and writes(run) == []
