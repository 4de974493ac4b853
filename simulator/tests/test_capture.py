"""`xapisim capture`: a running simulated pool read into a twin lab file, read-only.

Each test captures a running lab, checks the call log (reads only, one logged-out session),
validates the twin, starts it as a lab and compares what XAPI says about both: pool, hosts,
NICs, bonds, SRs and their attachment per host, VMs.  Refs, uuids and host addresses differ by
design (a twin listens on its own loopback addresses)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import LABS_DIR, xapi_session
from xapisim import labfile
from xapisim.capture import capture, route_source

SIMULATOR = Path(__file__).resolve().parents[1]
COLLECTIONS = SIMULATOR.parent / "collections"
NULL = "OpaqueRef:NULL"
GIB = 1 << 30
ROOT_PASSWORD = "lab-root-pw"
IPMI_PASSWORD = "ipmi-Secret-456"
SMB_PASSWORD = "smb-Secret-123"


# -- helpers -----------------------------------------------------------------------------------
def control(lab, path, method="GET"):
    request = urllib.request.Request(lab.control_url + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def master_url(lab, index=0):
    return lab.info["hosts"][index]["url"]


def capture_lab(lab, index=0, **kwargs) -> str:
    """Captures the lab through host `index` with the Python API; returns the twin's text."""
    host = lab.info["hosts"][index]
    text, _notes = capture(host["url"], host["username"], host["password"], ca_path=lab.info["ca_bundle"],
                           time_scale=0.01, **kwargs)
    return text


def assert_read_only(lab):
    """Every call since the log was cleared is the capture's own, a read or a session call;
    its session is logged out."""
    calls = control(lab, "/calls")["calls"]
    assert calls, "the capture made no call"
    assert {c["originator"] for c in calls} == {"xapisim-capture"}
    assert {c["kind"] for c in calls} <= {"read", "session"}, [c["method"] for c in calls if c["kind"] != "read"]
    methods = [c["method"] for c in calls]
    assert "secret.get_value" not in methods
    assert methods[-1] == "session.logout"
    assert all(c["status"] == "ok" for c in calls if c["method"] != "session.login_with_password")
    assert control(lab, "/sessions")["total"] == 0


def records(lab, classes=("pool", "host", "host_metrics", "PIF", "Bond", "network", "SR", "PBD", "VM", "VBD",
                          "VDI", "pool_update"), index=0):
    session = xapi_session(lab, index)
    try:
        return {cls: getattr(session.xenapi, cls).get_all_records() for cls in classes}
    finally:
        session.xenapi.logout()


def facts(lab, rename=None, index=0) -> dict:
    """What XAPI says about the pool of host `index`, without refs, uuids or host addresses.
    `rename` maps names (of an anonymized twin) back, when given."""
    r = records(lab, index=index)
    rename = rename or (lambda kind, name: name)
    pool = next(iter(r["pool"].values()))
    host_name = {ref: rename("host", h["name_label"]) for ref, h in r["host"].items()}
    host_name[NULL] = None

    def sr_key(ref):
        sr = r["SR"][ref]
        if sr["shared"]:
            return rename("sr", sr["name_label"])
        owner = next(r["PBD"][p]["host"] for p in sr["PBDs"])
        return f"{rename('sr', sr['name_label'])}@{host_name[owner]}"

    def nic(pif):
        bond = r["Bond"].get(pif["bond_slave_of"])
        return (pif["device"], int(pif["VLAN"]), pif["ip_configuration_mode"], pif["IP"], pif["netmask"],
                pif["management"], pif["other_config"].get("management_purpose", ""), pif["disallow_unplug"],
                r["PIF"][bond["master"]]["device"] if bond else None)

    hosts = {}
    for ref, h in r["host"].items():
        software = h["software_version"]
        hosts[host_name[ref]] = {
            "live": r["host_metrics"][h["metrics"]]["live"], "enabled": h["enabled"],
            "memory": int(r["host_metrics"][h["metrics"]]["memory_total"]), "edition": h["edition"],
            "versions": {k: software.get(k) for k in ("product_brand", "product_version", "platform_version",
                                                        "build_number", "xapi", "db_schema", "network_backend")},
            "packs": sorted(k for k in software if ":" in k),
            "updates": sorted(r["pool_update"][u]["name_label"] for u in h["updates"]),
            "cpu": {k: h["cpu_info"].get(k) for k in ("vendor", "modelname", "cpu_count", "features_hvm_host")},
            "power_on": (h["power_on_mode"], {k: v for k, v in h["power_on_config"].items() if "secret" not in k}),
            "nics": sorted(nic(p) for p in r["PIF"].values() if p["host"] == ref),
            "bonds": sorted((sorted(r["PIF"][s]["device"] for s in b["slaves"]), b["mode"],
                             rename("network", r["network"][r["PIF"][b["master"]]["network"]]["name_label"]))
                            for b in r["Bond"].values() if r["PIF"][b["master"]]["host"] == ref),
        }
    srs = {}
    for ref, sr in r["SR"].items():
        if sr["type"] in ("iso", "udev"):
            continue
        srs[sr_key(ref)] = {"type": sr["type"], "shared": sr["shared"], "size": int(sr["physical_size"]),
                            "attached": sorted((host_name[r["PBD"][p]["host"]], r["PBD"][p]["currently_attached"])
                                               for p in sr["PBDs"])}
    vms = {}
    for ref, vm in r["VM"].items():
        if vm["is_control_domain"] or vm["is_a_template"]:
            continue
        disks = sorted((sr_key(r["VDI"][r["VBD"][b]["VDI"]]["SR"]), int(r["VDI"][r["VBD"][b]["VDI"]]["virtual_size"]))
                       for b in vm["VBDs"] if r["VBD"][b]["type"] == "Disk")
        vms[rename("vm", vm["name_label"])] = {
            "state": vm["power_state"], "memory": int(vm["memory_static_max"]), "vcpus": int(vm["VCPUs_at_startup"]),
            "resident_on": host_name[vm["resident_on"]],
            "affinity": host_name.get(vm["affinity"]) if vm["power_state"] == "Suspended" else None,
            "disks": disks, "ha": vm["ha_restart_priority"], "auto_poweron": vm["other_config"].get("auto_poweron"),
            "passthrough": bool(vm["attached_PCIs"] or vm["VGPUs"])}
    default = r["SR"].get(pool["default_SR"])
    return {
        "pool": {"name": rename("pool", pool["name_label"]), "master": host_name[pool["master"]],
                 "default_sr": sr_key(pool["default_SR"]) if default else None, "ha": pool["ha_enabled"],
                 "ha_tolerate": int(pool["ha_host_failures_to_tolerate"]) if pool["ha_enabled"] else None,
                 "tags": pool["tags"], "other_config": pool["other_config"]},
        "hosts": hosts, "srs": srs, "vms": vms}


def start_twin(start_lab, text, tmp_path, name="twin.yml"):
    path = tmp_path / name
    path.write_text(text)
    labfile.load(path)   # the twin validates (LabError lists the problems otherwise)
    return start_lab(path)


# -- pool-of-four ------------------------------------------------------------------------------
def test_pool_of_four_twin_reads_only_and_matches(start_lab, tmp_path):
    original = start_lab("pool-of-four")
    control(original, "/calls", "DELETE")
    text = capture_lab(original, 0)
    assert_read_only(original)
    calls = control(original, "/calls")["calls"]
    assert sum(c["method"] == "host.get_servertime" for c in calls) == 4
    assert sum(c["method"] == "session.login_with_password" for c in calls) == 1

    assert ROOT_PASSWORD not in text
    lab = yaml.safe_load(text)
    assert [h["address"] for h in lab["hosts"]] == ["127.0.9.1", "127.0.9.2", "127.0.9.3", "127.0.9.4"]
    for real in ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"):
        assert f"real address {real}" in text   # kept as a comment
    assert lab["time_scale"] == 0.01
    assert lab["timings"] == labfile.TIMING_DEFAULTS
    assert lab["storage"] == [{"name": "nfs-172-16-0-34", "type": "nfs", "address": "172.16.0.34",
                               "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048}]}]

    twin = start_twin(start_lab, text, tmp_path)
    assert facts(twin) == facts(original)


@pytest.mark.skipif(not (COLLECTIONS / "ansible_collections").exists(), reason="the collection link is not set up")
def test_pool_info_of_the_twin_equals_the_originals(start_lab, tmp_path):
    """xs_pool_info's result (its summarise_pool) is the same but for uuids and addresses."""
    sys.path.insert(0, str(COLLECTIONS))
    try:
        from ansible_collections.xenserver.pools.plugins.module_utils._client import convert_record
        from ansible_collections.xenserver.pools.plugins.modules.xs_pool_info import CLASSES, summarise_pool
    except ImportError as err:
        pytest.skip(f"xs_pool_info cannot be imported: {err}")
    finally:
        sys.path.remove(str(COLLECTIONS))

    def pool_info(lab):
        found = records(lab, CLASSES)
        for cls, table in found.items():
            for record in table.values():
                convert_record(cls, record)
        return _without_ids(summarise_pool(found))

    original = start_lab("pool-of-four")
    twin = start_twin(start_lab, capture_lab(original), tmp_path)
    assert pool_info(twin) == pool_info(original)


def _without_ids(value):
    """uuids, host addresses, bridges and when each xapi started differ between a twin and its
    original."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items()
                if not (k.endswith("uuid") or k in ("address", "master_address", "bridge", "agent_start_time"))}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


# -- a richer pool: secrets, bonds, VLANs, HA, local storage, partial attachment ---------------
def rich_lab() -> dict:
    lab = yaml.safe_load((LABS_DIR / "pool-of-four.yml").read_text())
    lab["name"] = "rich-pool"
    for host in lab["hosts"]:
        host["nics"].append({"device": "eth3"})
        host["bonds"] = [{"devices": ["eth2", "eth3"], "mode": "active-backup"}]
        host["vlans"] = [{"device": "eth1", "tag": 30}]
    xs1, _xs2, xs3, xs4 = lab["hosts"]
    xs1["updates"] = ["XS84E001", "XS84E002"]
    xs1["updates_requiring_reboot"] = ["XS84E002"]
    xs1["supplemental_packs"] = {"vendor:tools": "Vendor tools, version 2.1"}
    xs3["clock_offset"] = 400
    xs4["edition"] = "premier"
    xs1["vms"][0].update(ha_restart_priority="restart")
    xs1["vms"][1].update(auto_poweron=True)
    xs4["vms"][0]["disks"] = [{"sr": "Local storage", "size_gib": 20}]   # web-4 lives on local storage
    lab["storage"].append({"name": "filer", "type": "smb", "address": "172.16.0.40",
                           "shares": [{"name": "vmshare", "allowed": ["172.16.0.34/31"], "user": "svc",
                                       "password": SMB_PASSWORD, "size_gib": 512}]})
    pool = lab["pools"][0]
    pool["ha"] = {"enabled": True, "host_failures_to_tolerate": 1}
    pool["other_config"] = {"memory-ratio-hvm": "0.25", "owner": "ops team"}
    pool["tags"] = ["production"]
    return lab


def arm_secrets(lab) -> None:
    """A power-on password secret on xs2 and an SMB SR whose password becomes a secret, plugged
    only where the share allows (xs1)."""
    session = xapi_session(lab)
    x = session.xenapi
    try:
        hosts = {h["name_label"]: ref for ref, h in x.host.get_all_records().items()}
        secret = x.secret.get_uuid(x.secret.create({"value": IPMI_PASSWORD, "other_config": {}}))
        x.host.set_power_on_mode(hosts["xs2"], "IPMI", {"power_on_ip": "10.9.9.12", "power_on_user": "admin",
                                                        "power_on_password_secret": secret})
        x.SR.create(hosts["xs1"], {"server": "\\\\172.16.0.40\\vmshare", "username": "svc", "password": SMB_PASSWORD},
                    "0", "smb-sr", "", "smb", "user", True, {})
    finally:
        x.logout()


def test_rich_pool_twin_keeps_structure_and_no_secret(start_lab, tmp_path):
    original = start_lab(rich_lab())
    arm_secrets(original)
    before = facts(original)
    assert before["srs"]["smb-sr"]["attached"] == [("xs1", True), ("xs2", False), ("xs3", False), ("xs4", False)]
    power_on_config = records(original, ["host"])["host"]
    secret_uuids = [v for h in power_on_config.values() for k, v in h["power_on_config"].items() if "secret" in k]
    secret_uuids += [v for p in records(original, ["PBD"])["PBD"].values()
                     for k, v in p["device_config"].items() if k.endswith("_secret")]
    assert len(secret_uuids) >= 2

    control(original, "/calls", "DELETE")
    text = capture_lab(original, 2)   # through a member: HOST_IS_SLAVE is followed to the master
    calls = control(original, "/calls")["calls"]
    assert [c["error"][0] for c in calls if c["status"] == "error"] == ["HOST_IS_SLAVE"]
    assert_read_only(original)

    for value in [ROOT_PASSWORD, IPMI_PASSWORD, SMB_PASSWORD, "_secret", *secret_uuids]:
        assert value not in text
    lab = yaml.safe_load(text)
    hosts = {h["name"]: h for h in lab["hosts"]}
    assert hosts["xs2"]["power_on"]["config"] == {"power_on_ip": "10.9.9.12", "power_on_user": "admin"}
    assert abs(hosts["xs3"]["clock_offset"] - 400) <= 1
    assert abs(hosts["xs1"]["clock_offset"]) <= 1
    filer = next(s for s in lab["storage"] if s["type"] == "smb")
    assert filer["shares"] == [{"name": "vmshare", "allowed": ["172.16.0.35/32"], "size_gib": 512}]

    twin = start_twin(start_lab, text, tmp_path)
    after = facts(twin)
    assert after == before
    assert after["vms"]["web-4"]["disks"] == [("Local storage@xs4", 20 * GIB)]
    assert after["pool"]["ha"] is True and after["pool"]["ha_tolerate"] == 1
    assert after["pool"]["other_config"] == {"memory-ratio-hvm": "0.25", "owner": "ops team"}


def test_management_bond_passthrough_local_storage_and_partial_attachment(start_lab, tmp_path):
    """Management on a bond, a storage IP on a bond (both rebuilt on the member from the
    master's bonds), PCI and vGPU VMs, a VM on local storage, and an NFS export that only the
    master reaches although both hosts' storage NICs share a subnet."""
    def host(name, address, storage_ip):
        return {"name": name, "address": address,
                "nics": [{"device": "eth0", "management": True, "disallow_unplug": True}, {"device": "eth1"},
                         {"device": "eth2", "mode": "static", "ip": storage_ip, "netmask": "255.255.255.0",
                          "purpose": "Storage"}, {"device": "eth3"}]}
    first, second = host("a", "127.0.3.1", "192.168.5.5"), host("b", "127.0.3.2", "192.168.5.6")
    first["bonds"] = [{"devices": ["eth0", "eth1"], "mode": "lacp"}, {"devices": ["eth2", "eth3"]}]
    first["vlans"] = [{"device": "eth2", "tag": 7}]
    first["vms"] = [{"name": "local-vm", "power_state": "running", "disks": [{"sr": "Local storage", "size_gib": 30}]},
                    {"name": "gpu-pci", "power_state": "running", "passthrough": "pci"}]
    second["vms"] = [{"name": "gpu-vgpu", "power_state": "running", "passthrough": "vgpu"},
                     {"name": "nfs-vm", "power_state": "halted", "disks": [{"sr": "nfs", "size_gib": 10}]}]
    original = start_lab({
        "name": "bonds", "host_defaults": {"password": ROOT_PASSWORD}, "hosts": [first, second],
        "storage": [{"name": "filer", "type": "nfs", "address": "192.168.5.100",
                     "exports": [{"path": "/vms", "allowed": ["192.168.5.5/32"], "size_gib": 100}]}],
        "pools": [{"name": "two", "master": "a", "members": ["b"],
                   "shared_srs": [{"name": "nfs", "storage": "filer", "path": "/vms"}], "default_sr": "nfs"}]})
    before = facts(original)
    assert before["srs"]["nfs"]["attached"] == [("a", True), ("b", False)]

    control(original, "/calls", "DELETE")
    text = capture_lab(original)
    assert_read_only(original)
    lab = yaml.safe_load(text)
    assert lab["storage"][0]["exports"] == [{"path": "/vms", "allowed": ["192.168.5.5/32"], "size_gib": 100}]
    assert [h.get("bonds", []) for h in lab["hosts"]][1] == []   # the member takes the master's bonds

    twin = start_twin(start_lab, text, tmp_path)
    after = facts(twin)
    assert after == before
    assert after["vms"]["local-vm"]["disks"] == [("Local storage@a", 30 * GIB)]
    assert after["vms"]["gpu-pci"]["passthrough"] and after["vms"]["gpu-vgpu"]["passthrough"]


def test_iscsi_and_smb_pool_with_ha_on_the_lun(start_lab, tmp_path):
    def host(name, address, ip):
        return {"name": name, "address": address,
                "nics": [{"device": "eth0", "management": True},
                         {"device": "eth1", "mode": "static", "ip": ip, "netmask": "255.255.255.0"}]}
    iqn = "iqn.2020-01.com.example:t1"
    original = start_lab({
        "name": "san", "host_defaults": {"password": ROOT_PASSWORD},
        "hosts": [host("a", "127.0.4.1", "10.1.1.1"), host("b", "127.0.4.2", "10.1.1.2")],
        "storage": [{"name": "san", "type": "iscsi", "address": "10.1.1.50",
                     "targets": [{"iqn": iqn, "luns": [{"id": 0, "size_gib": 300}, {"id": 1}]}]},
                    {"name": "cifs", "type": "smb", "address": "10.1.1.60", "shares": [{"name": "s1"}]}],
        "pools": [{"name": "p", "master": "a", "members": ["b"],
                   "shared_srs": [{"name": "lun0", "type": "iscsi", "storage": "san", "target": iqn, "lun": 0},
                                  {"name": "smb", "type": "smb", "storage": "cifs", "share": "s1"}],
                   "ha": {"enabled": True, "heartbeat_srs": ["lun0"], "host_failures_to_tolerate": 1}}]})
    before = facts(original)
    assert before["srs"]["lun0"]["type"] == "lvmoiscsi"
    text = capture_lab(original)
    scsi_id = next(lun["scsi_id"] for s in labfile.load(yaml.safe_load(text))["storage"] if s["type"] == "iscsi"
                   for t in s["targets"] for lun in t["luns"])
    original_scsi_id = next(p["device_config"]["SCSIid"] for p in records(original, ["PBD"])["PBD"].values()
                            if "SCSIid" in p["device_config"])
    assert scsi_id == original_scsi_id
    after = facts(start_twin(start_lab, text, tmp_path))
    assert after == before
    assert after["pool"]["ha"] is True


def test_anonymized_twin_has_the_same_structure_and_no_original_name_or_ip(start_lab, tmp_path):
    original_spec = rich_lab()
    original = start_lab(original_spec)
    arm_secrets(original)
    before = facts(original)
    control(original, "/calls", "DELETE")
    text = capture_lab(original, anonymize=True)
    assert_read_only(original)

    names = {h["name"] for h in original_spec["hosts"]} | {vm["name"] for h in original_spec["hosts"] for vm in h["vms"]}
    names |= {"pool-of-four", "shared-nfs", "smb-sr", "Local storage", "vmshare", "/srv/vhd", "production",
              "ops team", "Bond 2+3", "VLAN 30", "Four hosts"}
    ips = {n["ip"] for h in original_spec["hosts"] for n in h["nics"] if n.get("ip")}
    ips |= {h["address"] for h in original_spec["hosts"]} | {s["address"] for s in original_spec["storage"]}
    ips |= {"10.9.9.12", "172.16.0.32/28", "172.16.0.35/32"}
    for value in sorted(names | ips):
        assert not re.search(r"(?<![\w.-])" + re.escape(value) + r"(?![\w-]|\.\d)", text), value
    for value in [ROOT_PASSWORD, IPMI_PASSWORD, SMB_PASSWORD, "_secret", "admin"]:
        assert value not in text
    lab = yaml.safe_load(text)
    assert [h["name"] for h in lab["hosts"]] == ["host-01", "host-02", "host-03", "host-04"]
    assert lab["pools"][0]["name"] == "pool-01" and lab["pools"][0]["tags"] == []
    assert all(n.get("mac") is None for h in lab["hosts"] for n in h["nics"])

    # same structure: map the new names back through the order they were given in
    twin = start_twin(start_lab, text, tmp_path)
    after = facts(twin)
    assert sorted(after["hosts"]) == ["host-01", "host-02", "host-03", "host-04"]
    host_map = dict(zip(["host-01", "host-02", "host-03", "host-04"], ["xs1", "xs2", "xs3", "xs4"]))
    assert {host_map[after["pool"]["master"]]} == {before["pool"]["master"]}
    assert after["pool"]["ha"] == before["pool"]["ha"] and after["pool"]["other_config"] == {"memory-ratio-hvm": "0.25"}

    def shape(f, hosts):
        vms = sorted((v["state"], v["memory"], v["vcpus"], hosts.get(v["resident_on"], v["resident_on"]),
                      len(v["disks"]), sorted(size for _, size in v["disks"]), v["ha"], v["auto_poweron"])
                     for v in f["vms"].values())
        srs = sorted((s["type"], s["shared"], s["size"], [(hosts.get(h, h), a) for h, a in s["attached"]])
                     for s in f["srs"].values())
        nics = {hosts.get(h, h): [(n[0], n[1], n[2], n[4], n[5], n[7], n[8]) for n in v["nics"]]
                for h, v in f["hosts"].items()}
        return vms, srs, nics

    assert shape(after, host_map) == shape(before, {})
    # subnet relations: each host's storage NIC and its management NIC stay in distinct subnets,
    # and the storage NICs of all hosts share one
    storage_ips = sorted(n[3] for h in after["hosts"].values() for n in h["nics"] if n[0] == "eth1" and n[1] == -1)
    assert len({ip.rsplit(".", 1)[0] for ip in storage_ips}) == 1 and storage_ips[0] not in ips


def test_route_source_follows_the_storage_model():
    nics = [{"device": "eth0", "management": True, "mode": "static", "ip": "10.0.0.5", "netmask": "255.255.255.0"},
            {"device": "eth1", "management": False, "mode": "static", "ip": "172.16.0.35", "netmask": "255.255.255.240"},
            {"device": "eth2", "management": False, "mode": "none"}]
    assert route_source(nics, "172.16.0.34") == "172.16.0.35"   # connected subnet
    assert route_source(nics, "192.0.2.9") == "10.0.0.5"        # default route: the management NIC
    nics[1]["gateway"] = "172.16.0.33"
    assert route_source(nics, "192.0.2.9") == "172.16.0.35"     # the NIC with a gateway


# -- the command line ------------------------------------------------------------------------
def run_capture(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xapisim", "capture", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=SIMULATOR, timeout=120)


def test_cli_capture_with_password_env_through_a_member(start_lab, tmp_path):
    original = start_lab("pool-of-four")
    member = original.info["hosts"][1]
    address = member["url"].split("://", 1)[1].rstrip("/")   # no scheme: https is implied
    out = tmp_path / "twin.yml"
    control(original, "/calls", "DELETE")
    result = run_capture("--url", address, "--username", "root", "--password-env", "TWIN_PW",
                         "--ca-path", original.info["ca_bundle"], "--output", str(out),
                         "--time-scale", "0.5", "--timing", "reboot=300", "--timing", "migrate_per_gib=2",
                         env={"TWIN_PW": member["password"]})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"xapisim capture: wrote {out}"
    assert_read_only(original)
    lab = yaml.safe_load(out.read_text())
    assert lab["time_scale"] == 0.5
    assert lab["timings"]["reboot"] == 300 and lab["timings"]["migrate_per_gib"] == 2
    assert lab["timings"]["boot"] == labfile.TIMING_DEFAULTS["boot"]
    assert f"https://{original.info['hosts'][0]['address']}:" in out.read_text()   # the master it was sent to
    validate = subprocess.run([sys.executable, "-m", "xapisim", "validate", str(out)], capture_output=True, text=True,
                              cwd=SIMULATOR, timeout=60)
    assert validate.returncode == 0 and validate.stdout.strip() == f"{out}: OK"


def test_cli_refuses_without_a_trusted_certificate_or_password(start_lab, tmp_path):
    original = start_lab("three-standalone")
    host = original.info["hosts"][0]
    out = tmp_path / "twin.yml"
    unset = run_capture("--url", host["url"], "--password-env", "NO_SUCH_VARIABLE_X", "-o", str(out))
    assert unset.returncode == 1
    assert unset.stderr.strip() == ("xapisim capture: --password-env NO_SUCH_VARIABLE_X: that environment "
                                    "variable is not set")
    untrusted = run_capture("--url", host["url"], "--password-env", "PW", "-o", str(out), env={"PW": host["password"]})
    assert untrusted.returncode == 1 and "TLS certificate could not be verified" in untrusted.stderr
    wrong = run_capture("--url", host["url"], "--password-env", "PW", "--no-validate-certs", "-o", str(out),
                        env={"PW": "not-the-password"})
    assert wrong.returncode == 1 and "SESSION_AUTHENTICATION_FAILED" in wrong.stderr
    bad_timing = run_capture("--url", host["url"], "--password-env", "PW", "--no-validate-certs", "-o", str(out),
                             "--timing", "nap=3", env={"PW": host["password"]})
    assert bad_timing.returncode == 1 and "unknown timing 'nap'" in bad_timing.stderr
    assert not out.exists()
    assert control(original, "/sessions")["total"] == 0
