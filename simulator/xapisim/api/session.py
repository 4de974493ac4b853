"""Sessions: login with XAPI's delays, session limits per group, HOST_IS_SLAVE on members."""
from __future__ import annotations

from ..db import new_ref
from ..dispatch import api
from ..errors import XapiError
from ..model import DateTime


def _group(record: dict) -> tuple[str, str]:
    """The session GC's groups (db_gc_util.ml timeout_sessions): root (or no user name) with an
    originator, per originator; other user names, per user; root without originator, external."""
    root = record["auth_user_name"] in ("", "root")
    if not root:
        return "per_user", record["auth_user_name"]
    if record["originator"]:
        return "per_originator", record["originator"]
    return "external", ""


@api("session.login_with_password", "string uname, string pwd, string version, string originator",
     "session ref", session=False, has_async=False, defaults=2)
async def login_with_password(call, uname, pwd, version="1.1", originator=""):
    machine, world = call.machine, call.world
    if not machine.is_master:
        raise XapiError("HOST_IS_SLAVE", machine.master_address)
    if uname != machine.username or pwd != machine.password:
        # xapi sleeps before answering, against password guessing
        await world.sleep("auth_failure_delay")
        raise XapiError("SESSION_AUTHENTICATION_FAILED", uname, "Authentication failure")
    db = call.db
    now = world.now()
    ref = db.create("session", this_host=machine.host_ref, last_active=DateTime.at(now), pool=False,
                    is_local_superuser=True, originator=originator, auth_user_name=uname,
                    validation_time=DateTime.at(now))
    world.session_active[ref] = now
    enforce_session_limit(world, db, _group(db.get("session", ref)))
    return ref


def enforce_session_limit(world, db, group) -> None:
    """Over its group's limit, the sessions with the oldest `last_active` go, as xapi's session
    GC does; sessions with a pending task are kept.  xapi runs that GC every 30 s; the simulator
    applies it at each login, so a test sees the eviction at once.  `last_active` is refreshed
    at most every 600 s (scaled), so ties are broken by the last call actually made."""
    def pending(ref):
        return any(db.exists("task", t) and db.get("task", t)["status"] == "pending"
                   for t in world.session_tasks.get(ref, ()))

    members = [ref for ref, rec in db.all("session").items() if _group(rec) == group and not pending(ref)]
    excess = len(members) - world.session_limits[group[0]]
    if excess > 0:
        members.sort(key=lambda r: (db.get("session", r)["last_active"], world.session_active.get(r, 0)))
        for ref in members[:excess]:
            destroy_session(world, db, ref)


def destroy_session(world, db, ref) -> None:
    db.delete("session", ref)
    world.session_active.pop(ref, None)
    world.session_tasks.pop(ref, None)
    world.__dict__.get("event_registrations", {}).pop(ref, None)   # event.register's


@api("session.logout", "", session=True, has_async=False)
async def logout(call):
    destroy_session(call.world, call.db, call.session)


# -- local sessions: a slave whose master is gone (emergency mode) ------------------------------
@api("session.slave_local_login_with_password", "string uname, string pwd", "session ref", session=False,
     has_async=False)
async def slave_local_login_with_password(call, uname, pwd):
    """Any host, master or slave: only the local superuser, checked at once (no delay); the
    session lives in this host's xapi's memory, valid on this host only, and is in no database."""
    machine = call.machine
    if uname != machine.username or pwd != machine.password:
        raise XapiError("SESSION_AUTHENTICATION_FAILED", uname, "Authentication failure")
    ref = new_ref()
    machine.local_sessions.add(ref)
    return ref


@api("session.local_logout", "", session=True, has_async=False, local=True)
async def local_logout(call):
    """Ends a local session; with a session of the pool database it does nothing."""
    call.machine.local_sessions.discard(call.session)
