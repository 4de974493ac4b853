# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""XAPI calls made by each module, for a run that changes nothing and for a run that changes one
thing, on a 4-host and a 64-host pool with the same content per host (bench.labs.pool_lab). The
counts come from the simulator's call log (every call, whichever host it reached).

Target: the same count on both pools; xs_pool_info at most 15 calls. A change that XAPI can only
make host by host (a bond's mode: one Bond.set_mode per host) is declared with `per_host_writes`:
its writes may grow by exactly that many per host, every other call may not."""

from __future__ import annotations

from pathlib import Path

from bench import labs
from bench.modrun import run_module
from bench.stats import summary

MODULES = ("xs_pool_info", "xs_pool", "xs_pool_member", "xs_sr", "xs_pif", "xs_bond", "xs_maintenance",
           "xs_host_power", "xs_host")
INFO_CALL_LIMIT = 15
KINDS = ("session", "read", "event", "write")
SIZES = (4, 64)


class Scenario(object):
    def __init__(self, module, run, args, changed, per_host_writes=0, note="", lab="pool"):
        self.module = module
        self.lab = lab                      # "pool": a pool of N hosts; "join": N - 1 hosts and one to join
        self.run = run                      # "no change", "change", ...
        self.args = args                    # args(lab, iteration) -> module options
        self.changed = changed              # what the module must report
        self.per_host_writes = per_host_writes
        self.note = note


def _nfs(lab):
    return {"server": lab.lab["storage"][0]["address"], "serverpath": "/srv/vhd"}


def _mode_before(i):
    """The power-on mode of h02 before repeat i: each change run flips it."""
    return "disabled" if i % 2 == 0 else "wake-on-lan"


def _bond_before(i):
    return "balance-slb" if i % 2 == 0 else "active-backup"


def scenarios():
    """In the order they run on one lab (a later scenario may rely on an earlier one's change)."""
    return [
        Scenario("xs_pool_info", "read", lambda lab, i: {}, False),
        Scenario("xs_pool_info", "read, resource_data", lambda lab, i: {"resource_data": True}, False),
        Scenario("xs_pool", "no change", lambda lab, i: {"name_label": lab.lab["name"]}, False),
        Scenario("xs_pool", "change", lambda lab, i: {"name_description": "bench %d" % i}, True,
                 note="name_description"),
        Scenario("xs_host", "no change", lambda lab, i: {"host": "h02", "name_label": "h02"}, False),
        Scenario("xs_host", "change", lambda lab, i: {"host": "h02", "name_description": "bench %d" % i}, True,
                 note="name_description of one host"),
        Scenario("xs_host_power", "no change",
                 lambda lab, i: {"host": "h02", "state": "configured", "power_on_mode": _mode_before(i)}, False),
        Scenario("xs_host_power", "change",
                 lambda lab, i: {"host": "h02", "state": "configured",
                                 "power_on_mode": _mode_before(i + 1)}, True,
                 note="power_on_mode of one host"),
        Scenario("xs_pif", "no change",
                 lambda lab, i: {"host": "h02", "device": "eth1", "purpose": "Storage"}, False),
        Scenario("xs_pif", "change",
                 lambda lab, i: {"host": "h02", "device": "eth1", "disallow_unplug": i % 2 == 0}, True,
                 note="disallow_unplug of one interface"),
        Scenario("xs_bond", "no change",
                 lambda lab, i: {"network": labs.BOND_NETWORK, "devices": ["eth2", "eth3"], "mode": _bond_before(i)},
                 False),
        Scenario("xs_bond", "change",
                 lambda lab, i: {"network": labs.BOND_NETWORK, "devices": ["eth2", "eth3"],
                                 "mode": _bond_before(i + 1)}, True,
                 per_host_writes=1, note="mode of the pool-wide bond: Bond.set_mode on every host"),
        Scenario("xs_sr", "no change",
                 lambda lab, i: {"name_label": labs.SHARED_SR, "type": "nfs", "device_config": _nfs(lab)}, False),
        Scenario("xs_sr", "change",
                 lambda lab, i: {"name_label": "bench-sr-%d" % i, "type": "nfs", "device_config": _nfs(lab)}, True,
                 note="a new shared NFS SR, attached on every host (SR.create plugs every host's PBD)"),
        Scenario("xs_maintenance", "no change", lambda lab, i: {"host": "h02", "state": "active"}, False),
        Scenario("xs_maintenance", "change: enter",
                 lambda lab, i: {"host": "h03", "state": "maintenance"}, True,
                 note="h03 into maintenance: 2 running VMs evacuated, 1 suspended VM recorded"),
        Scenario("xs_maintenance", "change: leave",
                 lambda lab, i: {"host": "h03", "state": "active"}, True,
                 note="h03 out of maintenance, its VMs migrated back"),
        Scenario("xs_pool_member", "no change",
                 lambda lab, i: {"host": lab.host("h02")["address"], "host_password": labs.PASSWORD}, False),
        Scenario("xs_pool_member", "change: join",
                 lambda lab, i: {"host": lab.host("c%02d" % (i + 1))["url"], "host_password": labs.PASSWORD}, True,
                 lab="join", note="a standalone host joins as the pool's last host (calls to the pool and to it)"),
        Scenario("xs_pool_member", "change: eject",
                 lambda lab, i: {"host": "c%02d" % (i + 1), "state": "absent"}, True, lab="join",
                 note="that host ejected again (no VMs, no local disks)"),
    ]


def count_calls(calls):
    counts = dict((kind, 0) for kind in KINDS)
    for call in calls:
        counts[call["kind"]] = counts.get(call["kind"], 0) + 1
    counts["total"] = len(calls)
    return counts


def measure(lab_factory, workdir, repeats, log):
    """Runs every scenario `repeats` times on each pool size; returns the section of the results.
    lab_factory(kind, hosts) -> a SimLab, not started: kind "pool" is a pool of `hosts` hosts, kind
    "join" a pool of `hosts` - 1 hosts and `repeats` standalone hosts c01 ... (XenServer pools have at
    most 64 hosts; an ejected host comes back with TLS verification off, so each join takes a fresh
    host)."""
    modules = Path(__file__).resolve().parents[1] / "plugins" / "modules"
    available = [m for m in MODULES if (modules / ("%s.py" % m)).exists()]
    todo = [s for s in scenarios() if s.module in available]
    measured = {}   # (module, run) -> {size: [counts per repeat]}
    problems = []
    for size in SIZES:
        for kind in ("pool", "join"):
            with lab_factory(kind, size) as lab:
                seen = lab.last_seq()
                # repeat by repeat, so that changes alternate (enter/leave maintenance, join/eject)
                for i in range(repeats):
                    for scenario in [s for s in todo if s.lab == kind]:
                        samples = measured.setdefault((scenario.module, scenario.run), {}).setdefault(size, [])
                        run = run_module(scenario.module, dict(lab.connection(), **scenario.args(lab, i)),
                                         Path(workdir) / "calls")
                        calls = lab.calls(seen)
                        seen = calls[-1]["seq"] if calls else seen
                        if run.failed or run.changed != scenario.changed:
                            problems.append("%s (%s) on %d hosts, run %d: %s" % (
                                scenario.module, scenario.run, size, i + 1,
                                "changed=%s, expected %s" % (run.changed, scenario.changed) if not run.failed
                                else "failed: %s" % run.describe()))
                            samples.append(None)
                            continue
                        samples.append(count_calls(calls))
            for scenario in [s for s in todo if s.lab == kind]:
                samples = measured.get((scenario.module, scenario.run), {}).get(size, [])
                log("calls: %-15s %-22s %2d hosts: %s" % (scenario.module, scenario.run, size,
                                                          [s["total"] if s else None for s in samples]))
    rows = [_row(scenario, measured.get((scenario.module, scenario.run), {})) for scenario in todo]
    return {"rows": rows, "missing_modules": [m for m in MODULES if m not in available], "problems": problems,
            "repeats": repeats, "sizes": list(SIZES)}


def _row(scenario, by_size):
    row = {"module": scenario.module, "run": scenario.run, "note": scenario.note,
           "per_host_writes": scenario.per_host_writes}
    for size in SIZES:
        samples = by_size.get(size, [])
        row["hosts_%d" % size] = {
            "total": summary([s["total"] if s else None for s in samples]),
            "by_kind": dict((kind, summary([s[kind] if s else None for s in samples])["median"]) for kind in KINDS),
        }
    small, large = row["hosts_%d" % SIZES[0]], row["hosts_%d" % SIZES[-1]]
    small_samples = by_size.get(SIZES[0], [])
    if small["total"]["median"] is None or large["total"]["median"] is None:
        row["status"], row["target"] = "not measured", "same count on %d and %d hosts" % SIZES
        return row
    extra_hosts = SIZES[-1] - SIZES[0]
    expected_growth = scenario.per_host_writes * extra_hosts
    growth = dict((kind, large["by_kind"][kind] - small["by_kind"][kind]) for kind in KINDS)
    allowed = dict((kind, expected_growth if kind == "write" else 0) for kind in KINDS)
    # Medians per kind. The event.from calls of a wait depend on timing (a task's progress updates may
    # or may not wake it), so on 64 hosts they may be anywhere within the spread seen on 4 hosts.
    same = all(growth[kind] == allowed[kind] for kind in KINDS if kind != "event") and \
        large["by_kind"]["event"] <= max(s["event"] for s in small_samples if s)
    if scenario.per_host_writes:
        row["target"] = "same count except %d write per host (+%d)" % (scenario.per_host_writes, expected_growth)
    else:
        row["target"] = "same count on %d and %d hosts" % SIZES
    if any(s and s["event"] for s in small_samples):
        row["target"] += " (event.from: within the %d-host spread)" % SIZES[0]
    ok = same
    if scenario.module == "xs_pool_info" and scenario.run == "read":
        row["target"] += "; at most %d" % INFO_CALL_LIMIT
        row["info_limit"] = INFO_CALL_LIMIT
        ok = ok and large["total"]["max"] <= INFO_CALL_LIMIT and small["total"]["max"] <= INFO_CALL_LIMIT
    row["growth"] = growth
    row["status"] = "pass" if ok else "miss"
    return row
