#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_host
short_description: Name, license and tag a XenServer or XCP-ng host
version_added: 0.1.0
description:
  - Sets a host's name and description, its license edition and license server
    (C(host.set_license_server) then C(host.apply_edition), as C(xe host-apply-edition) does), and merges
    keys into its C(other_config) and tags into its tags.
  - Every host of a pool must run the same edition before a host joins it (seed 003; XAPI refuses the join
    with C(LICENSE_HOST_POOL_MISMATCH)), so align editions with this module first.
  - Only what is given is compared and changed.
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
options:
  host:
    description:
      - The host - its name (C(name_label) or host name), uuid or management address.
    type: str
    required: true
  name_label:
    description:
      - New name of the host.
    type: str
  name_description:
    description:
      - New description of the host.
    type: str
  edition:
    description:
      - License edition to apply, one of the host's C(editions) (for example V(trial), V(standard), V(premier),
        or the product's own names such as V(xenserver-premium)).
      - Applied when it differs from the host's edition, or when O(license_server) changes.
    type: str
  license_server:
    description:
      - License server to check the edition's license out from.
      - If the new edition cannot be applied, the previous license server is put back.
    type: dict
    suboptions:
      address:
        description: Name or address of the license server.
        type: str
        required: true
      port:
        description: Port of the license server.
        type: int
        default: 27000
  other_config:
    description:
      - Keys to set in the host's C(other_config); other keys are left alone. A key with a null value is removed.
      - The C(MAINTENANCE_MODE*) keys belong to M(xenserver.pools.xs_maintenance) and are refused here.
    type: dict
  tags:
    description:
      - Tags the host must have; other tags are left alone.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: xenserver.pools.xs_pool_info
"""

EXAMPLES = r"""
---
- name: Name xs2 and license it from the license server
  xenserver.pools.xs_host:
    host: 192.0.2.12
    name_label: xs2
    name_description: Rack 4, slot 2
    edition: premier
    license_server:
      address: license.example.com
    tags: [production]
    other_config:
      owner: infra-team
      obsolete_key: null
"""

RETURN = r"""
api_url:
  description: URL of the pool master the module talked to.
  returned: success
  type: str
host:
  description: The managed fields of the host after the run (predicted in check mode).
  returned: success
  type: dict
  contains:
    uuid:
      description: Host uuid.
      type: str
    name_label:
      description: Host name.
      type: str
    name_description:
      description: Host description.
      type: str
    edition:
      description: License edition.
      type: str
    license_server:
      description: C(address) and C(port) of the license server.
      type: dict
    other_config:
      description: The host's C(other_config).
      type: dict
    tags:
      description: The host's tags.
      type: list
      elements: str
  sample:
    uuid: 2f3c9a4e-6a36-4b5e-9d8a-3c1d2e4f5a6b
    name_label: xs2
    name_description: Rack 4, slot 2
    edition: premier
    license_server: {address: license.example.com, port: "27000"}
    other_config: {owner: infra-team}
    tags: [production]
actions:
  description: What was done (in check mode, what would be done), in order.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import (
    XapiClient,
    connection_argument_spec,
)
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    InvalidParameterError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._maintenance import (
    RECORD_KEYS,
    find_host,
    host_name,
)

CLASSES = ("pool", "host")


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        host=dict(type="str", required=True),
        name_label=dict(type="str"),
        name_description=dict(type="str"),
        edition=dict(type="str"),
        license_server=dict(type="dict", options=dict(address=dict(type="str", required=True),
                                                      port=dict(type="int", default=27000))),
        other_config=dict(type="dict"),
        tags=dict(type="list", elements="str"),
    )
    return spec


def host_view(host):
    server = host.get("license_server") or {}
    return dict(
        uuid=host.get("uuid", ""),
        name_label=host.get("name_label", ""),
        name_description=host.get("name_description", ""),
        edition=host.get("edition", ""),
        license_server=dict(address=server.get("address", ""), port=str(server.get("port", ""))),
        other_config=dict(host.get("other_config") or {}),
        tags=list(host.get("tags") or []),
    )


def text_value(value):
    """other_config holds strings; YAML booleans become "true"/"false" as XAPI writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plan(host, params):
    """[(method, args, description)] turning the host into what params ask for, in call order.

    The license server comes before the edition, which is applied from it.
    """
    view = host_view(host)
    calls = []
    for field in ("name_label", "name_description"):
        if params[field] is not None and params[field] != view[field]:
            calls.append(("host.set_" + field, (params[field],), "set %s to %r" % (field, params[field])))
    server_changed = False
    if params["license_server"]:
        wanted = dict(address=params["license_server"]["address"], port=str(params["license_server"]["port"]))
        if wanted != view["license_server"]:
            server = dict(host.get("license_server") or {})
            server.update(wanted)
            calls.append(("host.set_license_server", (server,), "set the license server to %s:%s"
                          % (wanted["address"], wanted["port"])))
            server_changed = True
    edition = params["edition"]
    if edition is not None:
        editions = list(host.get("editions") or [])
        if editions and edition not in editions:
            raise InvalidParameterError("edition %r is not available on host %s; its editions are: %s."
                                        % (edition, view["name_label"], ", ".join(editions)))
        if edition != view["edition"] or (server_changed and edition):
            calls.append(("host.apply_edition", (edition, False), "apply edition %s" % edition))
    current = view["other_config"]
    for key, value in sorted((params["other_config"] or {}).items()):
        if key in RECORD_KEYS:
            raise InvalidParameterError("other_config key %s belongs to maintenance mode: use "
                                        "xenserver.pools.xs_maintenance." % key)
        if value is None:
            if key in current:
                calls.append(("host.remove_from_other_config", (key,), "remove other_config key %s" % key))
            continue
        value = text_value(value)
        if current.get(key) != value:
            if key in current:
                calls.append(("host.remove_from_other_config", (key,), None))
            calls.append(("host.add_to_other_config", (key, value), "set other_config key %s" % key))
    for tag in params["tags"] or []:
        if tag not in view["tags"] and not any(call[0] == "host.add_tags" and call[1] == (tag,) for call in calls):
            calls.append(("host.add_tags", (tag,), "add tag %s" % tag))
    return calls


def predicted(view, calls):
    after = dict(view, other_config=dict(view["other_config"]), tags=list(view["tags"]),
                 license_server=dict(view["license_server"]))
    for method, args, _text in calls:
        if method in ("host.set_name_label", "host.set_name_description"):
            after[method[len("host.set_"):]] = args[0]
        elif method == "host.set_license_server":
            after["license_server"] = dict(address=args[0]["address"], port=args[0]["port"])
        elif method == "host.apply_edition":
            after["edition"] = args[0]
        elif method == "host.remove_from_other_config":
            after["other_config"].pop(args[0], None)
        elif method == "host.add_to_other_config":
            after["other_config"][args[0]] = args[1]
        elif method == "host.add_tags":
            after["tags"].append(args[0])
    return after


def apply(client, host_ref, host, calls):
    name = host.get("name_label", "")
    for method, args, _text in calls:
        action = "Calling %s for host %s" % (method, name)
        if method == "host.apply_edition":
            try:
                client.write(method, host_ref, *args, action="Applying edition %s to host %s" % (args[0], name))
            except XenServerError:
                _put_back_license_server(client, host_ref, host, calls)
                raise
        else:
            client.write(method, host_ref, *args, action=action)


def _put_back_license_server(client, host_ref, host, calls):
    """The edition could not be applied: a changed license server goes back to what it was."""
    if any(method == "host.set_license_server" for method, _args, _text in calls):
        try:
            client.write("host.set_license_server", host_ref, dict(host.get("license_server") or {}),
                         action="Putting back the license server of host %s" % host.get("name_label", ""))
        except XenServerError:
            pass  # the apply_edition error is what the user needs to see


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        with XapiClient.from_module(module) as client:
            records = client.get_all_records_of(CLASSES)
            host_ref = find_host(records, module.params["host"])
            host = records["host"][host_ref]
            before = host_view(host)
            calls = plan(host, module.params)
            if calls and not module.check_mode:
                apply(client, host_ref, host, calls)
                after = host_view(client.read("host.get_record", host_ref,
                                              action="Reading host %s" % host_name(records, host_ref)))
            else:
                after = predicted(before, calls)
            api_url = client.url
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)
    actions = [("would " if module.check_mode else "") + text for _method, _args, text in calls if text]
    module.exit_json(changed=bool(calls), api_url=api_url, host=after, actions=actions,
                     diff=dict(before=before, after=after))


if __name__ == "__main__":
    main()
