# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The roles against their physical limits: playbooks/pool_build.yml and
playbooks/rolling_maintenance.yml run with ansible-playbook against a lab, timed from start to exit.

The limit is what the lab's operations must take, from the lab's timings (realistic seconds):
- pool build of N hosts: each of the N - 1 joins (xapi's restart: the fuse, api_restart x 0.5, then
  api_restart, then the new member plugs its storage, pbd_plug), plus each shared SR's creation
  (SR.create's pbd_plug, then every host's PBD.plug at once, pbd_plug);
- rolling maintenance with reboots: for each host, its evacuation (its running VMs migrate at once,
  up to xapi's batch of 10: the longest migration, migrate_per_gib x memory) and its reboot
  (shutdown_delay + reboot + pbd_plug for its storage).

A run's wall time at the bench's time_scale s holds two kinds of time. The lab's operations take
their realistic duration times s; bench.simserver records each simulated duration with its real
start and end, and the longest chain of them that ran one after another (weighted by realistic
seconds) is C, the simulated critical path of the run. Everything else - Ansible, module processes,
the 5 ms per call, event round-trips - takes the same time at any scale. So the run would take
wall + C x (1 - s) at time_scale 1: the real-time estimate, whose ratio to the limit is the figure
(target: ratio <= 1.15 for the pool build, 1.10 for the rolling maintenance). Also given: the same
without Ansible's own time (bench.overhead: its start and end, and each task's cost without XAPI,
times the tasks that ran), and the plain ratio at the bench's time_scale, which mostly measures
Ansible. C above the limit is simulated work beyond it (VMs migrated back, master handovers,
probes ...), broken down by timing. A task run in the background (async) is counted by what it adds
beyond the foreground it overlaps (critical_with_background)."""

from __future__ import annotations

import heapq
from pathlib import Path

from xapisim.labfile import load

from bench import labs
from bench.overhead import estimate, is_controller_action
from bench.playbook import REPO, run_playbook
from bench.stats import critical_chain, summary, union_seconds

ASYNC_STATUS_ACTIONS = ("async_status", "ansible.builtin.async_status", "ansible.legacy.async_status")

POOL_BUILD_TARGET = 1.15
ROLLING_TARGET = 1.10
XAPI_EVACUATION_BATCH = 10   # xapi.conf evacuation-batch-size (the simulator's DEFAULT_BATCH_SIZE)
JOIN_FUSE = 0.5              # xapi restarts api_restart x 0.5 after pool.join returned (xapisim.api.pool.FUSE)


def role_present(name):
    return (REPO / "roles" / name / "tasks" / "main.yml").exists()


# --- limits ---------------------------------------------------------------------------------------
def pool_build_limit(lab, srs=1):
    timings = load(lab)["timings"]
    joins = len(lab["hosts"]) - 1
    join = timings["api_restart"] * (1 + JOIN_FUSE) + timings["pbd_plug"]
    by_timing = {"api_restart": joins * timings["api_restart"] * (1 + JOIN_FUSE),
                 "pbd_plug": joins * timings["pbd_plug"] + srs * 2 * timings["pbd_plug"]}
    return joins * join + srs * 2 * timings["pbd_plug"], {
        "joins": joins, "per_join": join, "srs": srs, "per_sr": 2 * timings["pbd_plug"], "by_timing": by_timing}


def _parallel_seconds(durations, batch):
    """How long `durations` take when at most `batch` run at once, each starting as one ends."""
    running, end = [], 0.0
    for duration in durations:
        start = heapq.heappop(running) if len(running) >= batch else 0.0
        heapq.heappush(running, start + duration)
        end = max(end, start + duration)
    return end


def rolling_limit(lab):
    normalized = load(lab)
    timings = normalized["timings"]
    per_host = {}
    for host in normalized["hosts"]:
        migrations = [vm["memory_gib"] * timings["migrate_per_gib"] for vm in host.get("vms", [])
                      if vm["power_state"] == "running"]
        evacuation = _parallel_seconds(migrations, XAPI_EVACUATION_BATCH)
        reboot = timings["shutdown_delay"] + timings["reboot"] + timings["pbd_plug"]
        per_host[host["name"]] = {"evacuation": evacuation, "reboot": reboot}
    total = sum(h["evacuation"] + h["reboot"] for h in per_host.values())
    first = next(iter(per_host.values()))
    hosts = len(per_host)
    by_timing = {"migrate_per_gib": sum(h["evacuation"] for h in per_host.values()),
                 "shutdown_delay": hosts * timings["shutdown_delay"], "reboot": hosts * timings["reboot"],
                 "pbd_plug": hosts * timings["pbd_plug"]}
    return total, {"hosts": hosts, "evacuation_per_host": first["evacuation"], "reboot_per_host": first["reboot"],
                   "by_timing": by_timing}


def critical_with_background(run, sleeps, host_enabled_by):
    """C, its breakdown by timing, and what the background jobs add to it.

    A task run with async (the rolling_maintenance role brings a host's VMs back while the next host
    is emptied) goes on while the following tasks run; it is waited for only at its async_status. At
    the bench's small time_scale its operations end before the next task even starts, so the chain of
    the whole run would put them one after another; at time_scale 1 they overlap. So C is the chain of
    the foreground's operations, plus for each background job the part of its own chain that the
    foreground chain between its start and its async_status does not cover. A job's operations are
    those of its XAPI sessions: a leaving host's job is the one that enabled that host."""
    results = [e for e in run.results() if e.get("job")]
    jobs = []
    for launch in (e for e in results if e["action"] not in ASYNC_STATUS_ACTIONS):
        collected = min([e["time"] for e in results if e["job"] == launch["job"] and e["action"] in ASYNC_STATUS_ACTIONS]
                        or [run.ended])
        sessions = set(session for session, host in host_enabled_by.items() if host == launch["host"])
        started = max([e["time"] for e in run.events if e["event"] == "task_start" and e["uuid"] == launch["uuid"]
                       and e["time"] <= launch["time"]] or [launch["time"]])
        jobs.append({"host": launch["host"], "started": started, "collected": collected, "sessions": sessions})
    mine = [[s for s in sleeps if s.get("session") in job["sessions"] and s["start"] >= job["started"]] for job in jobs]
    claimed = set(id(s) for group in mine for s in group)
    foreground = [s for s in sleeps if id(s) not in claimed]
    critical, by_timing = critical_chain(foreground)
    report = []
    for job, own in zip(jobs, mine):
        length = critical_chain(own)[0]
        covered = critical_chain([s for s in foreground if job["started"] <= s["start"] <= job["collected"]])[0]
        extra = max(0.0, length - covered)
        critical += extra
        report.append({"host": job["host"], "simulated_seconds": round(length, 1),
                       "covered_by_foreground": round(covered, 1), "added": round(extra, 1)})
    return critical, by_timing, report


# --- one timed run --------------------------------------------------------------------------------
def _timed(lab, playbook, extra_vars, workdir, overhead, limit, env=None):
    bench_seq = lab.last_bench_seq()
    simulated_before = lab.simulated_seconds()
    run = run_playbook(playbook, workdir, extra_vars=extra_vars, env=dict(lab.environment(), **(env or {})))
    sleeps = [s for s in lab.sleeps(bench_seq) if run.started <= s["start"] <= run.ended]
    simulated = lab.simulated_seconds() - simulated_before
    scale = lab.time_scale
    critical, by_timing, background = critical_with_background(run, sleeps, lab.host_enabled_by())
    busy = union_seconds([(s["start"], s["end"]) for s in sleeps], run.started, run.ended)
    tasks = run.invocations(is_controller_action)
    ansible = estimate(overhead, tasks)
    # at time_scale 1 the simulated part would take `critical` seconds instead of critical * scale
    real = run.seconds + critical * (1 - scale)
    without = real - ansible if ansible is not None else None
    return run, {
        "wall_seconds": round(run.seconds, 2),
        "busy_seconds": round(busy, 3),
        "simulated_critical_seconds": round(critical, 1),
        "simulated_critical_by_timing": dict((k, round(v, 1)) for k, v in sorted(by_timing.items())),
        "simulated_seconds_total": round(simulated, 1),
        "background_jobs": background,
        "unscaled_seconds": round(run.seconds - critical * scale, 2),
        "tasks": tasks,
        "ansible_seconds_estimate": round(ansible, 2) if ansible is not None else None,
        "real_time_estimate_seconds": round(real, 1),
        "ratio_at_time_scale": round(run.seconds / (limit * scale), 3),
        "ratio": round(real / limit, 4),
        "ratio_without_ansible": round(without / limit, 4) if without is not None else None,
        "returncode": run.returncode,
    }


def _summarize(name, what, samples, limit, detail, target, time_scale, problems):
    good = [s for s in samples if s.get("returncode") == 0]
    row = {"name": name, "what": what, "limit_seconds": round(limit, 1), "limit_detail": detail,
           "target": "ratio <= %.2f" % target, "target_value": target, "time_scale": time_scale, "runs": samples,
           "problems": problems}
    for key in ("wall_seconds", "unscaled_seconds", "simulated_critical_seconds", "simulated_seconds_total",
                "ansible_seconds_estimate", "real_time_estimate_seconds", "ratio_at_time_scale", "ratio",
                "ratio_without_ansible"):
        row[key] = summary([s.get(key) for s in good])
    if not good:
        row["status"] = "miss"
    else:
        row["status"] = "pass" if row["ratio"]["median"] <= target and len(good) == len(samples) else "miss"
    return row


def not_measured(name, what, reason):
    return {"name": name, "what": what, "status": "not measured", "reason": reason}


def _not_runnable(name, what, role, repeats):
    """The "not measured" row when the role is missing or no run is asked for, else None."""
    if not role_present(role):
        return not_measured(name, what, "role missing: roles/%s" % role)
    if repeats < 1:
        return not_measured(name, what, "no run asked for")
    return None


def _record(name, repeat, sample, problem, samples, problems, log):
    """Keep one run's sample (failed when there is a problem) and say how it went."""
    if problem:
        problems.append("run %d: %s" % (repeat + 1, problem))
        sample["returncode"] = sample["returncode"] or 1
    samples.append(sample)
    log("roles: %s run %d: wall %.1f s, ratio %.3f (without Ansible %s)%s" % (
        name, repeat + 1, sample["wall_seconds"], sample["ratio"], sample["ratio_without_ansible"],
        "; " + problem.splitlines()[0] if problem else ""))


# --- pool build -----------------------------------------------------------------------------------
def pool_build(make_lab, hosts, repeats, workdir, overhead, log):
    """make_lab(hosts, repeat) -> a SimLab of `hosts` standalone hosts (bench.labs.standalone_lab)."""
    what = "pool_build of %d standalone hosts: storage network on eth1, one shared NFS SR, default SR" % hosts
    name = "pool_build, %d hosts" % hosts
    skipped = _not_runnable(name, what, "pool_build", repeats)
    if skipped:
        return skipped
    samples, problems, limit, detail, scale = [], [], None, None, None
    for repeat in range(repeats):
        with make_lab(hosts, repeat) as lab:
            limit, detail = pool_build_limit(lab.lab)
            scale = lab.time_scale
            block = int(lab.lab["hosts"][0]["address"].split(".")[2])
            members = [{"host": h["url"], "username": h["username"], "password": h["password"]}
                       for h in lab.info["hosts"][1:]]
            extra_vars = {
                "pool_build_name": "bench-pool-%d" % hosts,
                "pool_build_description": "built by make bench",
                "pool_build_members": members,
                "pool_build_storage_network": {"device": "eth1", "cidr": "10.%d.0.0/22" % block,
                                               "range_start": labs.storage_ip(block, 0)},
                "pool_build_srs": [{"name_label": labs.SHARED_SR, "type": "nfs",
                                    "device_config": {"server": lab.lab["storage"][0]["address"],
                                                      "serverpath": "/srv/vhd"}}],
                "pool_build_default_sr": labs.SHARED_SR,
            }
            run, sample = _timed(lab, REPO / "playbooks" / "pool_build.yml", extra_vars,
                                 Path(workdir) / ("pool-build-%d" % hosts), overhead, limit)
            problem = _check_pool_built(lab, hosts) if run.returncode == 0 else "the playbook failed:\n" + run.tail()
            _record(name, repeat, sample, problem, samples, problems, log)
    return _summarize(name, what, samples, limit, detail, POOL_BUILD_TARGET, scale, problems)


def _check_pool_built(lab, hosts):
    state = lab.state()
    pools = [p for p in state["pools"] if len(p["hosts"]) > 1]
    if len(pools) != 1 or len(pools[0]["hosts"]) != hosts:
        return "expected one pool of %d hosts, found pools of %s" % (hosts, [len(p["hosts"]) for p in state["pools"]])
    objects = pools[0]["objects"]
    sr = [ref for ref, r in objects.get("SR", {}).items() if r["name_label"] == labs.SHARED_SR]
    if len(sr) != 1:
        return "expected one SR %s, found %d" % (labs.SHARED_SR, len(sr))
    attached = [p for p in objects.get("PBD", {}).values() if p["SR"] == sr[0] and p["currently_attached"]]
    if len(attached) != hosts:
        return "SR %s attached on %d of %d hosts" % (labs.SHARED_SR, len(attached), hosts)
    return None


# --- rolling maintenance --------------------------------------------------------------------------
def _placement(state):
    pool = state["pools"][0]["objects"]
    names = dict((ref, h["name_label"]) for ref, h in pool["host"].items())
    return dict((vm["name_label"], (names.get(vm["resident_on"], "-"), vm["power_state"]))
                for vm in pool["VM"].values() if not vm["is_control_domain"])


def rolling_maintenance(make_lab, hosts, repeats, workdir, overhead, log):
    """make_lab(hosts) -> a SimLab of a pool of `hosts` hosts with VMs (bench.labs.pool_lab)."""
    what = "rolling_maintenance of a %d-host pool with reboots (2 running VMs of 4 and 8 GiB per host)" % hosts
    name = "rolling_maintenance, %d hosts" % hosts
    skipped = _not_runnable(name, what, "rolling_maintenance", repeats)
    if skipped:
        return skipped
    samples, problems = [], []
    with make_lab(hosts) as lab:
        limit, detail = rolling_limit(lab.lab)
        for repeat in range(repeats):
            workdir_run = Path(workdir) / ("rolling-%d" % hosts)
            before = _placement(lab.state())
            bench_seq = lab.last_bench_seq()
            extra_vars = {"rolling_maintenance_reboot": True,
                          "rolling_maintenance_report_path": str(workdir_run / ("report-%d.json" % repeat))}
            run, sample = _timed(lab, REPO / "playbooks" / "rolling_maintenance.yml", extra_vars, workdir_run,
                                 overhead, limit)
            problem = None if run.returncode == 0 else "the playbook failed:\n" + run.tail()
            if problem is None:
                rebooted = set(m["host"] for m in lab.marks(bench_seq)
                               if m["field"] == "agent_start_time" and m.get("host") and m["time"] >= run.started)
                after = _placement(lab.state())
                if len(rebooted) != hosts:
                    problem = "%d of %d hosts rebooted" % (len(rebooted), hosts)
                elif after != before:
                    moved = sorted(vm for vm in before if before[vm] != after.get(vm))
                    problem = "%d VMs not back where they were: %s" % (len(moved), ", ".join(moved[:5]))
            _record(name, repeat, sample, problem, samples, problems, log)
        return _summarize(name, what, samples, limit, detail, ROLLING_TARGET, lab.time_scale, problems)
