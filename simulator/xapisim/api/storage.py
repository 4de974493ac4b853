"""Storage: SR, PBD and VDI calls (BEHAVIOUR.md §5; ocaml/xapi/xapi_sr.ml, xapi_pbd.ml,
xapi_sr_operations.ml, xapi_vdi.ml and their message_forwarding.ml wrappers).

Storage operations mark the SR (`current_operations`) for their duration, as `with_sr_marked`
does; an operation that conflicts with a running one waits for it, as xapi retries
OTHER_OPERATION_IN_PROGRESS, and every other check fails at once.  The pool's default, suspend
image and crash dump SRs are plain setters of pool fields (implicit messages)."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from .. import storage
from ..db import new_ref, new_uuid
from ..dispatch import api, unmarshal
from ..storage import operation_error, sm_of, update_allowed_operations
from ..errors import XapiError
from ..factory import the_pool
from ..model import CLASSES, NULL_REF


RETRY_POLL = 0.01   # real seconds between checks while another operation holds the SR


# -- helpers ---------------------------------------------------------------------------
def master_of(db) -> str:
    return db.get("pool", the_pool(db))["master"]


def assert_live(db, host: str) -> None:
    """A call forwarded to a host that is down: HOST_OFFLINE [host]."""
    metrics = db.get("host", host)["metrics"]
    if not (db.exists("host_metrics", metrics) and db.get("host_metrics", metrics)["live"]):
        raise XapiError("HOST_OFFLINE", host)


def record_arg(cls: str, args: dict, required: tuple[str, ...]) -> dict:
    """A constructor's record: the RW and RO/constructor fields, unmarshalled; a missing field
    without a default fails as xapi's generated server does."""
    out = {}
    for name, field in CLASSES[cls].items():
        if field.qualifier == "RO/runtime":
            continue
        if name in args:
            try:
                out[name] = unmarshal(field.type, args[name])
            except XapiError:
                raise
            except Exception as e:   # dispatch's unmarshalling failure carries the xapi error
                raise getattr(e, "error", XapiError("INTERNAL_ERROR", str(e))) from None
        elif name in required:
            raise XapiError("INTERNAL_ERROR", f'Server_helpers.Dispatcher_FieldNotFound("{name}")')
    return out


@asynccontextmanager
async def sr_marked(call, sr: str, op: str):
    """with_sr_marked: wait while another operation holds the SR, fail on any other error."""
    db = call.db
    while True:
        error = operation_error(db, sr, op)
        if error is None:
            break
        if error.code != "OTHER_OPERATION_IN_PROGRESS":
            raise error
        call.check_cancelled()
        await asyncio.sleep(RETRY_POLL)
    current = db.get("SR", sr)["current_operations"]
    # the call's task, or a task of its own for each of SR.create's parallel plugs
    key = call.task if call.task and call.task not in current else new_ref()
    db.set("SR", sr, current_operations={**current, key: op})
    update_allowed_operations(db, sr)
    try:
        yield
    finally:
        if db.exists("SR", sr):
            db.set("SR", sr, current_operations={k: v for k, v in db.get("SR", sr)["current_operations"].items() if k != key})
            update_allowed_operations(db, sr)


def new_pbd(db, sr: str, host: str, device_config: dict) -> str:
    """Xapi_pbd.create_common: one PBD per host and SR; its own copy of the secrets."""
    for p in db.get("SR", sr)["PBDs"]:
        if db.get("PBD", p)["host"] == host:
            raise XapiError("PBD_EXISTS", sr, host, p)
    if "SRmaster" in device_config:
        raise XapiError("VALUE_NOT_SUPPORTED", "SRmaster", device_config["SRmaster"], "This key is for internal use only")
    config = storage.duplicate_secrets(db, device_config)
    return db.create("PBD", host=host, SR=sr, device_config=config, currently_attached=False, other_config={})


async def plug(call, pbd: str) -> None:
    """PBD.plug as message_forwarding runs it: SR marked, forwarded to the PBD's host, the
    driver's attach (taking the lab's pbd_plug time), then the master's initial scan."""
    db, world = call.db, call.world
    record = db.get("PBD", pbd)
    sr = record["SR"]
    async with sr_marked(call, sr, "plug"):
        if record["host"] != master_of(db):
            assert_live(db, record["host"])
        if sm_of(db, db.get("SR", sr)["type"]) is None:   # Storage_access.bind
            raise XapiError("SR_UNKNOWN_DRIVER", db.get("SR", sr)["type"])
        if db.get("PBD", pbd)["currently_attached"]:
            return
        storage.check_sharing(db, sr, record["host"])
        await world.sleep("pbd_plug")
        if not db.exists("PBD", pbd):
            raise XapiError("HANDLE_INVALID", "PBD", pbd)
        if db.get("PBD", pbd)["currently_attached"]:
            return
        storage.attach(world, db, pbd)
        storage.plugged(world, db, pbd)


# -- SR --------------------------------------------------------------------------------
@api("SR.create", "host ref host, (string -> string) map device_config, int physical_size, string name_label, "
     "string name_description, string type, string content_type, bool shared, (string -> string) map sm_config",
     "SR ref", defaults=1)
async def sr_create(call, host, device_config, physical_size, name_label, name_description, type_,
                    content_type, shared, sm_config=None):
    db, world = call.db, call.world
    device_config = storage.move_passwords_to_secrets(db, device_config)
    if not shared:   # forwarded to `host`; a shared SR is made on the master whatever `host` says
        db.get("host", host)
        if host != master_of(db):
            assert_live(db, host)
    sr_type = type_.lower()
    # the SR and its PBDs are in the database before the backend runs (it reads sm_config)
    sr = db.create("SR", uuid=new_uuid(), name_label=name_label, name_description=name_description, type=sr_type,
                   content_type=content_type, shared=shared, sm_config=dict(sm_config or {}), other_config={},
                   physical_size=-1, physical_utilisation=-1, virtual_allocation=0)
    pbds = []
    try:
        master = master_of(db)
        hosts = [master, *[h for h in db.all("host") if h != master]] if shared else [host]
        for h in hosts:
            pbds.append(new_pbd(db, sr, h, device_config))
        if sm_of(db, sr_type) is None:
            raise XapiError("SR_UNKNOWN_DRIVER", sr_type)
        if sr_type == "lvmoiscsi" and device_config.get("SCSIid") and any(
                p["device_config"].get("SCSIid") == device_config["SCSIid"] and p["SR"] != sr
                for p in db.all("PBD").values()):
            raise XapiError("SR_DEVICE_IN_USE")   # the driver's SRInUse (16), as sm_exec maps it
        call.progress(0.1)
        await world.sleep("pbd_plug")   # mount, make the SR's directory or volume group, unmount
        first = db.get("PBD", pbds[0])
        server, where = storage.backend(world, db, first["host"], sr_type, first["device_config"], "create",
                                        db.get("SR", sr)["uuid"])
    except XapiError:
        for p in pbds:   # Db.PBD.destroy: the PBDs' secret copies stay behind, as in xapi
            db.delete("PBD", p)
        db.delete("SR", sr)
        raise
    if server is not None:
        storage.create_on_server(server, db.get("SR", sr)["uuid"], sr_type, where)
    elif physical_size > 0:   # a local disk, which the lab does not model: the size asked for
        db.set("SR", sr, physical_size=physical_size, physical_utilisation=0)
    # the backend hands back the device_config it was given (the master PBD's), set on every PBD
    config = dict(db.get("PBD", pbds[0])["device_config"])
    for p in pbds:
        db.set("PBD", p, device_config=dict(config))
    update_allowed_operations(db, sr)
    call.progress(0.5)

    async def try_plug(pbd):
        try:
            await plug(call, pbd)
        except XapiError:
            pass   # SR.create does not fail on a plug failure: that PBD stays unplugged

    await asyncio.gather(*(try_plug(p) for p in pbds))
    return sr


@api("SR.probe", "host ref host, (string -> string) map device_config, string type, (string -> string) map sm_config",
     "string", defaults=1)
async def sr_probe(call, host, device_config, type_, sm_config=None):
    db, world = call.db, call.world
    device_config = storage.move_passwords_to_secrets(db, device_config)
    db.get("host", host)
    if host != master_of(db):
        assert_live(db, host)
    sr_type = type_.lower()
    if sm_of(db, sr_type) is None:
        raise XapiError("SR_UNKNOWN_DRIVER", sr_type)
    await world.sleep("pbd_plug")   # a probe mounts and scans like an attach
    return storage.backend(world, db, host, sr_type, device_config, "probe")


@api("SR.introduce", "string uuid, string name_label, string name_description, string type, string content_type, "
     "bool shared, (string -> string) map sm_config", "SR ref", defaults=1)
async def sr_introduce(call, uuid, name_label, name_description, type_, content_type, shared, sm_config=None):
    db = call.db
    uuid = uuid or new_uuid()
    if uuid in db.by_uuid:
        raise XapiError("SR_UUID_EXISTS", uuid)
    sr = db.create("SR", uuid=uuid, name_label=name_label, name_description=name_description, type=type_.lower(),
                   content_type=content_type, shared=shared, sm_config=dict(sm_config or {}), other_config={},
                   physical_size=-1, physical_utilisation=-1, virtual_allocation=0)
    update_allowed_operations(db, sr)
    return sr


def forget_records(call, sr: str) -> None:
    """Xapi_sr.really_forget: PBDs (with their secrets), VDIs, then the SR; the data stays."""
    db = call.db
    record = db.get("SR", sr)
    for p in list(record["PBDs"]):
        storage.clean_out_secrets(db, db.get("PBD", p)["device_config"])
        db.delete("PBD", p)
    for v in list(record["VDIs"]):
        for vbd in list(db.get("VDI", v)["VBDs"]):   # the GC would remove VBDs of a VDI gone
            db.delete("VBD", vbd)
        db.delete("VDI", v)
    db.delete("SR", sr)


@api("SR.forget", "SR ref sr")
async def sr_forget(call, sr):
    db = call.db
    async with sr_marked(call, sr, "forget"):
        storage.remember_vdis(call.world, db, sr)
        forget_records(call, sr)


@api("SR.destroy", "SR ref sr")
async def sr_destroy(call, sr):
    db, world = call.db, call.world
    async with sr_marked(call, sr, "destroy"):
        record = db.get("SR", sr)
        if record["other_config"].get("indestructible") == "true":
            raise XapiError("SR_INDESTRUCTIBLE", sr)
        for h, host in db.all("host").items():
            if host["local_cache_sr"] == sr:
                raise XapiError("SR_IS_CACHE_SR", h)
        master = master_of(db)
        pbds = sorted(record["PBDs"], key=lambda p: db.get("PBD", p)["host"] != master)
        pbd = db.get("PBD", pbds[0])
        if pbd["host"] != master:
            assert_live(db, pbd["host"])
        sm = sm_of(db, record["type"])
        if sm is None:
            raise XapiError("SR_UNKNOWN_DRIVER", record["type"])
        # Storage_access.destroy_sr attaches the SR first, then the driver deletes it
        await world.sleep("pbd_plug")
        server, _ = storage.backend(world, db, pbd["host"], record["type"], pbd["device_config"], "attach", record["uuid"])
        if not sm["features"].get("SR_DELETE"):
            raise XapiError("SR_OPERATION_NOT_SUPPORTED", sr)
        if server is not None:
            storage.destroy_on_server(server, record["uuid"])
        storage.clean_out_secrets(db, record["sm_config"])
        forget_records(call, sr)


def attached_pbd(db, sr: str) -> dict:
    """forward_sr_op: a host with the SR plugged, the master first; SR_HAS_NO_PBDS if none."""
    master = master_of(db)
    pbds = [db.get("PBD", p) for p in db.get("SR", sr)["PBDs"] if db.get("PBD", p)["currently_attached"]]
    if not pbds:
        raise XapiError("SR_HAS_NO_PBDS", sr)
    pbds.sort(key=lambda p: p["host"] != master)
    if pbds[0]["host"] != master:
        assert_live(db, pbds[0]["host"])
    return pbds[0]


@api("SR.scan", "SR ref sr")
async def sr_scan(call, sr):
    db = call.db
    async with sr_marked(call, sr, "scan"):
        attached_pbd(db, sr)
        storage.scan(call.world, db, sr)


@api("SR.update", "SR ref sr")
async def sr_update(call, sr):
    db = call.db
    error = operation_error(db, sr, "update")   # lock-free since CA-27630: only the SM check
    if error is not None and error.code != "OTHER_OPERATION_IN_PROGRESS":
        raise error
    attached_pbd(db, sr)
    server, _ = storage.where_is(call.world, db, sr)
    if server is not None and not storage.is_up(call.world, server):
        raise storage.sm_error("SRUnavailable")
    storage.update_sizes(call.world, db, sr)


# -- PBD -------------------------------------------------------------------------------
@api("PBD.create", "PBD record args", "PBD ref")
async def pbd_create(call, args):
    db = call.db
    fields = record_arg("PBD", args, required=("host", "SR", "device_config"))
    device_config = storage.move_passwords_to_secrets(db, fields["device_config"])
    db.get("host", fields["host"])
    async with sr_marked(call, fields["SR"], "pbd_create"):
        # Xapi_pbd.create ignores the record's other_config
        return new_pbd(db, fields["SR"], fields["host"], device_config)


@api("PBD.destroy", "PBD ref self")
async def pbd_destroy(call, self):
    db = call.db
    sr = db.get("PBD", self)["SR"]
    async with sr_marked(call, sr, "pbd_destroy"):
        record = db.get("PBD", self)
        if record["currently_attached"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "PBD is currently attached")
        db.delete("PBD", self)
        storage.clean_out_secrets(db, record["device_config"])


@api("PBD.plug", "PBD ref self")
async def pbd_plug(call, self):
    await plug(call, self)


def active_vdis(db, pbd: dict) -> list[str]:
    """Xapi_pbd.get_active_vdis_by_pbd: VDIs of the SR attached to VMs running on the host."""
    vdis = []
    for vm in db.all("VM").values():
        if vm["resident_on"] != pbd["host"]:
            continue
        for v in vm["VBDs"]:
            vbd = db.get("VBD", v)
            if (vbd["currently_attached"] or vbd.get("reserved")) and not vbd["empty"] \
                    and db.exists("VDI", vbd["VDI"]) and db.get("VDI", vbd["VDI"])["SR"] == pbd["SR"]:
                vdis.append(vbd["VDI"])
    return vdis


@api("PBD.unplug", "PBD ref self")
async def pbd_unplug(call, self):
    db, world = call.db, call.world
    record = db.get("PBD", self)
    sr = record["SR"]
    async with sr_marked(call, sr, "unplug"):
        if record["host"] != master_of(db):
            assert_live(db, record["host"])
        if not db.get("PBD", self)["currently_attached"]:
            return
        pool = db.get("pool", the_pool(db))
        sr_vdis = db.get("SR", sr)["VDIs"]
        if db.get("host", record["host"])["enabled"] and pool["ha_enabled"] and not pool["ha_allow_overcommit"]:
            for vm in db.all("VM").values():
                if vm["ha_restart_priority"] == "restart" and any(db.get("VBD", b)["VDI"] in sr_vdis for b in vm["VBDs"]):
                    raise XapiError("HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", sr)
        if pool["ha_enabled"] and any(db.exists("VDI", v) and db.get("VDI", v)["SR"] == sr for v in pool["ha_statefiles"]):
            raise XapiError("HA_IS_ENABLED")
        in_use = [v for v in active_vdis(db, record) if db.get("VDI", v)["type"] != "metadata"]
        if in_use:
            raise XapiError("VDI_IN_USE", *in_use)
        await world.sleep("pbd_plug", 0.5)   # the driver's detach: an unmount
        if db.exists("PBD", self):
            db.set("PBD", self, currently_attached=False)


# -- VDI -------------------------------------------------------------------------------
@api("VDI.create", "VDI record args", "VDI ref")
async def vdi_create(call, args):
    db, world = call.db, call.world
    fields = record_arg("VDI", args, required=("SR", "virtual_size", "type", "sharable", "read_only", "other_config"))
    sr = fields["SR"]
    if fields["type"] == "cbt_metadata":
        raise XapiError("VDI_INCOMPATIBLE_TYPE", "", "cbt_metadata")
    async with sr_marked(call, sr, "vdi_create"):
        attached_pbd(db, sr)   # Sm.assert_pbd_is_plugged on the host it runs on
        record = db.get("SR", sr)
        size, taken = storage.new_vdi_size(record["type"], fields["virtual_size"])
        server, where = storage.where_is(world, db, sr)
        if server is not None:
            if not storage.is_up(world, server):
                raise storage.sm_error("SRUnavailable")
            if taken > storage.capacity(server, record["type"], where) - storage.used(server, record["type"], where):
                raise storage.sm_error("SRNoSpace")
        uuid = new_uuid()
        vdi = db.create("VDI", uuid=uuid, name_label=fields.get("name_label", ""),
                        name_description=fields.get("name_description", ""), SR=sr, virtual_size=size,
                        physical_utilisation=taken, type=fields["type"], sharable=fields["sharable"],
                        read_only=fields["read_only"], other_config=fields["other_config"],
                        xenstore_data=fields.get("xenstore_data", {}), sm_config=fields.get("sm_config", {}),
                        tags=fields.get("tags", []), managed=True, location=uuid)
        if server is not None:
            storage.server_sr(server, record["uuid"], record["type"], where)["vdis"][uuid] = storage.disk_of(db.get("VDI", vdi))
        storage.update_sizes(world, db, sr)
        return vdi


@api("VDI.destroy", "VDI ref self")
async def vdi_destroy(call, self):
    db, world = call.db, call.world
    sr = db.get("VDI", self)["SR"]
    async with sr_marked(call, sr, "vdi_destroy"):
        attached_pbd(db, sr)
        vdi = db.get("VDI", self)
        if not vdi["managed"]:
            raise XapiError("VDI_NOT_MANAGED", self)
        vbds = list(vdi["VBDs"])
        if any(db.get("VBD", b)["currently_attached"] or db.get("VBD", b).get("reserved") for b in vbds):
            raise XapiError("VDI_IN_USE", self, "destroy")
        server, where = storage.where_is(world, db, sr)
        if server is not None:
            if not storage.is_up(world, server):
                raise storage.sm_error("SRUnavailable")
            storage.server_sr(server, db.get("SR", sr)["uuid"], db.get("SR", sr)["type"], where)["vdis"].pop(vdi["uuid"], None)
        db.delete("VDI", self)
        for b in vbds:
            db.delete("VBD", b)
        for ref, vm in db.all("VM").items():
            if vm["suspend_VDI"] == self:
                db.set("VM", ref, suspend_VDI=NULL_REF)
        storage.update_sizes(world, db, sr)


# SR and VDI names are set through explicit messages (xapi also renames the SM's copy); SR's
# take the parameter `sr`, VDI's `self`, as the datamodel names them.
def _name_setter(cls: str, field: str):
    async def set_name(call, ref, value):
        call.db.get(cls, ref)
        call.db.set(cls, ref, **{field: value})
    return set_name


for _cls, _param in (("SR", "sr"), ("VDI", "self")):
    for _field in ("name_label", "name_description"):
        api(f"{_cls}.set_{_field}", f"{_cls} ref {_param}, string value", has_async=True)(_name_setter(_cls, _field))
