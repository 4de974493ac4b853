# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Callback of tools/rehearse.py: every failed or unreachable task result with its message, one JSON
object a line, into the file named by REHEARSE_FAILURES_FILE. Not part of the collection."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rehearse_failures
type: aggregate
short_description: Failed tasks and their messages, for make rehearse
description:
  - Writes one JSON line per failed or unreachable task result (task name, host, message, whether
    the failure was ignored) to the file named by the E(REHEARSE_FAILURES_FILE) environment variable.
requirements:
  - Enabled with E(ANSIBLE_CALLBACKS_ENABLED=rehearse_failures).
"""

import json
import os

from ansible.plugins.callback import CallbackBase


def _messages(result):
    """The result's msg, or the msgs of the loop items that failed."""
    failed_items = [item for item in result.get("results") or [] if isinstance(item, dict) and item.get("failed")]
    if failed_items:
        return [str(item.get("msg") or "failed") for item in failed_items]
    return [str(result.get("msg") or result.get("reason") or "failed")]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rehearse_failures"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("REHEARSE_FAILURES_FILE")

    def _record(self, result, status):
        if not self._path:
            return
        entry = {"task": result.task_name, "host": result.host.get_name(), "status": status,
                 "messages": _messages(result.result)}
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
