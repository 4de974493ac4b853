# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool_info against simulator/labs/three-standalone.yml: the result, and every way to fail."""

from __future__ import annotations

import datetime
import socket

import pytest

from lab_helpers import arm_fault, clear_faults, connection_vars, host

MAX_CALLS = 15


def assert_clean(run, lab):
    """What every run must leave behind: no open session, no write call, no traceback, no secret."""
    assert run.sessions["total"] == 0, run.sessions
    assert [call for call in run.calls if call["kind"] == "write"] == []
    assert "Traceback" not in run.output
    for entry in lab.info["hosts"]:
        assert entry["password"] not in run.output
    for call in run.calls:
        # (a call the simulator failed on purpose, with an armed fault, is logged without originator)
        assert call["originator"] == "xenserver.pools" or call["status"] == "error"


def test_standalone_host(standalone_lab, playbook):
    run = playbook(standalone_lab, "pool_info.yml", connection_vars(standalone_lab, "xs2"))
    assert run.returncode == 0, run.output
    result = run.result
    assert result["failed"] is False and result["changed"] is False
    assert result["api_url"] == host(standalone_lab, "xs2")["url"]
    assert result["pool"]["master"] == "xs2"
    assert [entry["name"] for entry in result["hosts"]] == ["xs2"]
    xs2 = result["hosts"][0]
    assert xs2["is_master"] and xs2["enabled"] and xs2["live"]
    assert xs2["address"] == host(standalone_lab, "xs2")["address"]
    assert isinstance(xs2["memory_total"], int) and 0 < xs2["memory_free"] < xs2["memory_total"]
    management = [pif for pif in xs2["pifs"] if pif["management"]]
    assert [pif["device"] for pif in management] == ["eth0"]
    assert management[0]["ip"] == host(standalone_lab, "xs2")["address"]
    assert [sr["name"] for sr in result["srs"] if sr["pbds"] == [{"host": "xs2", "attached": True}]]
    assert run.methods[0] == "session.login_with_password" and run.methods[-1] == "session.logout"
    assert len(run.calls) <= MAX_CALLS
    assert_clean(run, standalone_lab)


def test_check_mode_makes_no_write(standalone_lab, playbook):
    run = playbook(standalone_lab, "pool_info.yml", connection_vars(standalone_lab, "xs1"), args=["--check"])
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "xs1"
    assert run.calls and all(call["kind"] in ("read", "session") for call in run.calls)
    assert_clean(run, standalone_lab)


def test_credentials_from_environment_variables_only(standalone_lab, playbook):
    entry = host(standalone_lab, "xs3")
    env = {"XENSERVER_HOST": entry["url"], "XENSERVER_USER": entry["username"],
           "XENSERVER_PASSWORD": entry["password"], "XENSERVER_CA_PATH": standalone_lab.info["ca_bundle"]}
    run = playbook(standalone_lab, "pool_info.yml", {}, env=env)
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "xs3"
    assert_clean(run, standalone_lab)


def test_module_defaults_for_the_action_group(standalone_lab, playbook):
    run = playbook(standalone_lab, "group_defaults.yml", connection_vars(standalone_lab, "xs1"))
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "xs1"
    assert_clean(run, standalone_lab)


def test_wrong_password(standalone_lab, playbook):
    run = playbook(standalone_lab, "pool_info.yml",
                   dict(connection_vars(standalone_lab, "xs1"), xs_password="not-the-password"))
    assert run.result["failed"] is True
    assert run.result["msg"].startswith("Login to %s as 'root' failed" % host(standalone_lab, "xs1")["url"])
    assert "wrong user name or password" in run.result["msg"]
    assert "not-the-password" not in run.output
    assert [call["error"][0] for call in run.calls] == ["SESSION_AUTHENTICATION_FAILED"]
    assert_clean(run, standalone_lab)


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_host(standalone_lab, playbook):
    run = playbook(standalone_lab, "pool_info.yml",
                   dict(connection_vars(standalone_lab, "xs1"), xs_hostname="127.0.0.1:%d" % _closed_port()))
    assert run.result["failed"] is True
    assert "connection refused" in run.result["msg"]
    assert run.calls == []
    assert_clean(run, standalone_lab)


def _write_other_ca(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"some other CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_wrong_ca_fails_verification_with_a_ca_path_hint(standalone_lab, playbook, tmp_path):
    other_ca = _write_other_ca(tmp_path / "other-ca.pem")
    run = playbook(standalone_lab, "pool_info.yml", dict(connection_vars(standalone_lab, "xs1"), xs_ca_path=other_ca))
    assert run.result["failed"] is True
    message = run.result["msg"]
    assert "the TLS certificate could not be verified" in message
    assert "ca_path %s does not hold the CA that signed the host certificate" % other_ca in message
    assert run.calls == []  # nothing reached XAPI, the password was never sent
    assert_clean(run, standalone_lab)


def test_no_ca_path_fails_verification_with_a_hint_to_set_it(standalone_lab, playbook):
    variables = connection_vars(standalone_lab, "xs1")
    del variables["xs_ca_path"]
    run = playbook(standalone_lab, "pool_info.yml", variables)
    assert run.result["failed"] is True
    assert "set ca_path (or XENSERVER_CA_PATH)" in run.result["msg"]
    assert run.calls == []
    assert_clean(run, standalone_lab)


def test_validate_certs_false_needs_no_ca(standalone_lab, playbook):
    variables = connection_vars(standalone_lab, "xs1")
    del variables["xs_ca_path"]
    run = playbook(standalone_lab, "pool_info.yml", dict(variables, xs_validate_certs=False))
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "xs1"
    assert_clean(run, standalone_lab)


def test_bad_option_is_one_line_without_a_call(standalone_lab, playbook):
    run = playbook(standalone_lab, "pool_info.yml",
                   dict(connection_vars(standalone_lab, "xs1"), xs_hostname="ftp://127.0.0.11"))
    assert run.result["failed"] is True
    assert run.result["msg"] == "hostname 'ftp://127.0.0.11': scheme must be https:// or http://."
    assert run.calls == []
    assert_clean(run, standalone_lab)


@pytest.fixture
def faults(standalone_lab):
    yield lambda fault: arm_fault(standalone_lab, fault)
    clear_faults(standalone_lab)


def test_xapi_error_is_one_sentence_and_the_session_is_logged_out(standalone_lab, playbook, faults):
    faults({"kind": "error", "host": "xs1", "method": "SR.get_all_records", "code": "INTERNAL_ERROR",
            "params": ["database locked"]})
    run = playbook(standalone_lab, "pool_info.yml", connection_vars(standalone_lab, "xs1"))
    assert run.result["failed"] is True
    assert run.result["msg"] == (
        "Reading all SR records from %s failed: XAPI returned INTERNAL_ERROR ['database locked']: XAPI hit an "
        "internal error: database locked; look at /var/log/xensource.log on the pool master."
        % host(standalone_lab, "xs1")["url"])
    assert run.methods[-1] == "session.logout"
    assert_clean(run, standalone_lab)


def test_a_dropped_connection_on_a_read_is_retried(standalone_lab, playbook, faults):
    faults({"kind": "drop_connection", "host": "xs1", "method": "VM.get_all_records", "times": 2})
    run = playbook(standalone_lab, "pool_info.yml", connection_vars(standalone_lab, "xs1"))
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "xs1"
    assert run.methods.count("VM.get_all_records") >= 1
    assert_clean(run, standalone_lab)
