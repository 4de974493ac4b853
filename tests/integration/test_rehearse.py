# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""make rehearse / tools/rehearse.py (issue 10): a simulated pool-of-four captured into a twin with
xapisim capture, then playbooks/rolling_maintenance.yml rehearsed on the twin: what it did, what was
refused and the estimated window, checked against the twin's own timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from xapisim import Lab
from xapisim.capture import capture
from xapisim.labfile import load

REPO = Path(__file__).resolve().parents[2]
LAB_FILE = REPO / "simulator" / "labs" / "pool-of-four.yml"
SCRIPT = REPO / "tools" / "rehearse.py"
PLAYBOOK = REPO / "playbooks" / "rolling_maintenance.yml"
TIMEOUT_SECONDS = 300
XAPI_EVACUATION_BATCH = 10   # xapi.conf evacuation-batch-size: the migrations of one batch run at once


def capture_twin(lab_spec, path):
    """Runs the lab, captures it with xapisim capture's Python API (read-only) and writes the twin."""
    with Lab.start(lab_spec, time_scale=0.01) as lab:
        master = lab.info["hosts"][0]
        text, _notes = capture(master["url"], master["username"], master["password"], ca_path=lab.info["ca_bundle"])
    path.write_text(text)
    return path


def pool_of_four():
    return yaml.safe_load(LAB_FILE.read_text())


def rehearse(twin, workdir, *extra):
    command = [sys.executable, str(SCRIPT), "--workdir", str(workdir), str(twin), str(PLAYBOOK)]
    for value in extra:
        command += ["--extra", value]
    process = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=str(REPO),
                             stdin=subprocess.DEVNULL, check=False, env=_environment())
    report_path = Path(workdir) / "rehearsal.json"
    return process, (json.loads(report_path.read_text()) if report_path.exists() else None)


def _environment():
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("XENSERVER_", "ANSIBLE_")))
    env["PATH"] = "%s%s%s" % (Path(sys.executable).parent, os.pathsep, env.get("PATH", ""))
    return env


def rolling_lower_bound(twin):
    """What a rolling maintenance with reboots must take on this twin, from its timings: for each host
    its evacuation (its running VMs migrate in batches; a batch takes as long as its biggest VM), its
    reboot (shutdown delay, reboot, storage plugged again) and, on the master (maintained first) and the
    last host, its VMs migrated back (all at once: as long as the biggest); the other hosts' VMs come
    back in the background while the next host is emptied and rebooted."""
    timings = twin["timings"]
    master = twin["pools"][0]["master"]
    order = [h for h in twin["hosts"] if h["name"] == master] + [h for h in twin["hosts"] if h["name"] != master]
    waited_for = (order[0]["name"], order[-1]["name"])
    total = 0.0
    for host in order:
        memory = sorted((vm["memory_gib"] for vm in host["vms"] if vm["power_state"] == "running"), reverse=True)
        batches = [memory[i:i + XAPI_EVACUATION_BATCH] for i in range(0, len(memory), XAPI_EVACUATION_BATCH)]
        evacuation = sum(batch[0] for batch in batches) * timings["migrate_per_gib"]
        reboot = timings["shutdown_delay"] + timings["reboot"] + timings["pbd_plug"]
        back = (memory[0] if memory and host["name"] in waited_for else 0) * timings["migrate_per_gib"]
        total += evacuation + reboot + back
    return total


def test_rolling_maintenance_rehearsal_reports_changes_and_a_window_from_the_twins_timings(tmp_path):
    twin_path = capture_twin(pool_of_four(), tmp_path / "twin.yml")
    twin = load(twin_path)
    process, report = rehearse(twin_path, tmp_path / "run", "rolling_maintenance_reboot=true")
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-3000:]
    assert twin["host_defaults"]["password"] not in output

    summary = output.split("=== Rehearsal of")[1]
    hosts = [h["name"] for h in twin["hosts"]]
    for host in hosts:
        assert report["did"][host]["rebooted"] == 1, report["did"]
        assert report["did"][host]["evacuated"] == 1
        assert "rebooted" in summary.split("\n  %s: " % host)[1].splitlines()[0]
    running = sorted(vm["name"] for h in twin["hosts"] for vm in h["vms"] if vm["power_state"] == "running")
    # each running VM leaves its host and comes back: two migrations each
    assert sorted(m["vm"] for m in report["migrations"]) == sorted(running * 2)
    home = dict((vm["name"], h["name"]) for h in twin["hosts"] for vm in h["vms"])
    for move in report["migrations"]:
        assert home[move["vm"]] in (move["from"], move["to"]) and move["from"] != move["to"]
    for vm in running:
        assert vm in summary.split("VMs migrated")[1].splitlines()[0]
    assert report["refused"] == [] and report["refused_calls"] == []
    assert report["sessions_left_open"] == 0

    window = report["window"]
    bound = rolling_lower_bound(twin)
    assert window["critical_path_seconds"] >= bound, (window, bound)
    assert window["critical_path_seconds"] <= 1.5 * bound, (window, bound)
    assert bound <= window["seconds"] <= 1.5 * bound + window["unscaled_seconds"], (window, bound)
    # the simulator's sum counts the parallel migrations of each evacuation one by one
    assert window["simulated_seconds_total"] > window["critical_path_seconds"]
    assert window["time_scale"] == 0.01
    minutes, seconds = divmod(int(round(window["seconds"])), 60)
    assert "Estimated maintenance window: %d min %02d s" % (minutes, seconds) in summary


def test_make_rehearse_names_the_vm_that_blocks_evacuation_before_any_change(tmp_path):
    lab = pool_of_four()
    xs4 = next(h for h in lab["hosts"] if h["name"] == "xs4")
    xs4["vms"][0]["disks"] = [{"sr": "Local storage", "size_gib": 20}]   # web-4 lives on xs4's local SR
    twin_path = capture_twin(lab, tmp_path / "twin-local.yml")
    workdir = tmp_path / "run"
    process = subprocess.run(
        ["make", "--no-print-directory", "rehearse", "TWIN=%s" % twin_path, "PLAYBOOK=playbooks/rolling_maintenance.yml",
         "EXTRA=rolling_maintenance_reboot=true", "REHEARSAL_DIR=%s" % workdir],
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=str(REPO), stdin=subprocess.DEVNULL, check=False,
        env=_environment())
    output = process.stdout + process.stderr
    assert process.returncode != 0, output[-3000:]
    report = json.loads((workdir / "rehearsal.json").read_text())
    assert report["returncode"] != 0
    # refused before any change: the call log has reads (the evacuation plan) and no write at all
    assert report["calls_by_kind"].get("read", 0) > 0
    assert report["calls_by_kind"].get("write", 0) == 0 and report["write_calls"] == 0
    assert report["did"] == {} and report["migrations"] == []
    assert [f["task"] for f in report["refused"]] == ["Refuse when a host cannot be evacuated"]
    assert "VM web-4 cannot leave host xs4" in report["refused"][0]["messages"][0]
    assert "What it refused:\n  task 'Refuse when a host cannot be evacuated' (localhost): " in output
    assert "VM web-4 cannot leave host xs4" in output
    assert "nothing: no write call, the twin was not changed" in output


def test_a_connection_of_its_own_is_refused_before_the_twin_starts(tmp_path):
    """Extra vars or a playbook that name a XenServer host would reach past the twin."""
    twin_path = tmp_path / "twin.yml"
    twin_path.write_text(LAB_FILE.read_text())
    vars_file = tmp_path / "prod.yml"
    vars_file.write_text("rolling_maintenance_connection:\n  hostname: xs1.example.com\n  ca_path: /etc/ca.pem\n")
    process, report = rehearse(twin_path, tmp_path / "run", "rolling_maintenance_reboot=true", "@%s" % vars_file)
    assert process.returncode == 2 and report is None
    assert "extra vars.rolling_maintenance_connection.hostname: xs1.example.com" in process.stderr
    assert "XENSERVER_*" in process.stderr and "rehearse:" in process.stderr

    playbook = tmp_path / "pinned.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "module_defaults": {
        "group/xenserver.pools.xenserver": {"hostname": "10.0.0.5"}}, "tasks": []}]))
    process = subprocess.run([sys.executable, str(SCRIPT), "--workdir", str(tmp_path / "run"), str(twin_path),
                              str(playbook)], capture_output=True, text=True, timeout=60, check=False,
                             env=_environment())
    assert process.returncode == 2
    assert "pinned.yml[0].module_defaults.group/xenserver.pools.xenserver.hostname: 10.0.0.5" in process.stderr

    missing = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none.yml"), str(PLAYBOOK)],
                             capture_output=True, text=True, timeout=60, check=False, env=_environment())
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
