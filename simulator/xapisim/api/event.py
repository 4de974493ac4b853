"""event.from: token-based waits on the pool database, coalesced, woken at once by changes."""
from __future__ import annotations

import time

from ..dispatch import api
from ..errors import XapiError
from ..model import CLASSES
from ..wire import I4

_BY_LOWER = {c.lower(): c for c in CLASSES}


def _subscription(classes: list[str]):
    everything, wanted_classes, wanted_refs = False, set(), set()
    for entry in classes:
        if not isinstance(entry, str) or not entry or entry.count("/") > 1:
            raise XapiError("EVENT_SUBSCRIPTION_PARSE_FAILURE", entry)
        if entry == "*":
            everything = True
            continue
        cls, _, ref = entry.partition("/")
        cls = _BY_LOWER.get(cls.lower(), cls)
        if ref:
            wanted_refs.add((cls, ref))
        else:
            wanted_classes.add(cls)

    def wanted(cls, ref):
        return everything or cls in wanted_classes or (cls, ref) in wanted_refs
    counted = set(CLASSES) if everything else wanted_classes | {c for c, _ in wanted_refs}
    return wanted, counted


def _token(generation: int) -> str:
    return "%020d,%020d" % (generation, 0)


def _parse_token(token: str) -> int | None:
    if token == "":
        return None
    try:
        return int(token.split(",")[0])
    except ValueError:
        raise XapiError("EVENT_FROM_TOKEN_PARSE_FAILURE", token) from None


@api("event.from", "string set classes, string token, float timeout", "an event batch", has_async=False, kind="event")
async def event_from(call, classes, token, timeout):
    wanted, counted = _subscription(classes)
    since = _parse_token(token)
    db = call.db
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        if since is None:
            events = db.snapshot_all(wanted)
            since = -1
        else:
            events = db.changes_since(since, wanted)
        remaining = deadline - time.monotonic()
        if events or remaining <= 0:
            break
        await db.wait_for_change(remaining)
    return {"events": events,
            "valid_ref_counts": {c.lower(): I4(len(db.all(c))) for c in counted if c in db.tables},
            "token": _token(db.generation)}


@api("event.inject", "string class, string ref", "string", has_async=False, kind="event")
async def inject(call, cls, ref):
    cls = _BY_LOWER.get(cls.lower(), cls)
    if cls not in CLASSES:
        raise XapiError("HANDLE_INVALID", cls, ref)
    db = call.db
    db.get(cls, ref)
    db.set(cls, ref)
    return _token(db.generation)


@api("event.get_current_id", "", "int", has_async=False, kind="event")
async def get_current_id(call):
    return call.db.generation
