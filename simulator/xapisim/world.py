"""Everything a lab simulates: machines, their pools' databases, storage servers, time."""
from __future__ import annotations

import asyncio
import calendar
import time
from dataclasses import dataclass, field

from .db import Database
from .errors import XapiError
from .model import DateTime


@dataclass
class Machine:
    """A physical host: it outlives pool membership changes, its API can be down."""
    name: str
    address: str
    username: str
    password: str
    spec: dict                       # the normalized lab entry it was built from
    db: Database | None = None       # its pool's database
    host_ref: str = ""               # its host record in that database
    master_address: str | None = None  # None when master; else the address it was joined to
    api_up: bool = True              # the listener accepts connections
    powered: bool = True
    listener: object = None          # set by the server
    agent_start: float = 0.0         # when its xapi last started (simulated clock)
    # slave_local_login sessions: in this host's xapi's memory only (Xapi_local_session), valid
    # on this host alone, gone when its xapi stops
    local_sessions: set = field(default_factory=set)

    @property
    def is_master(self) -> bool:
        return self.master_address is None


# kind -> (required keys, optional keys); every fault may name a host
FAULT_KINDS = {
    "latency": ({"seconds"}, {"host", "method"}),
    "error": ({"method", "code"}, {"host", "params", "times", "after"}),
    "drop_connection": ({"method"}, {"host", "times", "after", "when"}),
    "crash": ({"host"}, set()),
    "reboot_hang": ({"host"}, set()),
    "slow_reboot": ({"host", "factor"}, set()),
    "slow_restart": ({"host", "factor"}, set()),
    "storage_down": ({"storage"}, set()),
    "storage_up": ({"storage"}, set()),
}

# drop_connection: before the call runs (the default), or after it ran, before the answer is sent
DROP_WHEN = ("before", "after")


def fault_problems(faults: list, hosts: set, storages: set) -> list[str]:
    """One line per problem in a list of fault requests (POST /faults and a lab's `faults:`)."""
    problems = []
    for i, fault in enumerate(faults):
        where = f"faults[{i}]"
        if not isinstance(fault, dict):
            problems.append(f"{where}: must be an object with a kind; allowed kinds: {', '.join(FAULT_KINDS)}")
            continue
        kind = fault.get("kind")
        if kind not in FAULT_KINDS:
            problems.append(f"{where}.kind: {kind!r} is unknown; allowed: {', '.join(FAULT_KINDS)}")
            continue
        required, optional = FAULT_KINDS[kind]
        missing = required - set(fault)
        unknown = set(fault) - required - optional - {"kind"}
        if missing:
            problems.append(f"{where}: kind {kind} needs {', '.join(sorted(missing))}")
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(required | optional))}")
        if "host" in fault and fault["host"] is not None and fault["host"] not in hosts:
            problems.append(f"{where}.host: no host named {fault['host']!r}")
        if "storage" in fault and fault["storage"] not in storages:
            problems.append(f"{where}.storage: no storage server named {fault['storage']!r}")
        times = fault.get("times", 1)
        if not (times == "always" or (isinstance(times, int) and times > 0)):
            problems.append(f"{where}.times: must be a positive integer or \"always\"")
        after = fault.get("after", 0)
        if not (isinstance(after, int) and not isinstance(after, bool) and after >= 0):
            problems.append(f"{where}.after: must be an integer >= 0 (how many matching calls pass first)")
        if "when" in fault and fault["when"] not in DROP_WHEN:
            problems.append(f"{where}.when: {fault['when']!r} is unknown; allowed: {', '.join(DROP_WHEN)}")
        for key in ("seconds", "factor"):
            if key in fault and not (isinstance(fault[key], (int, float)) and fault[key] >= 0):
                problems.append(f"{where}.{key}: must be a number >= 0")
        if "params" in fault and not (isinstance(fault["params"], list) and all(isinstance(p, str) for p in fault["params"])):
            problems.append(f"{where}.params: must be a list of strings")
        for key in ("method", "code"):
            optional_null = key not in required and fault.get(key) is None
            if key in fault and not optional_null and not (isinstance(fault[key], str) and fault[key]):
                problems.append(f"{where}.{key}: must be a non-empty string")
    return problems


@dataclass
class Faults:
    """Armed faults: deterministic, counted down when they fire."""
    armed: list = field(default_factory=list)

    def arm(self, request, world: "World") -> list[str]:
        """Validates and arms one fault or a list; returns the problems (nothing armed if any)."""
        faults = request if isinstance(request, list) else [request]
        problems = fault_problems(faults, {m.name for m in world.machines}, set(world.storage))
        if not problems:
            for fault in faults:
                self.armed.append({"times": 1, **fault} if fault["kind"] in ("error", "drop_connection") else dict(fault))
            for fault in faults:
                world.fault_armed(fault)
        return problems

    def _fire(self, kind: str, machine: Machine, method: str) -> dict | None:
        for fault in self.armed:
            if fault["kind"] == kind and fault.get("method") == method and fault.get("host") in (None, machine.name):
                if fault.get("after", 0) > 0:   # this matching call still passes
                    fault["after"] -= 1
                    continue
                if fault["times"] != "always":
                    fault["times"] -= 1
                    if fault["times"] == 0:
                        self.armed.remove(fault)
                return fault
        return None

    def before_call(self, machine: Machine, method: str) -> None:
        fault = self._fire("error", machine, method)
        if fault:
            raise XapiError(fault["code"], *fault.get("params", []))

    def drop_connection(self, machine: Machine, method: str) -> str | None:
        """When to drop the connection of this call ("before" or "after" it runs), or None."""
        fault = self._fire("drop_connection", machine, method)
        return fault.get("when", "before") if fault else None

    def latency(self, machine: Machine, method: str) -> float:
        return sum(f["seconds"] for f in self.armed if f["kind"] == "latency"
                   and f.get("host") in (None, machine.name) and f.get("method") in (None, method))

    def host_fault(self, kind: str, machine: Machine) -> dict | None:
        return next((f for f in self.armed if f["kind"] == kind and f.get("host") == machine.name), None)


class World:
    def __init__(self, lab: dict):
        self.lab = lab
        self.time_scale: float = lab["time_scale"]
        self.latency: float = lab["latency_ms"] / 1000.0
        self.timings: dict = lab["timings"]
        self.session_limits: dict = lab["session_limits"]
        self.machines: list[Machine] = []
        self.storage: dict[str, dict] = {s["name"]: dict(s) for s in lab.get("storage", [])}
        self.faults = Faults()
        self.fault_hooks: list = []      # callables(world, fault) for faults that act at once
        self.calls: list[dict] = []
        self.call_seq = 0
        self.session_tasks: dict[str, set] = {}
        self.session_active: dict[str, float] = {}   # session ref -> last call (for eviction)
        self._tasks: set[asyncio.Task] = set()
        self._started = time.time()
        self.simulated_seconds = 0.0     # realistic time the lab's operations took, summed

    def fault_armed(self, fault: dict) -> None:
        """Faults that act at once (crash, storage down/up) are applied by part 2's hooks."""
        for hook in self.fault_hooks:
            hook(self, fault)

    # -- lookup ------------------------------------------------------------------------
    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    def machine_at(self, address: str) -> Machine | None:
        return next((m for m in self.machines if m.address == address), None)

    def machine_of(self, db: Database, host_ref: str) -> Machine | None:
        return next((m for m in self.machines if m.db is db and m.host_ref == host_ref), None)

    def master_of(self, db: Database) -> Machine:
        return next(m for m in self.machines if m.db is db and m.is_master)

    def databases(self) -> list[Database]:
        seen: list[Database] = []
        for m in self.machines:
            if m.db is not None and m.db not in seen:
                seen.append(m.db)
        return seen

    # -- time --------------------------------------------------------------------------
    def now(self) -> float:
        return time.time()

    def duration(self, timing: str, factor: float = 1.0) -> float:
        """A realistic duration from the lab's timings, in real seconds after time_scale."""
        return self.timings[timing] * factor * self.time_scale

    async def sleep(self, timing: str, factor: float = 1.0) -> None:
        self.simulated_seconds += self.timings[timing] * factor
        await asyncio.sleep(self.duration(timing, factor))

    def call_latency(self, machine: Machine, method: str) -> float:
        return self.latency + self.faults.latency(machine, method)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_background(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- sessions and the call log -----------------------------------------------------
    def touch_session(self, db: Database, ref: str) -> None:
        """A call on a session: xapi refreshes its `last_active` only once it is 600 s old
        (scaled here); the exact time of the last call breaks ties between sessions."""
        now = self.now()
        last_active = calendar.timegm(time.strptime(db.get("session", ref)["last_active"], "%Y%m%dT%H:%M:%SZ"))
        if now - last_active > 600 * self.time_scale:
            db.set("session", ref, last_active=DateTime.at(now))
        self.session_active[ref] = now

    def log_call(self, entry: dict) -> None:
        self.call_seq += 1
        entry["seq"] = self.call_seq
        self.calls.append(entry)
