# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The xs_pool inventory plugin through real `ansible-inventory` and `ansible-playbook` runs
against the simulated pool-of-four lab over HTTPS with the lab CA."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import xmlrpc.client
from pathlib import Path

import pytest
import XenAPI

from lab_helpers import control, host

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOSTILE = "{{ lookup('pipe', 'id') }}"
TIMEOUT_SECONDS = 120


def environment(tmp_path, extra=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("XENSERVER_")}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # a source the plugin cannot read fails the run
        "PATH": "%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
    })
    env.update(extra or {})
    return env


def credentials_env(lab, name):
    """The variables an AWX credential of the collection injects."""
    entry = host(lab, name)
    return {"XENSERVER_HOST": entry["url"], "XENSERVER_USER": entry["username"],
            "XENSERVER_PASSWORD": entry["password"], "XENSERVER_CA_PATH": lab.info["ca_bundle"]}


def inventory_list(tmp_path, config, env, file_name="pool.xs_pool.yml"):
    source = tmp_path / file_name
    source.write_text(config)
    process = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], env=env,
                             cwd=str(tmp_path), capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                             stdin=subprocess.DEVNULL, check=False)
    return process


def plain(value):
    """ansible-inventory marks untrusted strings as {"__ansible_unsafe": value}: unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def last_seq(lab):
    return max([call["seq"] for call in control(lab, "/calls")["calls"]] or [0])


def test_environment_variables_only(pool_lab, tmp_path):
    since = last_seq(pool_lab)
    env = environment(tmp_path, credentials_env(pool_lab, "xs3"))  # a member: redirected to the master
    process = inventory_list(tmp_path, "plugin: xenserver.pools.xs_pool\n", env)
    assert process.returncode == 0, process.stderr
    listing = json.loads(process.stdout)
    hostvars = plain(listing["_meta"]["hostvars"])
    assert listing["pool_of_four"]["hosts"] == ["xs1", "xs2", "xs3", "xs4"]
    assert listing["xs_master"]["hosts"] == ["xs1"]
    assert listing["xs_members"]["hosts"] == ["xs2", "xs3", "xs4"]
    for entry in pool_lab.info["hosts"]:
        variables = hostvars[entry["name"]]
        assert variables["ansible_host"] == variables["xs_address"] == entry["address"]
        assert variables["xs_is_master"] is (entry["name"] == "xs1")
        assert variables["xs_enabled"] is True and variables["xs_live"] is True
        assert variables["xs_version"] and len(variables["xs_uuid"]) == 36
    # no secret in the output, reads only, the session logged out
    assert host(pool_lab, "xs1")["password"] not in process.stdout + process.stderr
    calls = control(pool_lab, "/calls?since=%d" % since)["calls"]
    assert {call["kind"] for call in calls} <= {"read", "session"}
    assert [call["method"] for call in calls if call["kind"] == "read"] == [
        "pool.get_all_records", "host.get_all_records", "host_metrics.get_all_records"]
    assert control(pool_lab, "/sessions")["total"] == 0


def test_options_in_the_file_and_constructable(pool_lab, tmp_path):
    entry = host(pool_lab, "xs1")
    config = "\n".join([
        "plugin: xenserver.pools.xs_pool",
        "hostname: %s" % entry["url"],
        "password: %s" % entry["password"],
        "ca_path: %s" % pool_lab.info["ca_bundle"],
        "pool_group: lab",
        "compose:",
        "  xs_role: \"'master' if xs_is_master else 'member'\"",
        "keyed_groups:",
        "  - key: xs_role",
        "    prefix: role",
        ""])
    process = inventory_list(tmp_path, config, environment(tmp_path), file_name="lab.xs_pool.yaml")
    assert process.returncode == 0, process.stderr
    listing = json.loads(process.stdout)
    assert listing["lab"]["hosts"] == ["xs1", "xs2", "xs3", "xs4"]
    assert listing["role_master"]["hosts"] == ["xs1"]
    assert listing["role_member"]["hosts"] == ["xs2", "xs3", "xs4"]


def test_wrong_ca_is_one_clear_failure(pool_lab, tmp_path):
    env = environment(tmp_path, dict(credentials_env(pool_lab, "xs1"), XENSERVER_CA_PATH="/nonexistent/ca.pem"))
    process = inventory_list(tmp_path, "plugin: xenserver.pools.xs_pool\n", env)
    assert process.returncode != 0
    assert "ca_path /nonexistent/ca.pem cannot be used as a CA bundle" in process.stderr
    assert "Traceback" not in process.stderr


@pytest.fixture
def hostile_names(pool_lab):
    """xs4 and the pool renamed to a Jinja2 expression for one test, then renamed back."""
    entry = host(pool_lab, "xs1")
    context = ssl.create_default_context(cafile=pool_lab.info["ca_bundle"])
    session = XenAPI.Session(entry["url"], transport=xmlrpc.client.SafeTransport(context=context))
    session.xenapi.login_with_password(entry["username"], entry["password"], "1.0", "test")
    try:
        xs4 = session.xenapi.host.get_by_name_label("xs4")[0]
        pool = session.xenapi.pool.get_all()[0]
        session.xenapi.host.set_name_label(xs4, HOSTILE)
        session.xenapi.pool.set_name_label(pool, HOSTILE)
        yield
        session.xenapi.host.set_name_label(xs4, "xs4")
        session.xenapi.pool.set_name_label(pool, "pool-of-four")
    finally:
        session.xenapi.session.logout()


def test_hostile_names_stay_literal(pool_lab, tmp_path, hostile_names):
    env = environment(tmp_path, credentials_env(pool_lab, "xs1"))
    process = inventory_list(tmp_path, "plugin: xenserver.pools.xs_pool\n", env)
    assert process.returncode == 0, process.stderr
    listing = json.loads(process.stdout)
    group = "___lookup__pipe____id_____"
    assert listing[group]["hosts"] == ["xs1", "xs2", "xs3", HOSTILE]
    assert plain(listing["_meta"]["hostvars"][HOSTILE])["xs_name"] == HOSTILE
    # ...and in a play: printed as written, the lookup never runs
    playbook = tmp_path / "show.yml"
    playbook.write_text("\n".join([
        "- name: Show the names",
        "  hosts: xs_members",
        "  gather_facts: false",
        "  tasks:",
        "    - name: Show",
        "      ansible.builtin.debug:",
        "        msg: \"name=[{{ xs_name }}] host=[{{ inventory_hostname }}] pool=[{{ xs_pool_name }}]\"",
        ""]))
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(tmp_path / "pool.xs_pool.yml"), str(playbook)],
                         env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                         stdin=subprocess.DEVNULL, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "name=[%s] host=[%s] pool=[%s]" % (HOSTILE, HOSTILE, HOSTILE) in run.stdout
    assert "uid=" not in run.stdout + run.stderr
