# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rehearse a playbook on a twin of a pool: start the twin, run the playbook against it, stop it, and
say what the playbook did, what was refused and how long the run would take on the real pool.

    python tools/rehearse.py [--extra VARS]... [--scale 0.01] [--workdir build/rehearsal] TWIN PLAYBOOK
    make rehearse TWIN=twin.yml PLAYBOOK=playbooks/rolling_maintenance.yml EXTRA='k=v ...' SCALE=0.01

TWIN is a lab file, normally written by `xapisim capture` from the real pool. The playbook gets the
twin's master through XENSERVER_HOST, XENSERVER_USER, XENSERVER_PASSWORD and XENSERVER_CA_PATH (every
other XENSERVER_* variable is left out); --extra is given to ansible-playbook as one -e each ("k=v
k2=v2", JSON or @file.yml). A hostname in the extra vars or written in the playbook would take the
playbook past the twin, so the rehearsal refuses to start then. ansible-playbook runs in --workdir,
where files the playbook writes (e.g. the rolling_maintenance report) land, with rehearsal.json.

The estimated window: the twin runs at time_scale S (every realistic duration times S). The lab
records each duration it simulates with its real start and end (bench.simserver's hooks, in this
process); the longest chain of them that ran one after another, in realistic seconds, is the
critical path C of the run - the time the pool's own operations take, where operations that ran in
parallel (the migrations of one evacuation batch, the PBD plugs of an SR.create) count once. The
rest of the run (Ansible, module start-ups, XAPI calls: wall - C x S) takes the same time at any
scale. Window = C + (wall - C x S). The simulator's own simulated_seconds adds every duration up,
parallel ones too: it is shown as the figure for operations that would not overlap.

Exits with ansible-playbook's exit code (after the report), or 2 when the rehearsal cannot start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter, OrderedDict
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
for _path in (str(TOOLS), str(REPO)):   # with_lab (tools/) and bench (the repository root)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import yaml  # noqa: E402

from with_lab import running_lab  # noqa: E402

DEFAULT_SCALE = 0.01
# What a write call did, in words. Calls of the same kind on the same object are counted.
PHRASES = {
    "host.disable": "disabled", "host.enable": "enabled", "host.evacuate": "evacuated",
    "host.reboot": "rebooted", "host.shutdown": "shut down", "host.power_on": "powered on",
    "host.restart_agent": "toolstack restarted", "host.apply_edition": "licence edition applied",
    "host.set_power_on_mode": "power-on mode set", "host.set_name_label": "renamed",
    "host.management_reconfigure": "management interface moved",
    "host.add_to_other_config": "other_config changed", "host.remove_from_other_config": "other_config changed",
    "host.set_other_config": "other_config changed",
    "pool.designate_new_master": "made the master", "pool.join": "joined a pool", "pool.eject": "ejected",
    "pool.add_to_other_config": "other_config changed", "pool.remove_from_other_config": "other_config changed",
    "pool.set_other_config": "other_config changed", "pool.enable_ha": "HA enabled", "pool.disable_ha": "HA disabled",
    "pool.set_default_SR": "default SR set", "pool.set_name_label": "renamed",
    "PBD.plug": "SR plugged", "PBD.unplug": "SR unplugged", "PBD.create": "PBD created", "PBD.destroy": "PBD destroyed",
    "PIF.reconfigure_ip": "IP configured", "PIF.plug": "interface plugged", "PIF.unplug": "interface unplugged",
    "Bond.create": "bond created", "Bond.destroy": "bond destroyed", "SR.forget": "SR forgotten",
    "SR.destroy": "SR destroyed", "secret.create": "secret created (its value is not logged)",
}
# Their effect is read from XAPI's messages instead (they also cover what xapi does by itself: the
# migrations of an evacuation, the VMs a reboot shuts down).
VM_CALLS_SHOWN_BY_MESSAGES = {
    "VM.pool_migrate", "VM.migrate_send", "VM.start", "VM.start_on", "VM.resume", "VM.resume_on",
    "VM.clean_shutdown", "VM.hard_shutdown", "VM.suspend", "VM.clean_reboot", "VM.hard_reboot",
}
BOOKKEEPING = {"task.destroy", "task.cancel", "task.add_to_other_config", "task.remove_from_other_config"}
VM_EVENTS = OrderedDict([("VM_STARTED", "started"), ("VM_RESUMED", "resumed"), ("VM_SHUTDOWN", "shut down"),
                         ("VM_SUSPENDED", "suspended"), ("VM_REBOOTED", "rebooted")])
MIGRATED = re.compile(r"migrated from host '(?P<source>.*?)' \(uuid: [^)]*\) to host '(?P<target>.*?)'")
SHOWN_PER_LIST = 8


class RehearsalError(Exception):
    """One line for the user; the rehearsal did not start."""


# --- inputs -----------------------------------------------------------------------------------------
def load_twin(path):
    try:
        from xapisim.labfile import LabError, load
    except ImportError:
        raise RehearsalError("the simulator is not installed; run `make setup` (pip install -e simulator)") from None
    if not Path(path).is_file():
        raise RehearsalError("the twin %s does not exist; write one with `xapisim capture` (see the README)" % path)
    try:
        return load(Path(path))
    except LabError as err:
        raise RehearsalError("the twin %s is not a valid lab file: %s" % (path, "; ".join(err.problems))) from None


def master_of(twin):
    """The twin's first host, or the master of the pool it is in: where XENSERVER_HOST points."""
    first = twin["hosts"][0]["name"]
    return next((p["master"] for p in twin["pools"] if first in [p["master"]] + p["members"]), first)


def normalize_extra(extra):
    """An @file relative to where the rehearsal was started, made absolute (ansible-playbook runs in
    the work directory)."""
    text = extra.strip()
    if not text.startswith("@"):
        return text
    path = Path(text[1:]).expanduser()
    if not path.is_file():
        raise RehearsalError("extra vars file %s does not exist" % text[1:])
    return "@%s" % path.resolve()


def extra_value(extra):
    """What ansible-playbook makes of one -e value, or None when it cannot be read here (vault)."""
    try:
        if extra.startswith("@"):
            return yaml.safe_load(Path(extra[1:]).read_text(encoding="utf-8"))
        if extra[:1] in "{[":
            return yaml.safe_load(extra)
    except (OSError, yaml.YAMLError):
        return None
    from ansible.parsing.splitter import parse_kv
    return parse_kv(extra)


def fixed_hostnames(value, where):
    """Every `hostname` key with a literal, non-empty value in value: ["where.path: value"]."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = "%s.%s" % (where, key)
            if key == "hostname" and isinstance(item, str) and item.strip() and "{{" not in item:
                found.append("%s: %s" % (here, item))
            else:
                found.extend(fixed_hostnames(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(fixed_hostnames(item, "%s[%d]" % (where, index)))
    return found


def refuse_real_connections(playbook, extras):
    found = []
    for extra in extras:
        found.extend(fixed_hostnames(extra_value(extra), "extra vars"))
    try:
        found.extend(fixed_hostnames(yaml.safe_load(Path(playbook).read_text(encoding="utf-8")), Path(playbook).name))
    except yaml.YAMLError:
        pass   # vault or custom tags: ansible-playbook reads it
    if found:
        raise RehearsalError("%s names a XenServer host itself, so it would not run against the twin: %s. Let it "
                             "take the connection from the XENSERVER_* variables (the rehearsal sets them to the "
                             "twin)" % ("the playbook or its extra vars", "; ".join(found)))


# --- the run ----------------------------------------------------------------------------------------
def control(lab, path):
    with urllib.request.urlopen(lab.control_url + path, timeout=60) as answer:
        return json.load(answer)


def ansible_environment(env, workdir, failures):
    env = dict(env)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "collections"))
    env.setdefault("ANSIBLE_HOME", str(workdir / "ansible-home"))
    for key, value in (("ANSIBLE_LOCALHOST_WARNING", "false"), ("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false"),
                       ("ANSIBLE_RETRY_FILES_ENABLED", "false")):
        env.setdefault(key, value)
    # bench_timing: when each task ran, and which ran in the background (async), for the window
    plugins = [str(TOOLS / "callback_plugins"), str(REPO / "bench" / "ansible" / "callback_plugins")] + [
        p for p in env.get("ANSIBLE_CALLBACK_PLUGINS", "").split(":") if p]
    enabled = ["rehearse_failures", "bench_timing"] + [
        c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    env.update({"ANSIBLE_CALLBACK_PLUGINS": ":".join(plugins), "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled),
                "REHEARSE_FAILURES_FILE": str(failures), "BENCH_TIMING_FILE": str(workdir / "timing.jsonl"),
                "PATH": "%s%s%s" % (Path(sys.executable).parent, os.pathsep, env.get("PATH", ""))})
    # ansible-playbook runs in the work directory: keep the ansible.cfg of where the rehearsal started
    if "ANSIBLE_CONFIG" not in env and Path("ansible.cfg").is_file():
        env["ANSIBLE_CONFIG"] = str(Path("ansible.cfg").resolve())
    return env


def rehearse(twin_path, playbook, extras, scale, workdir):
    """Runs the rehearsal; returns the report (a dict)."""
    from bench.simserver import RECORDER, install_hooks
    twin = load_twin(twin_path)
    master = master_of(twin)
    workdir.mkdir(parents=True, exist_ok=True)
    failures = workdir / "failures.jsonl"
    failures.unlink(missing_ok=True)
    (workdir / "timing.jsonl").unlink(missing_ok=True)
    install_hooks()   # this process only: the lab records each simulated duration (RECORDER.sleeps)
    pool = twin["pools"][0]["name"] if twin["pools"] else master
    print("rehearse: twin %s - pool %s, %d host(s), master %s; %s at time_scale %g"
          % (twin_path, pool, len(twin["hosts"]), master, playbook, scale), flush=True)
    with running_lab(Path(twin_path), time_scale=scale, host=master) as (lab, env):
        env = ansible_environment(env, workdir, failures)
        before = control(lab, "/state")
        seen = max([c["seq"] for c in control(lab, "/calls")["calls"]] or [0])
        recorded = len(RECORDER.sleeps)
        command = [str(Path(sys.executable).parent / "ansible-playbook"), str(Path(playbook).resolve())]
        for extra in extras:
            command += ["-e", extra]
        started = time.time()
        returncode = subprocess.call(command, env=env, cwd=str(workdir), stdin=subprocess.DEVNULL)
        ended = time.time()
        after = control(lab, "/state")
        calls = control(lab, "/calls?since=%d" % seen)["calls"]
        sessions = control(lab, "/sessions")["total"]
        sleeps = [s for s in list(RECORDER.sleeps)[recorded:] if started <= s["start"] <= ended]
        host_enabled_by = dict(RECORDER.host_enabled_by)
    timing = workdir / "timing.jsonl"
    events = [json.loads(line) for line in timing.read_text(encoding="utf-8").splitlines()] if timing.exists() else []
    failed = [json.loads(line) for line in failures.read_text(encoding="utf-8").splitlines()] if failures.exists() else []
    report = summarise(before, after, calls, failed)
    report.update(twin=str(twin_path), playbook=str(playbook), hosts=[h["name"] for h in twin["hosts"]],
                  extra_vars=len(extras), returncode=returncode,
                  sessions_left_open=sessions, workdir=str(workdir),
                  window=window(sleeps, started, ended, scale,
                                after["simulated_seconds"] - before["simulated_seconds"], events, host_enabled_by))
    return report


# --- what it did and what was refused ---------------------------------------------------------------
class Names(object):
    """Refs and uuids to names, from the lab's objects before and after the run."""

    def __init__(self, *states):
        self.objects = {}
        for state in states:
            for pool in state["pools"]:
                for cls, table in pool["objects"].items():
                    self.objects.setdefault(cls, {}).update(table)
        self.by_ref = dict((ref, (cls, record)) for cls, table in self.objects.items() for ref, record in table.items())

    def host(self, ref):
        record = self.objects.get("host", {}).get(ref)
        return record["name_label"] if record else None

    def subject(self, call):
        """(group, object): the host (or pool, VM, SR ...) a call acts on."""
        for arg in call["args"]:
            if not isinstance(arg, str) or arg not in self.by_ref:
                continue
            cls, record = self.by_ref[arg]
            if cls == "host":
                return record["name_label"], None
            if cls in ("PBD", "PIF") and self.host(record.get("host")):
                what = record.get("device") if cls == "PIF" else self.label(record.get("SR"))
                return self.host(record["host"]), what
            if cls == "pool":
                return "pool %s" % (record.get("name_label") or "(no name)"), None
            return "%s %s" % (cls, self.label(arg)), None
        return "other", None

    def label(self, ref):
        record = self.by_ref.get(ref, (None, {}))[1]
        return record.get("name_label") or record.get("uuid") or ref


def summarise(before, after, calls, failed):
    names = Names(before, after)
    did, refused_calls, writes = OrderedDict(), [], 0
    for call in calls:
        method = call["method"][len("Async."):] if call["method"].startswith("Async.") else call["method"]
        if call["kind"] != "write" or method in BOOKKEEPING:
            continue
        group, what = names.subject(call)
        if call["status"] != "ok":
            refused_calls.append({"call": method, "on": group, "error": call["error"]})
            continue
        writes += 1
        if method in VM_CALLS_SHOWN_BY_MESSAGES:
            continue
        if method == "SR.create" and len(call["args"]) > 5:
            group, phrase = "pool", "SR %s (%s) created" % (call["args"][3], call["args"][5])
        else:
            phrase = PHRASES.get(method, method) + (" (%s)" % what if what else "")
        did.setdefault(group, Counter())[phrase] += 1

    vm_names = dict((vm["uuid"], vm["name_label"]) for vm in names.objects.get("VM", {}).values())
    old = set(Names(before).objects.get("message", {}))
    migrations, vm_events = [], []
    for ref, message in names.objects.get("message", {}).items():
        if ref in old or message.get("cls") != "VM":
            continue
        vm = vm_names.get(message.get("obj_uuid"), message.get("obj_uuid"))
        moved = MIGRATED.search(message.get("body", ""))
        if message["name"] == "VM_MIGRATED" and moved:
            migrations.append({"vm": vm, "from": moved.group("source"), "to": moved.group("target")})
        elif message["name"] in VM_EVENTS:
            vm_events.append({"vm": vm, "event": VM_EVENTS[message["name"]]})
    refused = [f for f in failed if f["status"] != "ignored"]
    return {
        "write_calls": writes,
        "calls_by_kind": dict(Counter(call["kind"] for call in calls)),
        "did": dict((group, dict(counts)) for group, counts in did.items()),
        "migrations": migrations,
        "vm_events": vm_events,
        "refused": refused,
        "ignored_failures": [f for f in failed if f["status"] == "ignored"],
        "refused_calls": refused_calls,
    }


# --- the window -------------------------------------------------------------------------------------
def window(sleeps, started, ended, scale, simulated_total, events=(), host_enabled_by=None):
    """Tasks run in the background (the VMs of a host coming back) count by what the foreground does
    not cover, as in make bench (bench.roles)."""
    from bench.playbook import PlaybookRun
    from bench.roles import critical_with_background
    critical, by_timing, _jobs = critical_with_background(PlaybookRun(started, ended, 0, "", list(events)), sleeps,
                                                          host_enabled_by or {})
    wall = ended - started
    rest = max(0.0, wall - critical * scale)
    return {
        "seconds": round(critical + rest, 1),
        "critical_path_seconds": round(critical, 1),
        "critical_path_by_timing": dict((k, round(v, 1)) for k, v in sorted(by_timing.items(), key=lambda kv: -kv[1])),
        "unscaled_seconds": round(rest, 1),
        "simulated_seconds_total": round(simulated_total, 1),
        "wall_seconds": round(wall, 1),
        "time_scale": scale,
    }


# --- printing ---------------------------------------------------------------------------------------
def duration(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return "%d h %02d min" % (hours, minutes)
    if minutes:
        return "%d min %02d s" % (minutes, seconds)
    return "%d s" % seconds


def some(items):
    shown = ", ".join(items[:SHOWN_PER_LIST])
    return shown + (" and %d more" % (len(items) - SHOWN_PER_LIST) if len(items) > SHOWN_PER_LIST else "")


def counted(counts):
    return ", ".join(phrase if n == 1 else "%s x%d" % (phrase, n) for phrase, n in counts.items())


def report_lines(report):
    verdict = "succeeded" if report["returncode"] == 0 else "FAILED (exit %d)" % report["returncode"]
    lines = ["", "=== Rehearsal of %s on the twin %s: the playbook %s ===" % (report["playbook"], report["twin"], verdict),
             "", "What it did (%d write call%s XAPI accepted):" % (report["write_calls"], "" if report["write_calls"] == 1 else "s")]
    did = dict(report["did"])
    for host in report["hosts"]:
        if host in did:
            lines.append("  %s: %s" % (host, counted(did.pop(host))))
    for group, counts in did.items():
        lines.append("  %s: %s" % (group, counted(counts)))
    journeys = OrderedDict()   # each VM's hosts in order: db-1 xs1 -> xs2 -> xs1
    for move in report["migrations"]:
        journeys.setdefault(move["vm"], [move["from"]]).append(move["to"])
    if journeys:
        lines.append("  VMs migrated (%d migration%s): %s" % (
            len(report["migrations"]), "" if len(report["migrations"]) == 1 else "s",
            some(["%s %s" % (vm, " -> ".join(hosts)) for vm, hosts in journeys.items()])))
    events = OrderedDict()
    for event in report["vm_events"]:
        events.setdefault(event["event"], []).append(event["vm"])
    for event, vms in events.items():
        lines.append("  VMs %s: %s" % (event, some(vms)))
    if not report["write_calls"]:
        lines.append("  nothing: no write call, the twin was not changed")

    lines += ["", "What it refused:"]
    for failure in report["refused"]:
        lines.append("  task '%s' (%s): %s" % (failure["task"], failure["host"], " | ".join(failure["messages"])))
    for call in report["refused_calls"]:
        lines.append("  XAPI refused %s on %s: %s" % (call["call"], call["on"], " ".join(str(e) for e in call["error"] or [])))
    if not report["refused"] and not report["refused_calls"]:
        lines.append("  nothing")
    if report["ignored_failures"]:
        lines.append("  (and %d failure(s) the playbook ignores: %s)"
                     % (len(report["ignored_failures"]), some([f["task"] for f in report["ignored_failures"]])))
    if report["sessions_left_open"]:
        lines.append("  note: %d XAPI session(s) were left open" % report["sessions_left_open"])

    w = report["window"]
    if report["returncode"] == 0:
        lines += ["", "Estimated maintenance window: %s" % duration(w["seconds"])]
    else:
        lines += ["", "Duration at real-world speed until it stopped: %s (not the window of a complete run)"
                  % duration(w["seconds"])]
    lines.append("  %s  the pool's operations one after another (critical path): %s" % (
        duration(w["critical_path_seconds"]).rjust(12),
        ", ".join("%s %s" % (k, duration(v)) for k, v in w["critical_path_by_timing"].items()) or "none"))
    lines.append("  %s  Ansible, module start-ups and XAPI calls, as measured here" % duration(w["unscaled_seconds"]).rjust(12))
    lines.append("  All the operations added up (simulated_seconds, parallel ones counted each): %s. The twin ran "
                 "at time_scale %g: %s of wall time." % (duration(w["simulated_seconds_total"]), w["time_scale"],
                                                         duration(w["wall_seconds"])))
    lines.append("")
    lines.append("Files the playbook wrote, and rehearsal.json: %s" % report["workdir"])
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("twin", help="the twin: a lab file written by `xapisim capture`")
    parser.add_argument("playbook", help="the playbook to rehearse, e.g. playbooks/rolling_maintenance.yml")
    parser.add_argument("--extra", action="append", default=[], metavar="VARS",
                        help="extra vars for ansible-playbook -e: 'k=v k2=v2', JSON or @file.yml (repeatable)")
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                        help="the twin's time_scale during the rehearsal (default %(default)s); the estimate "
                             "is in real-world seconds whatever it is")
    parser.add_argument("--workdir", default="build/rehearsal",
                        help="where ansible-playbook runs and rehearsal.json is written (default %(default)s)")
    options = parser.parse_args(argv)
    if not options.scale > 0:
        parser.error("--scale must be above 0")
    try:
        if not Path(options.playbook).is_file():
            raise RehearsalError("the playbook %s does not exist" % options.playbook)
        extras = [normalize_extra(e) for e in options.extra if e.strip()]
        refuse_real_connections(options.playbook, extras)
        workdir = Path(options.workdir).resolve()
        report = rehearse(options.twin, options.playbook, extras, options.scale, workdir)
    except RehearsalError as err:
        print("rehearse: %s" % err, file=sys.stderr)
        return 2
    (workdir / "rehearsal.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\n".join(report_lines(report)), flush=True)
    return report["returncode"]


if __name__ == "__main__":
    sys.exit(main())
