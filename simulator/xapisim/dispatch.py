"""From a decoded call to a result, in xapi's order (ocaml/idl/ocaml_backend/gen_server.ml):
method lookup, argument count, unmarshalling, session check, then the call itself or an Async
task; plus the lab's latency and faults, and the call log."""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .api import REGISTRY, Message, register
from .errors import XapiError
from .factory import xapi_version_of
from .model import CLASSES, ENUMS, NULL_REF, DateTime
from .wire import xml_value

if TYPE_CHECKING:
    from .db import Database
    from .world import Machine, World

log = logging.getLogger(__name__)
SCRUBBED = "******"
ASYNC_PREFIX = "Async."   # xapi accepts no "Async_" alias (server_helpers.ml says so)
# Not an error code: API.response_of_fault puts "Fault" where the code goes.
API_FAULT = "Fault"


def api(wire_name: str, params: str = "", result: str = "void", *, session: bool = True,
        has_async: bool = True, defaults: int = 0, since: dict | None = None,
        xapi_from: tuple | None = None, xapi_removed: tuple | None = None, local: bool = False):
    """Register an explicit message.  `params` is "type name, type name" in datamodel types;
    `defaults` is how many trailing parameters have defaults in the datamodel (the handler's
    Python defaults supply them).  `since` names trailing parameters (with defaults) newer than
    the published datamodel, with the xapi version that added them: only hosts of that version
    or later take them (test_fidelity.py lists each one it allows).  `xapi_from` is the first
    xapi version with the message (older hosts do not know it), `xapi_removed` the first where
    the datamodel marks it removed (xapi then answers MESSAGE_REMOVED).  `local` messages are
    served by a slave itself with a local session, without its master."""
    cls, name = wire_name.split(".", 1)
    parsed = [tuple(p.strip().rsplit(" ", 1)) for p in params.split(",") if p.strip()]

    def decorate(fn):
        register(Message(cls, name, parsed, result, fn, session=session, has_async=has_async,
                         defaults=defaults, since=dict(since or {}), xapi_from=xapi_from,
                         xapi_removed=xapi_removed, local=local))
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

    def check_cancelled(self) -> None:
        """Where a long operation may stop: TASK_CANCELLED [task] once task.cancel asked."""
        if self.task and self.db.exists("task", self.task) and "cancel" in self.db.get("task", self.task)["current_operations"].values():
            raise XapiError("TASK_CANCELLED", self.task)

    def set_cancellable(self) -> None:
        """An operation that honours task.cancel says so, as xapi's TaskHelper.set_cancellable."""
        if self.task and self.db.exists("task", self.task):
            self.db.set("task", self.task, allowed_operations=["cancel"])

    def progress(self, value: float) -> None:
        if self.task and self.db.exists("task", self.task):
            self.db.set("task", self.task, progress=round(value, 3))


# -- method names ----------------------------------------------------------------------
_aliases: dict[str, Message] = {}


def resolve(method: str) -> tuple[str, Message | None, bool]:
    """(name without the Async. prefix, message or None, whether Async) for `class.method`,
    `class_method` (class names may contain underscores: host_metrics_get_record) and
    `Async.class.method` / `Async.class_method`."""
    is_async = method.startswith(ASYNC_PREFIX)
    name = method[len(ASYNC_PREFIX):] if is_async else method
    msg = REGISTRY.get(name)
    if msg is None:
        if len(_aliases) != len(REGISTRY):   # messages registered since the last lookup
            _aliases.clear()
            _aliases.update({f"{m.cls}_{m.name}": m for m in REGISTRY.values()})
        msg = _aliases.get(name)
    return name, msg, is_async


# -- unmarshalling ---------------------------------------------------------------------
class _Unmarshal(Exception):
    """An argument of the wrong type: xapi answers INTERNAL_ERROR [<the OCaml exception>]."""

    def __init__(self, failure: str):
        super().__init__(failure)
        # Printexc.to_string (Failure s) is Failure("s"), with s escaped as OCaml's %S does
        escaped = failure.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        self.error = XapiError("INTERNAL_ERROR", f'Failure("{escaped}")')


def _rpc_string(v) -> str:
    """Rpc.to_string, which xapi's unmarshalling errors quote."""
    if isinstance(v, bool):
        return "B(true)" if v else "B(false)"
    if isinstance(v, int):
        return f"I({v})"
    if isinstance(v, float):
        return "F(%g)" % v
    if isinstance(v, DateTime):
        return f"D({v})"
    if isinstance(v, str):
        return f"S({v})"
    if isinstance(v, list):
        return "[" + ";".join(_rpc_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ";".join(f"{k}:{_rpc_string(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "N"
    return f"B64({v})"


# what OCaml's Int64.of_string / float_of_string accept
_OCAML_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F][0-9a-fA-F_]*|0[oO][0-7][0-7_]*|0[bB][01][01_]*|[0-9][0-9_]*)")
_OCAML_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9][0-9_]*)?|nan|inf|infinity)", re.I)


def _int64(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Unmarshal(f"Expected int64, got '{_rpc_string(value)}'")
    if isinstance(value, str):
        if not _OCAML_INT.fullmatch(value):
            raise _Unmarshal("Int64.of_string")
        value = int(value.replace("_", ""), 0) if value.lstrip("+-")[:2].lower() in ("0x", "0o", "0b") \
            else int(value.replace("_", ""))
    if not -(1 << 63) <= value < (1 << 63):
        raise _Unmarshal("Int64.of_string")
    return value


def unmarshal(type_: str, value):
    """One argument as xapi's generated server reads it: int64 from an int or a decimal string,
    enums in any case (bond_mode excepted: xapi overrides it and wants the exact spelling),
    bool only from a boolean, strings and refs only from strings."""
    if type_ == "int":
        return _int64(value)
    if type_ == "float":
        if isinstance(value, float):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            if not _OCAML_FLOAT.fullmatch(value):
                raise _Unmarshal("float_of_string")
            return float(value.replace("_", ""))
        raise _Unmarshal(f"Expected float, got '{_rpc_string(value)}'")
    if type_ == "bool":
        if isinstance(value, bool):
            return value
        raise _Unmarshal(f"Expected bool, got '{_rpc_string(value)}'")
    if type_ == "string" or type_.endswith(" ref"):
        if isinstance(value, str):
            return str(value)
        raise _Unmarshal(f"Expected string, got '{_rpc_string(value)}'")
    if type_ == "datetime":
        if isinstance(value, str):
            return DateTime(value)
        raise _Unmarshal(f"Expected DateTime, got '{_rpc_string(value)}'")
    if type_ == "enum bond_mode":
        if value in ENUMS["bond_mode"]:
            return value
        raise _Unmarshal("Unmarshalling error in bond-mode")
    if type_.startswith("enum "):
        canonical = _enum_lookup(type_[5:])
        if isinstance(value, str) and value.lower() in canonical:
            return canonical[value.lower()]
        raise _Unmarshal("Unknown tag/contents")
    if type_.endswith(" set"):
        if not isinstance(value, list):
            raise _Unmarshal(f"Expecting Rpc.Enum, but found '{_rpc_string(value)}'")
        element = type_[:-4]
        return [unmarshal(element, v) for v in value]
    if type_.endswith(" map"):
        if not isinstance(value, dict):
            raise _Unmarshal(f"Expecting Rpc.Dict, but found '{_rpc_string(value)}'")
        key_t, value_t = type_[1:].split(") map")[0].split(" -> ", 1)
        return {unmarshal(key_t, k): unmarshal(value_t, v) for k, v in value.items()}
    if type_.endswith(" record"):
        if not isinstance(value, dict):
            raise _Unmarshal(f"Expecting Rpc.Dict, but found '{_rpc_string(value)}'")
        return value
    return value


_enum_tables: dict[str, dict[str, str]] = {}


def _enum_lookup(enum: str) -> dict[str, str]:
    table = _enum_tables.get(enum)
    if table is None:
        table = _enum_tables[enum] = {v.lower(): v for v in ENUMS[enum]}
    return table


# -- the call log ----------------------------------------------------------------------
# Calls that change nothing although their names don't say so: asking the SM backend what a
# target holds, and computing.
_READ_ONLY = {"SR.probe", "SR.probe_ext", "host.compute_free_memory", "pool.ha_compute_max_host_failures_to_tolerate",
              "pool.ha_failover_plan_exists"}


def call_kind(name: str) -> str:
    """The call log's `kind`, from the method name alone, the same for known and unknown
    methods (docs/ARCHITECTURE.md): get/get_* (get_all*, get_record, get_by_*) read, then
    event.* event, session.* session, anything else write.  `name` is `class.method` or the
    `class_method` alias, without the Async. prefix."""
    cls, dot, message = name.partition(".")
    if not dot:   # class_method: class names may contain underscores (host_metrics_get_record)
        cls = next((c for c in sorted([*CLASSES, "event"], key=len, reverse=True) if name.startswith(c + "_")), "")
        message = name[len(cls) + 1:] if cls else name
    if message == "get" or message.startswith(("get_", "assert_")) or f"{cls}.{message}" in _READ_ONLY:
        return "read"
    if cls in ("event", "session"):
        return cls
    return "write"


def _is_secret_name(name: str) -> bool:
    name = str(name).lower()
    return "password" in name or "pwd" in name or "secret" in name


def scrub(message: Message, args: list) -> list:
    """Call-log arguments: no session ref, no password, no secret value.  Arguments beyond the
    declared parameters (which xapi ignores or refuses) are logged too: the log shows what
    was sent."""
    params = ([("session ref", "session_id")] if message.session else []) + message.params
    out = []
    for (type_, name), value in zip(params, args):
        if name == "session_id":
            continue
        if _is_secret_name(name) or (message.cls == "secret" and name in ("value", "args")):
            out.append(SCRUBBED)
        else:
            out.append(_scrub_value(value, secret_record=message.cls == "secret"))
    for value in args[len(params):]:
        out.append(SCRUBBED if message.cls == "secret" or _is_secret_name(message.name) else _scrub_value(value))
    return out


def scrub_unknown(name: str, args: list) -> list:
    """Call-log arguments of a method the simulator does not know: without a leading session
    ref; every argument hidden where the name suggests credentials (session.*, secret.*,
    *password*), else passwords and secrets in maps."""
    if args and isinstance(args[0], str) and args[0].startswith("OpaqueRef:"):
        args = args[1:]
    cls = name.split(".", 1)[0] if "." in name else name.split("_", 1)[0]
    if cls in ("session", "secret") or _is_secret_name(name):
        return [SCRUBBED for _ in args]
    return [_scrub_value(value) for value in args]


def _scrub_value(value, secret_record=False):
    if isinstance(value, dict):
        return {k: SCRUBBED if (_is_secret_name(k) or (secret_record and k == "value")) else _scrub_value(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v) for v in value]
    return value


# -- dispatch --------------------------------------------------------------------------
LOCAL_SESSION = {"originator": ""}   # what the call log knows of a local session


def _check_session(machine: "Machine", ref) -> dict:
    """Session_check.check: a local session of this host is good; else a member refuses every
    session; an unknown ref is invalid."""
    ref = unmarshal("session ref", ref)
    if ref in machine.local_sessions:
        return LOCAL_SESSION
    if not machine.is_master:
        raise XapiError("HOST_IS_SLAVE", machine.master_address)
    session = machine.db.tables["session"].get(ref)
    if session is None:
        raise XapiError("SESSION_INVALID", ref)
    return session


def xapi_version(machine: "Machine") -> tuple[int, ...]:
    """The lab's `software.xapi` of a host, e.g. (25, 31)."""
    return xapi_version_of(machine.spec)


def signature(msg: Message, machine: "Machine") -> tuple[list, int]:
    """(parameters, how many have defaults) as the receiving host's xapi knows the message:
    a trailing parameter newer than that version (Message.since) does not exist there."""
    params, defaults = msg.params, msg.defaults
    while params and params[-1][1] in msg.since and xapi_version(machine) < msg.since[params[-1][1]]:
        params, defaults = params[:-1], defaults - 1
    return params, defaults


def _check_count(msg: Message, params: list, defaults: int, name: str, args: list) -> list:
    """MESSAGE_PARAMETER_COUNT_MISMATCH [name; expected; received], counting neither the
    session nor parameters with defaults, as xapi's pattern match does.  A message with
    defaults takes any number of extra arguments and ignores those beyond its parameters."""
    given = len(args) - (1 if msg.session else 0)
    required = len(params) - defaults
    if given < required or (defaults == 0 and given > required):
        raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", name, required, given)
    return args[:len(params) + (1 if msg.session else 0)]


async def dispatch(world: "World", machine: "Machine", method: str, args: list, encode=None):
    """Serves one call; returns (value, None) or (None, error description), or what
    `encode(value, error)` makes of them: the server encodes the response here, so that the
    call log's duration is the whole time the server spent on the call."""
    started = time.monotonic()
    entry = {"seq": 0, "time": time.time(), "host": machine.name, "method": method, "args": [],
             "originator": "", "kind": "write", "status": "ok", "error": None, "duration": 0.0}
    try:
        value, error = await _serve(world, machine, method, args, entry)
        if error:
            entry["status"], entry["error"] = "error", error
        return encode(value, error) if encode else (value, error)
    finally:
        entry["duration"] = round(time.monotonic() - started, 6)
        world.log_call(entry)


async def _serve(world: "World", machine: "Machine", method: str, args: list, entry: dict):
    name, msg, is_async = resolve(method)
    if msg is not None and msg.xapi_from and xapi_version(machine) < msg.xapi_from:
        msg = None   # the host's release does not have it yet
    entry["kind"] = call_kind(msg.wire_name if msg else name)
    try:
        if msg is None:
            # xapi tries an unknown name as a host extension, after checking the session
            entry["args"] = scrub_unknown(name, args)
            if args:
                _check_session(machine, args[0])
            raise XapiError("MESSAGE_METHOD_UNKNOWN", name)
        # the log names a message canonically, whichever alias the client used
        entry["method"] = (ASYNC_PREFIX if is_async else "") + msg.wire_name
        entry["args"] = scrub(msg, args)
        delay = world.call_latency(machine, msg.wire_name)
        if delay:
            await asyncio.sleep(delay)
        world.faults.before_call(machine, msg.wire_name)
        known, defaults = signature(msg, machine)
        args = _check_count(msg, known, defaults, name, args)
        if msg.xapi_removed and xapi_version(machine) >= msg.xapi_removed:
            # gen_server keeps a removed message's pattern and session check, nothing else
            if msg.session:
                _check_session(machine, args[0])
            raise XapiError("MESSAGE_REMOVED")
        params = ([("session ref", "session_id")] if msg.session else []) + known
        decoded = [unmarshal(t, v) for (t, _), v in zip(params, args)]
        call = Call(world, machine, machine.db, msg)
        if msg.session:
            session = _check_session(machine, decoded[0])
            call.session, call.originator = decoded[0], session["originator"]
            if session is LOCAL_SESSION:
                if not machine.is_master and not msg.local:
                    await _wait_for_master(world, machine)
            else:
                world.touch_session(machine.db, decoded[0])
            decoded = decoded[1:]
        elif msg.wire_name == "session.login_with_password" and len(decoded) > 3:
            entry["originator"] = decoded[3]
        entry["originator"] = entry["originator"] or call.originator
        if is_async:
            if not msg.has_async:
                # Server_helpers.do_dispatch answers with an API fault, not an error code
                raise XapiError(API_FAULT, f"No async mode for this operation (rpc: {name})")
            return start_task(call, method, decoded), None
        return await msg.handler(call, *decoded), None
    except _Unmarshal as e:
        return None, e.error.description
    except XapiError as e:
        return None, e.description
    except Exception as e:
        # a simulator bug: the client gets what xapi gives for any OCaml exception, the
        # traceback goes to the log
        log.exception("%s failed", method)
        return None, ["INTERNAL_ERROR", repr(e)]


async def _wait_for_master(world: "World", machine: "Machine") -> None:
    """A slave's xapi reads and writes the pool database on its master: with a local session,
    a call other than the emergency ones waits while the master's xapi does not answer."""
    while True:
        master = world.machine_at(machine.master_address)
        if machine.is_master or (master is not None and master.powered and master.api_up):
            return
        await asyncio.sleep(max(world.time_scale, 0.001))   # xapi retries the master every second


def record_session_task(call: Call, task: str) -> None:
    """The session's tasks: a session with a pending task survives the session limits."""
    call.world.session_tasks.setdefault(call.session, set()).add(task)


def start_task(call: Call, label: str, args: list) -> str:
    """An Async call: a pending task now (named after the call as sent, as xapi labels it),
    the operation in the background, the task completed as TaskHelper completes it."""
    db, world = call.db, call.world
    task = db.create("task", name_label=label, status="pending", created=DateTime.at(world.now()),
                     resident_on=call.machine.host_ref, type="<none/>", backtrace="()")
    call.task = task
    record_session_task(call, task)

    def finish(**fields) -> None:
        # a task someone else already completed (or destroyed) keeps its state
        if db.exists("task", task) and db.get("task", task)["status"] == "pending":
            db.set("task", task, progress=1.0, finished=DateTime.at(world.now()), allowed_operations=[], **fields)
        if db.exists("task", task) and "destroy" in db.get("task", task)["current_operations"].values():
            db.delete("task", task)   # task.destroy was asked while it ran

    async def run():
        try:
            value = await call.message.handler(call, *args)
        except XapiError as e:
            if e.code == "TASK_CANCELLED":
                finish(status="cancelled")   # xapi's TaskHelper.cancel leaves error_info empty
            else:
                finish(status="failure", error_info=e.description)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a simulator bug must still end the task, as xapi would
            log.exception("%s failed", label)
            finish(status="failure", error_info=["INTERNAL_ERROR", repr(e)])
        else:
            finish(status="success", result=xml_value("" if value is None else value))

    world.spawn(run())
    return task


def null_or(ref: str) -> str | None:
    return None if ref in ("", NULL_REF) else ref
