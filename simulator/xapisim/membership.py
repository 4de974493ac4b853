"""What a join leaves behind (BEHAVIOUR.md §1.4), shared by `pool.join` and by pools that a lab
forms at start.  Phase one is the push into the master's database during the call; then the
joiner's xapi restarts and `become_slave` points the machine at the master's database; phase two
(`slave_hello`, `slave_started`) is what the new slave does when its xapi comes back."""
from __future__ import annotations

from .db import Database
from .factory import ocaml_float, cpu_info, create_bond, create_vlan, network_for_bridge, pool_cpu_info, the_pool
from .model import NULL_REF, DateTime
from .storage import plug_pbd
from .world import Machine, World

MAX_CLOCK_SKEW = 300   # seconds (Xapi_globs.max_clock_skew)

# host fields `host.create` on the master receives from the joiner (power_on_* and cpu_info are not)
COPIED_HOST_FIELDS = ("uuid", "name_label", "name_description", "hostname", "address", "edition",
                      "license_params", "license_server", "software_version", "external_auth_type",
                      "external_auth_service_name", "other_config", "API_version_major", "API_version_minor",
                      "API_version_vendor", "tls_verification_enabled", "pending_guidances", "tags",
                      "ssl_legacy")


def push_into_pool(world: World, joiner: Machine, master: Machine) -> str:
    """Copies the joiner's host, SRs, networks, PIFs and VMs into the master's database; the
    host starts disabled and not live, its PBDs unplugged.  The joiner's own database is left
    as it is (its xapi keeps serving it until it restarts).  Returns the new host ref."""
    src, dst = joiner.db, master.db
    old_host = src.get("host", joiner.host_ref)
    metrics = dst.create("host_metrics", memory_total=src.get("host_metrics", old_host["metrics"])["memory_total"],
                         live=False, last_updated=DateTime.at(world.now()))
    host = dst.create("host", enabled=False, metrics=metrics, **{k: old_host[k] for k in COPIED_HOST_FIELDS})
    refs = {joiner.host_ref: host, old_host["metrics"]: metrics}
    for ref, cpu in src.all("host_cpu").items():
        refs[ref] = dst.create("host_cpu", **{**cpu, "host": host})
    for ref, sr in src.all("SR").items():
        if sr["is_tools_sr"]:
            continue
        refs[ref] = dst.create("SR", **{**sr, "shared": False, "PBDs": [], "VDIs": []})
    for ref, pbd in src.all("PBD").items():
        if pbd["SR"] in refs:
            # the joiner unplugs its PBDs before restarting; the slave plugs them again
            refs[ref] = dst.create("PBD", host=host, SR=refs[pbd["SR"]], device_config=dict(pbd["device_config"]),
                                   currently_attached=False)
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
    for vlan in src.all("VLAN").values():   # only a management VLAN can be there (pre-join check 18)
        if vlan["tagged_PIF"] in refs and vlan["untagged_PIF"] in refs:
            new = dst.create("VLAN", **{**vlan, "tagged_PIF": refs[vlan["tagged_PIF"]],
                                        "untagged_PIF": refs[vlan["untagged_PIF"]]})
            dst.set("PIF", refs[vlan["untagged_PIF"]], VLAN_master_of=new)
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
        # PCI.attached_VMs is internal to xapi (not in the datamodel): VM.attached_PCIs says it
        vms = [refs[v] for v, vm in src.all("VM").items() if ref in vm["attached_PCIs"] and v in refs]
        new = dst.create("PCI", **{**pci, "host": host})
        for v in vms:
            dst.set("VM", v, attached_PCIs=[*dst.get("VM", v)["attached_PCIs"], new])
    for ref, vgpu in src.all("VGPU").items():
        if vgpu["VM"] in refs:
            new = dst.create("VGPU", **{**vgpu, "VM": refs[vgpu["VM"]]})
            dst.set("VM", refs[vgpu["VM"]], VGPUs=[*dst.get("VM", refs[vgpu["VM"]])["VGPUs"], new])
    updates = {}
    for ref, update in src.all("pool_update").items():
        existing = dst.by_uuid.get(update["uuid"])
        target = existing[1] if existing else dst.create("pool_update", **{**update, "hosts": []})
        dst.set("pool_update", target, hosts=[*dst.get("pool_update", target)["hosts"], host])
        updates[ref] = target
    dst.set("host", host, updates=[updates[u] for u in old_host["updates"] if u in updates],
            updates_requiring_reboot=[updates[u] for u in old_host["updates_requiring_reboot"] if u in updates],
            suspend_image_sr=refs.get(old_host["suspend_image_sr"], NULL_REF),
            crash_dump_sr=refs.get(old_host["crash_dump_sr"], NULL_REF))
    return host


def become_slave(world: World, machine: Machine, db: Database, host: str, master_address: str) -> None:
    """The restarted xapi reads pool.conf: from now on the machine uses the master's database.
    Its old database, with its sessions and tasks, is gone."""
    old = machine.db
    if old is not None and old is not db:
        for ref in old.all("session"):
            world.session_active.pop(ref, None)
            world.session_tasks.pop(ref, None)
    machine.db, machine.host_ref, machine.master_address = db, host, master_address


def agent_started(world: World, machine: Machine) -> None:
    """xapi (re)started on the machine: a new `other_config:agent_start_time`."""
    machine.agent_start = world.now()
    db, host = machine.db, machine.host_ref
    other = db.get("host", host)["other_config"]
    db.set("host", host, other_config={**other, "agent_start_time": ocaml_float(machine.agent_start)})


def slave_hello(world: World, machine: Machine) -> None:
    """Pool.hello from a starting slave: the master marks it live (it stays disabled until
    the slave has finished starting); the slave reports its CPUs; the master's heartbeat
    check notices a skewed clock."""
    db, host = machine.db, machine.host_ref
    agent_started(world, machine)
    db.set("host", host, cpu_info=cpu_info(machine.spec), enabled=False)
    db.set("host_metrics", db.get("host", host)["metrics"], live=True, last_updated=DateTime.at(world.now()))
    db.set("pool", the_pool(db), cpu_info=pool_cpu_info(db))
    detect_clock_skew(world, machine)


def slave_started(world: World, machine: Machine, *, enable: bool = True) -> None:
    """The rest of the new slave's start: it plugs its PBDs, creates and plugs a PBD for every
    shared SR, copies bonds and VLANs from the master, and enables itself unless it should stay
    disabled (pending mandatory guidances)."""
    db = machine.db
    host = machine.host_ref
    if not db.get("host_metrics", db.get("host", host)["metrics"])["live"]:
        slave_hello(world, machine)
    master_host = db.get("pool", the_pool(db))["master"]
    sync_networking(db, master_host, host)
    for pbd in list(db.get("host", host)["PBDs"]):
        plug_pbd(world, db, pbd, raise_error=False)
    for sr_ref, sr in list(db.all("SR").items()):
        if not sr["shared"]:
            continue
        if any(db.get("PBD", p)["host"] == host for p in sr["PBDs"]):
            continue
        master_pbd = next((db.get("PBD", p) for p in sr["PBDs"] if db.get("PBD", p)["host"] == master_host), None)
        config = {k: v for k, v in (master_pbd["device_config"] if master_pbd else {}).items() if k != "SRmaster"}
        pbd = db.create("PBD", host=host, SR=sr_ref, device_config=config, currently_attached=False)
        plug_pbd(world, db, pbd, raise_error=False)
    if enable and not db.get("host", host)["pending_guidances"]:
        db.set("host", host, enabled=True)


def detect_clock_skew(world: World, machine: Machine) -> None:
    """HOST_CLOCK_SKEW_DETECTED (priority 3) on the master, once per host (ocaml/xapi/db_gc.ml)."""
    db = machine.db
    master = world.master_of(db)
    skew = abs(machine.spec.get("clock_offset", 0) - master.spec.get("clock_offset", 0))
    if master is machine or skew <= MAX_CLOCK_SKEW:
        return
    host = db.get("host", machine.host_ref)
    if db.find("message", name="HOST_CLOCK_SKEW_DETECTED", obj_uuid=host["uuid"]):
        return
    pool_name = db.get("pool", the_pool(db))["name_label"]
    db.create("message", name="HOST_CLOCK_SKEW_DETECTED", priority=3, cls="Host", obj_uuid=host["uuid"],
              timestamp=DateTime.at(world.now() + master.spec.get("clock_offset", 0)),
              body=f"The clock on server '{host['name_label']}' may not be synchronized with the other servers in "
                   f"pool '{pool_name}'. This could lead to errors when performing VM lifecycle operations, and "
                   "will also affect the times recorded against archived performance data gathered from this server.")


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
        host = push_into_pool(world, member, master)
        # a join does not copy power-on settings; a lab's pool member has those of its lab entry
        power = member.spec["power_on"]
        db.set("host", host, power_on_mode=power["mode"], power_on_config={k: str(v) for k, v in power["config"].items()})
        become_slave(world, member, db, host, master.address)
        if member.powered:
            slave_started(world, member)
        else:   # it was a member before it was shut down: its CPUs are known
            db.set("host", host, cpu_info=cpu_info(member.spec))
    db.set("pool", pool, cpu_info=pool_cpu_info(db))
