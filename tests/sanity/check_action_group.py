# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that the `xenserver` action group, the module files and the module docs agree.

A module takes the connection options when its code calls connection_argument_spec(). Such a
module, and only such a module, must
  - document the options through the `xenserver.pools._connection` doc fragment,
  - declare its membership through the `xenserver.pools._attributes.ACTIONGROUP_XENSERVER` fragment,
  - be listed in meta/runtime.yml under action_groups.xenserver.
Every name in the group must be a module file. Prints every problem and exits 1 if there is one.

    python tests/sanity/check_action_group.py [COLLECTION_ROOT]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

GROUP = "xenserver"
CONNECTION_FRAGMENT = "xenserver.pools._connection"
MEMBERSHIP_FRAGMENT = "xenserver.pools._attributes.ACTIONGROUP_XENSERVER"
CONNECTION_SPEC_CALL = "connection_argument_spec("


def module_documentation(path):
    """The parsed DOCUMENTATION of a module file, or None when it has none."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "DOCUMENTATION"
                                                for target in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value)) or {}
    return None


def group_members(root):
    runtime = yaml.safe_load((root / "meta" / "runtime.yml").read_text()) or {}
    members = set()
    for entry in (runtime.get("action_groups") or {}).get(GROUP) or []:
        if isinstance(entry, str):  # a {metadata: ...} entry is not a member
            members.add(entry.split(".")[-1])
    return members


def check(root):
    """Return the list of problems (empty when everything agrees)."""
    root = Path(root)
    problems = []
    members = group_members(root)
    modules = sorted(path for path in (root / "plugins" / "modules").glob("*.py") if path.name != "__init__.py")
    names = {path.stem for path in modules}

    for name in sorted(members - names):
        problems.append("meta/runtime.yml: action group %r lists %r, but plugins/modules/%s.py does not exist"
                        % (GROUP, name, name))

    for path in modules:
        name = path.stem
        takes_connection = CONNECTION_SPEC_CALL in path.read_text()
        documentation = module_documentation(path)
        if documentation is None:
            problems.append("plugins/modules/%s.py: no DOCUMENTATION" % name)
            continue
        fragments = documentation.get("extends_documentation_fragment") or []
        if isinstance(fragments, str):
            fragments = [fragments]
        documents_connection = CONNECTION_FRAGMENT in fragments
        documents_membership = MEMBERSHIP_FRAGMENT in fragments
        listed = name in members
        if takes_connection:
            if not documents_connection:
                problems.append("plugins/modules/%s.py takes the connection options but does not extend %s"
                                % (name, CONNECTION_FRAGMENT))
            if not documents_membership:
                problems.append("plugins/modules/%s.py takes the connection options but does not extend %s"
                                % (name, MEMBERSHIP_FRAGMENT))
            if not listed:
                problems.append("plugins/modules/%s.py takes the connection options but is missing from "
                                "action_groups.%s in meta/runtime.yml" % (name, GROUP))
        else:
            for wrong, what in ((documents_connection, CONNECTION_FRAGMENT), (documents_membership, MEMBERSHIP_FRAGMENT)):
                if wrong:
                    problems.append("plugins/modules/%s.py extends %s but does not take the connection options"
                                    % (name, what))
            if listed:
                problems.append("meta/runtime.yml: action group %r lists %r, which does not take the connection "
                                "options" % (GROUP, name))
    return problems


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    problems = check(root)
    for problem in problems:
        print("ACTION GROUP DRIFT: %s" % problem)
    if problems:
        print("action group check FAILED: %d problem(s)" % len(problems))
        return 1
    print("action group check: group %r has %d member(s), matching the module files and their docs"
          % (GROUP, len(group_members(root))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
