# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""bench/results.json -> bench/RESULTS.md, and the list of missed targets. Pure functions of the
results dict (tests/unit/test_bench_smoke.py renders a fake one)."""

from __future__ import annotations

from statistics import median

STATUS_WORDS = {"pass": "met", "miss": "**MISSED**", "not measured": "not measured", "info": "-"}


def missed(results):
    """Human-readable names of the figures whose target was missed."""
    names = []
    for row in results.get("calls", {}).get("rows", []):
        if row.get("status") == "miss":
            names.append("calls: %s (%s)" % (row["module"], row["run"]))
    for row in results.get("latency", {}).get("rows", []):
        if row.get("status") == "miss":
            names.append("latency: %s" % row["case"])
    for row in results.get("roles", {}).get("rows", []):
        if row.get("status") == "miss":
            names.append("roles: %s" % row["name"])
    return names


def not_measured(results):
    names = []
    for section, key in (("calls", "module"), ("latency", "case"), ("roles", "name")):
        for row in results.get(section, {}).get("rows", []):
            if row.get("status") == "not measured":
                names.append("%s: %s" % (section, row.get(key)))
    return names


def _num(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 100:
        return "%.0f" % value
    if abs(value) >= 10:
        return "%.1f" % value
    return ("%%.%df" % digits) % value


def _spread(figure, digits=3):
    """"median (min-max, n)" for a summary dict."""
    if not figure or figure.get("median") is None:
        return "-"
    if figure["min"] == figure["max"]:
        return "%s (n=%d)" % (_num(figure["median"], digits), figure["n"])
    return "%s (%s-%s, n=%d)" % (_num(figure["median"], digits), _num(figure["min"], digits),
                                 _num(figure["max"], digits), figure["n"])


def _count(figure):
    if not figure or figure.get("median") is None:
        return "-"
    median = figure["median"]
    median = int(median) if float(median).is_integer() else median
    if figure["min"] == figure["max"]:
        return str(median)
    return "%s (%s-%s)" % (median, figure["min"], figure["max"])


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |")
    return lines


def _machine(results):
    m = results.get("machine", {})
    settings = results.get("settings", {})
    rows = [
        ("Date (UTC)", m.get("date")),
        ("CPU", "%s x %s" % (m.get("cpu_cores"), m.get("cpu_model"))),
        ("Memory", "%s GiB" % m.get("memory_gib")),
        ("OS", m.get("os")),
        ("Load average (1, 5, 15 min) at start / end",
         "%s / %s" % (m.get("load_average_at_start"), m.get("load_average_at_end"))),
        ("Python", m.get("python")),
        ("ansible-core", m.get("ansible_core")),
        ("XenAPI", m.get("xenapi")),
        ("xapisim", m.get("xapisim")),
        ("Collection", "xenserver.pools %s, commit %s%s" % (
            m.get("collection_version"), (m.get("collection_commit") or "?")[:12],
            " (+%d tracked files changed)" % m["collection_tracked_files_changed"]
            if m.get("collection_tracked_files_changed") else "")),
        ("Per-call latency of the labs", "%s ms" % settings.get("latency_ms")),
        ("Duration of make bench", "%s s" % _num(results.get("duration_seconds"), 0)),
    ]
    return _table(["", ""], rows)


def _calls(section):
    lines = ["## 1. XAPI calls per module", "",
             "Every call the module made (session, read, event and write calls, to any host), from the simulator's "
             "call log, for a run that changes nothing and for a run that changes one thing, on a pool of %s hosts "
             "with the same content per host (`bench.labs.pool_lab`: pool-of-four.yml's hosts plus a pool-wide bond). "
             "Median of %s runs; a range when the runs differed (the number of `event.from` calls of a wait depends "
             "on timing). The join runs start from a pool one host smaller, so that the joining host is the 4th or "
             "the 64th." % (" and ".join(str(s) for s in section.get("sizes", [])), section.get("repeats")), ""]
    header = ["Module", "Run", "Calls, 4 hosts (the limit)", "Calls, 64 hosts", "Ratio 64 / 4",
              "64 hosts: session / read / event / write", "Target", "Result"]
    rows = []
    for row in section.get("rows", []):
        kinds = row.get("hosts_64", {}).get("by_kind", {})
        by_kind = " / ".join(_num(kinds.get(k)) for k in ("session", "read", "event", "write"))
        run = row["run"] + (" - %s" % row["note"] if row.get("note") else "")
        small = row.get("hosts_4", {}).get("total", {}).get("median")
        large = row.get("hosts_64", {}).get("total", {}).get("median")
        ratio = _num(float(large) / small, 2) if small and large is not None else "-"
        target = row.get("target", "")
        if row.get("info_limit") and large is not None:
            target += " (%s of %d: %s)" % (_num(large), row["info_limit"], _num(float(large) / row["info_limit"], 2))
        rows.append(["`%s`" % row["module"], run, _count(row.get("hosts_4", {}).get("total")),
                     _count(row.get("hosts_64", {}).get("total")), ratio, by_kind, target,
                     STATUS_WORDS.get(row.get("status"), row.get("status"))])
    lines += _table(header, rows)
    if section.get("missing_modules"):
        lines += ["", "Not measured, module not in the repository yet: %s." % ", ".join(
            "`%s`" % m for m in section["missing_modules"])]
    if section.get("problems"):
        lines += ["", "Runs that failed or did not report the expected change:", ""]
        lines += ["- %s" % p for p in section["problems"]]
    return lines


def _latency(section):
    lines = ["## 2. Change-detection latency", "",
             "From the moment the simulator completed what the module waits for (a white-box mark: `time.time()` "
             "right after the database change, the first moment `event.from` can report it) to the moment the "
             "module's process exited, %s runs each. The module runs directly (bench.modrun), so Ansible's own "
             "per-task overhead (section 4) is not included. \"event.from answered\" is when the wait's call "
             "returned after the change (server side, from the call log): the rest is what the module does after "
             "it (its last reads, logout, exit)." % section.get("runs"), ""]
    header = ["Case", "What", "Latency: median (min-max, n)", "Max", "Ratio (median / %s s)"
              % _num(section.get("target_median_seconds"), 1), "event.from answered after", "time_scale",
              "Target", "Result"]
    rows = []
    for row in section.get("rows", []):
        median, limit = row["latency"].get("median"), section.get("target_median_seconds")
        rows.append([row["case"], row["what"], _spread(row["latency"]) + " s", _num(row["latency"].get("max")) + " s",
                     _num(median / limit, 2) if median is not None and limit else "-",
                     _num(row["event_delivery"].get("median"), 4) + " s", row.get("time_scale"), row["target"],
                     STATUS_WORDS.get(row["status"], row["status"])])
    lines += _table(header, rows)
    if section.get("problems"):
        lines += ["", "Problems:", ""] + ["- %s" % p for p in section["problems"]]
    return lines


def _roles(section):
    lines = ["## 3. Roles against their physical limits", "",
             "Wall time of `ansible-playbook playbooks/<role>.yml` (start to exit) against the limit: what the lab's "
             "operations must take, in realistic seconds (see each row). The lab runs at a small time_scale s to "
             "keep `make bench` short, so the run's time is projected to real time: the simulator records every "
             "simulated duration, the longest chain of them that ran one after another is the run's simulated "
             "critical path C (realistic seconds), and everything else (Ansible, module processes, 5 ms per call, "
             "event round-trips) does not scale, so at time_scale 1 the run takes wall + C x (1 - s). "
             "**Ratio** = that / limit (the target's figure). **Without Ansible** subtracts Ansible's own time "
             "(section 4: its start and end, and each task's cost without XAPI, times the tasks that ran). "
             "**At time_scale** is wall / (limit x s), dominated by Ansible at a small s. The part that does not "
             "scale is mostly CPU time (Ansible, Python processes): it grows on a busier or slower machine, so read "
             "the ratios with the load average above.", ""]
    header = ["Run", "Limit (realistic s)", "Simulated critical path C (s)", "Real-time estimate (s)",
              "Ratio: median (min-max, n)", "Without Ansible", "At time_scale", "Target", "Result"]
    rows = []
    details = []
    for row in section.get("rows", []):
        if row.get("status") == "not measured":
            rows.append([row["name"], "-", "-", "-", "-", "-", "-", "-", "not measured: %s" % row.get("reason")])
            continue
        rows.append([row["name"], _num(row["limit_seconds"]), _spread(row["simulated_critical_seconds"], 1),
                     _spread(row["real_time_estimate_seconds"], 1), _spread(row["ratio"]),
                     _num(row["ratio_without_ansible"].get("median")),
                     "%s (s=%s)" % (_num(row["ratio_at_time_scale"].get("median")), row["time_scale"]),
                     row["target"], STATUS_WORDS.get(row["status"], row["status"])])
        details.append(_role_detail(row))
    lines += _table(header, rows)
    for detail in details:
        lines += [""] + detail
    return lines


def _role_detail(row):
    lines = ["**%s** - %s." % (row["name"], row["what"]), ""]
    detail = row.get("limit_detail") or {}
    if "joins" in detail:
        lines.append("- Limit: %d joins x %s s (xapi's restart after pool.join, then the new member plugs its storage) "
                     "+ %d SR x %s s (SR.create, then every host's PBD.plug at once) = %s s."
                     % (detail["joins"], _num(detail["per_join"], 1), detail["srs"], _num(detail["per_sr"], 1),
                        _num(row["limit_seconds"])))
    if "hosts" in detail:
        lines.append("- Limit: %d hosts x (evacuation %s s: its running VMs migrating at once + reboot %s s: "
                     "shutdown_delay + reboot + pbd_plug) = %s s."
                     % (detail["hosts"], _num(detail["evacuation_per_host"]), _num(detail["reboot_per_host"]),
                        _num(row["limit_seconds"])))
    limit_by_timing = detail.get("by_timing", {})
    for i, run in enumerate(row.get("runs", [])):
        by_timing = ", ".join("%s %s" % (k, _num(v)) for k, v in run.get("simulated_critical_by_timing", {}).items())
        lines.append("- Run %d: wall %s s at s=%s; C = %s s (%s); all simulated work %s s; not scaled %s s, of which "
                     "Ansible about %s s (%s module invocations, %s controller tasks, %s skipped); ratio %s, without "
                     "Ansible %s%s."
                     % (i + 1, _num(run["wall_seconds"]), row["time_scale"], _num(run["simulated_critical_seconds"]),
                        by_timing, _num(run["simulated_seconds_total"]), _num(run["unscaled_seconds"]),
                        _num(run["ansible_seconds_estimate"]), run["tasks"].get("module"),
                        run["tasks"].get("controller"), run["tasks"].get("skipped"), _num(run["ratio"]),
                        _num(run["ratio_without_ansible"]), "" if run.get("returncode") == 0 else " - FAILED"))
        jobs = run.get("background_jobs") or []
        if jobs:
            lines.append("  In the background (async): %d hosts' VMs coming back, %s s of simulated work each (median); "
                         "the foreground ran %s s (median) of simulated work meanwhile, so C counts %s s of them."
                         % (len(jobs), _num(median(job["simulated_seconds"] for job in jobs)),
                            _num(median(job["covered_by_foreground"] for job in jobs)), _num(sum(job["added"] for job in jobs))))
        beyond = _beyond_limit(run.get("simulated_critical_by_timing", {}), limit_by_timing)
        if beyond:
            lines.append("  Beyond the limit: simulated %s; not scaled %s s (Ansible about %s s, the rest the modules' "
                         "processes, XAPI calls and waits)." % (beyond, _num(run["unscaled_seconds"]),
                                                                _num(run["ansible_seconds_estimate"])))
    for problem in row.get("problems", []):
        lines.append("- Problem: %s" % problem.replace("\n", " "))
    return lines


def _beyond_limit(critical, limit):
    """"migrate_per_gib +768 s, master_transition +36 s": simulated seconds on the critical path beyond
    what the limit counts, by timing."""
    parts = []
    for timing in sorted(set(critical) | set(limit)):
        extra = critical.get(timing, 0.0) - limit.get(timing, 0.0)
        if abs(extra) >= 0.5:
            parts.append("%s %+.0f s" % (timing, extra))
    return ", ".join(parts)


def _overhead(section):
    lines = ["## 4. Ansible's own overhead", "",
             "A playbook of %s `ansible.builtin.set_fact` tasks and %s tasks of a module that does nothing "
             "(`bench/ansible/library/bench_noop.py`: the collection's connection options and imports, so "
             "AnsiballZ packs and runs it like the collection's modules), local connection, %s runs. Per task: the "
             "time between consecutive results."
             % (section.get("tasks_per_run", 0) + 1, section.get("tasks_per_run", 0) + 1, section.get("repeats")), ""]
    header = ["Figure", "Median (min-max, n)"]
    rows = [
        ("ansible-playbook start (process start to the first task)", _spread(section.get("playbook_start")) + " s"),
        ("ansible-playbook end (last result to exit)", _spread(section.get("playbook_end")) + " s"),
        ("One module task (no XAPI call)", _spread(section.get("module_task")) + " s"),
        ("... of which the module's own process (the no-op module run directly)",
         _spread(section.get("module_process")) + " s"),
        ("... of which the controller (task, AnsiballZ, result)",
         _spread(section.get("controller_share_of_module_task")) + " s"),
        ("One controller-only task (set_fact)", _spread(section.get("controller_task")) + " s"),
    ]
    lines += _table(header, rows)
    return lines


def _simulator(section):
    lines = ["## 5. The simulator", "",
             "`%s` served by `python -m xapisim serve` (no added latency); limits from "
             "`simulator/tests/test_speed.py` (memory has none)." % section.get("lab"), ""]
    header = ["Figure", "Median (min-max, n)", "Limit", "Ratio", "Result"]
    rows = []
    for row in section.get("rows", []):
        rows.append([row["what"], "%s %s" % (_spread(row["figure"]), row["unit"]),
                     "%s %s" % (_num(row["limit"]), row["unit"]) if row["limit"] is not None else "-",
                     _num(row["ratio"]), STATUS_WORDS.get(row["status"], row["status"])])
    lines += _table(header, rows)
    return lines


def render(results):
    misses = missed(results)
    absent = not_measured(results)
    lines = ["# Benchmarks", "",
             "Written by `make bench` (bench/run.py) from `bench/results.json`; do not edit by hand. "
             "The simulator (xapisim) stands in for XenServer; every lab call costs a realistic %s ms. "
             "Targets from issue 9." % results.get("settings", {}).get("latency_ms"), ""]
    if misses:
        lines.append("**%d target(s) missed:** %s." % (len(misses), "; ".join(misses)))
    else:
        lines.append("**Every measured target met.**")
    if absent:
        lines.append("")
        lines.append("Not measured: %s." % "; ".join(absent))
    lines += ["", "## Machine and versions", ""] + _machine(results)
    if results.get("calls"):
        lines += [""] + _calls(results["calls"])
    if results.get("latency"):
        lines += [""] + _latency(results["latency"])
    if results.get("roles"):
        lines += [""] + _roles(results["roles"])
    if results.get("overhead"):
        lines += [""] + _overhead(results["overhead"])
    if results.get("simulator"):
        lines += [""] + _simulator(results["simulator"])
    return "\n".join(lines) + "\n"
