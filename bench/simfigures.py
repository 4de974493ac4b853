# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The simulator's own figures on simulator/labs/big-pool.yml (64 hosts, 2,000 VMs), served by the
real command line (`python -m xapisim serve`, no added latency): the time from starting the process
to lab.json (every host listening), VM.get_all_records as the client sees it and as the call log
times it (encoding included), and the process's resident memory. The limits are those of
simulator/tests/test_speed.py; memory has none."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client
from pathlib import Path
from urllib.parse import urlsplit

import XenAPI

from bench.playbook import REPO
from bench.simlab import resident_kib
from bench.stats import summary

BIG_POOL = REPO / "simulator" / "labs" / "big-pool.yml"
START_LIMIT_SECONDS = 10.0
GET_ALL_RECORDS_LIMIT_SECONDS = 0.5


def _peak_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def _serve(state_dir):
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "xapisim", "serve", str(BIG_POOL), "--state-dir", str(state_dir),
                                "--latency-ms", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    lab_json = Path(state_dir) / "lab.json"
    while not lab_json.exists():
        if process.poll() is not None or time.monotonic() - started > 120:
            process.kill()
            raise RuntimeError("xapisim serve %s did not start" % BIG_POOL)
        time.sleep(0.01)
    return process, time.monotonic() - started, json.loads(lab_json.read_text())


def _stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get_all_records(info, calls):
    """VM.get_all_records over XML-RPC, timed from sending the request to the last byte of the
    answer (not parsed: the client's XML parsing is not the simulator's time)."""
    host = info["hosts"][0]
    context = ssl.create_default_context(cafile=info["ca_bundle"])
    session = XenAPI.Session(host["url"], transport=xmlrpc.client.SafeTransport(context=context))
    session.xenapi.login_with_password(host["username"], host["password"], "1.0", "make-bench")
    walls, data = [], b""
    try:
        url = urlsplit(host["url"])
        body = xmlrpc.client.dumps((session._session,), "VM.get_all_records").encode()
        for dummy in range(calls):
            connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=60, context=context)
            try:
                before = time.monotonic()
                connection.request("POST", "/", body=body, headers={"Content-Type": "text/xml"})
                data = connection.getresponse().read()
                walls.append(time.monotonic() - before)
            finally:
                connection.close()
    finally:
        session.xenapi.session.logout()
    vms = data.count(b"<name>is_control_domain</name>")   # VM records, control domains included
    return walls, vms


def measure(repeats, calls, log):
    starts, walls, durations, resident, peak = [], [], [], [], []
    vms = None
    for attempt in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-big-pool-") as state_dir:
            process, seconds, info = _serve(state_dir)
            try:
                starts.append(seconds)
                resident.append(resident_kib(process.pid) / 1024.0)
                if attempt == 0:
                    walls, vms = _get_all_records(info, calls)
                    with urllib.request.urlopen(info["control_url"] + "/calls", timeout=60) as answer:
                        logged = json.load(answer)["calls"]
                    durations = [c["duration"] for c in logged if c["method"] == "VM.get_all_records"]
                    peak.append(_peak_kib(process.pid) / 1024.0)
            finally:
                _stop(process)
        log("simulator: big-pool start %.2f s, resident %.0f MiB" % (starts[-1], resident[-1]))
    log("simulator: VM.get_all_records %s s (client), %s s (call log)" % (
        summary(walls)["median"], summary(durations)["median"]))
    return {
        "lab": "simulator/labs/big-pool.yml", "vm_records": vms,
        "rows": [
            _row("start", "start of big-pool.yml (64 hosts, 2,000 VMs): process start to lab.json", "s",
                 summary(starts), START_LIMIT_SECONDS),
            _row("get_all_records_client", "VM.get_all_records over HTTPS, request sent to answer received (not parsed)", "s",
                 summary(walls), GET_ALL_RECORDS_LIMIT_SECONDS),
            _row("get_all_records_log", "VM.get_all_records, duration in the call log (encoding included)", "s",
                 summary(durations), GET_ALL_RECORDS_LIMIT_SECONDS),
            _row("memory_started", "resident memory once started", "MiB", summary(resident), None),
            _row("memory_peak", "peak resident memory after %d VM.get_all_records" % calls, "MiB", summary(peak), None),
        ],
    }


def _row(key, what, unit, figure, limit):
    row = {"key": key, "what": what, "unit": unit, "figure": figure, "limit": limit}
    if limit is None or figure["median"] is None:
        row["ratio"], row["status"] = None, "info"
    else:
        row["ratio"] = round(figure["median"] / limit, 3)
        row["status"] = "pass" if figure["median"] <= limit else "miss"
    return row
