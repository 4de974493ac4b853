"""Pool membership: pool.join / join_force, pool.eject, pool.designate_new_master,
pool.recover_slaves, host.destroy, and the pool operation locks (BEHAVIOUR.md §1, §2).

Sources: ocaml/xapi/xapi_pool.ml (join_common, pre_join_checks, eject, eject_self,
designate_new_master), ocaml/xapi/message_forwarding.ml (Pool), ocaml/xapi/xapi_pool_helpers.ml
(locks), ocaml/xapi/helpers.ml (retry of OTHER_OPERATION_IN_PROGRESS), ocaml/xapi/xapi_host.ml
(destroy), ocaml/xapi/xapi_pool_transition.ml.
"""
from __future__ import annotations

import time
from contextlib import asynccontextmanager

from .. import lifecycle, membership
from ..db import Database, new_ref
from ..dispatch import Call, api
from ..errors import XapiError
from ..factory import build_standalone, pool_cpu_info, the_pool
from ..model import NULL_REF, DateTime
from ..world import Machine, World
from .session import destroy_session

# xapi restarts itself through a "fuse": the call returns, xapi exits 5 to 10 s later
# (Xapi_fuse, Constants.fuse_time = 10 s, at least 5 s), then the watchdog starts it again.
FUSE = 0.5                 # of the api_restart timing
COMMIT = 0.2               # of master_transition: pool.sync_database and the two-phase commit
RETRY_LIMIT = 2 * 3600     # s: how long a call retries OTHER_OPERATION_IN_PROGRESS (Repeat_with_uniform_backoff)
RETRY_DELAY = 20           # s: the longest back-off; a finished pool operation wakes waiters at once

# -- pool operation locks (xapi_pool_helpers.ml) -----------------------------------------------
# Blocking operations refuse each other with their own code; the others ("waiting" operations:
# eject, exchange_certificates_on_join, ...) get OTHER_OPERATION_IN_PROGRESS, which the caller
# does not see: xapi waits and retries for up to two hours.
BLOCKING = {
    "ha_enable": "HA_ENABLE_IN_PROGRESS", "ha_disable": "HA_DISABLE_IN_PROGRESS",
    "cluster_create": "CLUSTER_CREATE_IN_PROGRESS", "designate_new_master": "DESIGNATE_NEW_MASTER_IN_PROGRESS",
    "tls_verification_enable": "TLS_VERIFICATION_ENABLE_IN_PROGRESS",
    "configure_repositories": "CONFIGURE_REPOSITORIES_IN_PROGRESS", "sync_updates": "SYNC_UPDATES_IN_PROGRESS",
    "apply_updates": "APPLY_UPDATES_IN_PROGRESS",
}


def operation_refusal(db: Database, op: str) -> XapiError | None:
    """Why the pool operation `op` cannot start now (compute_valid_operations), or None."""
    pool = the_pool(db)
    current = db.get("pool", pool)["current_operations"]
    blocking = next((o for o in BLOCKING if o in current.values()), None)
    waiting = next(((ref, o) for ref, o in current.items() if o not in BLOCKING), None)
    if blocking and op in BLOCKING:
        return XapiError(BLOCKING[blocking])
    if blocking or waiting:
        detail = [waiting[1], waiting[0]] if waiting else []
        return XapiError("OTHER_OPERATION_IN_PROGRESS", "pool", pool, *detail)
    return None


@asynccontextmanager
async def pool_operation(call: Call, db: Database, op: str):
    """with_pool_operation: waits out OTHER_OPERATION_IN_PROGRESS (cancellable), then holds
    `op` in pool.current_operations while the body runs."""
    world = call.world
    deadline = time.monotonic() + RETRY_LIMIT * world.time_scale
    call.set_cancellable()   # Helpers.retry marks the task cancellable
    while True:
        call.check_cancelled()
        refusal = operation_refusal(db, op)
        if refusal is None:
            break
        if refusal.code != "OTHER_OPERATION_IN_PROGRESS" or time.monotonic() >= deadline:
            raise refusal
        await db.wait_for_change(min(deadline - time.monotonic(), RETRY_DELAY * world.time_scale))
    pool = the_pool(db)
    key = call.task if call.task and db is call.db else new_ref()
    db.set("pool", pool, current_operations={**db.get("pool", pool)["current_operations"], key: op})
    try:
        yield
    finally:
        if db.exists("pool", pool):
            current = db.get("pool", pool)["current_operations"]
            if key in current:
                db.set("pool", pool, current_operations={k: v for k, v in current.items() if k != key})


# -- helpers -----------------------------------------------------------------------------------
def management_pif(db: Database, host: str) -> str | None:
    return next((ref for ref, p in db.all("PIF").items() if p["host"] == host and p["management"]), None)


def is_reachable(machine: Machine | None) -> bool:
    return machine is not None and machine.powered and machine.api_up


def assert_can_forward(world: World, db: Database, host: str) -> None:
    """message_forwarding's do_op_on: the target must be live, then contactable."""
    if not db.get("host_metrics", db.get("host", host)["metrics"])["live"]:
        raise XapiError("HOST_OFFLINE", host)
    if not is_reachable(world.machine_of(db, host)):
        raise XapiError("CANNOT_CONTACT_HOST", host)


def compatibility_name(version: dict) -> str | None:
    return version.get("product_brand") or version.get("platform_name")


def homogeneous_updates(db: Database, host: str) -> set[str]:
    return {db.get("pool_update", u)["uuid"] for u in db.get("host", host)["updates"]
            if db.exists("pool_update", u) and db.get("pool_update", u)["enforce_homogeneity"]}


def nbd_purpose(db: Database) -> str | None:
    return next((p for net in db.all("network").values() for p in net["purpose"] if p in ("nbd", "insecure_nbd")), None)


def ha_enabled(db: Database) -> bool:
    return db.get("pool", the_pool(db))["ha_enabled"]


def updating(db: Database) -> bool:
    return "apply_updates" in db.get("pool", the_pool(db))["current_operations"].values()


# -- pool.join ---------------------------------------------------------------------------------
async def login_to_master(world: World, address: str, username: str, password: str) -> Machine:
    """The joiner's session.login_with_password to the master (no certificate check)."""
    master = world.machine_at(address)
    if not is_reachable(master):
        raise XapiError("JOINING_HOST_CONNECTION_FAILED")
    if not master.is_master:
        raise XapiError("HOST_IS_SLAVE", master.master_address)
    if username != master.username or password != master.password:
        await world.sleep("auth_failure_delay")
        raise XapiError("SESSION_AUTHENTICATION_FAILED", username, "Authentication failure")
    return master


def pre_join_checks(joiner: Machine, master: Machine, force: bool) -> None:
    """pre_join_checks in HEAD order; check numbers as in BEHAVIOUR.md §1.2.  Not modelled:
    5 (no Cluster objects), the SDN controller part of 22, 29 and 30 (no Certificate objects)."""
    jdb, mdb = joiner.db, master.db
    me = joiner.host_ref
    my_pool, remote_pool = jdb.get("pool", the_pool(jdb)), mdb.get("pool", the_pool(mdb))
    my_host = jdb.get("host", me)
    remote_master = remote_pool["master"]
    remote_host = mdb.get("host", remote_master)
    my_version, remote_version = my_host["software_version"], remote_host["software_version"]
    my_mgmt = management_pif(jdb, me)
    remote_mgmt = management_pif(mdb, remote_master)

    # 1 (the joiner's own licence)
    if my_pool["restrictions"].get("restrict_pool_size") == "true" and len(mdb.all("host")) >= 3:
        raise XapiError("LICENCE_RESTRICTION", "Pool_size")
    # 2
    if my_mgmt is None:
        raise XapiError("HOST_STILL_BOOTING")
    # 3
    if my_pool["ha_enabled"]:
        raise XapiError("HA_IS_ENABLED")
    # 4
    for ref, cluster_host in jdb.all("Cluster_host").items():
        if cluster_host["host"] == me and cluster_host["enabled"]:
            raise XapiError("CLUSTERING_ENABLED", ref)
    # 6
    if remote_pool["ha_enabled"]:
        raise XapiError("HA_IS_ENABLED")
    # 7
    if remote_host["uuid"] == my_host["uuid"]:
        reason = "Host is already part of a pool" if len(jdb.all("host")) > 1 else "Host cannot become slave of itself"
        raise XapiError("OPERATION_NOT_ALLOWED", reason)
    # 8
    if len(jdb.all("host")) > 1:
        raise XapiError("JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS")
    # 9: Running only; paused and suspended VMs do not count
    if any(not vm["is_control_domain"] and vm["power_state"] == "Running" for vm in jdb.all("VM").values()):
        raise XapiError("JOINING_HOST_CANNOT_HAVE_RUNNING_VMS")
    # 10
    if any(vm["current_operations"] for vm in jdb.all("VM").values()):
        raise XapiError("JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS")
    # 11
    if my_host["pending_guidances"]:
        raise XapiError("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", me)
    if remote_host["pending_guidances"]:
        raise XapiError("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", remote_master)
    # 12
    if (my_version.get("platform_version"), compatibility_name(my_version)) != \
            (remote_version.get("platform_version"), compatibility_name(remote_version)):
        raise XapiError("HOSTS_NOT_COMPATIBLE")
    # 13: the only check join_force skips
    if not force:
        def software(v):
            return v.get("xapi", ""), compatibility_name(v) or "", v.get("git_id", ""), "xs:linux" in v
        if software(my_version) != software(remote_version):
            raise XapiError("HOSTS_NOT_HOMOGENEOUS", "Software version differs")
        if my_host["cpu_info"].get("vendor") != remote_pool["cpu_info"].get("vendor"):
            raise XapiError("HOSTS_NOT_HOMOGENEOUS", "CPUs differ")
    # 14
    if any(sr["shared"] and not sr["is_tools_sr"] for sr in jdb.all("SR").values()):
        raise XapiError("JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS")
    # 15 - 17
    if jdb.all("Bond"):
        raise XapiError("POOL_JOINING_HOST_HAS_BONDS")
    if jdb.all("tunnel"):
        raise XapiError("POOL_JOINING_HOST_HAS_TUNNELS")
    if jdb.all("network_sriov"):
        raise XapiError("POOL_JOINING_HOST_HAS_NETWORK_SRIOVS")
    # 18
    if any(not jdb.get("PIF", vlan["untagged_PIF"])["management"] for vlan in jdb.all("VLAN").values()):
        raise XapiError("POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS")
    # 19
    my_tag = jdb.get("PIF", my_mgmt)["VLAN"]
    remote_tag = mdb.get("PIF", remote_mgmt)["VLAN"] if remote_mgmt else -1
    if my_tag != remote_tag:
        raise XapiError("POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH", my_tag, remote_tag)
    # 20
    if my_host["external_auth_type"] != remote_host["external_auth_type"] or \
            my_host["external_auth_service_name"].lower() != remote_host["external_auth_service_name"].lower():
        raise XapiError("POOL_JOINING_EXTERNAL_AUTH_MISMATCH")
    # 21
    assert_editions_match(joiner, my_host["edition"], [h["edition"] for h in mdb.all("host").values()])
    # 22
    if my_version.get("network_backend", "bridge") != remote_version.get("network_backend", "bridge"):
        raise XapiError("OPERATION_NOT_ALLOWED", "Network backends differ")
    # 23
    my_api = f"{my_host['API_version_major']}.{my_host['API_version_minor']}"
    remote_api = f"{remote_host['API_version_major']}.{remote_host['API_version_minor']}"
    if my_api != remote_api:
        raise XapiError("POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION", my_api, remote_api)
    # 24
    my_schema, remote_schema = my_version.get("db_schema", ""), remote_version.get("db_schema", "")
    if not my_schema or not remote_schema or my_schema != remote_schema:
        raise XapiError("POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA", my_schema, remote_schema)
    # 25
    if homogeneous_updates(jdb, me) != homogeneous_updates(mdb, remote_master):
        raise XapiError("HOSTS_NOT_HOMOGENEOUS",
                        f"Updates on local host {my_host['name_label']} and pool host {remote_host['name_label']} differ")
    # 26
    if remote_mgmt and jdb.get("PIF", my_mgmt)["primary_address_type"] != mdb.get("PIF", remote_mgmt)["primary_address_type"]:
        raise XapiError("OPERATION_NOT_ALLOWED", "Primary address type differs")
    # 27
    mine, theirs = nbd_purpose(jdb), nbd_purpose(mdb)
    if mine and theirs and mine != theirs:
        raise XapiError("OPERATION_NOT_ALLOWED", "Incompatible network purposes: nbd and insecure_nbd")
    # 28
    if my_pool["tls_verification_enabled"] != remote_pool["tls_verification_enabled"]:
        raise XapiError("POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH")
    # 31, 32
    if updating(jdb) or updating(mdb):
        raise XapiError("NOT_SUPPORTED_DURING_UPGRADE")
    # 33: each of the pool's SM types once on the joiner, with at least the pool's features
    for sm_ref, sm in mdb.all("SM").items():
        mine = [(r, s) for r, s in jdb.all("SM").items() if s["type"] == sm["type"]]
        if len(mine) != 1:
            raise XapiError("POOL_JOINING_SM_FEATURES_INCOMPATIBLE", sm_ref, "")
        candidate_ref, candidate = mine[0]
        if any(candidate["features"].get(name, -1) < version for name, version in sm["features"].items()):
            raise XapiError("POOL_JOINING_SM_FEATURES_INCOMPATIBLE", sm_ref, candidate_ref)


def assert_editions_match(joiner: Machine, my_edition: str, pool_editions: list[str]) -> None:
    """assert_restrictions_match: equal strings pass; otherwise v6d's edition order decides
    (the joiner's licence daemon: the lab's editions_available, lowest first)."""
    if all(e == my_edition for e in pool_editions):
        return
    order = joiner.spec.get("editions_available", [])

    def rank(edition):
        if edition not in order:
            raise XapiError("LICENSE_HOST_POOL_MISMATCH", f'Edition "{edition}" from pool is not known to v6d.')
        return order.index(edition)
    pool_edition = min(pool_editions, key=rank)
    if rank(pool_edition) != rank(my_edition):
        raise XapiError("LICENSE_HOST_POOL_MISMATCH", f'host edition = "{my_edition}"', f'pool edition = "{pool_edition}"')


async def join(call: Call, master_address: str, master_username: str, master_password: str, force: bool) -> None:
    world, joiner, db = call.world, call.machine, call.db
    if db.get("pool", the_pool(db))["restrictions"].get("restrict_pooling") == "true":
        raise XapiError("LICENCE_RESTRICTION")
    master = await login_to_master(world, master_address, master_username, master_password)
    pre_join_checks(joiner, master, force)
    async with pool_operation(call, master.db, "exchange_certificates_on_join"):
        host = membership.push_into_pool(world, joiner, master)
    world.spawn(restart_as_slave(world, joiner, master.db, host, master_address))


async def restart_as_slave(world: World, joiner: Machine, db: Database, host: str, master_address: str) -> None:
    """After pool.join returned: the fuse, xapi down for the restart, then up as a slave."""
    await world.sleep("api_restart", FUSE)
    if joiner.listener:
        await joiner.listener.stop()
    membership.become_slave(world, joiner, db, host, master_address)
    await world.sleep("api_restart", lifecycle.restart_factor(world, joiner))
    if not joiner.powered:
        return   # switched off while it restarted
    if joiner.listener:
        await joiner.listener.start()
    if not db.exists("host", host):
        return   # the master forgot it meanwhile (host.destroy): Pool.hello is refused
    membership.slave_hello(world, joiner)
    if db.get("host", host)["PBDs"] or any(sr["shared"] for sr in db.all("SR").values()):
        await world.sleep("pbd_plug")
    if db.exists("host", host):
        membership.slave_started(world, joiner)


@api("pool.join", "string master_address, string master_username, string master_password")
async def pool_join(call, master_address, master_username, master_password):
    await join(call, master_address, master_username, master_password, force=False)


@api("pool.join_force", "string master_address, string master_username, string master_password")
async def pool_join_force(call, master_address, master_username, master_password):
    await join(call, master_address, master_username, master_password, force=True)


# -- pool.eject --------------------------------------------------------------------------------
@api("pool.eject", "host ref host")
async def pool_eject(call, host):
    world, db = call.world, call.db
    db.get("host", host)
    async with pool_operation(call, db, "eject"):
        # the target first: the master cannot eject itself, a slave must be live and contactable
        if host == db.get("pool", the_pool(db))["master"]:
            raise XapiError("INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master")
        assert_can_forward(world, db, host)
        # eject_self on the target
        if ha_enabled(db):
            raise XapiError("HA_IS_ENABLED")
        if updating(db):
            raise XapiError("NOT_SUPPORTED_DURING_UPGRADE")
        for vm in db.get("host", host)["resident_VMs"]:
            record = db.get("VM", vm)
            if not record["is_control_domain"] and record["power_state"] != "Halted":
                raise XapiError("OPERATION_NOT_ALLOWED", "VM resident on host")
        machine = world.machine_of(db, host)
        pbds = list(db.get("host", host)["PBDs"])
        for pbd in pbds:
            db.set("PBD", pbd, currently_attached=False)
        if pbds:
            await world.sleep("pbd_plug")
        for pbd in pbds:
            if db.exists("PBD", pbd) and db.get("SR", db.get("PBD", pbd)["SR"])["PBDs"] == [pbd]:
                forget_sr(db, db.get("PBD", pbd)["SR"])
        # then the master deletes the host record (and, as DB GC would, what hangs off it)
        remove_host(db, host)
        db.set("pool", the_pool(db), cpu_info=pool_cpu_info(db))
    world.spawn(reset_after_eject(world, machine))


def forget_sr(db: Database, sr: str) -> None:
    """SR.forget: the SR, its PBDs and VDIs go from the database (the disks of VMs with
    them); the data stays on the disk, where the host's reset then wipes it."""
    record = db.get("SR", sr)
    for vdi in list(record["VDIs"]):
        for vbd in list(db.get("VDI", vdi)["VBDs"]):
            db.delete("VBD", vbd)
        for vm_ref in db.find("VM", suspend_VDI=vdi):
            db.set("VM", vm_ref, suspend_VDI=NULL_REF)
        db.delete("VDI", vdi)
    for pbd in list(record["PBDs"]):
        db.delete("PBD", pbd)
    db.delete("SR", sr)


def remove_host(db: Database, host: str) -> None:
    """Db.Host.destroy, its control domain, and the rows DB GC removes with it."""
    record = db.get("host", host)
    for vm in list(record["resident_VMs"]):
        vm_record = db.get("VM", vm)
        if vm_record["is_control_domain"]:
            for vbd in list(vm_record["VBDs"]):
                db.delete("VBD", vbd)
            db.delete("VM_metrics", vm_record["metrics"])
            db.delete("VM", vm)
    for vm in db.find("VM", affinity=host):
        db.set("VM", vm, affinity=NULL_REF)
    host_pifs = set(record["PIFs"])
    for ref, bond in list(db.all("Bond").items()):
        if bond["master"] in host_pifs:
            db.delete("Bond", ref)
    for ref, vlan in list(db.all("VLAN").items()):
        if vlan["untagged_PIF"] in host_pifs:
            db.delete("VLAN", ref)
    for cls in ("tunnel", "network_sriov"):
        for ref, row in list(db.all(cls).items()):
            if host_pifs & {v for k, v in row.items() if k.endswith("PIF")}:
                db.delete(cls, ref)
    for pif in host_pifs:
        db.delete("PIF_metrics", db.get("PIF", pif)["metrics"])
        db.delete("PIF", pif)
    for pbd in list(record["PBDs"]):
        db.delete("PBD", pbd)
    for cpu in list(record["host_CPUs"]):
        db.delete("host_cpu", cpu)
    for cls in ("Cluster_host", "PCI"):
        for ref in db.find(cls, host=host):
            db.delete(cls, ref)
    for ref, update in db.all("pool_update").items():
        if host in update["hosts"]:
            db.set("pool_update", ref, hosts=[h for h in update["hosts"] if h != host])
    db.delete("host_metrics", record["metrics"])
    db.delete("host", host)


async def reset_after_eject(world: World, machine: Machine | None) -> None:
    """The ejected host runs reset-and-reboot after the fuse and comes back as a fresh
    standalone host: same uuid, TLS verification off, empty local SRs, no VMs."""
    if machine is None:
        return
    await world.sleep("api_restart", FUSE)
    if machine.listener:
        await machine.listener.stop()
    machine.db, machine.host_ref, machine.master_address = None, "", None
    await world.sleep("eject_reset", lifecycle.restart_factor(world, machine))
    build_standalone(world, machine, with_vms=False)
    db = machine.db
    db.set("host", machine.host_ref, tls_verification_enabled=False)
    db.set("pool", the_pool(db), tls_verification_enabled=False)
    if machine.listener and machine.powered:
        await machine.listener.start()


# -- pool.designate_new_master -----------------------------------------------------------------
@api("pool.designate_new_master", "host ref host")
async def pool_designate_new_master(call, host):
    world, db, old = call.world, call.db, call.machine
    db.get("host", host)
    async with pool_operation(call, db, "designate_new_master"):
        if host == old.host_ref:
            return   # already the master: a no-op
        assert_can_forward(world, db, host)
        if ha_enabled(db):
            raise XapiError("HA_IS_ENABLED")
        new = world.machine_of(db, host)
        await world.sleep("master_transition", COMMIT)
    world.spawn(transition(world, db, old, new))


async def transition(world: World, db: Database, old: Machine, new: Machine) -> None:
    """After the commit: the old and the new master restart; the new one comes up as master
    of the same database, without sessions and tasks (xapi does not persist them).  A slow
    restart (fault) of the new master delays the whole transition; of the old one, only its
    own return."""
    await world.sleep("api_restart", FUSE)
    for machine in (old, new):
        if machine.listener:
            await machine.listener.stop()
    new_factor, old_factor = lifecycle.restart_factor(world, new), lifecycle.restart_factor(world, old)
    await world.sleep("master_transition", new_factor)
    pool = the_pool(db)
    for machine in world.machines:
        if machine.db is db:
            machine.master_address = None if machine is new else new.address
    db.set("pool", pool, master=new.host_ref, current_operations={})
    for ref in list(db.all("session")):
        destroy_session(world, db, ref)
    for ref in list(db.all("task")):
        db.delete("task", ref)
    late = [old] if old_factor > new_factor else []
    for machine in (old, new):
        if machine not in late:
            membership.agent_started(world, machine)
    for ref, host in db.all("host").items():
        machine = world.machine_of(db, ref)
        if machine is not None and machine.powered:
            db.set("host_metrics", host["metrics"], live=True, last_updated=DateTime.at(world.now()))
    new_uuid = db.get("host", new.host_ref)["uuid"]
    db.create("message", name="POOL_MASTER_TRANSITION", priority=4, cls="Host", obj_uuid=new_uuid,
              timestamp=DateTime.at(world.now() + new.spec.get("clock_offset", 0)), body="")
    for machine in (old, new):
        if machine not in late and machine.listener and machine.powered:
            await machine.listener.start()
    if late:
        await world.sleep("master_transition", old_factor - new_factor)
        if db.exists("host", old.host_ref):
            membership.agent_started(world, old)
        if old.listener and old.powered:
            await old.listener.start()


# -- recovery and removal ----------------------------------------------------------------------
@api("pool.emergency_transition_to_master", "", has_async=False, local=True)
async def pool_emergency_transition_to_master(call):
    """On a slave whose master is gone, with a local session: pool.conf now says master and xapi
    restarts (the fuse).  HA_IS_ENABLED while HA is armed on the host."""
    if ha_enabled(call.db):
        raise XapiError("HA_IS_ENABLED")
    call.world.spawn(become_master(call.world, call.machine))


async def become_master(world: World, machine: Machine) -> None:
    """Xapi_pool_transition.become_master, then xapi's start as master: it serves its copy of
    the pool database (the simulator's one database) with pool.master = itself, without
    sessions and tasks, and raises POOL_MASTER_TRANSITION.  The other slaves keep their master
    address until pool.recover_slaves (or emergency_reset_master) points them here.
    Simplification: the old master, should it come back, is this host's slave (in xapi it would
    come back as the master of its own, diverged, database)."""
    db = machine.db
    was_slave = not machine.is_master
    await world.sleep("api_restart", FUSE)
    if machine.listener:
        await machine.listener.stop()
    await world.sleep("api_restart", lifecycle.restart_factor(world, machine))
    if not machine.powered or machine.db is not db or not db.exists("host", machine.host_ref):
        return
    for other in world.machines:
        if other.db is db and other is not machine and other.is_master:
            other.master_address = machine.address
    machine.master_address = None
    db.set("pool", the_pool(db), master=machine.host_ref, current_operations={})
    lifecycle.forget_sessions(world, db)
    membership.agent_started(world, machine)
    db.set("host_metrics", db.get("host", machine.host_ref)["metrics"], live=True, last_updated=DateTime.at(world.now()))
    if was_slave:
        db.create("message", name="POOL_MASTER_TRANSITION", priority=4, cls="Host",
                  obj_uuid=db.get("host", machine.host_ref)["uuid"],
                  timestamp=DateTime.at(world.now() + machine.spec.get("clock_offset", 0)), body="")
    if machine.listener:
        await machine.listener.start()


@api("pool.emergency_reset_master", "string master_address", has_async=False, local=True)
async def pool_emergency_reset_master(call, master_address):
    """Points this host at another master: pool.conf is rewritten and xapi restarts, unless it
    is already that master's slave.  HA_IS_ENABLED while HA is armed on the host.  Not modelled
    on the pool's master itself (it would leave the simulated pool database without a master):
    there it only restarts xapi."""
    world, machine = call.world, call.machine
    if ha_enabled(call.db):
        raise XapiError("HA_IS_ENABLED")
    if machine.master_address == master_address:
        return   # "We are already a slave of ...; nothing to do"
    world.spawn(become_slave_of(world, machine, master_address))


async def become_slave_of(world: World, machine: Machine, master_address: str) -> None:
    await world.sleep("api_restart", FUSE)
    if machine.listener:
        await machine.listener.stop()
    await world.sleep("api_restart", lifecycle.restart_factor(world, machine))
    if not machine.powered:
        return
    if not machine.is_master:
        machine.master_address = master_address
    if machine.db is not None and machine.db.exists("host", machine.host_ref):
        membership.agent_started(world, machine)
    if machine.listener:
        await machine.listener.start()


@api("pool.recover_slaves", "", "host ref set")
async def pool_recover_slaves(call):
    """emergency_reset_master(<my address>) on every other host, without a liveness check;
    the hosts that answered are returned.  (Their xapi restart is not modelled here.)"""
    world, db, me = call.world, call.db, call.machine
    recovered = []
    for ref in list(db.all("host")):
        machine = world.machine_of(db, ref)
        if ref == me.host_ref or not is_reachable(machine):
            continue
        machine.master_address = me.address
        recovered.append(ref)
    return recovered


@api("host.destroy", "host ref self")
async def host_destroy(call, self):
    """Removes the record of a dead host."""
    world, db = call.world, call.db
    record = db.get("host", self)
    live = db.get("host_metrics", record["metrics"])["live"] and is_reachable(world.machine_of(db, self))
    if live or self == call.machine.host_ref:
        raise XapiError("HOST_IS_LIVE", self)
    if ha_enabled(db):
        raise XapiError("HA_IS_ENABLED")
    if any(not db.get("VM", vm)["is_control_domain"] for vm in record["resident_VMs"]):
        raise XapiError("HOST_HAS_RESIDENT_VMS", self)
    remove_host(db, self)
    db.set("pool", the_pool(db), cpu_info=pool_cpu_info(db))
