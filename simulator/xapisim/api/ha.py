"""High availability (BEHAVIOUR.md §5): pool.enable_ha, pool.disable_ha,
pool.set_ha_host_failures_to_tolerate and the planner queries.  The failover planner and the
restarts after a host failure are in xapisim.lifecycle.

Sources: ocaml/xapi/xapi_ha.ml (enable, disable), xha_statefile.ml, xha_metadata_vdi.ml,
xapi_pool.ml (set_ha_host_failures_to_tolerate), xapi_ha_vm_failover.ml.
"""
from __future__ import annotations

from .. import lifecycle
from ..db import Database
from ..dispatch import api
from ..errors import XapiError
from ..factory import create_vdi, the_pool
from ..world import World
from .pool import pool_operation

MIB4 = 4 << 20
STATEFILE_SIZE = 4096 + 64 * 4096                          # Xha_statefile.minimum_statefile_size
REDO_LOG_SIZE = (4_000_000_000 // MIB4 - 2) * MIB4         # Redo_log.minimum_vdi_size
MINIMUM_SR_FREE = -(-STATEFILE_SIZE // MIB4) * MIB4 + REDO_LOG_SIZE


def _existing(db: Database, sr: str, vdi_type: str, size: int) -> str | None:
    return next((v for v in db.get("SR", sr)["VDIs"]
                 if db.get("VDI", v)["type"] == vdi_type and db.get("VDI", v)["virtual_size"] >= size), None)


def check_statefile_sr(db: Database, sr: str) -> str | None:
    """check_sr_can_host_statefile: a plugged PBD on every host, an SM that can attach the VDI
    outside a VM, room for the VDIs.  Returns an existing statefile VDI to reuse."""
    pbds = db.get("SR", sr)["PBDs"]
    if len({db.get("PBD", p)["host"] for p in pbds}) < len(db.all("host")):
        raise XapiError("SR_HAS_NO_PBDS", sr)
    if not all(db.get("PBD", p)["currently_attached"] for p in pbds):
        raise XapiError("SR_HAS_NO_PBDS", sr)
    sm = next((r for r in db.all("SM").values() if r["type"] == db.get("SR", sr)["type"]), None)
    if sm is None:
        raise XapiError("INTERNAL_ERROR", f"SR does not have corresponding SM record: {sr} {db.get('SR', sr)['type']}")
    if "VDI_GENERATE_CONFIG" not in sm["features"] and "VDI_ATTACH_OFFLINE" not in sm["features"]:
        raise XapiError("SR_OPERATION_NOT_SUPPORTED", sr)
    return _fits(db, sr, "ha_statefile", STATEFILE_SIZE)


def _fits(db: Database, sr: str, vdi_type: str, size: int) -> str | None:
    found = _existing(db, sr, vdi_type, size)
    if found is None:
        record = db.get("SR", sr)
        if record["physical_size"] - record["physical_utilisation"] < MINIMUM_SR_FREE:
            raise XapiError("SR_SOURCE_SPACE_INSUFFICIENT", sr)
    return found


def statefile_candidates(db: Database) -> list[str]:
    """list_srs_which_can_host_statefile."""
    found = []
    for sr in db.all("SR"):
        try:
            check_statefile_sr(db, sr)
            _fits(db, sr, "redo_log", REDO_LOG_SIZE)
        except XapiError:
            continue
        found.append(sr)
    return found


def create_ha_vdis(db: Database, sr: str) -> str:
    """The statefile ("Statefile for HA") and the metadata redo log ("Metadata for HA"),
    reused when the SR already has them.  Returns the statefile VDI."""
    statefile = check_statefile_sr(db, sr)
    if statefile is None:
        statefile = create_vdi(db, sr, "Statefile for HA", STATEFILE_SIZE, "ha_statefile")
        db.set("VDI", statefile, name_description="Used for storage heartbeating", sharable=True,
               sm_config={"type": "raw"})
    if _existing(db, sr, "redo_log", REDO_LOG_SIZE) is None:
        metadata = create_vdi(db, sr, "Metadata for HA", REDO_LOG_SIZE, "redo_log")
        db.set("VDI", metadata, name_description="Used for master failover", sharable=True,
               sm_config={"type": "raw"})
    return statefile


def mark_ha_enabled(world: World, db: Database, statefile: str, configuration: dict) -> None:
    """The pool's and hosts' HA fields once every host joined the liveset."""
    pool = the_pool(db)
    db.set("pool", pool, ha_statefiles=[statefile], ha_configuration=dict(configuration), ha_plan_exists_for=0,
           ha_cluster_stack="xhad")
    hosts = db.all("host")
    for host in hosts:
        peers = [r["uuid"] for h, r in hosts.items() if h != host]
        db.set("host", host, ha_statefiles=[statefile], ha_network_peers=peers)
    db.set("pool", pool, ha_enabled=True)
    lifecycle.update_ha_pool_status(world, db)


@api("pool.enable_ha", "SR ref set heartbeat_srs, (string -> string) map configuration")
async def enable_ha(call, heartbeat_srs, configuration):
    world, db = call.world, call.db
    for sr in heartbeat_srs:
        db.get("SR", sr)
    if lifecycle.pool_record(db)["ha_enabled"]:
        raise XapiError("HA_IS_ENABLED")
    async with pool_operation(call, db, "ha_enable"):
        if len({h["software_version"].get("platform_version") for h in db.all("host").values()}) > 1:
            raise XapiError("NOT_SUPPORTED_DURING_UPGRADE")
        if lifecycle.pool_record(db)["restrictions"].get("enable_xha", "true") != "true":
            raise XapiError("LICENCE_RESTRICTION", "HA")
        unplugged = [p for p, r in db.all("PIF").items() if r["disallow_unplug"] and not r["currently_attached"]]
        if unplugged:
            raise XapiError("REQUIRED_PIF_IS_UNPLUGGED", *unplugged)
        warn_unpluggable_ip_pifs(world, db)
        for host in db.all("host"):
            if not lifecycle.is_live(db, host):
                raise XapiError("HOST_OFFLINE", host)
        db.set("pool", the_pool(db), ha_cluster_stack="xhad")
        candidates = heartbeat_srs or statefile_candidates(db)
        if not candidates:
            raise XapiError("CANNOT_CREATE_STATE_FILE")
        statefile = create_ha_vdis(db, candidates[0])
        call.progress(0.3)
        await world.sleep("pbd_plug")   # every host attaches the statefile and joins the liveset
        call.progress(0.9)
        mark_ha_enabled(world, db, statefile, configuration)


def warn_unpluggable_ip_pifs(world: World, db: Database) -> None:
    """PIFs with an IP that may be unplugged (not management, no disallow_unplug) get the
    message IP_CONFIGURED_PIF_CAN_UNPLUG, as a possible storage network anomaly."""
    pifs = [(p, r) for p, r in db.all("PIF").items()
            if r["ip_configuration_mode"] != "None" and r["bond_slave_of"] == "OpaqueRef:NULL"
            and not r["disallow_unplug"] and not r["management"]]
    if not pifs:
        return
    lines = ["A possible network anomaly was found. The following hosts possibly have storage PIFs "
             "that are not dedicated:"]
    lines += [f"{db.get('host', r['host'])['name_label']}: {r['device']} (uuid: {r['uuid']})" for _, r in pifs]
    lifecycle.create_message(db, "IP_CONFIGURED_PIF_CAN_UNPLUG", 3, "Pool", lifecycle.pool_record(db)["uuid"],
                             "\n".join(lines), lifecycle.master_clock(world, db))


@api("pool.disable_ha", "")
async def disable_ha(call):
    world, db = call.world, call.db
    if not lifecycle.pool_record(db)["ha_enabled"]:
        raise XapiError("HA_NOT_ENABLED")
    async with pool_operation(call, db, "ha_disable"):
        await world.sleep("pbd_plug")   # the pool state goes invalid, every host disarms
        db.set("pool", the_pool(db), ha_plan_exists_for=0, ha_enabled=False, ha_overcommitted=False)
        for host in db.all("host"):
            db.set("host", host, ha_statefiles=[], ha_network_peers=[])


@api("pool.set_ha_host_failures_to_tolerate", "pool ref self, int value")
async def set_ha_host_failures_to_tolerate(call, self, value):
    world, db = call.world, call.db
    db.get("pool", self)
    if value < 0:
        raise XapiError("INVALID_VALUE", "ha_host_failures_to_tolerate", value)
    if db.get("pool", self)["ha_plan_exists_for"] > 0:
        lifecycle.assert_ha_plan_preserved(world, db, failures=value)
    db.set("pool", self, ha_host_failures_to_tolerate=value)
    lifecycle.update_ha_pool_status(world, db)


@api("pool.ha_compute_max_host_failures_to_tolerate", "", "int", has_async=False)
async def ha_compute_max_host_failures_to_tolerate(call):
    world, db = call.world, call.db
    live = sum(1 for h in db.all("host") if lifecycle.is_live(db, h))
    return max((n for n in range(live) if lifecycle.ha_plan_exists(world, db, n)), default=0)


@api("pool.ha_failover_plan_exists", "int n", "bool", has_async=False)
async def ha_failover_plan_exists(call, n):
    return lifecycle.ha_plan_exists(call.world, call.db, n)
