"""pool.join and pool.join_force through XenAPI over HTTPS: every pre-join check of
BEHAVIOUR.md §1.2 with its exact code and parameters (and nothing changed on either side), the
login to the master, join_force skipping only the homogeneity check, and a join end to end."""
from __future__ import annotations

import asyncio
import copy
import time
import xmlrpc.client

import pytest
import XenAPI

from conftest import lab_source, xapi_session
from xapisim import Lab

NOT_COMPARED = ("session", "task")   # a failed join logs in and out; nothing else may change


# -- helpers -------------------------------------------------------------------------------------
def index_of(lab, name):
    return [h["name"] for h in lab.info["hosts"]].index(name)


def session_on(lab, name, **kw):
    return xapi_session(lab, index_of(lab, name), **kw)


def address_of(lab, name):
    return lab.info["hosts"][index_of(lab, name)]["address"]


def error_of(call, *args):
    with pytest.raises(XenAPI.Failure) as failure:
        call(*args)
    return failure.value.details


def snapshot(lab, *names):
    """The databases of the named machines, minus sessions and tasks."""
    def take(world):
        return [{cls: copy.deepcopy(table) for cls, table in world.machine(n).db.tables.items() if cls not in NOT_COMPARED}
                for n in names]
    return lab.run(take)


def join_fails(lab, candidate, master="master", force=False, password=None):
    """Runs pool.join (or join_force) from `candidate` to `master`; returns the error after
    checking that neither database changed."""
    before = snapshot(lab, candidate, master)
    session = session_on(lab, candidate)
    call = session.xenapi.pool.join_force if force else session.xenapi.pool.join
    password = password or lab.info["hosts"][index_of(lab, master)]["password"]
    error = error_of(call, address_of(lab, master), "root", password)
    assert snapshot(lab, candidate, master) == before
    session.xenapi.session.logout()
    return error


def wait_for(session, predicate, timeout=10.0):
    """Follows event.from on `session`'s pool until predicate(session) holds."""
    deadline = time.monotonic() + timeout
    token = ""
    while not predicate(session):
        remaining = deadline - time.monotonic()
        assert remaining > 0, "timed out waiting"
        token = session.xenapi.event_from(["host", "host_metrics", "PBD", "message"], token, min(remaining, 1.0))["token"]


def small_lab(start_lab, **candidate):
    """A target master and one candidate `joiner` (with the given lab keys)."""
    return start_lab({"name": "join", "host_defaults": {"password": "pw"},
                      "hosts": [{"name": "master", "address": "127.0.3.1"},
                                {"name": "joiner", "address": "127.0.3.2", **candidate}]})


def tweak(lab, fn):
    """White-box set-up: fn(world, db_of) inside the lab's loop."""
    lab.run(lambda world: fn(world, lambda name: world.machine(name).db))


def host_of(db):
    return next(iter(db.all("host")))


# -- the join-failures lab: one candidate per check --------------------------------------------
@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    lab = Lab.start(lab_source("join-failures"), tmp_path_factory.mktemp("join-failures"), time_scale=0.01)
    yield lab
    lab.stop()


@pytest.mark.parametrize("candidate, expected", [
    ("no-pooling-licence", ["LICENCE_RESTRICTION"]),
    ("ha-enabled", ["HA_IS_ENABLED"]),
    ("running-vm", ["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"]),
    ("vm-current-operations", ["JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS"]),
    ("product-version", ["HOSTS_NOT_COMPATIBLE"]),
    ("xapi-version", ["HOSTS_NOT_HOMOGENEOUS", "Software version differs"]),
    ("no-linux-pack", ["HOSTS_NOT_HOMOGENEOUS", "Software version differs"]),
    ("cpu-vendor", ["HOSTS_NOT_HOMOGENEOUS", "CPUs differ"]),
    ("shared-sr", ["JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS"]),
    ("has-bond", ["POOL_JOINING_HOST_HAS_BONDS"]),
    ("tunnel", ["POOL_JOINING_HOST_HAS_TUNNELS"]),
    ("sriov", ["POOL_JOINING_HOST_HAS_NETWORK_SRIOVS"]),
    ("non-mgmt-vlan", ["POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS"]),
    ("mgmt-vlan-mismatch", ["POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH", "10", "-1"]),
    ("external-auth", ["POOL_JOINING_EXTERNAL_AUTH_MISMATCH"]),
    ("edition", ["LICENSE_HOST_POOL_MISMATCH", 'host edition = "premier"', 'pool edition = "standard"']),
    ("network-backend", ["OPERATION_NOT_ALLOWED", "Network backends differ"]),
    ("api-version", ["POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION", "2.20", "2.21"]),
    ("db-schema", ["POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA", "5.785", "5.786"]),
    ("updates", ["HOSTS_NOT_HOMOGENEOUS", "Updates on local host updates and pool host master differ"]),
    ("tls-verification", ["POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH"]),
])
def test_join_refused(failures, candidate, expected):
    assert join_fails(failures, candidate) == expected


@pytest.mark.parametrize("candidate", ["no-pooling-licence", "ha-enabled", "running-vm", "product-version",
                                       "shared-sr", "has-bond", "mgmt-vlan-mismatch", "edition", "updates",
                                       "tls-verification"])
def test_join_force_refused_like_join(failures, candidate):
    assert join_fails(failures, candidate, force=True) == join_fails(failures, candidate)


def test_clustering_names_the_cluster_host(failures):
    cluster_hosts = session_on(failures, "clustering").xenapi.Cluster_host.get_all()
    assert join_fails(failures, "clustering") == ["CLUSTERING_ENABLED", cluster_hosts[0]]


def test_pending_guidance_on_the_joiner_names_the_joiner(failures):
    me = session_on(failures, "pending-guidance").xenapi.host.get_all()[0]
    assert join_fails(failures, "pending-guidance") == ["HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", me]


def test_wrong_password_fails_after_the_delay(failures):
    started = time.monotonic()
    assert join_fails(failures, "compatible", password="wrong") == [
        "SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    assert time.monotonic() - started >= 5 * 0.01   # auth_failure_delay 5 s, scaled


def test_nobody_at_the_master_address(failures):
    session = session_on(failures, "compatible")
    assert error_of(session.xenapi.pool.join, "127.0.9.9", "root", "x") == ["JOINING_HOST_CONNECTION_FAILED"]


def test_joining_myself(failures):
    session = session_on(failures, "compatible")
    error = error_of(session.xenapi.pool.join, address_of(failures, "compatible"), "root", "lab-root-pw")
    assert error == ["OPERATION_NOT_ALLOWED", "Host cannot become slave of itself"]


# -- white-box candidates -----------------------------------------------------------------------
def test_no_management_interface(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: [db("joiner").set("PIF", ref, management=False)
                              for ref, pif in db("joiner").all("PIF").items() if pif["management"]])
    assert join_fails(lab, "joiner") == ["HOST_STILL_BOOTING"]


def test_ha_on_the_distant_pool(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: db("master").set("pool", next(iter(db("master").all("pool"))), ha_enabled=True))
    assert join_fails(lab, "joiner") == ["HA_IS_ENABLED"]


def test_pending_guidance_on_the_master_names_the_master(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: db("master").set("host", host_of(db("master")), pending_guidances=["reboot_host"]))
    master_ref = session_on(lab, "master").xenapi.host.get_all()[0]
    assert join_fails(lab, "joiner") == ["HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", master_ref]


def test_primary_address_type(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: [db("joiner").set("PIF", ref, primary_address_type="IPv6")
                              for ref, pif in db("joiner").all("PIF").items() if pif["management"]])
    assert join_fails(lab, "joiner") == ["OPERATION_NOT_ALLOWED", "Primary address type differs"]


def test_network_purposes(start_lab):
    lab = small_lab(start_lab)

    def purposes(world, db):
        db("master").set("network", next(iter(db("master").all("network"))), purpose=["nbd"])
        db("joiner").set("network", next(iter(db("joiner").all("network"))), purpose=["insecure_nbd"])
    tweak(lab, purposes)
    assert join_fails(lab, "joiner") == ["OPERATION_NOT_ALLOWED", "Incompatible network purposes: nbd and insecure_nbd"]


@pytest.mark.parametrize("side", ["joiner", "master"])
def test_apply_updates_in_progress(start_lab, side):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: db(side).set("pool", next(iter(db(side).all("pool"))),
                                          current_operations={"OpaqueRef:0f6e4c4e-0000-4000-8000-000000000001": "apply_updates"}))
    assert join_fails(lab, "joiner") == ["NOT_SUPPORTED_DURING_UPGRADE"]


def test_sm_type_missing_on_the_joiner(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: db("joiner").delete("SM", db("joiner").find_one("SM", type="gfs2")))
    pool_sm = session_on(lab, "master").xenapi.SM.get_by_name_label("GFS2")[0]
    assert join_fails(lab, "joiner") == ["POOL_JOINING_SM_FEATURES_INCOMPATIBLE", pool_sm, ""]


def test_sm_features_lower_on_the_joiner(start_lab):
    lab = small_lab(start_lab)

    def downgrade(world, db):
        sm = db("joiner").find_one("SM", type="nfs")
        db("joiner").set("SM", sm, features={k: v for k, v in db("joiner").get("SM", sm)["features"].items()
                                             if k != "SR_PROBE"})
    tweak(lab, downgrade)
    pool_sm = session_on(lab, "master").xenapi.SM.get_by_name_label("NFS VHD")[0]
    my_sm = session_on(lab, "joiner").xenapi.SM.get_by_name_label("NFS VHD")[0]
    assert join_fails(lab, "joiner") == ["POOL_JOINING_SM_FEATURES_INCOMPATIBLE", pool_sm, my_sm]


def test_edition_unknown_to_v6d(start_lab):
    lab = small_lab(start_lab)
    tweak(lab, lambda w, db: db("master").set("host", host_of(db("master")), edition="free"))
    assert join_fails(lab, "joiner") == ["LICENSE_HOST_POOL_MISMATCH", 'Edition "free" from pool is not known to v6d.']


def test_master_api_down(start_lab):
    lab = small_lab(start_lab)

    async def stop_api(world):
        await world.machine("master").listener.stop()
    lab.run(stop_api)
    assert join_fails(lab, "joiner") == ["JOINING_HOST_CONNECTION_FAILED"]


def test_checks_run_in_order_and_join_force_skips_only_homogeneity(start_lab):
    """A candidate with another CPU vendor (check 13) and a tunnel (check 16)."""
    lab = small_lab(start_lab, cpu={"vendor": "AuthenticAMD"}, tunnels=1)
    assert join_fails(lab, "joiner") == ["HOSTS_NOT_HOMOGENEOUS", "CPUs differ"]
    assert join_fails(lab, "joiner", force=True) == ["POOL_JOINING_HOST_HAS_TUNNELS"]


# -- labs with formed pools ----------------------------------------------------------------------
POOL_OF_THREE = {
    "name": "pools", "host_defaults": {"password": "pw"},
    "hosts": [{"name": "m", "address": "127.0.4.1"}, {"name": "a", "address": "127.0.4.2"},
              {"name": "b", "address": "127.0.4.3"},
              {"name": "restricted", "address": "127.0.4.4", "pool_size_restricted": True},
              {"name": "free", "address": "127.0.4.5"}],
    "pools": [{"name": "three", "master": "m", "members": ["a", "b"]}],
}


def test_pool_size_licence(start_lab):
    lab = start_lab(POOL_OF_THREE)
    assert join_fails(lab, "restricted", master="m") == ["LICENCE_RESTRICTION", "Pool_size"]
    assert join_fails(lab, "restricted", master="m", force=True) == ["LICENCE_RESTRICTION", "Pool_size"]


def test_master_of_other_hosts_cannot_join(start_lab):
    lab = start_lab(POOL_OF_THREE)
    assert join_fails(lab, "m", master="free") == ["JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"]
    assert join_fails(lab, "m", master="m") == ["OPERATION_NOT_ALLOWED", "Host is already part of a pool"]


def test_master_address_of_a_slave(start_lab):
    lab = start_lab(POOL_OF_THREE)
    assert join_fails(lab, "free", master="a") == ["HOST_IS_SLAVE", "127.0.4.1"]


def test_join_force_passes_the_homogeneity_differences(start_lab):
    lab = start_lab({"name": "force", "host_defaults": {"password": "pw"},
                     "hosts": [{"name": "master", "address": "127.0.5.1"},
                               {"name": "amd", "address": "127.0.5.2", "cpu": {"vendor": "AuthenticAMD"}},
                               {"name": "older-xapi", "address": "127.0.5.3", "software": {"xapi": "25.5"}}]})
    for candidate in ("amd", "older-xapi"):
        session = session_on(lab, candidate)
        session.xenapi.pool.join_force("127.0.5.1", "root", "pw")
    master = session_on(lab, "master")
    wait_for(master, lambda s: all(s.xenapi.host.get_enabled(h) for h in s.xenapi.host.get_all()))
    assert sorted(master.xenapi.host.get_name_label(h) for h in master.xenapi.host.get_all()) == ["amd", "master", "older-xapi"]
    pool = master.xenapi.pool.get_all()[0]
    assert master.xenapi.pool.get_cpu_info(pool)["vendor"] == "GenuineIntel"   # the master's vendor


# -- end to end -----------------------------------------------------------------------------------
JOIN_LAB = {
    "name": "e2e", "time_scale": 0.05, "host_defaults": {"password": "pw"},
    "hosts": [
        {"name": "master", "address": "127.0.6.1",
         "nics": [{"device": "eth0", "management": True},
                  {"device": "eth1", "mode": "static", "ip": "172.16.0.35", "netmask": "255.255.255.240"},
                  {"device": "eth2"}]},
        {"name": "joiner", "address": "127.0.6.2", "clock_offset": 900,
         "vms": [{"name": "halted-vm", "power_state": "halted", "disks": [{"sr": "Local storage", "size_gib": 10}]},
                 {"name": "suspended-vm", "power_state": "suspended", "disks": [{"sr": "Local storage"}]}]},
    ],
    "storage": [{"name": "nfs", "type": "nfs", "address": "172.16.0.34",
                 "exports": [{"path": "/srv/vhd", "allowed": ["172.16.0.32/28"]},
                             {"path": "/srv/iso", "allowed": ["127.0.0.0/8"]}]}],
    "pools": [{"name": "target", "master": "master", "members": [],
               "shared_srs": [{"name": "vhd", "storage": "nfs", "path": "/srv/vhd"},
                              {"name": "iso", "storage": "nfs", "path": "/srv/iso"}],
               "default_sr": "vhd"}],
}


def answer_of(lab, name):
    """What a login on the machine gets now: "ok", an error code list, or "refused"."""
    try:
        session = session_on(lab, name)
    except XenAPI.Failure as failure:
        return failure.details
    except (OSError, xmlrpc.client.ProtocolError):
        return "refused"
    session.xenapi.session.logout()
    return "ok"


def test_join_end_to_end(start_lab):
    lab = start_lab(JOIN_LAB, time_scale=0.05)
    master, joiner = session_on(lab, "master"), session_on(lab, "joiner")
    joiner_uuid = joiner.xenapi.host.get_uuid(joiner.xenapi.host.get_all()[0])
    joiner_srs = {joiner.xenapi.SR.get_uuid(sr) for sr in joiner.xenapi.SR.get_all()}
    joiner_pifs = {joiner.xenapi.PIF.get_uuid(p): joiner.xenapi.network.get_bridge(joiner.xenapi.PIF.get_network(p))
                   for p in joiner.xenapi.PIF.get_all()}
    networks_before = set(master.xenapi.network.get_all())
    cpu_count_before = int(master.xenapi.pool.get_cpu_info(master.xenapi.pool.get_all()[0])["cpu_count"])

    started = time.monotonic()
    joiner.xenapi.pool.join("127.0.6.1", "root", "pw")
    assert time.monotonic() - started < 0.5 * 10 * 0.05   # returns before the restart
    joiner.xenapi.session.logout()   # the joiner's xapi still serves its old database until it restarts

    # at once, on the master: the host record, disabled and not live, without CPU information
    host = master.xenapi.host.get_by_uuid(joiner_uuid)
    record = master.xenapi.host.get_record(host)
    assert (record["enabled"], master.xenapi.host_metrics.get_live(record["metrics"]), record["cpu_info"]) == (False, False, {})
    assert record["address"] == "127.0.6.2" and record["power_on_mode"] == ""
    # its SRs, unshared, its PIFs by uuid on the master's networks of the same bridge
    for uuid in joiner_srs:
        assert master.xenapi.SR.get_shared(master.xenapi.SR.get_by_uuid(uuid)) is False
    for uuid, bridge in joiner_pifs.items():
        pif = master.xenapi.PIF.get_by_uuid(uuid)
        assert master.xenapi.PIF.get_host(pif) == host
        assert master.xenapi.network.get_bridge(master.xenapi.PIF.get_network(pif)) == bridge
    assert set(master.xenapi.network.get_all()) == networks_before
    assert {master.xenapi.VM.get_power_state(vm) for vm in master.xenapi.VM.get_by_name_label("suspended-vm")} == {"Suspended"}
    assert len(master.xenapi.VM.get_by_name_label("halted-vm")) == 1

    # the joiner's API restarts: connections refused, then HOST_IS_SLAVE with the address as given
    async def api_down(world):
        while world.machine("joiner").api_up:
            await asyncio.sleep(0.002)
    lab.run(api_down)
    assert answer_of(lab, "joiner") == "refused"
    deadline = time.monotonic() + 10
    while answer_of(lab, "joiner") == "refused":
        assert time.monotonic() < deadline
        time.sleep(0.01)

    # the master sees it come up: live, then enabled, with a PBD for every shared SR
    wait_for(master, lambda s: s.xenapi.host.get_enabled(host))
    record = master.xenapi.host.get_record(host)
    assert master.xenapi.host_metrics.get_live(record["metrics"]) is True
    assert record["cpu_info"]["vendor"] == "GenuineIntel"
    pbds = {master.xenapi.SR.get_name_label(master.xenapi.PBD.get_SR(p)): master.xenapi.PBD.get_currently_attached(p)
            for p in record["PBDs"]}
    assert pbds["vhd"] is False          # the joiner has no IP in the storage subnet
    assert pbds["iso"] is True           # reachable over its management network
    assert pbds["Local storage"] is True
    pool = master.xenapi.pool.get_all()[0]
    assert int(master.xenapi.pool.get_cpu_info(pool)["cpu_count"]) == 2 * cpu_count_before
    # the joiner's clock is 15 minutes ahead: the master raises HOST_CLOCK_SKEW_DETECTED
    messages = master.xenapi.message.get_all_records().values()
    skew = [m for m in messages if m["name"] == "HOST_CLOCK_SKEW_DETECTED"]
    assert [(m["obj_uuid"], m["cls"], int(m["priority"])) for m in skew] == [(joiner_uuid, "Host", 3)]
    assert answer_of(lab, "joiner") == ["HOST_IS_SLAVE", "127.0.6.1"]


def test_async_join_task_succeeds_before_the_restart(start_lab):
    lab = small_lab(start_lab)
    joiner = session_on(lab, "joiner")
    task = joiner.xenapi.Async.pool.join("127.0.3.1", "root", "pw")
    deadline = time.monotonic() + 5
    while joiner.xenapi.task.get_status(task) == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert joiner.xenapi.task.get_status(task) == "success"
    master = session_on(lab, "master")
    wait_for(master, lambda s: len(s.xenapi.host.get_all()) == 2 and all(s.xenapi.host.get_enabled(h) for h in s.xenapi.host.get_all()))


def test_join_copies_bonds_and_vlans_from_the_master(start_lab):
    """Both on management VLAN 10 (check 19); the master also has a bond and VLAN 20."""
    lab = start_lab({"name": "net", "host_defaults": {"password": "pw", "management_vlan": 10},
                     "hosts": [{"name": "master", "address": "127.0.9.1",
                                "bonds": [{"devices": ["eth1", "eth2"], "mode": "active-backup"}],
                                "vlans": [{"device": "eth0", "tag": 20}]},
                               {"name": "joiner", "address": "127.0.9.2"}]})
    joiner = session_on(lab, "joiner")
    joiner_uuid = joiner.xenapi.host.get_uuid(joiner.xenapi.host.get_all()[0])
    joiner.xenapi.pool.join("127.0.9.1", "root", "pw")
    master = session_on(lab, "master")
    host = master.xenapi.host.get_by_uuid(joiner_uuid)
    wait_for(master, lambda s: s.xenapi.host.get_enabled(host))

    def pifs_of(ref):
        return {(p["device"], int(p["VLAN"])): p for p in
                (master.xenapi.PIF.get_record(r) for r in master.xenapi.host.get_PIFs(ref))}
    mine, theirs = pifs_of(host), pifs_of(master.xenapi.pool.get_master(master.xenapi.pool.get_all()[0]))
    assert mine[("eth0", 10)]["management"] is True          # the management VLAN came with the host
    assert mine[("eth0", 10)]["VLAN_master_of"] != "OpaqueRef:NULL"
    assert mine[("eth0", 20)]["network"] == theirs[("eth0", 20)]["network"]
    assert mine[("bond0", -1)]["network"] == theirs[("bond0", -1)]["network"]
    bond = master.xenapi.Bond.get_record(mine[("bond0", -1)]["bond_master_of"][0])
    assert bond["mode"] == "active-backup"
    assert sorted(master.xenapi.PIF.get_device(p) for p in bond["slaves"]) == ["eth1", "eth2"]
