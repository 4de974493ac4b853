# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""extensions/awx stays in step with the roles and the connection options it serves: every survey
question is a documented input of its role with a compatible type, every job template names a
playbook and a survey that exist, and the credential type injects the variables the modules read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.xenserver.pools.plugins.module_utils._client import connection_argument_spec

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "extensions" / "awx"
TEMPLATES = yaml.safe_load((AWX / "job_templates.yml").read_text())["job_templates"]


def role_options(role):
    """Every option of every entry point of the role."""
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry_point in specs.values():
        options.update(entry_point.get("options", {}))
    return options


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda template: template["survey"])
def test_survey_questions_are_role_inputs(template):
    assert (REPO / template["playbook"]).is_file()
    survey = yaml.safe_load((AWX / "surveys" / ("%s.yml" % template["survey"])).read_text())
    assert survey["name"] and survey["description"] and survey["spec"]
    options = role_options(template["survey"])  # each survey is named after its role
    for question in survey["spec"]:
        variable = question["variable"]
        assert variable in options, "%s is not an input of role %s" % (variable, template["survey"])
        option = options[variable]
        kind = option.get("type", "str")
        if question["type"] == "integer":
            assert kind == "int", variable
        elif question["type"] == "multiselect":
            assert kind == "list" and set(question["choices"]) <= set(option["choices"]), variable
        elif question["type"] == "multiplechoice" and kind == "bool":
            assert question["choices"] in (["true", "false"], ["false", "true"]), variable
            assert question["default"] == str(option.get("default", False)).lower(), variable
        elif question["type"] == "multiplechoice":
            assert kind == "str" and set(question["choices"]) == set(option["choices"]), variable
            assert question["default"] == option.get("default"), variable
        else:  # a text answer is a string: never for a list or a mapping
            assert kind == "str", "%s (%s) cannot be a %s question" % (variable, kind, question["type"])
            if "default" in question and "default" in option:
                assert question["default"] == option["default"], variable


def test_credential_type_injects_every_connection_variable():
    definition = yaml.safe_load((AWX / "credential_type.yml").read_text())
    fields = {field["id"] for field in definition["inputs"]["fields"]}
    assert fields == {"host", "username", "password", "validate_certs", "ca"}
    assert [field["secret"] for field in definition["inputs"]["fields"] if field["id"] == "password"] == [True]
    injected = set(definition["injectors"]["env"])
    read_by_modules = {name for option in connection_argument_spec().values()
                       for name in option["fallback"][1]}
    assert injected == read_by_modules - {"XENSERVER_TIMEOUT"}


def test_inventory_source_example_is_for_the_plugin():
    path = AWX / "inventory" / "pool.xs_pool.yml"
    assert yaml.safe_load(path.read_text())["plugin"] == "xenserver.pools.xs_pool"
