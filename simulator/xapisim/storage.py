"""Storage reachability over the simulated network, and PBD plugging.

A host reaches a storage server only through an attached PIF whose IP lies in a subnet the
export, target or share allows (seed 004: the NFS export allows the storage subnet only)."""
from __future__ import annotations

from .db import Database
from .errors import XapiError
from .factory import ip_in
from .world import World

# SM driver error codes and texts for the failures the lab can produce
NFS_ACCESS_DENIED = ("SR_BACKEND_FAILURE_73", "", "NFS mount error [opterr=mount failed with return code 32]",
                     "mount.nfs: access denied by server while mounting {server}:{path}")
NFS_NO_SERVICE = ("SR_BACKEND_FAILURE_108", "", "Unable to detect an NFS service on this target.", "")
NFS_NO_EXPORT = ("SR_BACKEND_FAILURE_88", "", "NFS SR creation error [opterr=remote directory creation error is 2]", "")
ISCSI_LOGIN = ("SR_BACKEND_FAILURE_68", "", "ISCSI login failed, verify CHAP credentials", "")
ISCSI_NO_TARGET = ("SR_BACKEND_FAILURE_141", "", "Unable to connect to ISCSI service on target", "")
SMB_MOUNT = ("SR_BACKEND_FAILURE_111", "", "SMB mount error [opterr=mount failed with return code 13]",
             "mount error(13): Permission denied")


def host_ips(db: Database, host: str) -> list[str]:
    return [p["IP"] for p in db.all("PIF").values() if p["host"] == host and p["currently_attached"] and p["IP"]]


def _server(world: World, address: str) -> dict | None:
    return next((s for s in world.storage.values() if s["address"] == address), None)


def check_reach(world: World, db: Database, host: str, sr_type: str, config: dict) -> None:
    """Raises the SM driver's error when `host` cannot use the storage `config` names."""
    ips = host_ips(db, host)
    if sr_type in ("nfs", "iso") and "server" in config:
        server = _server(world, config.get("server", ""))
        if server is None or not server["up"] or server["type"] != "nfs":
            raise XapiError(*NFS_NO_SERVICE)
        path = config.get("serverpath", "")
        export = next((e for e in server["exports"] if e["path"] == path or path.startswith(e["path"].rstrip("/") + "/")), None)
        if export is None:
            raise XapiError(*NFS_NO_EXPORT)
        if not any(ip_in(ip, export["allowed"]) for ip in ips):
            code, a, reason, stderr = NFS_ACCESS_DENIED
            raise XapiError(code, a, reason, stderr.format(server=server["address"], path=path))
    elif sr_type in ("lvmoiscsi", "iscsi"):
        server = _server(world, config.get("target", ""))
        if server is None or not server["up"] or server["type"] != "iscsi":
            raise XapiError(*ISCSI_NO_TARGET)
        target = next((t for t in server["targets"] if t["iqn"] == config.get("targetIQN")), None)
        if target is None or not any(ip_in(ip, target["allowed"]) for ip in ips):
            raise XapiError(*ISCSI_NO_TARGET)
        chap = target.get("chap")
        if chap and (config.get("chapuser") != chap["user"] or config.get("_chappassword") != chap["password"]):
            raise XapiError(*ISCSI_LOGIN)
    elif sr_type == "smb":
        server_addr = config.get("server", "").lstrip("\\/").split("\\")[0].split("/")[0]
        server = _server(world, server_addr)
        if server is None or not server["up"] or server["type"] != "smb":
            raise XapiError(*SMB_MOUNT)
        share_name = config.get("server", "").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        share = next((s for s in server["shares"] if s["name"] == share_name), None)
        if share is None or not any(ip_in(ip, share["allowed"]) for ip in ips):
            raise XapiError(*SMB_MOUNT)
        if share.get("user") and (config.get("username") != share["user"] or config.get("_password") != share["password"]):
            raise XapiError(*SMB_MOUNT)


def resolve_secrets(db: Database, config: dict) -> dict:
    """device_config with `<key>_secret` uuids replaced by `_<key>` values, for the checks."""
    out = dict(config)
    for key, value in config.items():
        if key.endswith("_secret"):
            ref = db.by_uuid.get(value)
            if ref and ref[0] == "secret":
                out["_" + key[: -len("_secret")]] = db.get("secret", ref[1])["value"]
    return out


def plug_pbd(world: World, db: Database, pbd: str, *, raise_error: bool = True) -> None:
    record = db.get("PBD", pbd)
    if record["currently_attached"]:
        return
    sr = db.get("SR", record["SR"])
    try:
        check_reach(world, db, record["host"], sr["type"], resolve_secrets(db, record["device_config"]))
    except XapiError:
        if raise_error:
            raise
        return
    db.set("PBD", pbd, currently_attached=True)
