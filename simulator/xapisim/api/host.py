"""Host state and power (BEHAVIOUR.md §3): disable/enable, evacuation, reboot/shutdown,
power-on, editions and licences, server time.  The logic is in xapisim.lifecycle.

Sources: ocaml/xapi/xapi_host.ml, message_forwarding.ml (Host), xapi_host_helpers.ml.
"""
from __future__ import annotations

from .. import lifecycle
from ..db import new_ref
from ..dispatch import api
from ..factory import the_pool
from ..errors import XapiError
from ..model import NULL_REF, DateTime

# editions v6d grants without a licence server
FREE_EDITIONS = {"trial", "free", "express", "xcp-ng"}


# auto_enable came with xapi 25.31.0, after the published datamodel the simulator checks
# against (BEHAVIOUR.md §3): a lab host with an older software.xapi answers the two-argument
# form with MESSAGE_PARAMETER_COUNT_MISMATCH, as that xapi does.
@api("host.disable", "host ref host, bool auto_enable", defaults=1, since={"auto_enable": (25, 31)})
async def disable(call, host, auto_enable=True):
    """Sets enabled=false (idempotent).  The user's wish is kept in xapi's memory only, so a
    toolstack restart or reboot re-enables the host, unless auto_enable=false, which the host
    keeps in its localdb until host.enable.  As in xapi, auto_enable counts only when the call
    disables an enabled host: on a host already disabled it changes nothing."""
    world, db = call.world, call.db
    db.get("host", host)
    lifecycle.assert_ha_plan_preserved(world, db, disable=host)
    lifecycle.assert_can_forward(world, db, host, call.machine)
    if db.get("host", host)["enabled"]:
        db.set("host", host, enabled=False)
        machine = lifecycle.machine_of(world, db, host)
        if machine is not None:
            lifecycle.host_state(world, machine).user_disabled = True
            if not auto_enable:
                lifecycle.host_state(world, machine).auto_enable = False
        if lifecycle.pool_record(db)["ha_enabled"]:
            lifecycle.update_ha_pool_status(world, db)
    lifecycle.update_host_allowed_operations(db, host)


@api("host.enable", "host ref host")
async def enable(call, host):
    world, db = call.world, call.db
    db.get("host", host)
    async with lifecycle.host_operation(world, db, host, "enable", call):
        lifecycle.assert_can_forward(world, db, host, call.machine)
        if db.get("host", host)["enabled"]:
            return
        machine = lifecycle.machine_of(world, db, host)
        state = lifecycle.host_state(world, machine)
        if state.booting:
            raise XapiError("HOST_STILL_BOOTING")
        if db.get("host", host)["pending_guidances"]:
            raise XapiError("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", host)
        if state.disabled_until_reboot:
            raise XapiError("HOST_DISABLED_UNTIL_REBOOT", host)
        assert_storage_for_protected_vms(db, host)
        state.user_disabled, state.auto_enable = False, True
        db.set("host", host, enabled=True)
        if lifecycle.pool_record(db)["ha_enabled"]:
            lifecycle.update_ha_pool_status(world, db)


def assert_storage_for_protected_vms(db, host) -> None:
    """With HA on, an unplugged PBD that a protected VM needs keeps the host disabled."""
    if not lifecycle.pool_record(db)["ha_enabled"]:
        return
    for pbd in db.get("host", host)["PBDs"]:
        record = db.get("PBD", pbd)
        if record["currently_attached"]:
            continue
        for vm, vm_record in db.all("VM").items():
            if lifecycle.is_protected(vm_record) and record["SR"] in lifecycle.vm_srs(db, vm):
                raise XapiError("HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", record["SR"])


@api("host.evacuate", "host ref host, network ref network, int evacuate_batch_size", defaults=2)
async def evacuate(call, host, network=NULL_REF, evacuate_batch_size=0):
    """Migrates every resident VM away, or none if any cannot go.  Does not disable the host."""
    world, db = call.world, call.db
    db.get("host", host)
    if network != NULL_REF:
        db.get("network", network)
    lifecycle.assert_ha_plan_preserved(world, db, disable=host)
    async with lifecycle.host_operation(world, db, host, "evacuate", call):
        await lifecycle.evacuate(world, db, host, network=network, batch_size=evacuate_batch_size, call=call)


@api("host.get_vms_which_prevent_evacuation", "host ref self", "(VM ref -> string set) map")
async def get_vms_which_prevent_evacuation(call, self):
    call.db.get("host", self)
    return lifecycle.plan_errors(lifecycle.evacuation_plan(call.world, call.db, self))


@api("host.assert_can_evacuate", "host ref host")
async def assert_can_evacuate(call, host):
    call.db.get("host", host)
    errors = lifecycle.plan_errors(lifecycle.evacuation_plan(call.world, call.db, host))
    if errors:
        raise XapiError("CANNOT_EVACUATE_HOST", "|".join(",".join(e) for e in errors.values()))


async def power_off(call, host, op: str) -> None:
    """host.reboot / host.shutdown: the host must be disabled; the call returns at once and the
    host goes down 10 s later.  Until it is back, a `shutdown` operation stays in
    current_operations (xapi records it for both), so another reboot or shutdown waits."""
    world, db = call.world, call.db
    db.get("host", host)
    async with lifecycle.host_operation(world, db, host, op, call):
        lifecycle.assert_can_forward(world, db, host, call.machine)
        assert_statefile_access(db, host)
        db.set("host", host, current_operations={**db.get("host", host)["current_operations"],
                                                  new_ref(): "shutdown"})
    lifecycle.update_host_allowed_operations(db, host)
    machine = lifecycle.machine_of(world, db, host)
    world.spawn(lifecycle.power_cycle(world, machine, reboot=op == "reboot"))


def assert_statefile_access(db, host) -> None:
    """With HA on a host going down must reach the statefile (to exclude itself cleanly)."""
    pool = lifecycle.pool_record(db)
    if not pool["ha_enabled"]:
        return
    for vdi in pool["ha_statefiles"]:
        if db.exists("VDI", vdi) and db.get("VDI", vdi)["SR"] not in lifecycle.host_srs(db, host):
            raise XapiError("HA_LOST_STATEFILE")


@api("host.reboot", "host ref host")
async def reboot(call, host):
    await power_off(call, host, "reboot")


@api("host.shutdown", "host ref host")
async def shutdown(call, host):
    await power_off(call, host, "shutdown")


@api("host.restart_agent", "host ref host")
async def restart_agent(call, host):
    world, db = call.world, call.db
    db.get("host", host)
    lifecycle.assert_can_forward(world, db, host, call.machine)
    world.spawn(lifecycle.restart_agent(world, lifecycle.machine_of(world, db, host)))


@api("host.power_on", "host ref host")
async def power_on(call, host):
    """Always run by the master: HOST_IS_LIVE, HOST_POWER_ON_MODE_DISABLED, then the plugin."""
    world, db = call.world, call.db
    db.get("host", host)
    async with lifecycle.host_operation(world, db, host, "power_on", call):
        await lifecycle.power_on(world, db, host, call.machine)


@api("host.set_power_on_mode", "host ref self, string power_on_mode, (string -> string) map power_on_config")
async def set_power_on_mode(call, self, power_on_mode, power_on_config):
    """No validation; the secrets the old configuration named (keys ending in
    password_secret) are destroyed (Xapi_secret.clean_out_passwds)."""
    db = call.db
    old = db.get("host", self)["power_on_config"]
    db.set("host", self, power_on_mode=power_on_mode, power_on_config=dict(power_on_config))
    for key, uuid in old.items():
        found = db.by_uuid.get(uuid)
        if key.endswith("password_secret") and found and found[0] == "secret":
            db.delete("secret", found[1])
    lifecycle.update_host_allowed_operations(db, self)


@api("host.apply_edition", "host ref host, string edition, bool force", has_async=False, defaults=1)
async def apply_edition(call, host, edition, force=False):
    """v6d: an edition the host's licence daemon knows; a paid one needs the licence server the
    lab gives the host (host.license_server address, port)."""
    world, db = call.world, call.db
    record = db.get("host", host)
    machine = lifecycle.machine_of(world, db, host)
    spec = machine.spec if machine else {}
    if edition not in spec.get("editions_available", [edition]):
        raise XapiError("INVALID_EDITION", edition)
    if edition not in FREE_EDITIONS:
        server = record["license_server"]
        if not server.get("address"):
            raise XapiError("MISSING_CONNECTION_DETAILS")
        lab_server = spec.get("license_server", {})
        if (server.get("address"), str(server.get("port", "27000"))) != \
                (lab_server.get("address"), str(lab_server.get("port", 27000))):
            raise XapiError("LICENSE_CHECKOUT_ERROR", "connection_failed",
                            f"Could not connect to the license server {server.get('address')}:{server.get('port', '27000')}")
    params = {**record["license_params"], "sku_type": edition,
              "enable_xha": "false" if edition in ("free", "express") else "true"}
    db.set("host", host, edition=edition, license_params=params)
    update_pool_restrictions(db)


def update_pool_restrictions(db) -> None:
    """pool.restrictions: what every host's licence allows (restrict_* if any, enable_* if all)."""
    hosts = list(db.all("host").values())
    keys = {k for h in hosts for k in h["license_params"]}
    restrictions = {}
    for key in sorted(keys):
        values = [h["license_params"].get(key, "false") for h in hosts]
        if key.startswith("restrict_"):
            restrictions[key] = "true" if "true" in values else "false"
        elif key.startswith("enable_"):
            restrictions[key] = "true" if all(v == "true" for v in values) else "false"
        else:
            restrictions[key] = values[0]
    pool = the_pool(db)
    db.set("pool", pool, restrictions={**db.get("pool", pool)["restrictions"], **restrictions})


@api("host.get_servertime", "host ref host", "datetime", has_async=False)
async def get_servertime(call, host):
    """The host's own clock, UTC, with the lab's clock offset."""
    call.db.get("host", host)
    machine = lifecycle.machine_of(call.world, call.db, host)
    offset = machine.spec.get("clock_offset", 0) if machine else 0
    return DateTime.at(call.world.now() + offset)


@api("host.compute_free_memory", "host ref host", "int")
async def compute_free_memory(call, host):
    call.db.get("host", host)
    return max(0, lifecycle.host_free_memory(call.world, call.db, host))
