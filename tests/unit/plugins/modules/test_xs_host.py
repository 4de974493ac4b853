# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.modules import xs_host
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_pool import FakePool


@pytest.fixture
def pool(xapi):
    return FakePool(xapi, hosts=2)


def args(**kwargs):
    base = dict(hostname="https://192.0.2.1/", password="secret", host="xs2")
    base.update(kwargs)
    return base


def params(**kwargs):
    base = dict(name_label=None, name_description=None, edition=None, license_server=None, other_config=None,
                tags=None)
    base.update(kwargs)
    return base


HOST = {"uuid": "u", "name_label": "xs2", "name_description": "", "edition": "standard",
        "editions": ["trial", "standard", "premier"], "license_server": {"address": "localhost", "port": "27000"},
        "other_config": {"a": "1", "agent_start_time": "1."}, "tags": ["x"]}


def test_plan_only_what_differs():
    calls = xs_host.plan(HOST, params(name_label="xs2", other_config={"a": "1"}, tags=["x"]))
    assert calls == []


def test_plan_license_server_before_edition():
    calls = xs_host.plan(HOST, params(edition="premier", license_server={"address": "lic", "port": 27000}))
    assert [call[0] for call in calls] == ["host.set_license_server", "host.apply_edition"]
    assert calls[0][1] == ({"address": "lic", "port": "27000"},)
    assert calls[1][1] == ("premier", False)


def test_plan_a_new_license_server_reapplies_the_edition():
    calls = xs_host.plan(HOST, params(edition="standard", license_server={"address": "lic", "port": 27001}))
    assert [call[0] for call in calls] == ["host.set_license_server", "host.apply_edition"]


def test_plan_other_config_merge_and_removal():
    calls = xs_host.plan(HOST, params(other_config={"a": "2", "b": True, "agent_start_time": None, "gone": None}))
    assert [(call[0], call[1]) for call in calls] == [
        ("host.remove_from_other_config", ("a",)), ("host.add_to_other_config", ("a", "2")),
        ("host.remove_from_other_config", ("agent_start_time",)), ("host.add_to_other_config", ("b", "true"))]


def test_plan_refuses_unknown_editions_and_maintenance_keys():
    expected = "edition 'gold' is not available on host xs2; its editions are: trial, standard, premier"
    with pytest.raises(InvalidParameterError, match=expected):
        xs_host.plan(HOST, params(edition="gold"))
    with pytest.raises(InvalidParameterError, match="xs_maintenance"):
        xs_host.plan(HOST, params(other_config={"MAINTENANCE_MODE": "true"}))


def test_module_applies_and_is_idempotent(pool, run_module, xapi):
    wanted = args(name_label="xs2-new", name_description="rack 4", edition="premier",
                  license_server={"address": "lic.example.com"}, other_config={"owner": "infra"},
                  tags=["prod", "prod"])
    status, result = run_module(xs_host.main, dict(wanted, _ansible_diff=True))
    assert status == "exit", result
    assert result["changed"] is True
    host = pool.host(2)
    assert host["name_label"] == "xs2-new" and host["name_description"] == "rack 4"
    assert host["edition"] == "premier"
    assert host["license_server"] == {"address": "lic.example.com", "port": "27000"}
    assert host["other_config"]["owner"] == "infra" and "agent_start_time" in host["other_config"]
    assert host["tags"] == ["prod"]
    assert result["diff"]["before"]["edition"] == "standard" and result["diff"]["after"]["edition"] == "premier"
    del xapi.calls[:]
    status, result = run_module(xs_host.main, dict(wanted, host="xs2-new"))
    assert status == "exit" and result["changed"] is False
    assert pool.writes() == []


def test_check_mode_writes_nothing_and_predicts(pool, run_module):
    status, result = run_module(xs_host.main, args(name_label="new", tags=["t"], _ansible_check_mode=True))
    assert status == "exit" and result["changed"] is True
    assert pool.writes() == []
    assert result["host"]["name_label"] == "new" and result["host"]["tags"] == ["t"]
    assert result["actions"] == ["would set name_label to 'new'", "would add tag t"]


def test_a_refused_edition_puts_the_license_server_back(pool, run_module):
    pool.fail["host.apply_edition"] = ["LICENSE_CHECKOUT_ERROR", "no license available for premier"]
    status, result = run_module(xs_host.main, args(edition="premier", license_server={"address": "lic"}))
    assert status == "fail"
    assert "Applying edition premier to host xs2 failed" in result["msg"]
    assert "no license available for premier" in result["msg"]
    assert pool.host(2)["license_server"] == {"address": "localhost", "port": "27000"}
    assert pool.host(2)["edition"] == "standard"
