"""Running a lab: build the world from a lab file, listen on every host's address, serve the
control interface, write lab.json.  `Lab.start` runs it in a background thread for tests."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import threading
from pathlib import Path

from . import api as _api  # noqa: F401  (registers every message)
from .api import all as _all  # noqa: F401
from .control import control_app
from .factory import build_standalone, create_vm, _local_sr
from .labfile import load
from .lifecycle import install as install_lifecycle
from .membership import form_pool
from .server import Listener
from .storage import install as install_storage, plug_pbd
from .tlsca import LabCA
from .world import Machine, World
from aiohttp import web


def build_world(lab: dict) -> World:
    world = World(lab)
    pooled = {name for p in lab["pools"] for name in [p["master"], *p["members"]]}
    for spec in lab["hosts"]:
        machine = Machine(spec["name"], spec["address"], spec["username"], spec["password"], spec)
        world.machines.append(machine)
        build_standalone(world, machine, with_vms=spec["name"] not in pooled)
    for pool_spec in lab["pools"]:
        form_pool(world, pool_spec)
        master = world.machine(pool_spec["master"])
        db = master.db
        shared = {}
        for sr in pool_spec["shared_srs"]:
            shared[sr["name"]] = create_shared_sr(world, db, sr)
        pool = next(iter(db.all("pool")))
        for name in [pool_spec["master"], *pool_spec["members"]]:
            machine = world.machine(name)
            local = {db.get("SR", p["SR"])["name_label"]: p["SR"] for p in db.all("PBD").values()
                     if p["host"] == machine.host_ref and not db.get("SR", p["SR"])["shared"]}
            for vm in machine.spec["vms"]:
                create_vm(db, machine.host_ref, vm, {**local, **shared})
        default = shared.get(pool_spec["default_sr"]) or next(
            (r for r, s in db.all("SR").items() if s["name_label"] == pool_spec["default_sr"]), None)
        if default:
            db.set("pool", pool, default_SR=default, suspend_image_SR=default, crash_dump_SR=default)
        elif pool_spec["members"]:
            # a pool's default SR must be shared: the master's local SR is no default for a pool
            from .model import NULL_REF
            db.set("pool", pool, default_SR=NULL_REF, suspend_image_SR=NULL_REF, crash_dump_SR=NULL_REF)
    install_storage(world)
    install_lifecycle(world)
    return world


def create_shared_sr(world: World, db, sr: dict) -> str:
    """A shared SR as SR.create leaves it: a PBD per host, plugged where the storage is reachable."""
    storage = world.storage[sr["storage"]]
    sr_type = {"iscsi": "lvmoiscsi"}.get(sr["type"], sr["type"])   # the lab's "iscsi" is XAPI's lvmoiscsi
    if sr_type in ("nfs", "iso"):
        config = {"server": storage["address"], "serverpath": sr["path"]}
    elif sr_type == "lvmoiscsi":
        target = next(t for t in storage["targets"] if t["iqn"] == sr["target"])
        lun = next(lun for lun in target["luns"] if lun["id"] == sr["lun"])
        config = {"target": storage["address"], "targetIQN": sr["target"], "SCSIid": lun["scsi_id"]}
    else:
        config = {"server": f"\\\\{storage['address']}\\{sr['share']}"}
    ref = _local_sr(db, next(iter(db.all("host"))), {"name": sr["name"], "type": sr_type, "size_gib": sr["size_gib"]}, shared=True)
    for pbd in list(db.get("SR", ref)["PBDs"]):
        db.delete("PBD", pbd)
    db.set("SR", ref, other_config={}, sm_config={})
    for host in db.all("host"):
        pbd = db.create("PBD", host=host, SR=ref, device_config=dict(config), currently_attached=False)
        plug_pbd(world, db, pbd, raise_error=False)
    return ref


def _free_port(addresses: list[str]) -> int:
    """A port free on every host address (checked by binding each)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((address, port))
            return port
        except OSError:
            continue
    raise OSError("no TCP port is free on every lab address")


class LabRunner:
    """The lab's servers inside one asyncio loop."""

    def __init__(self, lab: dict, state_dir: Path):
        self.lab, self.state_dir = lab, Path(state_dir)
        self.world: World | None = None
        self.info: dict = {}
        self._control: web.AppRunner | None = None

    async def start(self) -> dict:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.world = world = build_world(self.lab)
        ca = LabCA(self.state_dir / "tls") if self.lab["tls"] else None
        port = self.lab["port"] or _free_port([m.address for m in world.machines])
        for m in world.machines:
            context = ca.server_context(m.name, m.address) if ca else None
            listener = Listener(world, m, port, context)
            if m.powered:
                await listener.start()
        self._control = web.AppRunner(control_app(world), access_log=None, handle_signals=False)
        await self._control.setup()
        site = web.TCPSite(self._control, "127.0.0.1", 0)
        await site.start()
        control_port = site._server.sockets[0].getsockname()[1]
        self.info = {
            "hosts": [{"name": m.name, "address": m.address, "url": m.listener.url, "username": m.username,
                       "password": m.password} for m in world.machines],
            "ca_bundle": str(ca.bundle) if ca else None,
            "control_url": f"http://127.0.0.1:{control_port}",
        }
        path = self.state_dir / "lab.json"
        tmp = self.state_dir / ".lab.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.info, f, indent=2)
        os.replace(tmp, path)   # lab.json appears whole, and only once every host listens
        return self.info

    async def stop(self) -> None:
        if self.world:
            await self.world.cancel_background()
            for m in self.world.machines:
                if m.listener is not None:
                    await m.listener.stop()
        if self._control:
            await self._control.cleanup()


class Lab:
    """A lab running in a background thread: `with Lab.start("lab.yml") as lab: lab.info`."""

    def __init__(self, runner: LabRunner, loop: asyncio.AbstractEventLoop, thread: threading.Thread, tmp):
        self._runner, self._loop, self._thread, self._tmp = runner, loop, thread, tmp
        self.info = runner.info
        self.control_url = runner.info["control_url"]

    @property
    def world(self) -> World:
        return self._runner.world

    @classmethod
    def start(cls, source, state_dir=None, *, time_scale=None, latency_ms=None, port=None, tls=None) -> "Lab":
        lab = load(source)
        for key, value in (("time_scale", time_scale), ("latency_ms", latency_ms), ("port", port), ("tls", tls)):
            if value is not None:
                lab[key] = value
        tmp = None
        if state_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="xapisim-")
            state_dir = tmp.name
        runner = LabRunner(lab, Path(state_dir))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="xapisim", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(runner.start(), loop).result(60)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            raise
        return cls(runner, loop, thread, tmp)

    def run(self, coro_fn, timeout: float = 30):
        """Runs `coro_fn(world)` inside the lab's loop (for tests that poke at state)."""
        async def wrapper():
            return await coro_fn(self.world) if asyncio.iscoroutinefunction(coro_fn) else coro_fn(self.world)
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._runner.stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
