# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""make bench's pure parts, on made-up figures (no benchmark figure is asserted here): the
RESULTS.md renderer, the list of missed targets, and the interval arithmetic of the role ratios."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.report import missed, not_measured, render  # noqa: E402  pylint: disable=wrong-import-position
from bench.stats import critical_chain, summary, union_seconds  # noqa: E402  pylint: disable=wrong-import-position


def _calls_row(status):
    count = {"total": summary([12, 12]), "by_kind": {"session": 2, "read": 10, "event": 0, "write": 0}}
    return {"module": "xs_pool_info", "run": "read", "note": "", "hosts_4": count, "hosts_64": count,
            "target": "same count on 4 and 64 hosts; at most 15", "status": status}


def _results(calls_status="pass", role_status="pass"):
    role = {"name": "pool_build, 16 hosts", "what": "a pool build", "status": role_status, "limit_seconds": 259.0,
            "limit_detail": {"joins": 15, "per_join": 17.0, "srs": 1, "per_sr": 4.0}, "time_scale": 0.005,
            "target": "ratio <= 1.15", "runs": [], "problems": []}
    for key in ("simulated_critical_seconds", "real_time_estimate_seconds", "ratio", "ratio_without_ansible",
                "ratio_at_time_scale"):
        role[key] = summary([1.1, 1.2])
    return {
        "machine": {"date": "2026-01-01T00:00:00Z", "cpu_cores": 2, "cpu_model": "Test CPU", "memory_gib": 4.0},
        "settings": {"latency_ms": 5.0},
        "calls": {"rows": [_calls_row(calls_status)], "sizes": [4, 64], "repeats": 2, "missing_modules": ["xs_x"],
                  "problems": []},
        "latency": {"runs": 2, "rows": [{"case": "reboot", "what": "a reboot", "latency": summary([0.1, 0.2]),
                                         "event_delivery": summary([0.001]), "time_scale": 0.005,
                                         "target": "median <= 0.5 s", "status": "pass"}]},
        "roles": {"rows": [role, {"name": "rolling_maintenance, 16 hosts", "what": "-", "status": "not measured",
                                  "reason": "role missing"}]},
        "overhead": {"tasks_per_run": 16, "repeats": 2, "module_task": summary([0.3, 0.4])},
        "simulator": {"lab": "big-pool.yml", "rows": [{"what": "start", "unit": "s", "figure": summary([3.0]),
                                                       "limit": 10.0, "ratio": 0.3, "status": "pass"}]},
    }


def test_every_section_is_rendered_with_its_target_and_result():
    text = render(_results())
    for heading in ("## Machine and versions", "## 1. XAPI calls per module", "## 2. Change-detection latency",
                    "## 3. Roles against their physical limits", "## 4. Ansible's own overhead", "## 5. The simulator"):
        assert heading in text
    assert "**Every measured target met.**" in text
    assert "| `xs_pool_info` | read | 12 | 12 | 1.00 | 2 / 10 / 0 / 0 | same count on 4 and 64 hosts; at most 15 | met |" in text
    assert "not measured: role missing" in text
    assert "`xs_x`" in text


def test_missed_targets_are_listed_and_named_in_the_table():
    results = _results(calls_status="miss", role_status="miss")
    assert missed(results) == ["calls: xs_pool_info (read)", "roles: pool_build, 16 hosts"]
    assert not_measured(results) == ["roles: rolling_maintenance, 16 hosts"]
    text = render(results)
    assert "**2 target(s) missed:**" in text
    assert text.count("**MISSED**") == 2


def test_a_spread_shows_min_max_and_runs():
    assert "0.150 (0.100-0.200, n=2) s" in render(_results())


def test_union_of_intervals_counts_overlaps_once_and_clips():
    assert union_seconds([(0, 2), (1, 3), (5, 6)]) == 4
    assert union_seconds([(0, 2), (1, 3), (5, 6)], start=1, end=5.5) == 2.5


def test_the_critical_chain_follows_operations_that_ran_one_after_another():
    sleeps = [{"start": 0, "end": 1, "realistic": 10, "timing": "api_restart"},
              {"start": 0, "end": 2, "realistic": 30, "timing": "migrate_per_gib"},   # in parallel: the longer counts
              {"start": 2, "end": 3, "realistic": 5, "timing": "pbd_plug"}]
    assert critical_chain(sleeps) == (35, {"migrate_per_gib": 30, "pbd_plug": 5})


def test_a_background_job_counts_only_what_the_foreground_does_not_cover():
    from bench.playbook import PlaybookRun
    from bench.roles import critical_with_background

    def result(time, host, action, job, uuid):
        return {"event": "result", "time": time, "host": host, "action": action, "job": job, "uuid": uuid, "status": "ok"}
    events = [{"event": "task_start", "time": 0.9, "uuid": "leave"}, result(1.0, "h1", "xs_maintenance", "j1", "leave"),
              {"event": "task_start", "time": 9.9, "uuid": "leave"}, result(10.0, "h2", "xs_maintenance", "j2", "leave"),
              result(9.0, "h2", "async_status", "j1", "wait"), result(19.0, "h3", "async_status", "j2", "wait")]
    run = PlaybookRun(0.0, 20.0, 0, "", events)
    sleeps = [{"start": 1.1, "end": 1.2, "realistic": 32, "timing": "migrate_per_gib", "session": "S1"},  # h1's VMs back
              {"start": 2.0, "end": 2.1, "realistic": 32, "timing": "migrate_per_gib", "session": "F"},   # h2 emptied
              {"start": 3.0, "end": 8.0, "realistic": 252, "timing": "reboot", "session": "F"},           # h2 rebooted
              {"start": 10.1, "end": 10.2, "realistic": 32, "timing": "migrate_per_gib", "session": "S2"},  # h2's VMs back
              {"start": 11.0, "end": 11.1, "realistic": 10, "timing": "pbd_plug", "session": "F"}]
    critical, by_timing, jobs = critical_with_background(run, sleeps, {"S1": "h1", "S2": "h2"})
    # h1's return is hidden behind h2's evacuation and reboot; h2's only partly behind the last 10 s
    assert [(job["host"], job["simulated_seconds"], job["covered_by_foreground"], job["added"]) for job in jobs] == [
        ("h1", 32, 284, 0), ("h2", 32, 10, 22)]
    assert by_timing == {"migrate_per_gib": 32, "reboot": 252, "pbd_plug": 10} and critical == 32 + 252 + 10 + 22
