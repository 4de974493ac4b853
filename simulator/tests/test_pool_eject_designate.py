"""pool.eject, pool.designate_new_master, the pool operation locks, host.destroy and
pool.recover_slaves through XenAPI over HTTPS (BEHAVIOUR.md §2)."""
from __future__ import annotations

import asyncio
import copy
import time
import xmlrpc.client

import pytest
import XenAPI

from conftest import xapi_session

NOT_COMPARED = ("session", "task")
FAKE_TASK = "OpaqueRef:0f6e4c4e-0000-4000-8000-00000000beef"

POOL = {
    "name": "eject", "time_scale": 0.02, "host_defaults": {"password": "pw"},
    "hosts": [
        {"name": "xs1", "address": "127.0.7.1",
         "nics": [{"device": "eth0", "management": True},
                  {"device": "eth1", "mode": "static", "ip": "172.16.0.35", "netmask": "255.255.255.240"}]},
        {"name": "xs2", "address": "127.0.7.2",
         "nics": [{"device": "eth0", "management": True},
                  {"device": "eth1", "mode": "static", "ip": "172.16.0.36", "netmask": "255.255.255.240"}],
         "vms": [{"name": "local-vm", "power_state": "halted", "disks": [{"sr": "Local storage", "size_gib": 10}]},
                 {"name": "shared-vm", "power_state": "halted", "disks": [{"sr": "nfs", "size_gib": 10}]}]},
        {"name": "xs3", "address": "127.0.7.3",
         "nics": [{"device": "eth0", "management": True},
                  {"device": "eth1", "mode": "static", "ip": "172.16.0.37", "netmask": "255.255.255.240"}],
         "vms": [{"name": "running-vm", "power_state": "running", "disks": [{"sr": "nfs", "size_gib": 10}]}]},
    ],
    "storage": [{"name": "filer", "type": "nfs", "address": "172.16.0.34",
                 "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"]}]}],
    "pools": [{"name": "p", "master": "xs1", "members": ["xs2", "xs3"],
               "shared_srs": [{"name": "nfs", "storage": "filer", "path": "/srv/vhd"}], "default_sr": "nfs"}],
}


# -- helpers -------------------------------------------------------------------------------------
def index_of(lab, name):
    return [h["name"] for h in lab.info["hosts"]].index(name)


def session_on(lab, name):
    return xapi_session(lab, index_of(lab, name))


def error_of(call, *args):
    with pytest.raises(XenAPI.Failure) as failure:
        call(*args)
    return failure.value.details


def answer_of(lab, name):
    """What a login on the machine gets now: "ok", an error code list, or "refused"."""
    try:
        session = session_on(lab, name)
    except XenAPI.Failure as failure:
        return failure.details
    except (OSError, xmlrpc.client.ProtocolError):
        return "refused"
    session.xenapi.session.logout()
    return "ok"


def wait_answer(lab, name, expected, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (answer := answer_of(lab, name)) != expected:
        assert time.monotonic() < deadline, answer
        time.sleep(0.01)


def wait_api_down(lab, name):
    async def down(world):
        while world.machine(name).api_up:
            await asyncio.sleep(0.002)
    lab.run(down)


def snapshot(lab, name="xs1"):
    return lab.run(lambda world: {cls: copy.deepcopy(t) for cls, t in world.machine(name).db.tables.items()
                                  if cls not in NOT_COMPARED})


def tweak(lab, fn):
    """White-box: fn(db, ref_of) on the pool's database, ref_of(name) = that host's ref."""
    def run(world):
        db = world.machine("xs1").db
        return fn(db, lambda name: world.machine(name).host_ref)
    return lab.run(run)


def set_pool(lab, **fields):
    tweak(lab, lambda db, ref: db.set("pool", next(iter(db.all("pool"))), **fields))


def set_live(lab, name, live):
    tweak(lab, lambda db, ref: db.set("host_metrics", db.get("host", ref(name))["metrics"], live=live))


def stop_api(lab, name):
    async def stop(world):
        await world.machine(name).listener.stop()
    lab.run(stop)


def start_api(lab, name):
    async def start(world):
        await world.machine(name).listener.start()
    lab.run(start)


def host_named(session, name):
    return session.xenapi.host.get_by_name_label(name)[0]


def wait_task(session, task, timeout=10.0):
    deadline = time.monotonic() + timeout
    while session.xenapi.task.get_status(task) == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return session.xenapi.task.get_record(task)


@pytest.fixture
def pool(start_lab):
    return start_lab(POOL, time_scale=0.02)


# -- pool.eject ----------------------------------------------------------------------------------
def test_eject_refusals_change_nothing(pool):
    s = session_on(pool, "xs1")
    xs1, xs2, xs3 = (host_named(s, n) for n in ("xs1", "xs2", "xs3"))
    before = snapshot(pool)
    set_pool(pool, ha_enabled=True)
    # the target is asked first: the master refuses to eject itself before anything else
    assert error_of(s.xenapi.pool.eject, xs1) == ["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"]
    assert error_of(s.xenapi.pool.eject, xs2) == ["HA_IS_ENABLED"]
    set_pool(pool, ha_enabled=False)
    assert error_of(s.xenapi.pool.eject, xs3) == ["OPERATION_NOT_ALLOWED", "VM resident on host"]
    set_live(pool, "xs2", False)
    assert error_of(s.xenapi.pool.eject, xs2) == ["HOST_OFFLINE", xs2]
    set_live(pool, "xs2", True)
    stop_api(pool, "xs2")
    assert error_of(s.xenapi.pool.eject, xs2) == ["CANNOT_CONTACT_HOST", xs2]
    start_api(pool, "xs2")
    assert error_of(s.xenapi.pool.eject, "OpaqueRef:NULL") == ["HANDLE_INVALID", "host", "OpaqueRef:NULL"]
    assert snapshot(pool) == before


def test_eject_end_to_end(pool):
    s = session_on(pool, "xs1")
    xs2 = host_named(s, "xs2")
    record = s.xenapi.host.get_record(xs2)
    dom0 = [vm for vm in record["resident_VMs"] if s.xenapi.VM.get_is_control_domain(vm)]
    local_sr = next(s.xenapi.PBD.get_SR(p) for p in record["PBDs"]
                    if s.xenapi.SR.get_name_label(s.xenapi.PBD.get_SR(p)) == "Local storage")
    local_vdis = s.xenapi.SR.get_VDIs(local_sr)
    nfs = s.xenapi.SR.get_by_name_label("nfs")[0]
    local_vm = s.xenapi.VM.get_by_name_label("local-vm")[0]
    shared_vm = s.xenapi.VM.get_by_name_label("shared-vm")[0]
    shared_vbds = s.xenapi.VM.get_VBDs(shared_vm)
    pool_ref = s.xenapi.pool.get_all()[0]
    cpus = int(s.xenapi.pool.get_cpu_info(pool_ref)["cpu_count"])
    assert len(local_vdis) == 1 and len(s.xenapi.VM.get_VBDs(local_vm)) == 1

    s.xenapi.pool.eject(xs2)

    # the call returned once the record was gone, with what hangs off it
    assert s.xenapi.pool.get_current_operations(pool_ref) == {}
    assert sorted(s.xenapi.host.get_name_label(h) for h in s.xenapi.host.get_all()) == ["xs1", "xs3"]
    gone = [("host", xs2), ("host_metrics", record["metrics"]), ("SR", local_sr)] + \
        [("PIF", p) for p in record["PIFs"]] + [("PBD", p) for p in record["PBDs"]] + \
        [("host_cpu", c) for c in record["host_CPUs"]] + [("VM", vm) for vm in dom0] + [("VDI", v) for v in local_vdis]
    for cls, ref in gone:
        assert error_of(getattr(s.xenapi, cls).get_record, ref) == ["HANDLE_INVALID", cls, ref]
    assert s.xenapi.VM.get_VBDs(local_vm) == []            # its only disk was on the forgotten SR
    assert s.xenapi.VM.get_VBDs(shared_vm) == shared_vbds  # shared storage is untouched
    assert len(s.xenapi.SR.get_PBDs(nfs)) == 2
    assert int(s.xenapi.pool.get_cpu_info(pool_ref)["cpu_count"]) == cpus * 2 // 3

    # the host resets and comes back as a fresh standalone pool with the same uuid
    wait_api_down(pool, "xs2")
    assert answer_of(pool, "xs2") == "refused"
    wait_answer(pool, "xs2", "ok")
    alone = session_on(pool, "xs2")
    (me,) = alone.xenapi.host.get_all()
    assert alone.xenapi.host.get_uuid(me) == record["uuid"]
    (own_pool,) = alone.xenapi.pool.get_all()
    assert alone.xenapi.pool.get_master(own_pool) == me
    assert alone.xenapi.pool.get_tls_verification_enabled(own_pool) is False
    assert alone.xenapi.host.get_tls_verification_enabled(me) is False
    (local,) = alone.xenapi.SR.get_by_name_label("Local storage")
    assert alone.xenapi.SR.get_VDIs(local) == []
    assert [alone.xenapi.VM.get_is_control_domain(vm) for vm in alone.xenapi.VM.get_all()] == [True]


# -- pool.designate_new_master -------------------------------------------------------------------
def test_designate_and_back(pool):
    s = session_on(pool, "xs1")
    xs1, xs2 = host_named(s, "xs1"), host_named(s, "xs2")
    xs2_uuid = s.xenapi.host.get_uuid(xs2)
    s.xenapi.pool.designate_new_master(xs2)

    # both endpoints restart; then xs2 is the master and the others follow it
    wait_api_down(pool, "xs1")
    assert answer_of(pool, "xs1") == answer_of(pool, "xs2") == "refused"
    wait_answer(pool, "xs2", "ok")
    # the old master's own restart may end a moment after the new master's
    wait_answer(pool, "xs1", ["HOST_IS_SLAVE", "127.0.7.2"])
    assert answer_of(pool, "xs3") == ["HOST_IS_SLAVE", "127.0.7.2"]
    s2 = session_on(pool, "xs2")
    pool_ref = s2.xenapi.pool.get_all()[0]
    assert s2.xenapi.pool.get_master(pool_ref) == xs2
    assert all(s2.xenapi.host_metrics.get_live(s2.xenapi.host.get_metrics(h)) for h in s2.xenapi.host.get_all())
    transitions = [m for m in s2.xenapi.message.get_all_records().values() if m["name"] == "POOL_MASTER_TRANSITION"]
    assert [(m["obj_uuid"], int(m["priority"])) for m in transitions] == [(xs2_uuid, 4)]
    # the old master now refuses the session it had served
    assert error_of(s.xenapi.host.get_all) == ["HOST_IS_SLAVE", "127.0.7.2"]

    s2.xenapi.pool.designate_new_master(xs1)
    wait_api_down(pool, "xs2")
    wait_answer(pool, "xs1", "ok")
    wait_answer(pool, "xs2", ["HOST_IS_SLAVE", "127.0.7.1"])
    s1 = session_on(pool, "xs1")
    assert s1.xenapi.pool.get_master(s1.xenapi.pool.get_all()[0]) == xs1


def test_designate_the_master_is_a_no_op(pool):
    s = session_on(pool, "xs1")
    before = snapshot(pool)
    s.xenapi.pool.designate_new_master(host_named(s, "xs1"))
    assert snapshot(pool) == before
    assert answer_of(pool, "xs1") == "ok"


def test_designate_refusals(pool):
    s = session_on(pool, "xs1")
    xs3 = host_named(s, "xs3")
    before = snapshot(pool)
    set_live(pool, "xs3", False)
    set_pool(pool, ha_enabled=True)
    assert error_of(s.xenapi.pool.designate_new_master, xs3) == ["HOST_OFFLINE", xs3]
    set_live(pool, "xs3", True)
    assert error_of(s.xenapi.pool.designate_new_master, xs3) == ["HA_IS_ENABLED"]
    set_pool(pool, ha_enabled=False)
    assert snapshot(pool) == before


# -- pool operation locks ------------------------------------------------------------------------
def test_blocking_operations_refuse_each_other(pool):
    s = session_on(pool, "xs1")
    xs2 = host_named(s, "xs2")
    set_pool(pool, current_operations={FAKE_TASK: "designate_new_master"})
    assert error_of(s.xenapi.pool.designate_new_master, xs2) == ["DESIGNATE_NEW_MASTER_IN_PROGRESS"]
    set_pool(pool, current_operations={FAKE_TASK: "ha_enable"})
    assert error_of(s.xenapi.pool.designate_new_master, xs2) == ["HA_ENABLE_IN_PROGRESS"]


def test_eject_waits_for_a_running_pool_operation(pool):
    s = session_on(pool, "xs1")
    xs2 = host_named(s, "xs2")
    pool_ref = s.xenapi.pool.get_all()[0]
    set_pool(pool, current_operations={FAKE_TASK: "designate_new_master"})
    task = s.xenapi.Async.pool.eject(xs2)
    time.sleep(0.2)
    assert s.xenapi.task.get_status(task) == "pending"
    assert s.xenapi.task.get_allowed_operations(task) == ["cancel"]
    assert s.xenapi.pool.get_current_operations(pool_ref) == {FAKE_TASK: "designate_new_master"}
    set_pool(pool, current_operations={})   # the other operation ends: the eject goes ahead at once
    assert wait_task(s, task, timeout=2)["status"] == "success"
    assert s.xenapi.pool.get_current_operations(pool_ref) == {}
    assert "xs2" not in [s.xenapi.host.get_name_label(h) for h in s.xenapi.host.get_all()]


def test_waiting_operation_can_be_cancelled(pool):
    s = session_on(pool, "xs1")
    set_pool(pool, current_operations={FAKE_TASK: "eject"})
    task = s.xenapi.Async.pool.designate_new_master(host_named(s, "xs2"))
    time.sleep(0.1)
    s.xenapi.task.cancel(task)
    assert wait_task(s, task, timeout=2)["status"] == "cancelled"
    assert s.xenapi.pool.get_master(s.xenapi.pool.get_all()[0]) == host_named(s, "xs1")


def test_waiting_gives_up_after_two_hours(start_lab):
    lab = start_lab(POOL, time_scale=0.0002)   # two hours in 1.44 s
    s = session_on(lab, "xs1")
    pool_ref = s.xenapi.pool.get_all()[0]
    set_pool(lab, current_operations={FAKE_TASK: "eject"})
    started = time.monotonic()
    error = error_of(s.xenapi.pool.designate_new_master, host_named(s, "xs2"))
    assert error == ["OTHER_OPERATION_IN_PROGRESS", "pool", pool_ref, "eject", FAKE_TASK]
    assert time.monotonic() - started >= 2 * 3600 * 0.0002


def test_join_waits_for_an_eject_on_the_master(start_lab):
    lab = start_lab({"name": "j", "host_defaults": {"password": "pw"},
                     "hosts": [{"name": "xs1", "address": "127.0.8.1"}, {"name": "new", "address": "127.0.8.2"}]})
    set_pool(lab, current_operations={FAKE_TASK: "eject"})
    joiner = session_on(lab, "new")
    task = joiner.xenapi.Async.pool.join("127.0.8.1", "root", "pw")
    time.sleep(0.1)
    assert joiner.xenapi.task.get_status(task) == "pending"
    set_pool(lab, current_operations={})
    assert wait_task(joiner, task, timeout=2)["status"] == "success"


# -- host.destroy and pool.recover_slaves --------------------------------------------------------
def test_host_destroy(pool):
    s = session_on(pool, "xs1")
    xs1, xs2, xs3 = (host_named(s, n) for n in ("xs1", "xs2", "xs3"))
    assert error_of(s.xenapi.host.destroy, xs2) == ["HOST_IS_LIVE", xs2]
    assert error_of(s.xenapi.host.destroy, xs1) == ["HOST_IS_LIVE", xs1]
    stop_api(pool, "xs3")   # xs3 dies with its VM on it
    set_live(pool, "xs3", False)
    set_pool(pool, ha_enabled=True)
    assert error_of(s.xenapi.host.destroy, xs3) == ["HA_IS_ENABLED"]
    set_pool(pool, ha_enabled=False)
    assert error_of(s.xenapi.host.destroy, xs3) == ["HOST_HAS_RESIDENT_VMS", xs3]
    stop_api(pool, "xs2")
    set_live(pool, "xs2", False)
    pifs = s.xenapi.host.get_PIFs(xs2)
    s.xenapi.host.destroy(xs2)
    assert sorted(s.xenapi.host.get_name_label(h) for h in s.xenapi.host.get_all()) == ["xs1", "xs3"]
    assert error_of(s.xenapi.PIF.get_record, pifs[0]) == ["HANDLE_INVALID", "PIF", pifs[0]]


def test_recover_slaves(pool):
    s = session_on(pool, "xs1")
    stop_api(pool, "xs3")
    assert s.xenapi.pool.recover_slaves() == [host_named(s, "xs2")]
