# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pif on three-standalone.yml made a pool: selecting an interface by device, network or uuid,
static and DHCP addresses, purpose, disallow_unplug and the management interface. The storage IPs
of the seed 004 scenario are in test_xs_sr.py. The tests run in order on one lab.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from lab_helpers import connection_vars, control
from xapisim import Lab

LABS = Path(__file__).resolve().parents[2] / "simulator" / "labs"


@pytest.fixture(scope="module")
def lab():
    spec = yaml.safe_load((LABS / "three-standalone.yml").read_text())
    spec["pools"] = [{"name": "nics", "master": "xs1", "members": ["xs2", "xs3"]}]
    with tempfile.TemporaryDirectory() as state_dir:
        with Lab.start(spec, state_dir=state_dir, time_scale=0.001) as running:
            yield running


def run_pif(lab, playbook, *items, args=()):
    run = playbook(lab, "xs_pif.yml", dict(connection_vars(lab, "xs1"), xs_items=list(items)), args=args)
    assert run.returncode == 0, run.output
    assert run.sessions["total"] == 0 and "Traceback" not in run.output
    return run, run.result["results"]


def writes(run):
    return [call["method"] for call in run.calls if call["kind"] == "write"]


def pif(lab, host_name, device):
    objects = next(pool for pool in control(lab, "/state")["pools"] if pool["name"] == "nics")["objects"]
    host_ref = next(ref for ref, host in objects["host"].items() if host["name_label"] == host_name)
    return next(record for record in objects["PIF"].values() if record["host"] == host_ref and record["device"] == device)


def test_static_by_network_name_with_gateway_and_dns(lab, playbook):
    item = dict(host="xs3", network="Pool-wide network associated with eth2", ip="10.20.0.3/24",
                gateway="10.20.0.1", dns=["10.20.0.53", "10.20.0.54"])
    run, [result] = run_pif(lab, playbook, item, args=["--check", "--diff"])
    assert result["changed"] is True and writes(run) == []
    assert result["diff"]["before"]["mode"] == "none" and result["diff"]["after"]["gateway"] == "10.20.0.1"
    run, [result] = run_pif(lab, playbook, item)
    assert result["changed"] is True and writes(run) == ["PIF.reconfigure_ip"], result
    record = pif(lab, "xs3", "eth2")
    assert (record["ip_configuration_mode"], record["IP"], record["netmask"], record["gateway"], record["DNS"]) == (
        "Static", "10.20.0.3", "255.255.255.0", "10.20.0.1", "10.20.0.53,10.20.0.54")
    assert result["pif"]["dns"] == ["10.20.0.53", "10.20.0.54"]
    run, [result] = run_pif(lab, playbook, item)
    assert result["changed"] is False and writes(run) == []
    # gateway and dns not given: kept
    run, [result] = run_pif(lab, playbook, dict(host="xs3", device="eth2", ip="10.20.0.3/24"))
    assert result["changed"] is False


def test_dhcp_then_no_change(lab, playbook):
    run, [result] = run_pif(lab, playbook, dict(host="xs2", device="eth2", mode="dhcp"))
    assert result["changed"] is True and pif(lab, "xs2", "eth2")["ip_configuration_mode"] == "DHCP"
    run, [result] = run_pif(lab, playbook, dict(host="xs2", device="eth2", mode="dhcp"))
    assert result["changed"] is False and writes(run) == []


def test_purpose_and_disallow_unplug_by_uuid(lab, playbook):
    uuid = pif(lab, "xs2", "eth2")["uuid"]
    run, [result] = run_pif(lab, playbook, dict(uuid=uuid, purpose="Backup", disallow_unplug=True))
    assert result["changed"] is True and result["pif"]["host"] == "xs2" and result["pif"]["device"] == "eth2"
    assert pif(lab, "xs2", "eth2")["other_config"]["management_purpose"] == "Backup"
    run, [result] = run_pif(lab, playbook, dict(uuid=uuid, purpose="Storage"))
    assert result["changed"] is True and pif(lab, "xs2", "eth2")["other_config"]["management_purpose"] == "Storage"
    run, [result] = run_pif(lab, playbook, dict(uuid=uuid, purpose="", disallow_unplug=False))
    assert result["changed"] is True and "management_purpose" not in pif(lab, "xs2", "eth2")["other_config"]
    assert pif(lab, "xs2", "eth2")["disallow_unplug"] is False


def test_management_moves_to_another_interface_and_back(lab, playbook):
    run, [result] = run_pif(lab, playbook, dict(host="xs3", device="eth2", management=True))
    assert result["changed"] is True and result["pif"]["management"] is True, result
    assert "host.management_reconfigure" in writes(run)
    assert pif(lab, "xs3", "eth2")["management"] and not pif(lab, "xs3", "eth0")["management"]
    run, [result] = run_pif(lab, playbook, dict(host="xs3", device="eth0", management=True))
    assert result["changed"] is True and pif(lab, "xs3", "eth0")["management"]
    run, [result] = run_pif(lab, playbook, dict(host="xs3", device="eth0", management=True))
    assert result["changed"] is False and writes(run) == []


@pytest.mark.parametrize("item, message", [
    (dict(host="xs1", device="eth0", mode="none"), "eth0 on xs1 is the management interface: it cannot lose its IP"),
    (dict(host="xs2", device="eth1", management=True), "eth1 on xs2 has no IP configuration, so it cannot be the "
                                                       "management interface: give it mode and ip as well."),
    (dict(host="xs2", network="storage", mode="dhcp"), "host xs2 has no interface on network 'storage'"),
    (dict(host="xs2", device="eth1", ip="10.20.0.3/24"), "ip 10.20.0.3 is already used by eth2 on xs3"),
    (dict(host="xs2", device="eth1", ip="10.20.0.0/24"), "ip 10.20.0.0 is the network address of 10.20.0.0/24"),
])
def test_refusals_are_one_clear_line(lab, playbook, item, message):
    run, [result] = run_pif(lab, playbook, item)
    assert result["failed"] is True and message in result["msg"] and "\n" not in result["msg"], result
    assert writes(run) == []
