# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake `XenAPI` package for unit tests, injected through sys.modules.

FakeXapi holds fake endpoints keyed by URL. A FakeSession (what XenAPI.Session returns) sends
each request to the endpoint of its URL, which answers from scripted handlers and records, and
every request is logged in FakeXapi.calls as (url, method, args). No endpoint at a URL means
"connection refused". The clock is fake too: _client's sleep advances it instead of sleeping.
"""

from __future__ import annotations

import copy
import itertools
import json
import sys
import types

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Failure(Exception):
    """Same shape as XenAPI.Failure."""

    def __init__(self, details):
        super().__init__(details)
        self.details = details

    def __str__(self):
        return str(self.details)


class FakeEndpoint(object):
    """One XAPI host as seen on the wire."""

    def __init__(self, xapi, url, password="secret", master_address=None):
        self.xapi = xapi
        self.url = url
        self.password = password
        self.master_address = master_address  # set: this host is a pool member (HOST_IS_SLAVE)
        self.records = {}  # class -> {ref: record}, served by <class>.get_all_records
        self.handlers = {}  # method -> callable(*args) (session ref not included)
        self.raise_next = {}  # method -> list of exceptions raised by the next calls, in order
        self.sessions = set()

    def handle(self, session, method, args):
        queued = self.raise_next.get(method) or self.raise_next.get("*")
        if queued:
            raise queued.pop(0)
        if method.startswith("login"):
            if self.master_address:
                raise Failure(["HOST_IS_SLAVE", self.master_address])
            if args[1] != self.password:
                raise Failure(["SESSION_AUTHENTICATION_FAILED", args[0], "Authentication failure"])
            ref = "OpaqueRef:session-%d" % next(self.xapi.session_numbers)
            self.sessions.add(ref)
            self.xapi.sessions.add(ref)
            return ref
        if self.master_address:
            raise Failure(["HOST_IS_SLAVE", self.master_address])
        if session not in self.xapi.sessions:
            raise Failure(["SESSION_INVALID", session])
        if method in ("session.logout", "session_logout"):
            self.sessions.discard(session)
            self.xapi.sessions.discard(session)
            self.xapi.logged_out.append(session)
            return ""
        if method in self.handlers:
            return self.handlers[method](*args)
        xapi_class, _dot, call = method.partition(".")
        if call == "get_all_records" and xapi_class in self.records:
            return copy.deepcopy(self.records[xapi_class])
        raise Failure(["MESSAGE_METHOD_UNKNOWN", method])


class FakeXapi(object):
    """The fake XenAPI package plus the world it talks to."""

    def __init__(self):
        self.endpoints = {}
        self.calls = []  # (url, method, args)
        self.sessions = set()  # open session refs, across endpoints (one pool database)
        self.logged_out = []
        self.session_numbers = itertools.count(1)
        self.now = 1000.0
        self.sleeps = []
        self.module = self._build_module()

    def add_endpoint(self, url, **kwargs):
        endpoint = FakeEndpoint(self, url, **kwargs)
        self.endpoints[url] = endpoint
        return endpoint

    def methods(self):
        return [method for _url, method, _args in self.calls]

    # fake clock, installed by the `xapi` fixture into _client
    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def _build_module(self):
        xapi = self

        class Session(object):
            def __init__(self, uri, transport=None, encoding=None, verbose=False, allow_none=True, ignore_ssl=False):
                self.uri = uri
                self.transport = transport
                self._session = None
                self.last_login_method = None
                self.last_login_params = None

            def xenapi_request(self, method, params):
                xapi.calls.append((self.uri, method, params))
                endpoint = xapi.endpoints.get(self.uri)
                if endpoint is None:
                    raise ConnectionRefusedError(111, "Connection refused")
                if method.startswith("login"):
                    self._session = endpoint.handle(None, method, params)
                    self.last_login_method, self.last_login_params = method, params
                    return None
                result = endpoint.handle(self._session, method, params)
                if method == "session.logout":
                    self._session = None
                return result

        module = types.ModuleType("XenAPI")
        module.Failure = Failure
        module.Session = Session
        return module


@pytest.fixture
def xapi(monkeypatch):
    """A FakeXapi installed as the XenAPI package (sys.modules and the client's reference)."""
    from ansible_collections.xenserver.pools.plugins.module_utils import _client

    fake = FakeXapi()
    monkeypatch.setitem(sys.modules, "XenAPI", fake.module)
    monkeypatch.setattr(_client, "XenAPI", fake.module)
    monkeypatch.setattr(_client, "_monotonic", fake.monotonic)
    monkeypatch.setattr(_client, "_sleep", fake.sleep)
    # atexit handlers would outlive the test: record them instead.
    fake.atexit_handlers = []
    monkeypatch.setattr(_client.atexit, "register", fake.atexit_handlers.append)
    return fake


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class ModuleFail(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args) -> ("exit"|"fail", result dict), without printing or exiting."""

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise ModuleFail(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(main, args):
        with patch_module_args(args):
            try:
                main()
            except ModuleExit as done:
                return "exit", done.result
            except ModuleFail as failed:
                return "fail", failed.result
        raise AssertionError("the module neither exited nor failed")

    return run


def as_json(value):
    """Round trip through JSON, as Ansible does with a module result (fails on non-JSON types)."""
    return json.loads(json.dumps(value))
