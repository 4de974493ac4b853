"""Async tasks (TaskHelper in xapi) and event.from / event.inject (xapi_event.ml)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from conftest import failure, xapi_session
from test_protocol import REF_RE, json_call, post, s
from xapisim.api import REGISTRY, Message
from xapisim.errors import XapiError
from xapisim.model import CLASSES

CLASS_NAMES = {c.lower(): c for c in CLASSES}     # event classes are lower case

WAIT_STEP = 0.02


@pytest.fixture
def lab(start_lab):
    return start_lab("three-standalone")


@pytest.fixture
def x(lab):
    return xapi_session(lab).xenapi


@pytest.fixture
def long_operation():
    """A test-only message, `host.simulator_test_operation(self, steps, outcome)`: `steps` steps
    of WAIT_STEP seconds, honouring task.cancel between them, then the host ref, nothing, or
    an error.  Removed again after the test (the fidelity test checks the registry)."""
    async def handler(call, host, steps, outcome):
        call.db.get("host", host)
        call.set_cancellable()
        for step in range(steps):
            call.check_cancelled()
            call.progress(step / steps)
            await asyncio.sleep(WAIT_STEP)
        if outcome == "fail":
            raise XapiError("HOST_OFFLINE", host)
        if outcome == "crash":
            raise RuntimeError("simulated bug")
        return host if outcome == "ref" else None

    message = Message("host", "simulator_test_operation", [("host ref", "host"), ("int", "steps"), ("string", "outcome")],
                      "host ref", handler, has_async=True)
    REGISTRY[message.wire_name] = message
    yield message.wire_name
    del REGISTRY[message.wire_name]


def wait_task(x, task, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = x.task.get_record(task)
        if record["status"] != "pending":
            return record
        time.sleep(0.01)
    raise AssertionError(f"task {task} still pending")


# -- tasks -----------------------------------------------------------------------------
def test_async_call_returns_a_pending_task_that_succeeds_with_an_xml_result(lab, x, long_operation):
    host = x.host.get_all()[0]
    task = x.Async.host.simulator_test_operation(host, "10", "ref")
    assert REF_RE.match(task)
    record = x.task.get_record(task)
    assert record["status"] == "pending"
    assert record["name_label"] == "Async.host.simulator_test_operation"
    assert record["allowed_operations"] == ["cancel"]
    assert record["resident_on"] == host
    assert record["finished"].value == "19700101T00:00:00Z"
    progress = set()
    while record["status"] == "pending":
        progress.add(float(record["progress"]))
        time.sleep(WAIT_STEP)
        record = x.task.get_record(task)
    assert len(progress) > 1 and max(progress) < 1.0          # progress moved while it ran
    assert record["status"] == "success"
    assert record["progress"] == 1.0
    assert record["result"] == f"<value>{host}</value>"       # an XML-RPC fragment
    assert record["error_info"] == []
    assert record["allowed_operations"] == []
    assert record["finished"].value >= record["created"].value


def test_task_result_is_xml_even_over_jsonrpc_and_void_is_empty_value(lab, x, long_operation):
    user, pw = lab.info["hosts"][0]["username"], lab.info["hosts"][0]["password"]
    ref = json_call(lab, "session.login_with_password", [user, pw])["result"]
    host = x.host.get_all()[0]
    task = json_call(lab, "Async.host.simulator_test_operation", [ref, host, 1, "void"])["result"]
    record = wait_task(x, task)
    assert record["status"] == "success" and record["result"] == "<value></value>"
    task = json_call(lab, "Async.host.simulator_test_operation", [ref, host, 1, "ref"])["result"]
    wait_task(x, task)
    assert json_call(lab, "task.get_result", [ref, task])["result"] == f"<value>{host}</value>"


def test_failed_operation_ends_the_task_in_failure_with_error_info(lab, x, long_operation):
    host = x.host.get_all()[0]
    record = wait_task(x, x.Async.host.simulator_test_operation(host, "1", "fail"))
    assert record["status"] == "failure"
    assert record["error_info"] == ["HOST_OFFLINE", host]
    assert record["result"] == "" and record["progress"] == 1.0
    # errors of the operation itself go into the task, not to the caller
    record = wait_task(x, x.Async.task.cancel("OpaqueRef:nope"))
    assert record["status"] == "failure" and record["error_info"] == ["HANDLE_INVALID", "task", "OpaqueRef:nope"]


def test_a_simulator_bug_is_an_internal_error_not_a_broken_connection(lab, x, long_operation):
    host = x.host.get_all()[0]
    assert failure(x.host.simulator_test_operation, host, "0", "crash") == \
        ["INTERNAL_ERROR", "RuntimeError('simulated bug')"]
    record = wait_task(x, x.Async.host.simulator_test_operation(host, "0", "crash"))
    assert (record["status"], record["error_info"]) == ("failure", ["INTERNAL_ERROR", "RuntimeError('simulated bug')"])
    assert x.host.get_record(host)["uuid"]          # the lab still serves


def test_async_argument_and_session_errors_are_returned_directly(lab, x, long_operation):
    host = x.host.get_all()[0]
    assert failure(x.Async.host.simulator_test_operation, host) == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.simulator_test_operation", "3", "1"]
    assert failure(x.Async.host.simulator_test_operation, host, "many", "ref") == \
        ["INTERNAL_ERROR", 'Failure("Int64.of_string")']
    reply = json_call(lab, "Async.host.simulator_test_operation", ["OpaqueRef:nope", host, 1, "ref"])
    assert reply["error"] == ["SESSION_INVALID", "OpaqueRef:nope"]
    assert x.task.get_all() == []                                # no task was made


def test_cancel_is_a_request_that_a_long_operation_honours(lab, x, long_operation):
    host = x.host.get_all()[0]
    task = x.Async.host.simulator_test_operation(host, "500", "ref")
    time.sleep(3 * WAIT_STEP)
    x.task.cancel(task)
    current = x.task.get_current_operations(task)
    assert list(current.values()) == ["cancel"]                 # recorded as xapi does
    record = wait_task(x, task, timeout=2)
    assert record["status"] == "cancelled"
    assert record["progress"] == 1.0 and record["allowed_operations"] == []
    # xapi's TaskHelper.cancel does not set error_info (the operation raised TASK_CANCELLED [task])
    assert record["error_info"] == []
    assert record["result"] == ""


def test_cancel_of_a_finished_task_changes_nothing_but_the_request(lab, x, long_operation):
    host = x.host.get_all()[0]
    task = x.Async.host.simulator_test_operation(host, "1", "void")
    assert wait_task(x, task)["status"] == "success"
    x.task.cancel(task)
    record = x.task.get_record(task)
    assert record["status"] == "success" and list(record["current_operations"].values()) == ["cancel"]
    assert failure(x.task.cancel, "OpaqueRef:nope") == ["HANDLE_INVALID", "task", "OpaqueRef:nope"]


def test_destroy(lab, x, long_operation):
    host = x.host.get_all()[0]
    done = x.Async.host.simulator_test_operation(host, "1", "void")
    wait_task(x, done)
    x.task.destroy(done)
    assert failure(x.task.get_record, done) == ["HANDLE_INVALID", "task", done]
    # a pending task is marked, then goes when it finishes
    running = x.Async.host.simulator_test_operation(host, "10", "void")
    x.task.destroy(running)
    assert x.task.get_current_operations(running) == {"task": "destroy"}
    assert failure(x.task.destroy, running) == ["MAP_DUPLICATE_KEY", "task", "current_operations", running, "task"]
    deadline = time.monotonic() + 5
    while running in x.task.get_all() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running not in x.task.get_all()


def test_task_create_and_explicit_setters(lab, x):
    task = x.task.create("my job", "what it does")
    record = x.task.get_record(task)
    assert (record["name_label"], record["name_description"], record["status"]) == ("my job", "what it does", "pending")
    x.task.set_status(task, "SUCCESS")
    x.task.set_result(task, "<value>done</value>")
    x.task.set_error_info(task, ["X", "y"])
    record = x.task.get_record(task)
    assert (record["status"], record["result"], record["error_info"]) == ("success", "<value>done</value>", ["X", "y"])
    assert failure(x.task.set_status, task, "finished") == ["INTERNAL_ERROR", 'Failure("Unknown tag/contents")']
    x.task.destroy(task)
    assert task not in x.task.get_all()


# -- events ----------------------------------------------------------------------------
def event_from(x, classes, token, timeout=0.2) -> dict:
    return x.event_from(classes, token, str(timeout))


def test_empty_token_gives_every_object_as_add(lab, x):
    batch = event_from(x, ["*"], "")
    events = batch["events"]
    assert events and all(e["operation"] == "add" for e in events)
    assert all(isinstance(e["id"], str) and e["timestamp"] == "0.0" for e in events)
    by_class = {}
    for e in events:
        by_class.setdefault(e["class"], set()).add(e["ref"])
        assert e["snapshot"] == getattr(x, CLASS_NAMES[e["class"]]).get_record(e["ref"])
    assert by_class["host"] == set(x.host.get_all())
    assert by_class["vm"] == set(x.VM.get_all())
    assert by_class["pif"] == set(x.PIF.get_all())
    # datamodel classes with gen_events=false never appear, even under "*"
    assert "session" not in by_class and "secret" not in by_class
    assert batch["token"] == "%020d,%020d" % (int(batch["token"].split(",")[0]), 0)
    # valid_ref_counts counts every table, sessions included
    counts = batch["valid_ref_counts"]
    assert counts["host"] == 1 and counts["vm"] == len(x.VM.get_all()) and counts["session"] == 1


def test_valid_ref_counts_are_i4_on_the_wire(lab, x):
    session = xapi_session(lab)
    body = ('<?xml version="1.0"?><methodCall><methodName>event.from</methodName><params>'
            f"<param>{s(session.handle)}</param><param><value><array><data>{s('host')}</data></array></value></param>"
            f"<param>{s('')}</param><param><value><double>0.1</double></value></param></params></methodCall>")
    status, _, data = post(lab, "/", body)
    assert status == 200
    assert b"<member><name>host</name><value><i4>1</i4></value></member>" in data


def test_subscriptions_select_classes_and_objects(lab, x):
    hosts = x.host.get_all()
    token = event_from(x, ["*"], "")["token"]
    pool = x.pool.get_all()[0]
    x.pool.set_name_description(pool, "changed")
    x.host.set_name_description(hosts[0], "changed")
    host_only = event_from(x, ["host"], token)["events"]
    assert [(e["class"], e["operation"], e["ref"]) for e in host_only] == [("host", "mod", hosts[0])]
    assert host_only[0]["snapshot"]["name_description"] == "changed"
    assert [e["ref"] for e in event_from(x, ["pool/" + pool], token)["events"]] == [pool]
    assert {e["class"] for e in event_from(x, ["HOST", "Pool"], token)["events"]} == {"host", "pool"}
    assert {e["class"] for e in event_from(x, ["*"], token)["events"]} >= {"host", "pool"}
    # an object subscription for another object, an unknown class, "session": nothing but the timeout
    started = time.monotonic()
    empty = event_from(x, ["pool/OpaqueRef:other", "no_such_class", "session", "a/b/c", ""], token, timeout=0.3)
    assert empty["events"] == [] and time.monotonic() - started >= 0.3
    assert empty["token"] == token                 # the token moves only over selected changes


def test_token_parse_failure(lab, x):
    for token in ("xx", "5", "1,2,3", "a,b"):
        assert failure(x.event_from, ["*"], token, "0.1") == ["EVENT_FROM_TOKEN_PARSE_FAILURE", token]


def test_coalescing_create_and_modify_in_one_window_is_one_add(lab, x):
    token = event_from(x, ["task"], "", 0.1)["token"]
    task = x.task.create("first", "")
    x.task.set_progress(task, 0.5)
    x.task.set_progress(task, 0.75)
    events = event_from(x, ["task"], token)["events"]
    assert [(e["operation"], e["ref"]) for e in events] == [("add", task)]
    assert events[0]["snapshot"]["progress"] == 0.75            # only the latest state
    token = event_from(x, ["task"], token)["token"]
    x.task.set_progress(task, 0.8)
    x.task.set_progress(task, 0.9)
    events = event_from(x, ["task"], token)["events"]
    assert [(e["operation"], e["snapshot"]["progress"]) for e in events] == [("mod", 0.9)]


def test_delete_has_no_snapshot_and_create_delete_in_one_window_is_nothing(lab, x):
    task = x.task.create("doomed", "")
    x.task.set_status(task, "success")             # a pending task would only be marked for destroy
    token = event_from(x, ["task"], "", 0.1)["token"]
    x.task.destroy(task)
    events = event_from(x, ["task"], token)["events"]
    assert events == [{"id": events[0]["id"], "timestamp": "0.0", "class": "task", "operation": "del", "ref": task}]
    token = event_from(x, ["task"], token)["token"]
    brief = x.task.create("brief", "")
    x.task.set_status(brief, "failure")
    x.task.destroy(brief)
    assert event_from(x, ["task"], token, 0.2)["events"] == []


def test_timeout_returns_empty_events_and_the_same_token(lab, x):
    token = event_from(x, ["*"], "")["token"]
    started = time.monotonic()
    batch = event_from(x, ["*"], token, timeout=0.4)
    elapsed = time.monotonic() - started
    assert batch["events"] == [] and batch["token"] == token
    assert 0.4 <= elapsed < 1.5


def test_event_from_wakes_within_50_ms_of_a_change(lab):
    waiter, changer = xapi_session(lab).xenapi, xapi_session(lab).xenapi
    host = waiter.host.get_all()[0]
    token = waiter.event_from(["host"], "", "0.1")["token"]
    result = {}

    def wait():
        result["batch"] = waiter.event_from(["host"], token, "10")
        result["returned"] = time.monotonic()
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    before = time.monotonic()
    changer.host.set_name_description(host, "wake up")
    after = time.monotonic()
    thread.join(10)
    assert [e["ref"] for e in result["batch"]["events"]] == [host]
    assert result["returned"] - after < 0.05, f"woke {1000 * (result['returned'] - before):.1f} ms after the change began"


def test_logout_wakes_a_waiting_event_from_with_session_invalid(lab):
    waiter = xapi_session(lab)
    handle = waiter.handle
    token = waiter.xenapi.event_from(["host"], "", "0.1")["token"]
    user, pw = lab.info["hosts"][0]["username"], lab.info["hosts"][0]["password"]
    result = {}

    def wait():
        result["reply"] = json_call(lab, "event.from", [handle, ["host"], token, 10])
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    json_call(lab, "session.logout", [handle])
    thread.join(5)
    assert result["reply"]["error"] == ["SESSION_INVALID", handle]
    assert json_call(lab, "session.login_with_password", [user, pw])["error"] is None


def test_event_inject(lab, x):
    host = x.host.get_all()[0]
    event_from(x, ["host"], "")
    token = x.event.inject("host", host)
    events = event_from(x, ["host"], token)["events"]
    assert [(e["operation"], e["ref"]) for e in events] == [("mod", host)]
    # the class must be the table's exact name
    assert failure(x.event.inject, "HOST", host) == ["HANDLE_INVALID", "HOST", host]
    assert failure(x.event.inject, "host", "OpaqueRef:nope") == ["HANDLE_INVALID", "host", "OpaqueRef:nope"]


def test_simulator_changes_produce_events(lab, x, long_operation):
    host = x.host.get_all()[0]
    token = event_from(x, ["task"], "", 0.1)["token"]
    task = x.Async.host.simulator_test_operation(host, "3", "ref")
    seen = []
    deadline = time.monotonic() + 5
    while not any(e["snapshot"]["status"] == "success" for e in seen if e["operation"] != "del") \
            and time.monotonic() < deadline:
        batch = event_from(x, ["task/" + task], token, 2)
        seen += batch["events"]
        token = batch["token"]
    assert seen[0]["operation"] == "add"
    assert seen[-1]["snapshot"]["status"] == "success" and seen[-1]["snapshot"]["result"] == f"<value>{host}</value>"

    # a change made inside the simulator (not through the API) wakes a waiter too
    token = event_from(x, ["host"], "", 0.1)["token"]
    lab.run(lambda world: world.machines[0].db.set("host", host, name_description="from inside"))
    events = event_from(x, ["host"], token, 2)["events"]
    assert events[0]["snapshot"]["name_description"] == "from inside"
