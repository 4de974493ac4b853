"""The control interface (docs/ARCHITECTURE.md) and the command line contract."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

import pytest
import XenAPI

from conftest import LABS_DIR, xapi_session
from xapisim.api import REGISTRY, Message
from xapisim.dispatch import SCRUBBED, call_kind, scrub

SECRETS = ["join-secret-pw", "the-secret-value", "nfs-secret-pw", "ipmi-secret-pw", "new-secret-value"]


def request(lab, method: str, path: str, body=None) -> tuple[int, dict]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(lab.control_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.fixture
def lab(start_lab):
    return start_lab("three-standalone")


# -- GET /state ------------------------------------------------------------------------
def test_state_lists_every_pool_and_machine(lab):
    status, state = request(lab, "GET", "/state")
    assert status == 200
    assert [p["master"] for p in state["pools"]] == ["xs1", "xs2", "xs3"]
    pool = state["pools"][0]
    assert len(pool["objects"]["host"]) == 1 and len(pool["objects"]["pool"]) == 1
    host = next(iter(pool["objects"]["host"].values()))
    assert host["name_label"] == "xs1" and host["address"] == "127.0.0.11"
    assert [(m["name"], m["role"], m["powered"], m["api_up"]) for m in state["machines"]] == \
        [("xs1", "master", True, True), ("xs2", "master", True, True), ("xs3", "master", True, True)]
    # sessions and secrets never appear
    xapi_session(lab)
    _, state = request(lab, "GET", "/state")
    assert "session" not in state["pools"][0]["objects"] and "secret" not in state["pools"][0]["objects"]


# -- the call log ----------------------------------------------------------------------
def test_call_log_entries_kinds_and_since(lab):
    request(lab, "DELETE", "/calls")
    x = xapi_session(lab, originator="log-test").xenapi
    host = x.host.get_all()[0]
    x.host.get_record(host)
    x.host.set_name_description(host, "logged")
    with pytest.raises(XenAPI.Failure):
        x.host.get_record("OpaqueRef:nope")
    x.event_from(["host"], "", "0.0")
    _, log = request(lab, "GET", "/calls")
    calls = log["calls"]
    assert [(c["method"], c["kind"], c["status"]) for c in calls] == [
        ("session.login_with_password", "session", "ok"), ("host.get_all", "read", "ok"),
        ("host.get_record", "read", "ok"), ("host.set_name_description", "write", "ok"),
        ("host.get_record", "read", "error"), ("event.from", "event", "ok")]
    assert calls[4]["error"] == ["HANDLE_INVALID", "host", "OpaqueRef:nope"] and calls[3]["error"] is None
    assert calls[3]["args"] == [host, "logged"]              # no session ref in args
    assert all(c["host"] == "xs1" and c["originator"] == "log-test" for c in calls)
    assert all(isinstance(c["duration"], float) and c["duration"] >= 0 for c in calls)
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    _, later = request(lab, "GET", f"/calls?since={calls[3]['seq']}")
    assert [c["seq"] for c in later["calls"]] == [calls[4]["seq"], calls[5]["seq"]]
    assert request(lab, "GET", "/calls?since=abc")[0] == 400
    assert request(lab, "DELETE", "/calls")[0] == 200
    assert request(lab, "GET", "/calls")[1]["calls"] == []
    x.pool.get_all()
    _, after = request(lab, "GET", "/calls")
    assert after["calls"][0]["seq"] > calls[-1]["seq"]       # seq keeps counting after a clear


def test_call_kind_comes_from_the_name_for_known_and_unknown_methods(lab):
    assert [call_kind(n) for n in ("VM.get_record", "VM.get_all_records", "host.get_by_uuid", "message.get",
                                   "host.get_vms_which_prevent_evacuation", "VM_get_power_state",
                                   "host_metrics_get_live", "session.get_record", "event.get_current_id")] == ["read"] * 9
    assert [call_kind(n) for n in ("SR.probe", "host.assert_can_evacuate", "VM.assert_can_boot_here",
                                   "host.compute_free_memory")] == ["read"] * 4
    assert [call_kind(n) for n in ("event.from", "event.register", "event_next")] == ["event"] * 3
    assert [call_kind(n) for n in ("session.logout", "session.set_other_config", "session_local_logout")] == ["session"] * 3
    assert [call_kind(n) for n in ("VM.start", "host.frobnicate", "pool.getaway", "host_metrics_set_live")] == ["write"] * 4
    request(lab, "DELETE", "/calls")
    x = xapi_session(lab).xenapi
    for unknown in (x.host.get_nonexistent_field, x.host.frobnicate, x.event.nonexistent, x.session.nonexistent,
                    x.Async.VM.get_nonexistent):
        with pytest.raises(XenAPI.Failure) as info:
            unknown()
        assert info.value.details[0] == "MESSAGE_METHOD_UNKNOWN"
    with pytest.raises(XenAPI.Failure):
        x.host.frobnicate("OpaqueRef:h", {"user": "u", "password": "unknown-pw"})
    with pytest.raises(XenAPI.Failure):
        x.session.nonexistent("root", "unknown-pw")
    _, log = request(lab, "GET", "/calls")
    assert [(c["method"], c["kind"]) for c in log["calls"][1:6]] == [
        ("host.get_nonexistent_field", "read"), ("host.frobnicate", "write"), ("event.nonexistent", "event"),
        ("session.nonexistent", "session"), ("Async.VM.get_nonexistent", "read")]
    # an unknown method's arguments are logged too: no session ref, no credentials
    assert [c["args"] for c in log["calls"][6:]] == [["OpaqueRef:h", {"user": "u", "password": SCRUBBED}],
                                                     [SCRUBBED, SCRUBBED]]
    assert "unknown-pw" not in json.dumps(log)


def test_no_password_or_secret_in_the_call_log_or_the_state_dir(lab, tmp_path):
    s1 = xapi_session(lab, 0)
    x = s1.xenapi
    host = x.host.get_all()[0]
    calls = [
        lambda: xapi_session(lab, 1, password="wrong-password-1", login=False).xenapi.login_with_password(
            "root", "wrong-password-1", "1.0", "t"),
        lambda: xapi_session(lab, 1).xenapi.pool.join("127.0.0.11", "root", "join-secret-pw"),
        lambda: x.secret.create({"value": "the-secret-value", "other_config": {}}),
        lambda: x.SR.create(host, {"server": "172.16.0.34", "serverpath": "/srv/vhd", "password": "nfs-secret-pw"},
                            "0", "sr", "", "nfs", "", True, {}),
        lambda: x.host.set_power_on_mode(host, "IPMI", {"power_on_ip": "10.0.0.1", "power_on_user": "admin",
                                                        "power_on_password": "ipmi-secret-pw"}),
        lambda: x.session.change_password("lab-root-pw", "new-secret-value"),
    ]
    for call in calls:
        try:
            call()
        except XenAPI.Failure:
            pass   # whether or not the message exists or succeeds, its arguments are logged
    _, log = request(lab, "GET", "/calls")
    text = json.dumps(log)
    for secret in [*SECRETS, "wrong-password-1", "lab-root-pw"]:
        assert secret not in text
    logins = [c for c in log["calls"] if c["method"] == "session.login_with_password"]
    assert logins and all(c["args"][1] == SCRUBBED for c in logins)
    joins = [c for c in log["calls"] if c["method"] == "pool.join"]
    assert joins and joins[0]["args"] == ["127.0.0.11", "root", SCRUBBED]
    # files under the state dir: only lab.json holds a password, readable by its owner only
    state_dir = Path(lab.info["ca_bundle"]).parents[1]
    for path in state_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            holds = [secret for secret in [*SECRETS, "wrong-password-1", "lab-root-pw"] if secret.encode() in content]
            if path.name == "lab.json":
                assert holds == ["lab-root-pw"]
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
            else:
                assert holds == [], path


def test_scrub_hides_passwords_and_secret_values_in_every_signature():
    """The datamodel signatures of the calls that carry secrets, scrubbed as the log shows them."""
    def message(wire_name, params):
        cls, name = wire_name.split(".")
        return REGISTRY.get(wire_name) or Message(cls, name, params, "void")
    cases = [
        (message("session.login_with_password", [("string", "uname"), ("string", "pwd"), ("string", "version"),
                                                   ("string", "originator")]),
         ["root", "pw", "1.0", "o"], ["root", SCRUBBED, "1.0", "o"]),
        (message("pool.join", [("string", "master_address"), ("string", "master_username"),
                               ("string", "master_password")]),
         ["s", "a", "root", "pw"], ["a", "root", SCRUBBED]),
        (message("secret.create", [("secret record", "args")]),
         ["s", {"value": "v", "other_config": {}}], [SCRUBBED]),
        (message("secret.set_value", [("secret ref", "self"), ("string", "value")]),
         ["s", "OpaqueRef:x", "v"], ["OpaqueRef:x", SCRUBBED]),
        (message("SR.create", [("host ref", "host"), ("(string -> string) map", "device_config"), ("int", "physical_size"),
                               ("string", "name_label"), ("string", "name_description"), ("string", "type"),
                               ("string", "content_type"), ("bool", "shared"), ("(string -> string) map", "sm_config")]),
         ["s", "h", {"server": "x", "password": "pw", "chappassword": "pw2"}, "0", "n", "", "nfs", "", True, {}],
         ["h", {"server": "x", "password": SCRUBBED, "chappassword": SCRUBBED}, "0", "n", "", "nfs", "", True, {}]),
        (message("host.set_power_on_mode", [("host ref", "self"), ("string", "power_on_mode"),
                                            ("(string -> string) map", "power_on_config")]),
         ["s", "h", "IPMI", {"power_on_ip": "i", "power_on_password_secret": "uuid"}],
         ["h", "IPMI", {"power_on_ip": "i", "power_on_password_secret": SCRUBBED}]),
        (message("session.change_password", [("string", "old_pwd"), ("string", "new_pwd")]),
         ["s", "a", "b"], [SCRUBBED, SCRUBBED]),
    ]
    for msg, args, logged in cases:
        assert scrub(msg, args) == logged, msg.wire_name


# -- faults ----------------------------------------------------------------------------
def test_faults_are_validated_listed_and_cleared(lab):
    assert request(lab, "GET", "/faults") == (200, {"faults": []})
    bad = [
        (b"not json", "JSON object"),
        ({"kind": "meteor"}, "faults[0].kind: 'meteor' is unknown; allowed: latency, error"),
        ({"kind": "error", "method": "VM.start"}, "faults[0]: kind error needs code"),
        ({"kind": "error", "method": "VM.start", "code": "X", "colour": "red"}, "faults[0]: unknown keys colour"),
        ({"kind": "crash", "host": "xs9"}, "faults[0].host: no host named 'xs9'"),
        ({"kind": "error", "method": "VM.start", "code": "X", "times": 0}, "faults[0].times: must be a positive integer"),
        ({"kind": "latency", "seconds": -1}, "faults[0].seconds: must be a number >= 0"),
        ({"kind": "error", "method": "VM.start", "code": "X", "params": [1]}, "faults[0].params: must be a list of strings"),
        ({"kind": "error", "method": 5, "code": "X"}, "faults[0].method: must be a non-empty string"),
        ([{"kind": "crash", "host": "xs1"}, {"kind": "storage_down", "storage": "nowhere"}],
         "faults[1].storage: no storage server named 'nowhere'"),
    ]
    for body, message in bad:
        status, reply = request(lab, "POST", "/faults", body)
        assert status == 400 and message in reply["error"], (body, reply)
    assert request(lab, "GET", "/faults") == (200, {"faults": []})     # nothing armed by a bad request
    status, reply = request(lab, "POST", "/faults", {"kind": "error", "method": "pool.get_all", "code": "HOST_OFFLINE",
                                                     "params": ["x"], "times": 1})
    assert status == 200 and reply["faults"][0]["code"] == "HOST_OFFLINE"
    x = xapi_session(lab).xenapi
    with pytest.raises(XenAPI.Failure) as info:
        x.pool.get_all()
    assert info.value.details == ["HOST_OFFLINE", "x"]
    assert x.pool.get_all()                                                # fired once
    request(lab, "POST", "/faults", {"kind": "latency", "seconds": 0.2, "method": "pool.get_all"})
    assert len(request(lab, "GET", "/faults")[1]["faults"]) == 1
    assert request(lab, "DELETE", "/faults") == (200, {"faults": []})
    started = time.monotonic()
    x.pool.get_all()
    assert time.monotonic() - started < 0.2


def raw_call(lab, method: str, *params):
    """One XML-RPC request on its own connection, without xmlrpc.client's retry of a request
    whose connection was closed (Transport.request retries once: a blind retry)."""
    host = lab.info["hosts"][0]
    address, port = host["url"].split("//")[1].rstrip("/").split(":")
    context = ssl.create_default_context(cafile=lab.info["ca_bundle"])
    connection = http.client.HTTPSConnection(address, int(port), context=context, timeout=10)
    try:
        connection.request("POST", "/", xmlrpc.client.dumps(params, method), {"Content-Type": "text/xml"})
        return xmlrpc.client.loads(connection.getresponse().read())[0][0]
    finally:
        connection.close()


def test_drop_connection_before_or_after_the_call(lab):
    x = xapi_session(lab).xenapi
    session = raw_call(lab, "session.login_with_password", "root", "lab-root-pw", "1.0", "drop-test")["Value"]
    host = x.host.get_all()[0]
    request(lab, "DELETE", "/calls")
    # before (the default): the call does not run
    request(lab, "POST", "/faults", {"kind": "drop_connection", "method": "host.set_name_description"})
    with pytest.raises((http.client.HTTPException, OSError)):
        raw_call(lab, "host.set_name_description", session, host, "first")
    assert x.host.get_name_description(host) != "first"
    # after: the call runs, then the connection closes before the answer
    request(lab, "POST", "/faults", {"kind": "drop_connection", "method": "host.set_name_description", "when": "after"})
    with pytest.raises((http.client.HTTPException, OSError)):
        raw_call(lab, "host.set_name_description", session, host, "second")
    assert x.host.get_name_description(host) == "second"
    logged = [(c["args"], c["status"]) for c in request(lab, "GET", "/calls")[1]["calls"]
              if c["method"] == "host.set_name_description"]
    assert logged == [([host, "second"], "ok")]
    # xmlrpc.client (so XenAPI) sends a request again once when its connection closes: a write
    # whose answer was lost runs twice
    request(lab, "DELETE", "/calls")
    request(lab, "POST", "/faults", {"kind": "drop_connection", "method": "host.set_name_description", "when": "after"})
    x.host.set_name_description(host, "third")
    logged = [c["status"] for c in request(lab, "GET", "/calls")[1]["calls"] if c["method"] == "host.set_name_description"]
    assert logged == ["ok", "ok"]
    status, reply = request(lab, "POST", "/faults", {"kind": "drop_connection", "method": "VM.start", "when": "during"})
    assert status == 400 and "faults[0].when: 'during' is unknown; allowed: before, after" in reply["error"]


# -- command line ----------------------------------------------------------------------
def xapisim(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xapisim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def listening(url: str) -> bool:
    host, port = url.split("//")[1].rstrip("/").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_writes_lab_json_when_every_host_listens_and_stops_cleanly(tmp_path, sig):
    state_dir = tmp_path / "state"
    proc = xapisim("serve", str(LABS_DIR / "three-standalone.yml"), "--state-dir", str(state_dir), "--time-scale", "0.01")
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "lab.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        info = json.loads((state_dir / "lab.json").read_text())
        # the moment it exists, every host listens
        assert [h["name"] for h in info["hosts"]] == ["xs1", "xs2", "xs3"]
        assert all(listening(h["url"]) for h in info["hosts"])
        assert stat.S_IMODE((state_dir / "lab.json").stat().st_mode) == 0o600
        assert Path(info["ca_bundle"]).is_file()
        with urllib.request.urlopen(info["control_url"] + "/state", timeout=5) as reply:
            assert len(json.load(reply)["machines"]) == 3
        session = XenAPI.Session(info["hosts"][0]["url"], ignore_ssl=True)
        session.xenapi.login_with_password("root", info["hosts"][0]["password"], "1.0", "cli-test")
        assert len(session.xenapi.host.get_all()) == 1
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "lab stopped" in out
    assert not any(listening(h["url"]) for h in info["hosts"])


def test_serve_with_a_bad_lab_file_fails_without_traceback(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nhosts: []\n")
    proc = xapisim("serve", str(bad), "--state-dir", str(tmp_path / "state"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in err and "hosts" in err
    assert not (tmp_path / "state" / "lab.json").exists()


def test_validate_exit_codes(tmp_path):
    proc = xapisim("validate", str(LABS_DIR / "three-standalone.yml"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in out + err
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nhosts:\n  - {name: xs1, address: not-an-address}\n")
    proc = xapisim("validate", str(bad))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in out + err and "address" in out
    proc = xapisim("validate", str(tmp_path / "missing.yml"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in out + err
