"""Command line: parse arguments, load settings, hand over to the runtime (exit codes here)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from types import FrameType

from dotenv import load_dotenv

from worker import __version__, logs
from worker.check import Checker, CheckResult, as_json, settings_results, summary
from worker.config import Settings, normalize_notion_id
from worker.errors import ConfigError, WorkerError
from worker.inbound.service import Inbound
from worker.notion import NotionGateway
from worker.pages.preview import as_blocks_json, render_incident, render_sample
from worker.pages.samples import SAMPLE_VARIANTS
from worker.reports import NagReport, PollReport
from worker.runtime import Runtime, set_up
from worker.runtimes import Runtimes
from worker.sandbox import NotionLimits, Sandbox, SandboxOptions, WindowLimit
from worker.scheduler import Loop, Loops, utc_now
from worker.slack import SlackGateway
from worker.store import Store
from worker.web import ALL_INTERFACES, WebServer, create_app

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _load_settings(
    *, require_workspace: bool = True, require_durable_store: bool | None = None
) -> Settings:
    # .env is read here only, never at import time; real environment variables win.
    load_dotenv(dotenv_path=Path.cwd() / ".env", override=False)
    settings = Settings.from_env(
        os.environ,
        require_workspace=require_workspace,
        require_durable_store=require_durable_store,
    )
    logs.configure(settings.log_format, _secrets(settings))
    return settings


def _secrets(settings: Settings) -> tuple[str, ...]:
    return (
        settings.notion_token.reveal(),
        settings.slack_bot_token.reveal(),
        settings.database_url.reveal(),
    )


def _on_stop_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _store_opener(settings: Settings) -> Callable[[], Store]:
    """How `check` and `render` open the state store when (and if) they need it."""
    return partial(Store.open, settings.database_url.reveal())


def run_checks(settings: Settings) -> list[CheckResult]:
    """What `check` reports past the settings (and the worker checks before starting)."""
    notion = NotionGateway.build(settings)
    slack = SlackGateway.build(settings)
    try:
        return Checker(settings, notion, slack, _store_opener(settings)).run()
    finally:
        notion.close()


def _cmd_check(args: argparse.Namespace) -> int:
    load_dotenv(dotenv_path=Path.cwd() / ".env", override=False)
    settings, results = settings_results(os.environ)
    if settings is not None:
        logs.configure(settings.log_format, _secrets(settings))
        results += run_checks(settings)
    if args.json:
        print(json.dumps(as_json(results), ensure_ascii=False, indent=2))
    else:
        for result in results:
            print(result.line())
        print(summary(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _load_settings()
    return _run_worker(settings, skip_checks=args.skip_checks, host=args.host, port=args.port)


def _cmd_serve(args: argparse.Namespace) -> int:
    # The Procfile `web` process: the very same worker loop as `run`, plus /healthz and
    # /metrics on PORT, in one process. Procfile platforms often run only a web dyno, and
    # only a process that runs the loop can tell whether its polls succeed (a separate
    # HTTP-only process would report on a loop it cannot see). `run --port N` exposes the
    # same from a worker process where no web process runs. With both scaled up, the lease
    # lets only one of them act; the other reports itself as a healthy standby.
    settings = _load_settings()
    port = settings.port if args.port is None else args.port
    return _run_worker(settings, skip_checks=args.skip_checks, host=args.host, port=port)


STARTUP_RETRIES_S = (2.0, 5.0, 10.0, 20.0)


def _refuse_on_problems(
    settings: Settings,
    stopping: threading.Event,
    run_checks: Callable[[Settings], list[CheckResult]] = run_checks,
) -> None:
    """Run the checks; a failure that may pass by itself (Notion or Slack briefly down) is
    checked again a few times before the worker refuses to start. A wait a service asks for
    (its rate limit: a minute, or longer) is waited out, however long, without counting."""
    results = run_checks(settings)
    for warning in (r for r in results if r.warning):
        logging.getLogger("worker.cli").warning("check: %s", warning.line())
    problems = [r for r in results if not r.ok]
    retries = iter(STARTUP_RETRIES_S)
    while problems and all(r.transient for r in problems):
        asked = [r.wait_s for r in problems if r.wait_s is not None]
        retry_s = 1.0 if len(asked) == len(problems) else next(retries, None)
        if retry_s is None or stopping.wait(max([retry_s, *asked])):
            break
        logging.getLogger("worker.cli").warning(
            "checks failed (%s); trying again", "; ".join(r.line() for r in problems)
        )
        problems = [r for r in run_checks(settings) if not r.ok]
    if problems:
        lines = "\n".join("  " + r.line() for r in problems)
        raise WorkerError(f"not starting; `incident-worker check` finds:\n{lines}")


def _serve(
    runtime: Runtimes, inbound: Inbound | None, host: str, port: int | None
) -> WebServer | None:
    """/healthz, /metrics and, with a signing secret, Slack's /slack/events on `port`."""
    if port is None:
        if inbound is not None and inbound.settings.inbound == "http":
            logging.getLogger("worker.cli").warning(
                "SLACK_SIGNING_SECRET is set, but this process serves no HTTP: Slack's events "
                "reach `incident-worker serve` (or `run --port N`) at /slack/events, or set "
                "SLACK_APP_TOKEN to use Socket Mode"
            )
        return None
    routes = inbound.routes if inbound is not None else []
    app = create_app(runtime.metrics, runtime.health, clock=runtime.clock, routes=routes)
    return WebServer(app, host=host, port=port).start()


def _run_worker(settings: Settings, *, skip_checks: bool, host: str, port: int | None) -> int:
    """The worker loop until SIGTERM; with a port, /healthz and /metrics are served too."""
    stopping = threading.Event()
    # Until the loop runs, SIGTERM skips what is left of the startup (it only reads).
    _on_stop_signals(stopping.set)
    if not skip_checks:
        _refuse_on_problems(settings, stopping)
    runtime = Runtimes.build(settings, should_stop=stopping.is_set)
    inbound = Inbound.build(settings, runtime.runtimes, runtime.shared.slack, clock=runtime.clock)
    server = None
    loop: Loop | Loops | None = None
    try:
        server = _serve(runtime, inbound, host, port)
        if not stopping.is_set():
            runtime.start()
        loop = runtime.loop()
        if inbound is not None and not stopping.is_set():
            inbound.start()

        def stop() -> None:
            stopping.set()
            runtime.health.stop()  # /healthz says so at once, before the loop winds down
            loop.stop()

        _on_stop_signals(stop)
        if not stopping.is_set():
            loop.run_until_stopped()
    finally:
        runtime.health.stop()
        if inbound is not None:
            inbound.stop()
        if server is not None:
            server.stop()
        if loop is None or loop.wait_idle(0):
            runtime.close()
        # else: a pass outlived the grace. It ends with the process; the lease is kept (its
        # fencing token still guards the pass) and expires within LEASE_TTL, and the outbox
        # retries what the pass left undone.
    return EXIT_OK


def _cmd_once(args: argparse.Namespace) -> int:
    del args
    settings = _load_settings()
    # One pass over every database whose lease is free: not a replica's share of them.
    runtimes = Runtimes.build(settings, greedy=True)
    try:
        runtimes.start()
        now = runtimes.clock()
        passes = [_one_pass(runtime, now) for runtime in runtimes.runtimes]
    finally:
        runtimes.close()
    if len(passes) == 1 and passes[0][1] is None:
        raise WorkerError(f"not polling: {passes[0][0]} and is running the worker")
    ok = True
    for said, report, nags in passes:
        if report is None:
            print(f"not polled: {said}")
            ok = False
            continue
        print(f"{said}{report.summary()}")
        ok = ok and report.ok
        if nags is not None and nags.queued:
            print(f"{said}nudges: {nags.queued} queued, {nags.delivery.done} delivered")
    return EXIT_OK if ok else EXIT_FAILED


def _one_pass(runtime: Runtime, now: datetime) -> tuple[str, PollReport | None, NagReport | None]:
    """`once` for one database: a poll and a nudge pass, the background work too, all of it.
    First what to say before its report ("<name>: " with several databases), or who holds
    its lease instead."""
    report = runtime.poll(now)
    nags = runtime.nag(now) if report is not None else None
    if nags is not None:
        runtime.between_polls(nags.delivery, until_s=math.inf)
    name = f"{runtime.name}: " if runtime.name is not None else ""
    if report is None:
        holder = runtime.lease.current_holder()
        who = holder[0] if holder else "another replica"
        return f"{name}{who} holds the lease", None, None
    return name, report, nags


def _cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the state store's schema up to date (the Procfile's release step)."""
    del args
    settings = _load_settings(require_workspace=False, require_durable_store=True)
    store = Store.open(settings.database_url.reveal())
    try:
        version = store.schema_version()
    finally:
        store.close()
    print(f"state store schema is at version {version}")
    return EXIT_OK


def _cmd_setup(args: argparse.Namespace) -> int:
    settings = _load_settings(require_workspace=False)
    if not settings.notion_token:
        raise ConfigError.single("NOTION_TOKEN", "is not set; setup needs it", "ntn_...")
    try:
        parent = normalize_notion_id(args.parent_page)
        result = set_up(
            settings,
            parent,
            title=args.title,
            force=args.force,
            with_postmortems=args.with_postmortems,
        )
    except ValueError as exc:
        raise WorkerError(f"--parent-page: {exc}") from exc
    if result.created:
        print(f"Created the {args.title} database. Put this line in .env:\n", file=sys.stderr)
    else:
        print(
            f"An {args.title} database already exists under that page; using it "
            "(run with --force to create another). Put this line in .env:\n",
            file=sys.stderr,
        )
    listed = [database.id for database in settings.databases]
    if listed and result.database_id not in listed:
        print(
            f"NOTION_INCIDENTS_DATABASE_ID already lists {len(listed)} database(s); this one "
            "joins them (its incidents go to SLACK_CHANNEL_ID, or give it a channel of its "
            f"own: INCIDENT_ROUTES={result.database_id}=C…):\n",
            file=sys.stderr,
        )
    print(result.env_lines(listed), end="")
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    settings = _load_settings(require_workspace=False)
    if args.locale:
        settings = replace(settings, locale=args.locale)
    if args.incident:
        if not settings.notion_token:
            raise ConfigError.single("NOTION_TOKEN", "is needed to read an incident", "ntn_...")
        notion = NotionGateway.build(settings)
        try:
            page_id = normalize_notion_id(args.incident)
            markdown = render_incident(
                args.page,
                settings,
                notion,
                page_id,
                open_store=_store_opener(settings),
                now=utc_now(),
            )
        finally:
            notion.close()
    else:
        markdown = render_sample(args.page, settings, args.sample)
    print(as_blocks_json(markdown) if args.blocks else markdown, end="")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from worker.demo import run_demo  # noqa: PLC0415 - the demo pulls in the whole sandbox story

    return run_demo(locale=args.locale)


def sandbox_options(args: argparse.Namespace) -> SandboxOptions:
    """The options of `incident-worker sandbox` from its arguments."""
    return SandboxOptions(
        notion_port=args.notion_port,
        slack_port=args.slack_port,
        fault_rate=args.fault_rate,
        seed=args.seed,
        fault_scope=args.fault_scope,
        notion_conflict_window_s=args.conflict_window,
        state_file=Path(args.state) if args.state else None,
        events_url=args.events_url,
        notion_limits=NotionLimits(
            connection=WindowLimit(args.notion_budget, args.notion_window),
            workspace=WindowLimit(args.notion_workspace_budget, args.notion_workspace_window),
        ),
    )


def _cmd_sandbox(args: argparse.Namespace) -> int:
    options = sandbox_options(args)
    stop = threading.Event()
    _on_stop_signals(stop.set)
    sandbox = Sandbox(options).start()
    try:
        sys.stdout.write(json.dumps(sandbox.info()) + "\n")
        sys.stdout.flush()
        stop.wait()
    finally:
        sandbox.stop()
    return EXIT_OK


def _fault_rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text}")
    return value


def _tcp_port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0: any free one), got {text}")
    return value


def _worker_options(parser: argparse.ArgumentParser, *, port_help: str) -> None:
    parser.add_argument(
        "--skip-checks", action="store_true", help="start without running `check` first"
    )
    parser.add_argument("--port", type=_tcp_port, help=port_help)
    parser.add_argument(
        "--host", default=ALL_INTERFACES, help=f"interface to listen on (default {ALL_INTERFACES})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-worker",
        description="Mirror a Notion Incidents database into Slack threads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="poll on a schedule until SIGTERM")
    _worker_options(run, port_help="also serve /healthz and /metrics on this port")
    run.set_defaults(handler=_cmd_run)
    serve = commands.add_parser(
        "serve", help="the web process: `run` plus /healthz and /metrics on PORT"
    )
    _worker_options(serve, port_help="default: PORT (8000)")
    serve.set_defaults(handler=_cmd_serve)
    check = commands.add_parser("check", help="check settings, tokens, schema, channel, templates")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.set_defaults(handler=_cmd_check)
    commands.add_parser("once", help="one sync pass; the exit code tells success").set_defaults(
        handler=_cmd_once
    )

    commands.add_parser(
        "migrate", help="create or upgrade the state store's tables (Procfile release step)"
    ).set_defaults(handler=_cmd_migrate)

    setup = commands.add_parser("setup", help="create the Incidents database in Notion")
    setup.add_argument("--parent-page", required=True, help="id or URL of a page shared with us")
    setup.add_argument("--title", default="Incidents", help="database title (default Incidents)")
    setup.add_argument("--force", action="store_true", help="create another even if one exists")
    setup.add_argument(
        "--with-postmortems",
        action="store_true",
        help="also create a Postmortems database (drafts get an owner, a status and a due date)",
    )
    setup.set_defaults(handler=_cmd_setup)

    render = commands.add_parser(
        "render", help="preview a page template as Markdown (or --blocks: Notion JSON)"
    )
    render.add_argument("page", choices=("timeline", "postmortem"))
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--incident", metavar="PAGE_ID", help="an incident row (id or URL)")
    source.add_argument(
        "--sample",
        nargs="?",
        const="basic",
        choices=SAMPLE_VARIANTS,
        help="a sample incident (basic, japanese, long, hostile, sparse)",
    )
    render.add_argument("--blocks", action="store_true", help="print the Notion requests as JSON")
    render.add_argument("--locale", choices=("en", "ja"), help="default: LOCALE")
    render.set_defaults(handler=_cmd_render)

    demo = commands.add_parser("demo", help="play a whole incident on the bundled sandbox")
    demo.add_argument("--locale", choices=("en", "ja"), default="en")
    demo.set_defaults(handler=_cmd_demo)

    sandbox = commands.add_parser("sandbox", help="serve the Notion and Slack emulators")
    sandbox.add_argument("--notion-port", type=int, default=0, help="default: a free port")
    sandbox.add_argument("--slack-port", type=int, default=0, help="default: a free port")
    sandbox.add_argument(
        "--fault-rate", type=_fault_rate, default=0.0, help="share of requests that fail (0..1)"
    )
    sandbox.add_argument(
        "--fault-scope",
        choices=("all", "bot"),
        default="all",
        help="fault every request, or only the worker's (its Notion and Slack bot tokens)",
    )
    sandbox.add_argument(
        "--conflict-window",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="two users' writes to one Notion page this close together collide: the later "
        "answers 409 conflict_error (default 0: never)",
    )
    limits = NotionLimits()
    sandbox.add_argument(
        "--notion-budget",
        type=int,
        default=limits.connection.budget,
        help="Notion requests per connection per window (0: no limit; default %(default)s)",
    )
    sandbox.add_argument(
        "--notion-window",
        type=float,
        default=limits.connection.window_s,
        help="seconds in a connection's window (default %(default)s, as Notion documents)",
    )
    sandbox.add_argument(
        "--notion-workspace-budget",
        type=int,
        default=limits.workspace.budget,
        help="Notion requests per window for the whole workspace (0: no limit; default "
        "%(default)s)",
    )
    sandbox.add_argument(
        "--notion-workspace-window",
        type=float,
        default=limits.workspace.window_s,
        help="seconds in the workspace's window (default %(default)s)",
    )
    sandbox.add_argument("--seed", type=int, default=0, help="makes ids and faults reproducible")
    sandbox.add_argument("--state", metavar="FILE", help="keep the workspace in FILE across runs")
    sandbox.add_argument(
        "--events-url",
        metavar="URL",
        help="POST Slack events, interactions and commands here (signed) while no Socket "
        "Mode connection is open (default: hold them until one is, or until "
        "POST /_sandbox/events-url sets a URL)",
    )
    sandbox.set_defaults(handler=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        print(f"incident-worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WorkerError as exc:
        print(f"incident-worker: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    return result
