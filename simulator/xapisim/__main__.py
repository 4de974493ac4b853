"""`xapisim serve LAB.yml --state-dir DIR` and `xapisim validate LAB.yml`."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .capture import add_arguments as add_capture_arguments, capture_main
from .cli import validate_main
from .labfile import LabError, load


async def _serve(lab: dict, state_dir: Path) -> None:
    from .lab import LabRunner
    runner = LabRunner(lab, state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await runner.start()
        print(f"xapisim: lab {lab['name']!r} ready, {len(info['hosts'])} hosts; {state_dir / 'lab.json'}", flush=True)
        await stop.wait()
    finally:
        await runner.stop()
        (state_dir / "lab.json").unlink(missing_ok=True)
    print("xapisim: lab stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xapisim", description="A pool of simulated XenServer hosts speaking XAPI.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a lab in the foreground until SIGINT/SIGTERM")
    serve.add_argument("lab", help="lab file (YAML)")
    serve.add_argument("--state-dir", required=True, type=Path, help="where lab.json, the CA and host certificates go")
    serve.add_argument("--time-scale", type=float, help="override the lab's time_scale")
    serve.add_argument("--latency-ms", type=float, help="override the lab's per-call latency")
    serve.add_argument("--port", type=int, help="override the lab's port")
    validate = sub.add_parser("validate", help="check a lab file; one line per problem")
    validate.add_argument("lab")
    capture = sub.add_parser("capture", help="read a pool (read-only) and write it as a lab file, a twin")
    add_capture_arguments(capture)
    args = parser.parse_args(argv)
    if args.command == "validate":
        return validate_main(args.lab)
    if args.command == "capture":
        return capture_main(args)
    try:
        lab = load(args.lab)
    except LabError as err:
        for problem in err.problems:
            print(f"{args.lab}: {problem}", file=sys.stderr)
        return 1
    for key in ("time_scale", "latency_ms", "port"):
        if getattr(args, key) is not None:
            lab[key] = getattr(args, key)
    try:
        asyncio.run(_serve(lab, args.state_dir))
    except OSError as err:
        print(f"xapisim: cannot start the lab: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
