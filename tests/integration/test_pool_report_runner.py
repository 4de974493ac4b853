# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/pool_report.yml through ansible-runner (the engine AWX runs jobs with), against the
simulated pool-of-four, with the connection ONLY from the environment an AWX credential of the type
in extensions/awx/credential_type.yml injects: its injectors are rendered here the way AWX renders
them (a Jinja2 sandbox, missing inputs undefined, the file injector written under env/)."""

from __future__ import annotations

import csv
import io
import os
import ssl
import stat
import sys
import tempfile
import xmlrpc.client
from pathlib import Path

import ansible_runner
import pytest
import XenAPI
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lab_helpers import control, host

REPO = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = REPO / "extensions" / "awx" / "credential_type.yml"
LAB_FILE = REPO / "simulator" / "labs" / "pool-of-four.yml"
HOSTILE = "{{ lookup('pipe', 'id') }}"
FORMULA = '=HYPERLINK("http://example.invalid","x")'
SCRIPT = "<script>alert(1)</script>"
STATES = {"running": "Running", "suspended": "Suspended", "halted": "Halted"}


def awx_credential_env(private_data_dir, inputs):
    """The environment AWX gives a job for a credential with these inputs (see inject_credential in
    awx/main/models/credential.py: file injectors first, then env injectors, in a sandbox)."""
    definition = yaml.safe_load(CREDENTIAL_TYPE.read_text())
    sandbox = ImmutableSandboxedEnvironment()

    class TowerNamespace(object):
        pass

    tower = TowerNamespace()
    namespace = dict(inputs, tower=tower)
    env_dir = private_data_dir / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for _label, template in definition["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=str(env_dir))
        with os.fdopen(handle, "w") as file:
            file.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        tower.filename = path
    return {name: sandbox.from_string(template).render(**namespace)
            for name, template in definition["injectors"]["env"].items()}


def credential_inputs(lab, name, **overrides):
    entry = host(lab, name)
    inputs = {"host": entry["url"], "username": entry["username"], "password": entry["password"],
              "ca": Path(lab.info["ca_bundle"]).read_text()}
    inputs.update(overrides)
    return {key: value for key, value in inputs.items() if value is not None}


@pytest.fixture
def run_report(tmp_path, monkeypatch):
    """run_report(inputs) -> (runner, report_dir): the playbook as an AWX job with that credential."""
    for name in list(os.environ):
        if name.startswith("XENSERVER_"):
            monkeypatch.delenv(name)  # only what the credential injects
    monkeypatch.setenv("PATH", "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", "")))
    report_dir = tmp_path / "report"
    runs = []

    def run(inputs):
        private_data_dir = tmp_path / ("job%d" % len(runs))
        env = awx_credential_env(private_data_dir, inputs)
        env.update({"ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
                    "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false"})
        runner = ansible_runner.run(private_data_dir=str(private_data_dir), project_dir=str(REPO),
                                    playbook="playbooks/pool_report.yml", envvars=env,
                                    extravars={"pool_report_dir": str(report_dir)}, quiet=True, timeout=300)
        runs.append(runner)
        return runner, env

    return run, report_dir


def read_csv(path):
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def output(runner):
    return runner.stdout.read()


def test_injected_environment():
    with tempfile.TemporaryDirectory() as directory:
        env = awx_credential_env(Path(directory), {"host": "xs1", "username": "root", "password": "pw"})
        # no CA: an empty path (the system store); validate_certs never set: true
        assert env == {"XENSERVER_HOST": "xs1", "XENSERVER_USER": "root", "XENSERVER_PASSWORD": "pw",
                       "XENSERVER_VALIDATE_CERTS": "true", "XENSERVER_CA_PATH": ""}
        env = awx_credential_env(Path(directory), {"host": "xs1", "username": "root", "password": "pw",
                                                   "validate_certs": "false", "ca": "PEM"})
        assert env["XENSERVER_VALIDATE_CERTS"] == "false"
        assert Path(env["XENSERVER_CA_PATH"]).read_text() == "PEM"


def test_report_of_pool_of_four(pool_lab, run_report):
    run, report_dir = run_report
    since = max([call["seq"] for call in control(pool_lab, "/calls")["calls"]] or [0])
    runner, env = run(credential_inputs(pool_lab, "xs2"))  # a member: redirected to the master
    text = output(runner)
    assert (runner.status, runner.rc) == ("successful", 0), text
    assert env["XENSERVER_CA_PATH"].startswith(str(report_dir.parent))  # the injected CA file was used

    lab_spec = yaml.safe_load(LAB_FILE.read_text())
    servers = read_csv(report_dir / "servers.csv")
    assert [(row["Name"], row["Pool Master"]) for row in servers] == [
        ("xs1", "Yes"), ("xs2", "No"), ("xs3", "No"), ("xs4", "No")]
    assert [row["Address"] for row in servers] == [entry["address"] for entry in pool_lab.info["hosts"]]
    vms = {row["Name"]: row for row in read_csv(report_dir / "vms.csv")}
    expected = {vm["name"]: (STATES[vm["power_state"]], spec["name"] if vm["power_state"] == "running" else "")
                for spec in lab_spec["hosts"] for vm in spec["vms"]}
    assert {name: (row["Power State"], row["Running on"]) for name, row in vms.items()} == expected
    assert vms["db-3"]["Storage"] == "db-3 disk 0: 40.0 GiB on shared-nfs"
    assert (vms["db-3"]["Used Memory"], vms["db-3"]["CPU Usage"]) == ("8.0 GiB", "4 vCPUs")
    srs = {row["Name"]: row for row in read_csv(report_dir / "srs.csv")}
    assert srs["shared-nfs"]["Location"] == "server:172.16.0.34:/srv/vhd"
    assert len(read_csv(report_dir / "vdis.csv")) == 20
    columns = ["Name", "Link Status", "MAC", "MTU", "VLAN", "Type", "Location"]
    assert list(read_csv(report_dir / "networks.csv")[0]) == columns
    assert not (report_dir / "gpus.csv").exists()
    html = (report_dir / "report.html").read_text()
    for name, (state, running_on) in expected.items():
        assert "<tr><td>%s</td><td>%s</td><td>%s</td>" % (name, state, running_on) in html

    # read-only, logged out, the password nowhere
    calls = control(pool_lab, "/calls?since=%d" % since)["calls"]
    assert {call["kind"] for call in calls} <= {"read", "session", "event"}
    assert control(pool_lab, "/sessions")["total"] == 0
    password = host(pool_lab, "xs1")["password"]
    assert all(password not in path.read_text() for path in report_dir.iterdir())
    assert password not in text

    # a second run changes nothing
    runner, _env = run(credential_inputs(pool_lab, "xs1"))
    assert runner.status == "successful", output(runner)
    assert runner.stats["changed"] == {}, output(runner)


def test_credential_without_ca(pool_lab, run_report):
    run, report_dir = run_report
    # validate_certs left at its default: the lab's private CA is not in the system store
    runner, env = run(credential_inputs(pool_lab, "xs1", ca=None))
    assert env["XENSERVER_CA_PATH"] == "" and env["XENSERVER_VALIDATE_CERTS"] == "true"
    text = output(runner)
    assert runner.status == "failed"
    assert "the TLS certificate could not be verified" in text and "Traceback" not in text
    # a lab credential that turns checking off
    runner, _env = run(credential_inputs(pool_lab, "xs1", ca=None, validate_certs="false"))
    assert runner.status == "successful", output(runner)
    assert len(read_csv(report_dir / "servers.csv")) == 4


@pytest.fixture
def hostile_names(pool_lab):
    """VMs renamed to a Jinja2 expression and a spreadsheet formula, a description with a script."""
    entry = host(pool_lab, "xs1")
    context = ssl.create_default_context(cafile=pool_lab.info["ca_bundle"])
    session = XenAPI.Session(entry["url"], transport=xmlrpc.client.SafeTransport(context=context))
    session.xenapi.login_with_password(entry["username"], entry["password"], "1.0", "test")
    try:
        web = session.xenapi.VM.get_by_name_label("web-1")[0]
        batch = session.xenapi.VM.get_by_name_label("batch-2")[0]
        session.xenapi.VM.set_name_label(web, HOSTILE)
        session.xenapi.VM.set_name_label(batch, FORMULA)
        session.xenapi.VM.set_name_description(web, SCRIPT)
        yield
        session.xenapi.VM.set_name_label(web, "web-1")
        session.xenapi.VM.set_name_label(batch, "batch-2")
        session.xenapi.VM.set_name_description(web, "")
    finally:
        session.xenapi.session.logout()


def test_hostile_names_stay_data(pool_lab, run_report, hostile_names):
    run, report_dir = run_report
    runner, _env = run(credential_inputs(pool_lab, "xs1"))
    text = output(runner)
    assert runner.status == "successful", text
    vms = {row["Name"]: row for row in read_csv(report_dir / "vms.csv")}
    assert vms[HOSTILE]["Power State"] == "Running" and vms[HOSTILE]["Description"] == SCRIPT
    assert vms["'" + FORMULA]["Power State"] == "Suspended"  # a spreadsheet shows it, never runs it
    html = (report_dir / "report.html").read_text()
    assert "<td>{{ lookup(&#39;pipe&#39;, &#39;id&#39;) }}</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and SCRIPT not in html
    assert "uid=" not in text + html + (report_dir / "vms.csv").read_text()
