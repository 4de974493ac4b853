# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The benchmark's labs, generated as dicts (the xapisim lab file format, simulator/README.md).

Every host of a generated pool has the same content whatever the pool's size - the content of a
pool-of-four.yml host (two running VMs of 4 and 8 GiB, one suspended, one halted, all on the shared
NFS SR; 64 GiB of memory) plus a pool-wide bond - so that a figure that differs between 4 and 64
hosts differs because of the pool's size alone.

Address plan: each lab gets its own 127.0.<block>.0/24 (hosts .1 ...) so that labs never share an
address; storage IPs are in 10.<block>.0.0/22, the NFS server at 10.<block>.3.250.
"""

from __future__ import annotations

PASSWORD = "bench-root-pw"
BOND_NETWORK = "Bond 2+3"
SHARED_SR = "shared-nfs"


def _storage(block, exports=1):
    paths = ["/srv/vhd"] + ["/srv/extra%d" % i for i in range(1, exports)]
    return {"name": "bench-nfs", "type": "nfs", "address": "10.%d.3.250" % block,
            "exports": [{"path": path, "allowed": ["10.%d.0.0/22" % block], "size_gib": 65536} for path in paths]}


def _host(block, index, name, storage_ip=True, bond=False, vms=True):
    nics = [{"device": "eth0", "management": True}]
    if storage_ip:
        nics.append({"device": "eth1", "mode": "static", "ip": "10.%d.%d.%d" % (block, index // 250, index % 250 + 1),
                     "netmask": "255.255.252.0", "purpose": "Storage"})
    else:
        nics.append({"device": "eth1"})
    nics += [{"device": "eth2"}, {"device": "eth3"}]
    host = {"name": name, "address": "127.0.%d.%d" % (block, index + 1), "nics": nics}
    if bond:
        host["bonds"] = [{"devices": ["eth2", "eth3"], "mode": "balance-slb", "network": BOND_NETWORK}]
    if vms:
        suffix = name
        host["vms"] = [
            {"name": "web-%s" % suffix, "power_state": "running", "memory_gib": 4, "vcpus": 2,
             "disks": [{"sr": SHARED_SR, "size_gib": 20}]},
            {"name": "db-%s" % suffix, "power_state": "running", "memory_gib": 8, "vcpus": 4,
             "disks": [{"sr": SHARED_SR, "size_gib": 40}]},
            {"name": "batch-%s" % suffix, "power_state": "suspended", "memory_gib": 4,
             "disks": [{"sr": SHARED_SR, "size_gib": 20}]},
            {"name": "template-%s" % suffix, "power_state": "halted", "memory_gib": 2,
             "disks": [{"sr": SHARED_SR, "size_gib": 10}]},
        ]
    return host


def _base(name, time_scale, latency_ms, description):
    return {"name": name, "description": description, "time_scale": time_scale, "latency_ms": latency_ms,
            "host_defaults": {"password": PASSWORD, "memory_gib": 64, "dom0_memory_gib": 4}}


def pool_lab(name, block, hosts, time_scale, latency_ms, candidates=0, vms=True, bond=True):
    """A formed pool of `hosts` hosts (h01 the master) with the shared NFS SR as default SR, plus
    `candidates` compatible standalone hosts (c01 ...) without VMs, bond or storage IP, ready to join."""
    lab = _base(name, time_scale, latency_ms, "%d-host pool (bench)" % hosts)
    members = ["h%02d" % (i + 1) for i in range(hosts)]
    lab["hosts"] = [_host(block, i, n, bond=bond, vms=vms) for i, n in enumerate(members)]
    lab["hosts"] += [_host(block, hosts + i, "c%02d" % (i + 1), storage_ip=False, vms=False)
                     for i in range(candidates)]
    lab["storage"] = [_storage(block)]
    lab["pools"] = [{"name": name, "description": "bench pool", "master": members[0], "members": members[1:],
                     "shared_srs": [{"name": SHARED_SR, "type": "nfs", "storage": "bench-nfs", "path": "/srv/vhd"}],
                     "default_sr": SHARED_SR}]
    return lab


def standalone_lab(name, block, hosts, time_scale, latency_ms, exports=1):
    """`hosts` fresh, identical standalone hosts (s01 ...) as three-standalone.yml has them: eth0
    management, eth1 .. eth3 unconfigured, a local SR, no VMs; and the NFS server, which exports only
    to the storage subnet 10.<block>.0.0/22 (storage IPs are for the pool build to give)."""
    lab = _base(name, time_scale, latency_ms, "%d standalone hosts (bench)" % hosts)
    lab["hosts"] = [_host(block, i, "s%02d" % (i + 1), storage_ip=False, vms=False) for i in range(hosts)]
    lab["storage"] = [_storage(block, exports)]
    return lab


def storage_ip(block, index):
    """The storage IP the pool build gives host number `index` (0-based), as the pool labs have it."""
    return "10.%d.%d.%d" % (block, index // 250, index % 250 + 1)
