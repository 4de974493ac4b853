"""host.disable(host, auto_enable): the parameter of xapi 25.31.0 (BEHAVIOUR.md §3), newer than
the published datamodel, taken only by lab hosts whose software.xapi has it."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
import XenAPI

from conftest import failure, xapi_session


def host(n: int, xapi: str) -> dict:
    return {"name": f"h{n}", "address": f"127.0.3.{n}", "password": "pw", "memory_gib": 16,
            "software": {"xapi": xapi}}


LAB = {
    "name": "auto-enable",
    "hosts": [host(1, "25.31"), host(2, "25.31"), host(3, "25.6")],
    "pools": [{"name": "new", "master": "h1", "members": ["h2"]}],
}


@pytest.fixture
def lab(start_lab):
    return start_lab(LAB)


def calls(lab, method) -> list[dict]:
    with urllib.request.urlopen(lab.control_url + "/calls") as reply:
        return [c for c in json.load(reply)["calls"] if c["method"] == method]


def agent_start(x, ref) -> float:
    return float(x.host.get_other_config(ref)["agent_start_time"].rstrip("."))


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (XenAPI.Failure, OSError):
            pass   # the host's xapi is restarting
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def restart_toolstack(x, ref) -> None:
    started = agent_start(x, ref)
    x.host.restart_agent(ref)
    # back: a new agent_start_time and the start-up finished (nothing left that could enable it)
    wait_until(lambda: agent_start(x, ref) > started and x.host_metrics.get_live(x.host.get_metrics(ref)))
    time.sleep(0.3)


def test_an_older_xapi_refuses_the_two_argument_form(lab):
    x = xapi_session(lab, 2).xenapi       # h3: xapi 25.6
    h3 = x.host.get_all()[0]
    assert failure(x.host.disable, h3, False) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.disable", "1", "2"]
    assert x.host.get_enabled(h3)
    assert failure(x.Async.host.disable, h3, False)[0] == "MESSAGE_PARAMETER_COUNT_MISMATCH"
    x.host.disable(h3)
    assert not x.host.get_enabled(h3)
    # the log shows every argument sent, also the one this version does not take
    assert [(c["args"], c["status"]) for c in calls(lab, "host.disable")] == [([h3, False], "error"), ([h3], "ok")]
    assert calls(lab, "Async.host.disable")[0]["args"] == [h3, False]


def test_auto_enable_false_keeps_the_host_disabled_across_restart_and_reboot(lab):
    x = xapi_session(lab).xenapi          # h1: xapi 25.31, master of h1 and h2
    h2 = x.host.get_by_name_label("h2")[0]
    x.host.disable(h2, False)
    assert not x.host.get_enabled(h2)
    assert calls(lab, "host.disable")[0]["args"] == [h2, False]
    restart_toolstack(x, h2)
    assert not x.host.get_enabled(h2)
    x.host.reboot(h2)
    metrics = x.host.get_metrics(h2)
    wait_until(lambda: not x.host_metrics.get_live(metrics))
    wait_until(lambda: x.host_metrics.get_live(metrics) and not x.host.get_current_operations(h2))
    time.sleep(0.3)
    assert not x.host.get_enabled(h2)
    # host.enable ends it: the next plain disable is forgotten by a restart again
    x.host.enable(h2)
    assert x.host.get_enabled(h2)
    x.host.disable(h2)
    restart_toolstack(x, h2)
    assert x.host.get_enabled(h2)


def test_auto_enable_true_and_an_already_disabled_host(lab):
    x = xapi_session(lab).xenapi
    h2 = x.host.get_by_name_label("h2")[0]
    x.host.disable(h2, True)
    restart_toolstack(x, h2)
    assert x.host.get_enabled(h2)
    # as in xapi, auto_enable counts only when the call disables an enabled host
    x.host.disable(h2)
    x.host.disable(h2, False)
    restart_toolstack(x, h2)
    assert x.host.get_enabled(h2)
