"""VM power operations through XenAPI over HTTPS: start, start_on, clean/hard shutdown, suspend,
resume, resume_on, pool_migrate, with xapi's checks and error parameters."""
from __future__ import annotations

import time

import pytest

from conftest import failure, xapi_session

GIB = 1 << 30
NFS = {"name": "nfs", "type": "nfs", "address": "172.16.0.34",
       "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048}]}


def host(n: int, vms=(), **extra) -> dict:
    return {"name": f"h{n}", "address": f"127.0.0.{70 + n}", "password": "pw", "memory_gib": 32,
            "dom0_memory_gib": 4, "vms": list(vms),
            "nics": [{"device": "eth0", "management": True},
                     {"device": "eth1", "mode": "static", "ip": f"172.16.0.{40 + n}", "netmask": "255.255.255.240"}],
            **extra}


def vm(name, state, gib=4, sr="shared", **extra) -> dict:
    return {"name": name, "power_state": state, "memory_gib": gib, "disks": [{"sr": sr, "size_gib": 10}], **extra}


LAB = {
    "name": "vm-power",
    "hosts": [
        host(1, [vm("web", "running"),
                 vm("cold", "halted", 2), vm("local", "halted", 2, sr="Local storage"),
                 vm("sleepy", "suspended", 2), vm("gpu", "running", 2, passthrough="pci"),
                 vm("vgpu", "running", 2, passthrough="vgpu"), vm("stuck", "running", 2, current_operations=True)]),
        host(2, [vm("db", "running", 4)]),
        host(3),
    ],
    "storage": [NFS],
    "pools": [{"name": "p", "master": "h1", "members": ["h2", "h3"],
               "shared_srs": [{"name": "shared", "type": "nfs", "storage": "nfs", "path": "/srv/vhd"}],
               "default_sr": "shared"}],
}


@pytest.fixture
def pool(start_lab):
    lab = start_lab(LAB)
    session = xapi_session(lab)
    yield lab, session.xenapi
    session.xenapi.session.logout()


def named(x, cls, name):
    return getattr(x, cls).get_by_name_label(name)[0]


def wait_task(x, task, timeout=20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = x.task.get_record(task)
        if record["status"] != "pending":
            return record
        time.sleep(0.02)
    raise AssertionError("task still pending")


def test_start_and_clean_shutdown_change_state_metrics_and_disks(pool):
    _, x = pool
    cold = named(x, "VM", "cold")
    x.VM.add_to_other_config(cold, "owner", "me")
    before = x.VM.get_record(cold)
    assert before["power_state"] == "Halted" and before["resident_on"] == "OpaqueRef:NULL"
    x.VM.start(cold, False, False)
    record = x.VM.get_record(cold)
    assert record["power_state"] == "Running"
    assert record["resident_on"] in x.host.get_all()
    assert int(record["domid"]) > 0
    assert cold in x.host.get_resident_VMs(record["resident_on"])
    assert int(x.VM_metrics.get_memory_actual(record["metrics"])) == 2 * GIB
    assert all(x.VBD.get_currently_attached(b) for b in record["VBDs"])
    assert record["other_config"] == before["other_config"] == {"owner": "me"}
    started = [m for m in x.message.get_all_records().values()
               if m["name"] == "VM_STARTED" and m["obj_uuid"] == record["uuid"]]
    assert len(started) == 1 and started[0]["cls"] == "VM" and int(started[0]["priority"]) == 5

    x.VM.clean_shutdown(cold)
    record = x.VM.get_record(cold)
    assert (record["power_state"], record["resident_on"], int(record["domid"])) == ("Halted", "OpaqueRef:NULL", -1)
    assert int(x.VM_metrics.get_memory_actual(record["metrics"])) == 0
    assert not any(x.VBD.get_currently_attached(b) for b in record["VBDs"])
    assert record["other_config"] == {"owner": "me"}


def test_start_paused_then_hard_shutdown(pool):
    _, x = pool
    cold = named(x, "VM", "cold")
    x.VM.start(cold, True, False)
    assert x.VM.get_power_state(cold) == "Paused"
    assert failure(x.VM.clean_shutdown, cold) == ["VM_BAD_POWER_STATE", cold, "running", "paused"]
    x.VM.hard_shutdown(cold)
    assert x.VM.get_power_state(cold) == "Halted"


def test_bad_power_state_carries_the_allowed_and_actual_states_in_lower_case(pool):
    _, x = pool
    web, cold, sleepy = named(x, "VM", "web"), named(x, "VM", "cold"), named(x, "VM", "sleepy")
    h2 = named(x, "host", "h2")
    assert failure(x.VM.start, web, False, False) == ["VM_BAD_POWER_STATE", web, "halted", "running"]
    assert failure(x.VM.start_on, sleepy, h2, False, False) == ["VM_BAD_POWER_STATE", sleepy, "halted", "suspended"]
    assert failure(x.VM.clean_shutdown, cold) == ["VM_BAD_POWER_STATE", cold, "running", "halted"]
    assert failure(x.VM.hard_shutdown, cold) == ["VM_BAD_POWER_STATE", cold, "paused, suspended, running", "halted"]
    assert failure(x.VM.suspend, cold) == ["VM_BAD_POWER_STATE", cold, "running", "halted"]
    assert failure(x.VM.resume, web, False, False) == ["VM_BAD_POWER_STATE", web, "suspended", "running"]
    assert failure(x.VM.resume_on, cold, h2, False, False) == ["VM_BAD_POWER_STATE", cold, "suspended", "halted"]
    assert failure(x.VM.pool_migrate, cold, h2, {}) == ["VM_BAD_POWER_STATE", cold, "running", "halted"]


def test_a_disabled_host_refuses_new_vms(pool):
    _, x = pool
    cold, h2 = named(x, "VM", "cold"), named(x, "host", "h2")
    x.host.disable(h2)
    assert failure(x.VM.start_on, cold, h2, False, False) == ["HOST_DISABLED", h2]
    web = named(x, "VM", "web")
    assert failure(x.VM.pool_migrate, web, h2, {"live": "true"}) == ["HOST_DISABLED", h2]
    x.VM.start(cold, False, False)   # VM.start picks another host
    assert x.VM.get_resident_on(cold) != h2
    x.host.enable(h2)
    x.VM.hard_shutdown(cold)
    x.VM.start_on(cold, h2, False, False)
    assert x.VM.get_resident_on(cold) == h2


def test_free_memory_is_host_memory_minus_resident_vms(pool):
    _, x = pool
    h2, web = named(x, "host", "h2"), named(x, "VM", "web")
    free = int(x.host.compute_free_memory(h2))
    assert free == (32 - 4 - 4) * GIB        # host memory - dom0 - the running VM "db"
    x.VM.pool_migrate(web, h2, {"live": "true"})
    assert int(x.host.compute_free_memory(h2)) == free - 4 * GIB


def test_memory_refusal_on_start_on_and_migrate(pool):
    lab, x = pool
    h3 = named(x, "host", "h3")
    web = named(x, "VM", "web")

    def shrink(world):   # the lab cannot make a host this full; h3 keeps only 3 GiB free
        db = world.machine("h3").db
        metrics = db.get("host", world.machine("h3").host_ref)["metrics"]
        db.set("host_metrics", metrics, memory_total=7 * GIB)
    lab.run(shrink)
    assert int(x.host.compute_free_memory(h3)) == 3 * GIB
    assert failure(x.VM.pool_migrate, web, h3, {}) == ["HOST_NOT_ENOUGH_FREE_MEMORY", str(4 * GIB), str(3 * GIB)]
    cold = named(x, "VM", "cold")           # 2 GiB: fits
    x.VM.start_on(cold, h3, False, False)
    sleepy = named(x, "VM", "sleepy")      # 2 GiB, but only 1 GiB is left now
    assert failure(x.VM.resume_on, sleepy, h3, False, False) == \
        ["HOST_NOT_ENOUGH_FREE_MEMORY", str(2 * GIB), str(1 * GIB)]
    assert x.VM.get_power_state(sleepy) == "Suspended"


def test_a_host_without_the_vms_storage_is_refused(pool):
    _, x = pool
    local, h1, h2 = named(x, "VM", "local"), named(x, "host", "h1"), named(x, "host", "h2")
    local_sr = x.VBD.get_record(x.VM.get_VBDs(local)[0])["VDI"]
    sr = x.VDI.get_SR(local_sr)
    assert not x.SR.get_shared(sr)
    assert failure(x.VM.start_on, local, h2, False, False) == ["VM_REQUIRES_SR", local, sr]
    x.VM.start(local, False, False)        # only h1 sees the SR
    assert x.VM.get_resident_on(local) == h1
    assert failure(x.VM.pool_migrate, local, h2, {}) == ["VM_REQUIRES_SR", local, sr]


def test_suspend_makes_a_suspend_image_and_resume_removes_it(pool):
    _, x = pool
    web, h2 = named(x, "VM", "web"), named(x, "host", "h2")
    shared = named(x, "SR", "shared")
    x.VM.suspend(web)
    record = x.VM.get_record(web)
    assert (record["power_state"], record["resident_on"], int(record["domid"])) == ("Suspended", "OpaqueRef:NULL", -1)
    image = record["suspend_VDI"]
    vdi = x.VDI.get_record(image)
    assert (vdi["type"], vdi["SR"], int(vdi["virtual_size"])) == ("suspend", shared, 4 * GIB)
    assert image in x.SR.get_VDIs(shared)
    x.VM.resume_on(web, h2, False, False)
    record = x.VM.get_record(web)
    assert (record["power_state"], record["resident_on"], record["suspend_VDI"]) == ("Running", h2, "OpaqueRef:NULL")
    assert image not in x.SR.get_VDIs(shared)
    assert failure(x.VDI.get_record, image) == ["HANDLE_INVALID", "VDI", image]
    names = [m["name"] for m in x.message.get_all_records().values() if m["obj_uuid"] == record["uuid"]]
    assert "VM_SUSPENDED" in names and "VM_RESUMED" in names


def test_resume_goes_back_to_the_affinity_host(pool):
    _, x = pool
    sleepy, h1 = named(x, "VM", "sleepy"), named(x, "host", "h1")
    assert x.VM.get_affinity(sleepy) == h1
    x.VM.resume(sleepy, False, False)
    assert (x.VM.get_power_state(sleepy), x.VM.get_resident_on(sleepy)) == ("Running", h1)


def test_async_pool_migrate_holds_memory_on_the_target_while_it_copies(pool):
    _, x = pool
    db_vm, h2, h3 = named(x, "VM", "db"), named(x, "host", "h2"), named(x, "host", "h3")
    source_free, target_free = int(x.host.compute_free_memory(h2)), int(x.host.compute_free_memory(h3))
    task = x.Async.VM.pool_migrate(db_vm, h3, {"live": "true"})
    assert x.task.get_status(task) == "pending"
    assert "pool_migrate" in x.VM.get_current_operations(db_vm).values()
    # while the memory copies, the target holds it and the source still uses it
    assert int(x.host.compute_free_memory(h3)) == target_free - 4 * GIB
    assert int(x.host.compute_free_memory(h2)) == source_free
    assert wait_task(x, task)["status"] == "success"
    assert x.VM.get_resident_on(db_vm) == h3 and db_vm in x.host.get_resident_VMs(h3)
    assert int(x.VM.get_domid(db_vm)) > 0     # a new domain on the target
    assert int(x.host.compute_free_memory(h2)) == source_free + 4 * GIB
    assert int(x.host.compute_free_memory(h3)) == target_free - 4 * GIB
    assert x.VM.get_current_operations(db_vm) == {}
    moved = [m for m in x.message.get_all_records().values() if m["name"] == "VM_MIGRATED"]
    assert len(moved) == 1 and "to host 'h3'" in moved[0]["body"]


def test_passthrough_vms_cannot_migrate_or_suspend(pool):
    _, x = pool
    gpu, vgpu, h2 = named(x, "VM", "gpu"), named(x, "VM", "vgpu"), named(x, "host", "h2")
    assert failure(x.VM.pool_migrate, gpu, h2, {}) == ["VM_HAS_PCI_ATTACHED", gpu]
    assert failure(x.VM.suspend, gpu) == ["VM_HAS_PCI_ATTACHED", gpu]
    assert failure(x.VM.pool_migrate, vgpu, h2, {}) == ["VM_HAS_VGPU", vgpu]
    assert x.VM.get_resident_on(gpu) == x.VM.get_resident_on(vgpu) == named(x, "host", "h1")


def test_control_domain_and_templates_are_refused(pool):
    _, x = pool
    h1 = named(x, "host", "h1")
    dom0 = next(v for v in x.host.get_resident_VMs(h1) if x.VM.get_is_control_domain(v))
    assert failure(x.VM.clean_shutdown, dom0) == \
        ["OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain"]
    cold = named(x, "VM", "cold")
    x.VM.set_is_a_template(cold, True)
    assert failure(x.VM.start, cold, False, False) == ["VM_IS_TEMPLATE", cold, "start"]


def test_an_operation_in_progress_makes_the_call_wait_until_cancelled(pool):
    _, x = pool
    stuck = named(x, "VM", "stuck")
    assert list(x.VM.get_current_operations(stuck).values()) == ["clean_shutdown"]
    task = x.Async.VM.clean_shutdown(stuck)
    time.sleep(0.3)
    assert x.task.get_status(task) == "pending"       # xapi retries OTHER_OPERATION_IN_PROGRESS
    assert x.task.get_allowed_operations(task) == ["cancel"]
    x.task.cancel(task)
    assert wait_task(x, task)["status"] == "cancelled"
    assert x.VM.get_power_state(stuck) == "Running"
    x.VM.hard_shutdown(stuck)                          # hard_shutdown runs regardless
    assert x.VM.get_power_state(stuck) == "Halted"


def test_allowed_operations_follow_the_power_state(pool):
    _, x = pool
    cold, web = named(x, "VM", "cold"), named(x, "VM", "web")
    assert {"start", "start_on"} <= set(x.VM.get_allowed_operations(cold))
    assert "clean_shutdown" not in x.VM.get_allowed_operations(cold)
    assert {"clean_shutdown", "hard_shutdown", "suspend", "pool_migrate"} <= set(x.VM.get_allowed_operations(web))
    x.VM.clean_shutdown(web)
    assert "start" in x.VM.get_allowed_operations(web)


def test_reboot_pause_and_unpause(pool):
    _, x = pool
    web = named(x, "VM", "web")
    host = x.VM.get_resident_on(web)
    x.VM.clean_reboot(web)
    assert (x.VM.get_power_state(web), x.VM.get_resident_on(web)) == ("Running", host)
    x.VM.pause(web)
    assert x.VM.get_power_state(web) == "Paused"
    assert failure(x.VM.pause, web) == ["VM_BAD_POWER_STATE", web, "running", "paused"]
    assert failure(x.VM.clean_reboot, web) == ["VM_BAD_POWER_STATE", web, "running", "paused"]
    x.VM.hard_reboot(web)                  # a paused VM can be rebooted by force
    assert x.VM.get_power_state(web) == "Running"
    x.VM.pause(web)
    x.VM.unpause(web)
    assert x.VM.get_power_state(web) == "Running"
    names = [m["name"] for m in x.message.get_all_records().values() if m["obj_uuid"] == x.VM.get_uuid(web)]
    assert sorted(names) == ["VM_PAUSED", "VM_PAUSED", "VM_REBOOTED", "VM_REBOOTED", "VM_UNPAUSED"]
