# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool_info against formed pools: redirect from a member, and a call count independent of size."""

from __future__ import annotations

from lab_helpers import connection_vars, host

MAX_CALLS = 15


def test_member_redirects_to_the_master(pool_lab, playbook):
    run = playbook(pool_lab, "pool_info.yml", connection_vars(pool_lab, "xs3"))
    assert run.returncode == 0, run.output
    result = run.result
    assert result["api_url"] == host(pool_lab, "xs1")["url"]  # same scheme and port, master's address
    assert result["pool"]["master"] == "xs1"
    assert [entry["name"] for entry in result["hosts"]] == ["xs1", "xs2", "xs3", "xs4"]
    assert [entry["is_master"] for entry in result["hosts"]] == [True, False, False, False]
    # the member's HOST_IS_SLAVE answer, then everything on the master
    assert run.calls[0]["error"] == ["HOST_IS_SLAVE", host(pool_lab, "xs1")["address"]]
    assert run.calls[0]["host"] != run.calls[1]["host"]
    assert {call["host"] for call in run.calls[1:]} == {run.calls[1]["host"]}
    assert run.sessions["total"] == 0
    assert [call for call in run.calls if call["kind"] == "write"] == []


def test_pool_content(pool_lab, playbook):
    run = playbook(pool_lab, "pool_info.yml", connection_vars(pool_lab, "xs1"))
    assert run.returncode == 0, run.output
    result = run.result
    default = result["pool"]["default_sr"]
    shared = [sr for sr in result["srs"] if sr["shared"]]
    assert default is not None and [sr["name"] for sr in shared] == [default["name"]]
    assert [sr["default"] for sr in shared] == [True]
    assert sorted(pbd["host"] for pbd in shared[0]["pbds"]) == ["xs1", "xs2", "xs3", "xs4"]
    xs1 = result["hosts"][0]
    storage = [pif for pif in xs1["pifs"] if pif["device"] == "eth1"][0]
    assert (storage["ip_mode"], storage["ip"], storage["purpose"]) == ("Static", "172.16.0.35", "Storage")
    assert result["vms"]["by_host"]["xs1"] == {"Running": 2}
    assert xs1["resident_vms"] == 2
    # 64 GiB - 4 GiB dom0 - 12 GiB of running VMs (see the lab file), less XAPI's memory overheads
    gib = 1024 ** 3
    assert 40 * gib < xs1["memory_free"] <= 48 * gib
    # the toolstack's start time (OCaml float text in other_config) as a number; no update pending a reboot
    assert all(isinstance(entry["agent_start_time"], float) and entry["agent_start_time"] > 0
               for entry in result["hosts"])
    assert [entry["updates_requiring_reboot"] for entry in result["hosts"]] == [[]] * 4


def test_call_count_does_not_grow_with_the_pool(standalone_lab, pool_lab, big_lab, playbook):
    counts = {}
    for lab, name in ((standalone_lab, "xs1"), (pool_lab, "xs1"), (big_lab, "host01")):
        run = playbook(lab, "pool_info.yml", connection_vars(lab, name))
        assert run.returncode == 0, run.output
        counts[len(run.result["hosts"])] = len(run.calls)
        assert run.sessions["total"] == 0
        assert all(call["kind"] in ("read", "session") for call in run.calls)
    assert sorted(counts) == [1, 4, 64]
    assert len(set(counts.values())) == 1, counts
    assert counts[64] <= MAX_CALLS


def test_big_pool_through_a_member(big_lab, playbook):
    run = playbook(big_lab, "pool_info.yml", connection_vars(big_lab, "host42"))
    assert run.returncode == 0, run.output
    assert run.result["pool"]["master"] == "host01"
    assert len(run.result["hosts"]) == 64
    assert run.result["vms"]["total"] == 2000
    assert len(run.calls) <= MAX_CALLS and run.sessions["total"] == 0
