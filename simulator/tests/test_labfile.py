"""Lab files: the example labs, defaults, one test per class of problem, `xapisim validate`."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from xapisim.cli import validate_main
from xapisim.labfile import LabError, load

LABS = Path(__file__).resolve().parent.parent / "labs"
EXAMPLES = ["three-standalone", "pool-of-four", "big-pool", "join-failures"]


def minimal(**top) -> dict:
    lab = {"name": "t", "host_defaults": {"password": "pw"},
           "hosts": [{"name": "xs1", "address": "127.0.0.11"}, {"name": "xs2", "address": "127.0.0.12"}]}
    lab.update(top)
    return lab


def problems(source) -> list[str]:
    with pytest.raises(LabError) as err:
        load(source)
    assert err.value.problems, "LabError without problems"
    assert not any("validator failed" in p for p in err.value.problems), err.value.problems
    return err.value.problems


def problem_at(source, location: str) -> str:
    """The one problem reported at exactly `location`."""
    found = [p for p in problems(source) if p.startswith(location + ": ")]
    assert len(found) == 1, f"expected one problem at {location}, got {problems(source)}"
    assert "; allowed: " in found[0]
    return found[0]


# -- the example labs -----------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_lab_is_valid(name, capsys):
    path = str(LABS / f"{name}.yml")
    assert validate_main(path) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"
    assert load(path)["name"] == name


def test_three_standalone_matches_the_tutorial():
    lab = load(LABS / "three-standalone.yml")
    assert [(h["name"], h["address"]) for h in lab["hosts"]] == \
        [("xs1", "127.0.0.11"), ("xs2", "127.0.0.12"), ("xs3", "127.0.0.13")]
    assert lab["pools"] == []
    for h in lab["hosts"]:
        assert [(n["device"], n["management"], n["mode"], n["ip"]) for n in h["nics"]] == \
            [("eth0", True, "static", h["address"]), ("eth1", False, "none", None), ("eth2", False, "none", None)]
        assert h["vms"] == [] and h["shared_srs"] == []
    nfs, = lab["storage"]
    assert (nfs["type"], nfs["address"]) == ("nfs", "172.16.0.34")
    vhd, = [e for e in nfs["exports"] if e["path"] == "/srv/vhd"]
    assert vhd["allowed"] == ["172.16.0.32/28"]


def test_pool_of_four_can_evacuate_every_host():
    lab = load(LABS / "pool-of-four.yml")
    pool, = lab["pools"]
    hosts = {h["name"]: h for h in lab["hosts"]}
    assert [pool["master"], *pool["members"]] == list(hosts) and len(hosts) == 4
    assert pool["default_sr"] == "shared-nfs"
    shared = {sr["name"] for sr in pool["shared_srs"]}

    def used(h):
        return h["dom0_memory_gib"] + sum(v["memory_gib"] for v in h["vms"] if v["power_state"] in ("running", "paused"))

    for name, h in hosts.items():
        assert {v["power_state"] for v in h["vms"]} >= {"running", "halted", "suspended"}, name
        assert all(d["sr"] in shared for v in h["vms"] for d in v["disks"])
        assert all(v["passthrough"] == "none" for v in h["vms"])
        free_elsewhere = sum(o["memory_gib"] - used(o) for o in hosts.values() if o is not h)
        assert used(h) - h["dom0_memory_gib"] <= free_elsewhere
        # the storage NIC is in the only subnet the export allows
        storage_nic, = [n for n in h["nics"] if n["purpose"] == "Storage"]
        assert storage_nic["ip"].startswith("172.16.0.") and 35 <= int(storage_nic["ip"].rsplit(".", 1)[1]) <= 46


def test_big_pool_size():
    lab = load(LABS / "big-pool.yml")
    vms = [v for h in lab["hosts"] for v in h["vms"]]
    assert len(lab["hosts"]) == 64 and len(vms) == 2000
    assert lab["hosts"][0]["address"] == "127.0.1.1" and lab["hosts"][-1]["address"] == "127.0.1.64"
    pool, = lab["pools"]
    assert len(pool["members"]) == 63
    assert {v["power_state"] for v in vms} == {"running", "halted"}
    assert len({v["name"] for v in vms}) == 2000


def test_join_failures_candidates_differ_from_master_in_one_thing():
    lab = load(LABS / "join-failures.yml")
    master, *candidates = lab["hosts"]
    assert master["name"] == "master" and lab["pools"] == []
    for h in candidates:
        assert h["address"].startswith("127.0.2.")
        differs = [k for k in h if k not in ("name", "address", "nics") and h[k] != master[k]]
        nics = [k for a, b in zip(h["nics"], master["nics"]) for k in a if k not in ("mac", "ip") and a[k] != b[k]]
        assert len(differs) + len(set(nics)) == (0 if h["name"] == "compatible" else 1), (h["name"], differs, nics)


# -- defaults -------------------------------------------------------------------------------
def test_defaults_are_filled_in():
    lab = load(minimal())
    assert (lab["time_scale"], lab["latency_ms"], lab["port"], lab["tls"]) == (0.05, 0.0, 0, True)
    assert lab["timings"]["api_restart"] == 10 and lab["timings"]["reboot"] == 240
    assert lab["session_limits"] == {"per_originator": 500, "per_user": 500, "external": 400}
    assert (lab["storage"], lab["pools"], lab["faults"]) == ([], [], [])
    h = lab["hosts"][1]
    assert (h["username"], h["password"], h["power"], h["memory_gib"], h["edition"]) == ("root", "pw", "on", 256, "standard")
    assert h["software"]["xapi"] == "25.6" and h["software"]["linux_pack"] is True
    assert h["cpu"]["vendor"] == "GenuineIntel"
    assert h["local_srs"] == [{"name": "Local storage", "type": "ext", "size_gib": 500}]
    eth0, eth1, eth2 = h["nics"]
    assert (eth0["management"], eth0["mode"], eth0["ip"], eth0["netmask"]) == (True, "static", "127.0.0.12", "255.0.0.0")
    assert (eth1["management"], eth1["mode"], eth1["ip"], eth1["netmask"]) == (False, "none", None, "")
    assert len({n["mac"] for n in h["nics"] + lab["hosts"][0]["nics"]}) == 6
    assert eth0["mac"] == load(minimal())["hosts"][1]["nics"][0]["mac"]     # stable
    assert h["power_on"] == {"mode": "", "config": {}, "bmc": None, "plugins": []}


def test_host_defaults_deep_merge_and_host_wins():
    lab = load(minimal(host_defaults={"password": "pw", "software": {"xapi": "25.5"}, "cpu": {"vendor": "AuthenticAMD"},
                                      "nics": [{"device": "eth0"}]},
                       hosts=[{"name": "xs1", "address": "127.0.0.11", "software": {"api_version": "2.20"},
                               "nics": [{"device": "eth0"}, {"device": "eth9"}]},
                              {"name": "xs2", "address": "127.0.0.12"}]))
    xs1, xs2 = lab["hosts"]
    assert (xs1["software"]["xapi"], xs1["software"]["api_version"]) == ("25.5", "2.20")
    assert (xs2["software"]["xapi"], xs2["software"]["api_version"]) == ("25.5", "2.21")
    assert xs1["cpu"]["vendor"] == "AuthenticAMD" and xs1["cpu"]["model"] == 106
    assert [n["device"] for n in xs1["nics"]] == ["eth0", "eth9"]        # lists are replaced
    assert [n["device"] for n in xs2["nics"]] == ["eth0"]
    assert xs2["nics"][0]["management"] is True                           # first NIC when none is marked


def test_yaml_on_off_and_derived_defaults(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("name: t\nhosts:\n  - {name: a, address: 127.0.0.11, password: pw, power: off,\n"
                    "     bonds: [{devices: [eth1, eth2]}], vlans: [{device: eth1, tag: 20}]}\n"
                    "storage:\n  - {name: s, type: iscsi, address: 10.0.0.9,\n"
                    "     targets: [{iqn: 'iqn.2024-01.com.example:t'}]}\n"
                    "pools:\n  - {name: p, master: a, shared_srs: [{name: sr, type: iscsi, storage: s, target: 'iqn.2024-01.com.example:t', lun: 0}]}\n")
    lab = load(path)
    h = lab["hosts"][0]
    assert h["power"] == "off"
    assert h["bonds"] == [{"devices": ["eth1", "eth2"], "mode": "balance-slb", "network": "Bond 1+2"}]
    assert h["vlans"][0]["network"] == "VLAN 20"
    lun = lab["storage"][0]["targets"][0]["luns"][0]
    assert lun["id"] == 0 and lun["scsi_id"].startswith("36001405")
    assert lab["pools"][0]["shared_srs"][0]["size_gib"] == 1024.0


def test_ha_heartbeat_defaults_to_first_shared_sr():
    lab = load(LABS / "pool-of-four.yml")
    raw = copy.deepcopy(lab)
    raw["pools"][0]["ha"] = {"enabled": True}
    assert load(raw)["pools"][0]["ha"]["heartbeat_srs"] == ["shared-nfs"]


def test_normalized_dict_loads_again_unchanged():
    lab = load(LABS / "join-failures.yml")
    assert load(lab) == lab


# -- one test per class of problem ----------------------------------------------------------
@pytest.mark.parametrize("source", [None, [], "just a string\n", 42])
def test_not_a_mapping(source, tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("" if source is None else str(source))
    assert problem_at(str(path), "lab").startswith("lab: expected a mapping")
    if not isinstance(source, str):       # a str source is a path
        assert problem_at(source, "lab").startswith("lab: expected a mapping")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("name: t\nhosts:\n  - name: xs1\n    address: [127.0.0.11\n")
    p, = problems(str(path))
    assert p.startswith("line 5, column 1: invalid YAML:")


def test_duplicate_yaml_key_names_the_line(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("name: t\nhosts:\n  - name: xs1\n    name: xs2\n")
    p, = problems(str(path))
    assert p.startswith('line 4, column 5: invalid YAML: duplicate key "name"')


def test_missing_file(tmp_path):
    p, = problems(str(tmp_path / "nope.yml"))
    assert "cannot read the file" in p and p.startswith(str(tmp_path / "nope.yml") + ":")


def test_unknown_key_lists_allowed_keys():
    lab = minimal()
    lab["hosts"][1]["memroy_gib"] = 3
    p = problem_at(lab, "hosts[1].memroy_gib")
    assert "unknown key; allowed: " in p and "memory_gib" in p
    assert problem_at(minimal(extra=1), "extra")


def test_wrong_types():
    lab = minimal()
    lab["hosts"][0].update(memory_gib="lots", password=1234, ha_enabled="yes")
    lab["hosts"][0]["cpu"] = {"count": 2.5}
    assert 'expected a number, got "lots"' in problem_at(lab, "hosts[0].memory_gib")
    assert "(quote it)" in problem_at(lab, "hosts[0].password")
    assert "expected a boolean" in problem_at(lab, "hosts[0].ha_enabled")
    assert "expected an integer" in problem_at(lab, "hosts[0].cpu.count")
    assert "expected a list" in problem_at(minimal(hosts={"a": 1}), "hosts")


def test_bad_enums():
    lab = minimal()
    lab["hosts"][0]["power"] = "maybe"
    lab["hosts"][1]["nics"] = [{"device": "eth0", "mode": "auto"}]
    lab["hosts"][1]["vms"] = [{"name": "v", "power_state": "Running"}]
    assert problem_at(lab, "hosts[0].power").endswith("allowed: one of on, off")
    assert "static, dhcp, none" in problem_at(lab, "hosts[1].nics[0].mode")
    assert problem_at(lab, "hosts[1].vms[0].power_state")


def test_out_of_range_numbers():
    assert problem_at(minimal(time_scale=0), "time_scale").endswith("allowed: number > 0")
    assert problem_at(minimal(port=70000), "port").endswith("allowed: integer 0..65535")
    assert problem_at(minimal(timings={"reboot": -1}), "timings.reboot")


def test_missing_required():
    assert problem_at({"name": "t"}, "hosts").startswith("hosts: missing")
    assert problem_at(minimal(hosts=[]), "hosts")
    lab = minimal(host_defaults={})
    p = problem_at(lab, "hosts[1].password")
    assert p.startswith("hosts[1].password: missing")


def test_duplicate_names_and_addresses():
    lab = minimal()
    lab["hosts"].append({"name": "xs1", "address": "127.0.0.12"})
    assert "already used by hosts[0]" in problem_at(lab, "hosts[2].name")
    assert "already used by hosts[1]" in problem_at(lab, "hosts[2].address")


@pytest.mark.parametrize("address, wrong", [("10.0.0.5", "is not a loopback address"),
                                            ("127.0.0.1", "is reserved for the control interface"),
                                            ("127.0.0.300", "is not an IPv4 address")])
def test_host_address_must_be_loopback(address, wrong):
    lab = minimal()
    lab["hosts"][1]["address"] = address
    assert problem_at(lab, "hosts[1].address") == \
        f'hosts[1].address: "{address}" {wrong}; allowed: 127.0.0.0/8 except 127.0.0.1'


def test_invalid_ip_cidr_and_netmask():
    lab = minimal(storage=[{"name": "s", "type": "nfs", "address": "172.16.0.34",
                            "exports": [{"path": "/srv", "allowed": ["172.16.0.35/28", "nonsense"]}]}])
    lab["hosts"][0]["nics"] = [{"device": "eth0"}, {"device": "eth1", "mode": "static", "ip": "172.16.0.300",
                                                    "netmask": "255.0.255.0"}]
    assert "host bits set" in problem_at(lab, "storage[0].exports[0].allowed[0]")
    assert problem_at(lab, "storage[0].exports[0].allowed[1]")
    assert problem_at(lab, "hosts[0].nics[1].ip")
    assert "is not a dotted netmask" in problem_at(lab, "hosts[0].nics[1].netmask")


def test_static_nic_needs_ip_and_none_mode_has_none():
    lab = minimal()
    lab["hosts"][0]["nics"] = [{"device": "eth0"}, {"device": "eth1", "mode": "static"},
                               {"device": "eth2", "ip": "10.1.1.1"}]
    assert problem_at(lab, "hosts[0].nics[1].ip").endswith("missing for mode static; allowed: an IPv4 address or null")
    assert "set but mode is none" in problem_at(lab, "hosts[0].nics[2].ip")


def test_one_management_nic():
    lab = minimal()
    lab["hosts"][0]["nics"] = [{"device": "eth0", "management": True}, {"device": "eth1", "management": True}]
    assert "nics[0] is already the management NIC" in problem_at(lab, "hosts[0].nics[1].management")


def test_duplicate_nic_ip_across_hosts():
    lab = minimal()
    for h in lab["hosts"]:
        h["nics"] = [{"device": "eth0"}, {"device": "eth1", "mode": "static", "ip": "10.0.0.5", "netmask": "255.255.255.0"}]
    assert "already used by hosts[0].nics[1].ip" in problem_at(lab, "hosts[1].nics[1].ip")


def test_bond_and_vlan_devices_must_exist():
    lab = minimal()
    lab["hosts"][0]["bonds"] = [{"devices": ["eth1", "eth7"]}]
    lab["hosts"][0]["vlans"] = [{"device": "eth8", "tag": 5}]
    assert '"eth7" is not a NIC of this host' in problem_at(lab, "hosts[0].bonds[0].devices[1]")
    assert problem_at(lab, "hosts[0].vlans[0].device")


def test_pool_references_unknown_host():
    p = problem_at(minimal(pools=[{"name": "p", "master": "xs9"}]), "pools[0].master")
    assert p == 'pools[0].master: "xs9" is not a host of this lab; allowed: one of xs1, xs2'


def test_host_in_two_pools():
    lab = minimal(pools=[{"name": "p", "master": "xs1", "members": ["xs2"]}, {"name": "q", "master": "xs2"}])
    assert "already in pools[0]" in problem_at(lab, "pools[1].master")


def test_pool_master_also_member():
    lab = minimal(pools=[{"name": "p", "master": "xs1", "members": ["xs2", "xs1"]}])
    assert "is the master of this pool" in problem_at(lab, "pools[0].members[1]")


def test_pool_sr_storage_must_exist_match_type_and_export_the_path():
    storage = [{"name": "nfs1", "type": "nfs", "address": "10.0.0.2", "exports": [{"path": "/srv/vhd"}]},
               {"name": "iscsi1", "type": "iscsi", "address": "10.0.0.3",
                "targets": [{"iqn": "iqn.2024-01.com.example:t"}]}]
    srs = [{"name": "a", "storage": "nope", "path": "/srv/vhd"},
           {"name": "b", "storage": "iscsi1", "path": "/srv/vhd"},
           {"name": "c", "storage": "nfs1", "path": "/srv/iso"},
           {"name": "d", "type": "iscsi", "storage": "iscsi1", "target": "iqn.2024-01.com.example:t", "lun": 3},
           {"name": "e"}]
    lab = minimal(storage=storage, pools=[{"name": "p", "master": "xs1", "shared_srs": srs}])
    assert "is not a storage server of this lab" in problem_at(lab, "pools[0].shared_srs[0].storage")
    assert "is an iscsi server; allowed: one of nfs1" in problem_at(lab, "pools[0].shared_srs[1].storage")
    assert "allowed: one of /srv/vhd" in problem_at(lab, "pools[0].shared_srs[2].path")
    assert "is not a LUN" in problem_at(lab, "pools[0].shared_srs[3].lun")
    assert problem_at(lab, "pools[0].shared_srs[4].storage").startswith("pools[0].shared_srs[4].storage: missing")


def test_storage_lists_must_match_the_type():
    lab = minimal(storage=[{"name": "s", "type": "iscsi", "address": "10.0.0.2", "exports": [{"path": "/x"}]}])
    assert problem_at(lab, "storage[0].exports").endswith("only for type nfs; allowed: targets")


def test_default_sr_and_heartbeat_must_be_pool_srs():
    lab = load(LABS / "pool-of-four.yml")
    lab["pools"][0]["default_sr"] = "Local storage"      # a local SR, in a pool of four
    lab["pools"][0]["ha"] = {"enabled": True, "heartbeat_srs": ["other"]}
    assert problem_at(lab, "pools[0].default_sr").endswith('allowed: one of "", shared-nfs')
    assert problem_at(lab, "pools[0].ha.heartbeat_srs[0]")


def test_vm_disk_on_unknown_or_foreign_sr():
    lab = minimal()
    lab["hosts"][0]["local_srs"] = [{"name": "xs1-local"}]
    lab["hosts"][1]["vms"] = [{"name": "v", "power_state": "halted", "disks": [{"sr": "xs1-local"}]}]
    assert problem_at(lab, "hosts[1].vms[0].disks[0].sr") == \
        'hosts[1].vms[0].disks[0].sr: "xs1-local" is not an SR this host can use; allowed: one of Local storage'


def test_vm_disk_on_standalone_shared_sr_is_fine_but_not_on_a_member():
    lab = minimal()
    lab["hosts"][0]["shared_srs"] = [{"name": "nas"}]
    lab["hosts"][0]["vms"] = [{"name": "v", "power_state": "halted", "disks": [{"sr": "nas"}]}]
    assert load(lab)["hosts"][0]["shared_srs"][0]["size_gib"] == 1024.0
    lab["pools"] = [{"name": "p", "master": "xs2", "members": ["xs1"]}]
    assert "only for standalone hosts" in problem_at(lab, "hosts[0].shared_srs")


def test_vm_memory_larger_than_host():
    lab = minimal()
    lab["hosts"][0].update(memory_gib=16, dom0_memory_gib=4)
    lab["hosts"][0]["vms"] = [{"name": "a", "power_state": "running", "memory_gib": 8},
                              {"name": "b", "power_state": "paused", "memory_gib": 8},
                              {"name": "c", "power_state": "suspended", "memory_gib": 64}]
    assert problem_at(lab, "hosts[0].vms") == ("hosts[0].vms: running and paused VMs need 16 GiB + dom0 4 GiB, "
                                               "more than memory_gib 16; allowed: at most 12 GiB of running and paused VMs")


def test_running_vm_on_powered_off_host():
    lab = minimal()
    lab["hosts"][0].update(power="off", vms=[{"name": "a", "power_state": "running"}])
    assert problem_at(lab, "hosts[0].vms[0].power_state")


def test_duplicate_vm_names_in_a_pool():
    lab = minimal(pools=[{"name": "p", "master": "xs1", "members": ["xs2"]}])
    lab["hosts"][0]["vms"] = [{"name": "a", "power_state": "halted"}]
    lab["hosts"][1]["vms"] = [{"name": "a", "power_state": "halted"}]
    assert "already used by hosts[0].vms[0]" in problem_at(lab, "hosts[1].vms[0].name")


def test_sr_too_small_for_its_disks():
    lab = minimal()
    lab["hosts"][0]["local_srs"] = [{"name": "Local storage", "size_gib": 30}]
    lab["hosts"][0]["vms"] = [{"name": "a", "power_state": "halted", "disks": [{"sr": "Local storage"}] * 2}]
    assert problem_at(lab, "hosts[0].local_srs[0].size_gib").endswith("allowed: at least 40")


def test_edition_updates_and_external_auth_consistency():
    lab = minimal()
    lab["hosts"][0].update(edition="enterprise", updates=["A"], updates_requiring_reboot=["B"],
                           external_auth={"type": "AD"})
    assert problem_at(lab, "hosts[0].edition")
    assert problem_at(lab, "hosts[0].updates_requiring_reboot[0]")
    assert problem_at(lab, "hosts[0].external_auth")


def test_host_defaults_problems_are_reported_once():
    lab = minimal(host_defaults={"password": "pw", "memory_gib": "big", "name": "x"})
    found = problems(lab)
    assert [p for p in found if "memory_gib" in p] == [p for p in found if p.startswith("host_defaults.memory_gib: ")]
    assert len([p for p in found if "memory_gib" in p]) == 1
    assert problem_at(lab, "host_defaults.name")
    assert not any(p.startswith("hosts[") for p in found)     # the valid defaults (password) still apply


def test_fault_needs_a_kind():
    assert problem_at(minimal(faults=[{"host": "xs1"}]), "faults[0].kind")
    assert problem_at(minimal(faults=["crash"]), "faults[0]")


def test_all_problems_are_collected():
    lab = minimal(time_scale=-1, pools=[{"name": "p", "master": "nobody"}])
    lab["hosts"][0]["address"] = "10.0.0.1"
    lab["hosts"][1]["cpu"] = {"vendr": "x"}
    assert {p.split(":")[0] for p in problems(lab)} == \
        {"time_scale", "pools[0].master", "hosts[0].address", "hosts[1].cpu.vendr"}


JUNK = [None, True, -1, 1.5, "", "x", [], [None], {}, {"x": 1}, [{"name": 1}]]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            yield from _paths(v, path + (i,))


def test_no_traceback_for_any_junk_anywhere():
    """Replace every value of a rich lab (down to two list entries) by junk: only LabError may come out."""
    base = load(LABS / "pool-of-four.yml")
    base["storage"].append({"name": "i", "type": "iscsi", "address": "10.0.0.3",
                            "targets": [{"iqn": "iqn.2024-01.com.example:t", "chap": {"user": "u", "password": "p"}}]})
    base["hosts"][0].update(bonds=[{"devices": ["eth1", "eth2"]}], vlans=[{"device": "eth2", "tag": 3}],
                            power_on={"mode": "IPMI", "bmc": {"ip": "10.0.0.9", "user": "u", "password": "p"}})
    base["pools"][0]["ha"]["enabled"] = True
    load(base)
    count = 0
    for path in _paths(base):
        if not path:
            continue
        for junk in JUNK:
            lab = copy.deepcopy(base)
            target = lab
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = copy.deepcopy(junk)
            try:
                load(lab)
            except LabError as err:
                assert not any("validator failed" in p for p in err.problems), (path, junk, err.problems)
            count += 1
    assert count > 1000


# -- xapisim validate -----------------------------------------------------------------------
def test_validate_main_reports_problems_and_exits_1(tmp_path, capsys):
    path = tmp_path / "lab.yml"
    path.write_text("name: t\nhosts:\n  - {name: xs1, address: 10.0.0.1, password: pw}\n")
    assert validate_main(str(path)) == 1
    assert capsys.readouterr().out == (f'{path}: hosts[0].address: "10.0.0.1" is not a loopback address; '
                                       "allowed: 127.0.0.0/8 except 127.0.0.1\n")


def test_validate_main_on_garbage_exits_1(tmp_path, capsys):
    path = tmp_path / "lab.yml"
    path.write_bytes(b"\xff\xfe{{{")
    assert validate_main(str(path)) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ") and "Traceback" not in out


# -- faults: the same rules as POST /faults ----------------------------------------------------
def test_lab_faults_are_checked_like_post_faults():
    found = problems(minimal(faults=[{"kind": "crash", "host": "nope"}, {"kind": "boom"},
                                     {"kind": "error", "method": "host.reboot"}]))
    assert "faults[0].host: no host named 'nope'" in found
    assert any(p.startswith("faults[1].kind: 'boom' is unknown; allowed: latency, error") for p in found)
    assert "faults[2]: kind error needs code" in found


def test_valid_lab_faults_load():
    lab = load(minimal(faults=[{"kind": "slow_reboot", "host": "xs2", "factor": 3}]))
    assert lab["faults"] == [{"kind": "slow_reboot", "host": "xs2", "factor": 3}]
