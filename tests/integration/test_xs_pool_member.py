# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool_member against simulator/labs/join-failures.yml: every candidate that breaks a join
requirement is refused before any write call, naming the requirement; CPU features join with
force, a CPU vendor never does. The tests run in file order on one lab: the later ones join hosts."""

from __future__ import annotations

import json

import pytest

from xapisim import Lab

from conftest import LABS, TIME_SCALE
from lab_helpers import control, host
from membership_helpers import is_write

# candidate -> the pre-flight check its refusal must name (seeds + BEHAVIOUR.md 1.2)
REFUSED = {
    "no-pooling-licence": "pooling_licensed",
    "ha-enabled": "ha_disabled",
    "clustering": "clustering_disabled",
    "running-vm": "no_active_vms",
    "vm-current-operations": "no_vm_operations",
    "pending-guidance": "no_pending_guidances",
    "product-version": "product_version",
    "xapi-version": "software_build",
    "no-linux-pack": "supplemental_packs",
    "cpu-vendor": "cpu_vendor",
    "shared-sr": "no_shared_srs",
    "has-bond": "no_bonds",
    "tunnel": "no_tunnels",
    "sriov": "no_network_sriovs",
    "non-mgmt-vlan": "no_non_management_vlans",
    "mgmt-vlan-mismatch": "management_vlan",
    "external-auth": "external_auth",
    "edition": "license_edition",
    "network-backend": "network_backend",
    "api-version": "api_version",
    "db-schema": "db_schema",
    "updates": "updates",
    "tls-verification": "tls_verification",
    # documented requirements XAPI does not check (it would let these join)
    "cpu-features": "cpu_features",
    "supplemental-pack": "supplemental_packs",
    "clock-skew": "clock_skew",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab.start(LABS / "join-failures.yml", state_dir=tmp_path_factory.mktemp("join-failures"),
                   time_scale=TIME_SCALE) as running:
        yield running


def master_vars(lab):
    master = host(lab, "master")
    return {"xs_hostname": master["url"], "xs_password": master["password"], "xs_ca_path": lab.info["ca_bundle"]}


def join_vars(lab, name, **extra):
    candidate = host(lab, name)
    return dict(master_vars(lab), xs_host=candidate["url"], xs_host_password=candidate["password"], **extra)


def assert_clean(run, lab):
    assert run.sessions["total"] == 0, run.sessions
    assert "Traceback" not in run.output
    text = run.output + json.dumps(run.result)
    for entry in lab.info["hosts"]:
        assert entry["password"] not in text
    for call in run.calls:
        assert "lab-root-pw" not in json.dumps(call["args"])


def pool_hosts(lab):
    state = control(lab, "/state")
    return sorted(next(pool["hosts"] for pool in state["pools"] if "master" in pool["hosts"]))


def test_every_broken_requirement_is_refused_before_any_write(lab, playbook):
    candidates = [host(lab, name)["url"] for name in REFUSED]
    run = playbook(lab, "xs_pool_member_each.yml",
                   dict(master_vars(lab), xs_candidates=candidates, xs_host_password=host(lab, "master")["password"]))
    assert run.returncode == 0, run.output
    results = run.result["results"]
    assert len(results) == len(REFUSED)
    for name, result in zip(REFUSED, results):
        check = REFUSED[name]
        assert result["failed"] and not result["changed"], (name, result.get("msg"))
        assert result["msg"].startswith("Refusing to join %s to pool" % name), result["msg"]
        assert " %s: " % check in result["msg"] or "- %s: " % check in result["msg"], (name, result["msg"])
        assert result["msg"].endswith("Nothing was changed.")
        failed = [item["name"] for item in result["preflight"] if not item["passed"] and item["blocking"]]
        assert check in failed, (name, failed)
    assert not [call for call in run.calls if call["method"].startswith(("pool.join", "Async.pool.join"))]
    assert [call for call in run.calls if is_write(call)] == []
    assert pool_hosts(lab) == ["master"]
    assert_clean(run, lab)


def test_a_cpu_vendor_is_refused_even_with_force(lab, playbook):
    run = playbook(lab, "xs_pool_member.yml", join_vars(lab, "cpu-vendor", xs_force=True))
    assert run.result["failed"]
    assert "1 pre-flight check(s) failed - cpu_vendor: the CPU vendor of cpu-vendor is AuthenticAMD" in run.result["msg"]
    assert [call for call in run.calls if is_write(call)] == []
    assert_clean(run, lab)


def test_cpu_features_join_with_force(lab, playbook):
    refused = playbook(lab, "xs_pool_member.yml", join_vars(lab, "cpu-features"))
    assert refused.result["failed"] and "cpu_features" in refused.result["msg"]
    assert "set force: true" in refused.result["msg"]
    run = playbook(lab, "xs_pool_member.yml", join_vars(lab, "cpu-features", xs_force=True))
    assert run.returncode == 0 and not run.result["failed"], run.result.get("msg")
    assert run.result["changed"] and run.result["join_method"] == "pool.join_force"
    assert [call["method"] for call in run.calls if call["method"].startswith("pool.join")] == ["pool.join_force"]
    member = run.result["host"]
    assert member["name"] == "cpu-features" and member["live"] and member["enabled"] and not member["is_master"]
    assert pool_hosts(lab) == ["cpu-features", "master"]
    assert "cpu_features" in run.output  # the override is shown as a warning
    assert_clean(run, lab)


def test_compatible_host_check_mode_then_join_then_no_change(lab, playbook):
    planned = playbook(lab, "xs_pool_member.yml", join_vars(lab, "compatible"), args=["--check"])
    assert planned.result["changed"] and not planned.result["failed"]
    assert planned.result["actions"][0].startswith("join compatible to pool")
    assert all(item["passed"] for item in planned.result["preflight"])
    assert [call for call in planned.calls if is_write(call)] == []
    assert_clean(planned, lab)

    run = playbook(lab, "xs_pool_member.yml", join_vars(lab, "compatible"))
    assert run.result["changed"] and run.result["join_method"] == "pool.join", run.result.get("msg")
    assert run.result["host"]["live"] and run.result["host"]["enabled"]
    assert all(item["passed"] for item in run.result["preflight"])
    assert_clean(run, lab)

    again = playbook(lab, "xs_pool_member.yml", join_vars(lab, "compatible"))
    assert not again.result["changed"] and not again.result["failed"]
    assert "already a member" in again.result["msg"]
    assert [call for call in again.calls if is_write(call)] == []
    assert not [call for call in again.calls if call["host"] == "compatible"]  # no login to the member
    assert_clean(again, lab)


def test_the_licence_pool_size_limit_counts_the_pool(lab, playbook):
    assert pool_hosts(lab) == ["compatible", "cpu-features", "master"]
    run = playbook(lab, "xs_pool_member.yml", join_vars(lab, "pool-size-licence"))
    assert run.result["failed"]
    assert "pool_size_licence: pool-size-licence's licence limits a pool to 3 hosts and the pool would have 4" in \
        run.result["msg"]
    assert [call for call in run.calls if is_write(call)] == []
    assert_clean(run, lab)


def test_dhcp_management_joins_with_a_warning(lab, playbook):
    run = playbook(lab, "xs_pool_member.yml", join_vars(lab, "dhcp-management"))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    warning = next(item for item in run.result["preflight"] if item["name"] == "management_static_ip")
    assert not warning["passed"] and not warning["blocking"] and "DHCP" in warning["detail"]
    assert any("management_static_ip" in text for text in run.result["warnings"])
    assert_clean(run, lab)
