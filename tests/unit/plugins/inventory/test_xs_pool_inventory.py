# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The xs_pool inventory plugin against the fake XenAPI: hosts, variables, groups, trust, logout."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible.template import Templar, trust_as_template

from ansible_collections.xenserver.pools.plugins.inventory import xs_pool

MASTER = "https://192.0.2.1/"
HOSTILE = "{{ lookup('pipe', 'id') }}"


def records(names=("xs1", "xs2", "xs3"), pool_name="lab", master=1):
    """Records as XAPI sends them: the pool, its hosts and their metrics."""
    result = {"pool": {"OpaqueRef:pool": {"uuid": "0f1e2d3c-pool-uuid", "name_label": pool_name,
                                          "master": "OpaqueRef:host%d" % master}},
              "host": {}, "host_metrics": {}}
    for number, name in enumerate(names, start=1):
        result["host"]["OpaqueRef:host%d" % number] = {
            "uuid": "host%d-uuid" % number, "name_label": name, "address": "192.0.2.%d" % number,
            "enabled": number != 3, "metrics": "OpaqueRef:metrics%d" % number,
            "software_version": {"product_brand": "XenServer", "product_version": "8.4.0"}}
        result["host_metrics"]["OpaqueRef:metrics%d" % number] = {"live": number != 2}
    return result


@pytest.fixture
def inventory_source(tmp_path, xapi, monkeypatch):
    """inventory_source(config_text, records=None) -> InventoryData filled by the plugin."""
    for name in ("XENSERVER_HOST", "XENSERVER_USER", "XENSERVER_PASSWORD", "XENSERVER_VALIDATE_CERTS",
                 "XENSERVER_CA_PATH", "XENSERVER_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)

    def parse(config_text, pool_records=None, file_name="lab.xs_pool.yml"):
        endpoint = xapi.add_endpoint(MASTER)
        endpoint.records = pool_records or records()
        path = tmp_path / file_name
        path.write_text(config_text)
        plugin = inventory_loader.get("xenserver.pools.xs_pool")
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(path), cache=False)
        return inventory

    return parse


CONFIG = "plugin: xenserver.pools.xs_pool\nhostname: 192.0.2.1\npassword: secret\n"


def host_vars(inventory, name):
    return dict(inventory.get_host(name).get_vars())


def group_hosts(inventory, group):
    return [host.name for host in inventory.groups[group].get_hosts()]


def test_one_inventory_host_per_pool_host(inventory_source, xapi):
    inventory = inventory_source(CONFIG)
    assert group_hosts(inventory, "lab") == ["xs1", "xs2", "xs3"]  # the master first
    assert group_hosts(inventory, "xs_master") == ["xs1"]
    assert group_hosts(inventory, "xs_members") == ["xs2", "xs3"]
    xs2 = host_vars(inventory, "xs2")
    assert {key: xs2[key] for key in ("ansible_host", "xs_uuid", "xs_address", "xs_is_master", "xs_enabled",
                                      "xs_live", "xs_version", "xs_pool_name", "xs_name")} == {
        "ansible_host": "192.0.2.2", "xs_uuid": "host2-uuid", "xs_address": "192.0.2.2", "xs_is_master": False,
        "xs_enabled": True, "xs_live": False, "xs_version": "8.4.0", "xs_pool_name": "lab", "xs_name": "xs2"}
    assert host_vars(inventory, "xs3")["xs_enabled"] is False
    assert host_vars(inventory, "xs1")["xs_is_master"] is True
    # three bulk reads, then logout
    assert xapi.methods() == ["login_with_password", "pool.get_all_records", "host.get_all_records",
                              "host_metrics.get_all_records", "session.logout"]
    assert xapi.sessions == set()


def test_master_is_first_even_when_its_name_sorts_last(inventory_source):
    inventory = inventory_source(CONFIG, records(names=("a", "b", "z"), master=3))
    assert group_hosts(inventory, "lab") == ["z", "a", "b"]
    assert group_hosts(inventory, "xs_master") == ["z"]


@pytest.mark.parametrize("pool_name, group", [
    ("Production pool #1", "Production_pool__1"),
    ("2nd-floor", "_2nd_floor"),
    (HOSTILE, "___lookup__pipe____id_____"),
    ("", "xs_pool_0f1e2d3c"),  # a standalone host: no pool name
])
def test_pool_group_is_a_sanitised_name(inventory_source, pool_name, group):
    inventory = inventory_source(CONFIG, records(pool_name=pool_name))
    assert group_hosts(inventory, group) == ["xs1", "xs2", "xs3"]


def test_pool_group_option(inventory_source):
    inventory = inventory_source(CONFIG + "pool_group: production\n")
    assert group_hosts(inventory, "production") == ["xs1", "xs2", "xs3"]


def test_duplicate_and_empty_names_use_the_uuid(inventory_source):
    inventory = inventory_source(CONFIG, records(names=("xs1", "twin", "twin", "")))
    assert sorted(inventory.hosts) == ["host2-uuid", "host3-uuid", "host4-uuid", "xs1"]
    assert host_vars(inventory, "host2-uuid")["xs_name"] == "twin"


def test_api_data_is_never_a_template(inventory_source):
    inventory = inventory_source(CONFIG, records(names=(HOSTILE, "xs2"), pool_name=HOSTILE))
    assert HOSTILE in inventory.hosts
    variables = host_vars(inventory, HOSTILE)
    assert variables["xs_name"] == HOSTILE and variables["xs_pool_name"] == HOSTILE
    # what a play would see: the value templated through hostvars comes back unchanged
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trust_as_template("{{ xs_name }}")) == HOSTILE
    assert templar.template(variables["xs_name"]) == HOSTILE


def test_constructable(inventory_source):
    config = CONFIG + """\
compose:
  ansible_user: "'admin'"
  xs_label: xs_name ~ '@' ~ xs_pool_name
groups:
  disabled_hosts: not xs_enabled
  hostile: xs_name == "{{ lookup('pipe', 'id') }}"
keyed_groups:
  - key: xs_version
    prefix: version
"""
    inventory = inventory_source(config, records(names=("xs1", "xs2", HOSTILE)))
    assert host_vars(inventory, "xs2")["ansible_user"] == "admin"
    assert host_vars(inventory, HOSTILE)["xs_label"] == HOSTILE + "@lab"
    assert group_hosts(inventory, "disabled_hosts") == [HOSTILE]
    assert group_hosts(inventory, "version_8_4_0") == ["xs1", "xs2", HOSTILE]


def test_strict_makes_a_bad_expression_fatal(inventory_source):
    with pytest.raises(AnsibleError, match="xs_nonexistent"):
        inventory_source(CONFIG + "strict: true\ncompose:\n  bad: xs_nonexistent.attribute\n")


def test_credentials_from_the_environment(inventory_source, monkeypatch, xapi):
    monkeypatch.setenv("XENSERVER_HOST", "192.0.2.1")
    monkeypatch.setenv("XENSERVER_PASSWORD", "secret")
    inventory = inventory_source("plugin: xenserver.pools.xs_pool\n")
    assert sorted(inventory.hosts) == ["xs1", "xs2", "xs3"]
    assert xapi.calls[0][2][:2] == ("root", "secret")


def test_member_redirects_to_the_master(inventory_source, xapi):
    xapi.add_endpoint("https://192.0.2.2/", master_address="192.0.2.1")
    inventory = inventory_source(CONFIG.replace("192.0.2.1", "192.0.2.2"))
    assert sorted(inventory.hosts) == ["xs1", "xs2", "xs3"]
    assert xapi.calls[0][0] == "https://192.0.2.2/" and xapi.calls[-1][0] == MASTER


def test_failure_is_one_sentence_and_logs_out(inventory_source, xapi):
    bad = records()
    del bad["host_metrics"]  # the fake answers MESSAGE_METHOD_UNKNOWN
    with pytest.raises(AnsibleParserError) as raised:
        inventory_source(CONFIG, bad)
    assert str(raised.value).startswith("xenserver.pools.xs_pool: Reading all host_metrics records from "
                                        "https://192.0.2.1/ failed")
    assert xapi.methods()[-1] == "session.logout" and xapi.sessions == set()


def test_wrong_password(inventory_source):
    with pytest.raises(AnsibleParserError, match="check username and password"):
        inventory_source(CONFIG.replace("secret", "wrong"))


@pytest.mark.parametrize("file_name, accepted", [
    ("lab.xs_pool.yml", True), ("lab.xs_pool.yaml", True), ("lab.yml", False), ("xs_pool.yml", False)])
def test_verify_file(tmp_path, file_name, accepted):
    path = tmp_path / file_name
    path.write_text(CONFIG)
    assert inventory_loader.get("xenserver.pools.xs_pool").verify_file(str(path)) is accepted


def test_group_name():
    assert xs_pool.group_name("pool-of-four") == "pool_of_four"
    assert xs_pool.group_name("9lives") == "_9lives"


def test_empty_ca_path_in_the_environment_means_not_set(inventory_source, monkeypatch, tmp_path):
    # an AWX credential without a CA injects XENSERVER_CA_PATH="" (a path option would make it the cwd)
    monkeypatch.setenv("XENSERVER_CA_PATH", "")
    monkeypatch.chdir(tmp_path)
    inventory = inventory_source(CONFIG)
    assert sorted(inventory.hosts) == ["xs1", "xs2", "xs3"]


def test_a_ca_path_that_is_not_a_file_is_one_clear_failure(inventory_source, tmp_path):
    with pytest.raises(AnsibleParserError, match="cannot be used as a CA bundle"):
        inventory_source(CONFIG + "ca_path: %s\n" % tmp_path)
