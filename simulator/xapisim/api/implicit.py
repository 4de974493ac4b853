"""The messages xapi generates for every class from its fields."""
from __future__ import annotations

from ..errors import XapiError
from ..model import CLASSES
from . import Message, register

# Where the datamodel lacks generated messages (the fidelity test checks these).
_NO_GET_ALL = {"session"}
_NO_NAME_LOOKUP = {"pool"}
_NO_FIELD_MESSAGES = {"message"}   # message has only explicit get_record/get_all*/get_by_uuid
# An empty map key: the database raises Db_exn.Empty_key_in_map, which reaches the client as is.
EMPTY_KEY = "Db_exn.Empty_key_in_map"


def _message(cls, name, params, result, handler):
    register(Message(cls, name, params, result, handler, implicit=True, has_async=False))


def _make(cls: str) -> None:
    fields = CLASSES[cls]
    ref_t = f"{cls} ref"

    async def get_record(call, self):
        return call.db.get(cls, self)

    async def get_all(call):
        return list(call.db.all(cls))

    async def get_all_records(call):
        return call.db.all(cls)

    async def get_by_uuid(call, uuid):
        return call.db.by_uuid_ref(cls, uuid)

    async def get_by_name_label(call, label):
        return call.db.find(cls, name_label=label)

    explicit = cls in _NO_FIELD_MESSAGES
    register(Message(cls, "get_record", [(ref_t, "self")], f"{cls} record", get_record,
                     implicit=not explicit, has_async=False))
    if cls not in _NO_GET_ALL:
        register(Message(cls, "get_all", [], f"{ref_t} set", get_all, implicit=not explicit, has_async=False))
        register(Message(cls, "get_all_records", [], f"({ref_t} -> {cls} record) map", get_all_records,
                         implicit=not explicit, has_async=False))
    if "uuid" in fields:
        register(Message(cls, "get_by_uuid", [("string", "uuid")], ref_t, get_by_uuid,
                         implicit=not explicit, has_async=False))
    if "name_label" in fields and cls not in _NO_NAME_LOOKUP:
        _message(cls, "get_by_name_label", [("string", "label")], f"{ref_t} set", get_by_name_label)
    if explicit:
        return
    for f in fields.values():
        _make_field(cls, ref_t, f)


def _make_field(cls, ref_t, f) -> None:
    name = f.name

    async def getter(call, self):
        return call.db.get(cls, self)[name]

    _message(cls, f"get_{name}", [(ref_t, "self")], f.type, getter)
    if not f.writable:
        return

    async def setter(call, self, value):
        call.db.get(cls, self)
        if f.type.endswith(" map") and "" in value:
            raise XapiError("INTERNAL_ERROR", EMPTY_KEY)
        call.db.set(cls, self, **{name: value})

    _message(cls, f"set_{name}", [(ref_t, "self"), (f.type, "value")], "void", setter)
    if f.type.endswith(" map"):
        key_t, value_t = f.type[1:].split(") map")[0].split(" -> ")

        async def add_to(call, self, key, value):
            current = call.db.get(cls, self)[name]
            if key == "":
                raise XapiError("INTERNAL_ERROR", EMPTY_KEY)
            if key in current:
                # the master's database adds to maps non-idempotently: even the same value fails
                raise XapiError("MAP_DUPLICATE_KEY", cls, name, self, key)
            call.db.set(cls, self, **{name: {**current, key: value}})

        async def remove_from(call, self, key):
            current = call.db.get(cls, self)[name]
            call.db.set(cls, self, **{name: {k: v for k, v in current.items() if k != key}})

        _message(cls, f"add_to_{name}", [(ref_t, "self"), (key_t, "key"), (value_t, "value")], "void", add_to)
        _message(cls, f"remove_from_{name}", [(ref_t, "self"), (key_t, "key")], "void", remove_from)
    elif f.type.endswith(" set"):
        elem_t = f.type[:-4]

        async def add(call, self, value):
            current = call.db.get(cls, self)[name]
            if value not in current:
                call.db.set(cls, self, **{name: [value, *current]})   # xapi prepends

        async def remove(call, self, value):
            current = call.db.get(cls, self)[name]
            call.db.set(cls, self, **{name: [v for v in current if v != value]})

        _message(cls, f"add_{name}", [(ref_t, "self"), (elem_t, "value")], "void", add)
        _message(cls, f"remove_{name}", [(ref_t, "self"), (elem_t, "value")], "void", remove)


def register_all() -> None:
    for cls in CLASSES:
        _make(cls)
