# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.plugins.modules import xs_pool
from ansible_collections.xenserver.pools.tests.unit.plugins.pool_records import (
    NULL,
    FakePoolXapi,
    pool_of,
    standalone,
)

MASTER = "https://192.0.2.1/"
READ_ONLY = ("session.login_with_password", "login_with_password", "session.logout", "event.from", "pool.get_all",
             "host.get_uuid")


def writes(xapi):
    return [method for _url, method, _args in xapi.calls
            if not method.endswith("get_all_records") and method not in READ_ONLY]


def with_nfs(records, attached=True):
    records["SR"]["OpaqueRef:nfs"] = {"uuid": "nfs-uuid", "name_label": "NAS", "type": "nfs", "shared": True}
    for host in records["host"]:
        records["PBD"]["OpaqueRef:pbd-nfs-%s" % host] = {"host": host, "SR": "OpaqueRef:nfs",
                                                         "currently_attached": attached}
    return records


class Pool(object):
    def __init__(self, xapi, records):
        self.xapi = xapi
        self.records = records
        self.endpoint = xapi.add_endpoint(MASTER)
        self.fake = FakePoolXapi(xapi, self.endpoint, records)
        self.pool_ref, self.pool = next(iter(records["pool"].items()))
        handlers = self.endpoint.handlers
        for field in ("name_label", "name_description", "default_SR", "suspend_image_SR", "crash_dump_SR", "tags"):
            handlers["pool.set_%s" % field] = lambda ref, value, field=field: self.pool.update({field: value}) or ""
        handlers["pool.add_to_other_config"] = lambda ref, key, value: self.pool["other_config"].update({key: value}) or ""
        handlers["pool.remove_from_other_config"] = lambda ref, key: self.pool["other_config"].pop(key, None) and ""
        handlers["pool.enable_tls_verification"] = lambda: self.pool.update(tls_verification_enabled=True) or ""
        handlers["pool.disable_ssl_legacy"] = lambda ref: [host.update(ssl_legacy=False)
                                                           for host in records["host"].values()] and ""
        handlers["pool.set_ha_host_failures_to_tolerate"] = lambda ref, value: self.pool.update(
            ha_host_failures_to_tolerate=int(value)) or ""
        self.ha_calls = []
        self.fake.task("pool.enable_ha", lambda srs, config: self.ha_calls.append((srs, config)) or self.pool.update(
            ha_enabled=True))
        self.fake.task("pool.disable_ha", lambda: self.pool.update(ha_enabled=False))


@pytest.fixture
def pool1(xapi):
    return Pool(xapi, pool_of(standalone("xs1", 1)))


@pytest.fixture
def pool3(xapi):
    return Pool(xapi, pool_of(standalone("xs1", 1), standalone("xs2", 2), standalone("xs3", 3)))


def args(**extra):
    return dict(hostname="192.0.2.1", password="secret", **extra)


def test_name_the_pool_then_no_change(pool1, run_module):
    status, result = run_module(xs_pool.main, args(name_label="PDX0", name_description="NA-US-OR-PDX-0"))
    assert status == "exit" and result["changed"]
    assert result["actions"] == ["set name_label to 'PDX0'", "set name_description to 'NA-US-OR-PDX-0'"]
    assert result["diff"] == {"before": {"name_label": "", "name_description": ""},
                              "after": {"name_label": "PDX0", "name_description": "NA-US-OR-PDX-0"}}
    assert result["pool"]["name"] == "PDX0" and result["pool"]["master"] == "xs1"
    pool1.xapi.calls.clear()
    status, result = run_module(xs_pool.main, args(name_label="PDX0", name_description="NA-US-OR-PDX-0"))
    assert status == "exit" and not result["changed"] and result["actions"] == []
    assert writes(pool1.xapi) == []


def test_check_mode_writes_nothing(pool3, run_module):
    with_nfs(pool3.records)
    status, result = run_module(xs_pool.main, args(name_label="lab", default_sr="NAS", tags=["prod"], master="xs2",
                                                   _ansible_check_mode=True))
    assert status == "exit" and result["changed"]
    assert result["actions"] == ["set name_label to 'lab'", "set default_sr to NAS", "set tags to prod",
                                 "hand the master role to xs2 (pool.designate_new_master)"]
    assert result["diff"]["after"]["master"] == "xs2"
    assert writes(pool3.xapi) == []


def test_default_sr_must_be_shared_in_a_pool_of_several_hosts(pool3, run_module):
    status, result = run_module(xs_pool.main, args(default_sr="sr-uuid-local-xs2"))
    assert status == "fail" and "default_sr: Local storage is not shared storage" in result["msg"]
    assert writes(pool3.xapi) == []


def test_default_sr_of_a_single_host_may_be_local_and_can_be_cleared(pool1, run_module):
    status, result = run_module(xs_pool.main, args(default_sr="Local storage"))
    assert status == "exit" and result["changed"] and result["pool"]["default_sr"]["name"] == "Local storage"
    status, result = run_module(xs_pool.main, args(default_sr=""))
    assert status == "exit" and result["changed"] and pool1.pool["default_SR"] == NULL
    status, result = run_module(xs_pool.main, args(default_sr=""))
    assert not result["changed"]


def test_sr_names_must_be_unique_and_known(pool3, run_module):
    status, result = run_module(xs_pool.main, args(crash_dump_sr="Local storage"))
    assert status == "fail" and "3 SRs are named 'Local storage'; give the uuid" in result["msg"]
    status, result = run_module(xs_pool.main, args(crash_dump_sr="nope"))
    assert status == "fail" and "no SR named or with uuid 'nope'" in result["msg"]


def test_tags_and_other_config_merge_or_purge(pool1, run_module):
    pool1.pool.update(tags=["old"], other_config={"keep": "1", "memory-ratio-hvm": "0.25"})
    status, result = run_module(xs_pool.main, args(tags=["new"], other_config={"keep": 2, "added": "x"}))
    assert sorted(pool1.pool["tags"]) == ["new", "old"]
    assert pool1.pool["other_config"] == {"keep": "2", "added": "x", "memory-ratio-hvm": "0.25"}
    assert writes(pool1.xapi) == ["pool.set_tags", "pool.remove_from_other_config", "pool.add_to_other_config",
                                  "pool.add_to_other_config"]
    status, result = run_module(xs_pool.main, args(tags=["new"], purge_tags=True, other_config={"added": "x"},
                                                   purge_other_config=True))
    assert pool1.pool["tags"] == ["new"] and pool1.pool["other_config"] == {"added": "x"}
    status, result = run_module(xs_pool.main, args(tags=["new"], purge_tags=True, other_config={"added": "x"},
                                                   purge_other_config=True))
    assert not result["changed"]


def test_other_config_null_value_removes_the_key(pool1, run_module, xapi):
    pool1.pool.update(other_config={"lock": "{}", "keep": "1"})
    status, result = run_module(xs_pool.main, args(other_config={"lock": None}, _ansible_check_mode=True))
    assert status == "exit" and result["changed"] and writes(pool1.xapi) == []
    status, result = run_module(xs_pool.main, args(other_config={"lock": None, "absent": None}))
    assert status == "exit" and result["changed"], result
    assert pool1.pool["other_config"] == {"keep": "1"}
    assert writes(pool1.xapi) == ["pool.remove_from_other_config"]
    status, result = run_module(xs_pool.main, args(other_config={"lock": None, "absent": None}))
    assert status == "exit" and not result["changed"]


def test_tls_verification_is_one_way(pool1, run_module):
    pool1.pool["tls_verification_enabled"] = False
    status, result = run_module(xs_pool.main, args(tls_verification=True))
    assert status == "exit" and result["changed"] and pool1.pool["tls_verification_enabled"]
    status, result = run_module(xs_pool.main, args(tls_verification=False))
    assert status == "fail" and "cannot be turned off again" in result["msg"] and "Nothing was changed." in result["msg"]
    del pool1.pool["tls_verification_enabled"]
    status, result = run_module(xs_pool.main, args(tls_verification=True))
    assert status == "fail" and "this release has no TLS verification" in result["msg"]


def test_ssl_legacy(pool3, run_module):
    status, result = run_module(xs_pool.main, args(ssl_legacy=False))
    assert status == "exit" and not result["changed"]  # a release without the switch: TLS 1.2 only already
    status, result = run_module(xs_pool.main, args(ssl_legacy=True))
    assert status == "fail" and "has no legacy SSL mode" in result["msg"]
    for host in pool3.records["host"].values():
        host["ssl_legacy"] = True
    status, result = run_module(xs_pool.main, args(ssl_legacy=False))
    assert status == "exit" and result["changed"] and "pool.disable_ssl_legacy" in writes(pool3.xapi)
    assert result["pool"]["ssl_legacy"] is False


def test_master_handover_is_refused_with_ha_or_an_offline_host(pool3, run_module):
    pool3.pool["ha_enabled"] = True
    status, result = run_module(xs_pool.main, args(master="xs2"))
    assert status == "fail" and "ha_disabled: HA is enabled" in result["msg"]
    assert result["checks"][0]["name"] == "ha_disabled"
    pool3.pool["ha_enabled"] = False
    pool3.records["host_metrics"]["OpaqueRef:metrics-xs3"]["live"] = False
    status, result = run_module(xs_pool.main, args(master="xs2"))
    assert status == "fail" and "hosts_live: host(s) xs3 are offline" in result["msg"]
    status, result = run_module(xs_pool.main, args(master="xs9"))
    assert status == "fail" and "master: 'xs9' names no host of the pool; the hosts are: xs1, xs2, xs3" in result["msg"]
    assert writes(pool3.xapi) == []


def test_master_handover_waits_for_logins_to_follow(pool3, run_module):
    xapi = pool3.xapi

    def designate(host):
        pool3.pool["master"] = host
        pool3.endpoint.master_address = "192.0.2.2"
        FakePoolXapi(xapi, xapi.add_endpoint("https://192.0.2.2/"), pool3.records)
        return ""
    pool3.endpoint.handlers["pool.designate_new_master"] = designate
    status, result = run_module(xs_pool.main, args(master="192.0.2.2"))
    assert status == "exit" and result["changed"]
    assert result["pool"]["master"] == "xs2"
    assert writes(xapi) == ["pool.designate_new_master"]
    assert xapi.sessions == set()
    status, result = run_module(xs_pool.main, args(master="xs2"))
    assert status == "exit" and not result["changed"]


def test_enabling_ha_checks_its_requirements_first(pool3, run_module):
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=True)))
    assert status == "fail" and "heartbeat_sr: no SR can hold the HA heartbeat" in result["msg"]
    with_nfs(pool3.records, attached=False)
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=True, heartbeat_srs=["NAS"])))
    assert status == "fail" and "NAS: it is not attached on xs1, xs2, xs3" in result["msg"]
    pool3.pool["restrictions"]["enable_xha"] = "false"
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=True, heartbeat_srs=["NAS"])))
    assert "ha_licensed" in result["msg"]
    assert writes(pool3.xapi) == []


def test_enable_and_disable_ha(pool3, run_module):
    with_nfs(pool3.records)
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=True, heartbeat_srs=["NAS"], timeout=30,
                                                           host_failures_to_tolerate=1)))
    assert status == "exit" and result["changed"], result.get("msg")
    assert pool3.ha_calls == [(["OpaqueRef:nfs"], {"timeout": "30"})]
    assert writes(pool3.xapi) == ["pool.set_ha_host_failures_to_tolerate", "Async.pool.enable_ha", "task.destroy"]
    assert result["diff"]["after"]["ha"] == {"enabled": True, "host_failures_to_tolerate": 1, "heartbeat_srs": ["NAS"]}
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=True, host_failures_to_tolerate=1)))
    assert not result["changed"]
    status, result = run_module(xs_pool.main, args(ha=dict(enabled=False)))
    assert status == "exit" and result["changed"] and not pool3.pool["ha_enabled"]


def test_moving_the_heartbeat_of_an_enabled_ha_is_refused(pool3, run_module):
    with_nfs(pool3.records)
    pool3.records["SR"]["OpaqueRef:nfs2"] = dict(pool3.records["SR"]["OpaqueRef:nfs"], uuid="nfs2", name_label="NAS2")
    pool3.records["VDI"]["OpaqueRef:sf"] = {"uuid": "sf", "SR": "OpaqueRef:nfs"}
    pool3.pool.update(ha_enabled=True, ha_statefiles=["OpaqueRef:sf"])
    status, result = run_module(xs_pool.main, args(ha=dict(heartbeat_srs=["NAS2"])))
    assert status == "fail" and "heartbeat_srs of an enabled HA cannot be changed" in result["msg"]
    status, result = run_module(xs_pool.main, args(ha=dict(heartbeat_srs=["NAS"])))
    assert status == "exit" and not result["changed"]


def test_negative_failures_to_tolerate_is_refused():
    records = pool_of(standalone("xs1", 1))
    params = dict((name, None) for name in xs_pool.argument_spec())
    params.update(purge_tags=False, purge_other_config=False, ha=dict(host_failures_to_tolerate=-1))
    with pytest.raises(InvalidParameterError, match="must be 0 or more"):
        xs_pool.plan_changes(params, records)
