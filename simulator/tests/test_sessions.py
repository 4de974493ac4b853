"""Sessions as xapi_session.ml, session_check.ml and the session GC (db_gc_util.ml) handle them."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
import XenAPI

from conftest import xapi_session
from test_protocol import json_call, s, xml_call

PASSWORD = "sessions-pw"


def one_host_lab(**limits) -> dict:
    return {"name": "sessions", "host_defaults": {"password": PASSWORD},
            "hosts": [{"name": "xs1", "address": "127.0.0.31"}],
            "session_limits": {"per_originator": 500, "per_user": 500, "external": 400, **limits}}


def login(lab, *extra, user="root", password=PASSWORD, host_index=0) -> list:
    """session.login_with_password over JSON-RPC: [ref, error]."""
    reply = json_call(lab, "session.login_with_password", [user, password, *extra]) if host_index == 0 else None
    return [reply["result"], reply["error"]]


def valid(lab, ref) -> bool:
    error = json_call(lab, "pool.get_all", [ref])["error"]
    assert error in (None, ["SESSION_INVALID", ref])
    return error is None


def control(lab, path: str) -> dict:
    with urllib.request.urlopen(lab.control_url + path, timeout=5) as reply:
        return json.load(reply)


def test_login_with_two_to_four_arguments_records_the_originator(start_lab):
    lab = start_lab(one_host_lab())
    refs = [login(lab)[0], login(lab, "1.0")[0], login(lab, "2.21", "my-tool")[0]]
    assert all(refs) and len(set(refs)) == 3
    x = xapi_session(lab, originator="pytest-x").xenapi
    assert x.session.get_originator(refs[2]) == "my-tool"
    assert x.session.get_originator(refs[0]) == ""
    record = x.session.get_record(refs[2])
    assert record["auth_user_name"] == "root" and record["is_local_superuser"] is True and record["pool"] is False
    assert record["this_host"] == x.host.get_all()[0]
    sessions = control(lab, "/sessions")
    assert sessions["total"] == 4
    assert sessions["by_originator"] == {"": 2, "my-tool": 1, "pytest-x": 1}
    assert {(e["originator"], e["username"]) for e in sessions["sessions"]} == {("", "root"), ("my-tool", "root"), ("pytest-x", "root")}
    assert "password" not in json.dumps(sessions) and PASSWORD not in json.dumps(sessions)


def test_members_answer_host_is_slave(start_lab):
    lab = start_lab("pool-of-four")
    master, member = lab.info["hosts"][0], lab.info["hosts"][1]
    session = xapi_session(lab, 1, login=False)
    with pytest.raises(XenAPI.Failure) as info:
        session.xenapi.login_with_password(member["username"], member["password"], "1.0", "pytest")
    assert info.value.details == ["HOST_IS_SLAVE", master["address"]]
    # a master's session used on a member's endpoint too
    ref = xapi_session(lab).handle
    assert xml_call(lab, "host.get_all", s(ref), host_index=1)["ErrorDescription"] == ["HOST_IS_SLAVE", master["address"]]
    # even a bad password: the role is checked first
    assert xml_call(lab, "session.login_with_password", s("root"), s("wrong"), host_index=2)["ErrorDescription"] == \
        ["HOST_IS_SLAVE", master["address"]]


def test_authentication_failure_after_the_scaled_delay(start_lab):
    lab = start_lab(one_host_lab(), time_scale=0.1)       # auth_failure_delay 5 s -> 0.5 s
    for user, password in (("root", "wrong"), ("admin", PASSWORD)):
        started = time.monotonic()
        ref, error = login(lab, user=user, password=password)
        elapsed = time.monotonic() - started
        assert ref is None and error == ["SESSION_AUTHENTICATION_FAILED", user, "Authentication failure"]
        assert 0.5 <= elapsed < 2.0
    assert control(lab, "/sessions")["total"] == 0


def test_logout_then_session_invalid(start_lab):
    lab = start_lab(one_host_lab())
    ref = login(lab)[0]
    assert valid(lab, ref)
    assert json_call(lab, "session.logout", [ref]) == {"result": "", "error": None, "id": 1}
    assert json_call(lab, "pool.get_all", [ref])["error"] == ["SESSION_INVALID", ref]
    assert json_call(lab, "session.logout", [ref])["error"] == ["SESSION_INVALID", ref]
    assert control(lab, "/sessions")["total"] == 0


def test_per_originator_limit_evicts_the_least_recently_active(start_lab):
    # time_scale 0.001: last_active is refreshed once it is 0.6 s old
    lab = start_lab(one_host_lab(per_originator=3), time_scale=0.001)
    a1, a2, a3 = (login(lab, "1.0", "tool-a")[0] for _ in range(3))
    b1 = login(lab, "1.0", "tool-b")[0]
    time.sleep(1.1)
    assert valid(lab, a1)                          # a1 is now the most recently active
    a4 = login(lab, "1.0", "tool-a")[0]
    assert not valid(lab, a2)                      # the least recently active of tool-a went
    assert all(valid(lab, ref) for ref in (a1, a3, a4, b1))
    assert control(lab, "/sessions")["by_originator"] == {"tool-a": 3, "tool-b": 1}


def test_external_group_is_root_without_originator(start_lab):
    lab = start_lab(one_host_lab(external=2, per_originator=2))
    e1, e2 = login(lab)[0], login(lab)[0]
    o1 = login(lab, "1.0", "tool")[0]
    e3 = login(lab)[0]
    assert not valid(lab, e1)
    assert valid(lab, e2) and valid(lab, e3) and valid(lab, o1)


def test_a_session_with_a_pending_task_is_not_evicted(start_lab):
    # time_scale 0.0001: last_active (whole seconds) is refreshed once it is 0.06 s old, so that the
    # order below does not depend on whether a second boundary passes between the logins
    lab = start_lab(one_host_lab(per_originator=2), time_scale=0.0001)
    busy = login(lab, "1.0", "tool")[0]
    task = json_call(lab, "task.create", [busy, "long job", ""])["result"]
    idle = login(lab, "1.0", "tool")[0]
    third = login(lab, "1.0", "tool")[0]
    newest = login(lab, "1.0", "tool")[0]
    assert valid(lab, busy)                        # oldest, but its task is pending
    assert not valid(lab, idle)
    assert valid(lab, third) and valid(lab, newest)
    time.sleep(0.1)                                # so that busy's next call refreshes its last_active
    json_call(lab, "task.set_status", [busy, task, "success"])   # busy: now the most recently active
    login(lab, "1.0", "tool")
    assert not valid(lab, third) and not valid(lab, newest)
    login(lab, "1.0", "tool")
    assert not valid(lab, busy)                    # an ordinary session again


def test_last_active_is_refreshed_at_most_every_600_scaled_seconds(start_lab):
    lab = start_lab(one_host_lab(), time_scale=0.005)     # 600 s -> 3 s
    x = xapi_session(lab).xenapi
    ref = login(lab)[0]
    first = x.session.get_last_active(ref).value          # whole seconds, as xapi stores it
    time.sleep(1.0)
    valid(lab, ref)
    assert x.session.get_last_active(ref).value == first  # at most 2 s old: not refreshed
    time.sleep(3.1 - 1.0)
    valid(lab, ref)
    assert x.session.get_last_active(ref).value > first


def test_the_python_sdk_logs_in_again_after_session_invalid(start_lab):
    """XenAPI.Session re-logs in with the saved credentials on SESSION_INVALID (BEHAVIOUR.md 8)."""
    lab = start_lab(one_host_lab())
    session = xapi_session(lab)
    old = session.handle
    json_call(lab, "session.logout", [old])
    assert session.xenapi.pool.get_all()
    assert session.handle != old and valid(lab, session.handle)
