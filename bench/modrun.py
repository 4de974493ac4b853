# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs one of the collection's modules directly, as AnsiballZ does in the end: a Python process
that executes the module with its arguments file. No Ansible controller around it, so the time
is the module's own (its interpreter start, imports, XAPI calls); Ansible's per-task overhead is
measured separately (bench.overhead)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "collections"
MODULE_TIMEOUT_SECONDS = 600


class ModuleRun(object):
    def __init__(self, name, started, ended, returncode, result, output):
        self.name = name
        self.started = started      # time.time() just before the process started
        self.ended = ended          # time.time() once it exited: the module has returned
        self.returncode = returncode
        self.result = result
        self.output = output

    @property
    def seconds(self):
        return self.ended - self.started

    @property
    def failed(self):
        return self.returncode != 0 or not isinstance(self.result, dict) or bool(self.result.get("failed"))

    @property
    def changed(self):
        return bool(self.result and self.result.get("changed"))

    def describe(self):
        if isinstance(self.result, dict) and self.result.get("msg"):
            return self.result["msg"]
        return self.output[-2000:]


def run_module(name, args, workdir, check_mode=False):
    """Runs xenserver.pools.<name> with `args` (connection options included); returns a ModuleRun."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    args_path = workdir / "module-args.json"
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False)
    # Written 0600: the arguments hold the lab's password.
    fd = os.open(str(args_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("XENSERVER_"))
    env["PYTHONPATH"] = str(COLLECTIONS)
    command = [sys.executable, "-m", "ansible_collections.xenserver.pools.plugins.modules.%s" % name, str(args_path)]
    started = time.time()
    process = subprocess.run(command, env=env, cwd=str(workdir), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=MODULE_TIMEOUT_SECONDS, check=False)
    ended = time.time()
    result = None
    for line in process.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                continue
    return ModuleRun(name, started, ended, process.returncode, result, process.stdout + process.stderr)
