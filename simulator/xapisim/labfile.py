"""Lab files: read, validate and normalize the YAML that describes a simulated lab.

`load(path_or_dict)` returns the normalized lab dict (every default filled in, host_defaults
merged into each host) or raises `LabError` whose `problems` are one line each:
`location: what is wrong; allowed: ...`.  Every problem is collected; no input gives a traceback.
The format is documented field by field in simulator/README.md.
"""
from __future__ import annotations

import copy
import hashlib
import ipaddress
import os
import re

import yaml

from .world import fault_problems

REQUIRED = object()   # a field's default when it must be given
BAD = object()        # what a check returns for an invalid value (the caller uses the default)

NAME = r"[A-Za-z0-9._-]+"
NAME_WHAT = "letters, digits, '.', '_' and '-'"


class LabError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def show(value) -> str:
    """A value as a problem message quotes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return text if len(text) <= 60 else text[:56] + '..."'
    if isinstance(value, (int, float)):
        return repr(value)
    return {list: "a list", dict: "a mapping"}.get(type(value), f"a {type(value).__name__}")


def at(loc: str, key) -> str:
    return f"{loc}[{key}]" if isinstance(key, int) else (f"{loc}.{key}" if loc else str(key))


def one_of(names) -> str:
    names = [n if n else '""' for n in names]
    return "one of " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "none defined"


# -- value tests: return what is wrong, or None ----------------------------------------------
def ipv4(v):
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return "is not an IPv4 address"


def ipv4_or_empty(v):
    return None if v == "" else ipv4(v)


def loopback(v):
    if ipv4(v):
        return ipv4(v)
    if ipaddress.IPv4Address(v) not in ipaddress.IPv4Network("127.0.0.0/8"):
        return "is not a loopback address"
    if v in ("127.0.0.0", "127.255.255.255"):
        return "is the network or broadcast address"
    if v == "127.0.0.1":
        return "is reserved for the control interface"


def netmask(v):
    if v == "":
        return None
    if ipv4(v) is None:
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{v}")
            return None
        except ValueError:
            pass
    return "is not a dotted netmask"


def cidr(v):
    try:
        ipaddress.IPv4Network(v)
    except ValueError as err:
        return f"is not an IPv4 network ({err})"


def dns(v):
    return None if v == "" or all(ipv4(a.strip()) is None for a in v.split(",")) else \
        "is not a comma-separated list of IPv4 addresses"


def mac(v):
    return None if re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", v) else "is not a lower-case MAC address"


# -- field types -----------------------------------------------------------------------------
class Field:
    def __init__(self, default=REQUIRED, null=False, what=None):
        self.default, self.null, self.what = default, null, what

    def allowed(self) -> str:
        return self.what or self.kind

    def make_default(self):
        if self.default is REQUIRED or self.default is None:
            return None
        return self.check(copy.deepcopy(self.default), "default", [])

    def type_error(self, v, loc, out):
        hint = " (quote it)" if isinstance(self, Str) and isinstance(v, (int, float)) else ""
        out.append(f"{loc}: expected {self.kind}, got {show(v)}{hint}; allowed: {self.allowed()}")
        return BAD


class Str(Field):
    kind = "a string"

    def __init__(self, default=REQUIRED, choices=None, pattern=None, test=None, aliases=None,
                 nonempty=False, **kw):
        super().__init__(default, **kw)
        self.choices, self.pattern, self.test = choices, pattern, test
        self.aliases, self.nonempty = aliases or {}, nonempty

    def allowed(self):
        return one_of(self.choices) if self.choices else super().allowed()

    def check(self, v, loc, out):
        if v is None and self.null:
            return None
        if isinstance(v, bool) and v in self.aliases:   # YAML 1.1 reads on/off as booleans
            v = self.aliases[v]
        if not isinstance(v, str):
            return self.type_error(v, loc, out)
        wrong = None
        if self.choices is not None and v not in self.choices:
            wrong = "is not allowed"
        elif self.nonempty and not v:
            wrong = "is empty"
        elif self.pattern and not re.fullmatch(self.pattern, v):
            wrong = "is not valid"
        elif self.test:
            wrong = self.test(v)
        if wrong:
            out.append(f"{loc}: {show(v)} {wrong}; allowed: {self.allowed()}")
            return BAD
        return v


class Num(Field):
    def __init__(self, default=REQUIRED, lo=None, hi=None, integer=False, above=None, **kw):
        super().__init__(default, **kw)
        self.lo, self.hi, self.integer, self.above = lo, hi, integer, above
        self.kind = "an integer" if integer else "a number"

    def allowed(self):
        if self.what:
            return self.what
        name = "integer" if self.integer else "number"
        if self.lo is not None and self.hi is not None:
            return f"{name} {self.lo}..{self.hi}"
        if self.lo is not None:
            return f"{name} >= {self.lo}"
        return f"{name} > {self.above}" if self.above is not None else name

    def check(self, v, loc, out):
        if v is None and self.null:
            return None
        ok = (int,) if self.integer else (int, float)
        if isinstance(v, bool) or not isinstance(v, ok) or v != v:   # v != v: NaN
            return self.type_error(v, loc, out)
        if ((self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi)
                or (self.above is not None and v <= self.above) or v in (float("inf"), float("-inf"))):
            out.append(f"{loc}: {show(v)} is out of range; allowed: {self.allowed()}")
            return BAD
        return v if self.integer else float(v)


def Int(default=REQUIRED, lo=None, hi=None, **kw):
    return Num(default, lo, hi, integer=True, **kw)


class Bool(Field):
    kind = "a boolean"
    what = "true or false"

    def allowed(self):
        return "true or false"

    def check(self, v, loc, out):
        if v is None and self.null:
            return None
        return v if isinstance(v, bool) else self.type_error(v, loc, out)


class List(Field):
    kind = "a list"

    def __init__(self, item, default=REQUIRED, min_len=0, **kw):
        super().__init__(default, **kw)
        self.item, self.min_len = item, min_len

    def allowed(self):
        return self.what or f"a list of {self.item.allowed() if isinstance(self.item, (Str, Num)) else 'entries'}" + \
            (f" (at least {self.min_len})" if self.min_len else "")

    def check(self, v, loc, out):
        if not isinstance(v, list):
            return self.type_error(v, loc, out)
        if len(v) < self.min_len:
            out.append(f"{loc}: has {len(v)} entries; allowed: {self.allowed()}")
        result = []
        for i, item in enumerate(v):
            value = self.item.check(item, at(loc, i), out)
            if value is not BAD:
                result.append(value)
        return result


class Map(Field):
    """A free-form mapping: keys and values checked by type."""
    kind = "a mapping"

    def __init__(self, key, value, default=REQUIRED, **kw):
        super().__init__(default, **kw)
        self.key, self.value = key, value

    def allowed(self):
        return self.what or f"a mapping of {self.key.allowed()} to {self.value.allowed()}"

    def check(self, v, loc, out):
        if not isinstance(v, dict):
            return self.type_error(v, loc, out)
        result = {}
        for k, item in v.items():
            if self.key.check(k, at(loc, str(k)), out) is not BAD:
                value = self.value.check(item, at(loc, k), out)
                if value is not BAD:
                    result[k] = value
        return result


class Rec(Field):
    """A mapping with a fixed set of keys, each with its own type and default."""
    kind = "a mapping"

    def __init__(self, fields: dict, default=None, **kw):
        super().__init__({} if default is None and not kw.get("null") else default, **kw)
        self.fields = fields

    def allowed(self):
        return self.what or "a mapping with keys " + ", ".join(self.fields)

    def check(self, v, loc, out, partial=False):
        if v is None and self.null:
            return None
        if not isinstance(v, dict):
            return self.type_error(v, loc, out)
        for k in v:
            if k not in self.fields:
                out.append(f"{at(loc, str(k))}: unknown key; allowed: {', '.join(sorted(self.fields))}")
        result = {}
        for name, field in self.fields.items():
            here = at(loc, name)
            if name in v:
                value = field.check(v[name], here, out, partial) if isinstance(field, Rec) \
                    else field.check(v[name], here, out)
                if value is BAD and not partial:
                    value = field.make_default()
                if value is not BAD:
                    result[name] = value
            elif partial:
                continue
            elif field.default is REQUIRED:
                out.append(f"{here}: missing; allowed: {field.allowed()}")
                result[name] = None
            else:
                result[name] = field.make_default()
        return result


class Fault(Field):
    """The shape here; the kinds and their keys are checked with the hosts (`_normalize`)."""
    kind = "a mapping"

    def allowed(self):
        return 'a mapping with a "kind" key'

    def check(self, v, loc, out):
        if not isinstance(v, dict):
            return self.type_error(v, loc, out)
        if not isinstance(v.get("kind"), str) or not v["kind"]:
            out.append(f"{at(loc, 'kind')}: missing or not a string; allowed: a fault kind (a string)")
            return BAD
        return v


class Given(Field):
    """A value checked before the table runs (host_defaults)."""
    def check(self, v, loc, out):
        return v


# -- the schema ------------------------------------------------------------------------------
TIMING_DEFAULTS = {
    "api_restart": 10, "auth_failure_delay": 5, "shutdown_delay": 10, "reboot": 240, "boot": 180,
    "migrate_per_gib": 4, "vm_start": 10, "vm_shutdown": 10, "vm_suspend_per_gib": 5,
    "pbd_plug": 2, "eject_reset": 60, "master_transition": 15,
}
GUIDANCES = ["reboot_host", "reboot_host_on_livepatch_failure", "reboot_host_on_kernel_livepatch_failure",
             "reboot_host_on_xen_livepatch_failure", "restart_toolstack", "restart_device_model", "restart_vm"]
MAJOR_MINOR = dict(pattern=r"\d+\.\d+", what='"major.minor" digits, e.g. "2.21"')
DOTTED = dict(pattern=r"\d+(\.\d+)*", what='dotted digits, e.g. "8.4.0"')
FEATURES = "1fcbfbff-f7fa3223-2d93fbff-00000423-00000001-f1bf07ab-00405f4e-00000000-211ffdef-0000000c" \
           + "-00000000" * 8
DEFAULT_NICS = [{"device": "eth0", "management": True}, {"device": "eth1"}, {"device": "eth2"}]
EVERYONE = ["0.0.0.0/0"]

SOFTWARE = Rec({
    "product_brand": Str("XenServer"), "product_version": Str("8.4.0", **DOTTED),
    "platform_name": Str("XCP"), "platform_version": Str("3.4.0", **DOTTED),
    "build_number": Str("8.4.0-xs.1"), "xapi": Str("25.6", **MAJOR_MINOR),
    "git_id": Str("abc1234"), "db_schema": Str("5.786", **MAJOR_MINOR),
    "network_backend": Str("openvswitch", choices=["openvswitch", "bridge"]),
    "api_version": Str("2.21", **MAJOR_MINOR), "linux_pack": Bool(True),
})
CPU = Rec({
    "vendor": Str("GenuineIntel", nonempty=True),
    "modelname": Str("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"),
    "family": Int(6, lo=0), "model": Int(106, lo=0), "stepping": Int(6, lo=0),
    "speed": Num(2000.0, above=0), "count": Int(32, lo=1), "sockets": Int(2, lo=1),
    "flags": Str("fpu de tsc msr pae"),
    "features": Str(FEATURES, pattern=r"[0-9a-f]{8}(-[0-9a-f]{8})*",
                    what="groups of 8 lower-case hex digits joined by '-'"),
})
NIC = Rec({
    "device": Str(REQUIRED, pattern=NAME, what=NAME_WHAT),
    "mac": Str(None, null=True, test=mac),
    "speed": Int(10000, lo=0),
    "management": Bool(None, null=True),
    "mode": Str(None, null=True, choices=["static", "dhcp", "none"]),
    "ip": Str(None, null=True, test=ipv4, what="an IPv4 address or null"),
    "netmask": Str(None, null=True, test=netmask, what='a dotted netmask, e.g. 255.255.255.0, or ""'),
    "gateway": Str("", test=ipv4_or_empty, what='an IPv4 address or ""'),
    "dns": Str("", test=dns, what='comma-separated IPv4 addresses or ""'),
    "purpose": Str(""),
    "disallow_unplug": Bool(False),
    "wake_on_lan": Bool(True),
})
BOND = Rec({
    "devices": List(Str(REQUIRED, pattern=NAME, what="a NIC device"), REQUIRED, min_len=2),
    "mode": Str("balance-slb", choices=["balance-slb", "active-backup", "lacp"]),
    "network": Str(None, null=True, nonempty=True),
})
VLAN = Rec({
    "device": Str(REQUIRED, pattern=NAME, what="a NIC device"),
    "tag": Int(REQUIRED, 0, 4094),
    "network": Str(None, null=True, nonempty=True),
})
LOCAL_SR = Rec({
    "name": Str(REQUIRED, nonempty=True), "type": Str("ext", choices=["ext", "lvm"]),
    "size_gib": Num(500, above=0),
})
SHARED_SR = Rec({
    "name": Str(REQUIRED, nonempty=True), "type": Str("nfs", choices=["nfs", "iscsi", "smb"]),
    "storage": Str(""), "path": Str(""), "target": Str(""), "lun": Int(None, lo=0, null=True),
    "share": Str(""), "size_gib": Num(None, above=0, null=True),
})
VM = Rec({
    "name": Str(REQUIRED, nonempty=True),
    "power_state": Str(REQUIRED, choices=["running", "halted", "suspended", "paused"]),
    "memory_gib": Num(4, above=0), "vcpus": Int(2, lo=1),
    "disks": List(Rec({"sr": Str(REQUIRED, nonempty=True), "size_gib": Num(20, above=0)}), []),
    "passthrough": Str("none", choices=["none", "pci", "vgpu"]),
    "current_operations": Bool(False), "auto_poweron": Bool(False),
    "ha_restart_priority": Str("", choices=["", "restart", "best-effort"]),
})
POWER_ON = Rec({
    "mode": Str("", pattern=r"|" + NAME, what='"", wake-on-lan, IPMI, DRAC, iLO or a plugin name'),
    "config": Map(Str(), Str(), {}),
    "bmc": Rec({"ip": Str(REQUIRED, test=ipv4, what="an IPv4 address"), "user": Str(REQUIRED),
                "password": Str(REQUIRED)}, default=None, null=True),
    "plugins": List(Str(REQUIRED, pattern=NAME, what=NAME_WHAT), []),
})
HOST = Rec({
    "name": Str(REQUIRED, pattern=NAME, what=NAME_WHAT),
    "address": Str(REQUIRED, test=loopback, what="127.0.0.0/8 except 127.0.0.1"),
    "username": Str("root", nonempty=True),
    "password": Str(REQUIRED, nonempty=True),
    "uuid": Str(None, null=True, pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                what="a lower-case uuid or null"),
    "power": Str("on", choices=["on", "off"], aliases={True: "on", False: "off"}),
    "clock_offset": Num(0),
    "memory_gib": Num(256, above=0),
    "dom0_memory_gib": Num(4, lo=0),
    "software": SOFTWARE,
    "supplemental_packs": Map(Str(pattern=r"[^:\s]+:[^:\s]+", what='"originator:name"'), Str(), {}),
    "updates": List(Str(REQUIRED, nonempty=True), []),
    "updates_requiring_reboot": List(Str(REQUIRED, nonempty=True), []),
    "pending_guidances": List(Str(REQUIRED, choices=GUIDANCES), []),
    "edition": Str("standard", nonempty=True),
    "editions_available": List(Str(REQUIRED, nonempty=True), ["trial", "standard", "premier"], min_len=1),
    "license_server": Rec({"address": Str(""), "port": Int(27000, 1, 65535)}),
    "pooling_licensed": Bool(True),
    "pool_size_restricted": Bool(False),
    "cpu": CPU,
    "external_auth": Rec({"type": Str(""), "service_name": Str("")}),
    "ha_enabled": Bool(False),
    "clustering": Bool(False),
    "tls_verification": Bool(True),
    "ssl_legacy": Bool(False),
    "tunnels": Int(0, lo=0),
    "network_sriovs": Int(0, lo=0),
    "nics": List(NIC, DEFAULT_NICS, min_len=1),
    "management_vlan": Int(-1, -1, 4094, what="-1 (untagged) or a tag 0..4094"),
    "bonds": List(BOND, []),
    "vlans": List(VLAN, []),
    "local_srs": List(LOCAL_SR, [{"name": "Local storage", "type": "ext", "size_gib": 500}]),
    "shared_srs": List(SHARED_SR, []),
    "vms": List(VM, []),
    "power_on": POWER_ON,
})
CIDRS = List(Str(REQUIRED, test=cidr, what="an IPv4 network, e.g. 172.16.0.32/28"), EVERYONE)
STORAGE = Rec({
    "name": Str(REQUIRED, pattern=NAME, what=NAME_WHAT),
    "type": Str(REQUIRED, choices=["nfs", "iscsi", "smb"]),
    "address": Str(REQUIRED, test=ipv4, what="an IPv4 address"),
    "up": Bool(True),
    "exports": List(Rec({"path": Str(REQUIRED, pattern=r"/\S*", what="an absolute path"),
                         "allowed": CIDRS, "size_gib": Num(1024, above=0)}), []),
    "targets": List(Rec({
        "iqn": Str(REQUIRED, pattern=r"iqn\.\d{4}-\d{2}\.[^\s:]+(:\S+)?", what="an iSCSI IQN"),
        "allowed": CIDRS,
        "chap": Rec({"user": Str(REQUIRED), "password": Str(REQUIRED)}, default=None, null=True),
        "luns": List(Rec({"id": Int(REQUIRED, lo=0), "size_gib": Num(1024, above=0),
                          "scsi_id": Str(None, null=True, pattern=r"[0-9a-f]+", what="hex digits")}),
                     [{"id": 0}], min_len=1),
    }), []),
    "shares": List(Rec({"name": Str(REQUIRED, nonempty=True), "allowed": CIDRS, "user": Str(""),
                        "password": Str(""), "size_gib": Num(1024, above=0)}), []),
})
POOL = Rec({
    "name": Str(REQUIRED, nonempty=True),
    "description": Str(""),
    "master": Str(REQUIRED, nonempty=True),
    "members": List(Str(REQUIRED, nonempty=True), []),
    "shared_srs": List(SHARED_SR, []),
    "default_sr": Str(""),
    "ha": Rec({"enabled": Bool(False), "host_failures_to_tolerate": Int(1, lo=0),
               "heartbeat_srs": List(Str(REQUIRED, nonempty=True), []), "timeout": Num(60, above=0)}),
    "other_config": Map(Str(), Str(), {}),
    "tags": List(Str(REQUIRED), []),
})
LAB = Rec({
    "name": Str(REQUIRED, nonempty=True),
    "description": Str(""),
    "time_scale": Num(0.05, above=0),
    "latency_ms": Num(0, lo=0),
    "port": Int(0, 0, 65535),
    "tls": Bool(True),
    "timings": Rec({k: Num(v, lo=0) for k, v in TIMING_DEFAULTS.items()}),
    "session_limits": Rec({"per_originator": Int(500, lo=1), "per_user": Int(500, lo=1),
                           "external": Int(400, lo=1)}),
    "host_defaults": Given({}),
    "hosts": List(HOST, REQUIRED, min_len=1),
    "storage": List(STORAGE, []),
    "pools": List(POOL, []),
    "faults": List(Fault(), []),
})
NOT_DEFAULTABLE = ("name", "address", "uuid")


# -- reading ---------------------------------------------------------------------------------
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'duplicate key "{key_node.value}"', key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _read(path, out):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        out.append(f"{path}: cannot read the file ({getattr(err, 'strerror', None) or err}); "
                   "allowed: a readable UTF-8 YAML file")
        return BAD
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        out.append(f"{where}: invalid YAML: {err.problem or err.context}; allowed: YAML syntax")
    except (yaml.YAMLError, ValueError) as err:   # ValueError: e.g. an impossible timestamp
        out.append(f"{path}: invalid YAML: {err}; allowed: YAML syntax")
    return BAD


def load(source) -> dict:
    """The normalized lab dict from a YAML file path or a dict; LabError lists every problem."""
    problems: list[str] = []
    try:
        if isinstance(source, (str, os.PathLike)):
            raw = _read(source, problems)
        else:
            raw = copy.deepcopy(source)
        lab = _normalize(raw, problems) if raw is not BAD else None
    except Exception as err:   # a validator bug must still not become a traceback
        problems.append(f"lab: the validator failed ({type(err).__name__}: {err}); allowed: report this")
    if problems:
        raise LabError(problems)
    return lab


# -- normalizing -----------------------------------------------------------------------------
def _merge(base, over):
    """Deep merge for mappings: `over` wins; lists and scalars are replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for k, v in over.items():
            merged[k] = _merge(base[k], v) if k in base else v
        return merged
    return copy.deepcopy(over)


def _normalize(raw, out):
    if not isinstance(raw, dict):
        out.append(f"lab: expected a mapping, got {show(raw)}; allowed: a mapping with keys "
                   + ", ".join(LAB.fields))
        return None
    # host_defaults is checked once, on its own; only its valid values are merged into the hosts
    defaults = HOST.check(raw.get("host_defaults", {}), "host_defaults", out, partial=True)
    defaults = {} if defaults is BAD else defaults
    for key in NOT_DEFAULTABLE:
        if defaults.pop(key, None) is not None:
            out.append(f"host_defaults.{key}: must differ per host; allowed: any other host key")
    data = dict(raw, host_defaults=defaults)
    if isinstance(raw.get("hosts"), list):
        data["hosts"] = [_merge(defaults, h) if isinstance(h, dict) else h for h in raw["hosts"]]
    lab = LAB.check(data, "", out)
    if lab is BAD:
        return None
    hosts = lab["hosts"] or []
    storage = {s["name"]: s for s in lab["storage"]}
    _unique(lab["hosts"] or [], "hosts", "name", out)
    _unique(lab["hosts"] or [], "hosts", "address", out)
    _unique(lab["storage"], "storage", "name", out)
    _unique(lab["storage"], "storage", "address", out)
    for i, s in enumerate(lab["storage"]):
        _storage(s, f"storage[{i}]", out)
    for i, h in enumerate(hosts):
        _host(h, f"hosts[{i}]", out)
    _addresses(lab, out)
    pool_of = _pools(lab, storage, out)
    for i, h in enumerate(hosts):
        if h["name"] not in pool_of:
            for k, sr in enumerate(h["shared_srs"]):
                _shared_sr(sr, f"hosts[{i}].shared_srs[{k}]", storage, out, need_storage=False)
    _vms(lab, pool_of, out)
    # the same rules as POST /faults on the control interface
    out.extend(fault_problems(lab["faults"], {h["name"] for h in hosts}, set(storage)))
    return lab


def _reported(out, loc) -> bool:
    """A problem at `loc` is already reported (its value was replaced by the default)."""
    return any(p.startswith(loc + ": ") for p in out)


def _unique(entries, loc, key, out, what=None):
    seen = {}
    for i, e in enumerate(entries):
        value = e.get(key)
        if value is None:
            continue
        if value in seen:
            out.append(f"{loc}[{i}].{key}: {show(value)} is already used by {loc}[{seen[value]}]; "
                       f"allowed: a unique {what or key}")
        else:
            seen[value] = i
    return seen


def _storage(s, loc, out):
    kinds = {"nfs": "exports", "iscsi": "targets", "smb": "shares"}
    for kind, key in kinds.items():
        if s[key] and s["type"] != kind:
            out.append(f"{loc}.{key}: only for type {kind}; allowed: {kinds.get(s['type'], 'nothing')}")
    _unique(s["exports"], f"{loc}.exports", "path", out)
    _unique(s["targets"], f"{loc}.targets", "iqn", out)
    _unique(s["shares"], f"{loc}.shares", "name", out)
    for t, target in enumerate(s["targets"]):
        _unique(target["luns"], f"{loc}.targets[{t}].luns", "id", out)
        for lun in target["luns"]:
            if lun["scsi_id"] is None:
                seed = f"{s['name']}/{target['iqn']}/{lun['id']}".encode()
                lun["scsi_id"] = "36001405" + hashlib.sha1(seed).hexdigest()[:24]


def _host(h, loc, out):
    nics = h["nics"]
    _unique(nics, f"{loc}.nics", "device", out)
    devices = {n["device"] for n in nics if n["device"]}
    chosen = [i for i, n in enumerate(nics) if n["management"]]
    if not chosen and nics:
        nics[0]["management"] = True
    for i in chosen[1:]:
        out.append(f"{loc}.nics[{i}].management: nics[{chosen[0]}] is already the management NIC; "
                   "allowed: true on exactly one NIC")
    for i, n in enumerate(nics):
        _nic(h, n, f"{loc}.nics[{i}]", out)

    bonded = {}
    for b, bond in enumerate(h["bonds"]):
        for d, dev in enumerate(bond["devices"] or []):
            where = f"{loc}.bonds[{b}].devices[{d}]"
            if dev not in devices:
                out.append(f"{where}: {show(dev)} is not a NIC of this host; allowed: {one_of(sorted(devices))}")
            elif dev in bonded:
                out.append(f"{where}: {show(dev)} is already in bonds[{bonded[dev]}]; allowed: a NIC in no other bond")
            bonded[dev] = b
        if bond["network"] is None:
            bond["network"] = "Bond " + "+".join(re.sub(r"^\D+", "", d) or d for d in bond["devices"] or [])
        if bond["mode"] == "lacp" and h["software"]["network_backend"] != "openvswitch":
            out.append(f"{loc}.bonds[{b}].mode: lacp needs the openvswitch network backend; "
                       "allowed: balance-slb, active-backup")
    tags = set()
    for v, vlan in enumerate(h["vlans"]):
        if vlan["device"] and vlan["device"] not in devices:
            out.append(f"{loc}.vlans[{v}].device: {show(vlan['device'])} is not a NIC of this host; "
                       f"allowed: {one_of(sorted(devices))}")
        if (vlan["device"], vlan["tag"]) in tags:
            out.append(f"{loc}.vlans[{v}].tag: {vlan['tag']} is already on {vlan['device']}; "
                       "allowed: one VLAN per device and tag")
        tags.add((vlan["device"], vlan["tag"]))
        if vlan["network"] is None and vlan["tag"] is not None:
            vlan["network"] = f"VLAN {vlan['tag']}"

    _unique(h["local_srs"], f"{loc}.local_srs", "name", out, "SR name")
    local = {sr["name"] for sr in h["local_srs"] if sr["name"]}
    for k, sr in enumerate(h["shared_srs"]):
        if sr["name"] in local:
            out.append(f"{loc}.shared_srs[{k}].name: {show(sr['name'])} is already a local SR of this host; "
                       "allowed: a unique SR name")
    _unique(h["shared_srs"], f"{loc}.shared_srs", "name", out, "SR name")

    if h["edition"] is not None and h["edition"] not in h["editions_available"]:
        out.append(f"{loc}.edition: {show(h['edition'])} is not in editions_available; "
                   f"allowed: {one_of(h['editions_available'])}")
    for k, update in enumerate(h["updates_requiring_reboot"]):
        if update not in h["updates"]:
            out.append(f"{loc}.updates_requiring_reboot[{k}]: {show(update)} is not in updates; "
                       f"allowed: {one_of(h['updates'])}")
    auth = h["external_auth"]
    if bool(auth["type"]) != bool(auth["service_name"]):
        out.append(f"{loc}.external_auth: type and service_name must be set together; "
                   'allowed: both "" or both set, e.g. {type: AD, service_name: corp.example.com}')
    if h["dom0_memory_gib"] is not None and h["memory_gib"] is not None \
            and h["dom0_memory_gib"] >= h["memory_gib"]:
        out.append(f"{loc}.dom0_memory_gib: {show(h['dom0_memory_gib'])} is not below memory_gib "
                   f"{show(h['memory_gib'])}; allowed: less than memory_gib")


def _nic(h, n, loc, out):
    m = n["management"] = bool(n["management"])
    if n["mode"] is None:
        n["mode"] = "static" if m else "none"
    if n["ip"] is None and m and n["mode"] != "none":
        n["ip"] = h["address"]
    if n["netmask"] is None:
        n["netmask"] = "255.0.0.0" if m else ""
    if n["mac"] is None:
        digest = hashlib.sha1(f"{h['name']}/{n['device']}".encode()).hexdigest()
        n["mac"] = "02:" + ":".join(digest[i:i + 2] for i in range(0, 10, 2))
    if m and n["mode"] == "none":
        out.append(f"{loc}.mode: the management NIC needs an IP; allowed: static, dhcp")
    elif n["mode"] == "static":
        for key in ("ip", "netmask"):
            if not n[key] and not _reported(out, f"{loc}.{key}") and not (m and h["address"] is None):
                out.append(f"{loc}.{key}: missing for mode static; allowed: {NIC.fields[key].allowed()}")
    elif n["mode"] == "none":
        for key in ("ip", "netmask", "gateway", "dns"):
            if n[key]:
                out.append(f"{loc}.{key}: set but mode is none; allowed: mode static or dhcp, or no {key}")


def _addresses(lab, out):
    """Simulated IPv4 addresses are unique across NICs of all hosts and storage servers."""
    seen = {h["address"]: f"hosts[{i}].address" for i, h in enumerate(lab["hosts"] or []) if h["address"]}
    for i, h in enumerate(lab["hosts"] or []):
        for k, n in enumerate(h["nics"]):
            if n["ip"] and n["ip"] != h["address"]:
                where = f"hosts[{i}].nics[{k}].ip"
                if n["ip"] in seen:
                    out.append(f"{where}: {show(n['ip'])} is already used by {seen[n['ip']]}; "
                               "allowed: an address no other NIC or storage server has")
                seen.setdefault(n["ip"], where)
    for i, s in enumerate(lab["storage"]):
        if s["address"] in seen:
            out.append(f"storage[{i}].address: {show(s['address'])} is already used by {seen[s['address']]}; "
                       "allowed: an address no NIC has")


def _pools(lab, storage, out) -> dict:
    """Checks pools; returns host name -> index of its pool."""
    hosts = {h["name"]: h for h in lab["hosts"] or [] if h["name"]}
    names = list(hosts)
    pool_of: dict[str, int] = {}
    _unique(lab["pools"], "pools", "name", out)
    for j, p in enumerate(lab["pools"]):
        loc = f"pools[{j}]"
        candidates = [(f"{loc}.master", p["master"])] + \
                     [(f"{loc}.members[{k}]", m) for k, m in enumerate(p["members"])]
        mine = []
        for where, name in candidates:
            if name is None:
                continue
            if name not in hosts:
                out.append(f"{where}: {show(name)} is not a host of this lab; allowed: {one_of(names)}")
            elif name == p["master"] and where != f"{loc}.master":
                out.append(f"{where}: {show(name)} is the master of this pool; allowed: hosts other than the master")
            elif name in mine:
                out.append(f"{where}: {show(name)} is listed twice; allowed: each host once")
            elif name in pool_of:
                out.append(f"{where}: {show(name)} is already in pools[{pool_of[name]}]; "
                           "allowed: each host in at most one pool")
            else:
                mine.append(name)
                pool_of[name] = j
        for name in mine:
            i = names.index(name)
            if hosts[name]["ha_enabled"]:
                out.append(f"hosts[{i}].ha_enabled: only for standalone hosts; allowed: false (use {loc}.ha)")
            if hosts[name]["shared_srs"]:
                out.append(f"hosts[{i}].shared_srs: only for standalone hosts; allowed: [] (use {loc}.shared_srs)")
        local = {sr["name"] for name in mine for sr in hosts[name]["local_srs"] if sr["name"]}
        _unique(p["shared_srs"], f"{loc}.shared_srs", "name", out, "SR name")
        for k, sr in enumerate(p["shared_srs"]):
            if sr["name"] in local:
                out.append(f"{loc}.shared_srs[{k}].name: {show(sr['name'])} is already a local SR of a pool host; "
                           "allowed: a unique SR name")
            _shared_sr(sr, f"{loc}.shared_srs[{k}]", storage, out, need_storage=True)
        shared = [sr["name"] for sr in p["shared_srs"] if sr["name"]]
        allowed_default = shared + (sorted(local) if len(mine) == 1 else [])
        if p["default_sr"] and p["default_sr"] not in allowed_default:
            out.append(f"{loc}.default_sr: {show(p['default_sr'])} is not an SR of this pool; "
                       f"allowed: {one_of([''] + allowed_default)}")
        ha = p["ha"]
        for k, name in enumerate(ha["heartbeat_srs"]):
            if name not in shared:
                out.append(f"{loc}.ha.heartbeat_srs[{k}]: {show(name)} is not a shared SR of this pool; "
                           f"allowed: {one_of(shared)}")
        if ha["enabled"]:
            if not shared:
                out.append(f"{loc}.ha.enabled: HA needs a shared SR for its heartbeat; "
                           f"allowed: false, or add {loc}.shared_srs")
            elif not ha["heartbeat_srs"]:
                ha["heartbeat_srs"] = shared[:1]
            if ha["host_failures_to_tolerate"] is not None and ha["host_failures_to_tolerate"] > len(mine) - 1:
                out.append(f"{loc}.ha.host_failures_to_tolerate: {ha['host_failures_to_tolerate']} is more than "
                           f"the pool's hosts minus one; allowed: integer 0..{max(len(mine) - 1, 0)}")
    return pool_of


def _shared_sr(sr, loc, storage, out, need_storage):
    kind = sr["type"]
    needs = {"nfs": ["path"], "iscsi": ["target", "lun"], "smb": ["share"]}.get(kind, [])
    for key in ("path", "target", "lun", "share"):
        if key not in needs and sr[key] not in ("", None):
            out.append(f"{loc}.{key}: not for type {kind}; allowed: {', '.join(['name', 'type', 'storage', 'size_gib'] + needs)}")
    if not sr["storage"]:
        if need_storage:
            out.append(f"{loc}.storage: missing; allowed: {one_of(list(storage))}")
        sr["size_gib"] = sr["size_gib"] or 1024.0
        return
    server = storage.get(sr["storage"])
    size = None
    if server is None:
        out.append(f"{loc}.storage: {show(sr['storage'])} is not a storage server of this lab; "
                   f"allowed: {one_of(list(storage))}")
    elif server["type"] != kind:
        out.append(f"{loc}.storage: {show(sr['storage'])} is an {server['type']} server; "
                   f"allowed: {one_of([s for s in storage if storage[s]['type'] == kind])}")
    elif kind == "nfs":
        exports = {e["path"]: e for e in server["exports"]}
        if sr["path"] not in exports:
            out.append(f"{loc}.path: {show(sr['path'])} is not exported by {sr['storage']}; "
                       f"allowed: {one_of(list(exports))}")
        else:
            size = exports[sr["path"]]["size_gib"]
    elif kind == "iscsi":
        targets = {t["iqn"]: t for t in server["targets"]}
        if sr["target"] not in targets:
            out.append(f"{loc}.target: {show(sr['target'])} is not a target of {sr['storage']}; "
                       f"allowed: {one_of(list(targets))}")
        else:
            luns = {lun["id"]: lun for lun in targets[sr["target"]]["luns"]}
            if sr["lun"] not in luns:
                out.append(f"{loc}.lun: {show(sr['lun'])} is not a LUN of {sr['target']}; "
                           f"allowed: {one_of([str(i) for i in luns])}")
            else:
                size = luns[sr["lun"]]["size_gib"]
    elif kind == "smb":
        shares = {s["name"]: s for s in server["shares"]}
        if sr["share"] not in shares:
            out.append(f"{loc}.share: {show(sr['share'])} is not a share of {sr['storage']}; "
                       f"allowed: {one_of(list(shares))}")
        else:
            size = shares[sr["share"]]["size_gib"]
    sr["size_gib"] = sr["size_gib"] or size or 1024.0


def _vms(lab, pool_of, out):
    """VM names, the SRs their disks name, SR capacity and host memory."""
    hosts = lab["hosts"] or []
    names: dict[object, dict] = {}    # scope (pool index or host index) -> VM name -> location
    used: dict[tuple, float] = {}     # SR key -> GiB of disks
    sizes: dict[tuple, tuple] = {}    # SR key -> (size, location)
    for j, p in enumerate(lab["pools"]):
        for k, sr in enumerate(p["shared_srs"]):
            sizes[("pool", j, sr["name"])] = (sr["size_gib"], f"pools[{j}].shared_srs[{k}]")
    for i, h in enumerate(hosts):
        loc = f"hosts[{i}]"
        j = pool_of.get(h["name"])
        srs = {}
        for kind in ("local_srs", "shared_srs"):
            for k, sr in enumerate(h[kind]):
                if sr["name"]:
                    srs[sr["name"]] = ("host", i, sr["name"])
                    sizes[srs[sr["name"]]] = (sr["size_gib"], f"{loc}.{kind}[{k}]")
        if j is not None:
            srs.update({sr["name"]: ("pool", j, sr["name"]) for sr in lab["pools"][j]["shared_srs"] if sr["name"]})
        scope = names.setdefault(("pool", j) if j is not None else ("host", i), {})
        resident = 0.0
        for v, vm in enumerate(h["vms"]):
            where = f"{loc}.vms[{v}]"
            if vm["name"] is not None and vm["name"] in scope:
                out.append(f"{where}.name: {show(vm['name'])} is already used by {scope[vm['name']]}; "
                           "allowed: a VM name unique in its pool")
            scope.setdefault(vm["name"], where)
            for d, disk in enumerate(vm["disks"]):
                if disk["sr"] is None:
                    continue
                if disk["sr"] not in srs:
                    out.append(f"{where}.disks[{d}].sr: {show(disk['sr'])} is not an SR this host can use; "
                               f"allowed: {one_of(sorted(srs))}")
                elif disk["size_gib"] is not None:
                    used[srs[disk["sr"]]] = used.get(srs[disk["sr"]], 0.0) + disk["size_gib"]
            if vm["power_state"] in ("running", "paused"):
                if h["power"] == "off":
                    out.append(f"{where}.power_state: {vm['power_state']} on a host whose power is off; "
                               "allowed: halted, suspended")
                resident += vm["memory_gib"] or 0.0
        if h["memory_gib"] is not None and h["dom0_memory_gib"] is not None \
                and resident + h["dom0_memory_gib"] > h["memory_gib"]:
            out.append(f"{loc}.vms: running and paused VMs need {resident:g} GiB + dom0 {h['dom0_memory_gib']:g} GiB, "
                       f"more than memory_gib {h['memory_gib']:g}; allowed: at most "
                       f"{h['memory_gib'] - h['dom0_memory_gib']:g} GiB of running and paused VMs")
    for key, total in used.items():
        size, where = sizes[key]
        if size is not None and total > size:
            out.append(f"{where}.size_gib: {size:g} GiB is less than the {total:g} GiB of VM disks on it; "
                       f"allowed: at least {total:g}")
