"""The storage tutorial of seed 004 on three-standalone.yml, through XenAPI over HTTPS: name the
pool, join the hosts, probe the NFS server, give each host a storage IP on eth1 (purpose
Storage, disallow_unplug), create the shared SR, plug it everywhere, make it the default SR.

What real xapi does where the tutorial's order is changed: the NFS driver's SR create mounts the
export from the master, so without a storage IP on the master SR.create fails with the mount
error and leaves nothing behind; with the master's IP only, the SR is created and the members'
PBDs stay unplugged with that same error, until their own storage IPs are configured."""
from __future__ import annotations

import time
import xml.dom.minidom

import pytest
import XenAPI

from conftest import xapi_session
from xapisim.factory import GIB, create_vm

NFS = {"server": "172.16.0.34", "serverpath": "/srv/vhd"}
MOUNT_DENIED = ["SR_BACKEND_FAILURE_73", "", "NFS mount error [opterr=mount failed on server `172.16.0.34` "
                "with return code 32]", ""]
STORAGE_IPS = {"xs1": "172.16.0.35", "xs2": "172.16.0.36", "xs3": "172.16.0.37"}


def failure(fn, *args) -> list:
    with pytest.raises(XenAPI.Failure) as caught:
        fn(*args)
    return caught.value.details


@pytest.fixture
def pool(start_lab):
    """three-standalone joined into pool PDX0 by pool.join, as the tutorial does."""
    lab = start_lab("three-standalone")
    x = xapi_session(lab).xenapi
    x.pool.set_name_label(x.pool.get_all()[0], "PDX0")
    x.pool.set_name_description(x.pool.get_all()[0], "NA-US-OR-PDX-0")
    for index in (1, 2):
        xapi_session(lab, index).xenapi.pool.join("127.0.0.11", "root", "lab-root-pw")
    deadline = time.time() + 20
    while time.time() < deadline:
        hosts = x.host.get_all_records().values()
        if len(hosts) == 3 and all(h["enabled"] for h in hosts):
            break
        time.sleep(0.02)
    assert sorted(h["name_label"] for h in x.host.get_all_records().values()) == ["xs1", "xs2", "xs3"]
    return lab, x


def host(x, name):
    return x.host.get_by_name_label(name)[0]


def eth1(x, name):
    return next(p for p in x.host.get_PIFs(host(x, name)) if x.PIF.get_device(p) == "eth1")


def storage_interface(x, name):
    pif = eth1(x, name)
    x.PIF.reconfigure_ip(pif, "Static", STORAGE_IPS[name], "255.255.255.240", "", "")
    x.PIF.add_to_other_config(pif, "management_purpose", "Storage")
    x.PIF.set_disallow_unplug(pif, True)
    return pif


def test_tutorial_storage_network_and_default_sr(pool):
    _, x = pool
    pool_ref = x.pool.get_all()[0]
    master = x.pool.get_master(pool_ref)
    assert x.host.get_name_label(master) == "xs1"

    # showmount -e 172.16.0.34: the probe shows the exports and who may mount them
    details = failure(x.SR.probe, master, {"server": "172.16.0.34"}, "nfs", {})
    assert details[:3] == ["SR_BACKEND_FAILURE_101", "", "The request is missing the serverpath parameter"]
    exports = {e.getElementsByTagName("Path")[0].firstChild.data: e.getElementsByTagName("Accesslist")[0].firstChild.data
               for e in xml.dom.minidom.parseString(details[3]).getElementsByTagName("Export")}
    assert exports["/srv/vhd"] == "172.16.0.32/28" and exports["/srv/backups"] == "172.16.0.0/27"

    # no host has a storage IP: the export refuses the master, nothing is created
    assert failure(x.SR.create, master, NFS, "0", "NAS-2-VHD", "", "nfs", "user", True, {}) == MOUNT_DENIED
    assert [r["name_label"] for r in x.SR.get_all_records().values()] == ["Local storage"] * 3
    assert all(r["SR"] in x.SR.get_all() for r in x.PBD.get_all_records().values())

    # the master's storage NIC, then the SR: plugged on the master only
    storage_interface(x, "xs1")
    sr = x.SR.create(master, NFS, "0", "NAS-2-VHD", "", "nfs", "user", True, {})
    pbds = {x.host.get_name_label(x.PBD.get_host(p)): p for p in x.SR.get_PBDs(sr)}
    assert {name: x.PBD.get_currently_attached(p) for name, p in pbds.items()} == \
        {"xs1": True, "xs2": False, "xs3": False}
    for name in ("xs2", "xs3"):
        assert failure(x.PBD.plug, pbds[name]) == MOUNT_DENIED   # the backend's reason

    # every member's storage NIC: the plugs work
    for name in ("xs2", "xs3"):
        pif = storage_interface(x, name)
        record = x.PIF.get_record(pif)
        assert (record["IP"], record["netmask"], record["ip_configuration_mode"], record["disallow_unplug"],
                record["other_config"]) == (STORAGE_IPS[name], "255.255.255.240", "Static", True,
                                            {"management_purpose": "Storage"})
        x.PBD.plug(pbds[name])
    assert all(x.PBD.get_currently_attached(p) for p in pbds.values())
    assert failure(x.PIF.unplug, eth1(x, "xs2")) == ["PIF_DOES_NOT_ALLOW_UNPLUG", eth1(x, "xs2")]

    # xe pool-param-set default-SR=...
    x.pool.set_default_SR(pool_ref, sr)
    x.pool.set_suspend_image_SR(pool_ref, sr)
    x.pool.set_crash_dump_SR(pool_ref, sr)
    record = x.pool.get_record(pool_ref)
    assert (record["name_label"], record["default_SR"], record["suspend_image_SR"], record["crash_dump_SR"]) == \
        ("PDX0", sr, sr, sr)
    sr_record = x.SR.get_record(sr)
    assert (sr_record["shared"], sr_record["type"], sr_record["content_type"], sr_record["physical_size"]) == \
        (True, "nfs", "user", str(2048 * GIB))
    assert x.SR.probe(master, NFS, "nfs", {}).count(x.SR.get_uuid(sr)) == 1


def test_sr_in_use_then_forgotten_and_found_again(pool):
    lab, x = pool
    master = x.pool.get_master(x.pool.get_all()[0])
    for name in STORAGE_IPS:
        storage_interface(x, name)
    sr = x.SR.create(master, NFS, "0", "NAS-2-VHD", "", "nfs", "user", True, {})
    uuid = x.SR.get_uuid(sr)
    vdi = x.VDI.create({"SR": sr, "name_label": "app disk", "virtual_size": str(8 * GIB), "type": "user",
                        "sharable": False, "read_only": False, "other_config": {}})
    vdi_uuid = x.VDI.get_uuid(vdi)

    def run_vm(world):   # a running VM on xs2 with the disk attached
        machine = world.machine("xs2")
        vm = create_vm(machine.db, machine.host_ref, {"name": "app", "power_state": "running", "memory_gib": 1,
                                                      "vcpus": 1, "disks": []}, {})
        return vm, machine.db.create("VBD", VM=vm, VDI=vdi, userdevice="0", mode="RW", type="Disk",
                                     currently_attached=True)
    _, vbd = lab.run(run_vm)
    pbds = {x.host.get_name_label(x.PBD.get_host(p)): p for p in x.SR.get_PBDs(sr)}
    assert failure(x.SR.destroy, sr) == ["SR_HAS_PBD", sr]
    assert failure(x.PBD.unplug, pbds["xs2"]) == ["VDI_IN_USE", vdi]
    x.PBD.unplug(pbds["xs3"])   # nothing of the SR in use there

    lab.run(lambda world: world.machine("xs2").db.set("VBD", vbd, currently_attached=False))   # the VM shut down
    for pbd in pbds.values():
        x.PBD.unplug(pbd)
    x.SR.forget(sr)
    assert failure(x.VDI.get_by_uuid, vdi_uuid) == ["UUID_INVALID", "VDI", vdi_uuid]

    again = x.SR.introduce(uuid, "NAS-2-VHD", "", "nfs", "user", True, {})
    for name in STORAGE_IPS:
        x.PBD.plug(x.PBD.create({"host": host(x, name), "SR": again, "device_config": NFS}))
    x.SR.scan(again)
    found = x.VDI.get_by_uuid(vdi_uuid)
    assert (x.VDI.get_SR(found), x.VDI.get_virtual_size(found)) == (again, str(8 * GIB))
    assert all(x.PBD.get_currently_attached(p) for p in x.SR.get_PBDs(again))
