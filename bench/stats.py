# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Median and spread of repeated measurements, and the union of time intervals."""

from __future__ import annotations

import heapq
import statistics


def summary(samples, digits=4):
    """{samples, n, median, min, max} (None values are left out of the figures)."""
    values = [s for s in samples if s is not None]
    if not values:
        return {"samples": list(samples), "n": 0, "median": None, "min": None, "max": None}

    def rounded(x):
        return round(x, digits) if isinstance(x, float) else x
    return {"samples": [rounded(s) for s in samples], "n": len(values), "median": rounded(statistics.median(values)),
            "min": rounded(min(values)), "max": rounded(max(values))}


def union_seconds(intervals, start=None, end=None):
    """Total length of the union of (start, end) intervals, clipped to [start, end] when given."""
    clipped = []
    for a, b in intervals:
        if start is not None:
            a = max(a, start)
        if end is not None:
            b = min(b, end)
        if b > a:
            clipped.append((a, b))
    clipped.sort()
    total, current_start, current_end = 0.0, None, None
    for a, b in clipped:
        if current_end is None or a > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_end is not None:
        total += current_end - current_start
    return total


def critical_chain(sleeps):
    """The longest chain of simulated durations that ran one after another (each starting after
    the previous one ended), weighted by their realistic seconds: the lab's operations on the
    critical path of a run. sleeps: dicts with start, end (real time), realistic, timing.
    Returns (realistic seconds, {timing: realistic seconds on the chain})."""
    ordered = sorted(sleeps, key=lambda s: (s["start"], s["end"]))
    ended = []            # heap of (end, index) of sleeps whose chain value is known
    best_before = (0.0, None)   # best chain among sleeps ended so far: (value, index)
    value, previous = [0.0] * len(ordered), [None] * len(ordered)
    for j, sleep in enumerate(ordered):
        while ended and ended[0][0] <= sleep["start"]:
            _end, i = heapq.heappop(ended)
            if value[i] > best_before[0]:
                best_before = (value[i], i)
        value[j] = sleep["realistic"] + best_before[0]
        previous[j] = best_before[1]
        heapq.heappush(ended, (sleep["end"], j))
    if not ordered:
        return 0.0, {}
    last = max(range(len(ordered)), key=lambda k: value[k])
    by_timing = {}
    k = last
    while k is not None:
        by_timing[ordered[k]["timing"]] = by_timing.get(ordered[k]["timing"], 0.0) + ordered[k]["realistic"]
        k = previous[k]
    return value[last], by_timing
