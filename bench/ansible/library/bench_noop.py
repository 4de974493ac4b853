# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A module that does nothing, with the collection's connection options and imports (the XAPI
client and XenAPI), so that Ansible packs and runs it as it does the collection's modules; its
time per task is Ansible's own overhead per module invocation. Used only by bench/ (make bench)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: bench_noop
short_description: Does nothing, for make bench
description:
  - Parses the collection's connection options and returns unchanged, without any XAPI call.
author:
  - xenserver.pools contributors
options: {}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import connection_argument_spec


def main():
    module = AnsibleModule(argument_spec=connection_argument_spec(), supports_check_mode=True)
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
