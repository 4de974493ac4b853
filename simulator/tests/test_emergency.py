"""A dead master's recovery (BEHAVIOUR.md §2, "Recovery and removal calls"): local sessions on
a slave (session.slave_local_login_with_password / local_logout), pool.emergency_transition_to_master,
pool.recover_slaves and pool.emergency_reset_master."""
from __future__ import annotations

import socket
import time
import xmlrpc.client

import pytest
import XenAPI

from conftest import LabTransport, answer, control, failure, xapi_session

LAB = {
    "name": "emergency", "host_defaults": {"password": "pw"},
    "timings": {"api_restart": 20},
    "hosts": [{"name": f"h{n}", "address": f"127.0.3.{60 + n}"} for n in (1, 2, 3)],
    "pools": [{"name": "p", "master": "h1", "members": ["h2", "h3"]}],
}


@pytest.fixture
def lab(start_lab):
    return start_lab(LAB)


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def local_session(lab, index) -> XenAPI.Session:
    session = XenAPI.Session(lab.info["hosts"][index]["url"], transport=LabTransport(lab))
    session.slave_local_login_with_password("root", "pw")
    return session


class TimeoutTransport(LabTransport):
    def __init__(self, lab, timeout):
        super().__init__(lab)
        self.timeout = timeout

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


def raw(lab, index, timeout=None):
    transport = TimeoutTransport(lab, timeout) if timeout else LabTransport(lab)
    return xmlrpc.client.ServerProxy(lab.info["hosts"][index]["url"], transport=transport)


def test_local_sessions_on_a_slave(lab):
    h1_address = lab.info["hosts"][0]["address"]
    assert answer(lab, 1) == ["HOST_IS_SLAVE", h1_address]
    bad = XenAPI.Session(lab.info["hosts"][1]["url"], transport=LabTransport(lab))
    assert failure(bad.slave_local_login_with_password, "root", "wrong") == \
        ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    local = local_session(lab, 1)
    ref = local._session
    assert control(lab, "GET", "/sessions")["total"] == 0          # in no database
    # the master answers: the slave serves the call from the pool database
    assert len(local.xenapi.host.get_all()) == 3
    # valid on that host only
    assert raw(lab, 2).host.get_all(ref) == {"Status": "Failure", "ErrorDescription": ["HOST_IS_SLAVE", h1_address]}
    assert raw(lab, 0).host.get_all(ref)["ErrorDescription"] == ["SESSION_INVALID", ref]
    local.xenapi.session.local_logout()
    assert raw(lab, 1).host.get_all(ref) == {"Status": "Failure", "ErrorDescription": ["HOST_IS_SLAVE", h1_address]}


def test_a_dead_masters_pool_recovered_from_a_slave(lab):
    addresses = [h["address"] for h in lab.info["hosts"]]
    control(lab, "POST", "/faults", {"kind": "crash", "host": "h1"})
    local = local_session(lab, 1)
    ref = local._session
    # the master is gone: a call that needs the pool database waits for it ...
    with pytest.raises((socket.timeout, TimeoutError)):
        raw(lab, 1, timeout=0.5).host.get_all(ref)
    # ... the emergency calls do not
    assert raw(lab, 1).pool.emergency_transition_to_master(ref) == {"Status": "Success", "Value": ""}
    wait_until(lambda: answer(lab, 1) == "refused")                 # xapi restarts
    wait_until(lambda: answer(lab, 1) == "ok")
    x = xapi_session(lab, 1).xenapi
    h2 = x.host.get_by_name_label("h2")[0]
    h3 = x.host.get_by_name_label("h3")[0]
    assert x.pool.get_master(x.pool.get_all()[0]) == h2
    messages = [m for m in x.message.get_all_records().values() if m["name"] == "POOL_MASTER_TRANSITION"]
    assert [m["obj_uuid"] for m in messages] == [x.host.get_uuid(h2)]
    assert raw(lab, 1).host.get_all(ref)["ErrorDescription"] == ["SESSION_INVALID", ref]   # gone with the restart
    # h3 still points at the dead master until recover_slaves
    assert answer(lab, 2) == ["HOST_IS_SLAVE", addresses[0]]
    assert x.pool.recover_slaves() == [h3]
    assert answer(lab, 2) == ["HOST_IS_SLAVE", addresses[1]]


def test_emergency_reset_master(lab):
    local = local_session(lab, 2)
    ref = local._session
    h1_address, h2_address = lab.info["hosts"][0]["address"], lab.info["hosts"][1]["address"]
    assert raw(lab, 2).pool.emergency_reset_master(ref, h1_address)["Status"] == "Success"   # already: nothing
    assert answer(lab, 2) == ["HOST_IS_SLAVE", h1_address]
    assert raw(lab, 2).pool.emergency_reset_master(ref, h2_address)["Status"] == "Success"
    wait_until(lambda: answer(lab, 2) == ["HOST_IS_SLAVE", h2_address])
    # with HA enabled the host refuses
    lab.run(lambda world: world.machine("h1").db.set("pool", next(iter(world.machine("h1").db.all("pool"))),
                                                     ha_enabled=True))
    local = local_session(lab, 1)
    assert raw(lab, 1).pool.emergency_transition_to_master(local._session)["ErrorDescription"] == ["HA_IS_ENABLED"]
    assert raw(lab, 1).pool.emergency_reset_master(local._session, h1_address)["ErrorDescription"] == ["HA_IS_ENABLED"]
