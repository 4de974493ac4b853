# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Change-detection latency: from the moment the simulator completes what a module waits for to
the moment the module has returned (its process exited), over 20 runs each.

- reboot: xs_host_power state=rebooted of a member without VMs; completed = the last of the host's
  new agent_start_time, live and enabled (what the module waits for).
- join: xs_pool_member joins a standalone host; completed = the new member live and enabled in the
  pool's database.
- task: xs_sr creates a shared NFS SR (Async SR.create); completed = the task's status success.

"Completed" times are the simulator's own (bench.simserver marks: time.time() right after the
database change, i.e. the first moment event.from can report it). Also reported: when the
event.from call that saw the change answered (from the call log), so that the latency splits into
delivery and what the module does after it."""

from __future__ import annotations

from pathlib import Path

from bench import labs
from bench.modrun import run_module
from bench.stats import summary

TARGET_MEDIAN_SECONDS = 0.5


def _completion(marks, started, host_uuid=None, pool=None, fields=("agent_start_time", "live", "enabled")):
    """The time the last of `fields` reached its new value for the host, after `started`."""
    times = {}
    for mark in marks:
        if mark["time"] < started or mark.get("host_uuid") != host_uuid or (pool and mark["pool"] != pool):
            continue
        if mark["field"] == "agent_start_time" or (mark["field"] in ("live", "enabled") and mark["new"] is True):
            times[mark["field"]] = mark["time"]
    if not all(f in times for f in fields):
        return None
    return max(times[f] for f in fields)


def _task_completion(marks, started, label):
    done = [m["time"] for m in marks if m["class"] == "task" and m["time"] >= started and m.get("task") == label
            and m["field"] == "status" and m["new"] in ("success", "failure")]
    return done[-1] if done else None


def _delivery(calls, completed):
    """When the first event.from call still open at `completed` answered, relative to it."""
    answered = [c["time"] + c["duration"] for c in calls if c["method"] == "event.from"
                and c["time"] + c["duration"] >= completed]
    return min(answered) - completed if answered else None


def _host_uuid(lab, name):
    machine = next(m for m in lab.state()["machines"] if m["name"] == name)
    return machine["host_uuid"]


def _measure_case(lab, runs, args_for, completion_for, workdir, log, label):
    latencies, deliveries, problems = [], [], []
    for i in range(runs):
        seq, bench_seq = lab.last_seq(), lab.last_bench_seq()
        args, context = args_for(i)
        run = run_module(args.pop("_module"), dict(lab.connection(), **args), workdir)
        if run.failed:
            problems.append("%s run %d failed: %s" % (label, i + 1, run.describe().strip().splitlines()[-1]))
            latencies.append(None)
            deliveries.append(None)
            continue
        completed = completion_for(lab.marks(bench_seq), run.started, context)
        if completed is None:
            problems.append("%s run %d: the simulator recorded no completion" % (label, i + 1))
            latencies.append(None)
            deliveries.append(None)
            continue
        latencies.append(run.ended - completed)
        deliveries.append(_delivery(lab.calls(seq), completed))
    log("latency: %-6s median %.3f s, max %.3f s" % (
        label, summary(latencies)["median"] or -1, summary(latencies)["max"] or -1))
    return latencies, deliveries, problems


def measure(make_lab, workdir, runs, log):
    """make_lab(case) -> a SimLab, not started, for case "reboot", "join" or "task"."""
    workdir = Path(workdir) / "latency"
    rows, problems = [], []

    with make_lab("reboot") as lab:
        members = [h["name"] for h in lab.info["hosts"]][1:]
        uuids = dict((name, _host_uuid(lab, name)) for name in members)

        def reboot_args(i):
            name = members[i % len(members)]
            return {"_module": "xs_host_power", "host": name, "state": "rebooted"}, name

        lats, dels, probs = _measure_case(lab, runs, reboot_args,
                                          lambda marks, started, name: _completion(marks, started, uuids[name]),
                                          workdir, log, "reboot")
        rows.append(_row("reboot", "xs_host_power state=rebooted (a member without VMs)", lats, dels, lab))
        problems += probs

    with make_lab("join") as lab:
        pool = lab.lab["pools"][0]["name"]
        candidates = [h["name"] for h in lab.lab["hosts"] if h["name"].startswith("c")]
        uuids = dict((name, _host_uuid(lab, name)) for name in candidates)

        def join_args(i):
            name = candidates[i]
            return {"_module": "xs_pool_member", "host": lab.host(name)["url"], "host_password": labs.PASSWORD}, name

        lats, dels, probs = _measure_case(
            lab, runs, join_args,
            lambda marks, started, name: _completion(marks, started, uuids[name], pool, ("live", "enabled")),
            workdir, log, "join")
        rows.append(_row("join", "xs_pool_member joins a standalone host (the pool grows from 1 to %d hosts)"
                         % (runs + 1), lats, dels, lab))
        problems += probs

    with make_lab("task") as lab:
        server = lab.lab["storage"][0]["address"]

        def task_args(i):
            return {"_module": "xs_sr", "name_label": "latency-sr-%02d" % i, "type": "nfs",
                    "device_config": {"server": server, "serverpath": "/srv/vhd"}}, None

        lats, dels, probs = _measure_case(lab, runs, task_args,
                                          lambda marks, started, _: _task_completion(marks, started, "Async.SR.create"),
                                          workdir, log, "task")
        rows.append(_row("task", "xs_sr creates a shared NFS SR (Async.SR.create on a 4-host pool)", lats, dels, lab))
        problems += probs
    return {"runs": runs, "target_median_seconds": TARGET_MEDIAN_SECONDS, "rows": rows, "problems": problems}


def _row(case, what, latencies, deliveries, lab):
    latency = summary(latencies)
    row = {"case": case, "what": what, "latency": latency, "event_delivery": summary(deliveries),
           "time_scale": lab.time_scale, "target": "median <= %.1f s" % TARGET_MEDIAN_SECONDS}
    if not latencies:
        row["status"] = "not measured"
    elif latency["n"] < len(latencies):
        row["status"] = "miss"   # a run failed or the simulator saw no completion: see the problems
    else:
        row["status"] = "pass" if latency["median"] <= TARGET_MEDIAN_SECONDS else "miss"
    return row
