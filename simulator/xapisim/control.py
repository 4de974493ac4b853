"""The control interface: JSON over HTTP on 127.0.0.1, for tests and rehearsals."""
from __future__ import annotations

import json

from aiohttp import web

from .world import World


def _json(data, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=str), status=status, content_type="application/json")


def control_app(world: World) -> web.Application:
    app = web.Application()

    async def state(request):
        pools = []
        for db in world.databases():
            master = world.master_of(db)
            pools.append({"name": db.get("pool", next(iter(db.all("pool"))))["name_label"], "master": master.name,
                          "hosts": [m.name for m in world.machines if m.db is db],
                          "objects": {cls: {ref: {k: v for k, v in rec.items()} for ref, rec in table.items()}
                                      for cls, table in db.tables.items() if table and cls not in ("session", "secret")}})
        machines = [{"name": m.name, "address": m.address, "powered": m.powered, "api_up": m.api_up,
                     "role": "master" if m.is_master else "slave", "master_address": m.master_address,
                     "host_uuid": m.db.get("host", m.host_ref)["uuid"] if m.db and m.db.exists("host", m.host_ref) else None}
                    for m in world.machines]
        return _json({"pools": pools, "machines": machines, "simulated_seconds": world.simulated_seconds})

    async def calls(request):
        try:
            since = int(request.query.get("since", "0") or 0)
        except ValueError:
            return _json({"error": "since: must be an integer, the seq of the last call already seen"}, 400)
        return _json({"calls": [c for c in world.calls if c["seq"] > since]})

    async def clear_calls(request):
        world.calls.clear()
        return _json({"cleared": True})

    async def sessions(request):
        found = []
        for db in world.databases():
            for ref, s in db.all("session").items():
                found.append({"uuid": s["uuid"], "pool": db.name, "originator": s["originator"], "username": s["auth_user_name"]})
        by_originator: dict[str, int] = {}
        for s in found:
            by_originator[s["originator"]] = by_originator.get(s["originator"], 0) + 1
        return _json({"total": len(found), "by_originator": by_originator, "sessions": found})

    async def faults_get(request):
        return _json({"faults": world.faults.armed})

    async def faults_post(request):
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "the body must be a JSON object describing one fault, or a list of them"}, 400)
        problems = world.faults.arm(body, world)
        if problems:
            return _json({"error": "; ".join(problems)}, 400)
        return _json({"faults": world.faults.armed})

    async def faults_delete(request):
        world.faults.armed.clear()
        return _json({"faults": []})

    app.router.add_get("/state", state)
    app.router.add_get("/calls", calls)
    app.router.add_delete("/calls", clear_calls)
    app.router.add_get("/sessions", sessions)
    app.router.add_get("/faults", faults_get)
    app.router.add_post("/faults", faults_post)
    app.router.add_delete("/faults", faults_delete)
    return app
