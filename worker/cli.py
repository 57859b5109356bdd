"""Command line: the composition root, the only place that builds real clients."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from worker.sandbox import Sandbox, SandboxOptions


def _cmd_sandbox(args: argparse.Namespace) -> int:
    options = SandboxOptions(
        notion_port=args.notion_port,
        slack_port=args.slack_port,
        fault_rate=args.fault_rate,
        seed=args.seed,
        state_file=Path(args.state) if args.state else None,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sandbox = Sandbox(options).start()
    try:
        sys.stdout.write(json.dumps(sandbox.info()) + "\n")
        sys.stdout.flush()
        stop.wait()
    finally:
        sandbox.stop()
    return 0


def _fault_rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-worker",
        description="Mirror a Notion Incidents database into Slack threads.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox", help="serve the Notion and Slack emulators until SIGTERM"
    )
    sandbox.add_argument("--notion-port", type=int, default=0, help="default: a free port")
    sandbox.add_argument("--slack-port", type=int, default=0, help="default: a free port")
    sandbox.add_argument(
        "--fault-rate", type=_fault_rate, default=0.0, help="share of requests that fail (0..1)"
    )
    sandbox.add_argument("--seed", type=int, default=0, help="makes ids and faults reproducible")
    sandbox.add_argument("--state", metavar="FILE", help="keep the workspace in FILE across runs")
    sandbox.set_defaults(handler=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result
