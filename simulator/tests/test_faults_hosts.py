"""Host faults armed through the control interface (POST /faults): crash, reboot_hang and
slow_reboot, observed through XenAPI over HTTPS."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from conftest import control, failure, xapi_session

NFS = {"name": "nfs", "type": "nfs", "address": "172.16.0.34",
       "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048}]}
BMC = {"ip": "10.1.0.2", "user": "admin", "password": "bmc-secret"}
SCALE = 0.005


def host(n: int, vms=(), **extra) -> dict:
    return {"name": f"h{n}", "address": f"127.0.0.{110 + n}", "password": "pw", "memory_gib": 32,
            "dom0_memory_gib": 4, "vms": list(vms), "power_on": {"bmc": BMC},
            "nics": [{"device": "eth0", "management": True},
                     {"device": "eth1", "mode": "static", "ip": f"172.16.0.{40 + n}", "netmask": "255.255.255.240"}],
            **extra}


def vm(name, state="running") -> dict:
    return {"name": name, "power_state": state, "memory_gib": 2, "disks": [{"sr": "shared", "size_gib": 10}]}


LAB = {
    "name": "faults",
    "hosts": [host(1, [vm("a1")]), host(2, [vm("a2"), vm("b2"), vm("s2", "suspended")]), host(3, [vm("a3")])],
    "storage": [NFS],
    "pools": [{"name": "p", "master": "h1", "members": ["h2", "h3"],
               "shared_srs": [{"name": "shared", "type": "nfs", "storage": "nfs", "path": "/srv/vhd"}],
               "default_sr": "shared"}],
}


@pytest.fixture
def pool(start_lab):
    lab = start_lab(LAB, time_scale=SCALE)
    return lab, xapi_session(lab).xenapi


def machine(lab, name) -> dict:
    return next(m for m in control(lab, "GET", "/state")["machines"] if m["name"] == name)


def named(x, cls, name):
    return getattr(x, cls).get_by_name_label(name)[0]


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def refused(lab, index) -> bool:
    address = lab.info["hosts"][index]["address"]
    port = int(lab.info["hosts"][index]["url"].rstrip("/").rsplit(":", 1)[1])
    try:
        socket.create_connection((address, port), 1).close()
    except OSError:
        return True
    return False


def test_a_crashed_member_is_dead_at_once_and_its_vms_are_gone(pool):
    lab, x = pool
    h2, h3 = named(x, "host", "h2"), named(x, "host", "h3")
    a2, b2, s2 = (named(x, "VM", n) for n in ("a2", "b2", "s2"))
    control(lab, "POST", "/faults", {"kind": "crash", "host": "h2"})
    assert not x.host_metrics.get_live(x.host.get_metrics(h2))
    assert (machine(lab, "h2")["powered"], machine(lab, "h2")["api_up"]) == (False, False)
    wait_until(lambda: refused(lab, 1))
    for v in (a2, b2):
        assert (x.VM.get_power_state(v), x.VM.get_resident_on(v)) == ("Halted", "OpaqueRef:NULL")
    assert x.VM.get_power_state(s2) == "Suspended"
    assert control(lab, "GET", "/faults")["faults"] == []       # it happened; nothing stays armed
    # xapi keeps a dead host enabled: it cannot be disabled, and it blocks other evacuations
    assert x.host.get_enabled(h2)
    assert failure(x.host.disable, h2) == ["HOST_OFFLINE", h2]
    a3 = named(x, "VM", "a3")
    assert x.host.get_vms_which_prevent_evacuation(h3) == {a3: ["HOST_NOT_LIVE"]}
    assert x.host.get_allowed_operations(h2) and "power_on" not in x.host.get_allowed_operations(h2)


def test_a_crashed_master_is_not_replaced_without_ha(pool):
    lab, _ = pool
    control(lab, "POST", "/faults", {"kind": "crash", "host": "h1"})
    wait_until(lambda: refused(lab, 0))
    time.sleep(60 * SCALE + 0.3)      # longer than an HA timeout
    for index in (1, 2):
        member = xapi_session(lab, index, login=False)
        assert failure(member.xenapi.login_with_password, "root", "pw", "1.0", "t") == \
            ["HOST_IS_SLAVE", lab.info["hosts"][0]["address"]]
    pools = control(lab, "GET", "/state")["pools"]
    assert [p["master"] for p in pools] == ["h1"]


def test_a_reboot_that_hangs_needs_a_power_cycle(pool):
    lab, x = pool
    h2 = named(x, "host", "h2")
    metrics = x.host.get_metrics(h2)
    armed = control(lab, "POST", "/faults", {"kind": "reboot_hang", "host": "h2"})["faults"]
    assert armed == [{"kind": "reboot_hang", "host": "h2"}]
    x.host.disable(h2)
    x.host.reboot(h2)
    wait_until(lambda: not x.host_metrics.get_live(metrics))
    time.sleep((10 + 240 + 10) * SCALE + 0.5)     # well past a normal reboot
    assert not x.host_metrics.get_live(metrics)
    assert control(lab, "GET", "/faults")["faults"] == []       # used up by this reboot
    assert machine(lab, "h2")["powered"] is False
    secret = x.secret.create({"value": BMC["password"], "other_config": {}})
    x.host.set_power_on_mode(h2, "IPMI", {"power_on_ip": BMC["ip"], "power_on_user": BMC["user"],
                                          "power_on_password_secret": x.secret.get_uuid(secret)})
    x.host.power_on(h2)
    assert x.host_metrics.get_live(metrics)
    wait_until(lambda: x.host.get_enabled(h2))


def test_a_slow_reboot_takes_factor_times_longer(pool):
    lab, x = pool
    h2, h3 = named(x, "host", "h2"), named(x, "host", "h3")
    control(lab, "POST", "/faults", {"kind": "slow_reboot", "host": "h2", "factor": 3})
    for h in (h2, h3):
        x.host.disable(h)
    t0 = time.monotonic()
    x.host.reboot(h2)
    x.host.reboot(h3)
    back3 = wait_until(lambda: x.host.get_enabled(h3)) - t0
    assert not x.host_metrics.get_live(x.host.get_metrics(h2))
    back2 = wait_until(lambda: x.host.get_enabled(h2)) - t0
    assert back2 > 2 * back3
    assert control(lab, "GET", "/faults")["faults"] == []


def test_host_faults_are_validated(pool):
    lab, _ = pool
    for bad in ({"kind": "crash"}, {"kind": "crash", "host": "nope"}, {"kind": "slow_reboot", "host": "h2"}):
        with pytest.raises(urllib.error.HTTPError) as info:
            control(lab, "POST", "/faults", bad)
        assert info.value.code == 400
    assert control(lab, "GET", "/faults")["faults"] == []


def test_faults_in_the_lab_file_are_armed_at_start(start_lab):
    lab = start_lab({**LAB, "faults": [{"kind": "crash", "host": "h3"}, {"kind": "reboot_hang", "host": "h2"}]},
                    time_scale=SCALE)
    x = xapi_session(lab).xenapi
    h3 = named(x, "host", "h3")
    assert not x.host_metrics.get_live(x.host.get_metrics(h3))
    assert refused(lab, 2)
    assert x.VM.get_power_state(named(x, "VM", "a3")) == "Halted"
    assert control(lab, "GET", "/faults")["faults"] == [{"kind": "reboot_hang", "host": "h2"}]


def test_a_bad_fault_in_the_lab_file_stops_the_lab(start_lab):
    from xapisim.labfile import LabError
    with pytest.raises(LabError) as info:
        start_lab({**LAB, "faults": [{"kind": "crash", "host": "h9"}]})
    assert "h9" in str(info.value)


# -- faults inside long operations -------------------------------------------------------
MIGRATE_FAILED = ["VM_MIGRATE_FAILED", "vm", "source", "destination", "connection reset"]


def pool_migrate_fault(**extra) -> dict:
    return {"kind": "error", "method": "VM.pool_migrate", "code": MIGRATE_FAILED[0], "params": MIGRATE_FAILED[1:],
            **extra}


def test_an_error_for_pool_migrate_fails_an_evacuation_part_way(pool):
    lab, x = pool
    h2 = named(x, "host", "h2")
    a2, b2 = named(x, "VM", "a2"), named(x, "VM", "b2")
    control(lab, "POST", "/faults", pool_migrate_fault(after=1))     # the first migration passes
    control(lab, "DELETE", "/calls")
    # one VM at a time: the first has moved when the second migration's call fails
    assert failure(x.host.evacuate, h2, "OpaqueRef:NULL", "1") == MIGRATE_FAILED
    homes = {vm: x.VM.get_resident_on(vm) for vm in (a2, b2)}
    assert sorted(home == h2 for home in homes.values()) == [False, True]
    assert all(x.VM.get_power_state(vm) == "Running" for vm in (a2, b2))
    assert x.host.get_current_operations(h2) == {}
    assert control(lab, "GET", "/faults")["faults"] == []             # used up
    # xapi's own calls are not in the call log, which records clients' calls
    assert [c["method"] for c in control(lab, "GET", "/calls")["calls"] if c["kind"] == "write"] == ["host.evacuate"]
    x.host.evacuate(h2)                                                # and it can be run again
    assert all(x.VM.get_resident_on(vm) != h2 for vm in (a2, b2))


def test_migrations_in_flight_carry_on_after_the_evacuation_failed(pool):
    lab, x = pool
    h2 = named(x, "host", "h2")
    a2, b2 = named(x, "VM", "a2"), named(x, "VM", "b2")
    control(lab, "POST", "/faults", pool_migrate_fault(after=1))
    # one batch: the first migration starts, the second call fails at once
    assert failure(x.host.evacuate, h2) == MIGRATE_FAILED
    assert any("pool_migrate" in x.VM.get_current_operations(vm).values() for vm in (a2, b2))
    wait_until(lambda: not any(x.VM.get_current_operations(vm) for vm in (a2, b2)))
    assert sorted(x.VM.get_resident_on(vm) == h2 for vm in (a2, b2)) == [False, True]


def test_an_error_for_pool_migrate_also_fails_a_client_migration_but_not_others(pool):
    lab, x = pool
    h1, h3 = named(x, "host", "h1"), named(x, "host", "h3")
    control(lab, "POST", "/faults", pool_migrate_fault(host="h1", times="always"))
    a3 = named(x, "VM", "a3")
    assert failure(x.VM.pool_migrate, a3, h1, {"live": "true"}) == MIGRATE_FAILED
    assert x.VM.get_resident_on(a3) == h3
    control(lab, "DELETE", "/faults")
    x.VM.pool_migrate(a3, h1, {"live": "true"})
    assert x.VM.get_resident_on(a3) == h1


def test_after_is_validated(pool):
    lab, _ = pool
    for after in (-1, "2", True, 1.5):
        with pytest.raises(urllib.error.HTTPError) as info:
            control(lab, "POST", "/faults", pool_migrate_fault(after=after))
        assert info.value.code == 400 and "faults[0].after: must be an integer >= 0" in json.load(info.value)["error"]
