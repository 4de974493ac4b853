# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each join pre-flight check, one by one: a candidate identical to the pool passes everything;
changing one thing fails exactly the check about it."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _join_prechecks as prechecks
from ansible_collections.xenserver.pools.tests.unit.plugins.pool_records import NULL, add_vm, pool_of, standalone


def sides(candidate_records=None, pool_records=None, candidate_offset=0.0, pool_offset=0.0):
    candidate_records = candidate_records or standalone("xs2", 2)
    pool_records = pool_records or pool_of(standalone("xs1", 1))
    return (prechecks.Side(candidate_records, clock_offset=candidate_offset),
            prechecks.Side(pool_records, clock_offset=pool_offset))


def run(candidate_records=None, pool_records=None, **kwargs):
    candidate, pool = sides(candidate_records, pool_records, kwargs.pop("candidate_offset", 0.0),
                            kwargs.pop("pool_offset", 0.0))
    return dict((item["name"], item) for item in prechecks.run_prechecks(candidate, pool, **kwargs))


def host_of(records):
    return next(iter(records["host"].values()))


def pool_obj(records):
    return next(iter(records["pool"].values()))


def pif(records, device):
    return next(record for record in records["PIF"].values() if record["device"] == device)


def test_identical_hosts_pass_every_check():
    results = run()
    assert [name for name, item in results.items() if not item["passed"]] == []
    assert len(results) == len(prechecks.CHECKS)
    for item in results.values():
        assert set(item) == {"name", "passed", "detail", "blocking", "overridable_by_force"}
        assert item["detail"]


def _another_host(records):
    extra = copy.deepcopy(host_of(records))
    extra.update(name_label="xs9", uuid="host-uuid-xs9", address="192.0.2.9")
    records["host"]["OpaqueRef:host-xs9"] = extra


def _big_pool(size, sr_type=None):
    pool = pool_of(standalone("xs1", 1))
    master = host_of(pool)
    for number in range(2, size + 1):
        pool["host"]["OpaqueRef:h%d" % number] = dict(master, name_label="h%d" % number, uuid="u%d" % number)
    if sr_type:
        pool["SR"]["OpaqueRef:gfs2"] = {"uuid": "gfs2", "name_label": "gfs2", "type": sr_type, "shared": True}
    return pool


def _cluster(pool):
    pool["Cluster"]["OpaqueRef:cluster"] = {"pool_auto_join": True}
    master_ref = pool_obj(pool)["master"]
    eth1 = next(ref for ref, record in pool["PIF"].items() if record["device"] == "eth1")
    pool["Cluster_host"]["OpaqueRef:ch"] = {"host": master_ref, "PIF": eth1, "enabled": True}


# (what is changed, the check that fails, blocking, overridable_by_force, other checks allowed to fail)
CASES = [
    ("candidate has other hosts", lambda c, p: _another_host(c), "not_in_another_pool", True, False, ()),
    ("pooling not licensed", lambda c, p: host_of(c)["license_params"].update(restrict_pooling="true"),
     "pooling_licensed", True, False, ()),
    ("pool size licence", lambda c, p: (host_of(c)["license_params"].update(restrict_pool_size="true"),
                                        p.update(_big_pool(3)))[0], "pool_size_licence", True, False, ()),
    ("pool of 64", lambda c, p: p.update(_big_pool(64)), "pool_size", True, False, ()),
    ("17 hosts with GFS2", lambda c, p: p.update(_big_pool(17, "gfs2")), "pool_size_recommended", False, False, ()),
    ("HA on the candidate", lambda c, p: pool_obj(c).update(ha_enabled=True), "ha_disabled", True, False, ()),
    ("HA on the pool", lambda c, p: pool_obj(p).update(ha_enabled=True), "ha_disabled", True, False, ()),
    ("clustering", lambda c, p: c["Cluster_host"].update({"OpaqueRef:x": {"enabled": True, "host": "h"}}),
     "clustering_disabled", True, False, ()),
    ("no IP on the clustering network", lambda c, p: _cluster(p), "clustering_network", True, False, ()),
    ("pool updating", lambda c, p: pool_obj(p).update(current_operations={"t": "apply_updates"}),
     "not_updating", True, False, ()),
    ("pending guidance", lambda c, p: host_of(c).update(pending_guidances=["reboot_host"]),
     "no_pending_guidances", True, False, ()),
    ("suspended VM", lambda c, p: add_vm(c, "OpaqueRef:host-xs2", "web", "Suspended"), "no_active_vms", True, False, ()),
    ("paused VM", lambda c, p: add_vm(c, "OpaqueRef:host-xs2", "web", "Paused"), "no_active_vms", True, False, ()),
    ("VM operation", lambda c, p: c["VM"]["OpaqueRef:vm-web"].update(current_operations={"o": "clean_shutdown"})
     if add_vm(c, "OpaqueRef:host-xs2", "web", "Halted") else None, "no_vm_operations", True, False, ()),
    ("shared SR", lambda c, p: next(iter(c["SR"].values())).update(shared=True), "no_shared_srs", True, False, ()),
    ("storage driver lacks a feature", lambda c, p: c["SM"]["OpaqueRef:sm-nfs-xs2"]["features"].pop("VDI_GENERATE_CONFIG"),
     "sm_features", True, False, ()),
    ("no management interface", lambda c, p: pif(c, "eth0").update(management=False), "management_interface", True,
     False, ("management_static_ip",)),
    ("bonded management", lambda c, p: (pif(c, "eth0").update(bond_master_of=["OpaqueRef:bond"]),
                                        c["Bond"].update({"OpaqueRef:bond": {"master": "OpaqueRef:pif-xs2-eth0"}}))[0],
     "management_not_bonded", True, False, ("no_bonds",)),
    ("DHCP management", lambda c, p: pif(c, "eth0").update(ip_configuration_mode="DHCP"), "management_static_ip",
     False, False, ()),
    ("management VLAN", lambda c, p: pif(c, "eth0").update(VLAN=10), "management_vlan", True, False, ()),
    ("IPv6 management", lambda c, p: pif(c, "eth0").update(primary_address_type="IPv6"), "primary_address_type",
     True, False, ("management_static_ip",)),
    ("bond", lambda c, p: c["Bond"].update({"OpaqueRef:bond": {"master": "OpaqueRef:pif-xs2-eth1"}}), "no_bonds",
     True, False, ()),
    ("VLAN", lambda c, p: c["VLAN"].update({"OpaqueRef:vlan": {"tag": 20, "untagged_PIF": "OpaqueRef:pif-xs2-eth1"}}),
     "no_non_management_vlans", True, False, ()),
    ("tunnel", lambda c, p: c["tunnel"].update({"OpaqueRef:t": {}}), "no_tunnels", True, False, ()),
    ("SR-IOV", lambda c, p: c["network_sriov"].update({"OpaqueRef:s": {}}), "no_network_sriovs", True, False, ()),
    ("NBD purposes", lambda c, p: (next(iter(c["network"].values())).update(purpose=["nbd"]),
                                   next(iter(p["network"].values())).update(purpose=["insecure_nbd"]))[0],
     "network_purpose", True, False, ()),
    ("release", lambda c, p: host_of(c)["software_version"].update(product_version="8.2.1", platform_version="3.2.1"),
     "product_version", True, False, ()),
    ("xapi version", lambda c, p: host_of(c)["software_version"].update(xapi="25.5"), "software_build", True, False, ()),
    ("API version", lambda c, p: host_of(c).update(API_version_minor=20), "api_version", True, False, ()),
    ("DB schema", lambda c, p: host_of(c)["software_version"].update(db_schema="5.785"), "db_schema", True, False, ()),
    ("extra update", lambda c, p: (c["pool_update"].update({"OpaqueRef:u3": {"uuid": "u3", "name_label": "XS84E003"}}),
                                   host_of(c)["updates"].append("OpaqueRef:u3"))[0], "updates", True, False, ()),
    ("no Linux pack", lambda c, p: host_of(c)["software_version"].pop("xs:linux"), "supplemental_packs", True, False,
     ()),
    ("extra pack", lambda c, p: host_of(c)["software_version"].update({"vendor:nic": "NIC driver, version 1"}),
     "supplemental_packs", True, False, ()),
    ("edition", lambda c, p: host_of(c).update(edition="premier"), "license_edition", True, False, ()),
    ("network backend", lambda c, p: host_of(c)["software_version"].update(network_backend="bridge"),
     "network_backend", True, False, ()),
    ("external auth", lambda c, p: host_of(c).update(external_auth_type="AD", external_auth_service_name="corp"),
     "external_auth", True, False, ()),
    ("TLS verification", lambda c, p: pool_obj(c).update(tls_verification_enabled=False), "tls_verification", True,
     False, ()),
    ("CA certificate", lambda c, p: (c["Certificate"].update({"a": {"type": "ca", "name": "corp", "fingerprint": "1"}}),
                                     p["Certificate"].update({"b": {"type": "ca", "name": "corp", "fingerprint": "2"}}))[0],
     "ca_certificates", True, False, ()),
    ("CPU vendor", lambda c, p: host_of(c)["cpu_info"].update(vendor="AuthenticAMD"), "cpu_vendor", True, False, ()),
    ("CPU model", lambda c, p: host_of(c)["cpu_info"].update(modelname="Intel(R) Xeon(R) Gold 5318Y"), "cpu_features",
     True, True, ()),
]


@pytest.mark.parametrize("label, change, check, blocking, overridable, also", CASES, ids=[case[0] for case in CASES])
def test_one_difference_fails_one_check(label, change, check, blocking, overridable, also):
    candidate, pool = standalone("xs2", 2), pool_of(standalone("xs1", 1))
    change(candidate, pool)
    results = run(candidate, pool)
    failed = set(name for name, item in results.items() if not item["passed"])
    assert check in failed
    assert failed - {check} <= set(also)
    assert results[check]["blocking"] is blocking
    assert results[check]["overridable_by_force"] is overridable
    assert results[check]["detail"]


def test_every_check_has_a_failing_case():
    names = set(check.__name__[len("check_"):] for check in prechecks.CHECKS)
    covered = set(case[2] for case in CASES) | {"clock_skew"}
    assert names == covered


def test_clock_skew_beyond_the_limit_is_blocking_and_names_the_direction():
    results = run(candidate_offset=600.0, pool_offset=0.5)
    item = results["clock_skew"]
    assert not item["passed"] and item["blocking"] and not item["overridable_by_force"]
    assert "600 s ahead of" in item["detail"] or "599 s ahead of" in item["detail"]
    assert run(candidate_offset=-30, pool_offset=0, max_clock_skew=20)["clock_skew"]["detail"].find("behind") > 0


def test_clock_skew_within_the_limit_passes():
    assert run(candidate_offset=59, pool_offset=0)["clock_skew"]["passed"]
    assert not run(candidate_offset=59, pool_offset=0, max_clock_skew=10)["clock_skew"]["passed"]


def test_unknown_clocks_are_a_warning():
    candidate, pool = sides()
    candidate.clock_offset, candidate.clock_error = None, "host.get_servertime failed: MESSAGE_METHOD_UNKNOWN"
    item = prechecks.check_clock_skew(candidate, pool, {"max_clock_skew": 60})
    assert not item["passed"] and not item["blocking"]
    assert "MESSAGE_METHOD_UNKNOWN" in item["detail"]


def test_pending_joins_count_for_the_pool_size():
    pool = _big_pool(60)
    assert run(pool_records=pool)["pool_size"]["passed"]
    assert not run(pool_records=pool, pending_joins=5)["pool_size"]["passed"]


def test_cpu_features_detail_says_when_the_pool_level_drops():
    candidate = standalone("xs2", 2)
    host_of(candidate)["cpu_info"].update(modelname="older", features_hvm_host="0fcbfbff-f7fa3223")
    assert "lacks features" in run(candidate)["cpu_features"]["detail"]
    assert "force: true" in run(candidate)["cpu_features"]["detail"]


def test_cpu_features_accept_a_twin_of_any_member_of_a_heterogeneous_pool():
    pool = pool_of(standalone("xs1", 1), standalone("xs3", 3))
    pool["host"]["OpaqueRef:host-xs3"]["cpu_info"]["modelname"] = "Intel(R) Xeon(R) Gold 5318Y"
    item = run(pool_records=pool)["cpu_features"]
    assert item["passed"] and "as xs1" in item["detail"]
    candidate = standalone("xs2", 2)
    host_of(candidate)["cpu_info"]["modelname"] = "a third model"
    item = run(candidate, pool)["cpu_features"]
    assert not item["passed"] and "xs1 (Intel(R) Xeon(R) Gold 6338" in item["detail"] and "xs3 (Intel" in item["detail"]


def test_cpu_features_ignores_hosts_whose_cpu_is_not_known_yet():
    pool = pool_of(standalone("xs1", 1), standalone("xs3", 3))
    pool["host"]["OpaqueRef:host-xs3"]["cpu_info"] = {}
    assert run(pool_records=pool)["cpu_features"]["passed"]


def test_refusals_and_force():
    candidate = standalone("xs2", 2)
    host_of(candidate)["cpu_info"].update(modelname="other model")
    pif(candidate, "eth0").update(ip_configuration_mode="DHCP")
    results = prechecks.run_prechecks(*sides(candidate))
    assert [item["name"] for item in prechecks.refusals(results)] == ["cpu_features"]
    assert prechecks.refusals(results, force=True) == []
    assert prechecks.needs_force(results)
    assert sorted(item["name"] for item in prechecks.non_blocking_failures(results, force=True)) == [
        "cpu_features", "management_static_ip"]
    assert prechecks.describe(prechecks.refusals(results)).startswith("cpu_features: the CPU of xs2")


def test_force_never_overrides_the_vendor():
    candidate = standalone("xs2", 2)
    host_of(candidate)["cpu_info"].update(vendor="AuthenticAMD", modelname="AMD EPYC")
    results = prechecks.run_prechecks(*sides(candidate))
    assert [item["name"] for item in prechecks.refusals(results, force=True)] == ["cpu_vendor"]


def test_the_vendor_falls_back_to_the_master_host_when_the_pool_has_no_cpu_info():
    pool = pool_of(standalone("xs1", 1))
    pool_obj(pool)["cpu_info"] = {}
    candidate = standalone("xs2", 2)
    host_of(candidate)["cpu_info"]["vendor"] = "AuthenticAMD"
    assert not run(candidate, pool)["cpu_vendor"]["passed"]


def test_a_management_vlan_on_a_bond_counts_as_bonded():
    candidate = standalone("xs2", 2)
    candidate["PIF"]["OpaqueRef:bond0"] = dict(pif(candidate, "eth0"), device="bond0", physical=False, management=False,
                                               bond_master_of=["OpaqueRef:bond"])
    candidate["VLAN"]["OpaqueRef:vlan"] = {"tag": 10, "tagged_PIF": "OpaqueRef:bond0",
                                           "untagged_PIF": "OpaqueRef:pif-xs2-eth0"}
    pif(candidate, "eth0").update(VLAN_master_of="OpaqueRef:vlan")
    assert not run(candidate)["management_not_bonded"]["passed"]


def test_side_defaults_to_the_pool_master():
    records = pool_of(standalone("xs1", 1), standalone("xs3", 3))
    side = prechecks.Side(records)
    assert side.host["name_label"] == "xs1"
    assert prechecks.Side(records, host_ref="OpaqueRef:host-xs3").name == "xs3"
    assert prechecks.Side({}).host == {} and prechecks.Side({}).pool_ref == NULL
