"""Hosts and VMs over time: memory accounting, the checks xapi makes before a VM operation,
evacuation plans, VMs starting/stopping/moving, a host going down and coming back, crashes,
messages, and HA's failover planning and restarts.  The API handlers (api/host.py, api/vm.py,
api/ha.py) stay thin and call these.

Sources (xen-api): ocaml/xapi/xapi_vm_lifecycle.ml (operation checks), xapi_vm_helpers.ml
(assert_can_boot_here, choose_host_for_vm, with_vm_operation), xapi_host.ml
(compute_evacuation_plan_no_wlb, evacuate, disable/enable, shutdown_and_reboot_common),
xapi_host_helpers.ml (valid_operations, consider_enabling_host), vm_evacuation.ml
(ensure_no_vms), message_forwarding.ml (VM and Host), xapi_ha_vm_failover.ml (planner).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from .db import Database, new_ref
from .errors import XapiError
from .factory import create_vdi, the_pool
from .model import NULL_REF, DateTime
from .world import Machine, World

GIB = 1 << 30
RETRY_LIMIT = 2 * 3600      # s: how long xapi retries OTHER_OPERATION_IN_PROGRESS
RETRY_DELAY = 5             # s: between retries (xapi backs off randomly 1-20 s; fixed here)
WAIT_FOR_LIVE_ATTEMPTS = 120   # power-on.py's waitForXapi: 120 polls of host_metrics.live ...
WAIT_FOR_LIVE_POLL = 5         # ... every 5 s
DEFAULT_HA_TIMEOUT = 60        # s: pool.enable_ha without configuration:timeout
DEFAULT_BATCH_SIZE = 10        # xapi.conf evacuation-batch-size


# -- per-machine state xapi keeps outside the database -------------------------------------------
@dataclass
class HostState:
    booting: bool = False                 # xapi is up but its start-up is not complete
    user_disabled: bool = False           # host.disable by a user: held in xapi's memory only
    auto_enable: bool = True              # localdb host_auto_enable (host.disable auto_enable=false)
    disabled_until_reboot: bool = False   # localdb, set by prepare_for_poweroff
    reservations: dict = field(default_factory=dict)   # VM ref -> bytes held for an operation in flight
    next_domid: int = 0


def host_state(world: World, machine: Machine) -> HostState:
    states = world.__dict__.setdefault("host_states", {})
    return states.setdefault(machine.name, HostState())


async def sleep_seconds(world: World, seconds: float) -> None:
    """A wait that is one of xapi's own constants (not a lab timing), scaled like the timings."""
    world.simulated_seconds += seconds
    await asyncio.sleep(seconds * world.time_scale)


# -- simple queries -------------------------------------------------------------------------------
def pool_record(db: Database) -> dict:
    return db.get("pool", the_pool(db))


def is_live(db: Database, host: str) -> bool:
    metrics = db.get("host", host)["metrics"]
    return db.exists("host_metrics", metrics) and db.get("host_metrics", metrics)["live"]


def set_live(world: World, db: Database, host: str, live: bool) -> None:
    db.set("host_metrics", db.get("host", host)["metrics"], live=live, last_updated=DateTime.at(world.now()))


def machine_of(world: World, db: Database, host: str) -> Machine | None:
    return world.machine_of(db, host)


def user_vms(db: Database, host: str) -> list[str]:
    """The VMs resident on `host`, control domain excepted, in the host's order."""
    return [v for v in db.get("host", host)["resident_VMs"] if not db.get("VM", v)["is_control_domain"]]


def vm_memory(vm: dict) -> int:
    """What a VM needs and uses: its dynamic maximum (the labs' VMs do not balloon)."""
    return vm["memory_dynamic_max"] or vm["memory_static_max"]


def host_free_memory(world: World, db: Database, host: str, ignoring: str | None = None) -> int:
    """Host memory minus every resident VM (dom0 included) and the memory held for operations
    in flight; `ignoring` leaves out one VM, as Memory_check does for the VM being placed."""
    total = db.get("host_metrics", db.get("host", host)["metrics"])["memory_total"]
    used = sum(vm_memory(db.get("VM", v)) for v in db.get("host", host)["resident_VMs"] if v != ignoring)
    machine = machine_of(world, db, host)
    held = sum(b for v, b in host_state(world, machine).reservations.items() if v != ignoring) if machine else 0
    return total - used - held


def software_key(db: Database, host: str) -> tuple:
    version = db.get("host", host)["software_version"].get("platform_version", "0")
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def xapi_at_least(machine: Machine, major: int, minor: int) -> bool:
    parts = str(machine.spec["software"]["xapi"]).split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


# -- messages (xapi_message.ml) ---------------------------------------------------------------------
def create_message(db: Database, name: str, priority: int, cls: str, obj_uuid: str, body: str,
                   when: float | None = None) -> str:
    """A message as Xapi_message.create writes it; `when` is the creating host's clock."""
    return db.create("message", name=name, priority=priority, cls=cls, obj_uuid=obj_uuid,
                     timestamp=DateTime.at(time.time() if when is None else when), body=body)


def master_clock(world: World, db: Database) -> float:
    """Now on the pool master's clock (the lab's clock offset), where xapi stamps messages."""
    return world.now() + world.master_of(db).spec.get("clock_offset", 0)


def vm_message(world: World, db: Database, vm: str, name: str, body: str) -> None:
    """VM_STARTED, VM_SHUTDOWN, ... (priority 5) as message_forwarding's create_vm_message."""
    record = db.get("VM", vm)
    create_message(db, name, 5, "VM", record["uuid"],
                   f"VM '{record['name_label']}' (uuid: {record['uuid']}) {body}", master_clock(world, db))


def host_words(db: Database, host: str) -> str:
    record = db.get("host", host)
    return f"{record['name_label']} (uuid: {record['uuid']})"


# -- host operations (xapi_host_helpers.valid_operations) -------------------------------------------
HOST_OPERATIONS = ("provision", "evacuate", "shutdown", "reboot", "power_on", "vm_start", "vm_resume",
                   "vm_migrate", "apply_updates", "enable")
_CREATING = ("provision", "vm_resume", "vm_migrate")
_REMOVING = ("evacuate", "reboot", "shutdown")


def host_operation_errors(db: Database, host: str) -> dict:
    """operation -> [code, params...] or None, first reason wins, in xapi's order."""
    record = db.get("host", host)
    current = list(record["current_operations"].items())
    errors: dict = {op: None for op in HOST_OPERATIONS}

    def refuse(error, ops):
        for op in ops:
            if errors[op] is None:
                errors[op] = error
    creating = next(((r, o) for r, o in current if o in _CREATING), None)
    removing = next(((r, o) for r, o in current if o in _REMOVING), None)
    for op in HOST_OPERATIONS:
        if op == "power_on":
            continue
        busy = removing if op in _CREATING else creating if op in _REMOVING else None
        if busy:
            refuse(["OTHER_OPERATION_IN_PROGRESS", "host", host, busy[1], busy[0]], [op])
    for running, blocked in (("reboot", ["shutdown", "apply_updates"]), ("shutdown", ["reboot", "apply_updates"]),
                             ("apply_updates", ["reboot", "shutdown", "enable"])):
        found = next((r for r, o in current if o == running), None)
        if found:
            refuse(["OTHER_OPERATION_IN_PROGRESS", "host", host, running, found], blocked)
    if record["enabled"]:
        refuse(["HOST_NOT_DISABLED"], ["reboot", "shutdown", "apply_updates"])
    if is_live(db, host):
        refuse(["HOST_IS_LIVE", host], ["power_on"])
    if record["power_on_mode"] == "":
        refuse(["HOST_POWER_ON_MODE_DISABLED"], ["power_on"])
    return errors


def update_host_allowed_operations(db: Database, host: str) -> None:
    if db.exists("host", host):
        errors = host_operation_errors(db, host)
        allowed = [op for op in HOST_OPERATIONS if errors[op] is None]
        if allowed != db.get("host", host)["allowed_operations"]:
            db.set("host", host, allowed_operations=allowed)


async def retry_while_busy(world: World, db: Database, check, call=None) -> None:
    """Helpers.retry_with_global_lock: `check()` raising OTHER_OPERATION_IN_PROGRESS is retried
    (the caller waits, cancellably) for up to two hours; any other error is raised at once."""
    deadline = time.monotonic() + RETRY_LIMIT * world.time_scale
    while True:
        try:
            check()
            return
        except XapiError as e:
            if e.code != "OTHER_OPERATION_IN_PROGRESS" or time.monotonic() >= deadline:
                raise
        if call is not None:
            call.set_cancellable()
            call.check_cancelled()
        await db.wait_for_change(RETRY_DELAY * world.time_scale)


@asynccontextmanager
async def host_operation(world: World, db: Database, host: str, op: str, call=None):
    """with_host_operation: waits while another operation makes `op` invalid, then holds `op` in
    host.current_operations while the body runs."""
    def check():
        error = host_operation_errors(db, host)[op]
        if error:
            raise XapiError(*error)
    await retry_while_busy(world, db, check, call)
    key = call.task if call is not None and call.task else new_ref()
    db.set("host", host, current_operations={**db.get("host", host)["current_operations"], key: op})
    update_host_allowed_operations(db, host)
    try:
        yield key
    finally:
        if db.exists("host", host):
            current = db.get("host", host)["current_operations"]
            db.set("host", host, current_operations={k: v for k, v in current.items() if k != key})
            update_host_allowed_operations(db, host)


def assert_can_forward(world: World, db: Database, host: str, receiver: Machine) -> None:
    """do_op_on: an operation forwarded to another host needs it live (HOST_OFFLINE) and its
    xapi answering (CANNOT_CONTACT_HOST); the receiving host serves it itself."""
    from .api.pool import assert_can_forward as forwardable
    if host != receiver.host_ref:
        forwardable(world, db, host)


# -- VM operation checks (xapi_vm_lifecycle.ml) ------------------------------------------------------
VM_OPERATIONS = ("start", "start_on", "clean_shutdown", "hard_shutdown", "clean_reboot", "hard_reboot",
                 "suspend", "resume", "resume_on", "pool_migrate", "pause", "unpause")
ALLOWED_POWER_STATES = {
    "start": ["Halted"], "start_on": ["Halted"], "resume": ["Suspended"], "resume_on": ["Suspended"],
    "unpause": ["Paused"], "clean_shutdown": ["Running"], "clean_reboot": ["Running"], "pause": ["Running"],
    "pool_migrate": ["Running"], "suspend": ["Running"], "hard_reboot": ["Paused", "Running"],
    "hard_shutdown": ["Paused", "Suspended", "Running"],
}
# may run while other operations are in progress: hard_shutdown cancels them
_CONCURRENT = {"hard_shutdown", "hard_reboot"}


def vm_operation_error(db: Database, vm: str, op: str) -> list | None:
    """get_operation_error ~strict:true: [code, params...] or None, in xapi's order."""
    record = db.get("VM", vm)
    if op in record["blocked_operations"]:
        return ["OPERATION_BLOCKED", vm, record["blocked_operations"][op]]
    allowed = ALLOWED_POWER_STATES[op]
    if record["power_state"] not in allowed:
        return ["VM_BAD_POWER_STATE", vm, ", ".join(s.lower() for s in allowed), record["power_state"].lower()]
    current = list(record["current_operations"].items())
    if current and op not in _CONCURRENT:
        if len(current) == 1:
            return ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, current[0][1], current[0][0]]
        return ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "{" + ",".join(o for _, o in current) + "}",
                "{" + ",".join(r for r, _ in current) + "}"]
    if record["is_a_template"] and not record["is_a_snapshot"]:
        return ["VM_IS_TEMPLATE", vm, op]
    if record["is_control_domain"] and op not in ("start", "start_on"):
        return ["OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain"]
    if op in ("suspend", "pool_migrate") and record["attached_PCIs"]:
        return ["VM_HAS_PCI_ATTACHED", vm]
    if op in ("suspend", "pool_migrate") and record["VGPUs"]:
        return ["VM_HAS_VGPU", vm]
    return None


def assert_vm_operation(db: Database, vm: str, op: str) -> None:
    error = vm_operation_error(db, vm, op)
    if error:
        raise XapiError(*error)


def update_vm_allowed_operations(db: Database, vm: str) -> None:
    if db.exists("VM", vm):
        allowed = [op for op in VM_OPERATIONS if vm_operation_error(db, vm, op) is None]
        if allowed != db.get("VM", vm)["allowed_operations"]:
            db.set("VM", vm, allowed_operations=allowed)


@asynccontextmanager
async def vm_operation(world: World, db: Database, vm: str, op: str, call=None):
    """with_vm_operation: checks (retrying while another operation runs), then holds `op` in
    VM.current_operations while the body runs."""
    await retry_while_busy(world, db, lambda: assert_vm_operation(db, vm, op), call)
    key = call.task if call is not None and call.task else new_ref()
    db.set("VM", vm, current_operations={**db.get("VM", vm)["current_operations"], key: op})
    update_vm_allowed_operations(db, vm)
    try:
        yield key
    finally:
        if db.exists("VM", vm):
            current = db.get("VM", vm)["current_operations"]
            db.set("VM", vm, current_operations={k: v for k, v in current.items() if k != key})
            update_vm_allowed_operations(db, vm)


# -- can a VM run on a host (assert_can_boot_here) -------------------------------------------------
def vm_srs(db: Database, vm: str) -> list[str]:
    """The SRs a VM's disks (and its suspend image, when suspended) live on."""
    record = db.get("VM", vm)
    vdis = [db.get("VBD", b)["VDI"] for b in record["VBDs"] if not db.get("VBD", b)["empty"]]
    if record["power_state"] == "Suspended" and record["suspend_VDI"] != NULL_REF:
        vdis.append(record["suspend_VDI"])
    srs = []
    for vdi in vdis:
        if db.exists("VDI", vdi) and db.get("VDI", vdi)["SR"] not in srs:
            srs.append(db.get("VDI", vdi)["SR"])
    return srs


def host_srs(db: Database, host: str) -> set[str]:
    """SRs with a plugged PBD on the host."""
    return {db.get("PBD", p)["SR"] for p in db.get("host", host)["PBDs"] if db.get("PBD", p)["currently_attached"]}


def assert_can_boot_here(world: World, db: Database, vm: str, host: str, *, memory: bool = True) -> None:
    record = db.get("VM", vm)
    if not is_live(db, host):
        raise XapiError("HOST_NOT_LIVE")
    local_live_migration = record["power_state"] == "Running" and record["resident_on"] == host
    if not record["is_control_domain"] and not local_live_migration and not db.get("host", host)["enabled"]:
        raise XapiError("HOST_DISABLED", host)
    visible = host_srs(db, host)
    missing = [sr for sr in vm_srs(db, vm) if sr not in visible]
    if missing:
        raise XapiError("VM_REQUIRES_SR", vm, missing[0])
    if memory:
        needed = vm_memory(record)
        available = host_free_memory(world, db, host, ignoring=vm)
        if available < needed:
            raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", needed, available)
    pcpus = int(db.get("host", host)["cpu_info"].get("cpu_count", "0") or 0)
    if pcpus and record["VCPUs_max"] > pcpus:
        raise XapiError("HOST_NOT_ENOUGH_PCPUS", record["VCPUs_max"], pcpus)


def boot_error(world: World, db: Database, vm: str, host: str, *, memory: bool = True) -> list | None:
    try:
        assert_can_boot_here(world, db, vm, host, memory=memory)
    except XapiError as e:
        return e.description
    return None


def choose_host(world: World, db: Database, vm: str) -> str:
    """choose_host_for_vm for VM.start/VM.resume: the VM's affinity host if it can take it,
    else the host with the most free memory; when no host has the memory, the best host that
    passes every other check (its start then fails on memory); NO_HOSTS_AVAILABLE if none."""
    record = db.get("VM", vm)
    hosts = list(db.all("host"))
    affinity = record["affinity"]
    if affinity in hosts and boot_error(world, db, vm, affinity) is None:
        return affinity
    by_memory = sorted(hosts, key=lambda h: -host_free_memory(world, db, h))
    for with_memory in (True, False):
        for host in by_memory:
            if boot_error(world, db, vm, host, memory=with_memory) is None:
                return host
    raise XapiError("NO_HOSTS_AVAILABLE")


# -- VMs starting, stopping, moving -------------------------------------------------------------------
def _new_domid(world: World, db: Database, host: str) -> int:
    machine = machine_of(world, db, host)
    state = host_state(world, machine)
    if state.next_domid == 0:
        state.next_domid = 1 + max([db.get("VM", v)["domid"] for v in db.get("host", host)["resident_VMs"]] + [0])
    domid, state.next_domid = state.next_domid, state.next_domid + 1
    return domid


@asynccontextmanager
async def reserved(world: World, db: Database, vm: str, host: str):
    """Memory held on `host` for a VM arriving there (Memory_check's reservation)."""
    state = host_state(world, machine_of(world, db, host))
    state.reservations[vm] = vm_memory(db.get("VM", vm))
    try:
        yield
    finally:
        state.reservations.pop(vm, None)


def _set_running(world: World, db: Database, vm: str, host: str, paused: bool = False) -> None:
    record = db.get("VM", vm)
    db.set("VM", vm, power_state="Paused" if paused else "Running", resident_on=host,
           scheduled_to_be_resident_on=NULL_REF, domid=_new_domid(world, db, host))
    if db.exists("VM_metrics", record["metrics"]):
        db.set("VM_metrics", record["metrics"], memory_actual=vm_memory(record), last_updated=DateTime.at(world.now()))
    for vbd in record["VBDs"]:
        db.set("VBD", vbd, currently_attached=True)


def _set_halted(world: World, db: Database, vm: str, state: str = "Halted") -> None:
    record = db.get("VM", vm)
    db.set("VM", vm, power_state=state, resident_on=NULL_REF, scheduled_to_be_resident_on=NULL_REF, domid=-1)
    if db.exists("VM_metrics", record["metrics"]):
        db.set("VM_metrics", record["metrics"], memory_actual=0, last_updated=DateTime.at(world.now()))
    for vbd in record["VBDs"]:
        db.set("VBD", vbd, currently_attached=False)


async def start_vm(world: World, db: Database, vm: str, host: str, paused: bool = False) -> None:
    """The VM boots on `host` (checks already made): memory held while it starts."""
    db.set("VM", vm, scheduled_to_be_resident_on=host)
    async with reserved(world, db, vm, host):
        await world.sleep("vm_start")
        record = db.get("VM", vm)
        if db.exists("VM_metrics", record["metrics"]):
            db.set("VM_metrics", record["metrics"], start_time=DateTime.at(world.now()))
        if record["ha_restart_priority"] == "restart":
            db.set("VM", vm, ha_always_run=True)
        _set_running(world, db, vm, host, paused)
    vm_message(world, db, vm, "VM_STARTED", f"started on host: {host_words(db, host)}")


async def shutdown_vm(world: World, db: Database, vm: str, *, clean: bool = True) -> None:
    """Clean (the guest shuts down) or hard (the domain is destroyed) shutdown; an explicit
    shutdown ends HA protection (ha_always_run=false)."""
    await world.sleep("vm_shutdown", 1.0 if clean else 0.2)
    db.set("VM", vm, ha_always_run=False)
    if db.get("VM", vm)["power_state"] == "Suspended":
        destroy_suspend_image(db, vm)
    _set_halted(world, db, vm)
    vm_message(world, db, vm, "VM_SHUTDOWN", "shutdown" if clean else "shutdown forcibly")


async def migrate_vm(world: World, db: Database, vm: str, target: str) -> None:
    """Live migration: the target holds the memory while the pages copy (time proportional to
    the VM's memory), then the VM runs there and the source's memory is free."""
    record = db.get("VM", vm)
    source = record["resident_on"]
    db.set("VM", vm, scheduled_to_be_resident_on=target)
    async with reserved(world, db, vm, target):
        await world.sleep("migrate_per_gib", vm_memory(record) / GIB)
        db.set("VM", vm, resident_on=target, scheduled_to_be_resident_on=NULL_REF, domid=_new_domid(world, db, target))
    vm_message(world, db, vm, "VM_MIGRATED", f"migrated from host '{db.get('host', source)['name_label']}' "
               f"(uuid: {db.get('host', source)['uuid']}) to host '{db.get('host', target)['name_label']}' "
               f"(uuid: {db.get('host', target)['uuid']})")


async def reboot_vm(world: World, db: Database, vm: str, *, clean: bool = True) -> None:
    """The guest restarts in a new domain on the same host."""
    host = db.get("VM", vm)["resident_on"]
    await world.sleep("vm_shutdown", 1.0 if clean else 0.2)
    await world.sleep("vm_start")
    _set_running(world, db, vm, host)
    vm_message(world, db, vm, "VM_REBOOTED", "rebooted cleanly" if clean else "rebooted forcibly")


def pause_vm(world: World, db: Database, vm: str, paused: bool) -> None:
    db.set("VM", vm, power_state="Paused" if paused else "Running")
    vm_message(world, db, vm, "VM_PAUSED" if paused else "VM_UNPAUSED", "paused" if paused else "unpaused")


def suspend_sr(db: Database, vm: str) -> str:
    """choose_suspend_sr: the VM's suspend_SR, the pool's suspend_image_SR, the host's, whichever
    is first usable from the VM's host."""
    record = db.get("VM", vm)
    host = record["resident_on"]
    visible = host_srs(db, host)
    for sr in (record["suspend_SR"], pool_record(db)["suspend_image_SR"], db.get("host", host)["suspend_image_sr"]):
        if sr in visible:
            return sr
    raise XapiError("VM_NO_SUSPEND_SR", vm)


async def suspend_vm(world: World, db: Database, vm: str) -> None:
    record = db.get("VM", vm)
    sr = suspend_sr(db, vm)
    await world.sleep("vm_suspend_per_gib", vm_memory(record) / GIB)
    image = create_vdi(db, sr, f"Suspend image for {record['name_label']}", vm_memory(record), "suspend")
    _set_halted(world, db, vm, "Suspended")
    db.set("VM", vm, suspend_VDI=image)
    vm_message(world, db, vm, "VM_SUSPENDED", "suspended")


def destroy_suspend_image(db: Database, vm: str) -> None:
    image = db.get("VM", vm)["suspend_VDI"]
    db.set("VM", vm, suspend_VDI=NULL_REF)
    if db.exists("VDI", image):
        vdi = db.get("VDI", image)
        if db.exists("SR", vdi["SR"]):
            sr = db.get("SR", vdi["SR"])
            db.set("SR", vdi["SR"], physical_utilisation=max(0, sr["physical_utilisation"] - vdi["physical_utilisation"]),
                   virtual_allocation=max(0, sr["virtual_allocation"] - vdi["virtual_size"]))
        db.delete("VDI", image)


async def resume_vm(world: World, db: Database, vm: str, host: str, paused: bool = False) -> None:
    record = db.get("VM", vm)
    db.set("VM", vm, scheduled_to_be_resident_on=host)
    async with reserved(world, db, vm, host):
        await world.sleep("vm_suspend_per_gib", vm_memory(record) / GIB)
        destroy_suspend_image(db, vm)
        _set_running(world, db, vm, host, paused)
    vm_message(world, db, vm, "VM_RESUMED", f"resumed on host: {host_words(db, host)}")


# -- evacuation (compute_evacuation_plan_no_wlb, evacuate) ------------------------------------------
def is_protected(vm: dict) -> bool:
    """Helpers.vm_should_always_run: HA restarts the VM if it fails."""
    return vm["ha_always_run"] and vm["ha_restart_priority"] == "restart"


def evacuation_plan(world: World, db: Database, host: str, *, ignore_ha: bool = False) -> dict:
    """VM -> ("migrate", target host) or ("error", [code, params...]) for every VM resident on
    `host`, computed before anything moves; later reasons replace earlier ones as in xapi."""
    targets = [h for h, r in db.all("host").items()
               if h != host and r["enabled"] and software_key(db, h) >= software_key(db, host)]
    vms = user_vms(db, host)
    plans: dict = {}
    if not targets:
        return {vm: ("error", ["NO_HOSTS_AVAILABLE", vm]) for vm in vms}
    if pool_record(db)["ha_enabled"] and not ignore_ha:
        protected = [vm for vm in vms if is_protected(db.get("VM", vm))]
    else:
        protected = list(vms)
    for vm in vms:
        if vm not in protected:
            plans[vm] = ("error", ["HOST_EVACUATE_VM_NOT_HA_PROTECTED", vm])
    migratable = []
    for vm in protected:
        error = next((e for e in (boot_error(world, db, vm, t, memory=False) for t in targets) if e), None)
        if error:
            plans[vm] = ("error", error)
        else:
            migratable.append(vm)
    for vm in vms:
        error = vm_operation_error(db, vm, "pool_migrate")
        if error:
            plans[vm] = ("error", error)
    placement = binpack(world, db, targets, migratable)
    for vm in migratable:
        if vm not in placement:
            plans[vm] = ("error", ["HOST_NOT_ENOUGH_FREE_MEMORY", vm])
    for vm, target in placement.items():
        error = boot_error(world, db, vm, target, memory=False)
        if error:
            plans[vm] = ("error", error)
        elif vm not in plans:
            plans[vm] = ("migrate", target)
    return plans


def binpack(world: World, db: Database, hosts: list[str], vms: list[str],
            free: dict | None = None) -> dict:
    """Biggest VM first, onto the host with the most free memory that still fits it."""
    free = dict(free) if free is not None else {h: host_free_memory(world, db, h) for h in hosts}
    placement = {}
    for vm in sorted(vms, key=lambda v: -vm_memory(db.get("VM", v))):
        need = vm_memory(db.get("VM", vm))
        fits = [h for h in hosts if free[h] >= need]
        if fits:
            target = max(fits, key=lambda h: free[h])
            free[target] -= need
            placement[vm] = target
    return placement


def internal_call(world: World, db: Database, method: str) -> None:
    """A call xapi makes through its own API on the master (Client.Async.VM.pool_migrate in an
    evacuation, Async.VM.start in an HA restart): an `error` fault armed for that method fires
    for it as for a client's call.  It is not in the call log, which records clients' calls."""
    world.faults.before_call(world.master_of(db), method)


def _retrieve_exception(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()   # marks it retrieved: asyncio does not warn about it


def plan_errors(plans: dict) -> dict:
    return {vm: detail for vm, (kind, detail) in plans.items() if kind == "error"}


async def evacuate(world: World, db: Database, host: str, *, network: str = NULL_REF, batch_size: int = 0,
                   call=None) -> None:
    """host.evacuate: every resident VM migrates (in batches) or, if any cannot, nothing does."""
    plans = evacuation_plan(world, db, host)
    for vm, (kind, detail) in plans.items():
        if kind == "error":
            raise XapiError(*detail)
    if network != NULL_REF:
        for target in sorted({t for _, t in plans.values()}):
            assert_migration_network(db, network, target)
    batch = batch_size if batch_size > 0 else DEFAULT_BATCH_SIZE
    todo = list(plans.items())
    done = 0

    async def move(vm, target):
        try:
            async with vm_operation(world, db, vm, "pool_migrate"):
                await migrate_vm(world, db, vm, target)
        except XapiError as e:
            if e.code != "VM_BAD_POWER_STATE":   # a VM that stopped meanwhile is fine
                raise

    running: set = set()
    while todo or running:
        while todo and len(running) < batch:
            vm, (_, target) = todo.pop(0)
            # xapi starts each migration with Client.Async.VM.pool_migrate: a failing call stops
            # the evacuation
            internal_call(world, db, "VM.pool_migrate")
            # should the evacuation stop, a migration in flight carries on (xapi only destroys
            # the task handles); its failure then shows only in the VM's state
            task = world.spawn(move(vm, target))
            task.add_done_callback(_retrieve_exception)
            running.add(task)
        finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(finished, key=lambda t: t.exception() is not None):
            task.result()
            done += 1
            if call is not None:
                call.progress(done / len(plans))
    left = len(user_vms(db, host))
    if left:
        raise XapiError("INTERNAL_ERROR", f"evacuate: {left} VMs are still resident on {host}")


def assert_migration_network(db: Database, network: str, host: str) -> None:
    """assert_valid_ip_configuration_on_network_for_host."""
    db.get("network", network)
    pif = next((p for p in db.get("network", network)["PIFs"] if db.get("PIF", p)["host"] == host), None)
    if pif is None:
        raise XapiError("PIF_NOT_PRESENT", host, network)
    if not db.get("PIF", pif)["currently_attached"]:
        raise XapiError("REQUIRED_PIF_IS_UNPLUGGED", pif)
    if not db.get("PIF", pif)["IP"]:
        raise XapiError("INTERFACE_HAS_NO_IP", pif)


# -- a host going down and coming back ----------------------------------------------------------------
async def ensure_no_vms(world: World, db: Database, host: str) -> None:
    """Vm_evacuation.ensure_no_vms (prepare_for_poweroff): VMs that prevent evacuation are shut
    down (clean, then hard), the others are evacuated, any still running are shut down."""
    async def shutdown(vms):
        for vm in vms:
            if not db.exists("VM", vm) or db.get("VM", vm)["resident_on"] != host:
                continue
            clean = vm_operation_error(db, vm, "clean_shutdown") is None
            op = "clean_shutdown" if clean else "hard_shutdown"
            if vm_operation_error(db, vm, op) is None:
                async with vm_operation(world, db, vm, op):
                    await shutdown_vm(world, db, vm, clean=clean)
    try:
        prevent = plan_errors(evacuation_plan(world, db, host))
        await asyncio.gather(*(shutdown([vm]) for vm in prevent))
        await evacuate(world, db, host)
    except XapiError:
        pass
    await asyncio.gather(*(shutdown([vm]) for vm in user_vms(db, host)))


def _unplug_pbds(db: Database, host: str) -> None:
    for pbd in db.get("host", host)["PBDs"]:
        if db.get("PBD", pbd)["currently_attached"]:
            db.set("PBD", pbd, currently_attached=False)


def forget_sessions(world: World, db: Database) -> None:
    """The master's xapi restarted: sessions and tasks are not persisted (PersistNothing)."""
    from .api.session import destroy_session
    for ref in list(db.all("session")):
        destroy_session(world, db, ref)
    for ref in list(db.all("task")):
        db.delete("task", ref)


async def stop_listener(machine: Machine) -> None:
    machine.api_up = False
    if machine.listener is not None:
        await machine.listener.stop()


def take_host_fault(world: World, machine: Machine, kind: str) -> dict | None:
    """A one-shot host fault (reboot_hang, slow_reboot, slow_restart) is used up by the reboot
    or restart it affects."""
    fault = world.faults.host_fault(kind, machine)
    if fault is not None:
        world.faults.armed.remove(fault)
    return fault


def restart_factor(world: World, machine: Machine | None) -> float:
    """How much longer this xapi restart takes: a slow_restart fault's factor (used up), else 1."""
    fault = take_host_fault(world, machine, "slow_restart") if machine is not None else None
    return fault["factor"] if fault else 1.0


async def power_cycle(world: World, machine: Machine, *, reboot: bool) -> None:
    """After host.reboot/host.shutdown returned: 10 s later prepare_for_poweroff empties the
    host and unplugs its storage, the host leaves (live=false, API down), then a reboot brings
    it back while a shutdown leaves it off."""
    db, host = machine.db, machine.host_ref
    await world.sleep("shutdown_delay")
    if not db.exists("host", host) or not machine.powered:   # crashed meanwhile
        return
    await ensure_no_vms(world, db, host)
    _unplug_pbds(db, host)
    state = host_state(world, machine)
    state.disabled_until_reboot = True
    set_live(world, db, host, False)
    await stop_listener(machine)
    if not reboot:
        machine.powered = False
        return
    if take_host_fault(world, machine, "reboot_hang"):
        machine.powered = False     # it never comes back: only a power cycle (host.power_on) helps
        return
    slow = take_host_fault(world, machine, "slow_reboot")
    await world.sleep("reboot", slow["factor"] if slow else 1.0)
    await start_host(world, machine)


async def boot(world: World, machine: Machine) -> None:
    """Powered on: the machine boots, then its xapi starts."""
    machine.powered = True
    await world.sleep("boot")
    await start_host(world, machine)


async def start_host(world: World, machine: Machine, *, system_boot: bool = True) -> None:
    """xapi starts on the machine (after a boot or a toolstack restart): a new
    agent_start_time, the API listening again, the host live but disabled while its start-up
    plugs storage, then enabled unless it should stay disabled (consider_enabling_host)."""
    from . import membership
    from .storage import plug_pbd
    db, host = machine.db, machine.host_ref
    if db is None or not db.exists("host", host) or not machine.powered:   # crashed meanwhile
        return
    state = host_state(world, machine)
    state.booting, state.user_disabled, state.reservations = True, False, {}
    if machine.is_master:
        forget_sessions(world, db)
    db.set("host", host, current_operations={})
    if system_boot:   # the updates that needed a reboot have had it
        db.set("host", host, updates_requiring_reboot=[])
    if machine.is_master:
        db.set("host", host, enabled=False)
        membership.agent_started(world, machine)
        set_live(world, db, host, True)
    else:
        membership.slave_hello(world, machine)   # Pool.hello: live, still disabled; clock skew checked
    update_host_allowed_operations(db, host)
    if machine.listener is not None and machine.powered:
        await machine.listener.start()
    machine.api_up = True
    if db.get("host", host)["PBDs"]:
        await world.sleep("pbd_plug")
    if not machine.powered or not db.exists("host", host):   # crashed while starting
        state.booting = False
        return
    if machine.is_master:
        for pbd in list(db.get("host", host)["PBDs"]):
            plug_pbd(world, db, pbd, raise_error=False)
    else:   # a member also gets PBDs for new shared SRs and the master's bonds and VLANs
        membership.slave_started(world, machine, enable=False)
    consider_enabling(world, machine, system_boot=system_boot)
    state.booting = False


def consider_enabling(world: World, machine: Machine, *, system_boot: bool) -> None:
    """consider_enabling_host: enable unless the user disabled it (in memory), it is disabled
    indefinitely (auto_enable=false), until reboot, or has pending mandatory guidances."""
    db, host = machine.db, machine.host_ref
    state = host_state(world, machine)
    if not db.exists("host", host) or state.user_disabled or db.get("host", host)["pending_guidances"]:
        return
    if system_boot:
        state.disabled_until_reboot = False
    elif state.disabled_until_reboot:
        return
    if state.auto_enable:
        db.set("host", host, enabled=True)
        update_host_allowed_operations(db, host)
        if pool_record(db)["ha_enabled"]:
            update_ha_pool_status(world, db)


async def restart_agent(world: World, machine: Machine) -> None:
    """host.restart_agent: xapi restarts 1 s after the call returns; the in-memory state (the
    user's disable) is lost."""
    await sleep_seconds(world, 1)
    await stop_listener(machine)
    await world.sleep("api_restart", restart_factor(world, machine))
    await start_host(world, machine, system_boot=False)


# -- a crash ------------------------------------------------------------------------------------------
def crash(world: World, machine: Machine) -> None:
    """The machine dies now: not live, API gone.  Without HA its VMs are gone (Halted); with HA
    they are restarted elsewhere after the HA timeout, and a failed master is replaced."""
    db, host = machine.db, machine.host_ref
    machine.powered = False
    machine.api_up = False
    if machine.listener is not None:
        world.spawn(machine.listener.stop())
    if db is None or not db.exists("host", host):
        return
    set_live(world, db, host, False)
    state = host_state(world, machine)
    state.booting, state.reservations = False, {}
    victims = user_vms(db, host)
    if pool_record(db)["ha_enabled"]:
        world.spawn(ha_host_failed(world, db, machine, victims))
        return
    for vm in victims:
        _set_halted(world, db, vm)
        update_vm_allowed_operations(db, vm)
    update_host_allowed_operations(db, host)


def install(world: World) -> None:
    """Called once the lab's world is built: host faults, HA state of formed pools, the
    allowed_operations xapi computes at start, HA protection of running VMs, then the lab
    file's faults armed (as POST /faults would)."""
    world.fault_hooks.append(_fault_hook)
    for db in world.databases():
        for vm, record in db.all("VM").items():
            if record["power_state"] == "Running" and record["ha_restart_priority"] == "restart":
                db.set("VM", vm, ha_always_run=True)
            if not record["is_control_domain"]:
                update_vm_allowed_operations(db, vm)
        for host in db.all("host"):
            machine = machine_of(world, db, host)
            if machine is not None:
                db.set("host", host, editions=list(machine.spec.get("editions_available", [])))
            update_host_allowed_operations(db, host)
    for spec in world.lab.get("pools", []):
        if spec.get("ha", {}).get("enabled"):
            master = world.machine(spec["master"])
            enable_ha_now(world, master.db, [sr for sr, r in master.db.all("SR").items()
                                             if r["name_label"] in spec["ha"]["heartbeat_srs"]],
                          {"timeout": str(int(spec["ha"]["timeout"]))}, spec["ha"]["host_failures_to_tolerate"])
    if world.lab.get("faults"):
        from .labfile import LabError
        problems = world.faults.arm(world.lab["faults"], world)
        if problems:
            raise LabError([p.replace("faults[", "lab faults[", 1) for p in problems])


def _fault_hook(world: World, fault: dict) -> None:
    if fault["kind"] == "crash":
        machine = world.machine(fault["host"])
        if fault in world.faults.armed:
            world.faults.armed.remove(fault)
        crash(world, machine)


# -- HA: the failover planner and restarts (xapi_ha_vm_failover.ml) ------------------------------------
def ha_timeout(db: Database) -> float:
    pool = pool_record(db)
    value = pool["ha_configuration"].get("timeout") or pool["other_config"].get("default_ha_timeout")
    try:
        return float(value) if value else DEFAULT_HA_TIMEOUT
    except ValueError:
        return DEFAULT_HA_TIMEOUT


def ha_plan_exists(world: World, db: Database, failures: int, *, disabled: tuple = (),
                   also_protected: tuple = ()) -> bool:
    """Can every protected VM (and those in `also_protected`) be restarted if any `failures`
    live hosts fail?  Hosts in `disabled` cannot take VMs (but their VMs still need a plan).
    Every combination is tried for small pools; large ones take the hosts holding the most
    protected memory."""
    hosts = [h for h in db.all("host") if is_live(db, h)]
    protected = {h: [v for v in user_vms(db, h) if is_protected(db.get("VM", v)) or v in also_protected]
                 for h in hosts}
    if failures <= 0:
        return True
    if failures >= len(hosts):
        return not any(protected.values())
    free = {h: host_free_memory(world, db, h) for h in hosts}
    if sum(1 for _ in itertools.combinations(range(len(hosts)), failures)) <= 2000:
        scenarios = itertools.combinations(hosts, failures)
    else:
        heaviest = sorted(hosts, key=lambda h: -sum(vm_memory(db.get("VM", v)) for v in protected[h]))
        scenarios = [tuple(heaviest[:failures])]
    for failed in scenarios:
        survivors = [h for h in hosts if h not in failed and h not in disabled and db.get("host", h)["enabled"]]
        victims = [v for h in failed for v in protected[h]]
        if len(binpack(world, db, survivors, victims, {h: free[h] for h in survivors})) < len(victims):
            return False
    return True


def update_ha_pool_status(world: World, db: Database) -> None:
    """update_pool_status: ha_plan_exists_for and ha_overcommitted from the current plan."""
    pool = the_pool(db)
    record = db.get("pool", pool)
    wanted = record["ha_host_failures_to_tolerate"]
    if ha_plan_exists(world, db, wanted):
        db.set("pool", pool, ha_overcommitted=False, ha_plan_exists_for=wanted)
    else:
        planned = max((n for n in range(wanted) if ha_plan_exists(world, db, n)), default=0)
        db.set("pool", pool, ha_overcommitted=True, ha_plan_exists_for=planned)


def assert_ha_plan_preserved(world: World, db: Database, *, disable: str | None = None,
                             failures: int | None = None, protect: str | None = None) -> None:
    """assert_configuration_change_preserves_ha_plan: refuse a change (a host disabled, another
    number of failures, one more protected VM) that breaks a plan that exists now (HA on,
    overcommit not allowed)."""
    record = pool_record(db)
    if not record["ha_enabled"] or record["ha_allow_overcommit"]:
        return
    current = record["ha_plan_exists_for"]
    if not ha_plan_exists(world, db, current):
        return
    n = current if failures is None else failures
    if not ha_plan_exists(world, db, n, disabled=(disable,) if disable else (),
                          also_protected=(protect,) if protect else ()):
        raise XapiError("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN")


def enable_ha_now(world: World, db: Database, statefile_srs: list[str], configuration: dict,
                  failures: int) -> None:
    """HA as a lab pool starts with it: statefile and metadata VDIs, the pool's HA fields."""
    from .api.ha import create_ha_vdis, mark_ha_enabled
    if not statefile_srs:
        return
    statefile = create_ha_vdis(db, statefile_srs[0])
    db.set("pool", the_pool(db), ha_host_failures_to_tolerate=failures)
    mark_ha_enabled(world, db, statefile, configuration)


async def ha_host_failed(world: World, db: Database, machine: Machine, victims: list[str]) -> None:
    """HA noticed a host failure after its timeout: the host is fenced, a failed master is
    replaced by a live host, protected VMs restart (best-effort ones where memory allows)."""
    await sleep_seconds(world, ha_timeout(db))
    host = machine.host_ref
    if not db.exists("host", host) or is_live(db, host):
        return
    if machine.is_master:
        elect_new_master(world, db, machine)
    create_message(db, "HA_HOST_FAILED", 3, "Host", db.get("host", host)["uuid"],
                   f"Server '{db.get('host', host)['name_label']}' has failed", master_clock(world, db))
    restart = []
    for vm in victims:
        if not db.exists("VM", vm) or db.get("VM", vm)["resident_on"] != host:
            continue
        record = db.get("VM", vm)
        _set_halted(world, db, vm)
        if is_protected(record) or record["ha_restart_priority"] == "best-effort":
            restart.append(vm)
        update_vm_allowed_operations(db, vm)
    update_host_allowed_operations(db, host)
    restart.sort(key=lambda v: (db.get("VM", v)["ha_restart_priority"] != "restart", db.get("VM", v)["order"]))
    for vm in restart:
        try:
            internal_call(world, db, "VM.start")   # the HA restart's Client.Async.VM.start
            target = choose_host(world, db, vm)
            assert_can_boot_here(world, db, vm, target)
            async with vm_operation(world, db, vm, "start"):
                await start_vm(world, db, vm, target)
        except XapiError:
            if db.exists("VM", vm) and db.get("VM", vm)["ha_restart_priority"] == "restart":
                record = db.get("VM", vm)
                create_message(db, "HA_PROTECTED_VM_RESTART_FAILED", 2, "VM", record["uuid"], "",
                               master_clock(world, db))
    update_ha_pool_status(world, db)


def elect_new_master(world: World, db: Database, failed: Machine) -> None:
    """With HA the surviving hosts agree on a new master (the first live one) at once; its xapi
    takes over the database without the old master's sessions and tasks."""
    survivors = [m for m in world.machines if m.db is db and m is not failed and m.powered
                 and db.exists("host", m.host_ref) and is_live(db, m.host_ref)]
    if not survivors:
        return
    new = survivors[0]
    for m in world.machines:
        if m.db is db:
            m.master_address = None if m is new else new.address
    db.set("pool", the_pool(db), master=new.host_ref, current_operations={})
    forget_sessions(world, db)
    create_message(db, "POOL_MASTER_TRANSITION", 4, "Host", db.get("host", new.host_ref)["uuid"], "",
                   master_clock(world, db))


# -- power on (xapi_host.power_on and the power-on-host plugin) ----------------------------------------
IPMI_NO_SESSION = "Error: Unable to establish IPMI v2 / RMCP+ session\n"
IPMI_BAD_USER = "RAKP 2 message indicates an error : unauthorized name\n" + IPMI_NO_SESSION
IPMI_BAD_PASSWORD = "RAKP 2 HMAC is invalid\n" + IPMI_NO_SESSION


def _plugin_failure(text: str, exception: str) -> XapiError:
    """An exception in a XenAPIPlugin function: [XENAPI_PLUGIN_FAILURE; fn; class; str(e)]."""
    return XapiError("XENAPI_PLUGIN_FAILURE", "main", exception, text)


async def power_on(world: World, db: Database, host: str, master: Machine) -> None:
    """The plugin power-on-host, function main, run by the master.  Since 24.19 (python3) it
    knows wake-on-lan and IPMI (ipmitool); before, wake-on-lan and DRAC (racadm).  Any other
    mode is a plugin module of that name (iLO's was removed); then it waits for the host to
    be live, and a result other than "True" is xapi's failwith "The host failed to power on."."""
    machine = machine_of(world, db, host)
    record = db.get("host", host)
    mode, config = record["power_on_mode"], record["power_on_config"]
    modern = xapi_at_least(master, 24, 19)
    lab = machine.spec["power_on"] if machine else {"bmc": None, "plugins": []}
    attempts = WAIT_FOR_LIVE_ATTEMPTS
    if mode == "wake-on-lan":
        attempts = 60                 # wlan.py sends a packet every 5 s for 5 minutes
        if machine is not None and _wakes_on_lan(db, machine):
            _switch_on(world, machine)
    elif mode == ("IPMI" if modern else "DRAC"):
        ip, user, password = _bmc_credentials(db, config)
        bmc = lab["bmc"]
        if modern:
            if bmc is None or ip != bmc["ip"]:
                raise _plugin_failure(IPMI_NO_SESSION, "IPMI_POWERON_FAILED")
            if user != bmc["user"]:
                raise _plugin_failure(IPMI_BAD_USER, "IPMI_POWERON_FAILED")
            if password != bmc["password"]:
                raise _plugin_failure(IPMI_BAD_PASSWORD, "IPMI_POWERON_FAILED")
        elif bmc is None or (ip, user, password) != (bmc["ip"], bmc["user"], bmc["password"]):
            raise _plugin_failure("", "DRAC_POWERON_FAILED")
        _switch_on(world, machine)
    elif mode in lab["plugins"]:
        _switch_on(world, machine)    # the lab's plugin module: custom(session, host, config)
    elif modern:
        raise _plugin_failure(f"No module named '{mode}'", "ModuleNotFoundError")
    else:
        # python 2 has no ModuleNotFoundError: the except clause itself fails
        raise _plugin_failure("global name 'ModuleNotFoundError' is not defined", "NameError")
    for _ in range(attempts):
        await sleep_seconds(world, WAIT_FOR_LIVE_POLL)
        if db.exists("host", host) and is_live(db, host):
            return
    raise XapiError("INTERNAL_ERROR", "The host failed to power on.")


def _bmc_credentials(db: Database, config: dict) -> tuple[str, str, str]:
    for key in ("power_on_ip", "power_on_user", "power_on_password_secret"):
        if key not in config:
            raise _plugin_failure(f"'{key}'", "KeyError")
    uuid = config["power_on_password_secret"]
    found = db.by_uuid.get(uuid)
    if found is None or found[0] != "secret":
        raise _plugin_failure(str(["UUID_INVALID", "secret", uuid]), "Failure")
    return config["power_on_ip"], config["power_on_user"], db.get("secret", found[1])["value"]


def _wakes_on_lan(db: Database, machine: Machine) -> bool:
    """The magic packet goes to the MAC of the management PIF (the physical one under a VLAN);
    the lab says whether that NIC wakes the machine."""
    host = machine.host_ref
    pif = next((p for p in db.get("host", host)["PIFs"] if db.get("PIF", p)["management"]), None)
    if pif is None:
        return False
    vlan = db.get("PIF", pif)["VLAN_master_of"]
    if vlan != NULL_REF and db.exists("VLAN", vlan):
        pif = db.get("VLAN", vlan)["tagged_PIF"]
    device = db.get("PIF", pif)["device"]
    bond = db.get("PIF", pif)["bond_master_of"]
    if bond and db.exists("Bond", bond[0]):
        devices = [db.get("PIF", s)["device"] for s in db.get("Bond", bond[0])["slaves"]]
    else:
        devices = [device]
    return any(n["device"] in devices and n.get("wake_on_lan", True) for n in machine.spec["nics"])


def _switch_on(world: World, machine: Machine | None) -> None:
    """The machine gets power; one already on (booting or rebooting) ignores it."""
    if machine is not None and not machine.powered:
        machine.powered = True
        world.spawn(boot(world, machine))
