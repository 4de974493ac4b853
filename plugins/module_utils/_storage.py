# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Storage helpers for xs_sr: SR lookup, immutable-property checks, secrets in device_config,
SR.probe output, and plug failures explained in words.

Plain functions over records fetched once ({class: {ref: record}}), unit-testable one by one.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from ansible_collections.xenserver.pools.plugins.module_utils._common import hosts_in_order, master_ref
from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.plugins.module_utils._network import (
    host_ip_list,
    host_name,
    ips_in,
)

# device_config keys holding a password (XAPI turns keys ending in "password" into "<key>_secret").
SECRET_WORD = "password"
SECRET_SUFFIX = "_secret"

# device_config keys a storage type cannot do without (the SM drivers' ConfigXxxMissing errors).
REQUIRED_DEVICE_CONFIG = {
    "nfs": ("server", "serverpath"),
    "lvmoiscsi": ("target", "targetIQN", "SCSIid"),
    "lvmohba": ("SCSIid",),
    "smb": ("server",),
    "iso": ("location",),
    "ext": ("device",),
    "lvm": ("device",),
}
# What SR.probe needs at the least, per type (what it lists when the rest is missing).
REQUIRED_FOR_PROBE = {"nfs": ("server",), "lvmoiscsi": ("target",), "smb": ("server",)}

GIB = 1024 ** 3


# --- device_config and secrets -----------------------------------------------------------

def is_secret_key(key):
    return SECRET_WORD in key.lower()


def secret_values(device_config):
    """The password values of a device_config, for module.no_log_values."""
    return set(str(value) for key, value in (device_config or {}).items() if is_secret_key(key) and value)


def public_config(device_config):
    """device_config without passwords or references to XAPI secrets (for results and diffs)."""
    return dict((key, value) for key, value in (device_config or {}).items()
                if not is_secret_key(key) and not key.endswith(SECRET_SUFFIX) and key != "SRmaster")


def check_device_config(sr_type, device_config, for_probe=False):
    """Required keys per known type; InvalidParameterError names the missing ones."""
    table = REQUIRED_FOR_PROBE if for_probe else REQUIRED_DEVICE_CONFIG
    missing = [key for key in table.get(sr_type, ()) if not (device_config or {}).get(key)]
    if missing:
        raise InvalidParameterError("type %s needs device_config %s%s." % (
            sr_type, " and ".join(missing), " to probe" if for_probe else ""))


def check_sr_type(records, sr_type):
    """The type in lower case, or InvalidParameterError listing the types the pool's SM drivers offer."""
    sr_type = sr_type.lower()
    supported = sorted(set(sm.get("type", "") for sm in records.get("SM", {}).values()))
    if supported and sr_type not in supported:
        raise InvalidParameterError("type %r is not a storage type this pool supports; it supports: %s."
                                    % (sr_type, ", ".join(supported)))
    return sr_type


# --- lookups ------------------------------------------------------------------------------

def sr_label(records, ref):
    sr = records["SR"].get(ref, {})
    return "%r (%s)" % (sr.get("name_label", ""), sr.get("uuid", ref))


def find_sr(records, name_label=None, sr_type=None, uuid=None, host_ref=None):
    """The ref of the SR the options name, or None when there is none.

    By uuid; else by name_label, narrowed to the local SR of host_ref when given, then by type
    when several share the name. An SR found by name whose type differs is returned (the caller
    refuses to change its type) rather than creating a second SR with the same name.
    """
    srs = records["SR"]
    if uuid:
        return next((ref for ref, sr in srs.items() if sr.get("uuid") == uuid), None)
    matches = [ref for ref, sr in srs.items() if sr.get("name_label") == name_label]
    if host_ref:
        matches = [ref for ref in matches if not srs[ref].get("shared")
                   and any(records["PBD"].get(pbd, {}).get("host") == host_ref for pbd in srs[ref].get("PBDs", []))]
    if len(matches) > 1 and sr_type:
        typed = [ref for ref in matches if srs[ref].get("type") == sr_type]
        matches = typed or matches
    if len(matches) > 1:
        raise InvalidParameterError("%d SRs are named %r (uuids %s): give uuid to choose one%s."
                                    % (len(matches), name_label, ", ".join(sorted(srs[ref]["uuid"] for ref in matches)),
                                       "" if host_ref else ", or host for a local SR"))
    return matches[0] if matches else None


def pbds_of(records, sr_ref):
    """{host ref: (PBD ref, PBD record)} of the SR."""
    found = {}
    for pbd_ref in records["SR"][sr_ref].get("PBDs", []):
        pbd = records["PBD"].get(pbd_ref)
        if pbd is not None:
            found[pbd.get("host")] = (pbd_ref, pbd)
    # an SR record's PBDs list may lag behind: also look the other way
    for pbd_ref, pbd in records["PBD"].items():
        if pbd.get("SR") == sr_ref and pbd.get("host") not in found:
            found[pbd.get("host")] = (pbd_ref, pbd)
    return found


def hosts_needing_pbd(records, sr_ref):
    """A shared SR needs a PBD on every host; a local SR only where it has one."""
    if records["SR"][sr_ref].get("shared"):
        return hosts_in_order(records)
    return [host for host in hosts_in_order(records) if host in pbds_of(records, sr_ref)]


def config_for_new_pbd(records, sr_ref):
    """device_config for a PBD on a host that lacks one: a copy of another host's, without the
    master-only key SRmaster (as XAPI does for a joining host); PBD.create duplicates its secrets."""
    pbds = pbds_of(records, sr_ref)
    master = master_ref(records)
    source = pbds.get(master) or next(iter(pbds.values()), None)
    if source is None:
        return None
    return dict((key, value) for key, value in source[1].get("device_config", {}).items() if key != "SRmaster")


def immutable_differences(records, sr_ref, sr_type=None, content_type=None, shared=None, device_config=None):
    """Sentences for each requested property an existing SR cannot change."""
    sr = records["SR"][sr_ref]
    problems = []
    if sr_type and sr.get("type") != sr_type:
        problems.append("its type is %s, not %s" % (sr.get("type"), sr_type))
    if content_type is not None and sr.get("content_type") != content_type:
        problems.append("its content_type is %r, not %r" % (sr.get("content_type"), content_type))
    if shared is not None and bool(sr.get("shared")) != shared:
        problems.append("it is %s, not %s" % ("shared" if sr.get("shared") else "local (not shared)",
                                              "shared" if shared else "local"))
    if device_config:
        pbds = pbds_of(records, sr_ref)
        master = master_ref(records)
        current = (pbds.get(master) or next(iter(pbds.values()), (None, {})))[1].get("device_config", {})
        if pbds:
            for key in sorted(public_config(device_config)):
                if str(device_config[key]) != current.get(key):
                    problems.append("device_config.%s is %r, not %r"
                                    % (key, current.get(key, "(not set)"), str(device_config[key])))
    return problems


# --- VDIs ---------------------------------------------------------------------------------

def vdis_of(records, sr_ref):
    """The SR's managed disks: [{name, uuid, size_gib, vms, in_use}], in_use = attached to a running VM."""
    vdis = []
    vms = records.get("VM", {})
    vbds = records.get("VBD", {})
    for ref, vdi in records.get("VDI", {}).items():
        if vdi.get("SR") != sr_ref or not vdi.get("managed", True) or vdi.get("type") == "rrd":
            continue
        users = [vbd for vbd in vbds.values() if vbd.get("VDI") == ref]
        vm_names = sorted(set(vms.get(vbd.get("VM"), {}).get("name_label", "") for vbd in users))
        in_use = sorted(set(vms.get(vbd.get("VM"), {}).get("name_label", "") for vbd in users
                            if vbd.get("currently_attached")
                            or vms.get(vbd.get("VM"), {}).get("power_state") in ("Running", "Paused")))
        vdis.append(dict(name=vdi.get("name_label", ""), uuid=vdi.get("uuid", ""),
                         size_gib=round(int(vdi.get("virtual_size") or 0) / float(GIB), 2), vms=vm_names,
                         in_use_by=in_use, ref=ref))
    return sorted(vdis, key=lambda vdi: (vdi["name"], vdi["uuid"]))


def describe_vdis(vdis, limit=10):
    shown = ["%s (%s GiB%s)" % (vdi["name"] or vdi["uuid"], vdi["size_gib"],
                                ", VM " + ", ".join(vdi["vms"]) if vdi["vms"] else "") for vdi in vdis[:limit]]
    if len(vdis) > limit:
        shown.append("and %d more" % (len(vdis) - limit))
    return ", ".join(shown)


# --- SR.probe -----------------------------------------------------------------------------

def probe_xml_from_failure(details):
    """SM drivers answer a probe that lacks a parameter (NFS serverpath, iSCSI targetIQN or SCSIid)
    with an SR_BACKEND_FAILURE whose stderr is the XML of what they found, as XenCenter knows."""
    if not details or not str(details[0]).startswith("SR_BACKEND_FAILURE"):
        return None
    for text in details[1:]:
        text = str(text)
        start = text.find("<")
        if start >= 0 and "</" in text:
            return text[start:]
    return None


def parse_probe(text):
    """What SR.probe returned, as data.

    found: one dict per entry (the entry's tag as `kind`, then its child elements by tag);
    plus, when present: exports (NFS: path, target, allowed), sr_uuids (SRs on the storage),
    targets (iSCSI: iqn, address, port, index), luns (iSCSI/HBA: id, scsi_id, size, vendor, serial).
    """
    result = dict(found=[], exports=[], sr_uuids=[], targets=[], luns=[])
    text = (text or "").strip()
    if not text:
        return result
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return result
    for entry in root:
        fields = dict((child.tag, (child.text or "").strip()) for child in entry if len(child) == 0)
        record = dict(kind=entry.tag)
        record.update(fields)
        result["found"].append(record)
        tag = entry.tag.lower()
        lower = dict((key.lower(), value) for key, value in fields.items())
        if tag == "export":
            result["exports"].append(dict(
                path=lower.get("path", ""), target=lower.get("target", ""),
                allowed=[item for item in re.split(r"[\s,]+", lower.get("accesslist", "")) if item]))
        elif tag == "sr" and lower.get("uuid"):
            result["sr_uuids"].append(lower["uuid"])
        elif tag == "tgt":
            result["targets"].append(dict(iqn=lower.get("targetiqn", ""), address=lower.get("ipaddress", ""),
                                          port=lower.get("port", ""), index=lower.get("index", "")))
        elif tag == "lun":
            result["luns"].append(dict(id=lower.get("lunid", ""), scsi_id=lower.get("scsiid", ""),
                                       size=lower.get("size", ""), vendor=lower.get("vendor", ""),
                                       serial=lower.get("serial", "")))
    return result


def export_for(exports, serverpath):
    """The export that serves serverpath (the longest export path that is it or a parent of it)."""
    best = None
    path = (serverpath or "").rstrip("/") or "/"
    for export in exports:
        base = export["path"].rstrip("/") or "/"
        if path == base or path.startswith(base.rstrip("/") + "/"):
            if best is None or len(base) > len(best["path"].rstrip("/")):
                best = export
    return best


def _evaluable(allowed):
    """Whether every entry of an access list is an address or network we can test (not *, names, @groups)."""
    return bool(allowed) and all(re.match(r"^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$", item) for item in allowed)


def hosts_outside_export(records, export, host_refs):
    """[(host ref, its IPs)] of the hosts with no IP the export allows; [] when the list cannot be judged."""
    if export is None or not _evaluable(export["allowed"]):
        return []
    outside = []
    for host_ref in host_refs:
        ips = [ip for _device, ip, _mask in host_ip_list(records, host_ref)]
        if not ips_in(ips, export["allowed"]):
            outside.append((host_ref, ips))
    return outside


# --- plug failures in words ----------------------------------------------------------------

def backend_reason(code, params):
    """The storage backend's own words for an error (SR_BACKEND_FAILURE_<n> [""; reason; stderr])."""
    if code and code.startswith("SR_BACKEND_FAILURE"):
        words = [str(param).strip() for param in params[1:] if str(param).strip() and "<" not in str(param)]
        if words:
            return ": ".join(words)
    return "%s%s" % (code, " %s" % list(params) if params else "")


def subnet_advice(records, sr_type, device_config, exports, host_refs):
    """For NFS: which hosts have no IP in the subnets the export allows, and what to do about it."""
    if sr_type not in ("nfs", "iso") or exports is None:
        return ""
    export = export_for(exports, (device_config or {}).get("serverpath") or (device_config or {}).get("location", ""))
    outside = hosts_outside_export(records, export, host_refs)
    if not outside:
        return ""
    who = ", ".join("%s (%s)" % (host_name(records, ref), ", ".join(ips) or "no IP")
                    for ref, ips in outside)
    one = len(outside) == 1
    server = export["target"] or device_config.get("server", "")
    return ("the NFS export %s:%s allows %s and %s %s no IP in it: give %s a storage IP in that subnet with "
            "xenserver.pools.xs_pif" % (server, export["path"], ", ".join(export["allowed"]), who,
                                        "has" if one else "have", "it" if one else "each of them"))


def explain_unattached(records, sr_ref, failures, sr_type, device_config, exports=None):
    """One sentence: which hosts cannot attach the SR, the backend's reason, and the fix when known.

    failures: {host ref: (code, params)}; hosts with the same reason are named together.
    """
    by_reason = {}
    for host_ref in hosts_in_order(records):
        if host_ref in failures:
            code, params = failures[host_ref]
            by_reason.setdefault(backend_reason(code, params), []).append(host_ref)
    total = len(hosts_needing_pbd(records, sr_ref)) if sr_ref in records["SR"] else len(records["host"])
    parts = ["%s: %s" % (", ".join(host_name(records, ref) for ref in refs), reason)
             for reason, refs in by_reason.items()]
    sentence = "SR %s is not attached on %d of %d host%s (%s)" % (
        sr_label(records, sr_ref) if sr_ref in records["SR"] else "", len(failures), total, "" if total == 1 else "s",
        "; ".join(parts))
    advice = subnet_advice(records, sr_type, device_config, exports, list(failures))
    return sentence + ("; " + advice if advice else "")
