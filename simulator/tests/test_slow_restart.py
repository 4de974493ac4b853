"""The slow_restart fault: a host's next xapi restart (after a join, a master designation, an
eject, or host.restart_agent) takes `factor` times longer: a "slow member"."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import XenAPI

from conftest import answer, control, xapi_session

LAB = {
    "name": "slow", "host_defaults": {"password": "pw"},
    "timings": {"api_restart": 20, "master_transition": 20, "eject_reset": 20},
    "hosts": [{"name": f"h{n}", "address": f"127.0.3.{40 + n}"} for n in (1, 2, 3)],
}
SCALE = 0.01          # 20 s of restart -> 0.2 s; a factor of 5 -> 1 s


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return time.monotonic()
        except (XenAPI.Failure, OSError):
            pass
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def enabled_member(x, name):
    hosts = x.host.get_by_name_label(name)
    return bool(hosts) and x.host.get_enabled(hosts[0])


def test_a_slow_member_comes_back_factor_times_later_after_its_join(start_lab):
    lab = start_lab(LAB, time_scale=SCALE)
    control(lab, "POST", "/faults", {"kind": "slow_restart", "host": "h2", "factor": 5})
    assert control(lab, "GET", "/faults")["faults"] == [{"kind": "slow_restart", "host": "h2", "factor": 5}]
    master = xapi_session(lab, 0).xenapi
    t0 = time.monotonic()
    for index in (1, 2):
        xapi_session(lab, index).xenapi.pool.join("127.0.3.41", "root", "pw")
    fast = wait_until(lambda: enabled_member(master, "h3")) - t0
    assert not enabled_member(master, "h2")
    slow = wait_until(lambda: enabled_member(master, "h2")) - t0
    assert slow > 3 * fast
    assert control(lab, "GET", "/faults")["faults"] == []      # used up by that restart


def test_a_slow_restart_delays_a_master_designation_and_a_toolstack_restart(start_lab):
    lab = start_lab({**LAB, "pools": [{"name": "p", "master": "h1", "members": ["h2", "h3"]}]}, time_scale=SCALE)
    x = xapi_session(lab, 0).xenapi
    h2, h3 = x.host.get_by_name_label("h2")[0], x.host.get_by_name_label("h3")[0]
    # the new master is slow: the pool's API comes back only after factor x master_transition
    control(lab, "POST", "/faults", {"kind": "slow_restart", "host": "h2", "factor": 5})
    t0 = time.monotonic()
    x.pool.designate_new_master(h2)
    back = wait_until(lambda: xapi_session(lab, 1).xenapi.pool.get_all()) - t0
    assert back > 5 * 20 * SCALE
    # the old master is slow: the new one serves the pool in the usual time, the old one's
    # endpoint comes back (as a slave) later
    x = xapi_session(lab, 1).xenapi
    h1 = x.host.get_by_name_label("h1")[0]
    control(lab, "POST", "/faults", {"kind": "slow_restart", "host": "h2", "factor": 5})
    t0 = time.monotonic()
    x.pool.designate_new_master(h1)
    new_back = wait_until(lambda: xapi_session(lab, 0).xenapi.pool.get_all()) - t0
    old_back = wait_until(lambda: answer(lab, 1) != "refused") - t0
    assert answer(lab, 1) == ["HOST_IS_SLAVE", "127.0.3.41"]
    assert new_back < 5 * 20 * SCALE < old_back
    # a slow toolstack restart of h3
    x = xapi_session(lab, 0).xenapi
    started = float(x.host.get_other_config(h3)["agent_start_time"].rstrip("."))
    control(lab, "POST", "/faults", {"kind": "slow_restart", "host": "h3", "factor": 5})
    t0 = time.monotonic()
    x.host.restart_agent(h3)
    wait_until(lambda: float(x.host.get_other_config(h3)["agent_start_time"].rstrip(".")) > started)
    assert time.monotonic() - t0 > 5 * 20 * SCALE


def test_slow_restart_is_validated(start_lab):
    lab = start_lab(LAB, time_scale=SCALE)
    for bad, message in (({"kind": "slow_restart", "host": "h2"}, "kind slow_restart needs factor"),
                         ({"kind": "slow_restart", "factor": 2}, "kind slow_restart needs host"),
                         ({"kind": "slow_restart", "host": "h9", "factor": 2}, "no host named 'h9'"),
                         ({"kind": "slow_restart", "host": "h2", "factor": -1}, "factor: must be a number >= 0")):
        with pytest.raises(urllib.error.HTTPError) as info:
            control(lab, "POST", "/faults", bad)
        assert info.value.code == 400 and message in json.load(info.value)["error"]
    from xapisim.labfile import LabError, load
    with pytest.raises(LabError) as info:
        load({**LAB, "faults": [{"kind": "slow_restart", "host": "h2"}]})
    assert "kind slow_restart needs factor" in str(info.value)
