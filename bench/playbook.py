# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs ansible-playbook as an operator would (local connection, the venv's Python), with the
bench_timing callback recording when each task started and returned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANSIBLE_DIR = Path(__file__).resolve().parent / "ansible"
PLAYBOOK_TIMEOUT_SECONDS = 1800


class PlaybookRun(object):
    def __init__(self, started, ended, returncode, output, events):
        self.started = started
        self.ended = ended
        self.returncode = returncode
        self.output = output
        self.events = events

    @property
    def seconds(self):
        return self.ended - self.started

    def results(self, status=None):
        return [e for e in self.events if e["event"] == "result" and (status is None or e["status"] == status)]

    def task_counts(self):
        """{status: number of task results} (one per host and task; a loop is one result)."""
        counts = {}
        for event in self.results():
            counts[event["status"]] = counts.get(event["status"], 0) + 1
        return counts

    def invocations(self, is_controller_action):
        """{"module": n, "controller": n, "skipped": n}: module invocations (each loop item counts),
        controller-only tasks, and skipped tasks or items."""
        counts = {"module": 0, "controller": 0, "skipped": 0}
        items = {}
        for event in self.events:
            if event["event"] == "item":
                items.setdefault((event["uuid"], event["host"]), []).append(event)
        for event in self.results():
            entries = items.get((event["uuid"], event["host"]), []) if event.get("loop") else [event]
            for entry in entries:
                if entry["status"] == "skipped":
                    counts["skipped"] += 1
                elif is_controller_action(entry["action"]):
                    counts["controller"] += 1
                else:
                    counts["module"] += 1
        return counts

    def first_task_start(self):
        return next((e["time"] for e in self.events if e["event"] == "task_start"), None)

    def tail(self, lines=40):
        return "\n".join(self.output.splitlines()[-lines:])


def write_playbook(path, plays):
    """A playbook from a list of play dicts (JSON is YAML)."""
    Path(path).write_text(json.dumps(plays, indent=1))
    return path


def run_playbook(playbook, workdir, inventory=None, extra_vars=None, env=None, args=()):
    """Runs `playbook` (a path); returns a PlaybookRun. extra_vars go through a 0600 file."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timing = workdir / "timing.jsonl"
    timing.unlink(missing_ok=True)
    if inventory is None:
        inventory = workdir / "inventory.ini"
        inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        vars_path = workdir / "extra-vars.json"
        fd = os.open(str(vars_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(extra_vars, handle)
        command += ["-e", "@%s" % vars_path]
    command += list(args)
    environment = dict((k, v) for k, v in os.environ.items() if not k.startswith("XENSERVER_"))
    environment.update({
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_CALLBACK_PLUGINS": str(ANSIBLE_DIR / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
        "ANSIBLE_LIBRARY": str(ANSIBLE_DIR / "library"),
        "BENCH_TIMING_FILE": str(timing),
        "PATH": "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")),
    })
    environment.update(env or {})
    started = time.time()
    process = subprocess.run(command, env=environment, cwd=str(workdir), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=PLAYBOOK_TIMEOUT_SECONDS, check=False)
    ended = time.time()
    events = [json.loads(line) for line in timing.read_text().splitlines()] if timing.exists() else []
    return PlaybookRun(started, ended, process.returncode, process.stdout + process.stderr, events)
