"""xapisim: a pool of simulated XenServer hosts speaking real XAPI on loopback addresses."""
from __future__ import annotations

from .lab import Lab

__all__ = ["Lab"]
