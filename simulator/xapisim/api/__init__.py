"""The message registry: every XAPI message the simulator serves, explicit or implicit."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable


@dataclass
class Message:
    cls: str                      # datamodel class, e.g. "host"
    name: str                     # message name, e.g. "evacuate"
    params: list[tuple[str, str]]  # (datamodel type, name), session parameter excluded
    result: str                   # datamodel type of the result, "void" for none
    handler: Callable[..., Awaitable] = field(repr=False, default=None)
    session: bool = True          # takes a session ref as its first parameter
    implicit: bool = False        # generated from the field table
    has_async: bool = True        # an Async.<cls>.<name> form exists
    defaults: int = 0             # how many trailing params may be omitted
    # trailing parameters newer than the published datamodel: name -> the xapi version
    # (major, minor) that added it; older hosts do not know them (MESSAGE_PARAMETER_COUNT_MISMATCH)
    since: dict[str, tuple[int, int]] = field(default_factory=dict)
    # the lab's software.xapi decides whether a host has the message: from `xapi_from` on (before,
    # MESSAGE_METHOD_UNKNOWN), and from `xapi_removed` on xapi answers MESSAGE_REMOVED
    xapi_from: tuple[int, int] | None = None
    xapi_removed: tuple[int, int] | None = None
    # served by a slave itself with a local session (slave_local_login_with_password), without
    # the master: the emergency calls
    local: bool = False

    @property
    def wire_name(self) -> str:
        return f"{self.cls}.{self.name}"


REGISTRY: dict[str, Message] = {}


def register(message: Message) -> Message:
    REGISTRY[message.wire_name] = message
    return message
