# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""make bench: measures the collection against its limits and writes bench/results.json and
bench/RESULTS.md. Exit status 1 when a target is missed, 2 when the benchmark itself failed.

    python -m bench.run [--latency-ms 5] [--only calls,latency,roles,overhead,simulator]

Sections (bench/<section>.py): the simulator's own figures, Ansible's overhead, XAPI calls per
module, change-detection latency, and the pool_build and rolling_maintenance roles. Every lab runs
in its own simulator process (bench.simserver) on loopback addresses 127.0.20-69.x."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

from bench import calls, labs, latency, machine, overhead, report, roles, simfigures
from bench.simlab import SimLab

BENCH_DIR = Path(__file__).resolve().parent
SECTIONS = ("simulator", "overhead", "calls", "latency", "roles")

# time_scale of each kind of lab: small where only call counts or the module's own time matter,
# larger where the module must already wait when the simulator completes the operation.
CALLS_TIME_SCALE = 0.001
LATENCY_TIME_SCALES = {"reboot": 0.005, "join": 0.02, "task": 0.05}
ROLES_TIME_SCALE = 0.005


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=5.0, help="per-call latency of every lab (default 5)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="sections to run, comma-separated (default all: %s)" % ",".join(SECTIONS))
    parser.add_argument("--call-runs", type=int, default=3, help="runs per module scenario and pool size (3)")
    parser.add_argument("--latency-runs", type=int, default=20, help="runs per latency case (20)")
    parser.add_argument("--role-runs", type=int, default=2, help="runs of each 16-host role benchmark (2)")
    parser.add_argument("--big-build-runs", type=int, default=1, help="runs of the 64-host pool build (1)")
    parser.add_argument("--overhead-runs", type=int, default=3, help="runs of the overhead playbook (3)")
    parser.add_argument("--simulator-runs", type=int, default=3, help="starts of big-pool.yml (3)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR, help="where results.json and RESULTS.md go")
    parser.add_argument("--workdir", type=Path, default=BENCH_DIR / "output",
                        help="scratch directory: labs, logs, playbook runs (emptied first)")
    options = parser.parse_args(argv)
    options.sections = [s.strip() for s in options.only.split(",") if s.strip()]
    unknown = [s for s in options.sections if s not in SECTIONS]
    if unknown:
        parser.error("--only: unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SECTIONS)))
    return options


def log(message):
    print("bench: %s" % message, flush=True)


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = options.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    latency_ms = options.latency_ms
    started = time.monotonic()
    results = {"machine": machine.describe(), "settings": {
        "latency_ms": latency_ms, "sections": options.sections, "calls_time_scale": CALLS_TIME_SCALE,
        "latency_time_scales": LATENCY_TIME_SCALES, "roles_time_scale": ROLES_TIME_SCALE}}
    log("machine: %(cpu_cores)s x %(cpu_model)s, load %(load_average_at_start)s" % results["machine"])

    def lab(definition, name=None):
        return SimLab(definition, workdir / "labs", name)

    error = None
    try:
        if "simulator" in options.sections:
            results["simulator"] = simfigures.measure(options.simulator_runs, 5, log)
        if "overhead" in options.sections or "roles" in options.sections:
            results["overhead"] = overhead.measure(workdir, options.overhead_runs, log)
        if "calls" in options.sections:
            def calls_lab(kind, size):
                block = {("pool", 4): 20, ("pool", 64): 21, ("join", 4): 22, ("join", 64): 23}[(kind, size)]
                if kind == "pool":
                    return lab(labs.pool_lab("calls-%d" % size, block, size, CALLS_TIME_SCALE, latency_ms))
                return lab(labs.pool_lab("join-%d" % size, block, size - 1, CALLS_TIME_SCALE, latency_ms,
                                         candidates=options.call_runs))
            results["calls"] = calls.measure(calls_lab, workdir, options.call_runs, log)
        if "latency" in options.sections:
            def latency_lab(case):
                scale = LATENCY_TIME_SCALES[case]
                if case == "reboot":
                    return lab(labs.pool_lab("latency-reboot", 30, 4, scale, latency_ms, vms=False, bond=False))
                if case == "join":
                    return lab(labs.pool_lab("latency-join", 31, 1, scale, latency_ms, vms=False, bond=False,
                                             candidates=options.latency_runs))
                return lab(labs.pool_lab("latency-task", 32, 4, scale, latency_ms, vms=False, bond=False))
            results["latency"] = latency.measure(latency_lab, workdir, options.latency_runs, log)
        if "roles" in options.sections:
            def build_lab(hosts, repeat):
                block = (40 if hosts <= 16 else 50) + repeat
                return lab(labs.standalone_lab("build-%d" % hosts, block, hosts, ROLES_TIME_SCALE, latency_ms),
                           "build-%d-run-%d" % (hosts, repeat + 1))

            def rolling_lab(hosts):
                return lab(labs.pool_lab("rolling-%d" % hosts, 60, hosts, ROLES_TIME_SCALE, latency_ms))
            rows = [
                roles.pool_build(build_lab, 16, options.role_runs, workdir, results["overhead"], log),
                roles.pool_build(build_lab, 64, options.big_build_runs, workdir, results["overhead"], log),
                roles.rolling_maintenance(rolling_lab, 16, options.role_runs, workdir, results["overhead"], log),
            ]
            results["roles"] = {"rows": rows}
    except Exception:  # pylint: disable=broad-except
        error = traceback.format_exc()
        results["error"] = error
    results["machine"]["load_average_at_end"] = machine.load_average()
    results["duration_seconds"] = round(time.monotonic() - started, 1)

    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (options.output / "RESULTS.md").write_text(report.render(results))
    log("wrote %s and %s in %.0f s" % (options.output / "results.json", options.output / "RESULTS.md",
                                       results["duration_seconds"]))
    if error:
        print(error, file=sys.stderr)
        log("the benchmark failed before the end; the results written are partial")
        return 2
    for name in report.not_measured(results):
        log("not measured: %s" % name)
    misses = report.missed(results)
    for name in misses:
        log("target missed: %s" % name)
    if not misses:
        log("every measured target met")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
