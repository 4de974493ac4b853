"""One pool's database: records by class and ref, derived set fields, and the event log.

Every change bumps a generation counter and stamps the object with it (created, modified);
`event.from` tokens are generations, so a waiter gets the latest state of every object touched
since its token (coalesced, as xapi does).
"""
from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections import OrderedDict

from .errors import XapiError
from .model import CLASSES, NULL_REF, default_value

# (class holding the set, set field, class holding the ref, ref field): xapi derives the set
# side of these one-to-many relations from the ref side.
RELATIONS = [
    ("host", "resident_VMs", "VM", "resident_on"),
    ("host", "PIFs", "PIF", "host"),
    ("host", "PBDs", "PBD", "host"),
    ("host", "host_CPUs", "host_cpu", "host"),
    ("SR", "PBDs", "PBD", "SR"),
    ("SR", "VDIs", "VDI", "SR"),
    ("network", "PIFs", "PIF", "network"),
    ("network", "VIFs", "VIF", "network"),
    ("VM", "VBDs", "VBD", "VM"),
    ("VM", "VIFs", "VIF", "VM"),
    ("VDI", "VBDs", "VBD", "VDI"),
    ("Bond", "slaves", "PIF", "bond_slave_of"),
    ("PIF", "bond_master_of", "Bond", "master"),
    ("PIF", "VLAN_slave_of", "VLAN", "tagged_PIF"),
    ("task", "subtasks", "task", "subtask_of"),
]


# class -> (names of its int fields, names of its float fields)
_NUMBER_FIELDS = {cls: ({n for n, f in spec.items() if f.type == "int"}, {n for n, f in spec.items() if f.type == "float"})
                  for cls, spec in CLASSES.items()}


def new_ref() -> str:
    return f"OpaqueRef:{uuidlib.uuid4()}"


def new_uuid() -> str:
    return str(uuidlib.uuid4())


class Database:
    def __init__(self, name: str = ""):
        self.name = name
        self.tables: dict[str, dict[str, dict]] = {cls: {} for cls in CLASSES}
        self.by_uuid: dict[str, tuple[str, str]] = {}
        self.generation = 0
        # (class, ref) -> generation of the last change, oldest first
        self._touched: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._created: dict[tuple[str, str], int] = {}
        # (generation of the deletion, generation of the creation, class, ref), oldest first
        self._deleted: list[tuple[int, int, str, str]] = []
        self._waiters: list[asyncio.Future] = []
        # relation indexes: (ref class, ref field) -> (set class, set field)
        self._relations = {
            (rc, rf): (sc, sf)
            for sc, sf, rc, rf in RELATIONS
            if sc in CLASSES and rc in CLASSES and sf in CLASSES[sc] and rf in CLASSES[rc]
        }
        self._relations_by_class: dict[str, list[tuple[str, str, str]]] = {}
        for (rc, rf), (sc, sf) in self._relations.items():
            self._relations_by_class.setdefault(rc, []).append((rf, sc, sf))

    # -- reads -------------------------------------------------------------------------
    def get(self, cls: str, ref: str) -> dict:
        try:
            return self.tables[cls][ref]
        except KeyError:
            raise XapiError("HANDLE_INVALID", cls, ref) from None

    def exists(self, cls: str, ref: str) -> bool:
        return ref in self.tables.get(cls, {})

    def all(self, cls: str) -> dict[str, dict]:
        return self.tables[cls]

    def find(self, cls: str, **match) -> list[str]:
        return [ref for ref, rec in self.tables[cls].items() if all(rec.get(k) == v for k, v in match.items())]

    def find_one(self, cls: str, **match) -> str | None:
        refs = self.find(cls, **match)
        return refs[0] if refs else None

    def by_uuid_ref(self, cls: str, uuid: str) -> str:
        found = self.by_uuid.get(uuid)
        if found is None or found[0] != cls:
            raise XapiError("UUID_INVALID", cls, uuid)
        return found[1]

    # -- writes ------------------------------------------------------------------------
    def create(self, cls: str, /, ref: str | None = None, **fields) -> str:   # /: message has a field "cls"
        ref = ref or new_ref()
        spec = CLASSES[cls]
        record = {name: default_value(f.type) for name, f in spec.items()}
        unknown = set(fields) - set(spec)
        if unknown:
            raise KeyError(f"{cls} has no fields {sorted(unknown)}")
        self._coerce(cls, fields)
        record.update(fields)
        if "uuid" in spec and not record["uuid"]:
            record["uuid"] = new_uuid()
        self.tables[cls][ref] = record
        if "uuid" in spec:
            self.by_uuid[record["uuid"]] = (cls, ref)
        self._touch(cls, ref, created=True)
        for rf, sc, sf in self._relations_by_class.get(cls, ()):
            self._link(sc, sf, record[rf], ref)
        return ref

    def set(self, cls: str, ref: str, /, **fields) -> None:
        record = self.get(cls, ref)
        self._coerce(cls, fields)
        for rf, sc, sf in self._relations_by_class.get(cls, ()):
            if rf in fields and fields[rf] != record[rf]:
                self._unlink(sc, sf, record[rf], ref)
                self._link(sc, sf, fields[rf], ref)
        record.update(fields)
        self._touch(cls, ref)

    def delete(self, cls: str, ref: str) -> None:
        record = self.tables[cls].pop(ref, None)
        if record is None:
            return
        if "uuid" in record:
            self.by_uuid.pop(record["uuid"], None)
        for rf, sc, sf in self._relations_by_class.get(cls, ()):
            self._unlink(sc, sf, record[rf], ref)
        key = (cls, ref)
        self._touched.pop(key, None)
        self.generation += 1
        self._deleted.append((self.generation, self._created.pop(key, 0), cls, ref))
        self._wake()

    def _coerce(self, cls: str, fields: dict) -> None:
        """Numbers as their field's type, whatever arithmetic made them: an `int` field holding
        a float would go on the wire as a <double>."""
        ints, floats = _NUMBER_FIELDS[cls]
        for name, value in fields.items():
            if name in ints and type(value) is float and value.is_integer():
                fields[name] = int(value)
            elif name in floats and type(value) is int:
                fields[name] = float(value)

    def _link(self, sc: str, sf: str, owner: str, ref: str) -> None:
        if owner != NULL_REF and owner in self.tables[sc]:
            self.tables[sc][owner][sf].append(ref)
            self._touch(sc, owner)

    def _unlink(self, sc: str, sf: str, owner: str, ref: str) -> None:
        rec = self.tables[sc].get(owner)
        if rec is not None and ref in rec[sf]:
            rec[sf].remove(ref)
            self._touch(sc, owner)

    def _touch(self, cls: str, ref: str, created: bool = False) -> None:
        self.generation += 1
        key = (cls, ref)
        self._touched[key] = self.generation
        self._touched.move_to_end(key)
        if created:
            self._created[key] = self.generation
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # -- events ------------------------------------------------------------------------
    def changes_since(self, since: int, wanted) -> tuple[list[dict], int]:
        """Event records for the objects `wanted(cls, ref)` selects that changed after generation
        `since`, and the generation a client has then seen, as xapi's event.from computes them:
        an object created after `since` is one `add` (latest state), one changed is one `mod`,
        one deleted is a `del` without snapshot unless it was also created after `since` (then
        nothing).  Tokens advance only over changes the subscription selects."""
        adds, mods, dels = [], [], []
        last = since
        for (cls, ref), modified in reversed(self._touched.items()):
            if modified <= since:
                break
            if not wanted(cls, ref):
                continue
            last = max(last, modified)
            created = self._created.get((cls, ref), 0)
            if created > since:
                adds.append(self._event(created, cls, ref, "add"))
            else:
                mods.append(self._event(modified, cls, ref, "mod"))
        for deleted, created, cls, ref in reversed(self._deleted):
            if deleted <= since:
                break
            if not wanted(cls, ref):
                continue
            last = max(last, deleted)
            if created <= since:
                dels.append({"id": str(deleted), "timestamp": "0.0", "class": cls.lower(), "operation": "del", "ref": ref})
        adds.reverse()
        mods.reverse()
        dels.reverse()
        return adds + mods + dels, last

    def _event(self, gen: int, cls: str, ref: str, op: str) -> dict:
        return {"id": str(gen), "timestamp": "0.0", "class": cls.lower(), "operation": op, "ref": ref,
                "snapshot": self.tables[cls][ref]}

    async def wait_for_change(self, timeout: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
