"""Building objects: a fresh standalone host from its lab entry, and a host merged into a pool
the way `pool.join` leaves the master's database (BEHAVIOUR.md §1.4)."""
from __future__ import annotations

import hashlib
import ipaddress
import uuid

from .db import Database, new_ref
from .model import NULL_REF, DateTime
from .world import Machine, World

GIB = 1 << 30
SM_TYPES = {  # type -> (name, features); features matter for HA statefiles and destroy
    "nfs": ("NFS VHD", {"SR_PROBE": "1", "SR_UPDATE": "1", "VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1",
                        "VDI_GENERATE_CONFIG": "1", "SR_DELETE": "1"}),
    "lvmoiscsi": ("LVHD over iSCSI", {"SR_PROBE": "1", "VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1",
                                      "VDI_GENERATE_CONFIG": "1", "SR_DELETE": "1"}),
    "lvmohba": ("LVHD over FC", {"SR_PROBE": "1", "VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1",
                                 "VDI_GENERATE_CONFIG": "1", "SR_DELETE": "1"}),
    "smb": ("SMB VHD", {"SR_PROBE": "1", "VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1", "SR_DELETE": "1"}),
    "gfs2": ("GFS2", {"SR_PROBE": "1", "VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1", "SR_DELETE": "1"}),
    "ext": ("Local EXT3 VHD", {"VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1", "SR_DELETE": "1"}),
    "lvm": ("Local LVHD", {"VDI_CREATE": "1", "VDI_DELETE": "1", "VDI_ATTACH": "1", "SR_DELETE": "1"}),
    "iso": ("ISO", {"SR_PROBE": "1", "VDI_ATTACH": "1"}),
    "udev": ("Local removable devices", {"VDI_ATTACH": "1"}),
}


def ocaml_float(value: float) -> str:
    """A float as xapi writes it into other_config (OCaml string_of_float: %.12g, and a
    trailing dot when that has none), e.g. agent_start_time "1795240087.13"."""
    text = "%.12g" % value
    return text if any(c in text for c in ".en") else text + "."


def mac_for(host: str, device: str) -> str:
    digest = hashlib.sha256(f"{host}/{device}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


# xapi 1.234.0 (CP-32840, on the way to Stockholm) removed legacy SSL: its database upgrade sets
# every host's ssl_legacy to false, and the calls that set it no longer do (api/tls.py).
LEGACY_SSL_REMOVED = (1, 234)


def xapi_version_of(spec: dict) -> tuple[int, ...]:
    """The lab's software.xapi, e.g. (25, 31)."""
    return tuple(int(p) for p in str(spec["software"]["xapi"]).split(".") if p.isdigit())


def software_version(spec: dict) -> dict:
    sw = spec["software"]
    version = {
        "product_version": sw["product_version"], "product_version_text": sw["product_version"],
        "product_version_text_short": sw["product_version"], "platform_name": sw["platform_name"],
        "platform_version": sw["platform_version"], "product_brand": sw["product_brand"],
        "build_number": sw["build_number"], "xapi": sw["xapi"], "xapi_build": sw["xapi"] + ".0",
        "git_id": sw["git_id"], "hostname": spec["name"], "date": "2025-06-01",
        "xen": "4.17.5", "linux": "4.19.0+1", "xencenter_min": "2.21", "xencenter_max": sw["api_version"],
        "network_backend": sw["network_backend"], "db_schema": sw["db_schema"],
    }
    if sw["linux_pack"]:
        version["xs:linux"] = "Linux Pack, version 1.0, homogeneous"
        version["package-linux"] = "installed"
    version.update(spec["supplemental_packs"])
    return version


def cpu_info(spec: dict) -> dict:
    cpu = spec["cpu"]
    return {"cpu_count": str(cpu["count"]), "socket_count": str(cpu["sockets"]), "threads_per_core": "2",
            "nr_nodes": str(cpu["sockets"]), "vendor": cpu["vendor"], "speed": f"{float(cpu['speed']):.3f}",
            "modelname": cpu["modelname"], "family": str(cpu["family"]), "model": str(cpu["model"]),
            "stepping": str(cpu["stepping"]), "flags": cpu["flags"], "features_pv": cpu["features"],
            "features_hvm": cpu["features"], "features_hvm_host": cpu["features"], "features_pv_host": cpu["features"]}


def license_params(spec: dict) -> dict:
    return {"restrict_pooling": str(not spec["pooling_licensed"]).lower(),
            "restrict_pool_size": str(spec["pool_size_restricted"]).lower(),
            "enable_xha": "true", "sku_type": spec["edition"], "expiry": "20300101T00:00:00Z"}


def build_standalone(world: World, machine: Machine, with_vms: bool = True) -> None:
    """A fresh host as after installation: the master of its own pool of one."""
    spec = machine.spec
    db = Database(spec["name"])
    machine.db, machine.master_address = db, None
    host = new_ref()
    metrics = db.create("host_metrics", memory_total=spec["memory_gib"] * GIB, live=spec["power"] == "on",
                        last_updated=DateTime.at(world.now()))
    machine.agent_start = world.now()
    db.create("host", ref=host, uuid=spec.get("uuid") or "", name_label=spec["name"], hostname=spec["name"],
              address=machine.address, enabled=True, metrics=metrics,
              API_version_major=int(spec["software"]["api_version"].split(".")[0]),
              API_version_minor=int(spec["software"]["api_version"].split(".")[1]), API_version_vendor="XenSource",
              software_version=software_version(spec), cpu_info=cpu_info(spec), edition=spec["edition"],
              license_params=license_params(spec), license_server={k: str(v) for k, v in spec["license_server"].items()},
              external_auth_type=spec["external_auth"]["type"],
              external_auth_service_name=spec["external_auth"]["service_name"],
              other_config={"agent_start_time": ocaml_float(machine.agent_start)},
              tls_verification_enabled=spec["tls_verification"], pending_guidances=list(spec["pending_guidances"]),
              ssl_legacy=spec.get("ssl_legacy", False) and xapi_version_of(spec) < LEGACY_SSL_REMOVED)
    spec["uuid"] = db.get("host", host)["uuid"]  # the host keeps its uuid through eject and re-install
    machine.host_ref = host
    for i in range(spec["cpu"]["count"]):
        db.create("host_cpu", host=host, number=i, vendor=spec["cpu"]["vendor"], speed=int(spec["cpu"]["speed"]),
                  modelname=spec["cpu"]["modelname"], family=spec["cpu"]["family"], model=spec["cpu"]["model"],
                  stepping=str(spec["cpu"]["stepping"]), flags=spec["cpu"]["flags"], features=spec["cpu"]["features"])
    dom0 = spec["dom0_memory_gib"] * GIB
    db.create("VM", name_label=f"Control domain on host: {spec['name']}", is_control_domain=True, power_state="Running",
              resident_on=host, memory_static_max=dom0, memory_dynamic_max=dom0, memory_dynamic_min=dom0,
              memory_static_min=dom0, memory_target=dom0, domid=0, VCPUs_max=16, VCPUs_at_startup=16,
              metrics=db.create("VM_metrics", memory_actual=dom0, VCPUs_number=16))
    for sm_type, (name, features) in SM_TYPES.items():
        db.create("SM", name_label=name, type=sm_type, vendor="Citrix Systems Inc", version="1.0",
                  required_api_version="1.0", features={k: int(v) for k, v in features.items()},
                  driver_filename=f"/opt/xensource/sm/{sm_type}SR")
    _build_network(db, host, spec)
    srs = {}
    for sr in spec["local_srs"]:
        srs[sr["name"]] = _local_sr(db, host, sr, shared=False)
    for sr in spec["shared_srs"]:
        srs[sr["name"]] = _local_sr(db, host, sr, shared=True)
    updates = [db.create("pool_update", name_label=u, name_description=u, version="1.0", installation_size=1 << 20,
                         after_apply_guidance=["restartHost"] if u in spec["updates_requiring_reboot"] else [],
                         enforce_homogeneity=True, hosts=[host],
                         uuid=_stable_uuid("update/" + u))
               for u in spec["updates"]]
    db.set("host", host, updates=updates,
           updates_requiring_reboot=[r for r in updates if db.get("pool_update", r)["name_label"] in spec["updates_requiring_reboot"]])
    for _ in range(spec["tunnels"]):
        db.create("tunnel", status={"active": "true"})
    for _ in range(spec["network_sriovs"]):
        db.create("network_sriov", configuration_mode="sysfs")
    if spec["clustering"]:
        db.create("Cluster_host", host=host, enabled=True)
    local_default = next(iter(srs.values()), NULL_REF)
    db.create("pool", name_label="", master=host, default_SR=local_default, suspend_image_SR=local_default,
              crash_dump_SR=local_default, cpu_info=pool_cpu_info(db),
              restrictions=license_params(spec), tls_verification_enabled=spec["tls_verification"],
              ha_enabled=spec["ha_enabled"], other_config={})
    db.set("host", host, suspend_image_sr=local_default, crash_dump_sr=local_default)
    for vm in spec["vms"] if with_vms else ():
        create_vm(db, host, vm, srs)
    power = spec["power_on"]
    config = {k: str(v) for k, v in power["config"].items()}
    db.set("host", host, power_on_mode=power["mode"], power_on_config=config)
    if spec["power"] != "on":
        machine.powered, machine.api_up = False, False


def _stable_uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "xapisim:" + text))


def network_for_bridge(db: Database, bridge: str, name: str) -> str:
    found = db.find_one("network", bridge=bridge)
    return found or db.create("network", name_label=name, bridge=bridge, MTU=1500, managed=True,
                              other_config={"automatic": "true"} if bridge.startswith("xenbr") else {})


def _build_network(db: Database, host: str, spec: dict) -> None:
    vlan_mgmt = spec["management_vlan"] >= 0
    for index, nic in enumerate(spec["nics"]):
        network = network_for_bridge(db, f"xenbr{index}", f"Pool-wide network associated with {nic['device']}")
        managed_here = nic["management"] and not vlan_mgmt
        ip_mode = {"static": "Static", "dhcp": "DHCP", "none": "None"}[nic["mode"]] if (managed_here or nic["ip"] or nic["mode"] != "none") else "None"
        pif = db.create(
            "PIF", device=nic["device"], host=host, network=network, MAC=nic["mac"] or mac_for(spec["name"], nic["device"]),
            MTU=1500, VLAN=-1, physical=True, currently_attached=True, managed=True,
            ip_configuration_mode=ip_mode if not vlan_mgmt or not nic["management"] else "None",
            IP=(nic["ip"] or "") if not (vlan_mgmt and nic["management"]) else "",
            netmask=nic["netmask"] or "", gateway=nic["gateway"], DNS=nic["dns"],
            management=managed_here, disallow_unplug=nic["disallow_unplug"],
            other_config={"management_purpose": nic["purpose"]} if nic["purpose"] else {},
            primary_address_type="IPv4",
            metrics=db.create("PIF_metrics", carrier=True, speed=nic["speed"], duplex=True),
            properties={"gro": "on"})
        if vlan_mgmt and nic["management"]:
            tag = spec["management_vlan"]
            vnet = network_for_bridge(db, f"xapi{tag}", f"VLAN {tag}")
            vpif = db.create("PIF", device=nic["device"], host=host, network=vnet, MAC=db.get("PIF", pif)["MAC"], MTU=1500,
                             VLAN=tag, physical=False, currently_attached=True, managed=True, ip_configuration_mode="Static",
                             IP=nic["ip"] or "", netmask=nic["netmask"] or "", gateway=nic["gateway"], DNS=nic["dns"],
                             management=True, primary_address_type="IPv4")
            vlan = db.create("VLAN", tagged_PIF=pif, untagged_PIF=vpif, tag=tag)
            db.set("PIF", vpif, VLAN_master_of=vlan)
    for vlan in spec["vlans"]:
        create_vlan(db, host, vlan["device"], vlan["tag"], vlan.get("network") or f"VLAN {vlan['tag']}")
    for bond in spec["bonds"]:
        create_bond(db, host, bond["devices"], bond["mode"], bond.get("network") or "Bond " + "+".join(bond["devices"]))


def pif_by_device(db: Database, host: str, device: str, physical: bool = True) -> str | None:
    for ref, pif in db.all("PIF").items():
        if pif["host"] == host and pif["device"] == device and pif["VLAN"] == -1 and pif["physical"] == physical:
            return ref
    return None


VLAN_MAC = "fe:ff:ff:ff:ff:ff"   # what xapi gives a VLAN PIF (xapi_vlan.ml); only physical PIFs get real MACs
# Bond.create: properties each mode takes, with their defaults (xapi_bond.ml requirements_of_mode)
BOND_PROPERTIES = {"lacp": {"hashing_algorithm": "tcpudp_ports", "lacp-time": "slow", "lacp-fallback-ab": "true"}}


def new_bridge_name(db: Database) -> str:
    """The first free `xapiN`, as xapi names the bridge of a network it creates."""
    bridges = {n["bridge"] for n in db.all("network").values()}
    index = 0
    while f"xapi{index}" in bridges:
        index += 1
    return f"xapi{index}"


def _named_network(db: Database, name: str) -> str:
    return db.find_one("network", name_label=name) or db.create(
        "network", name_label=name, bridge=new_bridge_name(db), MTU=1500, managed=True)


def make_vlan(db: Database, tagged: str, tag: int, network: str) -> str:
    """The VLAN and its untagged PIF as VLAN.create leaves them (plugged)."""
    base = db.get("PIF", tagged)
    untagged = db.create("PIF", device=base["device"], host=base["host"], network=network, MAC=VLAN_MAC,
                         MTU=base["MTU"], VLAN=tag, metrics=base["metrics"], physical=False, currently_attached=True,
                         managed=True, ip_configuration_mode="None", primary_address_type=base["primary_address_type"])
    vlan = db.create("VLAN", tagged_PIF=tagged, untagged_PIF=untagged, tag=tag)
    db.set("PIF", untagged, VLAN_master_of=vlan)
    return vlan


def create_vlan(db: Database, host: str, device: str, tag: int, network_name: str) -> str:
    tagged = pif_by_device(db, host, device) or pif_by_device(db, host, device, physical=False)
    return make_vlan(db, tagged, tag, _named_network(db, network_name))


def move_ip_configuration(db: Database, source: str, target: str) -> None:
    """xapi_bond.ml move_configuration: IPv4 settings go to `target`, `source` is left without."""
    p = db.get("PIF", source)
    db.set("PIF", target, ip_configuration_mode=p["ip_configuration_mode"], IP=p["IP"], netmask=p["netmask"],
           gateway=p["gateway"], DNS=p["DNS"])
    db.set("PIF", source, ip_configuration_mode="None", IP="", netmask="", gateway="", DNS="")


def move_vlans(db: Database, sources: list[str], target: str) -> None:
    """VLANs on `sources` move onto `target` (a bond's master, or back to its primary member)."""
    device = db.get("PIF", target)["device"]
    for ref, vlan in list(db.all("VLAN").items()):
        if vlan["tagged_PIF"] in sources:
            db.set("VLAN", ref, tagged_PIF=target)
            if db.exists("PIF", vlan["untagged_PIF"]):
                db.set("PIF", vlan["untagged_PIF"], device=device)


def make_bond(db: Database, members: list[str], network: str, mac: str = "", mode: str = "balance-slb",
              properties: dict | None = None) -> str:
    """A bond as Bond.create leaves it (xapi_bond.ml): a plugged `bondN` master PIF takes the IP
    configuration of the primary member (the management one, else the first with an IP, else
    the first), the management flag, VLANs and disallow_unplug; members get bond_slave_of."""
    pifs = db.all("PIF")
    host = pifs[members[0]]["host"]
    management = next((m for m in members if pifs[m]["management"]), None)
    with_ip = [m for m in members if pifs[m]["ip_configuration_mode"] != "None"]
    primary = management or (with_ip[0] if with_ip else members[0])
    p = pifs[primary]
    taken = {r["device"] for r in pifs.values() if r["host"] == host and r["bond_master_of"]}
    index = 0
    while f"bond{index}" in taken:
        index += 1
    speed = db.get("PIF_metrics", p["metrics"])["speed"] if db.exists("PIF_metrics", p["metrics"]) else 0
    master = db.create("PIF", device=f"bond{index}", host=host, network=network, MAC=mac or p["MAC"],
                       MTU=db.get("network", network)["MTU"], VLAN=-1, physical=False, currently_attached=True,
                       managed=True, primary_address_type=p["primary_address_type"], properties=dict(p["properties"]),
                       metrics=db.create("PIF_metrics", carrier=True, speed=speed, duplex=True))
    up = sum(1 for m in members
             if db.exists("PIF_metrics", pifs[m]["metrics"]) and db.get("PIF_metrics", pifs[m]["metrics"])["carrier"])
    bond = db.create("Bond", master=master, mode=mode, primary_slave=primary, links_up=up, auto_update_mac=not mac,
                     properties={**BOND_PROPERTIES.get(mode, {}), **(properties or {})})
    for m in members:
        db.set("PIF", m, bond_slave_of=bond)
    move_ip_configuration(db, primary, master)
    if management:
        db.set("PIF", master, management=True)
        for m in members:
            db.set("PIF", m, management=False)
    move_vlans(db, members, master)
    if any(pifs[m]["disallow_unplug"] for m in members):
        db.set("PIF", master, disallow_unplug=True)
        for m in members:
            db.set("PIF", m, disallow_unplug=False)
    return bond


def create_bond(db: Database, host: str, devices: list[str], mode: str, network_name: str,
                network: str | None = None, properties: dict | None = None) -> str:
    """A lab's (or a join's) bond of `devices`; the lab's NIC purpose stays with the bond."""
    members = [pif_by_device(db, host, d) for d in devices]
    purpose = next((db.get("PIF", m)["other_config"] for m in members if db.get("PIF", m)["other_config"]), {})
    bond = make_bond(db, members, network or _named_network(db, network_name), "", mode, properties)
    if purpose:
        db.set("PIF", db.get("Bond", bond)["master"], other_config=dict(purpose))
    return bond


def _local_sr(db: Database, host: str, sr: dict, shared: bool) -> str:
    size = sr["size_gib"] * GIB
    ref = db.create("SR", name_label=sr["name"], type=sr["type"], content_type="user", shared=shared,
                    physical_size=size, physical_utilisation=0, virtual_allocation=0,
                    other_config={"i18n-key": "local-storage"} if not shared else {}, sm_config={"devserial": "scsi-local"},
                    allowed_operations=["scan", "destroy", "forget", "plug", "unplug", "vdi_create", "vdi_destroy"])
    db.create("PBD", host=host, SR=ref, device_config={"device": "/dev/sda3"} if not shared else {"server": "storage", "serverpath": "/"},
              currently_attached=True)
    return ref


def create_vdi(db: Database, sr: str, name: str, size: int, vdi_type: str = "user") -> str:
    vdi = db.create("VDI", name_label=name, SR=sr, virtual_size=size, physical_utilisation=size // 4, type=vdi_type,
                    sharable=False, read_only=False, managed=True, location=new_ref()[10:])
    record = db.get("SR", sr)
    db.set("SR", sr, physical_utilisation=record["physical_utilisation"] + size // 4,
           virtual_allocation=record["virtual_allocation"] + size)
    return vdi


def create_vm(db: Database, host: str, vm: dict, srs: dict[str, str]) -> str:
    memory = int(vm["memory_gib"] * GIB)
    state = {"running": "Running", "halted": "Halted", "suspended": "Suspended", "paused": "Paused"}[vm["power_state"]]
    other = {"auto_poweron": "true"} if vm.get("auto_poweron") else {}
    ref = db.create("VM", name_label=vm["name"], power_state=state, is_a_template=False,
                    resident_on=host if state in ("Running", "Paused") else NULL_REF,
                    affinity=host if state == "Suspended" else NULL_REF,
                    memory_static_max=memory, memory_dynamic_max=memory, memory_dynamic_min=memory,
                    memory_static_min=min(memory, 512 << 20), memory_target=memory,
                    VCPUs_max=vm["vcpus"], VCPUs_at_startup=vm["vcpus"], other_config=other,
                    ha_restart_priority=vm.get("ha_restart_priority", ""),
                    domid=1 if state in ("Running", "Paused") else -1,
                    metrics=db.create("VM_metrics", memory_actual=memory if state in ("Running", "Paused") else 0,
                                      VCPUs_number=vm["vcpus"]),
                    current_operations={new_ref(): "clean_shutdown"} if vm.get("current_operations") else {})
    for index, disk in enumerate(vm["disks"]):
        vdi = create_vdi(db, srs[disk["sr"]], f"{vm['name']} disk {index}", int(disk["size_gib"] * GIB))
        db.create("VBD", VM=ref, VDI=vdi, userdevice=str(index), bootable=index == 0, mode="RW", type="Disk",
                  currently_attached=state in ("Running", "Paused"), unpluggable=True)
    if state == "Suspended" and vm["disks"]:
        first_sr = srs[vm["disks"][0]["sr"]]
        db.set("VM", ref, suspend_VDI=create_vdi(db, first_sr, f"Suspend image for {vm['name']}", memory, "suspend"))
    if vm.get("passthrough") == "pci":
        pci = db.create("PCI", class_name="Display controller", vendor_name="NVIDIA Corporation", device_name="GPU",
                        pci_id="0000:3b:00.0", host=host)
        db.set("VM", ref, attached_PCIs=[pci])
    elif vm.get("passthrough") == "vgpu":
        db.set("VM", ref, VGPUs=[db.create("VGPU", VM=ref, device="0", currently_attached=state == "Running",
                                           resident_on=NULL_REF)])
    return ref


def pool_cpu_info(db: Database) -> dict:
    """CPU levelling: the pool's features are what every host has."""
    hosts = [h for h in db.all("host").values() if h["cpu_info"]]
    if not hosts:
        return {}
    features = None
    for h in hosts:
        words = [int(w, 16) for w in h["cpu_info"]["features_hvm_host"].split("-")]
        features = words if features is None else [a & b for a, b in zip(features, words)]
    master = db.get("host", db.get("pool", next(iter(db.all("pool"))))["master"]) if db.all("pool") else hosts[0]
    text = "-".join(f"{w:08x}" for w in features)
    return {"vendor": master["cpu_info"].get("vendor", hosts[0]["cpu_info"]["vendor"]),
            "socket_count": str(sum(int(h["cpu_info"]["socket_count"]) for h in hosts)),
            "cpu_count": str(sum(int(h["cpu_info"]["cpu_count"]) for h in hosts)),
            "features_pv_host": text, "features_hvm_host": text}


def ip_in(ip: str, cidrs: list[str]) -> bool:
    if not ip:
        return False
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(c, strict=False) for c in cidrs)


def the_pool(db: Database) -> str:
    return next(iter(db.all("pool")))
