# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The record helpers every module shares, over hand-made records."""

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils import _common as c

GIB = 1024 ** 3


def records():
    return {
        "pool": {"P": {"uuid": "pool-uuid", "name_label": "lab", "master": "H1", "default_SR": "S1",
                       "suspend_image_SR": "OpaqueRef:NULL", "tags": ["b", "a"]}},
        "host": {"H1": {"uuid": "h1", "name_label": "xs1", "address": "10.0.0.1", "metrics": "M1",
                        "memory_overhead": GIB // 4},
                 "H2": {"uuid": "h2", "name_label": "xs2", "address": "10.0.0.2", "metrics": "M2"}},
        "host_metrics": {"M1": {"live": True, "memory_total": 64 * GIB}, "M2": {"live": False}},
        "SR": {"S1": {"uuid": "s1", "name_label": "NAS"}},
        "VM": {"D1": {"resident_on": "H1", "power_state": "Running", "is_control_domain": True,
                      "memory_target": 4 * GIB},
               "A": {"resident_on": "H1", "power_state": "Paused", "memory_target": 0,
                     "memory_dynamic_max": 8 * GIB, "memory_overhead": GIB // 32},
               "B": {"resident_on": "H1", "power_state": "Halted", "memory_target": 16 * GIB}},
    }


def test_pool_master_and_liveness():
    data = records()
    assert c.the_pool(data)["uuid"] == "pool-uuid" and c.master_ref(data) == "H1"
    assert c.is_live(data, "H1") and not c.is_live(data, "H2") and not c.is_live(data, "H9")


def test_is_guest():
    assert c.is_guest({"is_control_domain": False}) and not c.is_guest({"is_a_template": True})
    assert not c.is_guest({"is_control_domain": True}) and not c.is_guest({"is_a_snapshot": True})


def test_memory_counts_running_and_paused_vms_and_the_control_domain():
    data = records()
    assert [vm.get("is_control_domain", False) for vm in c.running_vms(data, "H1")] == [True, False]
    assert c.memory_used(data, "H1") == GIB // 4 + 4 * GIB + 8 * GIB + GIB // 32
    assert c.memory_free(data, "H1") == 64 * GIB - c.memory_used(data, "H1")
    assert c.memory_free(data, "H2") == 0


@pytest.mark.parametrize("text, value", [("1700000000.", 1700000000.0), ("1700000000.250", 1700000000.25),
                                         ("", None), ("soon", None)])
def test_agent_start_time(text, value):
    assert c.agent_start_time({"other_config": {"agent_start_time": text}}) == value


def test_started_after():
    host = {"other_config": {"agent_start_time": "20."}}
    assert c.started_after(host, 10.0) and c.started_after(host, None)
    assert not c.started_after(host, 20.0)
    assert not c.started_after({"other_config": {}}, None)


def test_pool_summary_names_the_master_and_the_srs():
    summary = c.pool_summary(records())
    assert summary["master"] == "xs1" and summary["master_address"] == "10.0.0.1"
    assert summary["default_sr"] == {"name": "NAS", "uuid": "s1"} and summary["suspend_image_sr"] is None
    assert summary["tags"] == ["b", "a"] and summary["ha"]["enabled"] is False


def test_public_power_on_config_hides_secrets():
    assert c.public_power_on_config({"power_on_ip": "x", "power_on_password_secret": "u", "PASSWORD": "p"}) == \
        {"power_on_ip": "x"}


def test_other_config_changes_remove_a_changed_key_before_adding_it():
    remove, add = c.other_config_changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "20", "d": "4"})
    assert remove == ["b", "c"] and add == {"b": "20", "d": "4"}
    assert c.other_config_changes({"a": "1", "x": "9"}, {}, keys=("a",)) == (["a"], {})
