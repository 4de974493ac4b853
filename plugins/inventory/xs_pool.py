# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: xs_pool
short_description: The hosts of a XenServer or XCP-ng pool as inventory
version_added: 0.1.0
description:
  - Reads one pool through XAPI and adds one inventory host per pool host, named after the host
    (its C(name_label)), with C(ansible_host) set to its management address.
  - Groups - one for the pool (its name, sanitised), C(xs_master) (the pool master) and
    C(xs_members) (every other host of the pool). The master is added first, so plays over the
    pool group start with it.
  - Point it at any host of the pool; a pool member redirects the plugin to the master.
  - Reads three object classes in bulk (C(pool), C(host), C(host_metrics)), whatever the size of
    the pool, and logs its session out, also when reading fails.
  - Every value read from XAPI is kept as data, never evaluated as a template; a host whose name is
    a Jinja2 expression keeps that expression as its literal name.
  - The inventory source file name must end in C(.xs_pool.yml) or C(.xs_pool.yaml).
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection.PLUGINS
  - constructed
options:
  plugin:
    description: The name of this plugin; it makes the file an inventory source for it.
    type: str
    required: true
    choices:
      - xenserver.pools.xs_pool
  pool_group:
    description:
      - Name of the group that holds every host of the pool.
      - By default the pool's name, with every character that is not a letter, a digit or C(_)
        replaced by C(_). A pool without a name (a standalone host) gets C(xs_pool_) followed by
        the first eight characters of its UUID.
    type: str
notes:
  - Two hosts with the same name, or a host without a name, cannot both be inventory hosts under
    that name; such hosts are named after their UUID instead, with a warning.
  - Host variables set for each host - C(xs_uuid), C(xs_address), C(xs_is_master), C(xs_enabled),
    C(xs_live), C(xs_version) (the product version), C(xs_name) (the host's name), C(xs_pool_name)
    and C(xs_pool_uuid); and C(ansible_host).
seealso:
  - module: xenserver.pools.xs_pool_info
"""

EXAMPLES = r"""
---
# pool.xs_pool.yml: credentials from XENSERVER_HOST, XENSERVER_USER, XENSERVER_PASSWORD and
# XENSERVER_CA_PATH (the variables an AWX credential of the collection injects)
plugin: xenserver.pools.xs_pool

---
# lab.xs_pool.yml: explicit options (the password still from XENSERVER_PASSWORD), extra
# variables and groups
plugin: xenserver.pools.xs_pool
hostname: xs1.example.com
username: root
ca_path: /etc/pki/xenserver-ca.pem
pool_group: lab
compose:
  ansible_user: "'root'"
groups:
  disabled_hosts: not xs_enabled
keyed_groups:
  - key: xs_version
    prefix: version
"""

import os
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.xenserver.pools.plugins.module_utils._client import XapiClient
from ansible_collections.xenserver.pools.plugins.module_utils._errors import XenServerError

NULL_REF = "OpaqueRef:NULL"
FILE_SUFFIXES = (".xs_pool.yml", ".xs_pool.yaml")
MASTER_GROUP = "xs_master"
MEMBERS_GROUP = "xs_members"
CLASSES = ("pool", "host", "host_metrics")


def group_name(text):
    """A valid Ansible group name from any text: letters, digits and _ only, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return "_" + name if name[:1].isdigit() else name


def _empty_in_environment(value, origin):
    """Whether an option's value comes from an environment variable that is set but empty."""
    if value is None or not isinstance(origin, str) or not origin.startswith("env:"):
        return False
    return os.environ.get(origin[len("env:"):].strip()) == ""


def pool_hosts(records):
    """(pool facts, [host facts]) from {class: {ref: record}}; the master first, then by name.

    Each host's `inventory_name` is its name_label, or its UUID when the name is empty or shared
    with another host of the pool (`renamed` is then True).
    """
    pool = next(iter(records["pool"].values()), None)
    if pool is None:
        raise AnsibleParserError("XAPI returned no pool object; is this a XenServer or XCP-ng host?")
    master_ref = pool.get("master", NULL_REF)
    hosts = records["host"]
    names = [record.get("name_label", "") for record in hosts.values()]
    facts = []
    for ref in sorted(hosts, key=lambda ref: (ref != master_ref, hosts[ref].get("name_label", ""), hosts[ref]["uuid"])):
        host = hosts[ref]
        name = host.get("name_label", "")
        metrics = records["host_metrics"].get(host.get("metrics"), {})
        unique = bool(name) and names.count(name) == 1
        facts.append(dict(
            inventory_name=name if unique else host["uuid"],
            renamed=not unique,
            name=name,
            uuid=host["uuid"],
            address=host.get("address", ""),
            is_master=(ref == master_ref),
            enabled=bool(host.get("enabled")),
            live=bool(metrics.get("live", False)),
            version=host.get("software_version", {}).get("product_version", ""),
        ))
    return dict(name=pool.get("name_label", ""), uuid=pool.get("uuid", "")), facts


class InventoryModule(BaseInventoryPlugin, Constructable):

    NAME = "xenserver.pools.xs_pool"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(FILE_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        pool, hosts = pool_hosts(self._read_records())
        self._populate(pool, hosts)

    def _read_records(self):
        # Option values arrive as tagged str subclasses, which xmlrpc cannot send: pass plain strings.
        hostname, username, password, ca_path = (
            None if value is None else str(value)
            for value in (self.get_option(name) for name in ("hostname", "username", "password", "ca_path")))
        if _empty_in_environment(*self.get_option_and_origin("ca_path")):
            # An AWX credential without a CA sets XENSERVER_CA_PATH to "", which a path option turns into
            # the current directory: empty means "not set" (the system CA store), as for the modules.
            ca_path = None
        try:
            with XapiClient(hostname, username, password, self.get_option("validate_certs"), ca_path,
                            self.get_option("timeout")) as client:
                return client.get_all_records_of(CLASSES)
        except XenServerError as error:
            raise AnsibleParserError("xenserver.pools.xs_pool: %s" % error) from None

    def _populate(self, pool, hosts):
        pool_group = self.get_option("pool_group") or (
            group_name(pool["name"] or "xs_pool_" + pool["uuid"][:8]))
        for group in (pool_group, MASTER_GROUP, MEMBERS_GROUP):
            self.inventory.add_group(group)
        strict = self.get_option("strict")
        for host in hosts:
            name = host["inventory_name"]
            if host["renamed"]:
                self.display.warning("xenserver.pools.xs_pool: host %s has %s, so it is named after its UUID in the "
                                     "inventory." % (host["uuid"], "no name" if not host["name"] else
                                                     "the same name as another host of the pool"))
            self.inventory.add_host(name, group=pool_group)
            self.inventory.add_child(MASTER_GROUP if host["is_master"] else MEMBERS_GROUP, name)
            variables = dict(
                ansible_host=host["address"],
                xs_name=host["name"],
                xs_uuid=host["uuid"],
                xs_address=host["address"],
                xs_is_master=host["is_master"],
                xs_enabled=host["enabled"],
                xs_live=host["live"],
                xs_version=host["version"],
                xs_pool_name=pool["name"],
                xs_pool_uuid=pool["uuid"],
            )
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            # Constructable: compose, groups and keyed_groups see these variables (and the host's
            # other variables); their templates come from the inventory file, never from XAPI.
            host_vars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)
