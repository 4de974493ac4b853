# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A lab served in its own process, as `xapisim serve` does, plus what the benchmark needs to know
about the simulator's own time (white-box hooks, installed in this process only):

- marks: the moment (time.time()) the simulator completes something a module waits for - a host
  enabled or disabled, a host_metrics `live` change, a new agent_start_time, a task's status, a new
  pool master. Recorded after the database change, i.e. when event.from can first report it.
- sleeps: every simulated duration (xapisim's `World.sleep` and lifecycle's `sleep_seconds`) with
  its real start and end, its timing name and its realistic seconds; their union over a run is the
  time the lab's operations were in progress (the part of a run that scales with time_scale).

Both are served on the lab's control interface as `GET /bench/marks?since=N` and
`GET /bench/sleeps?since=N` (N: the `seq` last seen); `GET /bench/host_enabled_by` maps each session
that enabled a host to that host's name (how bench.roles finds a background job's operations).

    python -m bench.simserver LAB.json STATE_DIR

LAB.json is a lab as a JSON object (a lab file's content); lab.json appears in STATE_DIR once
every host listens. SIGTERM/SIGINT stop the lab.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

from xapisim import lab as lab_module
from xapisim import lifecycle, server
from xapisim.db import Database
from xapisim.labfile import LabError, load
from xapisim.world import World

# (class, field) changes recorded as marks
WATCHED = {"host": ("enabled", "other_config"), "host_metrics": ("live",), "task": ("status",), "pool": ("master",)}


class Recorder(object):
    def __init__(self):
        self.marks = []
        self.sleeps = []
        self.seq = 0
        self.host_enabled_by = {}   # session -> name of the first host it enabled (host.enable)

    def add(self, kind, entry):
        self.seq += 1
        entry["seq"] = self.seq
        (self.marks if kind == "mark" else self.sleeps).append(entry)


RECORDER = Recorder()
# The session of the call being served: each sleep is recorded with the session whose call caused it
# (spawned tasks inherit it), so that the bench can tell a background job's operations (bench.roles).
SESSION = contextvars.ContextVar("bench_session", default=None)


def _host_of_metrics(db, metrics_ref):
    return next((ref for ref, host in db.all("host").items() if host["metrics"] == metrics_ref), None)


def _mark(db, cls, ref, field, old, new):
    entry = {"time": time.time(), "pool": db.name, "class": cls, "ref": ref, "field": field, "old": old, "new": new}
    host_ref = ref if cls == "host" else _host_of_metrics(db, ref) if cls == "host_metrics" else None
    if host_ref is not None and db.exists("host", host_ref):
        entry["host"] = db.get("host", host_ref)["name_label"]
        entry["host_uuid"] = db.get("host", host_ref)["uuid"]
    if cls == "task":
        entry["task"] = db.get("task", ref)["name_label"]
    RECORDER.add("mark", entry)


def install_hooks():
    original_set = Database.set

    def set_and_mark(self, cls, ref, /, **fields):
        watched = WATCHED.get(cls)
        if not watched or not any(f in fields for f in watched):
            return original_set(self, cls, ref, **fields)
        before = dict(self.get(cls, ref))
        original_set(self, cls, ref, **fields)
        for field in watched:
            if field not in fields:
                continue
            old, new = before.get(field), fields[field]
            if field == "other_config":   # only a new agent_start_time (xapi restarted) is a mark
                old, new = (old or {}).get("agent_start_time"), (new or {}).get("agent_start_time")
                field = "agent_start_time"
            if old != new:
                _mark(self, cls, ref, field, old, new)
        return None

    Database.set = set_and_mark

    original_sleep = World.sleep

    async def timed_sleep(self, timing, factor=1.0):
        started = time.time()
        try:
            await original_sleep(self, timing, factor)
        finally:
            RECORDER.add("sleep", {"start": started, "end": time.time(), "timing": timing,
                                   "realistic": self.timings[timing] * factor, "session": SESSION.get()})

    World.sleep = timed_sleep

    original_seconds = lifecycle.sleep_seconds

    async def timed_seconds(world, seconds):
        started = time.time()
        try:
            await original_seconds(world, seconds)
        finally:
            RECORDER.add("sleep", {"start": started, "end": time.time(), "timing": "xapi_constant",
                                   "realistic": seconds, "session": SESSION.get()})

    lifecycle.sleep_seconds = timed_seconds

    original_dispatch = server.dispatch

    async def dispatch_in_session(world, machine, method, args, encode=None):
        session = args[0] if args and isinstance(args[0], str) and args[0].startswith("OpaqueRef:") else None
        SESSION.set(session)
        if session and method.rsplit(".", 1)[-1] == "enable" and len(args) > 1 and machine.db.exists("host", args[1]):
            RECORDER.host_enabled_by.setdefault(session, machine.db.get("host", args[1])["name_label"])
        return await original_dispatch(world, machine, method, args, encode)

    server.dispatch = dispatch_in_session

    original_control_app = lab_module.control_app

    def control_app_with_bench(world):
        app = original_control_app(world)

        def since(request):
            return int(request.query.get("since", "0") or 0)

        async def marks(request):
            return web.json_response({"marks": [m for m in RECORDER.marks if m["seq"] > since(request)]})

        async def sleeps(request):
            return web.json_response({"sleeps": [s for s in RECORDER.sleeps if s["seq"] > since(request)]})

        async def host_enabled_by(request):
            return web.json_response(RECORDER.host_enabled_by)

        app.router.add_get("/bench/marks", marks)
        app.router.add_get("/bench/sleeps", sleeps)
        app.router.add_get("/bench/host_enabled_by", host_enabled_by)
        return app

    lab_module.control_app = control_app_with_bench


async def serve(lab, state_dir):
    runner = lab_module.LabRunner(lab, state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        await stop.wait()
    finally:
        await runner.stop()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m bench.simserver LAB.json STATE_DIR", file=sys.stderr)
        return 2
    try:
        lab = load(json.loads(Path(argv[0]).read_text()))
    except LabError as err:
        for problem in err.problems:
            print("%s: %s" % (argv[0], problem), file=sys.stderr)
        return 1
    install_hooks()
    asyncio.run(serve(lab, Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
