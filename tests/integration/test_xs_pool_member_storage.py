# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The storage tutorial (seed 004) on simulator/labs/three-standalone.yml: the NFS export /srv/vhd
is reachable from the storage subnet only. xs1 and xs2 have storage IPs and the shared SR; xs3 joins
without one, and xs_pool_member reports that its PBD is not plugged and why."""

from __future__ import annotations

import ssl
import xmlrpc.client

import pytest
import XenAPI

from xapisim import Lab

from conftest import LABS, TIME_SCALE
from lab_helpers import host
from membership_helpers import assert_clean

STORAGE_IPS = {"xs1": "172.16.0.35", "xs2": "172.16.0.36"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab.start(LABS / "three-standalone.yml", state_dir=tmp_path_factory.mktemp("three-standalone-storage"),
                   time_scale=TIME_SCALE) as running:
        yield running


def member(lab, name):
    master, entry = host(lab, "xs1"), host(lab, name)
    return {"xs_hostname": master["url"], "xs_password": master["password"], "xs_ca_path": lab.info["ca_bundle"],
            "xs_host": entry["url"], "xs_host_password": entry["password"]}


def set_up_storage(lab):
    """Storage IPs on eth1 of xs1 and xs2, then the tutorial's shared NFS SR (test set-up over XAPI)."""
    master = host(lab, "xs1")
    transport = xmlrpc.client.SafeTransport(context=ssl.create_default_context(cafile=lab.info["ca_bundle"]))
    session = XenAPI.Session(master["url"], transport=transport)
    session.xenapi.login_with_password(master["username"], master["password"], "1.0", "test-set-up")
    try:
        api = session.xenapi
        hosts = dict((record["name_label"], ref) for ref, record in api.host.get_all_records().items())
        for ref, pif in api.PIF.get_all_records().items():
            name = next(label for label, host_ref in hosts.items() if host_ref == pif["host"])
            if pif["device"] == "eth1" and name in STORAGE_IPS:
                api.PIF.reconfigure_ip(ref, "Static", STORAGE_IPS[name], "255.255.255.240", "", "")
        api.SR.create(hosts["xs1"], {"server": "172.16.0.34", "serverpath": "/srv/vhd"}, "0", "NAS-2-VHD", "",
                      "nfs", "user", True, {})
    finally:
        session.xenapi.session.logout()


def test_a_new_member_without_a_storage_ip_is_told_why_its_pbd_is_unplugged(lab, playbook):
    first = playbook(lab, "xs_pool_member.yml", member(lab, "xs2"))
    assert first.result["changed"], first.result.get("msg")
    set_up_storage(lab)

    run = playbook(lab, "xs_pool_member.yml", member(lab, "xs3"))
    assert run.result["changed"] and not run.result["failed"], run.result.get("msg")
    [storage] = run.result["storage"]
    assert storage["sr"] == "NAS-2-VHD" and storage["attached"] is False
    assert storage["likely_cause"].startswith("no storage-network IP yet: ")
    assert "(eth1 172.16.0.35)" in storage["likely_cause"] or "(eth1 172.16.0.36)" in storage["likely_cause"]
    assert "but xs3 has no IP address on that network" in storage["likely_cause"]
    assert "shared SR NAS-2-VHD is not attached on xs3" in run.output
    assert_clean(run, lab)

    again = playbook(lab, "xs_pool_member.yml", member(lab, "xs3"))
    assert not again.result["changed"] and again.result["storage"][0]["attached"] is False
    assert_clean(again, lab)
