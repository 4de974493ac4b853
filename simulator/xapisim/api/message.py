"""Messages (alerts) xapi creates, e.g. VM_STARTED or HOST_CLOCK_SKEW_DETECTED; get_record,
get_all, get_all_records and get_by_uuid are generated (api/implicit.py).  Others create
messages with `lifecycle.create_message`.  Source: ocaml/xapi/xapi_message.ml."""
from __future__ import annotations

from .. import lifecycle
from ..dispatch import api
from ..errors import XapiError

_UUID_CLASSES = {"VM": "VM", "Host": "host", "SR": "SR", "Pool": "pool", "VDI": "VDI", "Certificate": "Certificate",
                 "VMPP": "VMPP", "VMSS": "VMSS", "PVS_proxy": "PVS_proxy"}


def _instant(timestamp: str) -> str:
    """A datetime in a comparable form: 2024-01-02T03:04:05Z and 20240102T03:04:05Z alike."""
    return timestamp.replace("-", "").replace(":", "").rstrip("Z")


@api("message.create", "string name, int priority, enum cls cls, string obj_uuid, string body", "message ref",
     has_async=False)
async def create(call, name, priority, cls, obj_uuid, body):
    found = call.db.by_uuid.get(obj_uuid)
    if found is None or found[0] != _UUID_CLASSES.get(cls):
        raise XapiError("UUID_INVALID", cls, obj_uuid)
    return lifecycle.create_message(call.db, name, priority, cls, obj_uuid, body,
                                     lifecycle.master_clock(call.world, call.db))


@api("message.destroy", "message ref self", has_async=False)
async def destroy(call, self):
    call.db.get("message", self)
    call.db.delete("message", self)


@api("message.destroy_many", "message ref set messages", has_async=False)
async def destroy_many(call, messages):
    for ref in messages:
        call.db.get("message", ref)
    for ref in messages:
        call.db.delete("message", ref)


@api("message.get", "enum cls cls, string obj_uuid, datetime since", "(message ref -> message record) map",
     has_async=False)
async def get(call, cls, obj_uuid, since):
    return {ref: m for ref, m in call.db.all("message").items()
            if m["cls"] == cls and m["obj_uuid"] == obj_uuid and _instant(m["timestamp"]) > _instant(since)}


@api("message.get_since", "datetime since", "(message ref -> message record) map", has_async=False)
async def get_since(call, since):
    return {ref: m for ref, m in call.db.all("message").items() if _instant(m["timestamp"]) > _instant(since)}
