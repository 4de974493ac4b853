#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: xs_sr
short_description: Manage a storage repository (SR) of a XenServer or XCP-ng pool
version_added: 0.1.0
description:
  - Creates a storage repository, shared by every host of the pool or local to one host, and makes
    sure every host that should see it has it attached (a PBD that is plugged), creating or plugging
    what is missing, like XenCenter's "Repair".
  - When a host cannot attach the SR, the module names the host and the storage backend's reason,
    and for NFS says which subnets the export allows and which hosts have no IP in them.
  - Removes an SR by detaching it and forgetting it (the data stays on the storage), or, only when
    asked with O(destroy_data=true), by deleting its disks and the SR after listing what is lost.
  - Probes a storage target (O(state=probed)) to list NFS exports, iSCSI targets and LUNs, or the
    SRs that already exist on it, without changing anything.
  - The type and C(device_config) of an existing SR never change; the module refuses and explains.
author:
  - xenserver.pools contributors (!UNKNOWN)
extends_documentation_fragment:
  - xenserver.pools._connection
  - xenserver.pools._attributes
  - xenserver.pools._attributes.ACTIONGROUP_XENSERVER
attributes:
  check_mode:
    support: full
    details:
      - With O(state=probed) the probe runs in check mode too, because it changes nothing; a probe
        with a password creates a temporary XAPI secret for the password and deletes it at once.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name_label:
    description:
      - Name of the SR; with O(type) (and O(host) for a local SR) it identifies the SR.
      - Required to create an SR. When O(uuid) is given too, the SR is renamed to this name.
    type: str
  uuid:
    description:
      - UUID of the SR. An SR with this uuid that the pool does not know yet (found by
        O(state=probed), for example after it was forgotten) is introduced and attached again,
        with the disks found on it.
    type: str
  name_description:
    description:
      - Description of the SR. Left as it is when not given.
    type: str
  type:
    description:
      - SR type, for example V(nfs), V(lvmoiscsi), V(lvmohba), V(smb), V(iso), V(ext), V(lvm), V(gfs2),
        or any other type the pool's storage drivers support. Required to create or probe.
    type: str
  content_type:
    description:
      - Content type; defaults to V(iso) for O(type=iso) and V(user) otherwise.
    type: str
  shared:
    description:
      - Whether every host of the pool uses the SR. Defaults to V(true), or V(false) when O(host) is given.
    type: bool
  device_config:
    description:
      - Backend configuration, for example C(server) and C(serverpath) for NFS; C(target),
        C(targetIQN), C(SCSIid), C(chapuser) and C(chappassword) for iSCSI; C(server), C(username)
        and C(password) for SMB.
      - The values of keys containing C(password) are never logged or returned, and are stored as
        XAPI secrets (the SR then references C(<key>_secret)).
    type: dict
  sm_config:
    description:
      - Storage manager configuration for the SR.
    type: dict
  host:
    description:
      - For a local SR (not shared), the host it lives on, by name or uuid.
      - With O(state=probed), the host that runs the probe (default the pool master).
    type: str
  default:
    description:
      - V(true) makes the SR the pool's default SR (C(pool.default_SR)); V(false) clears the pool's
        default SR if it is this SR. Left as it is when not given.
      - A local SR cannot be the default SR of a pool of more than one host.
    type: bool
  require_all_hosts:
    description:
      - With O(state=present), fail when a host that should attach the SR cannot. V(false) warns
        instead and the task succeeds.
      - Before creating an NFS SR, the module checks the export's access list against the hosts' IP
        addresses and refuses to create it when a host has no IP the export allows (V(true)) or when
        the pool master has none (always), so that nothing is created that cannot be used.
    type: bool
    default: true
  destroy_data:
    description:
      - With O(state=absent), delete the SR's disks and the SR itself (C(SR.destroy)) instead of only
        forgetting it. The disks that are lost are listed in RV(vdis) and in a warning.
      - Refused while a disk of the SR is in use by a running VM.
    type: bool
    default: false
  state:
    description:
      - V(present) creates (or introduces) the SR when it is missing and attaches it on every host
        that should have it.
      - V(absent) detaches the SR from every host (pool members first, the master last) and forgets
        it; the data stays on the storage and the SR can be introduced again. See O(destroy_data).
      - V(probed) runs C(SR.probe) with O(type) and O(device_config) and returns what it found.
    type: str
    choices: [present, absent, probed]
    default: present
notes:
  - XAPI plugs a new shared SR on every host itself and does not report why a host failed; the
    module plugs such hosts again to learn the backend's reason.
seealso:
  - module: xenserver.pools.xs_pif
  - module: xenserver.pools.xs_pool_info
"""

EXAMPLES = r"""
---
- name: See what the NFS server exports, and to which subnets
  xenserver.pools.xs_sr:
    state: probed
    type: nfs
    device_config:
      server: 172.16.0.34
  register: xs_probe

- name: Shared NFS SR on the storage network, the pool's default SR
  xenserver.pools.xs_sr:
    name_label: NAS-2-VHD
    type: nfs
    device_config:
      server: 172.16.0.34
      serverpath: /srv/vhd
    default: true

- name: iSCSI SR with CHAP (the password is stored as a XAPI secret)
  xenserver.pools.xs_sr:
    name_label: san-lun0
    type: lvmoiscsi
    device_config:
      target: 10.0.50.10
      targetIQN: iqn.2026-01.com.example:storage
      SCSIid: 36001405a1b2c3d4e5f60718293a4b5c6
      chapuser: xen
      chappassword: "{{ vault_chap_password }}"

- name: Detach and forget the SR, keeping its data on the NFS server
  xenserver.pools.xs_sr:
    name_label: NAS-2-VHD
    type: nfs
    state: absent

- name: Delete the SR and every disk on it
  xenserver.pools.xs_sr:
    name_label: scratch
    type: nfs
    state: absent
    destroy_data: true
"""

RETURN = r"""
sr:
  description: The SR (with O(state=present), as it is after the run or would be, in check mode).
  returned: when state is present, or absent and the SR existed
  type: dict
  contains:
    uuid:
      description: SR uuid; empty for an SR that check mode would create.
      type: str
    name_label:
      description: SR name.
      type: str
    name_description:
      description: SR description.
      type: str
    type:
      description: SR type.
      type: str
    content_type:
      description: Content type.
      type: str
    shared:
      description: Whether the SR is shared.
      type: bool
    default:
      description: Whether it is the pool's default SR.
      type: bool
    device_config:
      description: The backend configuration without passwords or secret references.
      type: dict
    hosts:
      description:
        - One entry per host that should attach the SR, C(host) (name) and C(attached) (bool).
        - When a host could not attach it in this run, C(reason) gives the storage backend's reason.
      type: list
      elements: dict
  sample:
    uuid: 8ff09191-95e7-0ea3-5b4b-eea9d0fa21ca
    name_label: NAS-2-VHD
    name_description: ""
    type: nfs
    content_type: user
    shared: true
    default: true
    device_config: {server: 172.16.0.34, serverpath: /srv/vhd}
    hosts: [{host: xs1, attached: true}, {host: xs2, attached: true}, {host: xs3, attached: true}]
vdis:
  description: With O(state=absent), the SR's disks (deleted with O(destroy_data=true), kept otherwise).
  returned: when state is absent and the SR existed
  type: list
  elements: dict
  sample: [{name: web-1 disk 0, uuid: 0c3f..., size_gib: 20.0, vms: [web-1], in_use_by: []}]
probe:
  description: With O(state=probed), what the probe found.
  returned: when state is probed
  type: dict
  contains:
    xml:
      description: The probe's XML as the storage driver wrote it.
      type: str
    found:
      description: One entry per element the driver listed, with its C(kind) (element name) and fields.
      type: list
      elements: dict
    exports:
      description: NFS exports, C(path), C(target) and C(allowed) (the export's access list).
      type: list
      elements: dict
    sr_uuids:
      description: UUIDs of the SRs that exist on the storage.
      type: list
      elements: str
    known_srs:
      description: For each of RV(probe.sr_uuids) the pool knows, its name.
      type: dict
    targets:
      description: iSCSI targets, C(iqn), C(address), C(port), C(index).
      type: list
      elements: dict
    luns:
      description: LUNs, C(id), C(scsi_id), C(size), C(vendor), C(serial).
      type: list
      elements: dict
  sample:
    exports: [{path: /srv/vhd, target: 172.16.0.34, allowed: [172.16.0.32/28]}]
    sr_uuids: []
actions:
  description: What was done (or would be done, in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create shared nfs SR 'NAS-2-VHD'", "make SR 'NAS-2-VHD' the pool's default SR"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenserver.pools.plugins.module_utils._client import XapiClient, connection_argument_spec
from ansible_collections.xenserver.pools.plugins.module_utils._common import NULL_REF, hosts_in_order, master_ref, the_pool
from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    InvalidParameterError,
    XapiError,
    XenServerError,
)
from ansible_collections.xenserver.pools.plugins.module_utils._network import find_host, host_name
from ansible_collections.xenserver.pools.plugins.module_utils._storage import (
    SECRET_SUFFIX,
    backend_reason,
    check_device_config,
    check_sr_type,
    config_for_new_pbd,
    describe_vdis,
    explain_unattached,
    export_for,
    find_sr,
    hosts_needing_pbd,
    hosts_outside_export,
    immutable_differences,
    is_secret_key,
    parse_probe,
    pbds_of,
    probe_xml_from_failure,
    public_config,
    secret_values,
    sr_label,
    subnet_advice,
    vdis_of,
)

PRESENT_CLASSES = ("pool", "host", "SR", "PBD", "SM", "PIF")
ABSENT_CLASSES = ("pool", "host", "SR", "PBD", "VDI", "VBD", "VM")
PROBE_CLASSES = ("pool", "host", "SR", "SM")


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name_label=dict(type="str"),
        uuid=dict(type="str"),
        name_description=dict(type="str"),
        type=dict(type="str"),
        content_type=dict(type="str"),
        shared=dict(type="bool"),
        device_config=dict(type="dict"),
        sm_config=dict(type="dict"),
        host=dict(type="str"),
        default=dict(type="bool"),
        require_all_hosts=dict(type="bool", default=True),
        destroy_data=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent", "probed"], default="present"),
    )
    return spec


class SecretAwareModule(AnsibleModule):
    """device_config is a free-form dict: its password values are registered as no_log values
    before AnsibleModule logs the invocation, so they are masked everywhere."""

    def _log_invocation(self):
        self.no_log_values.update(secret_values(self.params.get("device_config")))
        super()._log_invocation()


class Run(object):
    """One module run: the client, the options, and what has been done so far."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.check_mode = module.check_mode
        self.done = []  # actions carried out
        self.planned = []  # actions carried out or, in check mode, that would be
        self.warnings = []

    def act(self, text):
        """Record an action; True when it is to be carried out (not in check mode)."""
        self.planned.append(text)
        if not self.check_mode:
            self.done.append(text)
        return not self.check_mode

    def undo(self, text):
        """An action that failed without changing anything."""
        self.planned.remove(text)
        if text in self.done:
            self.done.remove(text)

    @property
    def actions(self):
        return list(self.planned if self.check_mode else self.done)

    # --- secrets -------------------------------------------------------------------------

    def with_secrets(self, device_config):
        """(device_config with every password replaced by <key>_secret = the uuid of a new XAPI secret,
        the refs of the secrets created). Nothing is created when there is no password."""
        config = {}
        created = []
        try:
            for key, value in (device_config or {}).items():
                if is_secret_key(key) and not key.endswith(SECRET_SUFFIX) and value:
                    secret = self.client.write("secret.create", dict(value=str(value), other_config={}),
                                               action="Storing device_config.%s as a XAPI secret" % key)
                    created.append(secret)
                    config[key + SECRET_SUFFIX] = self.client.read("secret.get_uuid", secret)
                else:
                    config[key] = str(value)
        except XenServerError:
            self.drop_secrets(created)
            raise
        return config, created

    def drop_secrets(self, secrets, keep_uuids=()):
        for secret in secrets:
            try:
                if self.client.read("secret.get_uuid", secret) in keep_uuids:
                    continue
                self.client.write("secret.destroy", secret)
            except XenServerError:
                pass  # a leftover secret holds no data anyone refers to; not worth failing the task

    # --- probing -------------------------------------------------------------------------

    def probe(self, host_ref, config, sr_type, sm_config=None):
        """The probe's XML: from the answer, or from the error a driver gives when a parameter it
        would list (NFS serverpath, iSCSI targetIQN/SCSIid) is missing."""
        try:
            return self.client.read("SR.probe", host_ref, config, sr_type, sm_config or {},
                                    action="Probing %s storage from %s" % (sr_type, self.client.url))
        except XapiError as error:
            text = probe_xml_from_failure([error.code] + list(error.params))
            if text is None:
                raise
            return text

    def nfs_exports(self, records, device_config):
        """The NFS server's exports with their access lists, or None when they cannot be read."""
        server = (device_config or {}).get("server")
        if not server or self.check_mode:
            return None
        try:
            return parse_probe(self.probe(master_ref(records), {"server": server}, "nfs"))["exports"]
        except XenServerError:
            return None


def sr_summary(records, sr_ref, pool):
    sr = records["SR"][sr_ref]
    pbds = pbds_of(records, sr_ref)
    master = master_ref(records)
    config = (pbds.get(master) or next(iter(pbds.values()), (None, {})))[1].get("device_config", {})
    return dict(
        uuid=sr.get("uuid", ""), name_label=sr.get("name_label", ""), name_description=sr.get("name_description", ""),
        type=sr.get("type", ""), content_type=sr.get("content_type", ""), shared=bool(sr.get("shared")),
        default=pool.get("default_SR") == sr_ref, device_config=public_config(config),
        hosts=[dict(host=host_name(records, host), attached=bool(pbds.get(host, (None, {}))[1].get("currently_attached")))
               for host in hosts_needing_pbd(records, sr_ref)])


# --- state: present ------------------------------------------------------------------------

def present(run, records):
    params = run.params
    pool_ref, pool = next(iter(records["pool"].items()))
    host_ref = find_host(records, params["host"]) if params["host"] else None
    sr_type = check_sr_type(records, params["type"]) if params["type"] else None
    sr_ref = find_sr(records, params["name_label"], sr_type, params["uuid"], host_ref)
    before = sr_summary(records, sr_ref, pool) if sr_ref else dict(exists=False)
    introduced = False
    if sr_ref is None:
        sr_ref, after = create(run, records, host_ref, sr_type)
        if sr_ref is None:  # check mode: nothing to read back
            set_default(run, records, pool_ref, pool, None)
            return dict(sr=after), before, after
        introduced = bool(params["uuid"])
        records = dict(records, **run.client.get_all_records_of(("SR", "PBD")))
    else:
        update(run, records, sr_ref, sr_type)
    failures = repair(run, records, sr_ref)
    if introduced and len(failures) < len(hosts_needing_pbd(records, sr_ref)):
        label = sr_label(records, sr_ref)
        if run.act("scan SR %s for its disks" % label):
            run.client.run_task("SR.scan", sr_ref, what="scanning SR %s" % label)
    if failures:
        records = dict(records, **run.client.get_all_records_of(("PBD",)))
        sr_type = records["SR"][sr_ref].get("type")
        config = config_for_new_pbd(records, sr_ref) or params["device_config"]
        message = explain_unattached(records, sr_ref, failures, sr_type, config, run.nfs_exports(records, config))
        if params["require_all_hosts"]:
            raise Unattached(message + ": give the hosts access to the storage, then run this task again",
                             with_reasons(sr_summary(records, sr_ref, pool), records, failures))
        run.warnings.append(message + "; the task succeeds because require_all_hosts is false")
    set_default(run, records, pool_ref, pool, sr_ref)
    if run.done:
        records = dict(records, **run.client.get_all_records_of(("pool", "SR", "PBD")))
        pool = the_pool(records)
    after = with_reasons(sr_summary(records, sr_ref, pool), records, failures)
    if run.check_mode:
        for entry in after["hosts"]:
            entry["attached"] = True
        if params["default"] is not None:
            after["default"] = params["default"]
    return dict(sr=after), before, after


def with_reasons(summary, records, failures):
    """The backend's reason on each host entry that could not attach the SR in this run."""
    reasons = dict((host_name(records, ref), backend_reason(code, params)) for ref, (code, params) in failures.items())
    for entry in summary["hosts"]:
        if not entry["attached"] and entry["host"] in reasons:
            entry["reason"] = reasons[entry["host"]]
    return summary


class Unattached(XenServerError):
    """Some host cannot attach the SR and require_all_hosts is true."""

    def __init__(self, message, sr):
        super().__init__(message)
        self.sr = sr


def create(run, records, host_ref, sr_type):
    """Create (or, with a uuid the pool does not know, introduce) the SR. (sr ref or None in check mode, summary)."""
    params = run.params
    if not params["name_label"]:
        raise InvalidParameterError("no SR %s exists and name_label is needed to create it."
                                    % ("has uuid %s" % params["uuid"] if params["uuid"] else "matches"))
    if not sr_type:
        raise InvalidParameterError("SR %r does not exist: give type (for example nfs) to create it." % params["name_label"])
    shared = params["shared"] if params["shared"] is not None else host_ref is None
    if shared and host_ref:
        raise InvalidParameterError("host is for a local SR: remove host, or set shared: false.")
    if not shared and not host_ref:
        raise InvalidParameterError("a local SR (shared: false) needs host: the host it lives on.")
    if params["default"] and not shared and len(records["host"]) > 1:
        raise InvalidParameterError("a local SR cannot be the default SR of a pool of %d hosts: use a shared SR."
                                    % len(records["host"]))
    device_config = params["device_config"] or {}
    check_device_config(sr_type, device_config)
    content_type = params["content_type"] or ("iso" if sr_type == "iso" else "user")
    name = params["name_label"]
    target_host = host_ref or master_ref(records)
    hosts = hosts_in_order(records) if shared else [host_ref]
    after = dict(uuid=params["uuid"] or "", name_label=name, name_description=params["name_description"] or "",
                 type=sr_type, content_type=content_type, shared=shared, default=bool(params["default"]),
                 device_config=public_config(device_config),
                 hosts=[dict(host=host_name(records, ref), attached=True) for ref in hosts])
    introduce = bool(params["uuid"])
    exports = run.nfs_exports(records, device_config) if sr_type == "nfs" else None
    if exports is not None:
        outside = hosts_outside_export(records, export_for(exports, device_config.get("serverpath")), hosts)
        blocked = [ref for ref, _ips in outside if ref == target_host or params["require_all_hosts"]]
        if blocked:
            raise InvalidParameterError("SR %r would not be attached on %s: %s; then run this task again (nothing was "
                                        "created)" % (name, ", ".join(host_name(records, ref) for ref in blocked),
                                                      subnet_advice(records, sr_type, device_config, exports, blocked)))
    if introduce:
        run.act("introduce %s SR %r (uuid %s) found on the storage" % (sr_type, name, params["uuid"]))
    else:
        run.act("create %s %s SR %r" % ("shared" if shared else "local", sr_type, name))
    if run.check_mode:
        return None, after
    config, secrets = run.with_secrets(device_config)
    try:
        if introduce:
            sr_ref = introduce_sr(run, records, config, sr_type, content_type, shared, hosts)
        else:
            try:
                sr_ref = run.client.run_task("SR.create", target_host, config, "0", name, params["name_description"] or "",
                                             sr_type, content_type, shared, params["sm_config"] or {},
                                             what="creating SR %r" % name)
            except XapiError as error:
                run.undo(run.planned[-1])
                advice = subnet_advice(records, sr_type, device_config, run.nfs_exports(records, device_config), hosts)
                raise XapiError("%s%s (nothing was created)" % (str(error).rstrip("."), "; " + advice if advice else ""),
                                [error.code] + list(error.params)) from None
    finally:
        # PBD.create and SR.create copy the secrets for each PBD: ours are no longer needed
        if secrets:
            pbd_records = run.client.get_all_records("PBD")
            in_use = set(value for pbd in pbd_records.values() for key, value in pbd.get("device_config", {}).items()
                         if key.endswith(SECRET_SUFFIX))
            run.drop_secrets(secrets, keep_uuids=in_use)
    return sr_ref, after


def introduce_sr(run, records, config, sr_type, content_type, shared, hosts):
    """SR.introduce an SR that is on the storage but not in the pool, give each host a PBD, scan it."""
    params = run.params
    probed = parse_probe(run.probe(master_ref(records), config, sr_type, params["sm_config"]))
    if params["uuid"] not in probed["sr_uuids"]:
        run.undo(run.planned[-1])
        raise InvalidParameterError("the storage holds no SR with uuid %s (SR.probe found: %s): check uuid and "
                                    "device_config (nothing was changed)"
                                    % (params["uuid"], ", ".join(probed["sr_uuids"]) or "none"))
    sr_ref = run.client.write("SR.introduce", params["uuid"], params["name_label"], params["name_description"] or "",
                              sr_type, content_type, shared, params["sm_config"] or {},
                              action="Introducing SR %s" % params["uuid"])
    for host_ref in hosts:
        run.client.write("PBD.create", dict(host=host_ref, SR=sr_ref, device_config=config, other_config={}),
                         action="Creating the PBD of SR %r on %s" % (params["name_label"], host_name(records, host_ref)))
    return sr_ref


def update(run, records, sr_ref, sr_type):
    """Refuse immutable changes; rename / describe / sm_config in place."""
    params = run.params
    sr = records["SR"][sr_ref]
    problems = immutable_differences(records, sr_ref, sr_type, params["content_type"], params["shared"],
                                     params["device_config"])
    if problems:
        raise InvalidParameterError(
            "SR %s exists but %s: this cannot change on an existing SR; to move it, remove it (state: absent keeps "
            "the data) and create it again, or use another name_label (nothing was changed)"
            % (sr_label(records, sr_ref), "; ".join(problems)))
    if params["default"] and not sr.get("shared") and len(records["host"]) > 1:
        raise InvalidParameterError("SR %s is local to one host and cannot be the default SR of a pool of %d hosts."
                                    % (sr_label(records, sr_ref), len(records["host"])))
    if params["uuid"] and params["name_label"] and sr.get("name_label") != params["name_label"]:
        if run.act("rename SR %s to %r" % (sr_label(records, sr_ref), params["name_label"])):
            run.client.write("SR.set_name_label", sr_ref, params["name_label"])
    if params["name_description"] is not None and sr.get("name_description") != params["name_description"]:
        if run.act("set the description of SR %s" % sr_label(records, sr_ref)):
            run.client.write("SR.set_name_description", sr_ref, params["name_description"])
    wanted = dict((str(key), str(value)) for key, value in (params["sm_config"] or {}).items())
    current = sr.get("sm_config", {})
    if any(current.get(key) != value for key, value in wanted.items()):
        if run.act("set sm_config %s of SR %s" % (", ".join(sorted(wanted)), sr_label(records, sr_ref))):
            run.client.write("SR.set_sm_config", sr_ref, dict(current, **wanted))


def repair(run, records, sr_ref):
    """Give every host that should have the SR a plugged PBD. {host ref: (code, params)} of the failures."""
    if sr_ref not in records["SR"]:
        return {}
    pbds = pbds_of(records, sr_ref)
    label = sr_label(records, sr_ref)
    to_plug = []
    missing = [host for host in hosts_needing_pbd(records, sr_ref) if host not in pbds]
    for host in hosts_needing_pbd(records, sr_ref):
        if host in pbds and not pbds[host][1].get("currently_attached"):
            to_plug.append((host, pbds[host][0]))
    if missing:
        config = config_for_new_pbd(records, sr_ref)
        secrets = []
        if config is None:
            if not run.params["device_config"]:
                raise InvalidParameterError("SR %s has no PBD to copy the backend configuration from: give "
                                            "device_config." % label)
            config = run.params["device_config"]
            if not run.check_mode:
                config, secrets = run.with_secrets(config)
        try:
            for host in missing:
                if run.act("create the PBD of SR %s on %s" % (label, host_name(records, host))):
                    pbd = run.client.write("PBD.create", dict(host=host, SR=sr_ref, device_config=config, other_config={}),
                                           action="Creating the PBD of SR %s on %s" % (label, host_name(records, host)))
                    to_plug.append((host, pbd))
        finally:
            run.drop_secrets(secrets)
    for host, _pbd in to_plug:
        run.act("plug SR %s on %s" % (label, host_name(records, host)))
    if run.check_mode:
        return {}
    # start every plug, then wait for each: the hosts mount the storage in parallel
    tasks = [(host, run.client.start_task("PBD.plug", pbd)) for host, pbd in to_plug]
    failures = {}
    for host, task in tasks:
        try:
            run.client.wait_for_task(task, "plugging SR %s on %s" % (label, host_name(records, host)))
        except XapiError as error:
            failures[host] = (error.code, list(error.params))
            run.undo("plug SR %s on %s" % (label, host_name(records, host)))
    return failures


def set_default(run, records, pool_ref, pool, sr_ref):
    """sr_ref None: the SR check mode would create."""
    wanted = run.params["default"]
    is_default = sr_ref is not None and pool.get("default_SR") == sr_ref
    label = sr_label(records, sr_ref) if sr_ref in records["SR"] else repr(run.params["name_label"])
    if wanted and not is_default:
        if run.act("make SR %s the pool's default SR" % label):
            run.client.write("pool.set_default_SR", pool_ref, sr_ref)
    elif wanted is False and is_default:
        if run.act("clear the pool's default SR (was %s)" % label):
            run.client.write("pool.set_default_SR", pool_ref, NULL_REF)


# --- state: absent -------------------------------------------------------------------------

def absent(run, records):
    params = run.params
    pool = the_pool(records)
    host_ref = find_host(records, params["host"]) if params["host"] else None
    sr_type = params["type"].lower() if params["type"] else None
    sr_ref = find_sr(records, params["name_label"], sr_type, params["uuid"], host_ref)
    if sr_ref is None:
        return dict(), dict(exists=False), dict(exists=False)
    label = sr_label(records, sr_ref)
    summary = sr_summary(records, sr_ref, pool)
    vdis = vdis_of(records, sr_ref)
    in_use = [vdi for vdi in vdis if vdi["in_use_by"]]
    if in_use:
        raise InvalidParameterError("SR %s has disks in use by running VMs: %s: shut those VMs down or move their "
                                    "disks first (nothing was changed)" % (label, describe_vdis(in_use)))
    pbds = pbds_of(records, sr_ref)
    if params["destroy_data"] and not pbds:
        raise InvalidParameterError("SR %s has no PBD, so its storage cannot be reached to delete the data: use "
                                    "destroy_data: false to forget it (nothing was changed)" % label)
    result = dict(sr=summary, vdis=[dict((key, value) for key, value in vdi.items() if key != "ref") for vdi in vdis])
    master = master_ref(records)
    plugged_now = None
    if params["destroy_data"] and vdis:
        run.warnings.append("%s SR %s %s %d disk%s: %s" % (
            "Destroying" if not run.check_mode else "Check mode: destroying", label,
            "deletes" if not run.check_mode else "would delete", len(vdis), "" if len(vdis) == 1 else "s",
            describe_vdis(vdis)))
        if not any(pbd.get("currently_attached") for _ref, pbd in pbds.values()):
            # the disks are deleted through the storage: one host must have it attached
            plugged_now = master if master in pbds else next(iter(pbds))
            if run.act("plug SR %s on %s to delete its disks" % (label, host_name(records, plugged_now))):
                run.client.run_task("PBD.plug", pbds[plugged_now][0],
                                    what="plugging SR %s on %s" % (label, host_name(records, plugged_now)))
        for vdi in vdis:
            if run.act("delete disk %s (%s GiB) of SR %s" % (vdi["name"] or vdi["uuid"], vdi["size_gib"], label)):
                run.client.write("VDI.destroy", vdi["ref"], action="Deleting disk %s (%s)" % (vdi["name"], vdi["uuid"]))
    for host in hosts_in_order(records, master_last=True):
        if host in pbds and (pbds[host][1].get("currently_attached") or host == plugged_now):
            if run.act("unplug SR %s on %s" % (label, host_name(records, host))):
                run.client.write("PBD.unplug", pbds[host][0], repeat_safe=True,
                                 action="Unplugging SR %s on %s" % (label, host_name(records, host)))
    # XAPI would leave the pool pointing at an SR that no longer exists (<not in database>)
    pool_ref = next(iter(records["pool"]))
    for field, what in (("default_SR", "default SR"), ("suspend_image_SR", "suspend image SR"),
                        ("crash_dump_SR", "crash dump SR")):
        if pool.get(field) == sr_ref and run.act("clear the pool's %s (was %s)" % (what, label)):
            run.client.write("pool.set_%s" % field, pool_ref, NULL_REF)
    if params["destroy_data"]:
        if run.act("destroy SR %s" % label):
            run.client.run_task("SR.destroy", sr_ref, what="destroying SR %s" % label)
    elif run.act("forget SR %s (its data stays on the storage)" % label):
        run.client.write("SR.forget", sr_ref, action="Forgetting SR %s" % label)
    return result, summary, dict(exists=False)


# --- state: probed -------------------------------------------------------------------------

def probed(run, records):
    params = run.params
    if not params["type"]:
        raise InvalidParameterError("state probed needs type (for example nfs).")
    sr_type = check_sr_type(records, params["type"])
    check_device_config(sr_type, params["device_config"], for_probe=True)
    host_ref = find_host(records, params["host"]) if params["host"] else master_ref(records)
    config, secrets = run.with_secrets(params["device_config"])
    try:
        text = run.probe(host_ref, config, sr_type, params["sm_config"])
    finally:
        run.drop_secrets(secrets)
    found = parse_probe(text)
    known = dict((sr.get("uuid"), sr.get("name_label", "")) for sr in records["SR"].values()
                 if sr.get("uuid") in found["sr_uuids"])
    return dict(probe=dict(found, xml=text, known_srs=known))


def run_state(run):
    state = run.params["state"]
    classes = dict(present=PRESENT_CLASSES, absent=ABSENT_CLASSES, probed=PROBE_CLASSES)[state]
    records = run.client.get_all_records_of(classes)
    if state == "probed":
        return probed(run, records), None, None
    if state == "absent":
        return absent(run, records)
    return present(run, records)


def main():
    module = SecretAwareModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("state", "present", ("name_label", "uuid"), True),
                     ("state", "absent", ("name_label", "uuid"), True),
                     ("state", "probed", ("type",))],
    )
    # also when the task runs with no_log, which skips the invocation log
    if module.params["device_config"] is None:
        module.params["device_config"] = {}
    module.no_log_values.update(secret_values(module.params["device_config"]))
    run = None
    try:
        with XapiClient.from_module(module) as client:
            run = Run(module, client)
            result, before, after = run_state(run)
    except Unattached as error:
        for warning in run.warnings:
            module.warn(warning)
        module.fail_json(msg=str(error), exception=error, changed=bool(run.done), actions=run.actions, sr=error.sr)
    except XenServerError as error:
        done = run.done if run else []
        module.fail_json(msg=str(error), exception=error, changed=bool(done), actions=done)
    for warning in run.warnings:
        module.warn(warning)
    result.update(changed=bool(run.actions), actions=run.actions)
    if before is not None:  # state probed changes nothing and has no diff
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
