"""From a decoded call to a result: method lookup, argument checks, sessions, Async tasks,
latency and faults, and the call log."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .api import REGISTRY, Message, register
from .errors import XapiError
from .model import ENUMS, NULL_REF, DateTime
from .wire import xml_value

if TYPE_CHECKING:
    from .db import Database
    from .world import Machine, World

SCRUBBED = "******"


def api(wire_name: str, params: str = "", result: str = "void", *, session: bool = True,
        has_async: bool = True, defaults: int = 0, kind: str = "write"):
    """Register an explicit message.  `params` is "type name, type name" in datamodel types."""
    cls, name = wire_name.split(".", 1)
    parsed = [tuple(p.strip().rsplit(" ", 1)) for p in params.split(",") if p.strip()]

    def decorate(fn):
        register(Message(cls, name, parsed, result, fn, session=session, has_async=has_async,
                         defaults=defaults, kind=kind))
        return fn
    return decorate


@dataclass
class Call:
    """What a handler knows about the call it serves."""
    world: "World"
    machine: "Machine"          # the host whose endpoint received the call
    db: "Database"              # that host's pool database
    message: Message
    session: str | None = None  # session ref
    task: str | None = None     # the task of an Async call
    originator: str = ""
    cancelled: bool = field(default=False)

    def check_cancelled(self) -> None:
        if self.task and self.db.exists("task", self.task) and "cancel" in self.db.get("task", self.task)["current_operations"].values():
            raise XapiError("TASK_CANCELLED", self.task)

    def progress(self, value: float) -> None:
        if self.task and self.db.exists("task", self.task):
            self.db.set("task", self.task, progress=round(value, 3))


def resolve(method: str) -> tuple[Message | None, bool]:
    """Finds the message for `class.method`, `class_method`, `Async.class.method` or
    `Async_class_method`; class names may contain underscores (host_metrics)."""
    is_async = False
    for prefix in ("Async.", "Async_"):
        if method.startswith(prefix):
            method, is_async = method[len(prefix):], True
    msg = REGISTRY.get(method)
    if msg is None and "." not in method:
        for i, ch in enumerate(method):
            if ch == "_":
                msg = REGISTRY.get(method[:i] + "." + method[i + 1:])
                if msg:
                    break
    if msg is not None and is_async and not msg.has_async:
        return None, True
    return msg, is_async


def _decode(type_: str, value, method: str):
    """Unmarshals one argument as xapi does: int64 may come as a string, enums in any case."""
    try:
        if type_ == "int":
            return int(value)
        if type_ == "float":
            return float(value)
        if type_ == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                return value.lower() == "true"
            return bool(value)
        if type_.startswith("enum ") and not type_.endswith(("set", "map")):
            canonical = {v.lower(): v for v in ENUMS[type_[5:]]}
            return canonical[str(value).lower()]
        if type_ == "datetime":
            return DateTime(str(value))
        if type_.endswith(" ref") or type_ == "string":
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if type_.endswith(" map") or type_.endswith(" record"):
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        if type_.endswith(" set"):
            if not isinstance(value, list):
                raise ValueError(value)
            return value
    except (ValueError, TypeError, KeyError):
        raise XapiError("INTERNAL_ERROR", f"Unmarshalling error: {method}: expected {type_}, got {value!r}") from None
    return value


def scrub(message: Message, args: list) -> list:
    """Call-log arguments: no session ref, no password, no secret value."""
    params = ([("session ref", "session_id")] if message.session else []) + message.params
    out = []
    for (type_, name), value in zip(params, args):
        if name == "session_id":
            continue
        if "password" in name or name == "pwd" or (message.cls == "secret" and name in ("value", "args")):
            out.append(SCRUBBED)
        else:
            out.append(_scrub_value(value, secret_record=message.cls == "secret"))
    return out


def _scrub_value(value, secret_record=False):
    if isinstance(value, dict):
        return {k: SCRUBBED if ("password" in str(k).lower() or (secret_record and k == "value")) else _scrub_value(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v) for v in value]
    return value


async def dispatch(world: "World", machine: "Machine", method: str, args: list) -> tuple[object, list | None]:
    """Serves one call; returns (value, None) or (None, error description)."""
    started = time.monotonic()
    msg, is_async = resolve(method)
    entry = {"seq": 0, "time": time.time(), "host": machine.name, "method": method, "args": [],
             "originator": "", "kind": msg.kind if msg else "write", "status": "ok", "error": None, "duration": 0.0}
    try:
        if msg is None:
            raise XapiError("MESSAGE_METHOD_UNKNOWN", method)
        entry["args"] = scrub(msg, args)
        delay = world.call_latency(machine, msg.wire_name)
        if delay:
            await asyncio.sleep(delay)
        world.faults.before_call(machine, msg.wire_name)
        expected = len(msg.params) + (1 if msg.session else 0)
        if not expected - msg.defaults <= len(args) <= expected:
            raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", msg.wire_name, expected, len(args))
        call = Call(world, machine, machine.db, msg)
        if msg.session:
            if not machine.is_master:
                raise XapiError("HOST_IS_SLAVE", machine.master_address)
            session = machine.db.tables["session"].get(args[0]) if isinstance(args[0], str) else None
            if session is None:
                raise XapiError("SESSION_INVALID", args[0])
            call.session, call.originator = args[0], session["originator"]
            world.touch_session(machine.db, args[0])
            args = args[1:]
        entry["originator"] = call.originator or (args[3] if msg.wire_name == "session.login_with_password" and len(args) > 3 else "")
        decoded = [_decode(t, v, msg.wire_name) for (t, _), v in zip(msg.params, args)]
        if is_async:
            value = start_task(call, decoded)
        else:
            value = await msg.handler(call, *decoded)
        return value, None
    except XapiError as e:
        entry["status"], entry["error"] = "error", e.description
        return None, e.description
    finally:
        entry["duration"] = round(time.monotonic() - started, 6)
        world.log_call(entry)


def start_task(call: Call, args: list) -> str:
    """An Async call: a pending task now, the operation in the background."""
    db = call.db
    now = DateTime.at(call.world.now())
    task = db.create("task", name_label=f"Async.{call.message.wire_name}", status="pending",
                     created=now, resident_on=call.machine.host_ref,
                     allowed_operations=["cancel"])
    call.task = task
    call.world.session_tasks.setdefault(call.session, set()).add(task)

    async def run():
        try:
            value = await call.message.handler(call, *args)
        except XapiError as e:
            if db.exists("task", task):
                status = "cancelled" if e.code == "TASK_CANCELLED" else "failure"
                db.set("task", task, status=status, error_info=e.description, progress=1.0,
                       finished=DateTime.at(call.world.now()), allowed_operations=[], current_operations={})
        except Exception as e:  # a simulator bug must still end the task, as xapi would
            if db.exists("task", task):
                db.set("task", task, status="failure", error_info=["INTERNAL_ERROR", repr(e)], progress=1.0,
                       finished=DateTime.at(call.world.now()), allowed_operations=[], current_operations={})
            raise
        else:
            if db.exists("task", task):
                db.set("task", task, status="success", result=xml_value("" if value is None else value),
                       progress=1.0, finished=DateTime.at(call.world.now()), allowed_operations=[], current_operations={})

    call.world.spawn(run())
    return task


def null_or(ref: str) -> str | None:
    return None if ref in ("", NULL_REF) else ref
