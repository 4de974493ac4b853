# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Assertions shared by the xs_pool and xs_pool_member integration tests."""

from __future__ import annotations

import json

from lab_helpers import control


def is_write(call):
    """A call that may change something. The simulator logs a method it does not know as "write"
    (ARCHITECTURE.md says get_* are reads): such a read, refused as unknown, changed nothing."""
    if call["kind"] != "write":
        return False
    unknown = call["status"] == "error" and (call["error"] or [""])[0] == "MESSAGE_METHOD_UNKNOWN"
    return not (unknown and call["method"].split(".")[-1].startswith("get_"))


def writes(run):
    return [call["method"] for call in run.calls if is_write(call)]


def assert_clean(run, lab):
    """What every run must leave behind: no open session, no traceback, no password anywhere."""
    assert run.returncode == 0, run.output
    assert run.sessions["total"] == 0, run.sessions
    assert "Traceback" not in run.output
    text = run.output + json.dumps(run.result) + json.dumps([call["args"] for call in run.calls])
    for entry in lab.info["hosts"]:
        assert entry["password"] not in text


def pools(lab):
    """{master name: sorted host names} of the lab's pools."""
    return dict((pool["master"], sorted(pool["hosts"])) for pool in control(lab, "/state")["pools"])
