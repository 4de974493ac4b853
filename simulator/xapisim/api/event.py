"""event.from / event.inject as xapi_event.ml serves them: token-based waits on the pool
database, coalesced, woken at once by any change (the simulator's own included)."""
from __future__ import annotations

import math
import time

from ..dispatch import api
from ..errors import XapiError
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
