# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xs_host against pool-of-four.yml with a license server for xs4 (seed 002 "Licensing XenServer
hosts", seed 003: one edition per pool): identity, other_config and tags merged, an edition applied
from the license server, an unreachable license server refused with the old one put back, check
mode and second runs. Tests run in file order on one lab."""

from __future__ import annotations

import pytest

from lifecycle_helpers import connect, failed, host_record, lab_host, start_lab, succeeded, writes

LICENSE_SERVER = {"address": "license.lab.example", "port": 27000}


def add_license_server(lab_dict):
    lab_host(lab_dict, "xs4")["license_server"] = dict(LICENSE_SERVER)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with start_lab(tmp_path_factory, "host-identity", add_license_server) as running:
        yield running


def identity(lab, name, **extra):
    return connect(lab, "xs1", xs_host=name, **dict(("xs_" + key, value) for key, value in extra.items()))


IDENTITY = dict(name_label="xs4", name_description="Rack 4, slot 2", tags=["production", "rack-4"],
                other_config={"owner": "infra-team", "cost_centre": 4711})


def test_check_mode_writes_nothing(lab, playbook):
    run = playbook(lab, "xs_host.yml", identity(lab, "xs4", **IDENTITY), args=["--check", "--diff"])
    result = succeeded(run, lab)
    assert result["changed"] is True and writes(run) == []
    assert result["diff"]["after"]["name_description"] == "Rack 4, slot 2"
    assert host_record(lab, "xs4")["name_description"] == ""


def test_identity_tags_and_other_config_are_merged(lab, playbook):
    before = dict(host_record(lab, "xs4")["other_config"])
    run = playbook(lab, "xs_host.yml", identity(lab, "xs4", **IDENTITY))
    result = succeeded(run, lab)
    assert result["changed"] is True
    record = host_record(lab, "xs4")
    assert record["name_description"] == "Rack 4, slot 2"
    assert {"production", "rack-4"} <= set(record["tags"])
    assert record["other_config"] == dict(before, owner="infra-team", cost_centre="4711")
    again = playbook(lab, "xs_host.yml", identity(lab, "xs4", **IDENTITY))
    assert succeeded(again, lab)["changed"] is False and writes(again) == []


def test_an_other_config_key_set_to_null_is_removed(lab, playbook):
    run = playbook(lab, "xs_host.yml", identity(lab, "xs4", other_config={"cost_centre": None}))
    succeeded(run, lab)
    assert "cost_centre" not in host_record(lab, "xs4")["other_config"]
    assert host_record(lab, "xs4")["other_config"]["owner"] == "infra-team"


def test_license_server_alone(lab, playbook):
    # the lab gives xs4 its license server already: point it elsewhere first
    run = playbook(lab, "xs_host.yml", identity(lab, "xs4", license_server={"address": "old.example", "port": 27010}))
    assert succeeded(run, lab)["changed"] is True
    assert writes(run) == ["host.set_license_server"]
    assert host_record(lab, "xs4")["license_server"]["address"] == "old.example"
    assert host_record(lab, "xs4")["license_server"]["port"] == "27010"


def test_edition_from_the_license_server(lab, playbook):
    wanted = dict(edition="premier", license_server={"address": LICENSE_SERVER["address"]})
    run = playbook(lab, "xs_host.yml", identity(lab, "xs4", **wanted))
    result = succeeded(run, lab)
    assert result["changed"] is True
    assert writes(run) == ["host.set_license_server", "host.apply_edition"]
    record = host_record(lab, "xs4")
    assert record["edition"] == "premier"
    assert record["license_server"]["address"] == LICENSE_SERVER["address"]
    assert record["license_server"]["port"] == "27000"
    again = playbook(lab, "xs_host.yml", identity(lab, "xs4", **wanted))
    assert succeeded(again, lab)["changed"] is False and writes(again) == []


def test_an_unreachable_license_server_is_refused_and_the_old_one_put_back(lab, playbook):
    elsewhere = {"address": "nowhere.example", "port": 27001}
    run = playbook(lab, "xs_host.yml", identity(lab, "xs3", edition="premier", license_server=elsewhere))
    message = failed(run, lab)
    assert message.startswith("Applying edition premier to host xs3 failed: XAPI returned LICENSE_CHECKOUT_ERROR")
    assert "check the license server address and port" in message
    record = host_record(lab, "xs3")
    assert record["edition"] == "standard" and record["license_server"].get("address", "") == ""


def test_an_edition_the_host_does_not_have_is_refused_before_any_call(lab, playbook):
    run = playbook(lab, "xs_host.yml", identity(lab, "xs3", edition="platinum"))
    message = failed(run, lab)
    assert message == ("edition 'platinum' is not available on host xs3; its editions are: trial, standard, "
                       "premier.")
    assert writes(run) == []
