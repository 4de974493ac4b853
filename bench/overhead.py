# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ansible's own cost, without any XAPI call: the start of ansible-playbook, the time per task of a
module that does nothing (bench/ansible/library/bench_noop.py: the collection's connection options
and imports, so AnsiballZ packs and runs it like the collection's modules) and of a task that runs on
the controller only (ansible.builtin.set_fact), and the same no-op module run directly (a Python
process), which is the part of a module task any module invocation costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.playbook import ANSIBLE_DIR, run_playbook, write_playbook
from bench.stats import summary

TASKS = 16
# Actions that run on the controller only (no module process); any other action is a module task.
CONTROLLER_ACTIONS = {
    "set_fact", "debug", "assert", "fail", "meta", "include_tasks", "import_tasks", "include_role", "import_role",
    "include_vars", "add_host", "group_by", "set_stats", "pause", "wait_for_connection", "validate_argument_spec",
}
NOOP_ARGS = {"hostname": "https://192.0.2.1", "password": "not-used", "validate_certs": False}


def is_controller_action(action):
    return action.rsplit(".", 1)[-1] in CONTROLLER_ACTIONS


def _playbook(path):
    tasks = [{"name": "controller %d" % i, "ansible.builtin.set_fact": {"bench_value": i}} for i in range(TASKS + 1)]
    tasks += [{"name": "noop %d" % i, "bench_noop": dict(NOOP_ARGS)} for i in range(TASKS + 1)]
    return write_playbook(path, [{"name": "Ansible overhead", "hosts": "localhost", "gather_facts": False,
                                  "tasks": tasks}])


def _per_task(events, prefix):
    times = [e["time"] for e in events if e["event"] == "result" and e["name"].startswith(prefix)]
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def run_noop_directly(workdir):
    args = Path(workdir) / "noop-args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": NOOP_ARGS}))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "collections"))
    started = time.time()
    process = subprocess.run([sys.executable, str(ANSIBLE_DIR / "library" / "bench_noop.py"), str(args)], env=env,
                             capture_output=True, text=True, check=False)
    if process.returncode != 0:
        raise RuntimeError("bench_noop failed: %s" % (process.stdout + process.stderr))
    return time.time() - started


def measure(workdir, repeats, log):
    workdir = Path(workdir) / "overhead"
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = _playbook(workdir / "overhead.yml")
    starts, module_tasks, controller_tasks, ends, direct = [], [], [], [], []
    for dummy in range(repeats):
        run = run_playbook(playbook, workdir)
        if run.returncode != 0:
            raise RuntimeError("the overhead playbook failed:\n%s" % run.tail())
        starts.append(run.first_task_start() - run.started)
        ends.append(run.ended - run.results()[-1]["time"])
        module_tasks.append(_per_task(run.events, "noop "))
        controller_tasks.append(_per_task(run.events, "controller "))
        direct.append(run_noop_directly(workdir))
        log("overhead: start %.2f s, module task %.3f s, controller task %.3f s, module process alone %.3f s"
            % (starts[-1], module_tasks[-1], controller_tasks[-1], direct[-1]))
    own = [m - d for m, d in zip(module_tasks, direct)]
    return {
        "tasks_per_run": TASKS,
        "repeats": repeats,
        "playbook_start": summary(starts),
        "playbook_end": summary(ends),
        "module_task": summary(module_tasks),
        "controller_task": summary(controller_tasks),
        "module_process": summary(direct),
        "controller_share_of_module_task": summary(own),
    }


def estimate(overhead, task_counts):
    """Ansible's time in a playbook run: its start and end plus the cost of each task that ran.
    task_counts: {"module": n, "controller": n, "skipped": n}; a skipped task costs about a
    controller task."""
    if not overhead:
        return None
    module = overhead["module_task"]["median"]
    controller = overhead["controller_task"]["median"]
    return (overhead["playbook_start"]["median"] + overhead["playbook_end"]["median"]
            + task_counts.get("module", 0) * module
            + (task_counts.get("controller", 0) + task_counts.get("skipped", 0)) * controller)
