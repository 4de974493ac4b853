"""A rolling maintenance pass over pool-of-four by hand, through XenAPI over HTTPS: for each host,
disable, evacuate, reboot, wait (event.from) for a newer agent_start_time, enable, migrate its
VMs back.  Every VM ends where, and in the state, it started."""
from __future__ import annotations

import time
import xmlrpc.client

import XenAPI

from conftest import xapi_session


class Client:
    """A XenAPI session to the pool master that logs in again when the master restarts."""

    def __init__(self, lab):
        self.lab, self.session = lab, None

    @property
    def x(self):
        if self.session is None:
            self.session = xapi_session(self.lab)
        return self.session.xenapi

    def retry(self, fn, timeout=30.0):
        """fn(x) until it works; the master may be down (connection refused or dropped) and its
        restart forgets sessions."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return fn(self.x)
            except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault) as e:
                self.session = None
                if time.monotonic() > deadline:
                    raise AssertionError(f"master unreachable: {e!r}") from e
                time.sleep(0.1)


def agent_start_time(record: dict) -> float:
    return float(record["other_config"]["agent_start_time"].rstrip("."))


def wait_for_newer_agent(client: Client, host: str, previous: float) -> None:
    """event.from on the host until its agent_start_time is newer than `previous`."""
    token = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            batch = client.x.event_from([f"host/{host}"], token, 5.0)
        except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.Fault, XenAPI.Failure):
            client.session, token = None, ""    # the master went away: log in again, start over
            time.sleep(0.1)
            continue
        token = batch["token"]
        for event in batch["events"]:
            if event["operation"] != "del" and agent_start_time(event["snapshot"]) > previous:
                return
    raise AssertionError("the host did not come back")


def enable(client: Client, host: str) -> None:
    """host.enable, waiting out the end of the host's start-up (HOST_STILL_BOOTING)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            client.retry(lambda x: x.host.enable(host))
            return
        except XenAPI.Failure as e:
            if e.details[0] != "HOST_STILL_BOOTING" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def placement(x) -> dict:
    hosts = {ref: x.host.get_name_label(ref) for ref in x.host.get_all()}
    return {r["name_label"]: (hosts.get(r["resident_on"], "-"), r["power_state"])
            for r in x.VM.get_all_records().values() if not r["is_control_domain"]}


def test_rolling_pass_over_pool_of_four(start_lab):
    lab = start_lab("pool-of-four")
    client = Client(lab)
    x = client.x
    before = placement(x)
    assert {where for where, state in before.values() if state == "Running"} == {"xs1", "xs2", "xs3", "xs4"}
    assert {"Suspended", "Halted"} <= {state for _, state in before.values()}
    names = {x.host.get_name_label(ref): ref for ref in x.host.get_all()}
    for name in ("xs1", "xs2", "xs3", "xs4"):
        host = names[name]
        mine = [vm for vm, (where, state) in before.items() if where == name]
        client.retry(lambda x: x.host.disable(host))
        client.retry(lambda x: x.host.evacuate(host))
        x = client.x
        assert [x.VM.get_name_label(v) for v in x.host.get_resident_VMs(host)
                if not x.VM.get_is_control_domain(v)] == []
        assert all(placement(x)[vm][0] not in (name, "-") for vm in mine)
        previous = agent_start_time(x.host.get_record(host))
        client.retry(lambda x: x.host.reboot(host))
        wait_for_newer_agent(client, host, previous)
        enable(client, host)
        x = client.x
        assert x.host.get_enabled(host)
        assert x.host_metrics.get_live(x.host.get_metrics(host))
        for vm in mine:
            ref = x.VM.get_by_name_label(vm)[0]
            client.retry(lambda x: x.VM.pool_migrate(ref, host, {"live": "true"}))
        assert {vm: placement(client.x)[vm] for vm in mine} == {vm: before[vm] for vm in mine}
    x = client.x
    assert placement(x) == before
    assert all(x.host.get_enabled(h) for h in x.host.get_all())
    assert all(x.host.get_current_operations(h) == {} for h in x.host.get_all())
