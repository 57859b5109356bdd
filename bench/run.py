"""Benchmarks: run them (all, or `--only idle,latency`) and print one Markdown table, each
figure with its goal, whether it is met (by how much it is missed) and its command.

.venv/bin/python bench/run.py            # what `make bench` runs (under 20 minutes on 2 CPUs)
.venv/bin/python bench/run.py --quick    # a smoke run: smaller sizes, fewer samples
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import burst
import databases
import idle
import inbound
import latency
import memory
import request_costs
import store
from common import Row, machine_facts, markdown_table, progress

BENCHMARKS: dict[str, Callable[..., list[Row]]] = {
    "idle": idle.run,
    "latency": latency.run,
    "burst": burst.run,
    "inbound": inbound.run,
    "memory": memory.run,
    "store": store.run,
    "costs": request_costs.run,
    "databases": databases.run,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer samples (a smoke run)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = names
    return args


def command_for(name: str, *, quick: bool) -> str:
    """The command that measures one benchmark's figures alone."""
    return f"`python bench/run.py --only {name}{' --quick' if quick else ''}`"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    rows: list[Row] = []
    failed: list[str] = []
    for name in args.names:
        began = time.perf_counter()
        command = command_for(name, quick=args.quick)
        try:
            measured = BENCHMARKS[name](quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
            measured = [Row(name, "failed", f"{type(exc).__name__}: {exc}", "", False)]
        rows += [replace(row, command=command) for row in measured]
        progress(f"{name}: {time.perf_counter() - began:.0f} s")
    elapsed = time.perf_counter() - started
    whole = " ".join(["python bench/run.py", *argv]).strip()
    print()
    print(f"Command: `{whole}` (`make bench` runs it with no arguments)  ")
    for fact in machine_facts():
        print(f"{fact}  ")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Run on {when}; {elapsed:.0f} s in all{' (quick mode)' if args.quick else ''}")
    print()
    print(markdown_table(rows))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
