"""Host state and power through XenAPI over HTTPS: disable/enable, evacuation and its plan,
reboot and shutdown of members and of the master, toolstack restart, server time, editions,
messages."""
from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from conftest import failure, xapi_session

GIB = 1 << 30
NFS = {"name": "nfs", "type": "nfs", "address": "172.16.0.34",
       "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"], "size_gib": 2048}]}


def host(n: int, vms=(), **extra) -> dict:
    return {"name": f"h{n}", "address": f"127.0.0.{80 + n}", "password": "pw", "memory_gib": 32,
            "dom0_memory_gib": 4, "vms": list(vms),
            "nics": [{"device": "eth0", "management": True},
                     {"device": "eth1", "mode": "static", "ip": f"172.16.0.{40 + n}", "netmask": "255.255.255.240"},
                     {"device": "eth2"}],
            **extra}


def vm(name, state, gib=4, sr="shared", **extra) -> dict:
    return {"name": name, "power_state": state, "memory_gib": gib, "disks": [{"sr": sr, "size_gib": 10}], **extra}


LAB = {
    "name": "host-lifecycle",
    "timings": {"pbd_plug": 50, "api_restart": 50},   # start-ups long enough to watch (0.5 s here)
    "hosts": [
        host(1, [vm("web1", "running")], clock_offset=0,
             license_server={"address": "10.0.0.5", "port": 27000}, editions_available=["trial", "standard", "premier"]),
        host(2, [vm("web2", "running"), vm("db2", "running", 8), vm("batch2", "suspended"), vm("tmpl2", "halted", 2)]),
        host(3, [vm("loc3", "running", 2, sr="Local storage"), vm("pci3", "running", 2, passthrough="pci"),
                 vm("web3", "running", 2)], clock_offset=3600),
        host(4),
    ],
    "storage": [NFS],
    "pools": [{"name": "p", "master": "h1", "members": ["h2", "h3", "h4"],
               "shared_srs": [{"name": "shared", "type": "nfs", "storage": "nfs", "path": "/srv/vhd"}],
               "default_sr": "shared"}],
}


@pytest.fixture
def pool(start_lab):
    lab = start_lab(LAB)
    return lab, xapi_session(lab).xenapi


def named(x, cls, name):
    return getattr(x, cls).get_by_name_label(name)[0]


def where(x, name) -> str:
    ref = x.VM.get_resident_on(named(x, "VM", name))
    return x.host.get_name_label(ref) if ref != "OpaqueRef:NULL" else "-"


def wait_until(predicate, timeout=20.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached")


def watch(x, subscriptions, until, timeout=30.0) -> list[dict]:
    """event.from until `until(events so far)` is true; returns every event seen."""
    seen, token = [], ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = x.event_from(subscriptions, token, 2.0)
        token = batch["token"]
        seen += batch["events"]
        if until(seen):
            return seen
    raise AssertionError("events not seen")


def agent_start(x, host) -> float:
    return float(x.host.get_other_config(host)["agent_start_time"].rstrip("."))


def state(lab) -> dict:
    with urllib.request.urlopen(lab.control_url + "/state") as response:
        return json.loads(response.read())


def test_disable_and_enable(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    assert x.host.get_enabled(h2)
    assert "reboot" not in x.host.get_allowed_operations(h2)
    x.host.disable(h2)
    x.host.disable(h2)                       # idempotent
    assert not x.host.get_enabled(h2)
    assert {"reboot", "shutdown"} <= set(x.host.get_allowed_operations(h2))
    assert where(x, "web2") == "h2"          # running VMs keep running
    x.host.enable(h2)
    x.host.enable(h2)
    assert x.host.get_enabled(h2)


def test_reboot_and_shutdown_need_a_disabled_host(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    assert failure(x.host.reboot, h2) == ["HOST_NOT_DISABLED"]
    assert failure(x.host.shutdown, h2) == ["HOST_NOT_DISABLED"]
    assert x.host_metrics.get_live(x.host.get_metrics(h2))


def test_evacuate_moves_running_vms_accounts_memory_and_leaves_the_rest(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    others = [named(x, "host", n) for n in ("h1", "h3", "h4")]
    free_before = {h: int(x.host.compute_free_memory(h)) for h in others}
    assert int(x.host.compute_free_memory(h2)) == (32 - 4 - 12) * GIB
    assert x.host.get_vms_which_prevent_evacuation(h2) == {}
    x.host.assert_can_evacuate(h2)
    x.host.evacuate(h2)
    assert where(x, "web2") != "h2" and where(x, "db2") != "h2"
    assert x.host.get_resident_VMs(h2) == [v for v in x.host.get_resident_VMs(h2) if x.VM.get_is_control_domain(v)]
    assert int(x.host.compute_free_memory(h2)) == (32 - 4) * GIB
    assert sum(free_before.values()) - sum(int(x.host.compute_free_memory(h)) for h in others) == 12 * GIB
    assert x.host.get_enabled(h2)            # evacuate does not disable
    batch2 = named(x, "VM", "batch2")
    assert (x.VM.get_power_state(batch2), x.VM.get_affinity(batch2)) == ("Suspended", h2)
    assert x.VM.get_power_state(named(x, "VM", "tmpl2")) == "Halted"


def test_a_vm_that_cannot_go_fails_the_whole_evacuation(pool):
    _, x = pool
    h3 = named(x, "host", "h3")
    loc3, pci3 = named(x, "VM", "loc3"), named(x, "VM", "pci3")
    local_sr = x.VDI.get_SR(x.VBD.get_VDI(x.VM.get_VBDs(loc3)[0]))
    expected = {loc3: ["VM_REQUIRES_SR", loc3, local_sr], pci3: ["VM_HAS_PCI_ATTACHED", pci3]}
    assert x.host.get_vms_which_prevent_evacuation(h3) == expected
    details = failure(x.host.assert_can_evacuate, h3)
    assert details[0] == "CANNOT_EVACUATE_HOST" and len(details) == 2
    assert sorted(details[1].split("|")) == sorted(",".join(e) for e in expected.values())
    assert failure(x.host.evacuate, h3) in expected.values()
    assert (where(x, "web3"), where(x, "loc3"), where(x, "pci3")) == ("h3", "h3", "h3")   # nothing moved


def test_no_other_enabled_host_means_no_hosts_available(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    for name in ("h1", "h3", "h4"):
        x.host.disable(named(x, "host", name))
    web2, db2 = named(x, "VM", "web2"), named(x, "VM", "db2")
    assert x.host.get_vms_which_prevent_evacuation(h2) == {web2: ["NO_HOSTS_AVAILABLE", web2],
                                                           db2: ["NO_HOSTS_AVAILABLE", db2]}
    assert failure(x.host.evacuate, h2)[0] == "NO_HOSTS_AVAILABLE"


def test_a_vm_that_does_not_fit_fails_the_evacuation(pool):
    lab, x = pool
    h2, db2 = named(x, "host", "h2"), named(x, "VM", "db2")
    for name in ("h3", "h4"):
        x.host.disable(named(x, "host", name))

    def shrink(world):   # h1 keeps 6 GiB free: web2 (4 GiB) fits, db2 (8 GiB) does not
        db = world.machine("h1").db
        db.set("host_metrics", db.get("host", world.machine("h1").host_ref)["metrics"], memory_total=14 * GIB)
    lab.run(shrink)
    assert x.host.get_vms_which_prevent_evacuation(h2) == {db2: ["HOST_NOT_ENOUGH_FREE_MEMORY", db2]}
    assert failure(x.host.evacuate, h2) == ["HOST_NOT_ENOUGH_FREE_MEMORY", db2]
    assert (where(x, "web2"), where(x, "db2")) == ("h2", "h2")


def max_concurrent_migrations(x, task, vms) -> int:
    most = 0
    while x.task.get_status(task) == "pending":
        ops = [op for v in vms for op in x.VM.get_current_operations(v).values()]
        most = max(most, ops.count("pool_migrate"))
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    return most


def test_evacuation_batch_size(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    vms = [named(x, "VM", "web2"), named(x, "VM", "db2")]
    task = x.Async.host.evacuate(h2, "OpaqueRef:NULL", "1")
    assert max_concurrent_migrations(x, task, vms) == 1
    for v in vms:
        x.VM.pool_migrate(v, h2, {})
    task = x.Async.host.evacuate(h2)           # default batch: both at once
    assert max_concurrent_migrations(x, task, vms) == 2
    assert float(x.task.get_progress(task)) == 1.0
    assert all(x.VM.get_resident_on(v) != h2 for v in vms)


def test_evacuation_network_must_have_an_ip_on_every_target(pool):
    _, x = pool
    h2 = named(x, "host", "h2")
    eth2_net = x.PIF.get_network(next(p for p in x.host.get_PIFs(h2) if x.PIF.get_device(p) == "eth2"))
    details = failure(x.host.evacuate, h2, eth2_net, "0")
    assert details[0] == "INTERFACE_HAS_NO_IP" and details[1] in x.network.get_PIFs(eth2_net)
    storage_net = x.PIF.get_network(next(p for p in x.host.get_PIFs(h2) if x.PIF.get_device(p) == "eth1"))
    x.host.evacuate(h2, storage_net, "0")
    assert (where(x, "web2") != "h2", where(x, "db2") != "h2") == (True, True)


def test_member_reboot_goes_down_and_comes_back_enabled(pool):
    _, x = pool
    h3 = named(x, "host", "h3")
    metrics = x.host.get_metrics(h3)
    started = agent_start(x, h3)
    x.host.disable(h3)                       # the user's disable is not kept over a reboot
    t0 = time.monotonic()
    x.host.reboot(h3)
    assert time.monotonic() - t0 < 1.0      # returns at once
    assert "shutdown" in x.host.get_current_operations(h3).values()
    assert "reboot" not in x.host.get_allowed_operations(h3)
    events = watch(x, [f"host/{h3}", f"host_metrics/{metrics}"],
                   lambda seen: any(e["class"] == "host" and e["snapshot"]["enabled"] for e in seen[1:]))
    lives = [e["snapshot"]["live"] for e in events if e["class"] == "host_metrics"]
    assert lives[0] is True and False in lives and lives[-1] is True
    # back: live while still disabled, then enabled, with a newer agent_start_time
    enabled = [(e["snapshot"]["enabled"], e["snapshot"]["other_config"].get("agent_start_time")) for e in events
               if e["class"] == "host"]
    assert enabled[-1][0] is True
    assert any(not on for on, _ in enabled[1:])
    assert agent_start(x, h3) > started
    assert x.host.get_current_operations(h3) == {}
    # what could not be evacuated was shut down, the rest migrated
    assert x.VM.get_power_state(named(x, "VM", "loc3")) == "Halted"
    assert x.VM.get_power_state(named(x, "VM", "pci3")) == "Halted"
    assert x.VM.get_power_state(named(x, "VM", "web3")) == "Running" and where(x, "web3") not in ("h3", "-")
    assert all(x.PBD.get_currently_attached(p) for p in x.host.get_PBDs(h3))
    assert x.host_metrics.get_live(metrics)


def test_enable_during_startup_is_refused_while_booting(pool):
    _, x = pool
    h4 = named(x, "host", "h4")
    metrics = x.host.get_metrics(h4)
    x.host.disable(h4)
    x.host.reboot(h4)
    watch(x, [f"host_metrics/{metrics}"], lambda seen: any(not e["snapshot"]["live"] for e in seen))
    assert failure(x.host.enable, h4) == ["HOST_OFFLINE", h4]
    assert failure(x.host.disable, h4) == ["HOST_OFFLINE", h4]
    watch(x, [f"host_metrics/{metrics}"], lambda seen: any(e["snapshot"]["live"] for e in seen[1:]))
    assert failure(x.host.enable, h4) == ["HOST_STILL_BOOTING"]
    wait_until(lambda: x.host.get_enabled(h4))


def test_pending_guidances_and_disabled_until_reboot_block_enable(pool):
    lab, x = pool
    h4 = named(x, "host", "h4")
    x.host.disable(h4)

    def guidance(world):
        world.machine("h4").db.set("host", world.machine("h4").host_ref, pending_guidances=["reboot_host"])
    lab.run(guidance)
    assert failure(x.host.enable, h4) == ["HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", h4]

    def until_reboot(world):   # what prepare_for_poweroff leaves when a shutdown stops half-way
        from xapisim import lifecycle
        machine = world.machine("h4")
        machine.db.set("host", machine.host_ref, pending_guidances=[])
        lifecycle.host_state(world, machine).disabled_until_reboot = True
    lab.run(until_reboot)
    assert failure(x.host.enable, h4) == ["HOST_DISABLED_UNTIL_REBOOT", h4]


def test_toolstack_restart_forgets_the_users_disable(pool):
    lab, x = pool
    h4 = named(x, "host", "h4")
    started = agent_start(x, h4)
    x.host.disable(h4)
    x.host.restart_agent(h4)
    wait_until(lambda: not next(m for m in state(lab)["machines"] if m["name"] == "h4")["api_up"])
    assert failure(x.host.enable, h4) == ["CANNOT_CONTACT_HOST", h4]   # live, but its xapi is down
    wait_until(lambda: agent_start(x, h4) > started and x.host.get_enabled(h4))


def test_shutdown_leaves_the_host_off(pool):
    lab, x = pool
    h4 = named(x, "host", "h4")
    metrics = x.host.get_metrics(h4)
    x.host.disable(h4)
    x.host.shutdown(h4)
    watch(x, [f"host_metrics/{metrics}"], lambda seen: any(not e["snapshot"]["live"] for e in seen))
    machine = next(m for m in state(lab)["machines"] if m["name"] == "h4")
    assert (machine["powered"], machine["api_up"]) == (False, False)
    time.sleep(240 * 0.01 + 0.5)             # longer than a reboot
    assert not x.host_metrics.get_live(metrics)
    assert not x.host.get_enabled(h4)
    assert "power_on" not in x.host.get_allowed_operations(h4)   # power_on_mode is ""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.84", int(lab.info["hosts"][3]["url"].rsplit(":", 1)[1].strip("/"))), 1)


def test_master_reboot_takes_the_pools_api_away(pool):
    lab, x = pool
    h1 = named(x, "host", "h1")
    started = agent_start(x, h1)
    x.host.disable(h1)
    x.host.evacuate(h1)
    x.host.reboot(h1)
    session = xapi_session(lab)  # a second session, to see it forgotten
    handle = session.handle
    wait_until(lambda: not next(m for m in state(lab)["machines"] if m["name"] == "h1")["api_up"], timeout=10)
    with pytest.raises(OSError):
        xapi_session(lab)
    member = xapi_session(lab, 1, login=False)
    assert failure(member.xenapi.login_with_password, "root", "pw", "1.0", "t") == ["HOST_IS_SLAVE", "127.0.0.81"]

    def login():
        try:
            return xapi_session(lab)
        except OSError:
            return None
    fresh = wait_until(login, timeout=20, step=0.1).xenapi
    assert failure(fresh.session.get_record, handle)[0] in ("SESSION_INVALID", "HANDLE_INVALID")
    wait_until(lambda: fresh.host.get_enabled(h1), timeout=10)
    assert agent_start(fresh, h1) > started
    assert fresh.host_metrics.get_live(fresh.host.get_metrics(h1))


def test_servertime_honours_the_hosts_clock(pool):
    _, x = pool
    h1, h3 = named(x, "host", "h1"), named(x, "host", "h3")
    fmt = "%Y%m%dT%H:%M:%SZ"
    t1 = time.mktime(time.strptime(str(x.host.get_servertime(h1)), fmt))
    t3 = time.mktime(time.strptime(str(x.host.get_servertime(h3)), fmt))
    assert 3598 <= t3 - t1 <= 3602
    assert abs(t1 - time.mktime(time.gmtime())) < 5


def test_apply_edition_with_the_labs_licence_server(pool):
    _, x = pool
    h1 = named(x, "host", "h1")
    assert failure(x.host.apply_edition, h1, "enterprise", False) == ["INVALID_EDITION", "enterprise"]
    x.host.set_license_server(h1, {})
    assert failure(x.host.apply_edition, h1, "premier", False) == ["MISSING_CONNECTION_DETAILS"]
    x.host.set_license_server(h1, {"address": "10.9.9.9", "port": "27000"})
    assert failure(x.host.apply_edition, h1, "premier", False)[0] == "LICENSE_CHECKOUT_ERROR"
    x.host.set_license_server(h1, {"address": "10.0.0.5", "port": "27000"})
    x.host.apply_edition(h1, "premier")      # force defaults to false
    assert x.host.get_edition(h1) == "premier"
    assert x.host.get_license_params(h1)["sku_type"] == "premier"
    x.host.apply_edition(h1, "trial", False)  # no licence server needed
    assert x.host.get_edition(h1) == "trial"
    assert x.host.get_editions(h1) == ["trial", "standard", "premier"]


def test_messages(pool):
    _, x = pool
    web1 = named(x, "VM", "web1")
    uuid = x.VM.get_uuid(web1)
    x.VM.pool_migrate(web1, named(x, "host", "h4"), {})
    refs = x.message.get_all()
    records = x.message.get_all_records()
    assert set(refs) == set(records)
    (ref, record), = [(r, m) for r, m in records.items() if m["obj_uuid"] == uuid]
    assert (record["name"], record["cls"], int(record["priority"])) == ("VM_MIGRATED", "VM", 5)
    assert x.message.get_by_uuid(record["uuid"]) == ref
    assert x.message.get_record(ref) == record
    assert set(x.message.get("VM", uuid, "19700101T00:00:00Z")) == {ref}
    assert x.message.get_since("20991231T00:00:00Z") == {}
    assert failure(x.message.create, "CUSTOM", "1", "VM", "no-such-uuid", "x") == ["UUID_INVALID", "VM", "no-such-uuid"]
    mine = x.message.create("CUSTOM", "1", "VM", uuid, "hello")
    assert x.message.get_record(mine)["body"] == "hello"
    x.message.destroy(ref)
    x.message.destroy(mine)
    assert failure(x.message.get_record, ref) == ["HANDLE_INVALID", "message", ref]


def test_a_reboot_clears_the_updates_that_required_it_a_toolstack_restart_does_not(start_lab):
    lab_dict = {**LAB, "hosts": [*LAB["hosts"][:3],
                                 host(4, updates=["XS84E001"], updates_requiring_reboot=["XS84E001"])]}
    lab = start_lab(lab_dict)
    x = xapi_session(lab).xenapi
    h4 = named(x, "host", "h4")
    assert [x.pool_update.get_name_label(u) for u in x.host.get_updates_requiring_reboot(h4)] == ["XS84E001"]
    started = agent_start(x, h4)
    x.host.restart_agent(h4)
    wait_until(lambda: agent_start(x, h4) > started and x.host.get_enabled(h4))
    assert len(x.host.get_updates_requiring_reboot(h4)) == 1
    started = agent_start(x, h4)
    x.host.disable(h4)
    x.host.reboot(h4)
    wait_until(lambda: agent_start(x, h4) > started and x.host.get_enabled(h4))
    assert x.host.get_updates_requiring_reboot(h4) == []
    assert len(x.host.get_updates(h4)) == 1   # still applied
