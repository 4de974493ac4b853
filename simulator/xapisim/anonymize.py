"""`xapisim capture --anonymize`: a twin that can be attached to a bug report.

`anonymize(lab)` returns a copy of a captured lab dict with the same structure (hosts, NICs,
bonds, VLANs, SRs, VMs, power states, memory, sizes, attachment) and nothing that names the
pool: hosts become host-01.., VMs vm-0001.., SRs sr-01.., bond and VLAN networks net-01.., the
pool pool-01, storage servers storage-01.. with neutral paths, IQNs and share names.

Addresses: every top-level subnet (one not inside another) of the NICs and of the storage
servers' allowed lists moves to a fresh private subnet of the same prefix length that overlaps
none of the original addresses; an address keeps its offset in its subnet, so every subnet
relation (who reaches which storage from where) is unchanged.  Addresses in no subnet (a
storage server behind a router, DNS servers, a licence server) get fresh single addresses.
The twin's own loopback host addresses are not real and stay.  MACs are dropped (the lab
derives them from the new host names); descriptions, tags and free-text values are dropped.
"""
from __future__ import annotations

import copy
import ipaddress

PRIVATE_BLOCKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15")
# other_config values kept as they are: they say how, not who
NEUTRAL_VALUES = ("true", "false", "")


class _Addresses:
    """Maps real IPv4 addresses to fresh ones, subnet by subnet."""

    def __init__(self, subnets: list[ipaddress.IPv4Network], addresses: list[str]):
        self.subnets = subnets
        self.singles_avoided = [ipaddress.IPv4Network(f"{a}/32") for a in addresses]
        self.taken: list[ipaddress.IPv4Network] = []
        # outermost first, so that a subnet inside another maps inside its image
        self.map: dict[ipaddress.IPv4Network, ipaddress.IPv4Network] = {}
        for subnet in sorted(set(subnets), key=lambda n: (n.prefixlen, int(n.network_address))):
            if not any(subnet.subnet_of(outer) for outer in self.map):
                self.map[subnet] = self._fresh(subnet.prefixlen)
        self.singles: dict[str, str] = {}
        self._single_block: ipaddress.IPv4Network | None = None
        self._single_hosts = None

    def _fresh(self, prefixlen: int) -> ipaddress.IPv4Network:
        """A private block overlapping no original address; failing that (a /8 when 10/8 holds
        one), no original subnet; failing that, only nothing already given out."""
        for avoid in (self.subnets + self.singles_avoided, self.subnets, []):
            for block in PRIVATE_BLOCKS:
                block = ipaddress.IPv4Network(block)
                if prefixlen < block.prefixlen:
                    continue
                candidate = _first_free(block, prefixlen, avoid + self.taken)
                if candidate is not None:
                    self.taken.append(candidate)
                    return candidate
        raise ValueError(f"no free private subnet of prefix length {prefixlen}")

    def ip(self, address: str) -> str:
        addr = ipaddress.IPv4Address(address)
        for real, fresh in self.map.items():
            if addr in real:
                return str(fresh.network_address + (int(addr) - int(real.network_address)))
        if address not in self.singles:
            if self._single_hosts is None:
                self._single_block = self._fresh(24)
                self._single_hosts = self._single_block.hosts()
            self.singles[address] = str(next(self._single_hosts))
        return self.singles[address]

    def network(self, cidr: str) -> str:
        net = ipaddress.IPv4Network(cidr)
        return f"{self.ip(str(net.network_address))}/{net.prefixlen}"


def _first_free(block: ipaddress.IPv4Network, prefixlen: int, avoid: list) -> ipaddress.IPv4Network | None:
    """The first subnet of `block` with this prefix length that overlaps nothing in `avoid`."""
    size = 1 << (32 - prefixlen)
    start, end = int(block.network_address), int(block.broadcast_address)
    while start + size - 1 <= end:
        candidate = ipaddress.IPv4Network((start, prefixlen))
        clash = next((n for n in avoid if candidate.overlaps(n)), None)
        if clash is None:
            return candidate
        after = int(clash.broadcast_address) + 1   # the next aligned start past the clash
        start = max(start + size, -(-after // size) * size)
    return None


def _is_ipv4(text) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except (ipaddress.AddressValueError, ValueError):
        return False


def _real_addresses(lab: dict) -> tuple[list, list]:
    """(subnets, single addresses) of the lab, the twin's own loopback host addresses excepted."""
    subnets, singles = [], []
    for host in lab["hosts"]:
        for nic in host["nics"]:
            if nic.get("ip"):
                mask = nic.get("netmask") or "255.255.255.255"
                subnets.append(ipaddress.IPv4Network(f"{nic['ip']}/{mask}", strict=False))
            for key in ("gateway",):
                if nic.get(key):
                    singles.append(nic[key])
            singles += [d.strip() for d in (nic.get("dns") or "").split(",") if d.strip()]
        singles += [v for v in host.get("power_on", {}).get("config", {}).values() if _is_ipv4(v)]
        if _is_ipv4(host.get("license_server", {}).get("address", "")):
            singles.append(host["license_server"]["address"])
    for server in lab.get("storage", []):
        singles.append(server["address"])
        for entry in server.get("exports", []) + server.get("targets", []) + server.get("shares", []):
            subnets += [ipaddress.IPv4Network(c) for c in entry.get("allowed", [])]
    return subnets, singles


def anonymize(lab: dict) -> dict:
    lab = copy.deepcopy(lab)
    addresses = _Addresses(*_real_addresses(lab))
    hosts = {h["name"]: f"host-{i:02d}" for i, h in enumerate(lab["hosts"], 1)}
    vm_count, sr_count, net_count = 0, 0, 0
    networks: dict[str, str] = {}

    def network_name(name):
        nonlocal net_count
        if name not in networks:
            net_count += 1
            networks[name] = f"net-{net_count:02d}"
        return networks[name]

    def new_sr():
        nonlocal sr_count
        sr_count += 1
        return f"sr-{sr_count:02d}"

    # storage servers: names, addresses, paths, IQNs, shares
    servers, places = {}, {}   # old server name -> new; (old server, old place) -> new place
    for i, server in enumerate(lab.get("storage", []), 1):
        old = server["name"]
        servers[old] = server["name"] = f"storage-{i:02d}"
        server["address"] = addresses.ip(server["address"])
        for k, export in enumerate(server.get("exports", []), 1):
            places[(old, export["path"])] = export["path"] = f"/export-{k:02d}"
        for k, target in enumerate(server.get("targets", []), 1):
            places[(old, target["iqn"])] = target["iqn"] = f"iqn.2000-01.org.example:target-{k:02d}"
            for lun in target.get("luns", []):
                lun.pop("scsi_id", None)   # derived again from the new names
        for k, share in enumerate(server.get("shares", []), 1):
            places[(old, share["name"])] = share["name"] = f"share-{k:02d}"
        for entry in server.get("exports", []) + server.get("targets", []) + server.get("shares", []):
            entry["allowed"] = [addresses.network(c) for c in entry.get("allowed", [])]

    def shared_sr(sr, names):
        names[sr["name"]] = sr["name"] = new_sr()
        old_server = sr.get("storage", "")
        if old_server:
            sr["storage"] = servers[old_server]
        for key in ("path", "target", "share"):
            if sr.get(key):
                sr[key] = places.get((old_server, sr[key]), sr[key])

    pool_srs = []   # per pool: old shared SR name -> new
    for pool in lab.get("pools", []):
        names: dict[str, str] = {}
        for sr in pool.get("shared_srs", []):
            shared_sr(sr, names)
        pool_srs.append(names)
    pool_of = {name: j for j, p in enumerate(lab.get("pools", [])) for name in [p["master"], *p.get("members", [])]}

    local_srs = {}   # old host name -> {old local SR name: new}
    for host in lab["hosts"]:
        old_name = host["name"]
        host["name"] = hosts[old_name]
        local = local_srs[old_name] = {}
        for sr in host.get("local_srs", []):
            local[sr["name"]] = sr["name"] = new_sr()
        srs = {**(pool_srs[pool_of[old_name]] if old_name in pool_of else {}), **local}
        for sr in host.get("shared_srs", []):
            shared_sr(sr, srs)
        for nic in host["nics"]:
            nic.pop("mac", None)
            if nic.get("ip"):
                nic["ip"] = addresses.ip(nic["ip"])
            if nic.get("gateway"):
                nic["gateway"] = addresses.ip(nic["gateway"])
            if nic.get("dns"):
                nic["dns"] = ",".join(addresses.ip(d.strip()) for d in nic["dns"].split(",") if d.strip())
            if nic.get("purpose"):
                nic["purpose"] = nic["purpose"] if nic["purpose"] in ("Storage", "storage") else "Storage"
        for item in host.get("bonds", []) + host.get("vlans", []):
            if item.get("network"):
                item["network"] = network_name(item["network"])
        for vm in host.get("vms", []):
            vm_count += 1
            vm["name"] = f"vm-{vm_count:04d}"
            for disk in vm.get("disks", []):
                disk["sr"] = srs[disk["sr"]]
        power = host.get("power_on", {})
        power["config"] = {k: addresses.ip(v) if _is_ipv4(v) else "anonymized" for k, v in power.get("config", {}).items()}
        server = host.get("license_server", {})
        if server.get("address"):
            server["address"] = addresses.ip(server["address"]) if _is_ipv4(server["address"]) else "license.example.org"
        auth = host.get("external_auth")
        if auth and auth.get("service_name"):
            auth["service_name"] = "example.org"

    for j, pool in enumerate(lab.get("pools", [])):
        names = pool_srs[j]
        if pool.get("default_sr"):   # a shared SR, or in a pool of one the master's local SR
            pool["default_sr"] = names.get(pool["default_sr"]) or local_srs[pool["master"]].get(pool["default_sr"], "")
        pool["name"] = f"pool-{j + 1:02d}"
        pool["description"] = ""
        pool["master"] = hosts[pool["master"]]
        pool["members"] = [hosts[m] for m in pool.get("members", [])]
        ha = pool.get("ha", {})
        ha["heartbeat_srs"] = [names[n] for n in ha.get("heartbeat_srs", []) if n in names]
        pool["other_config"] = {k: v for k, v in pool.get("other_config", {}).items()
                                if v.lower() in NEUTRAL_VALUES or v.replace(".", "").isdigit()}
        pool["tags"] = []
    lab["name"] = "anonymized-twin"
    lab["description"] = "An anonymized twin captured by xapisim capture"
    return lab
