# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool_member waits instead of failing: a joining host whose API is restarting when the task
starts, and a slow joining host whose xapi takes seconds to come back as a pool member. The lab runs
at a fifth of real time, so that a 10 s xapi restart takes 2 s."""

from __future__ import annotations

import asyncio
import time

import pytest

from xapisim import Lab

from conftest import LABS
from lab_helpers import arm_fault, clear_faults, control, host
from membership_helpers import is_write

TIME_SCALE = 0.2
API_DOWN_SECONDS = 2.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab.start(LABS / "three-standalone.yml", state_dir=tmp_path_factory.mktemp("three-standalone-waits"),
                   time_scale=TIME_SCALE) as running:
        yield running


def member(lab, name):
    master, entry = host(lab, "xs1"), host(lab, name)
    return {"xs_hostname": master["url"], "xs_password": master["password"], "xs_ca_path": lab.info["ca_bundle"],
            "xs_host": entry["url"], "xs_host_password": entry["password"], "xs_timeout": 120}


def restart_api(lab, name, seconds):
    """The host's xapi stops now and listens again `seconds` later (as after a reboot)."""
    async def bounce(world):
        machine = world.machine(name)
        await machine.listener.stop()

        async def later():
            await asyncio.sleep(seconds)
            await machine.listener.start()
        world.spawn(later())
    lab.run(bounce)


def test_join_while_the_joiners_api_restarts(lab, playbook):
    restart_api(lab, "xs2", API_DOWN_SECONDS)
    started = time.monotonic()
    run = playbook(lab, "xs_pool_member.yml", member(lab, "xs2"))
    assert run.returncode == 0, run.output
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert time.monotonic() - started >= API_DOWN_SECONDS
    assert run.result["host"]["live"] and run.result["host"]["enabled"]
    assert [call["method"] for call in run.calls if call["host"] == "xs2" and is_write(call)] == ["pool.join"]
    assert run.sessions["total"] == 0


def test_join_a_slow_host(lab, playbook):
    arm_fault(lab, {"kind": "latency", "seconds": 0.3, "host": "xs3"})
    try:
        run = playbook(lab, "xs_pool_member.yml", member(lab, "xs3"))
    finally:
        clear_faults(lab)
    assert run.returncode == 0, run.output
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    assert run.result["host"]["live"] and run.result["host"]["enabled"]
    # The module waited on events for the new member (its xapi restart takes 2 s here), not with sleeps.
    waits = [call for call in run.calls if call["method"] == "event.from"]
    assert waits and sum(call["duration"] for call in waits) >= 1.0
    assert sorted(next(pool["hosts"] for pool in control(lab, "/state")["pools"] if pool["master"] == "xs1")) == [
        "xs1", "xs2", "xs3"]
    assert run.sessions["total"] == 0
