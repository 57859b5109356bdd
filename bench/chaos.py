"""Chaos: the demo's incident for 20 incidents on a faulty sandbox while the worker is killed
with SIGKILL and restarted, compared with a fault-free run: lost / duplicated / mismatched
messages and pages (goal 0 / 0 / 0). `--rate-limits` turns the sandbox's limits on;
`--replicas 2` runs two workers on one PostgreSQL state store, each killed on its own.
People also act in Slack (unless `--inbound off`): they reply in each incident's thread, pin
or 📌 replies (two withdrawn, one edited) and post an update with the parent message's button,
heard over Socket Mode; the worker is also killed right after it acknowledges an event or a
click. `make chaos` runs the three variants in turn."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.chaos_scenario import ChaosConfig, Comparison, RunResult, compare, play_both


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument(
        "--seed", type=int, default=1, help="makes the faults and kills reproducible"
    )
    parser.add_argument("--min-kills", type=int, default=10, help="fewer kills fail the run")
    parser.add_argument(
        "--rate-limits", action="store_true", help="the sandbox's Notion/Slack rate limits on"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="worker processes sharing one state store (PostgreSQL when more than one)",
    )
    parser.add_argument(
        "--inbound",
        choices=("socket", "http", "off"),
        default="socket",
        help="people in Slack too, heard over Socket Mode (default) or signed HTTP at "
        "`run --port`'s /slack/events (one worker), or not at all",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the state files and worker logs here")
    return parser


def _faults_line(result: RunResult) -> str:
    total = sum(result.faults.values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result.faults.items()))
    return f"faults injected: {total} of {result.requests} requests ({kinds or 'none'})"


def _inbound_line(result: RunResult) -> str:
    c = result.inbound
    return (
        f"inbound Slack: {c['events']} events ({c['events redelivered']} redelivered, "
        f"{c['events never acknowledged']} never acknowledged), {c['interactions']} "
        f"interactions ({c['clicks']} clicks, {c['submissions']} submissions; "
        f"{c['interactions never acknowledged']} not acknowledged, tried again), "
        f"from {c['pins']} pins and 📌 by people"
    )


def report(
    *,
    command: str,
    config: ChaosConfig,
    reference: RunResult,
    chaos: RunResult,
    diff: Comparison,
    min_kills: int,
) -> tuple[str, bool]:
    enough_kills = chaos.kills >= min_kills
    ok = diff.clean and enough_kills
    workers = (
        f"workers: {chaos.replicas} replicas on one PostgreSQL state store, each"
        if chaos.replicas > 1
        else "worker:"
    )
    lines = [
        f"command: {command}",
        f"scenario: {config.incidents} incidents x (declare SEV2, roles, Identified, update, "
        + (
            "4 replies pinned or 📌 in Slack then 2 withdrawn and 1 edited, an update posted "
            "with the button, "
            if config.inbound != "off"
            else ""
        )
        + "SEV1, update, Monitoring, Resolved)"
        + (", with the sandbox's rate limits" if config.rate_limits else ""),
        f"{workers} killed with SIGKILL and started again: {chaos.kills} kills "
        f"({chaos.kills_before_answer} of them when a post, page or append was carried out but "
        f"not yet answered, {chaos.kills_after_ack} right after Slack heard an acknowledgement), "
        f"{chaos.starts} starts, {chaos.exits} exits of their own",
        _faults_line(chaos),
        *([_inbound_line(chaos)] if config.inbound != "off" else []),
        diff.messages.line("messages"),
        diff.pages.line("pages"),
        *(
            [
                diff.notes.line("timeline entries from Slack"),
                diff.updates.line("updates posted with the button"),
            ]
            if config.inbound != "off"
            else []
        ),
        f"wall time: {chaos.wall_s:.1f}s (the fault-free run: {reference.wall_s:.1f}s)",
    ]
    lines += diff.details[:200]
    tallies = diff.tallies()
    figures = (
        f"{sum(t.lost for t in tallies)} lost / {sum(t.duplicated for t in tallies)} duplicated / "
        f"{sum(t.mismatched for t in tallies)} mismatched"
    )
    if ok:
        verdict = f"verdict: PASS — {figures} across {chaos.kills} kills"
    elif not enough_kills:
        verdict = f"verdict: FAIL — only {chaos.kills} kills (wanted {min_kills}); {figures}"
    else:
        verdict = f"verdict: FAIL — {figures} (worker log: {chaos.log_path})"
    lines.append(verdict)
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = ChaosConfig(
        incidents=args.incidents,
        fault_rate=args.fault_rate,
        seed=args.seed,
        rate_limits=args.rate_limits,
        replicas=args.replicas,
        inbound=args.inbound,
    )
    given = sys.argv[1:] if argv is None else argv
    command = f"{shlex.join(['python', 'bench/chaos.py', *given])}" if given else "make chaos"
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="chaos-"))
    print(
        f"{config.incidents} incidents, fault-free and with faults at {config.fault_rate} "
        f"(seed {config.seed}) and SIGKILLs, side by side…",
        flush=True,
    )
    reference, chaos = play_both(config, root, lambda line: print(line, flush=True))
    text, ok = report(
        command=command,
        config=config,
        reference=reference,
        chaos=chaos,
        diff=compare(reference, chaos),
        min_kills=args.min_kills,
    )
    print(text)
    if ok and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
