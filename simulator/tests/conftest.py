"""Shared test helpers: start labs, log in over verified HTTPS with the lab CA.

    def test_x(start_lab):
        lab = start_lab("three-standalone")            # a lab name, a path or a lab dict
        session = xapi_session(lab)                      # `from conftest import xapi_session`
        session.xenapi.host.get_all()

Every lab started through `start_lab` runs with a small time_scale in the test's tmp_path and is
stopped when the test ends.
"""
from __future__ import annotations

import json
import ssl
import urllib.request
import xmlrpc.client
from pathlib import Path

import pytest
import XenAPI

from xapisim import Lab

LABS_DIR = Path(__file__).resolve().parents[1] / "labs"
TEST_TIME_SCALE = 0.01


def lab_source(source):
    """A lab dict or path as given, or a lab file of simulator/labs by name ("pool-of-four")."""
    if isinstance(source, str) and not Path(source).exists():
        named = LABS_DIR / f"{source}.yml"
        if named.exists():
            return named
    return source


@pytest.fixture
def start_lab(tmp_path):
    """start_lab(source, time_scale=0.01, **overrides) -> a running `Lab`, stopped after the test."""
    labs = []

    def start(source, time_scale=TEST_TIME_SCALE, **overrides):
        state_dir = tmp_path / f"lab{len(labs)}"
        lab = Lab.start(lab_source(source), state_dir, time_scale=time_scale, **overrides)
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


class LabTransport(xmlrpc.client.SafeTransport):
    """HTTPS verified against the lab CA (plain HTTP when the lab runs without TLS)."""

    def __init__(self, lab):
        self.lab_https = lab.info["ca_bundle"] is not None
        if self.lab_https:
            super().__init__(context=ssl.create_default_context(cafile=lab.info["ca_bundle"]))
        else:
            super().__init__()

    def make_connection(self, host):
        if self.lab_https:
            return super().make_connection(host)
        return xmlrpc.client.Transport.make_connection(self, host)


def xapi_session(lab, host_index=0, *, login=True, username=None, password=None,
                 originator="pytest") -> XenAPI.Session:
    """A `XenAPI.Session` to host `host_index` of the lab, logged in as the lab's root user
    unless `login=False` (then call `session.xenapi.login_with_password` yourself)."""
    host = lab.info["hosts"][host_index]
    session = XenAPI.Session(host["url"], transport=LabTransport(lab))
    if login:
        session.xenapi.login_with_password(username or host["username"], password or host["password"],
                                           "1.0", originator)
    return session


def failure(fn, *args) -> list:
    """The error details of a call that must fail with a XenAPI.Failure."""
    with pytest.raises(XenAPI.Failure) as info:
        fn(*args)
    return info.value.details


def control(lab, method, path, body=None):
    """A call to the lab's control endpoint (faults, state, calls...), its JSON answer."""
    request = urllib.request.Request(lab.control_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def answer(lab, index):
    """What a login on the host gets now: "ok", the error, or "refused" while its xapi is down."""
    try:
        xapi_session(lab, index)
    except XenAPI.Failure as error:
        return error.details
    except OSError:
        return "refused"
    return "ok"
