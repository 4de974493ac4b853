# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import xmlrpc.client

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _client
from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    BACKOFF_MAX_SECONDS,
    EVENT_POLL_SECONDS,
    ORIGINATOR,
    XapiClient,
    build_ssl_context,
    decode_task_result,
    normalize_url,
    replace_host,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    AuthenticationError,
    CertificateVerificationError,
    ConnectionFailedError,
    InvalidParameterError,
    MissingLibraryError,
    RequestTimeoutError,
    TaskFailedError,
    XapiError,
    XenServerError,
)

MASTER = "https://192.0.2.1/"
MEMBER = "https://192.0.2.2/"


def make_client(url=MASTER, password="secret", timeout=60, **kwargs):
    return XapiClient(url, "root", password, timeout=timeout, **kwargs)


# --- URLs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("hostname, url", [
    ("xs1.example.com", "https://xs1.example.com/"),
    ("192.0.2.1", "https://192.0.2.1/"),
    ("192.0.2.1:8443", "https://192.0.2.1:8443/"),
    ("https://xs1:443", "https://xs1:443/"),
    ("http://xs1", "http://xs1/"),
    ("  https://xs1/  ", "https://xs1/"),
    ("[2001:db8::1]:8443", "https://[2001:db8::1]:8443/"),
])
def test_normalize_url_defaults_to_https_and_keeps_the_port(hostname, url):
    assert normalize_url(hostname) == url


@pytest.mark.parametrize("hostname", ["", "   ", "ftp://xs1", "xs1:notaport", "https://root:pw@xs1",
                                      "https://xs1/some/path", "https://"])
def test_normalize_url_refuses_what_is_not_a_host_address(hostname):
    with pytest.raises(InvalidParameterError) as error:
        normalize_url(hostname)
    assert "hostname" in str(error.value)


@pytest.mark.parametrize("url, address, expected", [
    ("https://192.0.2.2:8443/", "192.0.2.1", "https://192.0.2.1:8443/"),
    ("http://xs2/", "192.0.2.1", "http://192.0.2.1/"),
    ("https://xs2/", "2001:db8::1", "https://[2001:db8::1]/"),
])
def test_replace_host_keeps_scheme_and_port(url, address, expected):
    assert replace_host(url, address) == expected


# --- TLS -------------------------------------------------------------------------------------

def test_tls_is_verified_by_default():
    context = build_ssl_context(True, None)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_validate_certs_false_gives_an_unverified_context():
    context = build_ssl_context(False, "/does/not/matter.pem")
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


def _write_ca(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"unit test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_ca_path_is_the_trust_store(tmp_path):
    ca_file = tmp_path / "ca.pem"
    _write_ca(ca_file)
    context = build_ssl_context(True, str(ca_file))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_unusable_ca_path_is_one_clear_error(tmp_path, content):
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    with pytest.raises(InvalidParameterError) as error:
        build_ssl_context(True, str(ca_file))
    assert str(error.value).startswith("ca_path %s cannot be used as a CA bundle" % ca_file)


def test_https_sessions_use_the_verified_context_and_the_timeout(xapi, tmp_path):
    ca_file = tmp_path / "ca.pem"
    _write_ca(ca_file)
    xapi.add_endpoint(MASTER)
    with make_client(ca_path=str(ca_file), timeout=42) as client:
        transport = client._session.transport
        assert isinstance(transport, _client.TimeoutSafeTransport)
        assert transport.context.verify_mode == ssl.CERT_REQUIRED
        assert transport.context.cert_store_stats()["x509_ca"] == 1
        assert transport.timeout == 42


def test_http_sessions_use_a_plain_transport(xapi):
    xapi.add_endpoint("http://192.0.2.1/")
    with make_client("http://192.0.2.1") as client:
        transport = client._session.transport
        assert isinstance(transport, _client.TimeoutTransport)
        assert not isinstance(transport, xmlrpc.client.SafeTransport)


def test_certificate_failure_names_ca_path(xapi, monkeypatch):
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    xapi.add_endpoint(MASTER).raise_next["*"] = [error]
    with pytest.raises(CertificateVerificationError) as raised:
        make_client().login()
    message = str(raised.value)
    assert "self-signed certificate in certificate chain" in message
    assert "ca_path" in message and "XENSERVER_CA_PATH" in message


# --- login, redirect, logout ------------------------------------------------------------------

def test_login_names_the_collection_as_originator(xapi):
    xapi.add_endpoint(MASTER)
    with make_client():
        pass
    url, method, args = xapi.calls[0]
    assert (url, method) == (MASTER, "login_with_password")
    assert args[0] == "root" and args[3] == ORIGINATOR == "xenserver.pools"


def test_logout_at_the_end_of_the_block(xapi):
    xapi.add_endpoint(MASTER)
    with make_client():
        assert len(xapi.sessions) == 1
    assert xapi.sessions == set()
    assert xapi.methods()[-1] == "session.logout"


def test_logout_also_when_the_block_fails(xapi):
    xapi.add_endpoint(MASTER)
    with pytest.raises(RuntimeError):
        with make_client():
            raise RuntimeError("module bug")
    assert xapi.sessions == set()


def test_logout_is_registered_with_atexit_and_idempotent(xapi):
    xapi.add_endpoint(MASTER)
    client = make_client()
    client.login()
    assert xapi.atexit_handlers == [client.close]
    client.close()
    client.close()
    assert xapi.methods().count("session.logout") == 1


def test_logout_follows_a_master_that_moved_while_we_worked(xapi):
    old_master = xapi.add_endpoint(MASTER)
    client = make_client()
    client.login()
    # designate_new_master: the old master now answers HOST_IS_SLAVE, the session lives on
    old_master.master_address = "192.0.2.9"
    xapi.add_endpoint("https://192.0.2.9/")
    client.close()
    assert xapi.sessions == set()
    assert xapi.calls[-1][:2] == ("https://192.0.2.9/", "session_logout")


def test_member_redirects_to_the_master_keeping_scheme_and_port(xapi):
    xapi.add_endpoint("https://192.0.2.2:8443/", master_address="192.0.2.1")
    xapi.add_endpoint("https://192.0.2.1:8443/").records["host"] = {"OpaqueRef:h1": {"uuid": "h1"}}
    with make_client("192.0.2.2:8443") as client:
        assert client.url == "https://192.0.2.1:8443/"
        assert client.get_all_records("host") == {"OpaqueRef:h1": {"uuid": "h1"}}
    urls = [url for url, method, _args in xapi.calls if method == "login_with_password"]
    assert urls == ["https://192.0.2.2:8443/", "https://192.0.2.1:8443/"]
    assert xapi.calls[-1][0] == "https://192.0.2.1:8443/" and xapi.sessions == set()


def test_redirect_is_followed_once_only(xapi):
    xapi.add_endpoint(MEMBER, master_address="192.0.2.1")
    xapi.add_endpoint(MASTER, master_address="192.0.2.3")
    with pytest.raises(XapiError) as error:
        make_client(MEMBER).login()
    assert str(error.value).startswith(
        "Logging in failed: https://192.0.2.2/ named https://192.0.2.1/ as pool master, but https://192.0.2.1/ "
        "also says it is a pool member (HOST_IS_SLAVE ['192.0.2.3'])")
    assert xapi.methods().count("login_with_password") == 2


def test_follow_master_false_reports_the_membership_instead(xapi):
    xapi.add_endpoint(MEMBER, master_address="192.0.2.1")
    xapi.add_endpoint(MASTER)
    with pytest.raises(XapiError) as error:
        make_client(MEMBER, follow_master=False).login()
    assert (error.value.code, error.value.params) == ("HOST_IS_SLAVE", ["192.0.2.1"])
    assert [url for url, _method, _args in xapi.calls] == [MEMBER]


def test_wrong_password_is_its_own_clear_message(xapi):
    xapi.add_endpoint(MASTER)
    with pytest.raises(AuthenticationError) as error:
        make_client(password="wrong-horse").login()
    message = str(error.value)
    assert "wrong user name or password" in message and "'root'" in message
    assert "wrong-horse" not in message


def test_unreachable_host_fails_at_once(xapi):
    with pytest.raises(ConnectionFailedError) as error:
        make_client().login()
    assert "connection refused" in str(error.value) and MASTER in str(error.value)
    assert xapi.sleeps == []


def test_login_with_wait_retries_with_backoff_until_the_api_is_back(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.raise_next["login_with_password"] = [ConnectionRefusedError(111, "refused")] * 4
    client = make_client(timeout=60)
    client.login(wait=True)
    client.close()
    assert xapi.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert xapi.methods() == ["login_with_password"] * 5 + ["session.logout"]


def test_login_with_wait_gives_up_at_the_deadline(xapi):
    with pytest.raises(ConnectionFailedError):
        make_client(timeout=20).login(wait=True)
    assert sum(xapi.sleeps) == pytest.approx(20)
    assert max(xapi.sleeps) <= BACKOFF_MAX_SECONDS


def test_timeout_is_its_own_message(xapi):
    xapi.add_endpoint(MASTER).raise_next["*"] = [socket.timeout("timed out")]
    with pytest.raises(RequestTimeoutError) as error:
        make_client(timeout=7).login()
    assert "no answer within 7 seconds" in str(error.value)


def test_missing_xenapi_uses_missing_required_lib(monkeypatch):
    monkeypatch.setattr(_client, "XenAPI", None)
    with pytest.raises(MissingLibraryError) as error:
        make_client()
    assert "Failed to import the required Python library (XenAPI)" in str(error.value)


@pytest.mark.parametrize("timeout", [0, -5])
def test_timeout_must_be_positive(xapi, timeout):
    with pytest.raises(InvalidParameterError):
        make_client(timeout=timeout)


# --- retries ---------------------------------------------------------------------------------

def test_reads_are_retried_while_the_api_restarts(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.records["host"] = {"OpaqueRef:h1": {"uuid": "h1"}}
    with make_client() as client:
        endpoint.raise_next["host.get_all_records"] = [ConnectionResetError(104, "reset"),
                                                       ConnectionRefusedError(111, "refused")]
        assert client.get_all_records("host") == {"OpaqueRef:h1": {"uuid": "h1"}}
    assert xapi.methods().count("host.get_all_records") == 3
    assert xapi.sleeps == [0.5, 1.0]


def test_reads_give_up_at_the_deadline(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    with make_client(timeout=10) as client:
        endpoint.raise_next["host.get_all_records"] = [ConnectionRefusedError(111, "refused")] * 100
        with pytest.raises(ConnectionFailedError) as error:
            client.get_all_records("host")
    assert "Reading all host records" in str(error.value)
    assert sum(xapi.sleeps) == pytest.approx(10)


def test_writes_are_not_retried(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["host.disable"] = lambda host: ""
    with make_client() as client:
        endpoint.raise_next["host.disable"] = [ConnectionResetError(104, "reset")]
        with pytest.raises(ConnectionFailedError):
            client.write("host.disable", "OpaqueRef:h1")
    assert xapi.methods().count("host.disable") == 1 and xapi.sleeps == []


def test_writes_marked_safe_to_repeat_are_retried(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["host.disable"] = lambda host: ""
    with make_client() as client:
        endpoint.raise_next["host.disable"] = [ConnectionResetError(104, "reset")]
        client.write("host.disable", "OpaqueRef:h1", repeat_safe=True)
    assert xapi.methods().count("host.disable") == 2


def test_master_moved_mid_session_is_followed_with_the_same_session(xapi):
    old = xapi.add_endpoint(MASTER)
    new = xapi.add_endpoint(MEMBER)
    new.handlers["pool.get_all_records"] = lambda: {}
    with make_client() as client:
        session_ref = client._session._session
        old.master_address = "192.0.2.2"  # pool.designate_new_master happened
        client.read("pool.get_all_records")
        assert client.url == MEMBER and client._session._session == session_ref
    assert xapi.sessions == set()


# --- errors ----------------------------------------------------------------------------------

def test_xapi_errors_become_one_sentence_naming_the_object(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.raise_next["host.get_all_records"] = [
        xapi.module.Failure(["HOST_OFFLINE", "OpaqueRef:h2"])]
    with make_client() as client:
        with pytest.raises(XapiError) as error:
            client.get_all_records("host")
    assert str(error.value) == (
        "Reading all host records from https://192.0.2.1/ failed: XAPI returned HOST_OFFLINE "
        "['OpaqueRef:h2']: host OpaqueRef:h2 is offline (not live in the pool); power the host on or "
        "wait until it is live again, then retry.")
    assert error.value.code == "HOST_OFFLINE" and error.value.params == ["OpaqueRef:h2"]


def test_every_exception_is_a_xenserver_error(xapi):
    assert issubclass(TaskFailedError, XapiError)
    for error_class in (AuthenticationError, CertificateVerificationError, ConnectionFailedError,
                        InvalidParameterError, MissingLibraryError, RequestTimeoutError, XapiError):
        assert issubclass(error_class, XenServerError)


# --- bulk reads and ints ---------------------------------------------------------------------

def test_int_fields_sent_as_strings_are_converted(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.records["host_metrics"] = {"OpaqueRef:m": {"memory_total": "68719476736", "live": True},
                                        "OpaqueRef:n": {"memory_total": 1024.0, "live": True}}
    endpoint.records["PIF"] = {"OpaqueRef:p": {"VLAN": "-1", "MTU": "1500", "device": "eth0"}}
    endpoint.records["VM"] = {"OpaqueRef:v": {"memory_target": "not-a-number", "name_label": "42"}}
    with make_client() as client:
        records = client.get_all_records_of(["host_metrics", "PIF", "VM"])
    assert records["host_metrics"]["OpaqueRef:m"]["memory_total"] == 68719476736
    converted = records["host_metrics"]["OpaqueRef:n"]["memory_total"]
    assert isinstance(converted, int) and converted == 1024
    assert records["PIF"]["OpaqueRef:p"] == {"VLAN": -1, "MTU": 1500, "device": "eth0"}
    assert records["VM"]["OpaqueRef:v"] == {"memory_target": "not-a-number", "name_label": "42"}


def test_optional_classes_unknown_to_the_host_are_empty(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.records["host"] = {}
    with make_client() as client:
        assert client.get_all_records_of(["host", "pool_update"], optional=["pool_update"]) == {
            "host": {}, "pool_update": {}}
        with pytest.raises(XapiError):
            client.get_all_records_of(["pool_update"])


# --- waiting with event.from -----------------------------------------------------------------

def event(operation, xapi_class, ref, snapshot=None):
    result = {"id": "1", "timestamp": "0.0", "class": xapi_class, "operation": operation, "ref": ref}
    if snapshot is not None:
        result["snapshot"] = snapshot
    return result


def scripted_events(xapi, batches, seconds_per_call=0.0):
    """An event.from handler answering the given batches in order; records its arguments."""
    received = []

    def event_from(classes, token, timeout):
        received.append((classes, token, timeout))
        xapi.now += seconds_per_call
        events = batches.pop(0) if batches else []
        return {"events": events, "valid_ref_counts": {}, "token": "token-%d" % len(received)}

    return event_from, received


def test_wait_for_follows_events_until_the_condition_holds(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["event.from"], received = scripted_events(xapi, [
        [event("add", "host", "OpaqueRef:h1", {"enabled": False, "memory_overhead": "10"})],
        [event("mod", "host", "OpaqueRef:h1", {"enabled": False, "memory_overhead": "10"})],
        [event("mod", "host", "OpaqueRef:h1", {"enabled": True, "memory_overhead": "10"})],
    ])
    with make_client() as client:
        state = client.wait_for(["host/OpaqueRef:h1"], lambda s: s["host"]["OpaqueRef:h1"]["enabled"],
                                "host xs1 to be enabled")
    assert state["host"]["OpaqueRef:h1"] == {"enabled": True, "memory_overhead": 10}
    assert [token for _classes, token, _timeout in received] == ["", "token-1", "token-2"]
    assert all(classes == ["host/OpaqueRef:h1"] for classes, _token, _timeout in received)
    assert all(isinstance(timeout, float) and 0 < timeout <= EVENT_POLL_SECONDS for _c, _t, timeout in received)
    assert xapi.sleeps == []  # no sleeping: the server blocks


def test_wait_for_applies_deletions(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["event.from"], _received = scripted_events(xapi, [
        [event("add", "host", "OpaqueRef:h1", {}), event("add", "host", "OpaqueRef:h2", {})],
        [event("del", "host", "OpaqueRef:h2")],
    ])
    with make_client() as client:
        state = client.wait_for(["host"], lambda s: len(s["host"]) == 1, "host xs2 to leave the pool")
    assert list(state["host"]) == ["OpaqueRef:h1"]


def test_wait_for_times_out_with_a_clear_message(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["event.from"], received = scripted_events(xapi, [], seconds_per_call=EVENT_POLL_SECONDS)
    with make_client(timeout=100) as client:
        with pytest.raises(RequestTimeoutError) as error:
            client.wait_for(["host"], lambda s: False, "host xs1 to be enabled")
    assert str(error.value) == "Timed out after 100 seconds waiting for host xs1 to be enabled on https://192.0.2.1/."
    assert len(received) == 4  # 30 + 30 + 30 + 10 seconds
    assert received[-1][2] == pytest.approx(10.0)


def test_wait_for_starts_again_when_events_are_lost(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["event.from"], received = scripted_events(xapi, [
        [event("add", "host", "OpaqueRef:h1", {"enabled": False})],
        [event("add", "host", "OpaqueRef:h1", {"enabled": True})],
    ])
    with make_client() as client:
        first_call = {"done": False}
        handler = endpoint.handlers["event.from"]

        def lose_events_once(classes, token, timeout):
            if token and not first_call["done"]:
                first_call["done"] = True
                raise xapi.module.Failure(["EVENTS_LOST"])
            return handler(classes, token, timeout)

        endpoint.handlers["event.from"] = lose_events_once
        client.wait_for(["host"], lambda s: s["host"]["OpaqueRef:h1"]["enabled"], "host xs1 to be enabled")
    assert [token for _c, token, _t in received] == ["", ""]


def test_wait_for_polls_only_when_event_from_is_unknown(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    states = [False, False, True]
    endpoint.handlers["host.get_all_records"] = lambda: {"OpaqueRef:h1": {"enabled": states.pop(0)}}
    with make_client() as client:
        state = client.wait_for(["host"], lambda s: s["host"]["OpaqueRef:h1"]["enabled"], "host xs1 to be enabled")
    assert state["host"]["OpaqueRef:h1"]["enabled"] is True
    assert xapi.methods().count("event.from") == 1
    assert xapi.sleeps == [0.5, 1.0]  # backoff, not a fixed interval


def test_wait_for_survives_an_api_restart(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["event.from"], received = scripted_events(xapi, [
        [event("add", "host", "OpaqueRef:h1", {"enabled": True})],
    ])
    with make_client() as client:
        endpoint.raise_next["event.from"] = [ConnectionRefusedError(111, "refused")] * 3
        client.wait_for(["host"], lambda s: s["host"]["OpaqueRef:h1"]["enabled"], "host xs1 to be enabled")
    assert xapi.sleeps == [0.5, 1.0, 2.0] and len(received) == 1


# --- tasks -----------------------------------------------------------------------------------

def task_pool(xapi, final_record, **kwargs):
    endpoint = xapi.add_endpoint(MASTER)
    endpoint.handlers["Async.host.evacuate"] = lambda host: "OpaqueRef:task1"
    endpoint.handlers["task.destroy"] = lambda task: ""
    endpoint.handlers["task.cancel"] = lambda task: ""
    pending = {"status": "pending", "progress": "0.5", "result": "", "error_info": []}
    batches = [[event("add", "task", "OpaqueRef:task1", pending)]]
    if final_record is not None:
        batches.append([event("mod", "task", "OpaqueRef:task1", final_record)])
    endpoint.handlers["event.from"], received = scripted_events(xapi, batches, **kwargs)
    return endpoint, received


def test_task_result_is_returned_and_the_task_destroyed(xapi):
    task_pool(xapi, {"status": "success", "result": "<value>OpaqueRef:vm1</value>", "error_info": []})
    with make_client() as client:
        task = client.start_task("host.evacuate", "OpaqueRef:h1")
        assert client.wait_for_task(task, "evacuating host xs1") == "OpaqueRef:vm1"
        assert ("task.destroy" in xapi.methods())
    subscriptions = [args[0] for _url, method, args in xapi.calls if method == "event.from"]
    assert subscriptions == [["task/OpaqueRef:task1"]] * 2


def test_several_tasks_are_waited_for_together_each_with_its_outcome(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    tasks = iter(["OpaqueRef:task1", "OpaqueRef:task2"])
    endpoint.handlers["Async.VM.pool_migrate"] = lambda vm, host, options: next(tasks)
    endpoint.handlers["task.destroy"] = lambda task: ""
    pending = {"status": "pending", "result": "", "error_info": []}
    endpoint.handlers["event.from"], received = scripted_events(xapi, [
        [event("add", "task", "OpaqueRef:task1", pending), event("add", "task", "OpaqueRef:task2", pending)],
        [event("mod", "task", "OpaqueRef:task1", {"status": "success", "result": "", "error_info": []})],
        [event("mod", "task", "OpaqueRef:task2",
               {"status": "failure", "result": "", "error_info": ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm2"]})],
    ])
    with make_client() as client:
        first = client.start_task("VM.pool_migrate", "OpaqueRef:vm1", "OpaqueRef:h1", {"live": "true"})
        second = client.start_task("VM.pool_migrate", "OpaqueRef:vm2", "OpaqueRef:h1", {"live": "true"})
        outcomes = client.wait_for_tasks({first: "migrating VM vm1", second: "migrating VM vm2"}, "2 VMs")
    assert outcomes[first] is None
    assert isinstance(outcomes[second], TaskFailedError) and outcomes[second].code == "HOST_NOT_ENOUGH_FREE_MEMORY"
    assert str(outcomes[second]).startswith("Migrating VM vm2 failed")
    assert [classes for classes, _token, _timeout in received] == [["task/OpaqueRef:task1", "task/OpaqueRef:task2"]] * 3
    assert xapi.methods().count("task.destroy") == 2


def test_failed_task_raises_with_its_error_info_and_is_destroyed(xapi):
    task_pool(xapi, {"status": "failure", "result": "",
                     "error_info": ["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm1"]})
    with make_client() as client:
        with pytest.raises(TaskFailedError) as error:
            client.run_task("host.evacuate", "OpaqueRef:h1", what="evacuating host xs1")
    assert str(error.value).startswith(
        "Evacuating host xs1 failed: XAPI returned HOST_NOT_ENOUGH_FREE_MEMORY ['OpaqueRef:vm1']: there is "
        "not enough free memory")
    assert error.value.code == "HOST_NOT_ENOUGH_FREE_MEMORY"
    assert xapi.methods().count("task.destroy") == 1


def test_cancelled_task_without_error_info_says_so(xapi):
    task_pool(xapi, {"status": "cancelled", "result": "", "error_info": []})
    with make_client() as client:
        with pytest.raises(TaskFailedError) as error:
            client.run_task("host.evacuate", "OpaqueRef:h1", what="evacuating host xs1")
    assert error.value.code == "TASK_CANCELLED"


def test_task_timeout_cancels_then_destroys(xapi):
    task_pool(xapi, None, seconds_per_call=EVENT_POLL_SECONDS)
    with make_client(timeout=60) as client:
        with pytest.raises(RequestTimeoutError) as error:
            client.run_task("host.evacuate", "OpaqueRef:h1", what="evacuating host xs1")
    assert "waiting for evacuating host xs1" in str(error.value)
    methods = xapi.methods()
    assert methods.index("task.cancel") < methods.index("task.destroy") < methods.index("session.logout")


def test_close_destroys_tasks_nobody_waited_for(xapi):
    task_pool(xapi, None)
    with make_client() as client:
        client.start_task("host.evacuate", "OpaqueRef:h1")
    methods = xapi.methods()
    assert methods[-2:] == ["task.destroy", "session.logout"]


def test_task_start_failure_is_not_retried(xapi):
    endpoint, _received = task_pool(xapi, None)
    with make_client() as client:
        endpoint.raise_next["Async.host.evacuate"] = [ConnectionResetError(104, "reset")]
        with pytest.raises(ConnectionFailedError):
            client.start_task("host.evacuate", "OpaqueRef:h1")
    assert xapi.methods().count("Async.host.evacuate") == 1


@pytest.mark.parametrize("raw, decoded", [
    ("", None),
    ("<value></value>", None),
    ("<value>OpaqueRef:abc</value>", "OpaqueRef:abc"),
    ("<value><array><data><value>a</value><value>b</value></data></array></value>", ["a", "b"]),
    ("not xml", "not xml"),
])
def test_decode_task_result(raw, decoded):
    assert decode_task_result(raw) == decoded


# --- transport: no silent resend of writes ---------------------------------------------------

@pytest.mark.parametrize("resend, attempts", [(True, 2), (False, 1)])
def test_transport_resends_only_when_allowed(monkeypatch, resend, attempts):
    transport = _client.TimeoutTransport(10)
    transport.resend_on_reset = resend
    sent = []

    def single_request(host, handler, body, verbose=False):
        sent.append(body)
        raise http.client.RemoteDisconnected("closed")

    monkeypatch.setattr(transport, "single_request", single_request)
    with pytest.raises(http.client.RemoteDisconnected):
        transport.request("192.0.2.1", "/", b"<methodCall/>")
    assert len(sent) == attempts


def test_writes_go_on_a_fresh_connection_without_resend(xapi):
    endpoint = xapi.add_endpoint(MASTER)
    seen = {}
    with make_client() as client:
        transport = client._session.transport
        closed = []
        transport.close = lambda: closed.append(True)
        endpoint.handlers["host.disable"] = lambda host: seen.setdefault("write", transport.resend_on_reset)
        endpoint.handlers["host.get_record"] = lambda host: seen.setdefault("read", transport.resend_on_reset)
        client.write("host.disable", "OpaqueRef:h1")
        client.read("host.get_record", "OpaqueRef:h1")
        assert transport.resend_on_reset is True
    assert seen == {"write": False, "read": True}
    assert closed == [True]
