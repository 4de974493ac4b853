"""HA through XenAPI over HTTPS: pool.enable_ha with its checks in xapi's order, the HA fields
and VDIs, disable_ha, failures to tolerate and the failover plan, what HA refuses, and protected
VMs restarting after a host failure."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
import XenAPI

from conftest import failure, xapi_session

GIB = 1 << 30
NFS = {"name": "nfs", "type": "nfs", "address": "172.16.0.34",
       "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048}]}
SHARED = [{"name": "shared", "type": "nfs", "storage": "nfs", "path": "/srv/vhd"}]


def host(n: int, vms=(), **extra) -> dict:
    return {"name": f"h{n}", "address": f"127.0.0.{100 + n}", "password": "pw", "memory_gib": 32,
            "dom0_memory_gib": 4, "vms": list(vms), "editions_available": ["free", "standard"],
            "nics": [{"device": "eth0", "management": True},
                     {"device": "eth1", "mode": "static", "ip": f"172.16.0.{40 + n}", "netmask": "255.255.255.240"}],
            **extra}


def vm(name, gib, priority="", state="running") -> dict:
    return {"name": name, "power_state": state, "memory_gib": gib, "ha_restart_priority": priority,
            "disks": [{"sr": "shared", "size_gib": 10}]}


def pool_lab(shared=True, members=("h2", "h3")) -> dict:
    vms = (lambda *v: list(v)) if shared else (lambda *v: [])
    return {
        "name": "ha",
        "hosts": [host(1, vms(vm("p1", 16, "restart"), vm("u1", 2))),
                  host(2, vms(vm("p2", 16, "restart"), vm("b2", 2, "best-effort"), vm("u2", 2))),
                  host(3, license_server={"address": "10.0.0.5", "port": 27000})],
        "storage": [NFS],
        "pools": [{"name": "p", "master": "h1", "members": list(members), "shared_srs": SHARED if shared else [],
                   "default_sr": "shared" if shared else ""}],
    }


@pytest.fixture
def pool(start_lab):
    lab = start_lab(pool_lab())
    x = xapi_session(lab).xenapi
    return lab, x, x.pool.get_all()[0]


def named(x, cls, name):
    return getattr(x, cls).get_by_name_label(name)[0]


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def crash(lab, name) -> None:
    request = urllib.request.Request(lab.control_url + "/faults", method="POST",
                                     data=json.dumps({"kind": "crash", "host": name}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def test_enable_ha_creates_the_statefile_and_sets_the_fields(pool):
    _, x, p = pool
    shared = named(x, "SR", "shared")
    assert not x.pool.get_ha_enabled(p)
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    task = x.Async.pool.enable_ha([], {"timeout": "30"})
    record = wait_until(lambda: (r := x.task.get_record(task))["status"] != "pending" and r)
    assert record["status"] == "success" and float(record["progress"]) == 1.0
    pool_record = x.pool.get_record(p)
    assert pool_record["ha_enabled"] is True
    assert pool_record["ha_configuration"] == {"timeout": "30"}
    assert pool_record["ha_cluster_stack"] == "xhad"
    assert pool_record["ha_host_failures_to_tolerate"] == "1" and pool_record["ha_plan_exists_for"] == "1"
    assert pool_record["ha_overcommitted"] is False
    (statefile,) = pool_record["ha_statefiles"]
    vdi = x.VDI.get_record(statefile)
    assert (vdi["type"], vdi["SR"], vdi["name_label"], int(vdi["virtual_size"])) == \
        ("ha_statefile", shared, "Statefile for HA", 4096 + 64 * 4096)
    redo = [x.VDI.get_record(v) for v in x.SR.get_VDIs(shared) if x.VDI.get_type(v) == "redo_log"]
    assert [(r["name_label"], r["name_description"]) for r in redo] == [("Metadata for HA", "Used for master failover")]
    for h in x.host.get_all():
        assert x.host.get_ha_statefiles(h) == [statefile]
    warnings = [m for m in x.message.get_all_records().values() if m["name"] == "IP_CONFIGURED_PIF_CAN_UNPLUG"]
    assert len(warnings) == 1 and warnings[0]["cls"] == "Pool" and "eth1" in warnings[0]["body"]
    assert failure(x.pool.enable_ha, [], {}) == ["HA_IS_ENABLED"]


def test_enable_ha_needs_the_ha_licence_on_every_host(pool):
    _, x, p = pool
    h3 = named(x, "host", "h3")
    x.host.apply_edition(h3, "free", False)
    assert x.pool.get_restrictions(p)["enable_xha"] == "false"
    assert failure(x.pool.enable_ha, [], {}) == ["LICENCE_RESTRICTION", "HA"]
    x.host.apply_edition(h3, "standard", False)       # the lab's licence server for h3
    assert x.pool.get_restrictions(p)["enable_xha"] == "true"
    x.pool.enable_ha([], {})
    assert x.pool.get_ha_enabled(p)


def test_enable_ha_refusals_in_order(start_lab):
    lab = start_lab(pool_lab())
    x = xapi_session(lab).xenapi
    h2 = named(x, "host", "h2")
    eth1 = next(pif for pif in x.host.get_PIFs(h2) if x.PIF.get_device(pif) == "eth1")

    def unplug_required_pif(world):   # a storage NIC that must not be unplugged went down
        db = world.machine("h1").db
        db.set("PIF", eth1, disallow_unplug=True, currently_attached=False)
    lab.run(unplug_required_pif)
    x.host.disable(h2)
    x.host.evacuate(h2)
    x.host.shutdown(h2)
    wait_until(lambda: not x.host_metrics.get_live(x.host.get_metrics(h2)))
    assert failure(x.pool.enable_ha, [], {}) == ["REQUIRED_PIF_IS_UNPLUGGED", eth1]
    lab.run(lambda world: world.machine("h1").db.set("PIF", eth1, disallow_unplug=False))
    assert failure(x.pool.enable_ha, [], {}) == ["HOST_OFFLINE", h2]
    assert not x.pool.get_ha_enabled(x.pool.get_all()[0])


def test_statefile_sr_selection(start_lab):
    lab = start_lab(pool_lab(shared=False))
    x = xapi_session(lab).xenapi
    assert failure(x.pool.enable_ha, [], {}) == ["CANNOT_CREATE_STATE_FILE"]
    local = x.PBD.get_SR(next(pbd for pbd in x.host.get_PBDs(named(x, "host", "h1"))))
    assert failure(x.pool.enable_ha, [local], {}) == ["SR_HAS_NO_PBDS", local]


def test_a_local_sr_cannot_hold_the_statefile(start_lab):
    lab = start_lab({"name": "one", "hosts": [host(1)]})
    x = xapi_session(lab).xenapi
    local = x.PBD.get_SR(x.host.get_PBDs(named(x, "host", "h1"))[0])
    assert x.SR.get_type(local) == "ext"
    assert failure(x.pool.enable_ha, [local], {}) == ["SR_OPERATION_NOT_SUPPORTED", local]
    assert failure(x.pool.enable_ha, [], {}) == ["CANNOT_CREATE_STATE_FILE"]


def test_disable_ha(pool):
    _, x, p = pool
    assert failure(x.pool.disable_ha) == ["HA_NOT_ENABLED"]
    x.pool.enable_ha([named(x, "SR", "shared")], {})
    x.pool.disable_ha()
    record = x.pool.get_record(p)
    assert (record["ha_enabled"], record["ha_plan_exists_for"]) == (False, "0")
    assert failure(x.pool.disable_ha) == ["HA_NOT_ENABLED"]


def test_failures_to_tolerate_and_the_plan(pool):
    _, x, p = pool
    assert failure(x.pool.set_ha_host_failures_to_tolerate, p, "-1") == \
        ["INVALID_VALUE", "ha_host_failures_to_tolerate", "-1"]
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {})
    assert x.pool.ha_compute_max_host_failures_to_tolerate() == "1"
    assert x.pool.ha_failover_plan_exists("1") is True
    assert x.pool.ha_failover_plan_exists("2") is False
    # p1 and p2 (16 GiB each) cannot both restart on one host
    assert failure(x.pool.set_ha_host_failures_to_tolerate, p, "2") == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    assert x.pool.get_ha_host_failures_to_tolerate(p) == "1"
    x.pool.set_ha_allow_overcommit(p, True)
    x.pool.set_ha_host_failures_to_tolerate(p, "2")
    record = x.pool.get_record(p)
    assert (record["ha_plan_exists_for"], record["ha_overcommitted"]) == ("1", True)


def test_ha_refuses_what_would_break_the_plan(pool):
    _, x, p = pool
    h1, h2, h3 = (named(x, "host", n) for n in ("h1", "h2", "h3"))
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {})
    # without h3, a failure of h1 leaves p1 (16 GiB) nowhere to go: h2 has 10 GiB free
    assert failure(x.host.disable, h3) == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    assert failure(x.host.evacuate, h3) == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    assert x.host.get_enabled(h3)
    # h1's unprotected VM cannot be evacuated while HA is on
    u1 = named(x, "VM", "u1")
    assert x.host.get_vms_which_prevent_evacuation(h1) == {u1: ["HOST_EVACUATE_VM_NOT_HA_PROTECTED", u1]}
    assert failure(x.host.evacuate, h1) == ["HOST_EVACUATE_VM_NOT_HA_PROTECTED", u1]
    x.host.disable(h2)                      # h1's and h2's VMs still have h3
    x.pool.set_ha_allow_overcommit(p, True)
    x.host.disable(h3)


def test_a_failed_host_has_its_protected_vms_restarted(pool):
    lab, x, p = pool
    h2 = named(x, "host", "h2")
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {"timeout": "30"})
    p2, b2, u2 = named(x, "VM", "p2"), named(x, "VM", "b2"), named(x, "VM", "u2")
    crash(lab, "h2")
    assert not x.host_metrics.get_live(x.host.get_metrics(h2))
    wait_until(lambda: x.VM.get_power_state(p2) == "Running" and x.VM.get_resident_on(p2) != h2)
    wait_until(lambda: x.VM.get_resident_on(b2) not in (h2, "OpaqueRef:NULL"))
    assert x.VM.get_power_state(u2) == "Halted"
    assert x.host.get_resident_VMs(h2) == [v for v in x.host.get_resident_VMs(h2) if x.VM.get_is_control_domain(v)]
    failed = [m for m in x.message.get_all_records().values() if m["name"] == "HA_HOST_FAILED"]
    assert [m["obj_uuid"] for m in failed] == [x.host.get_uuid(h2)]


def test_a_failed_master_is_replaced_with_ha(pool):
    lab, x, p = pool
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {"timeout": "30"})
    h1 = named(x, "host", "h1")
    crash(lab, "h1")

    def new_master():
        for index in (1, 2):
            try:
                return index, xapi_session(lab, index)
            except XenAPI.Failure as e:
                assert e.details[0] == "HOST_IS_SLAVE"
            except OSError:
                pass
        return None
    index, session = wait_until(new_master)
    y = session.xenapi
    master = y.pool.get_master(y.pool.get_all()[0])
    assert master != h1 and y.host.get_address(master) == lab.info["hosts"][index]["address"]
    other = 3 - index
    member = xapi_session(lab, other, login=False)
    with pytest.raises(XenAPI.Failure) as info:
        member.xenapi.login_with_password("root", "pw", "1.0", "t")
    assert info.value.details == ["HOST_IS_SLAVE", lab.info["hosts"][index]["address"]]
    p1 = named(y, "VM", "p1")
    wait_until(lambda: y.VM.get_power_state(p1) == "Running" and y.VM.get_resident_on(p1) != h1)


def test_protecting_a_vm_needs_room_in_the_plan(pool):
    lab, x, p = pool
    u1, u2 = named(x, "VM", "u1"), named(x, "VM", "u2")
    assert failure(x.VM.set_ha_restart_priority, u1, "always") == ["INVALID_VALUE", "ha_restart_priority", "always"]
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {})

    def tighten(world):   # h2 keeps 1 GiB free, h3 17 GiB: just room for p1 or p2
        for name, total in (("h2", 25), ("h3", 21)):
            db = world.machine(name).db
            db.set("host_metrics", db.get("host", world.machine(name).host_ref)["metrics"], memory_total=total << 30)
    lab.run(tighten)
    assert x.pool.ha_failover_plan_exists("1") is True
    assert failure(x.VM.set_ha_restart_priority, u1, "restart") == ["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]
    assert (x.VM.get_ha_restart_priority(u1), x.VM.get_ha_always_run(u1)) == ("", False)
    x.VM.set_ha_restart_priority(u1, "best-effort")
    x.pool.set_ha_allow_overcommit(p, True)
    x.VM.set_ha_restart_priority(u2, "restart")
    assert (x.VM.get_ha_restart_priority(u2), x.VM.get_ha_always_run(u2)) == ("restart", True)
    x.VM.clean_shutdown(u2)                 # an explicit shutdown ends the protection
    assert x.VM.get_ha_always_run(u2) is False


def test_a_lab_pool_can_start_with_ha(start_lab):
    spec = pool_lab()
    spec["pools"][0]["ha"] = {"enabled": True, "host_failures_to_tolerate": 1, "timeout": 45}
    lab = start_lab(spec)
    x = xapi_session(lab).xenapi
    record = x.pool.get_record(x.pool.get_all()[0])
    assert (record["ha_enabled"], record["ha_host_failures_to_tolerate"], record["ha_plan_exists_for"]) == \
        (True, "1", "1")
    assert record["ha_configuration"] == {"timeout": "45"}
    assert x.VDI.get_SR(record["ha_statefiles"][0]) == named(x, "SR", "shared")
    p1 = named(x, "VM", "p1")
    assert x.VM.get_ha_always_run(p1) is True       # running and protected
    assert failure(x.pool.enable_ha, [], {}) == ["HA_IS_ENABLED"]


def test_an_error_for_vm_start_fails_the_ha_restart(pool):
    lab, x, p = pool
    h2 = named(x, "host", "h2")
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    x.pool.enable_ha([], {"timeout": "30"})
    p2, b2 = named(x, "VM", "p2"), named(x, "VM", "b2")
    request = urllib.request.Request(lab.control_url + "/faults", method="POST",
                                     data=json.dumps({"kind": "error", "method": "VM.start", "code": "INTERNAL_ERROR",
                                                      "params": ["xenopsd down"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()
    crash(lab, "h2")
    # HA restarts p2 first (protected): its VM.start fails, b2's (best-effort) goes through
    wait_until(lambda: x.VM.get_resident_on(b2) not in (h2, "OpaqueRef:NULL"))
    wait_until(lambda: [m for m in x.message.get_all_records().values() if m["name"] == "HA_PROTECTED_VM_RESTART_FAILED"])
    failed = [m["obj_uuid"] for m in x.message.get_all_records().values() if m["name"] == "HA_PROTECTED_VM_RESTART_FAILED"]
    assert failed == [x.VM.get_uuid(p2)]
    assert x.VM.get_power_state(p2) == "Halted"
