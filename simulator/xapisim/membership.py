"""What a join leaves behind (BEHAVIOUR.md §1.4), shared by `pool.join` and by pools that a lab
forms at start.  Phase one is the push into the master's database during the call; phase two is
what the new slave does when its xapi comes back."""
from __future__ import annotations

from .db import Database
from .factory import create_bond, create_vlan, network_for_bridge, pool_cpu_info, the_pool
from .model import NULL_REF, DateTime
from .storage import plug_pbd
from .world import Machine, World


def push_into_pool(world: World, joiner: Machine, master: Machine, master_address: str) -> str:
    """Copies the joiner's host, SRs, networks, PIFs and VMs into the master's database; the
    host starts disabled and not live.  Returns its new host ref."""
    src, dst = joiner.db, master.db
    old_host = src.get("host", joiner.host_ref)
    metrics = dst.create("host_metrics", memory_total=src.get("host_metrics", old_host["metrics"])["memory_total"],
                         live=False, last_updated=DateTime.at(world.now()))
    copied = {k: old_host[k] for k in ("uuid", "name_label", "name_description", "hostname", "address", "edition",
                                       "license_params", "license_server", "software_version", "external_auth_type",
                                       "external_auth_service_name", "other_config", "API_version_major",
                                       "API_version_minor", "API_version_vendor", "tls_verification_enabled",
                                       "pending_guidances", "tags")}
    src.by_uuid.pop(old_host["uuid"], None)
    host = dst.create("host", enabled=False, metrics=metrics, **copied)
    refs = {joiner.host_ref: host, old_host["metrics"]: metrics}
    for ref, cpu in src.all("host_cpu").items():
        refs[ref] = dst.create("host_cpu", **{**cpu, "host": host})
    for ref, sr in src.all("SR").items():
        if sr["is_tools_sr"] if "is_tools_sr" in sr else False:
            continue
        refs[ref] = dst.create("SR", **{**sr, "shared": False, "PBDs": [], "VDIs": []})
    for ref, pbd in src.all("PBD").items():
        if pbd["SR"] in refs:
            refs[ref] = dst.create("PBD", host=host, SR=refs[pbd["SR"]], device_config=dict(pbd["device_config"]),
                                   currently_attached=pbd["currently_attached"])
    for ref, vdi in src.all("VDI").items():
        if vdi["SR"] in refs:
            refs[ref] = dst.create("VDI", **{**vdi, "SR": refs[vdi["SR"]], "VBDs": []})
    networks = {ref: network_for_bridge(dst, net["bridge"], net["name_label"]) for ref, net in src.all("network").items()}
    for ref, pif in src.all("PIF").items():
        if pif["physical"] or pif["management"]:
            refs[ref] = dst.create("PIF", **{**pif, "host": host, "network": networks[pif["network"]],
                                             "bond_slave_of": NULL_REF, "bond_master_of": [], "VLAN_slave_of": [],
                                             "VLAN_master_of": NULL_REF,
                                             "metrics": dst.create("PIF_metrics", **src.get("PIF_metrics", pif["metrics"]))
                                             if src.exists("PIF_metrics", pif["metrics"]) else NULL_REF})
    for ref, vm in src.all("VM").items():
        vm_metrics = dst.create("VM_metrics", **src.get("VM_metrics", vm["metrics"])) if src.exists("VM_metrics", vm["metrics"]) else NULL_REF
        refs[ref] = dst.create("VM", **{**vm, "resident_on": refs.get(vm["resident_on"], NULL_REF),
                                        "affinity": refs.get(vm["affinity"], NULL_REF),
                                        "suspend_VDI": refs.get(vm["suspend_VDI"], NULL_REF), "metrics": vm_metrics,
                                        "VBDs": [], "VIFs": [], "attached_PCIs": [], "VGPUs": []})
    for ref, vbd in src.all("VBD").items():
        if vbd["VM"] in refs and vbd["VDI"] in refs:
            dst.create("VBD", **{**vbd, "VM": refs[vbd["VM"]], "VDI": refs[vbd["VDI"]]})
    for ref, pci in src.all("PCI").items():
        vms = [refs[v] for v in pci["attached_VMs"] if v in refs]
        new = dst.create("PCI", **{**pci, "host": host, "attached_VMs": vms})
        for v in vms:
            dst.set("VM", v, attached_PCIs=[*dst.get("VM", v)["attached_PCIs"], new])
    for ref, vgpu in src.all("VGPU").items():
        if vgpu["VM"] in refs:
            new = dst.create("VGPU", **{**vgpu, "VM": refs[vgpu["VM"]]})
            dst.set("VM", refs[vgpu["VM"]], VGPUs=[*dst.get("VM", refs[vgpu["VM"]])["VGPUs"], new])
    updates = []
    for ref, update in src.all("pool_update").items():
        existing = dst.by_uuid.get(update["uuid"])
        target = existing[1] if existing else dst.create("pool_update", **{**update, "hosts": []})
        dst.set("pool_update", target, hosts=[*dst.get("pool_update", target)["hosts"], host])
        updates.append(target)
    dst.set("host", host, updates=updates)
    joiner.db, joiner.host_ref, joiner.master_address = dst, host, master_address
    return host


def slave_started(world: World, machine: Machine, *, enable: bool = True) -> None:
    """The new slave's xapi is up: Pool.hello marks it live, it creates and plugs a PBD for
    every shared SR, copies bonds and VLANs from the master, and enables itself."""
    db = machine.db
    host = machine.host_ref
    spec = machine.spec
    master_host = db.get("pool", the_pool(db))["master"]
    from .factory import cpu_info
    db.set("host", host, cpu_info=cpu_info(spec))
    db.set("host_metrics", db.get("host", host)["metrics"], live=True, last_updated=DateTime.at(world.now()))
    sync_networking(db, master_host, host)
    for sr_ref, sr in list(db.all("SR").items()):
        if not sr["shared"]:
            continue
        if any(db.get("PBD", p)["host"] == host for p in sr["PBDs"]):
            continue
        master_pbd = next((db.get("PBD", p) for p in sr["PBDs"] if db.get("PBD", p)["host"] == master_host), None)
        config = {k: v for k, v in (master_pbd["device_config"] if master_pbd else {}).items() if k != "SRmaster"}
        pbd = db.create("PBD", host=host, SR=sr_ref, device_config=config, currently_attached=False)
        plug_pbd(world, db, pbd, raise_error=False)
    pool = the_pool(db)
    db.set("pool", pool, cpu_info=pool_cpu_info(db))
    if enable and not db.get("host", host)["pending_guidances"]:
        db.set("host", host, enabled=True)


def sync_networking(db: Database, master_host: str, host: str) -> None:
    """Bonds and VLANs of the master, re-created on a slave that lacks them (by device)."""
    pifs = db.all("PIF")
    for bond in list(db.all("Bond").values()):
        master_pif = pifs[bond["master"]]
        if master_pif["host"] != master_host:
            continue
        devices = sorted(pifs[s]["device"] for s in bond["slaves"])
        has = any(pifs[b["master"]]["host"] == host and sorted(pifs[s]["device"] for s in b["slaves"]) == devices
                  for b in db.all("Bond").values())
        if not has and all(any(p["host"] == host and p["device"] == d and p["physical"] for p in pifs.values()) for d in devices):
            create_bond(db, host, devices, bond["mode"], "", network=master_pif["network"], properties=dict(bond["properties"]))
    for vlan in list(db.all("VLAN").values()):
        untagged = pifs[vlan["untagged_PIF"]]
        if untagged["host"] != master_host or untagged["management"]:
            continue
        tagged = pifs[vlan["tagged_PIF"]]
        network_name = db.get("network", untagged["network"])["name_label"]
        has = any(p["host"] == host and p["VLAN"] == vlan["tag"] for p in pifs.values())
        if not has and any(p["host"] == host and p["device"] == tagged["device"] for p in pifs.values()):
            create_vlan(db, host, tagged["device"], vlan["tag"], network_name)


def form_pool(world: World, pool_spec: dict) -> None:
    """A pool that exists when the lab starts: members joined and started at once."""
    master = world.machine(pool_spec["master"])
    db = master.db
    pool = the_pool(db)
    db.name = pool_spec["name"]
    db.set("pool", pool, name_label=pool_spec["name"], name_description=pool_spec["description"],
           other_config=dict(pool_spec["other_config"]), tags=list(pool_spec["tags"]))
    for name in pool_spec["members"]:
        member = world.machine(name)
        push_into_pool(world, member, master, master.address)
        slave_started(world, member)
    db.set("pool", pool, cpu_info=pool_cpu_info(db))
