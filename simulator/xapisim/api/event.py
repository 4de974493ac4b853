"""event.from / event.inject as xapi_event.ml serves them: token-based waits on the pool
database, coalesced, woken at once by any change (the simulator's own included); and the
legacy event.register / event.unregister / event.next."""
from __future__ import annotations

import hashlib
import json
import math
import time

from ..dispatch import api
from ..errors import XapiError
from ..factory import ocaml_float
from ..model import CLASSES
from ..wire import I4

# Classes whose datamodel object has gen_events=false never appear in events, even under "*"
# or when named (ocaml/idl/datamodel.ml: session and secret, among those simulated).
NO_EVENTS = {"session", "secret"}
EVENT_CLASSES = {c.lower(): c for c in CLASSES if c not in NO_EVENTS}
# xapi counts every database table; messages live outside xapi's database
COUNTED_CLASSES = [c for c in CLASSES if c != "message"]
LONGEST_WAIT = 24 * 3600.0   # xapi's wait when the timeout is not a usable duration


def _subscription(classes: list[str]):
    """`*`, `<class>` or `<class>/<ref>`, classes in any case.  xapi splits each entry at its first
    "/" only, so no entry fails to parse (EVENT_SUBSCRIPTION_PARSE_FAILURE is never raised)."""
    everything, wanted_classes, wanted_objects = False, set(), set()
    for entry in classes:
        if entry == "*":
            everything = True
            continue
        cls, slash, ref = entry.partition("/")
        cls = EVENT_CLASSES.get(cls.lower())
        if cls is None:
            continue   # no such table, or one without events: nothing to select
        if slash:
            wanted_objects.add((cls, ref))
        else:
            wanted_classes.add(cls)

    def wanted(cls, ref):
        if cls in NO_EVENTS:
            return False
        return everything or cls in wanted_classes or (cls, ref) in wanted_objects
    return wanted


def _token(generation: int) -> str:
    return "%020d,%020d" % (generation, 0)


def _parse_token(token: str) -> int:
    """"" starts from the beginning; otherwise two comma-separated integers."""
    if token == "":
        return 0
    parts = token.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(token)
        return int(parts[0])
    except ValueError:
        raise XapiError("EVENT_FROM_TOKEN_PARSE_FAILURE", token) from None


@api("event.from", "string set classes, string token, float timeout", "an event batch", has_async=False)
async def event_from(call, classes, token, timeout):
    wanted = _subscription(classes)
    since = _parse_token(token)
    db, session = call.db, call.session
    if not math.isfinite(timeout) or timeout < 0:
        timeout = LONGEST_WAIT
    deadline = time.monotonic() + timeout
    scan_from = since   # nothing selected changed up to here: later scans start after it
    while True:
        events, last = db.changes_since(scan_from, wanted)
        remaining = deadline - time.monotonic()
        if events or remaining <= 0:
            break
        scan_from = db.generation
        await db.wait_for_change(remaining)
        if not db.exists("session", session):
            # a logout or the session GC wakes the waiter with SESSION_INVALID
            raise XapiError("SESSION_INVALID", session)
    return {"events": events,
            "valid_ref_counts": {c.lower(): I4(len(db.tables[c])) for c in COUNTED_CLASSES},
            # the token moves only over selected changes, as xapi's does
            "token": _token(last if events else since)}


@api("event.inject", "string class, string ref", "string", has_async=False)
async def inject(call, cls, ref):
    """Touches the object; `class` must be its table's exact name.  The token returned is
    older than the change, so event.from from it returns the object."""
    db = call.db
    if cls not in db.tables or not db.exists(cls, ref):
        raise XapiError("HANDLE_INVALID", cls, ref)
    token = _token(db.generation - 1)
    db.set(cls, ref)
    return token


@api("event.get_current_id", "", "int", has_async=False)
async def get_current_id(call):
    return call.db.generation


# -- the legacy event.register / event.next (deprecated since Boston) ---------------------------
# Xapi_event.Next: the queue keeps at most this many bytes of events (as JSON); a client that
# falls further behind gets EVENTS_LOST and must re-read its state.
QUEUE_LIMIT = 10_000_000


def _registrations(world) -> dict:
    """session ref -> {"classes": [subscription strings], "last": generation already seen}."""
    return world.__dict__.setdefault("event_registrations", {})


def _registration(call) -> dict:
    """Next.get_subscription: the session's registration, created (from now on) if missing."""
    return _registrations(call.world).setdefault(call.session, {"classes": [], "last": call.db.generation})


def _normal(entry: str) -> str:
    """Subscription.of_string: "*", a class in lower case, or class/ref."""
    if entry == "*":
        return entry
    cls, slash, ref = entry.partition("/")
    return cls.lower() + slash + ref


@api("event.register", "string set classes", has_async=False)
async def register(call, classes):
    registration = _registration(call)
    registration["classes"] = [_normal(c) for c in classes] + registration["classes"]


@api("event.unregister", "string set classes", has_async=False)
async def unregister(call, classes):
    """Also registers a session that was not (with nothing to watch), as xapi does."""
    registration = _registration(call)
    gone = {_normal(c) for c in classes}
    registration["classes"] = [c for c in registration["classes"] if c not in gone]


@api("event.next", "", "event record set", has_async=False)
async def next_events(call):
    """Blocks until an object the session registered for changed since its last event.next,
    then returns those changes.  Simplification: coalesced per object as event.from's (xapi's
    queue keeps each change), a deletion without snapshot, the time of the call as timestamp."""
    db, session = call.db, call.session
    registration = _registrations(call.world).get(session)
    if registration is None:
        # xapi names the session by its track id, not by its ref
        raise XapiError("SESSION_NOT_REGISTERED", "trackid=" + hashlib.md5(session.encode()).hexdigest())
    while True:
        since, registration["last"] = registration["last"], db.generation
        events, _ = db.changes_since(since, _subscription(registration["classes"]))
        if events:
            break
        await db.wait_for_change(LONGEST_WAIT)
        if not db.exists("session", session):
            _registrations(call.world).pop(session, None)
            raise XapiError("SESSION_INVALID", session)
    if len(json.dumps(events, default=str)) > QUEUE_LIMIT:
        raise XapiError("EVENTS_LOST")
    stamp = ocaml_float(call.world.now())
    return [{**event, "timestamp": stamp} for event in events]
