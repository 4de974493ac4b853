# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark callback: every playbook, play, task start and task result with its time.time(), one
JSON object a line, into the file named by BENCH_TIMING_FILE. Used only by bench/ (make bench)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timing
type: aggregate
short_description: Timestamps of task starts and results, for make bench
description:
  - Writes one JSON line per playbook, play, task start and task result to the file named by the
    E(BENCH_TIMING_FILE) environment variable.
requirements:
  - Enabled with E(ANSIBLE_CALLBACKS_ENABLED=bench_timing).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get("BENCH_TIMING_FILE")
        self._out = open(path, "a", encoding="utf-8") if path else None

    def _write(self, event, **fields):
        if self._out is None:
            return
        fields.update(event=event, time=time.time())
        self._out.write(json.dumps(fields) + "\n")
        self._out.flush()

    def v2_playbook_on_start(self, playbook):
        self._write("playbook_start")

    def v2_playbook_on_play_start(self, play):
        self._write("play_start", name=play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("task_start", name=task.get_name(), action=task.action, uuid=task._uuid)

    def v2_playbook_on_handler_task_start(self, task):
        self._write("task_start", name=task.get_name(), action=task.action, uuid=task._uuid)

    def _result(self, status, result, event="result"):
        self._write(event, status=status, host=result._host.get_name(), name=result._task.get_name(),
                    action=result._task.action, uuid=result._task._uuid,
                    changed=bool(result._result.get("changed")), loop="results" in result._result,
                    job=result._result.get("ansible_job_id"))

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._result("ok", result, "item")

    def v2_runner_item_on_failed(self, result):
        self._result("failed", result, "item")

    def v2_runner_item_on_skipped(self, result):
        self._result("skipped", result, "item")

    def v2_playbook_on_stats(self, stats):
        self._write("stats")
