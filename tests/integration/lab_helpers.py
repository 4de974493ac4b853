# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers for the integration tests: the simulator's control interface and lab.json lookups."""

from __future__ import annotations

import json
import urllib.request


def control(lab, path):
    with urllib.request.urlopen(lab.control_url + path, timeout=30) as answer:
        return json.load(answer)


def arm_fault(lab, fault):
    """POST /faults: the simulator misbehaves once as described (see the simulator's README)."""
    request = urllib.request.Request(lab.control_url + "/faults", data=json.dumps(fault).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def clear_faults(lab):
    with urllib.request.urlopen(urllib.request.Request(lab.control_url + "/faults", method="DELETE"), timeout=30):
        pass


def host(lab, name):
    return next(entry for entry in lab.info["hosts"] if entry["name"] == name)


def connection_vars(lab, name):
    """Extra vars for tests/integration/playbooks/pool_info.yml: log in to host `name` of the lab."""
    entry = host(lab, name)
    return {"xs_hostname": entry["url"], "xs_username": entry["username"], "xs_password": entry["password"],
            "xs_ca_path": lab.info["ca_bundle"]}
