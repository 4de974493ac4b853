# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the figures were measured on: the machine, the software versions, the collection's commit."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata

from bench.playbook import REPO


def _first(path, prefix):
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(*args):
    try:
        return subprocess.run(["git", "-C", str(REPO)] + list(args), capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe():
    memory_kib = _first("/proc/meminfo", "MemTotal")
    changed = _git("status", "--porcelain", "--untracked-files=no")
    galaxy = (REPO / "galaxy.yml").read_text()
    version = next((line.split(":", 1)[1].strip() for line in galaxy.splitlines() if line.startswith("version:")), None)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_cores": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor() or None,
        "memory_gib": round(int(memory_kib.split()[0]) / 1024.0 / 1024.0, 1) if memory_kib else None,
        "os": "%s %s" % (platform.system(), platform.release()),
        "load_average_at_start": load_average(),
        "python": platform.python_version(),
        "ansible_core": _version("ansible-core"),
        "xenapi": _version("XenAPI"),
        "xapisim": _version("xapisim"),
        "collection_version": version,
        "collection_commit": _git("rev-parse", "HEAD"),
        "collection_tracked_files_changed": len(changed.splitlines()) if changed else 0,
    }
