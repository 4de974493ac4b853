# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

# Keep in sync with connection_argument_spec() in plugins/module_utils/_client.py.
# The environment variable names are those of community.general's XenServer modules, so one AWX
# credential type can serve both collections.

from __future__ import annotations


class ModuleDocFragment(object):

    # For modules: the environment fallback is implemented by the argument spec.
    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - Address of the XenServer or XCP-ng host to talk to, a name or an IP address, optionally with a
        scheme and a port (C(https://xs1.example.com:8443)).
      - Without a scheme, C(https://) is used. A port given is kept.
      - Any pool member will do; when it is not the pool master the module follows the redirect
        (C(HOST_IS_SLAVE)) to the master once.
      - If not set, the value of the E(XENSERVER_HOST) environment variable is used.
    type: str
    required: true
  username:
    description:
      - User to log in as.
      - If not set, the value of the E(XENSERVER_USER) environment variable is used.
    type: str
    default: root
  password:
    description:
      - Password of O(username).
      - If not set, the value of the E(XENSERVER_PASSWORD) environment variable is used.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the TLS certificate of the host against O(ca_path), or against the system CA store
        when O(ca_path) is not set.
      - Set to V(false) only on a lab network, because the password is then sent to whoever answers.
      - If not set, the value of the E(XENSERVER_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - Path on the machine running the module to a PEM file with the CA certificate(s) that signed
        the hosts' TLS certificates.
      - If not set, the value of the E(XENSERVER_CA_PATH) environment variable is used.
    type: path
  timeout:
    description:
      - Seconds to wait for one XAPI request, and the deadline for waiting on pool changes, tasks and
        a host whose API is restarting.
      - If not set, the value of the E(XENSERVER_TIMEOUT) environment variable is used.
    type: int
    default: 300
requirements:
  - XenAPI (the Python SDK, PyPI package C(XenAPI))
notes:
  - Every session the module opens is logged out, even when the module fails, and every XAPI task
    it creates is destroyed.
  - The module runs where the task runs; normally run it on C(localhost) (a play on C(localhost),
    or C(delegate_to) C(localhost)).
"""

    # For inventory and other non-module plugins, which read environment variables from `env:`.
    PLUGINS = r"""
options:
  hostname:
    description:
      - Address of the XenServer or XCP-ng host to talk to, a name or an IP address, optionally with a
        scheme and a port (C(https://xs1.example.com:8443)).
      - Without a scheme, C(https://) is used. A port given is kept.
      - Any pool member will do; when it is not the pool master the plugin follows the redirect
        (C(HOST_IS_SLAVE)) to the master once.
    type: str
    required: true
    env:
      - name: XENSERVER_HOST
  username:
    description:
      - User to log in as.
    type: str
    default: root
    env:
      - name: XENSERVER_USER
  password:
    description:
      - Password of O(username).
    type: str
    required: true
    env:
      - name: XENSERVER_PASSWORD
  validate_certs:
    description:
      - Verify the TLS certificate of the host against O(ca_path), or against the system CA store
        when O(ca_path) is not set.
      - Set to V(false) only on a lab network, because the password is then sent to whoever answers.
    type: bool
    default: true
    env:
      - name: XENSERVER_VALIDATE_CERTS
  ca_path:
    description:
      - Path to a PEM file with the CA certificate(s) that signed the hosts' TLS certificates.
    type: path
    env:
      - name: XENSERVER_CA_PATH
  timeout:
    description:
      - Seconds to wait for one XAPI request, and the deadline for waiting on pool changes and tasks.
    type: int
    default: 300
    env:
      - name: XENSERVER_TIMEOUT
requirements:
  - XenAPI (the Python SDK, PyPI package C(XenAPI))
"""
