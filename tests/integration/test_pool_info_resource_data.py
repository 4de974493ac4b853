# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_pool_info resource_data=true against the simulator: the report's tables, one extra call."""

from __future__ import annotations

from lab_helpers import connection_vars

MAX_CALLS = 15
GIB = 1024 ** 3


def test_pool_of_four(pool_lab, playbook):
    run = playbook(pool_lab, "pool_info_resource_data.yml", connection_vars(pool_lab, "xs2"))
    assert run.returncode == 0, run.output
    data = run.result["resource_data"]
    assert [server["name"] for server in data["servers"]] == ["xs1", "xs2", "xs3", "xs4"]
    assert [server["pool_master"] for server in data["servers"]] == [True, False, False, False]
    vms = {vm["name"]: vm for vm in data["vms"]}
    assert len(vms) == 16
    for number in range(1, 5):
        host = "xs%d" % number
        assert (vms["web-%d" % number]["power_state"], vms["web-%d" % number]["running_on"]) == ("Running", host)
        assert (vms["db-%d" % number]["power_state"], vms["db-%d" % number]["running_on"]) == ("Running", host)
        assert (vms["batch-%d" % number]["power_state"], vms["batch-%d" % number]["running_on"]) == ("Suspended", "")
        assert vms["template-%d" % number]["power_state"] == "Halted"
    assert vms["db-1"]["disks"] == [{"name": "db-1 disk 0", "size": 40 * GIB, "sr": "shared-nfs"}]
    assert vms["db-1"]["memory_used"] == 8 * GIB and vms["db-1"]["vcpus"] == 4
    shared = [sr for sr in data["srs"] if sr["shared"]]
    assert [(sr["name"], sr["location"]) for sr in shared] == [("shared-nfs", ["server:172.16.0.34:/srv/vhd"])]
    # every VM disk and the four suspend images
    assert len(data["vdis"]) == 20 and {vdi["sr"] for vdi in data["vdis"]} == {"shared-nfs"}
    assert data["gpus"] == []
    assert run.sessions["total"] == 0
    assert {call["kind"] for call in run.calls} <= {"read", "session", "event"}


def test_one_extra_call_whatever_the_pool_size(standalone_lab, big_lab, playbook):
    counts = {}
    for lab, name in ((standalone_lab, "xs1"), (big_lab, "host01")):
        run = playbook(lab, "pool_info_resource_data.yml", connection_vars(lab, name))
        assert run.returncode == 0, run.output
        counts[len(run.result["resource_data"]["servers"])] = len(run.calls)
        assert [call["method"] for call in run.calls].count("event.from") == 1
    assert counts == {1: 13, 64: 13}
    assert counts[64] <= MAX_CALLS
