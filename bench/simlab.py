# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A simulated lab in a subprocess (bench.simserver), so that the simulator's work does not share a
Python interpreter (and its GIL) with what is being timed; and its control interface."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_SECONDS = 120


def resident_kib(pid):
    """VmRSS of a process, in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


class SimLab(object):
    """with SimLab(lab_dict, workdir) as lab: lab.info, lab.host("xs1"), lab.calls(), lab.marks() ..."""

    def __init__(self, lab, workdir, name=None):
        self.lab = lab
        self.name = name or lab["name"]
        self.dir = Path(workdir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = None
        self.info = None
        self.start_seconds = None
        self.time_scale = lab.get("time_scale", 0.05)

    # --- lifetime -------------------------------------------------------------------------
    def start(self):
        lab_path = self.dir / "lab-input.json"
        lab_path.write_text(json.dumps(self.lab))
        state = self.dir / "state"
        (state / "lab.json").unlink(missing_ok=True)
        log = open(self.dir / "simulator.log", "w")
        started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "bench.simserver", str(lab_path), str(state)],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=str(Path(__file__).resolve().parents[1]))
        log.close()
        while not (state / "lab.json").exists():
            if self.process.poll() is not None:
                raise RuntimeError("the simulator for lab %s exited with %s; see %s"
                                   % (self.name, self.process.returncode, self.dir / "simulator.log"))
            if time.monotonic() - started > START_TIMEOUT_SECONDS:
                self.stop()
                raise RuntimeError("the simulator for lab %s did not start within %d s"
                                   % (self.name, START_TIMEOUT_SECONDS))
            time.sleep(0.02)
        self.start_seconds = time.monotonic() - started
        self.info = json.loads((state / "lab.json").read_text())
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- lab.json -------------------------------------------------------------------------
    def host(self, name):
        return next(h for h in self.info["hosts"] if h["name"] == name)

    def connection(self, name=None):
        """Module connection options for host `name` (default: the lab's first host)."""
        entry = self.host(name) if name else self.info["hosts"][0]
        return {"hostname": entry["url"], "username": entry["username"], "password": entry["password"],
                "ca_path": self.info["ca_bundle"]}

    def environment(self, name=None):
        """The same as the collection's environment variables."""
        options = self.connection(name)
        return {"XENSERVER_HOST": options["hostname"], "XENSERVER_USER": options["username"],
                "XENSERVER_PASSWORD": options["password"], "XENSERVER_CA_PATH": options["ca_path"] or ""}

    # --- control interface ----------------------------------------------------------------
    def get(self, path):
        with urllib.request.urlopen(self.info["control_url"] + path, timeout=60) as answer:
            return json.load(answer)

    def last_seq(self):
        calls = self.get("/calls?since=%d" % getattr(self, "_seen", 0))["calls"]
        if calls:
            self._seen = calls[-1]["seq"]
        return getattr(self, "_seen", 0)

    def calls(self, since=0):
        return self.get("/calls?since=%d" % since)["calls"]

    def state(self):
        return self.get("/state")

    def simulated_seconds(self):
        return self.state()["simulated_seconds"]

    def marks(self, since=0):
        return self.get("/bench/marks?since=%d" % since)["marks"]

    def sleeps(self, since=0):
        return self.get("/bench/sleeps?since=%d" % since)["sleeps"]

    def host_enabled_by(self):
        """{session: name of the first host it enabled}, to find the sessions of background jobs."""
        return self.get("/bench/host_enabled_by")

    def last_bench_seq(self):
        """The newest seq of marks and sleeps (they share one counter)."""
        marks, sleeps = self.marks(getattr(self, "_bench_seen", 0)), self.sleeps(getattr(self, "_bench_seen", 0))
        newest = max([e["seq"] for e in marks + sleeps] or [getattr(self, "_bench_seen", 0)])
        self._bench_seen = newest
        return newest

    def resident_kib(self):
        return resident_kib(self.process.pid)

    def pid(self):
        return self.process.pid


def environment_without_xenserver():
    return dict((k, v) for k, v in os.environ.items() if not k.startswith("XENSERVER_"))
