# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action-group drift check (tests/sanity/check_action_group.py) catches each kind of drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_checker():
    spec = importlib.util.spec_from_file_location("check_action_group", REPO / "tests" / "sanity" / "check_action_group.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = load_checker()

MEMBER = '''
DOCUMENTATION = r"""
module: {name}
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
"""
spec = connection_argument_spec()
'''

NOT_A_MEMBER = '''
DOCUMENTATION = r"""
module: {name}
"""
'''


@pytest.fixture
def collection(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "plugins" / "modules").mkdir(parents=True)

    def build(group, modules):
        (tmp_path / "meta" / "runtime.yml").write_text(
            "requires_ansible: '>=2.19.0'\naction_groups:\n  xenserver:\n" + "".join("    - %s\n" % g for g in group))
        for name, text in modules.items():
            (tmp_path / "plugins" / "modules" / ("%s.py" % name)).write_text(text.format(name=name))
        return tmp_path

    return build


def test_the_real_collection_has_no_drift():
    assert checker.check(REPO) == []


def test_agreement(collection):
    root = collection(["xs_a", "xenserver.pools.xs_b"], {"xs_a": MEMBER, "xs_b": MEMBER, "xs_c": NOT_A_MEMBER})
    assert checker.check(root) == []
    assert checker.main(["check", str(root)]) == 0


def test_module_missing_from_the_group(collection, capsys):
    root = collection(["xs_a"], {"xs_a": MEMBER, "xs_b": MEMBER})
    assert checker.check(root) == [
        "plugins/modules/xs_b.py takes the connection options but is missing from action_groups.xenserver "
        "in meta/runtime.yml"]
    assert checker.main(["check", str(root)]) == 1
    assert "ACTION GROUP DRIFT" in capsys.readouterr().out


def test_group_lists_a_module_that_does_not_exist(collection):
    root = collection(["xs_a", "xs_gone"], {"xs_a": MEMBER})
    assert checker.check(root) == [
        "meta/runtime.yml: action group 'xenserver' lists 'xs_gone', but plugins/modules/xs_gone.py does not exist"]


def test_group_lists_a_module_without_connection_options(collection):
    root = collection(["xs_c"], {"xs_c": NOT_A_MEMBER})
    assert checker.check(root) == [
        "meta/runtime.yml: action group 'xenserver' lists 'xs_c', which does not take the connection options"]


def test_member_without_the_membership_fragment(collection):
    root = collection(["xs_a"], {"xs_a": MEMBER.replace("  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER\n", "")})
    assert checker.check(root) == [
        "plugins/modules/xs_a.py takes the connection options but does not extend "
        "xenserver.pools._attributes.ACTIONGROUP_XENSERVER"]


def test_documented_membership_without_connection_options(collection):
    root = collection([], {"xs_a": MEMBER.replace("spec = connection_argument_spec()", "")})
    assert checker.check(root) == [
        "plugins/modules/xs_a.py extends xenserver.pools._connection but does not take the connection options",
        "plugins/modules/xs_a.py extends xenserver.pools._attributes.ACTIONGROUP_XENSERVER but does not take "
        "the connection options"]
