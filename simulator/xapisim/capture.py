"""`xapisim capture`: read a real pool once, read-only, and write it as a lab file (a "twin").

Reading (`read_pool`) makes only these calls, through the official XenAPI package:
`session.login_with_password`, one `<class>.get_all_records` per class in CLASSES (the optional
ones may be unknown to older hosts), `host.get_servertime` per live host, `session.logout`.
It never calls `secret.get_value`, and never writes a password or a `*_secret` value.

Writing (`build_twin`) is a pure function of what was read: hosts get new loopback addresses
(a twin runs locally; the real ones go into the header comment), the twin's own generated
password, the pool's NICs, bonds, VLANs, SRs, VMs and HA settings, and storage servers derived
from the shared SRs' device_config.  A storage server allows exactly the subnets (or, where a
subnet also holds a host that is not attached, the addresses) that attached hosts reach it
from in the twin, so attachment per host is the same in the twin.  `--anonymize` (see
anonymize.py) then renames and readdresses everything.
"""
from __future__ import annotations

import datetime
import getpass
import ipaddress
import os
import re
import secrets
import ssl
import sys
import time
import xmlrpc.client
from urllib.parse import urlsplit, urlunsplit

import yaml

from . import labfile

ORIGINATOR = "xapisim-capture"
GIB = 1 << 30
NULL_REF = "OpaqueRef:NULL"
# one bulk read per class; the optional ones are tolerated when a host does not know them
CLASSES = ("pool", "host", "host_metrics", "host_cpu", "PIF", "PIF_metrics", "network", "Bond", "VLAN", "SR",
           "PBD", "VDI", "VBD", "VM", "VM_metrics", "pool_update", "tunnel", "network_sriov", "PCI", "VGPU")
OPTIONAL_CLASSES = ("host_cpu", "pool_update", "tunnel", "network_sriov", "PCI", "VGPU")
# configuration keys that hold or name a secret are never written
SECRET_WORDS = ("password", "secret", "passwd", "token", "credential")
FIRST_ADDRESS = "127.0.9.1"       # the example labs use 127.0.0.x, 127.0.1.x and 127.0.2.x
SYNTHETIC_STORAGE = "198.18.0.0/15"   # storage addresses for servers named by DNS name
BUILTIN_POWER_ON = ("", "wake-on-lan", "IPMI", "DRAC", "iLO")
# XAPI SR type -> the lab's shared SR type; other shared types are approximated as iSCSI LUNs
SHARED_TYPES = {"nfs": "nfs", "lvmoiscsi": "iscsi", "iscsi": "iscsi", "smb": "smb", "cifs": "smb"}


class CaptureError(Exception):
    """One sentence for the user; the command prints it and exits 1."""


# -- connecting (the collection's connection semantics) --------------------------------------
def normalize_url(url: str) -> str:
    """https:// when no scheme is given; the port is kept; only scheme, host and port."""
    text = (url or "").strip()
    if not text:
        raise CaptureError("--url is empty: give the pool master's address")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
        raise CaptureError(f"--url {url!r} is not a host address: give a name or IP, optionally with "
                           "scheme and port (https://xs1.example.com:443)")
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def replace_host(url: str, address: str) -> str:
    """The same URL, scheme and port kept, at another address (the pool master)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, host if parts.port is None else f"{host}:{parts.port}", "/", "", ""))


class _Transport(xmlrpc.client.SafeTransport):
    """HTTPS with the given SSL context, or plain HTTP for an http:// URL."""

    def __init__(self, context, https: bool, timeout: float):
        super().__init__(context=context)
        self.https, self.timeout = https, timeout

    def make_connection(self, host):
        if self.https:
            connection = super().make_connection(host)
        else:
            connection = xmlrpc.client.Transport.make_connection(self, host)
        connection.timeout = self.timeout
        return connection


def ssl_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError) as err:
        raise CaptureError(f"--ca-path {ca_path} cannot be used as a CA bundle ({err})") from None


def login(url: str, username: str, password: str, context, timeout: float = 60.0):
    """(a logged-in XenAPI.Session to the pool master, its URL), following HOST_IS_SLAVE once."""
    try:
        import XenAPI
    except ImportError:
        raise CaptureError("the XenAPI package is needed to talk to a pool: pip install XenAPI") from None
    first = url
    for attempt in (1, 2):
        session = XenAPI.Session(url, transport=_Transport(context, url.startswith("https:"), timeout))
        try:
            session.xenapi.login_with_password(username, password, "1.0", ORIGINATOR)
            return session, url
        except XenAPI.Failure as failure:
            details = list(failure.details)
            if details[:1] == ["HOST_IS_SLAVE"] and len(details) > 1 and attempt == 1:
                url = replace_host(url, details[1])
                continue
            if details[:1] == ["SESSION_AUTHENTICATION_FAILED"]:
                raise CaptureError(f"login to {url} as {username!r} failed: wrong user name or password "
                                   "(SESSION_AUTHENTICATION_FAILED)") from None
            if details[:1] == ["HOST_IS_SLAVE"]:
                raise CaptureError(f"{first} named {url} as the pool master, but it is a pool member too "
                                   f"({details}); the pool may be changing master: retry later") from None
            raise CaptureError(f"login to {url} failed: {details}") from None
        except ssl.SSLCertVerificationError as err:
            raise CaptureError(f"login to {url} failed: the TLS certificate could not be verified "
                               f"({err.verify_message}); give --ca-path with the CA that signed it, or "
                               "--no-validate-certs on a lab network only") from None
        except (OSError, xmlrpc.client.ProtocolError) as err:
            raise CaptureError(f"login to {url} failed: {getattr(err, 'strerror', None) or err}") from None
    raise AssertionError("unreachable")


# -- reading ---------------------------------------------------------------------------------
def read_pool(session) -> dict:
    """{"records": {class: {ref: record}}, "clock": {host ref: seconds ahead of this machine},
    "url": the master's URL}; read calls only."""
    import XenAPI
    records = {}
    for cls in CLASSES:
        try:
            records[cls] = getattr(session.xenapi, cls).get_all_records()
        except XenAPI.Failure as failure:
            if cls in OPTIONAL_CLASSES and list(failure.details)[:1] == ["MESSAGE_METHOD_UNKNOWN"]:
                records[cls] = {}
            else:
                raise CaptureError(f"reading {cls} records failed: {list(failure.details)}") from None
    clock = {}
    for ref, host in records["host"].items():
        if not records["host_metrics"].get(host["metrics"], {}).get("live", False):
            continue   # a host that is down cannot tell its time
        before = time.time()
        try:
            value = session.xenapi.host.get_servertime(ref)
        except XenAPI.Failure:
            continue
        after = time.time()
        server = datetime.datetime.strptime(str(value).rstrip("Z"), "%Y%m%dT%H:%M:%S")
        server = server.replace(tzinfo=datetime.timezone.utc).timestamp() + 0.5   # the second it names, midway
        clock[ref] = round(server - (before + after) / 2)
    return {"records": records, "clock": clock}


# -- helpers for building ----------------------------------------------------------------------
def _int(value, default=0) -> int:
    """XAPI sends 64-bit ints as strings over XML-RPC."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _gib(n_bytes) -> int | float:
    """Bytes as GiB, exactly (dividing by a power of two loses nothing), as an int when whole."""
    value = _int(n_bytes) / GIB
    return int(value) if value.is_integer() else value


def _secret_key(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_WORDS)


def _valid(field, value):
    """The value when the lab file schema accepts it, else None (the lab's default then applies)."""
    problems: list[str] = []
    checked = field.check(value, "", problems)
    return None if problems or checked is labfile.BAD else checked


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    taken.add(candidate)
    return candidate


def _host_name(label: str, taken: set) -> str:
    """Host names in a lab file: letters, digits, '.', '_' and '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "host"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _is_ipv4(text) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except (ipaddress.AddressValueError, ValueError):
        return False


def route_source(nics: list[dict], server: str) -> str | None:
    """The twin's address a host reaches `server` from: what xapisim's storage.source_address
    computes for these NICs (the most specific subnet holding the server, else the default
    route: a NIC with a gateway, the management one first, else the management NIC)."""
    with_ip = [n for n in nics if n.get("ip") and n.get("mode") != "none"]
    target = ipaddress.IPv4Address(server)
    connected = []
    for n in with_ip:
        if n.get("netmask"):
            subnet = ipaddress.IPv4Network(f"{n['ip']}/{n['netmask']}", strict=False)
            if target in subnet:
                connected.append((subnet.prefixlen, n["ip"]))
    if connected:
        return max(connected)[1]
    default = (next((n for n in with_ip if n.get("gateway") and n.get("management")), None)
               or next((n for n in with_ip if n.get("gateway")), None)
               or next((n for n in with_ip if n.get("management")), None))
    return default["ip"] if default else None


def _subnet_of(nics: list[dict], ip: str) -> ipaddress.IPv4Network:
    nic = next(n for n in nics if n.get("ip") == ip)
    if not nic.get("netmask"):
        return ipaddress.IPv4Network(f"{ip}/32")
    return ipaddress.IPv4Network(f"{ip}/{nic['netmask']}", strict=False)


# -- building the twin -----------------------------------------------------------------------
class _Twin:
    """Turns the records of one pool into a lab dict; `notes` says what could not be kept."""

    def __init__(self, snapshot: dict, *, password: str, time_scale: float, timings: dict,
                 first_address: str, source_url: str):
        self.r = snapshot["records"]
        self.clock = snapshot.get("clock", {})
        self.password, self.time_scale, self.timings = password, time_scale, timings
        self.first_address, self.source_url = first_address, source_url
        self.notes: list[str] = []
        self.header: list[str] = []    # real addresses and clocks, for the header comment
        self.names: dict[str, str] = {}     # host ref -> its name in the twin
        self.specs: dict[str, dict] = {}    # host ref -> its lab entry
        self.shared: dict[str, dict] = {}   # shared SR ref -> what the twin makes of it
        self.pooled = False                 # a `pools` entry, or a standalone host
        self.pool = next(iter(self.r["pool"].values()))
        self.master = self.pool["master"]

    # -- lookups
    def get(self, cls: str, ref: str) -> dict:
        return self.r[cls].get(ref) or {}

    def pifs_of(self, host: str) -> dict:
        return {ref: p for ref, p in self.r["PIF"].items() if p.get("host") == host}

    def live(self, host: str) -> bool:
        return bool(self.get("host_metrics", self.get("host", host).get("metrics", "")).get("live", False))

    def build(self) -> dict:
        hosts = self.r["host"]
        order = sorted(hosts, key=lambda ref: (ref != self.master, hosts[ref].get("name_label", "")))
        taken: set = set()
        self.names = {ref: _host_name(hosts[ref].get("name_label", ""), taken) for ref in order}
        for ref in order:
            if self.names[ref] != hosts[ref].get("name_label"):
                self.notes.append(f"host {hosts[ref].get('name_label')!r} is named {self.names[ref]!r} "
                                  "(lab host names are letters, digits, '.', '_' and '-')")
        self.pooled = len(hosts) > 1 or bool(self.pool.get("name_label"))
        self.specs = {ref: self.host(ref) for ref in order}
        if self.pooled:
            self.members_take_masters_networking(order)
        self.assign_addresses(order)
        self.shared = self.shared_srs()
        self.place_vms()
        storage = self.storage_servers()
        lab = {
            "name": "twin-of-" + (self.pool.get("name_label") or self.names[self.master]),
            "description": f"A twin captured by xapisim capture from {self.source_url}",
            "time_scale": self.time_scale,
            "timings": dict(self.timings),
            "host_defaults": {"username": "root", "password": self.password},
            "hosts": [self.specs[ref] for ref in order],
            "storage": storage,
        }
        if self.pooled:
            lab["pools"] = [self.pool_spec(order)]
        else:
            self.specs[self.master]["shared_srs"] = [sr["spec"] for sr in self.shared.values()]
        self.check_memory(lab)
        return lab

    # -- hosts
    def host(self, ref: str) -> dict:
        h = self.r["host"][ref]
        software = h.get("software_version", {})
        cpu = h.get("cpu_info", {})
        cpus = [c for c in self.r["host_cpu"].values() if c.get("host") == ref]
        first_cpu = cpus[0] if cpus else {}
        license_params = h.get("license_params", {})
        spec = {"name": self.names[ref], "address": None,
                "power": "on" if self.live(ref) else "off",
                "clock_offset": self.clock.get(ref, 0),
                "memory_gib": _gib(self.get("host_metrics", h.get("metrics", "")).get("memory_total", 0)) or 1,
                "dom0_memory_gib": self.dom0_memory(ref)}
        sw = {
            "product_brand": software.get("product_brand"), "product_version": software.get("product_version"),
            "platform_name": software.get("platform_name"), "platform_version": software.get("platform_version"),
            "build_number": software.get("build_number"),
            "xapi": ".".join(str(software.get("xapi", "")).split(".")[:2]),
            "git_id": software.get("git_id"), "db_schema": software.get("db_schema"),
            "network_backend": software.get("network_backend"),
            "api_version": f"{_int(h.get('API_version_major'))}.{_int(h.get('API_version_minor'))}",
            "linux_pack": "xs:linux" in software,
        }
        spec["software"] = {k: v for k, v in sw.items() if _valid(labfile.SOFTWARE.fields[k], v) is not None}
        packs = {k: str(v) for k, v in software.items() if k != "xs:linux" and re.fullmatch(r"[^:\s]+:[^:\s]+", k)}
        if packs:
            spec["supplemental_packs"] = packs
        updates = [self.get("pool_update", u).get("name_label", "") for u in h.get("updates", [])]
        spec["updates"] = [u for u in updates if u]
        spec["updates_requiring_reboot"] = [u for u in (self.get("pool_update", x).get("name_label", "")
                                                        for x in h.get("updates_requiring_reboot", []))
                                            if u in spec["updates"]]
        spec["pending_guidances"] = [g for g in h.get("pending_guidances", []) if g in labfile.GUIDANCES]
        edition = h.get("edition") or "standard"
        spec["edition"] = edition
        spec["editions_available"] = list(dict.fromkeys([*h.get("editions", []), edition]))
        server = h.get("license_server", {})
        spec["license_server"] = {"address": server.get("address", ""), "port": _int(server.get("port"), 27000) or 27000}
        spec["pooling_licensed"] = license_params.get("restrict_pooling", "false") != "true"
        spec["pool_size_restricted"] = license_params.get("restrict_pool_size", "false") == "true"
        features = next((cpu[k] for k in ("features_hvm_host", "features_hvm", "features") if cpu.get(k)),
                        first_cpu.get("features", ""))
        cpu_spec = {
            "vendor": cpu.get("vendor") or first_cpu.get("vendor"),
            "modelname": cpu.get("modelname") or first_cpu.get("modelname"),
            "family": _int(cpu.get("family", first_cpu.get("family")), None),
            "model": _int(cpu.get("model", first_cpu.get("model")), None),
            "stepping": _int(cpu.get("stepping", first_cpu.get("stepping")), None),
            "speed": float(cpu.get("speed") or first_cpu.get("speed") or 0) or None,
            "count": _int(cpu.get("cpu_count"), len(cpus)) or None,
            "sockets": _int(cpu.get("socket_count"), None),
            "flags": cpu.get("flags", first_cpu.get("flags")),
            "features": features,
        }
        spec["cpu"] = {k: v for k, v in cpu_spec.items()
                       if v is not None and _valid(labfile.CPU.fields[k], v) is not None}
        auth_type, auth_name = h.get("external_auth_type", ""), h.get("external_auth_service_name", "")
        if auth_type and auth_name:
            spec["external_auth"] = {"type": auth_type, "service_name": auth_name}
        if not self.pooled:
            spec["ha_enabled"] = bool(self.pool.get("ha_enabled"))
            spec["tls_verification"] = bool(self.pool.get("tls_verification_enabled", True))
        else:
            spec["tls_verification"] = bool(h.get("tls_verification_enabled", True))
        spec["tunnels"] = self.count_on(ref, "tunnel", "access_PIF")
        spec["network_sriovs"] = self.count_on(ref, "network_sriov", "physical_PIF")
        spec.update(self.networking(ref))
        spec["local_srs"] = self.local_srs(ref)
        spec["vms"] = []
        spec["power_on"] = self.power_on(h)
        return spec

    def members_take_masters_networking(self, order: list[str]) -> None:
        """A lab builds a pool member's bonds and VLANs from the master's (as xapi does for a
        joining host, which may have none of its own), so members list none; the IP settings of
        a member's bond stay on the NIC the bond takes them from."""
        master = self.specs[self.master]
        bonds = {tuple(b["devices"]) for b in master["bonds"]}
        vlans = {(v["device"], v["tag"]) for v in master["vlans"]}
        for ref in order:
            spec = self.specs[ref]
            if ref == self.master:
                continue
            for bond in spec["bonds"]:
                if tuple(bond["devices"]) not in bonds:
                    self.notes.append(f"host {spec['name']!r}: bond of {'+'.join(bond['devices'])} is not kept "
                                      "(the master has no such bond)")
            for vlan in spec["vlans"]:
                if (vlan["device"], vlan["tag"]) not in vlans:
                    self.notes.append(f"host {spec['name']!r}: VLAN {vlan['tag']} on {vlan['device']} is not kept "
                                      "(the master has no such VLAN)")
            spec["bonds"], spec["vlans"] = [], []

    def count_on(self, host: str, cls: str, pif_field: str) -> int:
        """Objects of `cls` on this host's PIFs; those on no known PIF count for the master."""
        count = 0
        for record in self.r[cls].values():
            owner = self.get("PIF", record.get(pif_field, "")).get("host", self.master)
            count += owner == host
        return count

    def dom0_memory(self, host: str) -> int | float:
        dom0 = next((vm for vm in self.r["VM"].values()
                     if vm.get("is_control_domain") and vm.get("resident_on") == host), None)
        if dom0 is None:
            return 4
        return _gib(_int(dom0.get("memory_target")) or _int(dom0.get("memory_dynamic_max")) or 4 * GIB)

    def power_on(self, h: dict) -> dict:
        mode = h.get("power_on_mode", "")
        if _valid(labfile.POWER_ON.fields["mode"], mode) is None:
            self.notes.append(f"host {h.get('name_label')!r}: power-on mode {mode!r} is not kept")
            mode = ""
        config = {k: str(v) for k, v in h.get("power_on_config", {}).items() if not _secret_key(k)}
        spec = {"mode": mode, "config": config}
        if mode not in BUILTIN_POWER_ON:
            spec["plugins"] = [mode]
        if mode in ("IPMI", "DRAC", "iLO"):
            self.notes.append(f"host {h.get('name_label')!r}: power-on {mode} is kept without its password, "
                              "so host.power_on fails in the twin until you arm a secret")
        return spec

    # -- networking
    def networking(self, host: str) -> dict:
        pifs = self.pifs_of(host)
        physical = {ref: p for ref, p in pifs.items() if p.get("physical")}
        devices = sorted(physical, key=lambda ref: _device_key(physical[ref].get("device", "")))
        nics = {physical[ref]["device"]: self.nic(physical[ref]) for ref in devices}
        management_vlan = -1
        bonds, vlans = [], []
        for bond in self.r["Bond"].values():
            master = pifs.get(bond.get("master"))
            if master is None:
                continue
            members = [self.get("PIF", s).get("device") for s in bond.get("slaves", [])]
            members = sorted((d for d in members if d in nics), key=_device_key)
            if len(members) < 2:
                continue
            primary = self.get("PIF", bond.get("primary_slave", "")).get("device")
            primary = primary if primary in members else members[0]
            # the lab builds a bond from its members: the primary one carries the bond's IP and flags
            nics[primary].update(self.ip_configuration(master), management=bool(master.get("management")))
            if master.get("other_config", {}).get("management_purpose"):
                nics[primary]["purpose"] = master["other_config"]["management_purpose"]
            if master.get("disallow_unplug"):
                nics[primary]["disallow_unplug"] = True
            mode = bond.get("mode") if bond.get("mode") in ("balance-slb", "active-backup", "lacp") else "balance-slb"
            bonds.append({"devices": members, "mode": mode,
                          "network": self.get("network", master.get("network", "")).get("name_label") or None})
        for vlan in self.r["VLAN"].values():
            untagged, tagged = pifs.get(vlan.get("untagged_PIF")), pifs.get(vlan.get("tagged_PIF"))
            if untagged is None or tagged is None:
                continue
            device = self.physical_device(tagged)
            if device not in nics:
                continue
            tag = _int(vlan.get("tag"))
            if untagged.get("management"):
                management_vlan = tag
                nics[device].update(self.ip_configuration(untagged), management=True)
                continue
            if untagged.get("ip_configuration_mode", "None") != "None":
                self.notes.append(f"host {self.names[host]!r}: the IP of VLAN {tag} on {device} is not kept "
                                  "(lab VLANs have no IP configuration)")
            vlans.append({"device": device, "tag": tag,
                          "network": self.get("network", untagged.get("network", "")).get("name_label") or None})
        if not any(n["management"] for n in nics.values()) and nics:
            self.notes.append(f"host {self.names[host]!r}: no physical NIC carries the management interface; "
                              "the first NIC does in the twin")
            first = next(iter(nics.values()))
            first["management"] = True
            if first["mode"] == "none":
                first["mode"] = "dhcp"
        for nic in nics.values():
            if nic["management"] and nic["mode"] == "none":
                nic["mode"] = "dhcp"
        return {"nics": [_compact_nic(n) for n in nics.values()], "management_vlan": management_vlan,
                "bonds": [{k: v for k, v in b.items() if v is not None} for b in bonds],
                "vlans": [{k: v for k, v in v_.items() if v is not None} for v_ in vlans]}

    def physical_device(self, pif: dict) -> str:
        """A VLAN on a bond names one of the bond's members (the lab moves it onto the bond)."""
        if pif.get("physical"):
            return pif.get("device", "")
        for bond in pif.get("bond_master_of", []):
            primary = self.get("PIF", self.get("Bond", bond).get("primary_slave", ""))
            if primary:
                return primary.get("device", "")
        return pif.get("device", "")

    def nic(self, pif: dict) -> dict:
        metrics = self.get("PIF_metrics", pif.get("metrics", ""))
        nic = {"device": pif.get("device", ""), "mac": (pif.get("MAC") or "").lower() or None,
               "speed": max(0, _int(metrics.get("speed"), 10000)),
               "management": bool(pif.get("management")),
               "purpose": pif.get("other_config", {}).get("management_purpose", ""),
               "disallow_unplug": bool(pif.get("disallow_unplug"))}
        if _valid(labfile.NIC.fields["mac"], nic["mac"]) is None:
            nic["mac"] = None
        nic.update(self.ip_configuration(pif))
        return nic

    @staticmethod
    def ip_configuration(pif: dict) -> dict:
        mode = {"Static": "static", "DHCP": "dhcp"}.get(pif.get("ip_configuration_mode"), "none")
        ip, netmask = pif.get("IP", ""), pif.get("netmask", "")
        if not _is_ipv4(ip):
            ip = ""
        if mode == "static" and not (ip and netmask):
            mode = "dhcp" if pif.get("management") else "none"
        if mode == "none":
            return {"mode": "none", "ip": None, "netmask": "", "gateway": "", "dns": ""}
        dns = ",".join(d for d in pif.get("DNS", "").split(",") if _is_ipv4(d.strip()))
        return {"mode": mode, "ip": ip or None, "netmask": netmask if ip else "",
                "gateway": pif.get("gateway", "") if _is_ipv4(pif.get("gateway", "")) else "", "dns": dns}

    def assign_addresses(self, order: list[str]) -> None:
        """New loopback addresses from `first_address`, none equal to a NIC's IP."""
        used = {n["ip"] for spec in self.specs.values() for n in spec["nics"] if n.get("ip")}
        address = ipaddress.IPv4Address(self.first_address)
        for ref in order:
            while str(address) in used or address.packed[3] in (0, 255) or str(address) == "127.0.0.1":
                address += 1
            self.specs[ref]["address"] = str(address)
            real = self.r["host"][ref].get("address", "")
            role = "master" if ref == self.master else "member"
            offset = self.clock.get(ref)
            skew = None if offset is None or self.master not in self.clock else offset - self.clock[self.master]
            clock = "clock unknown (host down)" if offset is None else \
                f"clock {offset:+d} s against this machine, {skew:+d} s against the master" if skew is not None \
                else f"clock {offset:+d} s against this machine"
            self.header.append(f"{self.specs[ref]['name']}: {address} (real address {real}, {role}, {clock})")
            address += 1

    # -- storage
    def local_srs(self, host: str) -> list[dict]:
        srs, taken = [], set()
        for ref, sr in self.r["SR"].items():
            if not self.is_local_sr(ref, host):
                continue
            name = _unique(sr.get("name_label") or "Local storage", taken)
            srs.append({"name": name, "type": "lvm" if sr.get("type") == "lvm" else "ext",
                        "size_gib": _gib(sr.get("physical_size")) if _int(sr.get("physical_size")) > 0 else 500,
                        "ref": ref})
        return srs

    def is_local_sr(self, ref: str, host: str) -> bool:
        sr = self.r["SR"][ref]
        if sr.get("shared") or sr.get("content_type") in ("iso", "disk") or sr.get("is_tools_sr") \
                or sr.get("type") in ("udev", "iso"):
            return False
        pbds = [self.get("PBD", p) for p in sr.get("PBDs", [])]
        return any(p.get("host") == host for p in pbds)

    def shared_srs(self) -> dict:
        """{SR ref: {"spec": shared_srs entry, "kind", "address", "where", "real"}} of the pool's
        shared SRs the lab can hold; ISO libraries are left out."""
        shared, taken = {}, {sr["name"] for spec in self.specs.values() for sr in spec["local_srs"]}
        used = {n["ip"] for spec in self.specs.values() for n in spec["nics"] if n.get("ip")}
        synthetic = ipaddress.IPv4Network(SYNTHETIC_STORAGE).hosts()
        addresses: dict[str, str] = {}   # real server name -> twin address
        for ref, sr in sorted(self.r["SR"].items(), key=lambda kv: kv[1].get("name_label", "")):
            if not sr.get("shared") or sr.get("content_type") == "iso" or sr.get("type") in ("iso", "udev"):
                if sr.get("shared") and not sr.get("is_tools_sr"):
                    self.notes.append(f"SR {sr.get('name_label')!r} ({sr.get('type')}, ISO library) is left out")
                continue
            pbds = [self.get("PBD", p) for p in sr.get("PBDs", [])]
            master_pbd = next((p for p in pbds if p.get("host") == self.master), pbds[0] if pbds else {})
            config = master_pbd.get("device_config", {})
            kind = SHARED_TYPES.get(sr.get("type", ""), "iscsi")
            if sr.get("type") not in SHARED_TYPES:
                self.notes.append(f"SR {sr.get('name_label')!r} of type {sr.get('type')!r} is approximated "
                                  "as an iSCSI LUN")
            if kind == "nfs":
                real, where = config.get("server", ""), config.get("serverpath", "/")
                where = where if re.fullmatch(r"/\S*", where or "") else "/export"
            elif kind == "smb":
                location = config.get("server", "").replace("\\", "/").strip("/").split("/")
                real, where = location[0], (location[1] if len(location) > 1 else "") or "share"
            else:
                real = config.get("target", "").split(",")[0]
                iqn = config.get("targetIQN", "")
                where = iqn if re.fullmatch(r"iqn\.\d{4}-\d{2}\.[^\s:]+(:\S+)?", iqn) else \
                    f"iqn.2000-01.org.example:{re.sub(r'[^A-Za-z0-9.-]+', '-', sr.get('name_label', 'sr'))}"
            key = f"{kind}/{real}"
            if key not in addresses:
                if _is_ipv4(real) and real not in used:
                    addresses[key] = real
                else:
                    addresses[key] = str(next(a for a in synthetic if str(a) not in used))
                    self.notes.append(f"storage server {real or '(none given)'!r} of SR {sr.get('name_label')!r} "
                                      f"is at {addresses[key]} in the twin")
                used.add(addresses[key])
            name = sr.get("name_label") or "shared SR"
            if name in taken:
                self.notes.append(f"shared SR {name!r} is renamed: its name is used by another SR")
            shared[ref] = {"spec": {"name": _unique(name, taken), "type": kind}, "kind": kind,
                           "address": addresses[key], "where": where, "real": real,
                           "scsi_id": config.get("SCSIid", ""),
                           "size_gib": _gib(sr.get("physical_size")) if _int(sr.get("physical_size")) > 0 else 1024}
        return shared

    def storage_servers(self) -> list[dict]:
        """One server per address; each export/target/share allows exactly what keeps every
        live host attached (or not) as it is now."""
        servers: dict[str, dict] = {}
        for ref, sr in self.shared.items():
            kind, address = sr["kind"], sr["address"]
            server = servers.setdefault(address, {
                "name": f"{kind}-{address.replace('.', '-')}", "type": kind, "address": address,
                {"nfs": "exports", "iscsi": "targets", "smb": "shares"}[kind]: []})
            sr["spec"]["storage"] = server["name"]
            allowed = self.allowed_from(ref, address)
            size = max(sr["size_gib"], self.disk_total(ref))
            if kind == "nfs":
                entry = next((e for e in server["exports"] if e["path"] == sr["where"]), None)
                if entry is None:
                    entry = {"path": sr["where"], "allowed": [], "size_gib": size}
                    server["exports"].append(entry)
                sr["spec"]["path"] = sr["where"]
            elif kind == "smb":
                entry = next((e for e in server["shares"] if e["name"] == sr["where"]), None)
                if entry is None:
                    entry = {"name": sr["where"], "allowed": [], "size_gib": size}
                    server["shares"].append(entry)
                sr["spec"]["share"] = sr["where"]
            else:
                entry = next((e for e in server["targets"] if e["iqn"] == sr["where"]), None)
                if entry is None:
                    entry = {"iqn": sr["where"], "allowed": [], "luns": []}
                    server["targets"].append(entry)
                lun = {"id": len(entry["luns"]), "size_gib": size}
                if re.fullmatch(r"[0-9a-f]+", sr["scsi_id"] or ""):
                    lun["scsi_id"] = sr["scsi_id"]
                entry["luns"].append(lun)
                sr["spec"]["target"], sr["spec"]["lun"] = sr["where"], lun["id"]
            if kind != "iscsi":
                entry["size_gib"] = max(entry["size_gib"], size)
            entry["allowed"] = sorted(set(entry["allowed"]) | set(allowed), key=_network_key)
        return list(servers.values())

    def allowed_from(self, sr: str, address: str) -> list[str]:
        """The subnets (or single addresses) attached live hosts reach `address` from in the twin,
        never one holding the route of a live host whose PBD is not attached."""
        attached, detached = [], []
        for p in self.r["SR"][sr].get("PBDs", []):
            pbd = self.get("PBD", p)
            host = pbd.get("host")
            if host not in self.specs or not self.live(host):
                continue
            nics = self.specs[host]["nics"]
            source = route_source(nics, address)
            if source is None:
                continue
            (attached if pbd.get("currently_attached") else detached).append((source, nics))
        allowed = set()
        for source, nics in attached:
            subnet = _subnet_of(nics, source)
            if any(ipaddress.IPv4Address(other) in subnet for other, _ in detached):
                subnet = ipaddress.IPv4Network(f"{source}/32")
            allowed.add(str(subnet))
        return sorted(allowed, key=_network_key)

    def disk_total(self, sr: str) -> float:
        return sum(_gib(self.get("VDI", self.get("VBD", vbd).get("VDI", "")).get("virtual_size", 0))
                   for vm in self.r["VM"].values() if self.user_vm(vm)
                   for vbd in vm.get("VBDs", [])
                   if self.get("VDI", self.get("VBD", vbd).get("VDI", "")).get("SR") == sr
                   and self.get("VBD", vbd).get("type") == "Disk")

    # -- VMs
    @staticmethod
    def user_vm(vm: dict) -> bool:
        return not (vm.get("is_a_template") or vm.get("is_a_snapshot") or vm.get("is_control_domain"))

    def place_vms(self) -> None:
        """Each VM on the host the lab file wants it under: where it runs, else where its
        local disks are, else its affinity, else the master."""
        local_owner = {sr["ref"]: host for host, spec in self.specs.items() for sr in spec["local_srs"]}
        taken: set = set()
        vms = sorted(((ref, vm) for ref, vm in self.r["VM"].items() if self.user_vm(vm)),
                     key=lambda kv: kv[1].get("name_label", ""))
        for ref, vm in vms:
            label = vm.get("name_label") or "unnamed VM"
            state = str(vm.get("power_state", "Halted")).lower()
            if state not in ("running", "halted", "suspended", "paused"):
                state = "halted"
            disks = []
            for vbd_ref in sorted(vm.get("VBDs", []), key=lambda v: _int(self.get("VBD", v).get("userdevice"), 99)):
                vbd = self.get("VBD", vbd_ref)
                vdi = self.get("VDI", vbd.get("VDI", ""))
                if vbd.get("type") == "Disk" and vdi:
                    disks.append((vdi.get("SR"), _gib(vdi.get("virtual_size", 0)) or 1))
            local_hosts = [local_owner[sr] for sr, _ in disks if sr in local_owner]
            host = vm.get("resident_on") if state in ("running", "paused") else NULL_REF
            if host not in self.specs:
                host = next(iter(local_hosts), None) or (vm.get("affinity") if vm.get("affinity") in self.specs
                                                         else self.master)
            if state in ("running", "paused") and self.specs[host]["power"] == "off":
                self.notes.append(f"VM {label!r} is {state} on a host that is down: halted in the twin")
                state = "halted"
            spec_disks = []
            for sr, size in disks:
                name = self.sr_name(sr, host)
                if name is None:
                    self.notes.append(f"VM {label!r}: a disk on SR {self.get('SR', sr).get('name_label')!r} "
                                      "is left out (that SR is not in the twin)")
                    continue
                spec_disks.append({"sr": name, "size_gib": size})
            memory = 0
            if state in ("running", "paused"):   # what it uses now
                memory = _int(vm.get("memory_target")) or \
                    _int(self.get("VM_metrics", vm.get("metrics", "")).get("memory_actual"))
            memory = memory or _int(vm.get("memory_dynamic_max")) or _int(vm.get("memory_static_max")) or GIB
            priority = vm.get("ha_restart_priority", "")
            spec = {"name": _unique(label, taken), "power_state": state, "memory_gib": _gib(memory),
                    "vcpus": max(1, _int(vm.get("VCPUs_at_startup"), 1)), "disks": spec_disks}
            if vm.get("attached_PCIs"):
                spec["passthrough"] = "pci"
            elif vm.get("VGPUs") or any(g.get("VM") == ref for g in self.r["VGPU"].values()):
                spec["passthrough"] = "vgpu"
            if vm.get("other_config", {}).get("auto_poweron") == "true":
                spec["auto_poweron"] = True
            if priority:
                spec["ha_restart_priority"] = priority if priority in ("restart", "best-effort") else "restart"
            self.specs[host]["vms"].append(spec)

    def sr_name(self, sr: str, host: str) -> str | None:
        if sr in self.shared:
            return self.shared[sr]["spec"]["name"]
        local = next((s for s in self.specs[host]["local_srs"] if s["ref"] == sr), None)
        return local["name"] if local else None

    # -- the pool
    def pool_spec(self, order: list[str]) -> dict:
        pool = self.pool
        default = self.pool.get("default_SR", NULL_REF)
        default_name = ""
        if default in self.shared:
            default_name = self.shared[default]["spec"]["name"]
        elif len(order) == 1:
            default_name = next((s["name"] for s in self.specs[self.master]["local_srs"] if s["ref"] == default), "")
        elif default != NULL_REF and default in self.r["SR"]:
            self.notes.append("the pool's default SR is not a shared SR the twin holds: the twin has none")
        heartbeat = []
        for statefile in pool.get("ha_statefiles", []):
            vdi = self.get("VDI", statefile) or next((v for v in self.r["VDI"].values() if v.get("uuid") == statefile), {})
            if vdi.get("SR") in self.shared:
                heartbeat.append(self.shared[vdi["SR"]]["spec"]["name"])
        enabled = bool(pool.get("ha_enabled"))
        tolerate = _int(pool.get("ha_host_failures_to_tolerate"), 1)
        if enabled:
            tolerate = min(tolerate, len(order) - 1)
        ha = {"enabled": enabled, "host_failures_to_tolerate": max(0, tolerate),
              "heartbeat_srs": list(dict.fromkeys(heartbeat)),
              "timeout": float(pool.get("ha_configuration", {}).get("timeout", 60) or 60)}
        other = {k: str(v) for k, v in pool.get("other_config", {}).items() if not _secret_key(k)}
        return {"name": pool.get("name_label") or "pool", "description": pool.get("name_description", ""),
                "master": self.names[self.master], "members": [self.names[r] for r in order if r != self.master],
                "shared_srs": [sr["spec"] for sr in self.shared.values()], "default_sr": default_name,
                "ha": ha, "other_config": other, "tags": [str(t) for t in pool.get("tags", [])]}

    def check_memory(self, lab: dict) -> None:
        """Running VMs must fit their host in a lab; a pool can show otherwise only mid-change."""
        for spec in lab["hosts"]:
            resident = sum(vm["memory_gib"] for vm in spec["vms"] if vm["power_state"] in ("running", "paused"))
            needed = resident + spec["dom0_memory_gib"]
            if needed > spec["memory_gib"]:
                self.notes.append(f"host {spec['name']!r}: memory raised to {needed:g} GiB to hold its running VMs")
                spec["memory_gib"] = needed
            if spec["dom0_memory_gib"] >= spec["memory_gib"]:
                spec["dom0_memory_gib"] = spec["memory_gib"] / 2


def _device_key(device: str):
    """eth2 before eth10."""
    match = re.fullmatch(r"(\D*)(\d+)", device)
    return (match.group(1), int(match.group(2)), "") if match else (device, -1, device)


def _network_key(cidr: str):
    network = ipaddress.IPv4Network(cidr)
    return int(network.network_address), network.prefixlen


def _compact_nic(nic: dict) -> dict:
    """A NIC entry without the keys that say what the lab would fill in anyway."""
    out = {"device": nic["device"]}
    if nic.get("mac"):
        out["mac"] = nic["mac"]
    if nic["speed"] != 10000:
        out["speed"] = nic["speed"]
    out["management"] = nic["management"]
    out["mode"] = nic["mode"]
    if nic["mode"] != "none":
        out["ip"] = nic["ip"]
        out["netmask"] = nic["netmask"] or ""
        for key in ("gateway", "dns"):
            if nic[key]:
                out[key] = nic[key]
    for key in ("purpose", "disallow_unplug"):
        if nic[key]:
            out[key] = nic[key]
    return out


def build_twin(snapshot: dict, *, password: str | None = None, time_scale: float = 1.0,
               timings: dict | None = None, first_address: str = FIRST_ADDRESS,
               source_url: str = "") -> tuple[dict, list[str], list[str]]:
    """(lab dict, notes on what could not be kept, header lines with real addresses and clocks)."""
    twin = _Twin(snapshot, password=password or secrets.token_urlsafe(12), time_scale=time_scale,
                 timings={**labfile.TIMING_DEFAULTS, **(timings or {})}, first_address=first_address,
                 source_url=source_url)
    lab = twin.build()
    for spec in lab["hosts"]:
        for sr in spec["local_srs"]:
            sr.pop("ref", None)
            total = sum(d["size_gib"] for vm in spec["vms"] for d in vm["disks"] if d["sr"] == sr["name"])
            sr["size_gib"] = max(sr["size_gib"], total)
    return lab, twin.notes, twin.header


def factor_host_defaults(lab: dict) -> dict:
    """Host keys whose value every host shares move into host_defaults (the lab merges them
    back, so the twin is the same), keeping each host's entry to what sets it apart."""
    hosts = lab["hosts"]
    if len(hosts) < 2:
        return lab
    for key in list(hosts[0]):
        if key in ("name", "address", "vms") or key in lab["host_defaults"]:
            continue
        if all(key in h and h[key] == hosts[0][key] for h in hosts):
            lab["host_defaults"][key] = hosts[0][key]
            for h in hosts:
                del h[key]
    return lab


def render(lab: dict, header: list[str], notes: list[str], *, anonymized: bool, captured_at: str) -> str:
    """The lab file's text: a header comment, then the lab as YAML."""
    lines = [f"# A twin written by `xapisim capture` at {captured_at}, from read-only calls.",
             "# The password in host_defaults is this twin's own, generated here; it is not the pool's."]
    if anonymized:
        lines.append("# Anonymized: names, addresses, paths and identifying values are replaced.")
    else:
        lines.append("# Hosts listen on new loopback addresses (a twin runs locally):")
        lines += [f"#   {line}" for line in header]
        if notes:
            lines.append("# What the twin could not keep exactly:")
            lines += [f"#   - {note}" for note in notes]
    lines.append("# Timings are xapisim's documented defaults unless overridden with --timing; VM memory")
    lines.append("# drives migration and suspend times.  Run it: xapisim serve THIS_FILE --state-dir DIR")
    body = yaml.safe_dump(lab, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    return "\n".join(lines) + "\n" + body


# -- the command -----------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--url", required=True, help="the pool master (any member redirects); https:// by default")
    parser.add_argument("--username", default="root")
    parser.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable "
                        "(else it is asked for)")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-path", metavar="PEM", help="CA bundle that signed the hosts' certificates")
    tls.add_argument("--no-validate-certs", action="store_true", help="do not verify TLS (lab networks only)")
    parser.add_argument("--output", "-o", required=True, help="the lab file to write")
    parser.add_argument("--anonymize", action="store_true", help="rename hosts, VMs, SRs, networks and the pool, "
                        "rewrite addresses keeping subnet relations, drop identifying values")
    parser.add_argument("--time-scale", type=float, default=1.0, help="the twin's time_scale (default 1.0)")
    parser.add_argument("--timing", action="append", default=[], metavar="NAME=SECONDS",
                        help="override a timing, e.g. --timing reboot=300 (repeatable)")
    parser.add_argument("--first-address", default=FIRST_ADDRESS,
                        help=f"first loopback address of the twin's hosts (default {FIRST_ADDRESS})")


def _timings(items: list[str]) -> dict:
    timings = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in labfile.TIMING_DEFAULTS:
            raise CaptureError(f"--timing {item}: unknown timing {name!r}; allowed: "
                               + ", ".join(labfile.TIMING_DEFAULTS))
        try:
            timings[name] = float(value)
        except ValueError:
            raise CaptureError(f"--timing {item}: {value!r} is not a number of seconds") from None
        if timings[name] < 0:
            raise CaptureError(f"--timing {item}: must be >= 0 seconds")
    return timings


def capture(url: str, username: str, password: str, *, ca_path=None, validate_certs=True, anonymize=False,
            time_scale: float = 1.0, timings: dict | None = None, first_address: str = FIRST_ADDRESS) -> tuple[str, list[str]]:
    """Reads the pool at `url` and returns (the twin's text, notes)."""
    url = normalize_url(url)
    context = ssl_context(validate_certs, ca_path) if url.startswith("https:") else None
    session, master_url = login(url, username, password, context)
    try:
        snapshot = read_pool(session)
    finally:
        try:
            session.xenapi.logout()
        except Exception:   # the session is gone with the host; nothing else to do
            pass
    lab, notes, header = build_twin(snapshot, time_scale=time_scale, timings=timings, first_address=first_address,
                                    source_url=master_url)
    if anonymize:
        from .anonymize import anonymize as scrub
        lab = scrub(lab)
    lab = factor_host_defaults(lab)
    captured_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = render(lab, header, notes, anonymized=anonymize, captured_at=captured_at)
    problems = []
    try:
        labfile.load(yaml.safe_load(text))
    except labfile.LabError as err:
        problems = err.problems
    if problems:
        raise CaptureError("the twin does not validate (a bug in xapisim capture; please report it):\n  "
                           + "\n  ".join(problems))
    return text, notes


def capture_main(args) -> int:
    """`xapisim capture ...`: exit 0 with the file written, 1 with one line on stderr."""
    try:
        if args.password_env:
            if args.password_env not in os.environ:
                raise CaptureError(f"--password-env {args.password_env}: that environment variable is not set")
            password = os.environ[args.password_env]
        else:
            password = getpass.getpass(f"Password for {args.username} at {args.url}: ")
        text, notes = capture(args.url, args.username, password, ca_path=args.ca_path,
                              validate_certs=not args.no_validate_certs, anonymize=args.anonymize,
                              time_scale=args.time_scale, timings=_timings(args.timing),
                              first_address=args.first_address)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except CaptureError as err:
        print(f"xapisim capture: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"xapisim capture: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"xapisim capture: note: {note}", file=sys.stderr)
    print(f"xapisim capture: wrote {args.output}")
    return 0
