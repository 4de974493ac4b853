"""Storage servers as the hosts see them, and what the SM drivers answer.

Reachability is real: to reach a server a host's kernel picks a source address (its PIF on a
subnet that holds the server, else the default route: the management interface), and the
export, target or share must allow that address.  In seed 004 the NFS export allows the storage
subnet only, so the SR plugs only on hosts given a storage IP in that subnet.

The drivers' behaviour and messages follow xapi-project/sm (drivers/NFSSR.py, nfs.py,
LVHDoISCSISR.py, BaseISCSI.py, SMBSR.py; codes and texts from XE_SR_ERRORCODES.xml); xapi turns a
driver error into `SR_BACKEND_FAILURE_<code> [""; reason; stderr]` (ocaml/xapi/sm_exec.ml), and
a probe's XML is what the driver prints.

Each server remembers what lives on it, `server["srs"][sr_uuid] = {"type", "where", "vdis"}`,
so an SR that xapi forgot can be introduced again and a scan finds its VDIs.
"""
from __future__ import annotations

import ipaddress
import xml.dom.minidom

from .db import Database
from .errors import XapiError
from .factory import GIB, ip_in, the_pool
from .model import NULL_REF
from .world import World

# XE_SR_ERRORCODES.xml: the driver errors the simulated storage can produce
SM_ERRORS = {
    "SRScan": (40, "The SR scan failed"),
    "SRExists": (42, "The SR already exists"),
    "SRNoSpace": (44, "There is insufficient space"),
    "SRUnavailable": (47, "The SR is not available"),
    "ISCSILogin": (68, "ISCSI login failed - check access settings for the initiator on the storage, "
                       "if CHAP is used verify CHAP credentials"),
    "NFSMount": (73, "NFS mount error"),
    "ISCSIDiscovery": (83, "ISCSI discovery failed"),
    "ConfigTargetMissing": (95, "The request is missing the target parameter"),
    "ConfigTargetIQNMissing": (96, "The request is missing or has an incorrect target IQN parameter"),
    "ConfigServerPathMissing": (101, "The request is missing the serverpath parameter"),
    "ConfigServerMissing": (102, "The request is missing the server parameter"),
    "ConfigSCSIid": (107, "The SCSIid parameter is missing or incorrect"),
    "NFSTarget": (108, "Unable to detect an NFS service on this target."),
    "SMBMount": (111, "SMB mount error"),
    "ISCSITarget": (141, "Unable to connect to ISCSI service on target"),
}
# mount.nfs and mount.cifs exit with 32 (EX_FAIL) for access denied, no such path, bad credentials
MOUNT_FAILED = 32
ISCSI_PORT = 3260
FILE_TYPES = ("nfs", "smb", "ext", "iso")   # VHD files: thin, and VDI names are not kept on disk
VHD_BLOCK = 2 << 20


def sm_error(name: str, opterr: str | None = None, stderr: str = "") -> XapiError:
    code, reason = SM_ERRORS[name]
    if opterr is not None:
        reason += f" [opterr={opterr}]"
    return XapiError(f"SR_BACKEND_FAILURE_{code}", "", reason, stderr)


# -- secrets in device_config (ocaml/xapi/xapi_secret.ml) ------------------------------
def move_passwords_to_secrets(db: Database, config: dict) -> dict:
    """`<key>password` becomes `<key>password_secret` = the uuid of a new secret."""
    out = {}
    for key, value in config.items():
        if key.endswith("password"):
            out[key + "_secret"] = db.get("secret", db.create("secret", value=value))["uuid"]
        else:
            out[key] = value
    return out


def duplicate_secrets(db: Database, config: dict) -> dict:
    """A PBD's own copy of every secret its device_config names."""
    out = dict(config)
    for key, value in config.items():
        if key.endswith("password_secret"):
            secret = db.get("secret", db.by_uuid_ref("secret", value))
            out[key] = db.get("secret", db.create("secret", value=secret["value"]))["uuid"]
    return out


def clean_out_secrets(db: Database, config: dict) -> None:
    for key, value in config.items():
        found = db.by_uuid.get(value) if key.endswith("password_secret") else None
        if found and found[0] == "secret":
            db.delete("secret", found[1])


def resolve_secrets(db: Database, config: dict) -> dict:
    """device_config as a driver reads it: `<key>_secret` also gives `<key>` = the secret's value."""
    out = dict(config)
    for key, value in config.items():
        found = db.by_uuid.get(value) if key.endswith("_secret") else None
        if found and found[0] == "secret":
            out[key[: -len("_secret")]] = db.get("secret", found[1])["value"]
    return out


# -- the network between hosts and servers ---------------------------------------------
def source_address(db: Database, host: str, server_address: str) -> str | None:
    """The address `host` reaches `server_address` from: a PIF whose subnet holds the server
    (the most specific), else the default route (a PIF with a gateway, the management one
    first, or the management PIF).  None when the host has no usable address."""
    pifs = [p for p in db.all("PIF").values()
            if p["host"] == host and p["currently_attached"] and p["IP"] and p["bond_slave_of"] == NULL_REF]
    try:
        target = ipaddress.ip_address(server_address)
    except ValueError:
        return None
    connected = []
    for p in pifs:
        try:
            subnet = ipaddress.ip_network(f"{p['IP']}/{p['netmask']}", strict=False) if p["netmask"] else None
        except ValueError:
            subnet = None
        if subnet is not None and target in subnet:
            connected.append((subnet.prefixlen, p["IP"]))
    if connected:
        return max(connected)[1]
    default = (next((p for p in pifs if p["gateway"] and p["management"]), None)
               or next((p for p in pifs if p["gateway"]), None)
               or next((p for p in pifs if p["management"]), None))
    return default["IP"] if default else None


def server_at(world: World, address: str) -> dict | None:
    return next((s for s in world.storage.values() if s["address"] == address), None)


def is_up(world: World, server: dict) -> bool:
    """Up as the lab started it (or as storage_up left it), and no storage_down armed: clearing
    the faults (DELETE /faults) brings a server back."""
    return server["up"] and not any(f["kind"] == "storage_down" and f.get("storage") == server["name"]
                                    for f in world.faults.armed)


def _listening(world: World, db: Database, host: str, address: str, kind: str) -> tuple[dict | None, str | None]:
    """(server, source address) when a TCP connection from `host` to the storage service works."""
    server = server_at(world, address)
    source = source_address(db, host, address)
    if server is None or not is_up(world, server) or server["type"] != kind or source is None:
        return None, None
    return server, source


def _xml(root: str, entries: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """What the drivers print: xml.dom.minidom's toprettyxml of <root><entry><tag>text</tag>..."""
    dom = xml.dom.minidom.Document()
    top = dom.createElement(root)
    dom.appendChild(top)
    for name, children in entries:
        entry = dom.createElement(name)
        top.appendChild(entry)
        for tag, text in children:
            child = dom.createElement(tag)
            child.appendChild(dom.createTextNode(text))
            entry.appendChild(child)
    return dom.toprettyxml()


def _srlist(uuids) -> str:
    return _xml("SRlist", [("SR", [("UUID", u)]) for u in uuids])


# -- the drivers -----------------------------------------------------------------------
def _norm(path: str) -> str:
    return "/" + path.strip("/") if path.strip("/") else "/"


def _export_for(server: dict, path: str) -> dict | None:
    path = _norm(path)
    for export in server["exports"]:
        base = _norm(export["path"])
        if path == base or path.startswith(base.rstrip("/") + "/"):
            return export
    return None


def _nfs(world, db, host, config, op, sr_uuid):
    """NFSSR: probe / create / attach."""
    if not config.get("server"):
        raise sm_error("ConfigServerMissing")
    if op == "attach" and "serverpath" not in config:
        raise sm_error("ConfigServerPathMissing")
    server, source = _listening(world, db, host, config["server"], "nfs")
    if server is None:   # util._testHost(server, 2049)
        raise sm_error("NFSTarget")
    if "serverpath" not in config:
        # validate_remotepath(scan=True) prints the export list (showmount -e) before failing
        exports = [("Export", [("Target", config["server"]), ("Path", e["path"]),
                               ("Accesslist", "*" if "0.0.0.0/0" in e["allowed"] else ",".join(e["allowed"]))])
                   for e in server["exports"]]
        raise sm_error("ConfigServerPathMissing", stderr=_xml("nfs-exports", exports))
    where = _norm(config["serverpath"])
    export = _export_for(server, where)
    mounted = export is not None and ip_in(source, export["allowed"])
    if op == "attach":   # the SR lives in serverpath/<sr uuid>
        mounted = mounted and _on_server(server, sr_uuid, where) is not None
    if not mounted:
        raise sm_error("NFSMount", f"mount failed on server `{config['server']}` with return code {MOUNT_FAILED}")
    if op == "probe":
        return _srlist(u for u, rec in srs_of(server).items() if rec["type"] == "nfs" and rec["where"] == where)
    return server, where


def _iqn_list(server: dict, target: str) -> str:
    """BaseISCSI.print_entries: the targets discovery found, then a `*` entry (any target)."""
    entries = [(f"{server['address']}:{ISCSI_PORT}", t["iqn"]) for t in server["targets"]]
    entries.append((f"{target}:{ISCSI_PORT}", "*"))
    return _xml("iscsi-target-iqns", [("TGT", [("Index", str(i)), ("IPAddress", address.rsplit(":", 1)[0]),
                                               ("TargetIQN", iqn)]) for i, (address, iqn) in enumerate(entries)])


def _lun_list(target: dict) -> str:
    """LVHDoISCSISR.print_LUNs_XML."""
    return _xml("iscsi-target", [("LUN", [("vendor", "LIO-ORG"), ("serial", lun["scsi_id"][-12:]),
                                          ("LUNid", str(lun["id"])), ("size", str(int(lun["size_gib"] * GIB))),
                                          ("SCSIid", lun["scsi_id"])]) for lun in target["luns"]])


def _lvmoiscsi(world, db, host, config, op, sr_uuid):
    """LVHDoISCSISR over BaseISCSISR: probe / create / attach."""
    if not config.get("target"):
        raise sm_error("ConfigTargetMissing")
    address = config["target"].split(",")[0]
    server, source = _listening(world, db, host, address, "iscsi")
    if not config.get("targetIQN"):
        if server is None:
            raise sm_error("ISCSITarget")
        raise sm_error("ConfigTargetIQNMissing", stderr=_iqn_list(server, address))
    if server is None:
        raise sm_error("ISCSITarget")
    target = next((t for t in server["targets"] if t["iqn"] == config["targetIQN"]), None)
    if target is None:
        raise sm_error("ISCSIDiscovery", "check target settings", stderr=_iqn_list(server, address))
    chap = target.get("chap")
    if not ip_in(source, target["allowed"]) or (
            chap and (config.get("chapuser") != chap["user"] or config.get("chappassword") != chap["password"])):
        raise sm_error("ISCSILogin")
    if not config.get("SCSIid"):
        raise sm_error("ConfigSCSIid", stderr=_lun_list(target))
    lun = next((lun for lun in target["luns"] if lun["scsi_id"] == config["SCSIid"]), None)
    where = f"{target['iqn']}/{config['SCSIid']}"
    if op == "probe":
        found = [u for u, rec in srs_of(server).items() if rec["type"] == "lvmoiscsi" and rec["where"] == where]
        if lun is None or not found:
            return _xml("SRlist", [])
        return _xml("SRlist", [("SR", [("UUID", found[0]), ("Devlist", f"/dev/disk/by-id/scsi-{lun['scsi_id']}"),
                                       ("size", str(int(lun["size_gib"] * GIB)))])])
    if lun is None or (op == "attach" and _on_server(server, sr_uuid, where) is None):
        raise sm_error("SRUnavailable")
    return server, where


def _smb_parts(location: str) -> tuple[str, str]:
    parts = location.replace("\\", "/").strip("/").split("/")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _smb(world, db, host, config, op, sr_uuid):
    """SMBSR: probe / create / attach (mount.cifs of //server/share)."""
    if not config.get("server"):
        raise sm_error("ConfigServerMissing")
    address, share_name = _smb_parts(config["server"])
    server, source = _listening(world, db, host, address, "smb")
    share = next((s for s in server["shares"] if s["name"] == share_name), None) if server else None
    if share is None or not ip_in(source, share["allowed"]) or (
            share["user"] and (config.get("username") != share["user"] or config.get("password") != share["password"])):
        raise sm_error("SMBMount", f"mount failed with return code {MOUNT_FAILED}")
    if op == "probe":
        return _srlist(u for u, rec in srs_of(server).items() if rec["type"] == "smb" and rec["where"] == share_name)
    if op == "attach" and _on_server(server, sr_uuid, share_name) is None:
        raise sm_error("SRUnavailable")   # the share is mounted but the SR's directory is gone
    return server, share_name


DRIVERS = {"nfs": _nfs, "lvmoiscsi": _lvmoiscsi, "smb": _smb}


def backend(world: World, db: Database, host: str, sr_type: str, config: dict, op: str, sr_uuid: str = ""):
    """Runs driver operation `op` (probe, create, attach) for `host` with a PBD's device_config:
    the probe's XML, or (server, where) for the others; (None, None) for storage the lab does
    not simulate (local disks, ISO libraries)."""
    driver = DRIVERS.get(sr_type)
    if driver is None:
        return _xml("SRlist", []) if op == "probe" else (None, None)
    return driver(world, db, host, resolve_secrets(db, config), op, sr_uuid)


def locate(world: World, sr_type: str, config: dict) -> tuple[dict | None, str | None]:
    """(server, where) an SR's device_config names, without any reachability check."""
    if sr_type == "nfs" and config.get("server") and "serverpath" in config:
        server = server_at(world, config["server"])
        return (server, _norm(config["serverpath"])) if server and server["type"] == "nfs" else (None, None)
    if sr_type == "lvmoiscsi" and config.get("target") and config.get("targetIQN") and config.get("SCSIid"):
        server = server_at(world, config["target"].split(",")[0])
        ok = server and server["type"] == "iscsi"
        return (server, f"{config['targetIQN']}/{config['SCSIid']}") if ok else (None, None)
    if sr_type == "smb" and config.get("server"):
        address, share = _smb_parts(config["server"])
        server = server_at(world, address)
        return (server, share) if server and server["type"] == "smb" else (None, None)
    return None, None


# -- what lives on a server ------------------------------------------------------------
def srs_of(server: dict) -> dict:
    return server.setdefault("srs", {})


def _on_server(server: dict, sr_uuid: str, where: str) -> dict | None:
    record = srs_of(server).get(sr_uuid)
    return record if record is not None and record["where"] == where else None


def server_sr(server: dict, sr_uuid: str, sr_type: str, where: str) -> dict:
    """The SR's record on its server, made when missing."""
    srs = srs_of(server)
    if sr_uuid not in srs or srs[sr_uuid]["where"] != where:
        srs[sr_uuid] = {"type": sr_type, "where": where, "vdis": {}}
    return srs[sr_uuid]


def create_on_server(server: dict, sr_uuid: str, sr_type: str, where: str) -> None:
    """The driver's SR create: a new directory on an export or share; on a LUN, a new volume
    group that replaces whatever the LUN held."""
    srs = srs_of(server)
    if sr_type == "lvmoiscsi":
        for uuid in [u for u, rec in srs.items() if rec["type"] == sr_type and rec["where"] == where]:
            del srs[uuid]
    srs[sr_uuid] = {"type": sr_type, "where": where, "vdis": {}}


def destroy_on_server(server: dict, sr_uuid: str) -> None:
    srs_of(server).pop(sr_uuid, None)


def disk_of(vdi: dict) -> dict:
    return {k: vdi[k] for k in ("name_label", "name_description", "type", "virtual_size", "physical_utilisation",
                                "sharable", "read_only")}


def capacity(server: dict, sr_type: str, where: str) -> int:
    if sr_type == "nfs":
        export = _export_for(server, where)
        return int(export["size_gib"] * GIB) if export else 0
    if sr_type == "lvmoiscsi":
        iqn, scsi_id = where.split("/", 1)
        for target in server["targets"]:
            for lun in target["luns"]:
                if target["iqn"] == iqn and lun["scsi_id"] == scsi_id:
                    return int(lun["size_gib"] * GIB)
        return 0
    share = next((s for s in server["shares"] if s["name"] == where), None)
    return int(share["size_gib"] * GIB) if share else 0


def used(server: dict, sr_type: str, where: str) -> int:
    """Bytes in use on the export, LUN or share (SRs on one export share its space)."""
    if sr_type == "nfs":
        export = _export_for(server, where)
        same = [rec for rec in srs_of(server).values()
                if rec["type"] == "nfs" and _export_for(server, rec["where"]) is export]
    else:
        same = [rec for rec in srs_of(server).values() if rec["type"] == sr_type and rec["where"] == where]
    return sum(d["physical_utilisation"] for rec in same for d in rec["vdis"].values())


def pbd_config(db: Database, sr: str) -> dict:
    """The device_config of the SR's master PBD, else of any."""
    master = db.get("pool", the_pool(db))["master"]
    pbds = [db.get("PBD", p) for p in db.get("SR", sr)["PBDs"]]
    pbds.sort(key=lambda p: p["host"] != master)
    return pbds[0]["device_config"] if pbds else {}


def where_is(world: World, db: Database, sr: str) -> tuple[dict | None, str | None]:
    record = db.get("SR", sr)
    return locate(world, record["type"], pbd_config(db, sr))


def scan(world: World, db: Database, sr: str) -> None:
    """SR.scan's effect: VDIs on the storage that xapi lacks are introduced (without their names
    on file SRs: VHD files keep none; LVHD keeps them in its metadata volume), and the SR's sizes
    come from the storage."""
    record = db.get("SR", sr)
    vdis = {db.get("VDI", v)["uuid"]: v for v in record["VDIs"]}
    server, where = where_is(world, db, sr)
    if server is None:   # a local disk: the database is the truth
        db.set("SR", sr, virtual_allocation=sum(db.get("VDI", v)["virtual_size"] for v in vdis.values()),
               physical_utilisation=sum(db.get("VDI", v)["physical_utilisation"] for v in vdis.values()))
        return
    if not is_up(world, server):
        if record["type"] in FILE_TYPES:
            raise sm_error("SRScan", f"error VHD-scanning path /run/sr-mount/{record['uuid']}")
        raise sm_error("SRUnavailable")
    on_disk = server_sr(server, record["uuid"], record["type"], where)["vdis"]
    # every change the simulator makes to a VDI goes through the database (labs and other
    # operations too), so what the database has is what is on disk
    for uuid, ref in vdis.items():
        on_disk[uuid] = disk_of(db.get("VDI", ref))
    for uuid, disk in on_disk.items():
        if uuid in vdis:
            continue
        named = record["type"] not in FILE_TYPES
        db.create("VDI", uuid=uuid, SR=sr, name_label=disk["name_label"] if named else "",
                  name_description=disk["name_description"] if named else "",
                  type=disk["type"] if named else "user", virtual_size=disk["virtual_size"],
                  physical_utilisation=disk["physical_utilisation"], sharable=disk["sharable"],
                  read_only=disk["read_only"], managed=True, location=uuid)
    update_sizes(world, db, sr)


def update_sizes(world: World, db: Database, sr: str) -> None:
    """SR.update / the sizes part of a scan."""
    record = db.get("SR", sr)
    server, where = where_is(world, db, sr)
    allocation = sum(db.get("VDI", v)["virtual_size"] for v in record["VDIs"])
    if server is None:
        db.set("SR", sr, virtual_allocation=allocation)
        return
    db.set("SR", sr, physical_size=capacity(server, record["type"], where),
           physical_utilisation=used(server, record["type"], where), virtual_allocation=allocation)


def remember_vdis(world: World, db: Database, sr: str) -> None:
    """Before xapi forgets an SR: what its VDIs are stays on the storage."""
    record = db.get("SR", sr)
    server, where = where_is(world, db, sr)
    if server is not None:
        on_disk = server_sr(server, record["uuid"], record["type"], where)["vdis"]
        for v in record["VDIs"]:
            vdi = db.get("VDI", v)
            on_disk[vdi["uuid"]] = disk_of(vdi)


def new_vdi_size(sr_type: str, virtual_size: int) -> tuple[int, int]:
    """(virtual size rounded up to whole VHD blocks, bytes it takes): thin files, thick LVs."""
    size = -(-virtual_size // VHD_BLOCK) * VHD_BLOCK
    return size, (0 if sr_type in FILE_TYPES else size)


# -- SR operations (ocaml/xapi/xapi_sr_operations.ml) ---------------------------------
# xapi_sr_operations.ml: the operations it tracks, and the SM feature each backend one needs
SR_OPERATIONS = ("scan", "destroy", "forget", "plug", "unplug", "vdi_create", "vdi_destroy", "vdi_resize",
                 "vdi_clone", "vdi_snapshot", "vdi_mirror", "vdi_enable_cbt", "vdi_disable_cbt",
                 "vdi_data_destroy", "vdi_list_changed_blocks", "vdi_set_on_boot", "vdi_introduce", "update",
                 "pbd_create", "pbd_destroy")
SM_FEATURE_OF = {"vdi_create": "VDI_CREATE", "vdi_destroy": "VDI_DELETE", "vdi_resize": "VDI_RESIZE",
                 "vdi_introduce": "VDI_INTRODUCE", "vdi_mirror": "VDI_MIRROR", "vdi_enable_cbt": "VDI_CONFIG_CBT",
                 "vdi_disable_cbt": "VDI_CONFIG_CBT", "vdi_data_destroy": "VDI_CONFIG_CBT",
                 "vdi_list_changed_blocks": "VDI_CONFIG_CBT", "vdi_set_on_boot": "VDI_RESET_ON_BOOT",
                 "update": "SR_UPDATE", "vdi_snapshot": "VDI_SNAPSHOT"}
PARALLEL_OPERATIONS = ("plug",)


def sm_of(db: Database, sr_type: str) -> dict | None:
    ref = db.find_one("SM", type=sr_type)
    return db.get("SM", ref) if ref else None


def operation_error(db, sr: str, op: str) -> XapiError | None:
    """xapi_sr_operations.valid_operations for one operation: the first error set wins."""
    record = db.get("SR", sr)
    sm = sm_of(db, record["type"])
    feature = SM_FEATURE_OF.get(op)
    if feature and not (sm and sm["features"].get(feature)):
        return XapiError("SR_OPERATION_NOT_SUPPORTED", sr)
    pbds = [db.get("PBD", p) for p in record["PBDs"]]
    if op in ("destroy", "forget") and any(p["currently_attached"] for p in pbds):
        return XapiError("SR_HAS_PBD", sr)
    if op == "destroy" and not pbds:
        return XapiError("SR_HAS_NO_PBDS", sr)
    if op == "destroy" and any(db.get("VDI", v)["managed"] and db.get("VDI", v)["type"] != "rrd" for v in record["VDIs"]):
        return XapiError("SR_NOT_EMPTY")
    running = sorted(record["current_operations"].items(), key=lambda kv: kv[1])
    blocking = next(((ref, o) for ref, o in running if o not in PARALLEL_OPERATIONS), None)
    if running and (op not in PARALLEL_OPERATIONS or blocking):
        ref, current = blocking if op in PARALLEL_OPERATIONS else running[0]
        return XapiError("OTHER_OPERATION_IN_PROGRESS", "SR", sr, current, ref)
    return None


def update_allowed_operations(db, sr: str) -> None:
    if db.exists("SR", sr):
        db.set("SR", sr, allowed_operations=[op for op in SR_OPERATIONS if operation_error(db, sr, op) is None])


# -- plugging --------------------------------------------------------------------------
def check_sharing(db: Database, sr: str, host: str) -> None:
    """A non-shared SR attached on another host: SR_NOT_SHARABLE [sr; that host]."""
    record = db.get("SR", sr)
    if record["shared"]:
        return
    for p in record["PBDs"]:
        pbd = db.get("PBD", p)
        if pbd["currently_attached"] and pbd["host"] != host:
            raise XapiError("SR_NOT_SHARABLE", sr, pbd["host"])


def attach(world: World, db: Database, pbd: str) -> None:
    """The SR.attach the PBD's host runs; raises the driver's error."""
    record = db.get("PBD", pbd)
    sr = db.get("SR", record["SR"])
    check_sharing(db, record["SR"], record["host"])
    backend(world, db, record["host"], sr["type"], record["device_config"], "attach", sr["uuid"])


def plugged(world: World, db: Database, pbd: str) -> None:
    """A PBD just attached: on the SR master (the pool master for a shared SR, the SR's own host
    otherwise) the driver scans the SR (after_master_attach; a failed scan does not fail the
    plug)."""
    record = db.get("PBD", pbd)
    db.set("PBD", pbd, currently_attached=True)
    if not db.get("SR", record["SR"])["shared"] or record["host"] == db.get("pool", the_pool(db))["master"]:
        try:
            scan(world, db, record["SR"])
        except XapiError:
            pass
    update_allowed_operations(db, record["SR"])


def plug_pbd(world: World, db: Database, pbd: str, *, raise_error: bool = True) -> None:
    """PBD.plug at once (for labs and joins); see api/storage.py for the timed call."""
    if db.get("PBD", pbd)["currently_attached"]:
        return
    try:
        attach(world, db, pbd)
    except XapiError:
        if raise_error:
            raise
        return
    plugged(world, db, pbd)


# -- faults and start --------------------------------------------------------------------
def storage_fault(world: World, fault: dict) -> None:
    """storage_down / storage_up (POST /faults): the server stops or starts answering.  PBDs
    already attached stay attached, as xapi shows them; new plugs, creates and probes fail.
    A storage_down stays armed (GET /faults lists it) until a storage_up or DELETE /faults."""
    if fault.get("kind") != "storage_up":
        return
    name = fault["storage"]
    world.storage[name]["up"] = True
    # storage_up ends every storage fault of this server armed up to it (itself included)
    armed = world.faults.armed
    mine = [i for i, f in enumerate(armed) if f["kind"] in ("storage_down", "storage_up") and f.get("storage") == name]
    last_up = max((i for i in mine if armed[i]["kind"] == "storage_up"), default=-1)
    armed[:] = [f for i, f in enumerate(armed) if i not in mine or i > last_up]


def install(world: World) -> None:
    """Called once the lab's world is built: faults hook in, and the SRs the lab made are put
    on their servers with their VDIs, plugged where the hosts reach them, and sized.  A server
    the lab starts down went down after that: its SRs stay plugged."""
    world.fault_hooks.append(storage_fault)
    for fault in list(world.faults.armed):
        storage_fault(world, fault)
    downs = [f for f in world.faults.armed if f["kind"] == "storage_down"]
    world.faults.armed[:] = [f for f in world.faults.armed if f["kind"] != "storage_down"]
    for db in world.databases():
        for sr in db.all("SR"):
            server, _ = where_is(world, db, sr)
            if server is not None:
                server["up"], was_up = True, server["up"]
                remember_vdis(world, db, sr)
                for pbd in db.get("SR", sr)["PBDs"]:
                    plug_pbd(world, db, pbd, raise_error=False)
                update_sizes(world, db, sr)
                server["up"] = was_up
            update_allowed_operations(db, sr)
    world.faults.armed.extend(downs)
