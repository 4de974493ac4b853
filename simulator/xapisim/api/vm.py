"""VM power operations: start, start_on, clean/hard shutdown, clean/hard reboot, pause, unpause,
suspend, resume, resume_on, pool_migrate, with xapi's checks (power state, host enabled and live, memory, storage).
The logic is in xapisim.lifecycle.

Sources: ocaml/xapi/message_forwarding.ml (VM), xapi_vm.ml, xapi_vm_lifecycle.ml,
xapi_vm_helpers.ml (assert_can_boot_here, choose_host_for_vm).
"""
from __future__ import annotations

import inspect

from .. import lifecycle
from ..dispatch import api
from ..errors import XapiError
from ..model import NULL_REF


def forward_to_resident(call, vm) -> None:
    """An operation on a running VM is forwarded to its host, which must be live."""
    host = call.db.get("VM", vm)["resident_on"]
    if host != NULL_REF:
        lifecycle.assert_can_forward(call.world, call.db, host, call.machine)


@api("VM.start", "VM ref vm, bool start_paused, bool force")
async def start(call, vm, start_paused, force):
    world, db = call.world, call.db
    db.get("VM", vm)
    async with lifecycle.vm_operation(world, db, vm, "start", call):
        host = lifecycle.choose_host(world, db, vm)
        lifecycle.assert_can_boot_here(world, db, vm, host)
        await lifecycle.start_vm(world, db, vm, host, start_paused)


@api("VM.start_on", "VM ref vm, host ref host, bool start_paused, bool force")
async def start_on(call, vm, host, start_paused, force):
    world, db = call.world, call.db
    db.get("VM", vm)
    db.get("host", host)
    evacuating = next((r for r, op in db.get("host", host)["current_operations"].items() if op == "evacuate"), None)
    if evacuating:
        raise XapiError("HOST_EVACUATE_IN_PROGRESS", host)
    async with lifecycle.vm_operation(world, db, vm, "start_on", call):
        lifecycle.assert_can_boot_here(world, db, vm, host)
        lifecycle.assert_can_forward(world, db, host, call.machine)
        await lifecycle.start_vm(world, db, vm, host, start_paused)


# The operations on a running VM that xapi forwards to the host it runs on: name -> what it does.
_ON_RESIDENT = {
    "clean_shutdown": lambda world, db, vm: lifecycle.shutdown_vm(world, db, vm, clean=True),
    "hard_shutdown": lambda world, db, vm: lifecycle.shutdown_vm(world, db, vm, clean=False),
    "clean_reboot": lambda world, db, vm: lifecycle.reboot_vm(world, db, vm, clean=True),
    "hard_reboot": lambda world, db, vm: lifecycle.reboot_vm(world, db, vm, clean=False),
    "pause": lambda world, db, vm: lifecycle.pause_vm(world, db, vm, True),
    "unpause": lambda world, db, vm: lifecycle.pause_vm(world, db, vm, False),
    "suspend": lambda world, db, vm: lifecycle.suspend_vm(world, db, vm),
}


def _on_resident(operation: str, act):
    async def handler(call, vm):
        world, db = call.world, call.db
        db.get("VM", vm)
        async with lifecycle.vm_operation(world, db, vm, operation, call):
            forward_to_resident(call, vm)
            done = act(world, db, vm)
            if inspect.isawaitable(done):   # pause and unpause take no time
                await done
    return handler


for _operation, _act in _ON_RESIDENT.items():
    api(f"VM.{_operation}", "VM ref vm")(_on_resident(_operation, _act))


@api("VM.resume", "VM ref vm, bool start_paused, bool force")
async def resume(call, vm, start_paused, force):
    world, db = call.world, call.db
    db.get("VM", vm)
    async with lifecycle.vm_operation(world, db, vm, "resume", call):
        host = lifecycle.choose_host(world, db, vm)
        lifecycle.assert_can_boot_here(world, db, vm, host)
        await lifecycle.resume_vm(world, db, vm, host, start_paused)


@api("VM.resume_on", "VM ref vm, host ref host, bool start_paused, bool force")
async def resume_on(call, vm, host, start_paused, force):
    world, db = call.world, call.db
    db.get("VM", vm)
    db.get("host", host)
    async with lifecycle.vm_operation(world, db, vm, "resume_on", call):
        lifecycle.assert_can_boot_here(world, db, vm, host)
        lifecycle.assert_can_forward(world, db, host, call.machine)
        await lifecycle.resume_vm(world, db, vm, host, start_paused)


@api("VM.pool_migrate", "VM ref vm, host ref host, (string -> string) map options")
async def pool_migrate(call, vm, host, options):
    """Live migration within the pool; options: live (always live here), network (the
    migration network: the target needs an IP on it), force (skips the CPU check)."""
    world, db = call.world, call.db
    db.get("VM", vm)
    db.get("host", host)
    async with lifecycle.vm_operation(world, db, vm, "pool_migrate", call):
        lifecycle.assert_can_boot_here(world, db, vm, host)
        forward_to_resident(call, vm)
        if "network" in options:
            lifecycle.assert_migration_network(db, options["network"], host)
        await lifecycle.migrate_vm(world, db, vm, host)


@api("VM.set_ha_restart_priority", "VM ref self, string value")
async def set_ha_restart_priority(call, self, value):
    """"restart" protects the VM (xapi refuses it if the failover plan would break), "best-effort"
    restarts it if there is room, "" leaves it; a running VM is protected at once."""
    world, db = call.world, call.db
    record = db.get("VM", self)
    if value not in ("restart", "best-effort", ""):
        raise XapiError("INVALID_VALUE", "ha_restart_priority", value)
    if record["ha_restart_priority"] != "restart" and value == "restart" and record["power_state"] != "Halted":
        lifecycle.assert_ha_plan_preserved(world, db, protect=self)
    if record["ha_restart_priority"] != value:
        db.set("VM", self, ha_restart_priority=value)
        if record["power_state"] == "Running":
            db.set("VM", self, ha_always_run=value == "restart")
        if lifecycle.pool_record(db)["ha_enabled"]:
            lifecycle.update_ha_pool_status(world, db)
