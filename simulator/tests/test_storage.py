"""Storage through XenAPI over HTTPS: SR.create / probe / introduce / forget / destroy / scan,
PBD and VDI calls, device_config secrets, reachability and the SM drivers' errors, storage
faults (BEHAVIOUR.md §5)."""
from __future__ import annotations

import json
import time
import urllib.request
import xml.dom.minidom

import pytest
import XenAPI

from conftest import xapi_session
from xapisim.factory import GIB, create_vm

STORAGE_NET = {"device": "eth1", "mode": "static", "ip": "172.16.0.35", "netmask": "255.255.255.240"}
IQN = "iqn.2024-01.lab.san:vol1"
CHAP_IQN = "iqn.2024-01.lab.san:secure"
NFS = {"server": "172.16.0.34", "serverpath": "/srv/vhd"}
MOUNT_DENIED = ["SR_BACKEND_FAILURE_73", "", "NFS mount error [opterr=mount failed on server `172.16.0.34` "
                "with return code 32]", ""]
NO_NFS_SERVICE = ["SR_BACKEND_FAILURE_108", "", "Unable to detect an NFS service on this target.", ""]


def storage_lab() -> dict:
    """A pool of two: the master has a storage IP on 172.16.0.32/28, the member has none.
    NFS, iSCSI and SMB servers that allow the storage subnet only (and one open export)."""
    return {
        "name": "storage", "host_defaults": {"password": "pw"},
        "hosts": [
            {"name": "xs1", "address": "127.0.4.1", "nics": [{"device": "eth0", "management": True}, STORAGE_NET,
                                                            {"device": "eth2"}]},
            {"name": "xs2", "address": "127.0.4.2"},
        ],
        "storage": [
            {"name": "nas", "type": "nfs", "address": "172.16.0.34",
             "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048},
                         {"path": "/srv/open", "size_gib": 100}]},
            {"name": "san", "type": "iscsi", "address": "172.16.0.40",
             "targets": [{"iqn": IQN, "allowed": ["172.16.0.32/28"], "luns": [{"id": 0, "size_gib": 100},
                                                                             {"id": 1, "size_gib": 50}]},
                         {"iqn": CHAP_IQN, "chap": {"user": "chapuser", "password": "chap-secret"}}]},
            {"name": "cifs", "type": "smb", "address": "172.16.0.41",
             "shares": [{"name": "vms", "allowed": ["172.16.0.32/28"], "user": "svc", "password": "smb-secret"}]},
        ],
        "pools": [{"name": "storage-pool", "master": "xs1", "members": ["xs2"]}],
    }


@pytest.fixture
def lab(start_lab):
    return start_lab(storage_lab())


@pytest.fixture
def x(lab):
    return xapi_session(lab).xenapi


def host_named(x, name):
    return x.host.get_by_name_label(name)[0]


def failure(fn, *args) -> list:
    with pytest.raises(XenAPI.Failure) as caught:
        fn(*args)
    return caught.value.details


def post_fault(lab, fault) -> dict:
    request = urllib.request.Request(lab.control_url + "/faults", data=json.dumps(fault).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.load(reply)


def armed(lab) -> list:
    with urllib.request.urlopen(lab.control_url + "/faults", timeout=5) as reply:
        return json.load(reply)["faults"]


def xml_entries(text: str, entry: str) -> list[dict]:
    dom = xml.dom.minidom.parseString(text)
    return [{c.tagName: c.firstChild.data for c in e.childNodes if c.nodeType == c.ELEMENT_NODE}
            for e in dom.getElementsByTagName(entry)]


def create_nfs(x, **config):
    master = host_named(x, "xs1")
    return x.SR.create(master, {**NFS, **config}, "0", "nas-vhd", "", "nfs", "user", True, {})


def new_vdi(x, sr, name, size):
    return x.VDI.create({"SR": sr, "name_label": name, "virtual_size": str(size), "type": "user",
                         "sharable": False, "read_only": False, "other_config": {}})


def pbd_of(x, sr, host):
    return next(p for p in x.SR.get_PBDs(sr) if x.PBD.get_host(p) == host)


def run_vm_on(lab, host_name, vdi):
    """A running VM on the host with the VDI attached (white-box: VM.start is another part)."""
    def make(world):
        machine = world.machine(host_name)
        db = machine.db
        vm = create_vm(db, machine.host_ref, {"name": "app", "power_state": "running", "memory_gib": 1,
                                              "vcpus": 1, "disks": []}, {})
        db.create("VBD", VM=vm, VDI=vdi, userdevice="0", mode="RW", type="Disk", currently_attached=True)
        return vm
    return lab.run(make)


# -- probe ------------------------------------------------------------------------------------
def test_nfs_probe_without_serverpath_gives_the_export_list(x):
    details = failure(x.SR.probe, host_named(x, "xs2"), {"server": "172.16.0.34"}, "nfs", {})
    assert details[:3] == ["SR_BACKEND_FAILURE_101", "", "The request is missing the serverpath parameter"]
    assert details[3].startswith('<?xml version="1.0" ?>\n<nfs-exports>\n\t<Export>\n\t\t<Target>172.16.0.34</Target>')
    assert xml_entries(details[3], "Export") == [
        {"Target": "172.16.0.34", "Path": "/srv/vhd", "Accesslist": "172.16.0.32/28"},
        {"Target": "172.16.0.34", "Path": "/srv/open", "Accesslist": "*"}]


def test_nfs_probe_with_serverpath_lists_the_srs_there(x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    assert x.SR.probe(master, NFS, "nfs", {}) == '<?xml version="1.0" ?>\n<SRlist/>\n'
    assert failure(x.SR.probe, member, NFS, "nfs", {}) == MOUNT_DENIED   # no storage IP on xs2
    sr = create_nfs(x)
    listed = x.SR.probe(master, NFS, "nfs", {})
    assert [e["UUID"] for e in xml_entries(listed, "SR")] == [x.SR.get_uuid(sr)]
    assert x.SR.probe(member, {"server": "172.16.0.34", "serverpath": "/srv/open"}, "NFS", {}) == \
        '<?xml version="1.0" ?>\n<SRlist/>\n'


def test_nfs_probe_errors(x):
    master = host_named(x, "xs1")
    assert failure(x.SR.probe, master, {"serverpath": "/srv/vhd"}, "nfs", {}) == \
        ["SR_BACKEND_FAILURE_102", "", "The request is missing the server parameter", ""]
    assert failure(x.SR.probe, master, {"server": "172.16.0.99", "serverpath": "/x"}, "nfs", {}) == NO_NFS_SERVICE
    assert failure(x.SR.probe, master, {"server": "172.16.0.34", "serverpath": "/srv/none"}, "nfs", {}) == MOUNT_DENIED
    assert failure(x.SR.probe, master, NFS, "nosuchtype", {}) == ["SR_UNKNOWN_DRIVER", "nosuchtype"]


def test_iscsi_probe_walks_through_iqns_and_luns(lab, x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    details = failure(x.SR.probe, master, {"target": "172.16.0.40"}, "lvmoiscsi", {})
    assert details[:3] == ["SR_BACKEND_FAILURE_96", "", "The request is missing or has an incorrect target IQN parameter"]
    assert xml_entries(details[3], "TGT") == [
        {"Index": "0", "IPAddress": "172.16.0.40", "TargetIQN": IQN},
        {"Index": "1", "IPAddress": "172.16.0.40", "TargetIQN": CHAP_IQN},
        {"Index": "2", "IPAddress": "172.16.0.40", "TargetIQN": "*"}]
    details = failure(x.SR.probe, master, {"target": "172.16.0.40", "targetIQN": IQN}, "lvmoiscsi", {})
    assert details[:3] == ["SR_BACKEND_FAILURE_107", "", "The SCSIid parameter is missing or incorrect"]
    luns = xml_entries(details[3], "LUN")
    scsi_ids = lab.run(lambda w: [lun["scsi_id"] for lun in w.storage["san"]["targets"][0]["luns"]])
    assert [(lun["LUNid"], lun["size"], lun["SCSIid"]) for lun in luns] == [
        ("0", str(100 * GIB), scsi_ids[0]), ("1", str(50 * GIB), scsi_ids[1])]
    login_failed = ["SR_BACKEND_FAILURE_68", "", "ISCSI login failed - check access settings for the initiator on the "
                    "storage, if CHAP is used verify CHAP credentials", ""]
    assert failure(x.SR.probe, member, {"target": "172.16.0.40", "targetIQN": IQN}, "lvmoiscsi", {}) == login_failed
    bad_chap = {"target": "172.16.0.40", "targetIQN": CHAP_IQN, "chapuser": "chapuser", "chappassword": "wrong"}
    assert failure(x.SR.probe, master, bad_chap, "lvmoiscsi", {}) == login_failed
    good_chap = {**bad_chap, "chappassword": "chap-secret"}
    assert failure(x.SR.probe, master, good_chap, "lvmoiscsi", {})[0] == "SR_BACKEND_FAILURE_107"
    details = failure(x.SR.probe, master, {"target": "172.16.0.40", "targetIQN": "iqn.2024-01.lab.san:nope"},
                      "lvmoiscsi", {})
    assert details[:3] == ["SR_BACKEND_FAILURE_83", "", "ISCSI discovery failed [opterr=check target settings]"]
    assert failure(x.SR.probe, master, {"target": "172.16.0.99"}, "lvmoiscsi", {}) == \
        ["SR_BACKEND_FAILURE_141", "", "Unable to connect to ISCSI service on target", ""]
    complete = {"target": "172.16.0.40", "targetIQN": IQN, "SCSIid": scsi_ids[0]}
    assert x.SR.probe(master, complete, "lvmoiscsi", {}) == '<?xml version="1.0" ?>\n<SRlist/>\n'
    sr = x.SR.create(master, complete, "0", "san", "", "lvmoiscsi", "user", True, {})
    found = xml_entries(x.SR.probe(master, complete, "lvmoiscsi", {}), "SR")
    assert found == [{"UUID": x.SR.get_uuid(sr), "Devlist": f"/dev/disk/by-id/scsi-{scsi_ids[0]}",
                      "size": str(100 * GIB)}]


def test_smb_probe_checks_the_share_credentials(x):
    master = host_named(x, "xs1")
    denied = ["SR_BACKEND_FAILURE_111", "", "SMB mount error [opterr=mount failed with return code 32]", ""]
    share = {"server": "\\\\172.16.0.41\\vms", "username": "svc"}
    assert failure(x.SR.probe, master, {**share, "password": "nope"}, "smb", {}) == denied
    assert failure(x.SR.probe, host_named(x, "xs2"), {**share, "password": "smb-secret"}, "smb", {}) == denied
    assert x.SR.probe(master, {**share, "password": "smb-secret"}, "smb", {}) == '<?xml version="1.0" ?>\n<SRlist/>\n'


# -- SR.create -------------------------------------------------------------------------------
def test_shared_create_plugs_where_the_storage_is_reachable(x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    sr = x.SR.create(master, NFS, "0", "nas-vhd", "shared", "NFS", "user", True, {})
    record = x.SR.get_record(sr)
    assert (record["type"], record["shared"], record["name_description"]) == ("nfs", True, "shared")
    assert (record["physical_size"], record["physical_utilisation"], record["virtual_allocation"]) == \
        (str(2048 * GIB), "0", "0")   # the master's plug scanned it
    pbds = [x.PBD.get_record(p) for p in record["PBDs"]]
    assert [p["host"] for p in pbds] == [master, member]   # the master's PBD first
    assert [p["currently_attached"] for p in pbds] == [True, False]
    assert all(p["device_config"] == NFS for p in pbds)
    assert failure(x.PBD.plug, record["PBDs"][1]) == MOUNT_DENIED   # the backend's reason
    assert record["current_operations"] == {}
    assert "plug" in record["allowed_operations"] and "destroy" not in record["allowed_operations"]


def test_async_create_returns_the_sr_in_the_task(x):
    task = x.Async.SR.create(host_named(x, "xs1"), NFS, "0", "nas-vhd", "", "nfs", "user", True, {})
    deadline = time.time() + 10
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.02)
    assert x.task.get_status(task) == "success"
    sr = x.task.get_result(task).replace("<value>", "").replace("</value>", "")
    assert x.SR.get_name_label(sr) == "nas-vhd"


def test_create_failures_leave_nothing_behind(x):
    master = host_named(x, "xs1")
    before = (sorted(x.SR.get_all()), sorted(x.PBD.get_all()))
    assert failure(x.SR.create, master, NFS, "0", "n", "", "NoSuchType", "user", True, {}) == \
        ["SR_UNKNOWN_DRIVER", "nosuchtype"]
    assert failure(x.SR.create, master, {**NFS, "serverpath": "/srv/other"}, "0", "n", "", "nfs", "user", True, {}) \
        == MOUNT_DENIED
    assert failure(x.SR.create, host_named(x, "xs2"), NFS, "0", "n", "", "nfs", "user", False, {}) == MOUNT_DENIED
    assert (sorted(x.SR.get_all()), sorted(x.PBD.get_all())) == before


def test_create_moves_passwords_into_secrets(x):
    config = {"server": "//172.16.0.41/vms", "username": "svc", "password": "smb-secret"}
    sr = x.SR.create(host_named(x, "xs1"), config, "0", "smb-sr", "", "smb", "user", True, {})
    pbds = [x.PBD.get_record(p) for p in x.SR.get_PBDs(sr)]
    for pbd in pbds:
        assert "password" not in pbd["device_config"]
        secret = x.secret.get_by_uuid(pbd["device_config"]["password_secret"])
        assert x.secret.get_value(secret) == "smb-secret"
    # the backend hands the master PBD's device_config back and xapi sets it on every PBD
    assert pbds[0]["device_config"] == pbds[1]["device_config"]
    assert [p["currently_attached"] for p in pbds] == [True, False]


def test_non_shared_create_is_one_host_and_not_sharable(x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    sr = x.SR.create(member, {"server": "172.16.0.34", "serverpath": "/srv/open"}, "0", "private", "", "nfs",
                     "user", False, {})
    assert [x.PBD.get_host(p) for p in x.SR.get_PBDs(sr)] == [member]
    assert x.PBD.get_currently_attached(x.SR.get_PBDs(sr)[0])
    assert x.SR.get_physical_size(sr) == str(100 * GIB)   # its own host is its SR master: scanned
    local = x.SR.create(member, {"device": "/dev/sdb"}, str(200 * GIB), "disk", "", "ext", "user", False, {})
    assert (x.SR.get_physical_size(local), x.SR.get_shared(local)) == (str(200 * GIB), False)
    other = x.PBD.create({"host": master, "SR": sr, "device_config": {"server": "172.16.0.34",
                                                                     "serverpath": "/srv/open"}})
    assert failure(x.PBD.plug, other) == ["SR_NOT_SHARABLE", sr, member]


# -- PBD -------------------------------------------------------------------------------------
def test_pbd_create_checks(x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    sr = create_nfs(x)
    existing = pbd_of(x, sr, master)
    assert failure(x.PBD.create, {"host": master, "SR": sr, "device_config": NFS}) == \
        ["PBD_EXISTS", sr, master, existing]
    x.PBD.destroy(pbd_of(x, sr, member))
    assert failure(x.PBD.create, {"host": member, "SR": sr, "device_config": {**NFS, "SRmaster": "true"}}) == \
        ["VALUE_NOT_SUPPORTED", "SRmaster", "true", "This key is for internal use only"]
    assert failure(x.PBD.create, {"host": member, "SR": sr}) == \
        ["INTERNAL_ERROR", 'Server_helpers.Dispatcher_FieldNotFound("device_config")']
    pbd = x.PBD.create({"host": member, "SR": sr, "device_config": NFS, "other_config": {"k": "v"}})
    record = x.PBD.get_record(pbd)
    assert (record["currently_attached"], record["other_config"], record["device_config"]) == (False, {}, NFS)


def test_plug_unplug_are_idempotent_and_destroy_needs_unplugged(x):
    master = host_named(x, "xs1")
    config = {"server": "//172.16.0.41/vms", "username": "svc", "password": "smb-secret"}
    sr = x.SR.create(master, config, "0", "smb-sr", "", "smb", "user", True, {})
    pbd = pbd_of(x, sr, master)
    x.PBD.plug(pbd)
    assert x.PBD.get_currently_attached(pbd)
    assert failure(x.PBD.destroy, pbd) == ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    x.PBD.unplug(pbd)
    x.PBD.unplug(pbd)
    assert not x.PBD.get_currently_attached(pbd)
    secret_uuid = x.PBD.get_device_config(pbd)["password_secret"]
    x.PBD.destroy(pbd)
    assert failure(x.secret.get_by_uuid, secret_uuid) == ["UUID_INVALID", "secret", secret_uuid]


def test_unplug_refused_while_a_running_vm_uses_a_vdi(lab, x):
    master = host_named(x, "xs1")
    sr = create_nfs(x)
    vdi = new_vdi(x, sr, "data", 2 * GIB)
    run_vm_on(lab, "xs1", vdi)
    assert failure(x.PBD.unplug, pbd_of(x, sr, master)) == ["VDI_IN_USE", vdi]
    assert failure(x.SR.destroy, sr) == ["SR_HAS_PBD", sr]
    assert failure(x.SR.forget, sr) == ["SR_HAS_PBD", sr]
    assert failure(x.VDI.destroy, vdi) == ["VDI_IN_USE", vdi, "destroy"]


def test_plug_on_a_host_that_is_down(lab, x):
    sr = create_nfs(x)
    member = host_named(x, "xs2")

    def down(world):
        machine = world.machine("xs2")
        machine.db.set("host_metrics", machine.db.get("host", machine.host_ref)["metrics"], live=False)
    lab.run(down)
    assert failure(x.PBD.plug, pbd_of(x, sr, member)) == ["HOST_OFFLINE", member]


def test_storage_operations_mark_the_sr_and_wait_for_each_other(start_lab):
    lab = start_lab(storage_lab(), time_scale=0.25)   # a plug takes 0.5 s
    x = xapi_session(lab).xenapi
    sr = create_nfs(x)
    pbd = pbd_of(x, sr, host_named(x, "xs1"))
    x.PBD.unplug(pbd)
    task = x.Async.PBD.plug(pbd)
    time.sleep(0.1)
    record = x.SR.get_record(sr)
    assert record["current_operations"] == {task: "plug"}
    assert "scan" not in record["allowed_operations"] and "plug" in record["allowed_operations"]
    x.SR.scan(sr)   # waits for the plug instead of failing with OTHER_OPERATION_IN_PROGRESS
    assert x.task.get_status(task) == "success"
    assert x.SR.get_current_operations(sr) == {}


# -- forget, introduce, scan, destroy -----------------------------------------------------------
def test_forget_then_introduce_finds_the_vdis_again(x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    sr = create_nfs(x)
    uuid = x.SR.get_uuid(sr)
    vdi = new_vdi(x, sr, "data", 10 * GIB + 1)
    vdi_uuid = x.VDI.get_uuid(vdi)
    assert x.VDI.get_virtual_size(vdi) == str(10 * GIB + (2 << 20))   # whole VHD blocks
    x.PBD.unplug(pbd_of(x, sr, master))
    x.SR.forget(sr)
    assert failure(x.SR.get_record, sr) == ["HANDLE_INVALID", "SR", sr]
    assert failure(x.VDI.get_by_uuid, vdi_uuid) == ["UUID_INVALID", "VDI", vdi_uuid]
    again = x.SR.introduce(uuid, "nas-vhd", "", "nfs", "user", True, {})
    assert failure(x.SR.introduce, uuid, "twice", "", "nfs", "user", True, {}) == ["SR_UUID_EXISTS", uuid]
    assert (x.SR.get_physical_size(again), x.SR.get_VDIs(again)) == ("-1", [])
    for host in (master, member):
        x.PBD.create({"host": host, "SR": again, "device_config": NFS})
    assert failure(x.SR.scan, again) == ["SR_HAS_NO_PBDS", again]
    x.PBD.plug(pbd_of(x, again, master))   # the master's plug scans
    found = x.VDI.get_by_uuid(vdi_uuid)
    record = x.VDI.get_record(found)
    assert (record["SR"], record["virtual_size"], record["name_label"]) == (again, str(10 * GIB + (2 << 20)), "")
    x.SR.scan(again)
    assert x.SR.get_VDIs(again) == [found]
    assert x.SR.get_virtual_allocation(again) == str(10 * GIB + (2 << 20))


def test_lvm_over_iscsi_keeps_vdi_names_and_is_thick(lab, x):
    master = host_named(x, "xs1")
    scsi_id = lab.run(lambda w: w.storage["san"]["targets"][0]["luns"][1]["scsi_id"])
    config = {"target": "172.16.0.40", "targetIQN": IQN, "SCSIid": scsi_id}
    sr = x.SR.create(master, config, "0", "san", "", "lvmoiscsi", "user", True, {})
    assert failure(x.SR.create, master, config, "0", "again", "", "lvmoiscsi", "user", True, {}) == ["SR_DEVICE_IN_USE"]
    vdi = new_vdi(x, sr, "db", 20 * GIB)
    assert x.SR.get_physical_utilisation(sr) == str(20 * GIB)
    assert failure(new_vdi, x, sr, "huge", 40 * GIB) == ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]
    uuid, vdi_uuid = x.SR.get_uuid(sr), x.VDI.get_uuid(vdi)
    x.PBD.unplug(pbd_of(x, sr, master))
    x.SR.forget(sr)
    again = x.SR.introduce(uuid, "san", "", "lvmoiscsi", "user", True, {})
    x.PBD.plug(x.PBD.create({"host": master, "SR": again, "device_config": config}))
    assert x.VDI.get_name_label(x.VDI.get_by_uuid(vdi_uuid)) == "db"


def test_destroy_checks_then_removes_the_sr_from_the_storage(x):
    master = host_named(x, "xs1")
    sr = create_nfs(x)
    uuid = x.SR.get_uuid(sr)
    vdi = new_vdi(x, sr, "data", GIB)
    assert failure(x.SR.destroy, sr) == ["SR_HAS_PBD", sr]
    x.PBD.unplug(pbd_of(x, sr, master))
    assert failure(x.SR.destroy, sr) == ["SR_NOT_EMPTY"]
    x.PBD.plug(pbd_of(x, sr, master))
    x.VDI.destroy(vdi)
    x.PBD.unplug(pbd_of(x, sr, master))
    x.SR.add_to_other_config(sr, "indestructible", "true")
    assert failure(x.SR.destroy, sr) == ["SR_INDESTRUCTIBLE", sr]
    x.SR.remove_from_other_config(sr, "indestructible")
    for pbd in x.SR.get_PBDs(sr):
        x.PBD.destroy(pbd)
    assert failure(x.SR.destroy, sr) == ["SR_HAS_NO_PBDS", sr]
    x.PBD.create({"host": master, "SR": sr, "device_config": NFS})
    x.SR.destroy(sr)
    assert failure(x.SR.get_record, sr) == ["HANDLE_INVALID", "SR", sr]
    assert x.SR.probe(master, NFS, "nfs", {}) == '<?xml version="1.0" ?>\n<SRlist/>\n'
    again = x.SR.introduce(uuid, "gone", "", "nfs", "user", True, {})
    pbd = x.PBD.create({"host": master, "SR": again, "device_config": NFS})
    assert failure(x.PBD.plug, pbd) == MOUNT_DENIED   # its directory is gone


def test_vdi_create_and_destroy_update_the_sizes(x):
    sr = create_nfs(x)
    first, second = new_vdi(x, sr, "a", 4 * GIB), new_vdi(x, sr, "b", 6 * GIB)
    assert x.SR.get_virtual_allocation(sr) == str(10 * GIB)
    assert x.SR.get_physical_utilisation(sr) == "0"   # VHD files are thin
    assert (x.VDI.get_managed(first), x.VDI.get_location(first)) == (True, x.VDI.get_uuid(first))
    x.VDI.destroy(second)
    assert x.SR.get_virtual_allocation(sr) == str(4 * GIB)
    assert failure(x.VDI.create, {"SR": sr, "virtual_size": "1", "type": "cbt_metadata", "sharable": False,
                                  "read_only": False, "other_config": {}}) == \
        ["VDI_INCOMPATIBLE_TYPE", "", "cbt_metadata"]


# -- faults ----------------------------------------------------------------------------------
def test_storage_down_keeps_plugged_pbds_but_fails_new_work(lab, x):
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    sr = x.SR.create(master, {"server": "172.16.0.34", "serverpath": "/srv/open"}, "0", "open", "", "nfs", "user",
                     True, {})
    member_pbd = pbd_of(x, sr, member)
    x.PBD.unplug(member_pbd)
    post_fault(lab, {"kind": "storage_down", "storage": "nas"})
    assert [f["kind"] for f in armed(lab)] == ["storage_down"]
    assert x.PBD.get_currently_attached(pbd_of(x, sr, master))
    assert failure(x.PBD.plug, member_pbd) == NO_NFS_SERVICE
    assert failure(x.SR.probe, master, NFS, "nfs", {}) == NO_NFS_SERVICE
    assert failure(x.SR.create, master, NFS, "0", "n", "", "nfs", "user", True, {}) == NO_NFS_SERVICE
    assert failure(x.SR.scan, sr)[:3] == ["SR_BACKEND_FAILURE_40", "", "The SR scan failed [opterr=error VHD-scanning "
                                          f"path /run/sr-mount/{x.SR.get_uuid(sr)}]"]
    post_fault(lab, {"kind": "storage_up", "storage": "nas"})
    assert armed(lab) == []
    x.PBD.plug(member_pbd)
    assert x.PBD.get_currently_attached(member_pbd)
    x.SR.scan(sr)
    post_fault(lab, [{"kind": "storage_up", "storage": "nas"}, {"kind": "storage_down", "storage": "nas"}])
    assert [f["kind"] for f in armed(lab)] == ["storage_down"]
    assert failure(x.SR.probe, master, NFS, "nfs", {}) == NO_NFS_SERVICE
    request = urllib.request.Request(lab.control_url + "/faults", method="DELETE")
    urllib.request.urlopen(request, timeout=5).close()
    assert x.SR.probe(master, NFS, "nfs", {}) == '<?xml version="1.0" ?>\n<SRlist/>\n'


def test_a_server_the_lab_starts_down_keeps_its_srs_plugged(start_lab):
    lab_dict = storage_lab()
    lab_dict["storage"][0]["up"] = False
    lab_dict["pools"][0]["shared_srs"] = [{"name": "vhd", "type": "nfs", "storage": "nas", "path": "/srv/vhd"}]
    lab = start_lab(lab_dict)
    x = xapi_session(lab).xenapi
    sr = x.SR.get_by_name_label("vhd")[0]
    master, member = host_named(x, "xs1"), host_named(x, "xs2")
    assert x.PBD.get_currently_attached(pbd_of(x, sr, master))
    assert not x.PBD.get_currently_attached(pbd_of(x, sr, member))   # no storage IP on xs2
    assert x.SR.get_physical_size(sr) == str(2048 * GIB)
    assert failure(x.SR.probe, master, NFS, "nfs", {}) == NO_NFS_SERVICE
    post_fault(lab, {"kind": "storage_up", "storage": "nas"})
    assert [e["UUID"] for e in xml_entries(x.SR.probe(master, NFS, "nfs", {}), "SR")] == [x.SR.get_uuid(sr)]


def test_sr_and_vdi_names_are_set_by_their_explicit_messages(x):
    sr = next(r for r, s in x.SR.get_all_records().items() if s["name_label"] == "Local storage")
    x.SR.set_name_label(sr, "renamed")
    x.SR.set_name_description(sr, "for scratch")
    assert (x.SR.get_name_label(sr), x.SR.get_name_description(sr)) == ("renamed", "for scratch")
    vdi = x.VDI.create({"SR": sr, "name_label": "d", "name_description": "", "virtual_size": str(1 << 30),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    x.VDI.set_name_label(vdi, "data disk")
    x.VDI.set_name_description(vdi, "logs")
    assert (x.VDI.get_name_label(vdi), x.VDI.get_name_description(vdi)) == ("data disk", "logs")
    assert failure(x.SR.set_name_label, "OpaqueRef:nope", "x") == ["HANDLE_INVALID", "SR", "OpaqueRef:nope"]
