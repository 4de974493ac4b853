# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils._errors import InvalidParameterError
from ansible_collections.xenserver.pools.plugins.module_utils._storage import (
    backend_reason,
    check_device_config,
    check_sr_type,
    config_for_new_pbd,
    explain_unattached,
    export_for,
    find_sr,
    hosts_outside_export,
    immutable_differences,
    parse_probe,
    probe_xml_from_failure,
    public_config,
    secret_values,
    vdis_of,
)
from ansible_collections.xenserver.pools.tests.unit.plugins.fake_storage_pool import FakePool

# What SM's nfs.py scan_exports prints (xml.dom.minidom toprettyxml), as in xapi-project/sm tests.
NFS_EXPORTS_XML = """<?xml version="1.0" ?>
<nfs-exports>
\t<Export>
\t\t<Target>172.16.0.34</Target>
\t\t<Path>/srv/vhd</Path>
\t\t<Accesslist>172.16.0.32/28</Accesslist>
\t</Export>
\t<Export>
\t\t<Target>172.16.0.34</Target>
\t\t<Path>/srv/iso</Path>
\t\t<Accesslist>172.16.0.32/28,172.16.0.0/27</Accesslist>
\t</Export>
\t<Export>
\t\t<Target>172.16.0.34</Target>
\t\t<Path>/srv/public</Path>
\t\t<Accesslist>*</Accesslist>
\t</Export>
</nfs-exports>
"""
ISCSI_IQNS_XML = """<?xml version="1.0" ?>
<iscsi-target-iqns>
\t<TGT>
\t\t<Index>0</Index>
\t\t<IPAddress>10.0.50.10</IPAddress>
\t\t<TargetIQN>iqn.2026-01.com.example:storage</TargetIQN>
\t</TGT>
\t<TGT>
\t\t<Index>1</Index>
\t\t<IPAddress>10.0.50.10</IPAddress>
\t\t<TargetIQN>*</TargetIQN>
\t</TGT>
</iscsi-target-iqns>
"""
LUNS_XML = """<?xml version="1.0" ?><iscsi-target><LUN><vendor>LIO-ORG</vendor><serial>a1b2</serial>
<LUNid>0</LUNid><size>1099511627776</size><SCSIid>36001405a1b2</SCSIid></LUN></iscsi-target>"""


@pytest.fixture
def pool(xapi):
    return FakePool(xapi)


def test_parse_nfs_exports():
    found = parse_probe(NFS_EXPORTS_XML)
    assert found["exports"] == [
        dict(path="/srv/vhd", target="172.16.0.34", allowed=["172.16.0.32/28"]),
        dict(path="/srv/iso", target="172.16.0.34", allowed=["172.16.0.32/28", "172.16.0.0/27"]),
        dict(path="/srv/public", target="172.16.0.34", allowed=["*"]),
    ]
    assert found["found"][0] == dict(kind="Export", Target="172.16.0.34", Path="/srv/vhd", Accesslist="172.16.0.32/28")


def test_parse_srlist_targets_and_luns():
    assert parse_probe("<SRlist><SR><UUID>u1</UUID></SR><SR><UUID>u2</UUID></SR></SRlist>")["sr_uuids"] == ["u1", "u2"]
    target = dict(iqn="iqn.2026-01.com.example:storage", address="10.0.50.10", port="", index="0")
    assert parse_probe(ISCSI_IQNS_XML)["targets"][0] == target
    assert parse_probe(LUNS_XML)["luns"] == [dict(id="0", scsi_id="36001405a1b2", size="1099511627776",
                                                  vendor="LIO-ORG", serial="a1b2")]
    assert parse_probe("not xml")["found"] == [] and parse_probe("")["exports"] == []


def test_probe_xml_comes_from_the_error_of_a_probe_lacking_a_parameter():
    details = ["SR_BACKEND_FAILURE_101", "", "The request is missing the serverpath parameter", NFS_EXPORTS_XML]
    assert probe_xml_from_failure(details) == NFS_EXPORTS_XML
    assert probe_xml_from_failure(["SR_BACKEND_FAILURE_73", "", "NFS mount error", ""]) is None
    assert probe_xml_from_failure(["HOST_OFFLINE", "<x></x>"]) is None


def test_export_for_picks_the_export_that_serves_the_path():
    exports = parse_probe(NFS_EXPORTS_XML)["exports"]
    assert export_for(exports, "/srv/vhd")["path"] == "/srv/vhd"
    assert export_for(exports, "/srv/vhd/sub/")["path"] == "/srv/vhd"
    assert export_for(exports, "/srv/vhdx") is None


def test_hosts_outside_export(pool):
    records = pool.records
    exports = parse_probe(NFS_EXPORTS_XML)["exports"]
    hosts = sorted(records["host"])
    pool.set_ip("xs1", "eth1", "172.16.0.33")
    outside = hosts_outside_export(records, export_for(exports, "/srv/vhd"), hosts)
    assert outside == [("OpaqueRef:host-xs2", ["192.0.2.2"]), ("OpaqueRef:host-xs3", ["192.0.2.3"])]
    # a list with names or wildcards cannot be judged: nobody is said to be outside
    assert hosts_outside_export(records, export_for(exports, "/srv/public"), hosts) == []
    assert hosts_outside_export(records, None, hosts) == []


def test_explain_unattached_names_hosts_reason_and_fix(pool):
    records = pool.records
    sr = pool.shared_nfs_sr(attached=False)
    pool.set_ip("xs1", "eth1", "172.16.0.33")
    records["PBD"][next(iter(records["SR"][sr]["PBDs"]))]["currently_attached"] = True
    reason = ["", "NFS mount error [opterr=mount failed on server `172.16.0.34` with return code 32]", ""]
    failures = {"OpaqueRef:host-xs2": ("SR_BACKEND_FAILURE_73", reason),
                "OpaqueRef:host-xs3": ("SR_BACKEND_FAILURE_73", reason)}
    config = {"server": "172.16.0.34", "serverpath": "/srv/vhd"}
    message = explain_unattached(records, sr, failures, "nfs", config, parse_probe(NFS_EXPORTS_XML)["exports"])
    assert message == (
        "SR 'NAS-2-VHD' (%s) is not attached on 2 of 3 hosts (xs2, xs3: NFS mount error [opterr=mount failed on "
        "server `172.16.0.34` with return code 32]); the NFS export 172.16.0.34:/srv/vhd allows 172.16.0.32/28 and "
        "xs2 (192.0.2.2), xs3 (192.0.2.3) have no IP in it: give each of them a storage IP in that subnet with "
        "xenserver.pools.xs_pif" % records["SR"][sr]["uuid"])
    # without the export list: the reason alone
    assert explain_unattached(records, sr, failures, "nfs", config).endswith("return code 32])")


def test_backend_reason():
    assert backend_reason("SR_BACKEND_FAILURE_68", ["", "ISCSI login failed", ""]) == "ISCSI login failed"
    assert backend_reason("SR_BACKEND_FAILURE_96", ["", "missing IQN", ISCSI_IQNS_XML]) == "missing IQN"
    assert backend_reason("HOST_OFFLINE", ["OpaqueRef:h2"]) == "HOST_OFFLINE ['OpaqueRef:h2']"


def test_find_sr(pool):
    records = pool.records
    sr = pool.shared_nfs_sr()
    assert find_sr(records, "NAS-2-VHD", "nfs") == sr
    assert find_sr(records, "NAS-2-VHD", "lvmoiscsi") == sr  # found by name: the caller refuses the type change
    assert find_sr(records, uuid=records["SR"][sr]["uuid"]) == sr
    assert find_sr(records, "nothing", "nfs") is None
    assert find_sr(records, "Local storage", host_ref="OpaqueRef:host-xs2") == "OpaqueRef:sr-local-xs2"
    with pytest.raises(InvalidParameterError) as error:
        find_sr(records, "Local storage")
    assert str(error.value).startswith("3 SRs are named 'Local storage' (uuids ")
    assert str(error.value).endswith("give uuid to choose one, or host for a local SR.")


def test_immutable_differences(pool):
    records = pool.records
    sr = pool.shared_nfs_sr()
    assert immutable_differences(records, sr, "nfs", "user", True, {"server": "172.16.0.34", "serverpath": "/srv/vhd",
                                                                    "password": "x"}) == []
    assert immutable_differences(records, sr, "lvmoiscsi", None, False, {"serverpath": "/srv/iso"}) == [
        "its type is nfs, not lvmoiscsi", "it is shared, not local",
        "device_config.serverpath is '/srv/vhd', not '/srv/iso'"]


def test_config_for_new_pbd_copies_the_masters_without_srmaster(pool):
    records = pool.records
    sr = pool.shared_nfs_sr()
    master_pbd = next(ref for ref in records["SR"][sr]["PBDs"] if records["PBD"][ref]["host"] == "OpaqueRef:host-xs1")
    records["PBD"][master_pbd]["device_config"].update(SRmaster="true", chappassword_secret="s-uuid")
    assert config_for_new_pbd(records, sr) == {"server": "172.16.0.34", "serverpath": "/srv/vhd",
                                               "chappassword_secret": "s-uuid"}


def test_vdis_of_marks_disks_in_use(pool):
    records = pool.records
    sr = pool.shared_nfs_sr(vdis=[("web", "Running"), ("old", "Halted"), ("spare", None)])
    vdis = vdis_of(records, sr)
    assert [(vdi["name"], vdi["vms"], vdi["in_use_by"], vdi["size_gib"]) for vdi in vdis] == [
        ("old", ["vm-old"], [], 20.0), ("spare", [], [], 20.0), ("web", ["vm-web"], ["vm-web"], 20.0)]


def test_secrets_and_public_config():
    config = {"server": "10.0.0.1", "chappassword": "hunter2", "password": "s3cret", "chappassword_secret": "uuid",
              "SRmaster": "true", "target": "t"}
    assert secret_values(config) == {"hunter2", "s3cret", "uuid"}
    assert public_config(config) == {"server": "10.0.0.1", "target": "t"}


def test_type_and_device_config_checks(pool):
    assert check_sr_type(pool.records, "NFS") == "nfs"
    with pytest.raises(InvalidParameterError) as error:
        check_sr_type(pool.records, "nfz")
    assert str(error.value) == ("type 'nfz' is not a storage type this pool supports; it supports: ext, iso, lvm, "
                                "lvmohba, lvmoiscsi, nfs, smb, udev.")
    with pytest.raises(InvalidParameterError) as error:
        check_device_config("nfs", {"server": "172.16.0.34"})
    assert str(error.value) == "type nfs needs device_config serverpath."
    check_device_config("nfs", {"server": "172.16.0.34"}, for_probe=True)
    check_device_config("gfs2", {})  # a type with no known requirements is left to the driver
