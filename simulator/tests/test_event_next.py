"""The legacy event.register / event.unregister / event.next (BEHAVIOUR.md §7): a blocking
next over the classes a session registered, SESSION_NOT_REGISTERED, EVENTS_LOST."""
from __future__ import annotations

import hashlib
import threading
import time
import xmlrpc.client

import pytest

from conftest import LabTransport, failure, xapi_session


@pytest.fixture
def lab(start_lab):
    return start_lab("three-standalone")


def test_next_needs_a_registration(lab):
    session = xapi_session(lab)
    assert failure(session.xenapi.event.next) == [
        "SESSION_NOT_REGISTERED", "trackid=" + hashlib.md5(session._session.encode()).hexdigest()]


def test_next_returns_the_changes_of_the_registered_classes(lab):
    session = xapi_session(lab)
    x = session.xenapi
    host = x.host.get_all()[0]
    pool = x.pool.get_all()[0]
    x.event.register(["HOST"])                  # classes in any case
    x.pool.set_name_description(pool, "not watched")
    x.host.set_name_description(host, "watched")
    events = x.event.next()
    assert [(e["class"], e["operation"], e["ref"]) for e in events] == [("host", "mod", host)]
    assert events[0]["snapshot"]["name_description"] == "watched"
    assert float(events[0]["timestamp"].rstrip(".")) > 0
    # next blocks until something registered changes
    later = threading.Timer(0.3, lambda: xapi_session(lab).xenapi.host.set_name_description(host, "later"))
    started = time.monotonic()
    later.start()
    events = x.event.next()
    assert time.monotonic() - started >= 0.25
    assert [e["snapshot"]["name_description"] for e in events] == ["later"]
    # register more, unregister some
    x.event.register([f"pool/{pool}"])
    x.event.unregister(["host"])
    x.host.set_name_description(host, "ignored now")
    x.pool.set_name_description(pool, "seen")
    assert [(e["class"], e["ref"]) for e in x.event.next()] == [("pool", pool)]


def test_unregister_alone_registers_the_session_and_a_logout_ends_the_wait(lab):
    session = xapi_session(lab)
    ref = session._session
    session.xenapi.event.unregister(["vm"])
    raw = xmlrpc.client.ServerProxy(lab.info["hosts"][0]["url"], transport=LabTransport(lab))
    other = xmlrpc.client.ServerProxy(lab.info["hosts"][0]["url"], transport=LabTransport(lab))
    threading.Timer(0.3, lambda: other.session.logout(ref)).start()
    started = time.monotonic()
    # registered, with nothing to watch: next waits, until the session goes
    assert raw.event.next(ref) == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", ref]}
    assert time.monotonic() - started >= 0.25


def test_events_lost_when_the_queue_overflows(lab, monkeypatch):
    from xapisim.api import event
    x = xapi_session(lab).xenapi
    host = x.host.get_all()[0]
    x.event.register(["*"])
    monkeypatch.setattr(event, "QUEUE_LIMIT", 100)
    x.host.set_name_description(host, "a change bigger than the queue")
    assert failure(x.event.next) == ["EVENTS_LOST"]
    monkeypatch.setattr(event, "QUEUE_LIMIT", 10_000_000)
    x.host.set_name_description(host, "after the loss")        # the client re-reads and goes on
    assert [e["snapshot"]["name_description"] for e in x.event.next() if e["class"] == "host"] == ["after the loss"]
