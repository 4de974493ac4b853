"""Imports every handler module so that REGISTRY holds every message."""
from __future__ import annotations

from . import event, implicit, session, task  # noqa: F401
from . import pool  # noqa: F401
from . import network, storage  # noqa: F401
from . import ha, host, message, secret, vm  # noqa: F401
from . import tls  # noqa: F401

implicit.register_all()
