# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _pool_membership as membership
from ansible_collections.xenserver.pools.plugins.modules import xs_pool_member
from ansible_collections.xenserver.pools.tests.unit.conftest import as_json
from ansible_collections.xenserver.pools.tests.unit.plugins.pool_records import (
    NULL,
    SERVER_EPOCH,
    FakePoolXapi,
    add_vm,
    pool_of,
    standalone,
)

MASTER = "https://192.0.2.1/"
CANDIDATE = "https://192.0.2.2/"
POOL_PASSWORD = "pool-secret-pw"
HOST_PASSWORD = "host-secret-pw"
# Calls that change nothing (the rest must not happen in check mode or on a refusal).
READ_ONLY = ("session.login_with_password", "login_with_password", "session.logout", "event.from",
             "host.get_servertime", "host.get_vms_which_prevent_evacuation", "pool.get_all", "host.get_uuid")


def writes(xapi):
    return [(url, method) for url, method, _args in xapi.calls
            if not method.endswith("get_all_records") and method not in READ_ONLY]


class World(object):
    """A pool of xs1 (master, 192.0.2.1) and a standalone candidate xs2 (192.0.2.2)."""

    def __init__(self, xapi, monkeypatch, candidate=None, pool=None):
        self.xapi = xapi
        monkeypatch.setattr(membership, "_now", lambda: SERVER_EPOCH)
        self.pool_records = pool or pool_of(standalone("xs1", 1))
        self.candidate_records = candidate or standalone("xs2", 2)
        master = xapi.add_endpoint(MASTER, password=POOL_PASSWORD)
        self.master = FakePoolXapi(xapi, master, self.pool_records)
        self.candidate_endpoint = xapi.add_endpoint(CANDIDATE, password=HOST_PASSWORD)
        self.candidate = FakePoolXapi(xapi, self.candidate_endpoint, self.candidate_records)
        self.joins = []
        self.candidate_endpoint.handlers["pool.join"] = lambda *args: self.join("pool.join", *args)
        self.candidate_endpoint.handlers["pool.join_force"] = lambda *args: self.join("pool.join_force", *args)
        self.pool_ref = next(iter(self.pool_records["pool"]))
        for field in ("default_SR", "suspend_image_SR", "crash_dump_SR"):
            master.handlers["pool.set_%s" % field] = lambda pool, sr, field=field: self.pool_records["pool"][pool].update(
                {field: sr}) or ""

    def join(self, method, address, username, password):
        self.joins.append((method, address, username, password))
        for cls in ("host", "host_metrics", "PIF", "network", "SR", "PBD"):
            self.pool_records[cls].update(copy.deepcopy(self.candidate_records[cls]))
        return ""

    def args(self, **extra):
        args = dict(hostname="192.0.2.1", password=POOL_PASSWORD, host="192.0.2.2", host_password=HOST_PASSWORD)
        args.update(extra)
        return args


@pytest.fixture
def world(xapi, monkeypatch):
    return World(xapi, monkeypatch)


def test_check_mode_reports_the_plan_and_writes_nothing(world, run_module):
    world.pool_records["pool"][world.pool_ref]["default_SR"] = "OpaqueRef:sr-local-xs1"
    status, result = run_module(xs_pool_member.main, dict(world.args(), _ansible_check_mode=True))
    assert status == "exit" and result["changed"]
    assert result["join_method"] == "pool.join"
    assert result["actions"] == ["join xs2 to pool (unnamed, uuid pool-uuid-xs1) (pool.join)",
                                 "clear the pool's default_sr (Local storage, not shared)"]
    assert all(item["passed"] for item in result["preflight"])
    assert result["diff"] == {"before": {"hosts": ["xs1"]}, "after": {"hosts": ["xs1", "xs2"]}}
    # the joining host's own interfaces, read from it (pool_build checks them before any join)
    assert result["host"]["uuid"] == "host-uuid-xs2" and result["host"]["interfaces"] == ["eth0", "eth1"]
    assert writes(world.xapi) == []
    assert world.xapi.sessions == set()


def test_join_waits_clears_local_pool_srs_and_reports_storage(world, run_module, capsys):
    world.pool_records["pool"][world.pool_ref]["default_SR"] = "OpaqueRef:sr-local-xs1"
    world.pool_records["SR"]["OpaqueRef:nfs"] = {"uuid": "nfs", "name_label": "NAS", "type": "nfs", "shared": True}
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "exit" and result["changed"]
    assert world.joins == [("pool.join", "192.0.2.1", "root", POOL_PASSWORD)]
    assert writes(world.xapi) == [(CANDIDATE, "pool.join"), (MASTER, "pool.set_default_SR")]
    assert world.pool_records["pool"][world.pool_ref]["default_SR"] == NULL
    assert result["cleared_pool_srs"] == [{"setting": "default_sr", "sr": {"name": "Local storage",
                                                                           "uuid": "sr-uuid-local-xs1"}}]
    assert result["host"] == dict(name="xs2", uuid="host-uuid-xs2", address="192.0.2.2", is_master=False, live=True,
                                  enabled=True, interfaces=["eth0", "eth1"])
    assert result["storage"][0]["sr"] == "NAS" and "has no PBD" in result["storage"][0]["likely_cause"]
    assert "shared SR NAS is not attached on xs2" in capsys.readouterr().err
    # the candidate is logged out right after pool.join, before waiting on the master
    methods = [(url, method) for url, method, _args in world.xapi.calls]
    assert methods.index((CANDIDATE, "session.logout")) == methods.index((CANDIDATE, "pool.join")) + 1
    assert world.xapi.sessions == set()
    text = json.dumps(as_json(result))
    assert POOL_PASSWORD not in text and HOST_PASSWORD not in text


def test_a_member_in_the_host_list_is_no_change_without_logging_in_to_it(world, run_module):
    world.join("pool.join", "", "", "")
    status, result = run_module(xs_pool_member.main, world.args(host="https://192.0.2.2:443/"))
    assert status == "exit" and not result["changed"] and result["host"]["name"] == "xs2"
    assert "already a member" in result["msg"]
    assert not any(url == CANDIDATE for url, _method, _args in world.xapi.calls)


def test_host_is_slave_naming_our_master_is_no_change(world, run_module):
    world.candidate_endpoint.master_address = "192.0.2.1"
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "exit" and not result["changed"]
    assert "its login names our master 192.0.2.1" in result["msg"]
    assert writes(world.xapi) == []


def test_a_member_of_another_pool_is_refused(world, run_module):
    world.candidate_endpoint.master_address = "198.51.100.7"
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "fail" and "member of another pool, whose master is 198.51.100.7" in result["msg"]
    assert result["preflight"][0]["name"] == "not_in_another_pool"
    assert writes(world.xapi) == [] and world.xapi.sessions == set()


def test_a_failed_check_refuses_before_any_write(xapi, monkeypatch, run_module):
    candidate = standalone("xs2", 2)
    add_vm(candidate, "OpaqueRef:host-xs2", "web", "Running")
    candidate["PIF"]["OpaqueRef:pif-xs2-eth0"]["VLAN"] = 10
    world = World(xapi, monkeypatch, candidate=candidate)
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "fail" and not result["changed"]
    assert result["msg"].startswith("Refusing to join xs2 to pool (unnamed, uuid pool-uuid-xs1): 2 pre-flight check(s) "
                                    "failed - no_active_vms: xs2 hosts VM(s) that are not halted: web (Running)")
    assert "management_vlan: the management interface of xs2 is on VLAN 10" in result["msg"]
    assert result["msg"].endswith("Nothing was changed.")
    assert "exception" not in result
    assert writes(xapi) == [] and world.joins == []
    assert len(result["preflight"]) > 30


def test_clock_skew_refuses(world, run_module):
    world.candidate.server_time = "20260101T12:10:00Z"
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "fail" and "clock_skew: the clock of xs2 is 600 s ahead of the master's" in result["msg"]
    status, result = run_module(xs_pool_member.main, world.args(max_clock_skew=900))
    assert status == "exit" and result["changed"]


def test_force_joins_a_different_cpu_model_with_join_force(xapi, monkeypatch, run_module, capsys):
    candidate = standalone("xs2", 2)
    candidate["host"]["OpaqueRef:host-xs2"]["cpu_info"]["modelname"] = "Intel(R) Xeon(R) Gold 5318Y"
    world = World(xapi, monkeypatch, candidate=candidate)
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "fail" and "cpu_features" in result["msg"] and "force: true" in result["msg"]
    status, result = run_module(xs_pool_member.main, world.args(force=True))
    assert status == "exit" and result["join_method"] == "pool.join_force"
    assert world.joins[0][0] == "pool.join_force"
    assert "cpu_features: the CPU of xs2" in capsys.readouterr().err


def test_force_without_need_uses_plain_join(world, run_module):
    status, result = run_module(xs_pool_member.main, world.args(force=True))
    assert status == "exit" and world.joins[0][0] == "pool.join"


def test_force_never_joins_another_cpu_vendor(xapi, monkeypatch, run_module):
    candidate = standalone("xs2", 2)
    candidate["host"]["OpaqueRef:host-xs2"]["cpu_info"].update(vendor="AuthenticAMD", modelname="AMD EPYC 7313")
    world = World(xapi, monkeypatch, candidate=candidate)
    status, result = run_module(xs_pool_member.main, world.args(force=True))
    assert status == "fail" and "1 pre-flight check(s) failed - cpu_vendor" in result["msg"]
    assert world.joins == []


def test_a_join_whose_answer_is_lost_succeeds_when_the_host_appears(world, run_module):
    def join_then_drop(*args):
        world.join("pool.join", *args)
        raise ConnectionResetError(104, "Connection reset by peer")
    world.candidate_endpoint.handlers["pool.join"] = join_then_drop
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "exit" and result["changed"] and result["host"]["name"] == "xs2"


def test_a_join_whose_answer_is_lost_and_the_host_never_appears_fails(world, run_module):
    def drop(*args):
        raise ConnectionResetError(104, "Connection reset by peer")
    world.candidate_endpoint.handlers["pool.join"] = drop
    status, result = run_module(xs_pool_member.main, world.args(timeout=30))
    assert status == "fail" and "Joining xs2 to pool" in result["msg"] and "reset" in result["msg"]


def test_xapi_refusing_the_join_is_explained(world, run_module):
    def refuse(*args):
        raise world.xapi.module.Failure(["POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH", "10", "-1"])
    world.candidate_endpoint.handlers["pool.join"] = refuse
    status, result = run_module(xs_pool_member.main, world.args())
    assert status == "fail"
    assert "management interface is on VLAN 10, the pool's on VLAN -1" in result["msg"]


def test_a_wrong_candidate_password_names_the_host_options(world, run_module):
    status, result = run_module(xs_pool_member.main, world.args(host_password="wrong"))
    assert status == "fail" and "check host_username and host_password" in result["msg"]
    assert writes(world.xapi) == [] and world.xapi.sessions == set()


def test_the_candidate_password_is_required_to_join(world, run_module):
    args = world.args()
    del args["host_password"]
    status, result = run_module(xs_pool_member.main, args)
    assert status == "fail" and "host_password" in result["msg"]


# --- state: absent ------------------------------------------------------------------------------

@pytest.fixture
def pool_world(xapi, monkeypatch):
    records = pool_of(standalone("xs1", 1), standalone("xs2", 2), standalone("xs3", 3))
    world = World(xapi, monkeypatch, pool=records)
    endpoint = world.master.endpoint

    def eject(host):
        if host == records["pool"][world.pool_ref]["master"]:
            raise xapi.module.Failure(["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"])
        del records["host"][host]

    def evacuate(host):
        for vm in records["VM"].values():
            if vm["resident_on"] == host and not vm["is_control_domain"]:
                vm["resident_on"] = "OpaqueRef:host-xs1"

    def designate(host):
        records["pool"][world.pool_ref]["master"] = host
        endpoint.master_address = "192.0.2.2"  # the old master now redirects logins
        new = xapi.add_endpoint("https://192.0.2.2/", password=POOL_PASSWORD)
        FakePoolXapi(xapi, new, records)
        new.handlers.update(dict((name, handler) for name, handler in endpoint.handlers.items()
                                 if name.startswith("Async.") or name.startswith("host.")))
        return ""

    world.master.task("pool.eject", eject)
    world.master.task("host.evacuate", evacuate)
    endpoint.handlers["host.disable"] = lambda host: records["host"][host].update(enabled=False) or ""
    endpoint.handlers["host.enable"] = lambda host: records["host"][host].update(enabled=True) or ""
    endpoint.handlers["host.get_vms_which_prevent_evacuation"] = lambda host: {}
    endpoint.handlers["pool.designate_new_master"] = designate
    del xapi.endpoints[CANDIDATE]
    world.records = records
    return world


def absent(world, **extra):
    return dict(hostname="192.0.2.1", password=POOL_PASSWORD, state="absent", **extra)


def test_eject_a_member(pool_world, run_module):
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3"))
    assert status == "exit" and result["changed"]
    assert "OpaqueRef:host-xs3" not in pool_world.records["host"]
    assert [method for _url, method in writes(pool_world.xapi)] == ["Async.pool.eject", "task.destroy"]
    assert result["diff"]["after"] == {"hosts": ["xs1", "xs2"]}
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3"))
    assert status == "exit" and not result["changed"] and "not a member" in result["msg"]


def test_eject_check_mode_writes_nothing(pool_world, run_module):
    status, result = run_module(xs_pool_member.main, dict(absent(pool_world, host="192.0.2.3"), _ansible_check_mode=True))
    assert status == "exit" and result["changed"] and result["host"]["name"] == "xs3"
    assert writes(pool_world.xapi) == []


def test_eject_refuses_running_vms_then_evacuates(pool_world, run_module):
    add_vm(pool_world.records, "OpaqueRef:host-xs3", "web", "Running")
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3"))
    assert status == "fail" and "no_resident_vms: VMs are running, paused or suspended on xs3: web (Running)" in result["msg"]
    assert writes(pool_world.xapi) == []
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3", evacuate=True))
    assert status == "exit", result["msg"]
    assert [method for _url, method in writes(pool_world.xapi)] == [
        "host.disable", "Async.host.evacuate", "task.destroy", "Async.pool.eject", "task.destroy"]


def test_a_failed_evacuation_enables_the_host_again(pool_world, run_module):
    add_vm(pool_world.records, "OpaqueRef:host-xs3", "web", "Running")

    def cannot(host):
        raise pool_world.xapi.module.Failure(["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm-web"])
    pool_world.master.task("host.evacuate", cannot)
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3", evacuate=True))
    assert status == "fail" and "HOST_NOT_ENOUGH_FREE_MEMORY" in result["msg"]
    assert pool_world.records["host"]["OpaqueRef:host-xs3"]["enabled"] is True
    assert "Async.pool.eject" not in [method for _url, method in writes(pool_world.xapi)]


def test_evacuation_blockers_refuse_before_any_change(pool_world, run_module):
    add_vm(pool_world.records, "OpaqueRef:host-xs3", "web", "Running")
    pool_world.master.endpoint.handlers["host.get_vms_which_prevent_evacuation"] = lambda host: {
        "OpaqueRef:vm-web": ["VM_REQUIRES_SR", "OpaqueRef:vm-web", "OpaqueRef:sr-local-xs3"]}
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3", evacuate=True))
    assert status == "fail" and "evacuation_possible: these VMs cannot be migrated off xs3: web: VM_REQUIRES_SR" in result["msg"]
    assert writes(pool_world.xapi) == []


def test_eject_refuses_local_disks_then_allows_with_the_option(pool_world, run_module, capsys):
    add_vm(pool_world.records, "OpaqueRef:host-xs3", "db", "Halted", disk_sr="OpaqueRef:sr-local-xs3")
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3"))
    assert status == "fail"
    assert "these 1 virtual disk(s) would be lost: Local storage: 'db disk 0' (20.0 GiB, VM db)" in result["msg"]
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs3", allow_local_data_loss=True))
    assert status == "exit" and result["changed"]
    assert "no_local_data: ejecting xs3 erases" in capsys.readouterr().err


def test_eject_the_master_needs_a_successor(pool_world, run_module):
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs1"))
    assert status == "fail" and "not_master: xs1 is the pool master; set designate_new_master" in result["msg"]
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs1", designate_new_master="xs9"))
    assert status == "fail" and "designate_new_master 'xs9' names no host" in result["msg"]
    assert writes(pool_world.xapi) == []


def test_eject_the_master_after_handing_over(pool_world, run_module):
    status, result = run_module(xs_pool_member.main, absent(pool_world, host="xs1", designate_new_master="xs2"))
    assert status == "exit", result["msg"]
    assert result["actions"][0] == "hand the master role to xs2 (pool.designate_new_master)"
    assert [method for _url, method in writes(pool_world.xapi)] == [
        "pool.designate_new_master", "Async.pool.eject", "task.destroy"]
    assert sorted(host["name_label"] for host in pool_world.records["host"].values()) == ["xs2", "xs3"]
    assert pool_world.xapi.sessions == set()


def test_a_standalone_host_is_not_a_member(xapi, monkeypatch, run_module):
    world = World(xapi, monkeypatch)
    status, result = run_module(xs_pool_member.main, absent(world, host="xs1"))
    assert status == "exit" and not result["changed"] and "standalone host" in result["msg"]
