"""Demo: the whole story on the bundled sandbox — setup, a scripted incident, the transcript."""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import notion_client
from slack_sdk import WebClient

from worker.buttons_blocks import POST_UPDATE, UPDATE_BLOCK, UPDATE_INPUT
from worker.config import Settings
from worker.errors import WorkerError
from worker.inbound.service import Inbound
from worker.pages.to_markdown import blocks_to_markdown
from worker.record import IncidentRecord
from worker.runtime import Runtime, set_up
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.people import people, rich, select, title
from worker.sandbox.workspace import SandboxPerson

STEP_TIMEOUT_S = 20.0
DEMO_SEV2_CADENCE = "6s"


@dataclass(frozen=True)
class Script:
    """The words of the scripted incident, per locale."""

    title: str
    impact: str
    updates: tuple[str, str]
    # What the commander says in the thread, which the scribe pins to the timeline.
    note: str
    timezone: str


SCRIPTS = {
    "en": Script(
        title="Checkout API returning 500s",
        impact="About 30% of checkout requests fail in eu-west; card payments are affected.",
        updates=(
            "Deploy 4812 rolled back; the error rate is falling. Next update in 15 minutes.",
            "Error rate back to baseline for 10 minutes; watching the payment queue drain.",
        ),
        note="Two options: *revert* deploy 4812 or patch forward. Reverting — expect recovery "
        "by 14:30.",
        timezone="UTC",
    ),
    "ja": Script(
        title="決済 API が 500 エラーを返している",
        impact="eu-west で決済リクエストの約 30% が失敗。カード決済に影響あり 💳",
        updates=(
            "デプロイ 4812 をロールバックしました。エラー率は低下中。次回報告は 15 分後。",
            "エラー率は 10 分間平常値。決済キューの消化を監視中です。",
        ),
        note="選択肢は 2 つ: デプロイ 4812 の *切り戻し* か修正の前進。"
        "切り戻します。14:30 までに回復見込み。",
        timezone="Asia/Tokyo",
    ),
}


class Story:
    """Plays the incident the way people would: each edit made with that person's token."""

    def __init__(
        self,
        box: Sandbox,
        data_source_id: str,
        script: Script,
        idle: Callable[[], bool],
        noted: Callable[[], bool],
    ) -> None:
        self.box = box
        self.idle = idle
        # Whether the timeline page has the pinned note yet.
        self.noted = noted
        self.data_source_id = data_source_id
        self.script = script
        self.page_id = ""
        self.thread_ts = ""

    def client(self, person: SandboxPerson) -> notion_client.Client:
        return notion_client.Client(auth=person.notion_token, base_url=self.box.notion_base_url)

    def edit(self, person: SandboxPerson, properties: dict[str, Any]) -> None:
        client = self.client(person)
        try:
            client.pages.update(page_id=self.page_id, properties=properties)
        finally:
            client.close()

    def replies(self) -> list[dict[str, Any]]:
        if not self.thread_ts:
            return []
        return self.box.slack.thread(self.box.workspace.slack_channel_id, self.thread_ts)[1:]

    def wait_for(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise WorkerError(f"demo: the worker did not {what} within {STEP_TIMEOUT_S:.0f}s")
            time.sleep(0.1)

    def step(self, person: SandboxPerson, properties: dict[str, Any], what: str) -> None:
        # People read the thread before they act: wait until the worker has caught up.
        self.wait_for("catch up", self.idle)
        count = len(self.replies())
        self.edit(person, properties)
        self.wait_for(what, lambda: len(self.replies()) > count)

    def declare(self, person: SandboxPerson) -> None:
        client = self.client(person)
        try:
            page = client.pages.create(
                parent={"data_source_id": self.data_source_id},
                properties={
                    "Name": title(self.script.title),
                    "Severity": select("SEV2"),
                    "Status": select("Investigating"),
                    "Impact": rich(self.script.impact),
                },
            )
        finally:
            client.close()
        if not isinstance(page, dict):
            raise WorkerError("demo: Notion did not answer with a page")
        self.page_id = str(page["id"])
        channel = self.box.workspace.slack_channel_id

        def announced() -> bool:
            messages = self.box.slack.channel_messages(channel)
            if messages:
                self.thread_ts = str(messages[-1]["ts"])
            return bool(messages)

        self.wait_for("announce the incident", announced)

    def wait_for_nudge(self) -> str:
        """Nobody posts an update in time: the worker reminds the commander in the thread
        (the reminder's ts)."""
        count = len(self.replies())
        self.wait_for("nudge the commander", lambda: len(self.replies()) > count)
        return str(self.replies()[-1]["ts"])

    def pin_note(self, author: SandboxPerson, pinner: SandboxPerson) -> None:
        """The commander says what is going on in the thread; the scribe pins it, and the
        worker puts it on the timeline page (with its own time and author)."""
        channel = self.box.workspace.slack_channel_id
        said = self.slack(author).chat_postMessage(
            channel=channel, thread_ts=self.thread_ts, text=self.script.note
        )
        self.slack(pinner).pins_add(channel=channel, timestamp=str(said["ts"]))
        self.wait_for("put the pinned note on the timeline", self.noted)

    def answer_with_button(self, person: SandboxPerson, reminder_ts: str, text: str) -> None:
        """The commander answers the reminder where it is: *Post update*, type, submit."""
        self.wait_for("catch up", self.idle)
        count = len(self.replies())
        channel = self.box.workspace.slack_channel_id
        self.box.slack.click(person.slack_id, POST_UPDATE, channel=channel, ts=reminder_ts)
        (view,) = self.box.slack.views(person.slack_id)
        self.box.slack.submit(person.slack_id, view["id"], {UPDATE_BLOCK: {UPDATE_INPUT: text}})
        self.wait_for("post the update from Slack", lambda: len(self.replies()) > count)

    def slack(self, person: SandboxPerson) -> WebClient:
        return WebClient(token=person.slack_token, base_url=self.box.slack_base_url)

    def play(self) -> None:
        ws = self.box.workspace
        aiko, ben, chidi = ws.person("Aiko"), ws.person("Ben"), ws.person("Chidi")
        self.declare(aiko)
        self.step(ben, {"Commander": people(ben), "Scribe": people(chidi)}, "mirror the roles")
        self.step(ben, {"Status": select("Identified")}, "mirror the status")
        self.pin_note(ben, chidi)
        reminder = self.wait_for_nudge()
        self.answer_with_button(ben, reminder, self.script.updates[0])
        self.step(chidi, {"Severity": select("SEV1")}, "mirror the escalation")
        self.step(ben, {"Status update": rich(self.script.updates[1])}, "post the update")
        self.step(ben, {"Status": select("Monitoring")}, "mirror the mitigation")
        self.step(ben, {"Status": select("Resolved")}, "mirror the resolution")


# --- the transcript ----------------------------------------------------------------------

_EMOJI = {
    ":mega:": "📣",
    ":white_check_mark:": "✅",
    ":rotating_light:": "🚨",
    ":repeat:": "🔁",
    ":adhesive_bandage:": "🩹",
    ":alarm_clock:": "⏰",
    ":firefighter:": "🧑‍🚒",
    ":memo:": "📝",
}


def readable(mrkdwn: str, names: dict[str, str]) -> str:
    """Slack mrkdwn → what a reader sees: names for mentions, labels for links."""
    text = re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), mrkdwn)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    for code, emoji in _EMOJI.items():
        text = text.replace(code, emoji)
    text = text.replace("*", "").replace("\u2060", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [str(block["text"]["text"])]
    if kind == "context":
        return [" ".join(str(e.get("text", "")) for e in block.get("elements", []))]
    if kind == "section" and block.get("fields"):
        pairs = [str(f["text"]).split("\n", 1) for f in block["fields"]]
        return ["   ".join(f"{p[0]}: {p[1] if len(p) > 1 else ''}" for p in pairs)]
    if kind == "section":
        return str(block["text"]["text"]).split("\n")
    if kind == "actions":
        return ["  ".join(f"[ {e['text']['text']} ]" for e in block.get("elements", []))]
    return []


def format_message(
    message: dict[str, Any], names: dict[str, str], tz: ZoneInfo, indent: str
) -> str:
    when = datetime.fromtimestamp(float(message["ts"]), UTC).astimezone(tz).strftime("%H:%M:%S")
    author = names.get(str(message.get("user", "")), "incident-worker")
    lines = [line for block in message.get("blocks") or [] for line in _block_lines(block)]
    if not lines:
        lines = [str(message.get("text", ""))]
    broadcast = (
        "  (also sent to the channel)" if message.get("subtype") == "thread_broadcast" else ""
    )
    pad = " " * len(indent)
    out = [f"{indent}{when}  {author}{broadcast}"]
    out += [f"{pad}          {readable(line, names)}" for line in lines if line.strip()]
    return "\n".join(out)


def transcript(box: Sandbox, thread_ts: str, tz: ZoneInfo) -> str:
    ws = box.workspace
    names = {p.slack_id: p.name for p in ws.people}
    names[ws.slack_bot_user_id] = ws.slack_bot_name
    messages = box.slack.thread(ws.slack_channel_id, thread_ts)
    parts = [format_message(messages[0], names, tz, "")]
    parts += [format_message(m, names, tz, "  ↳ ") for m in messages[1:]]
    return "\n\n".join(parts)


def _pages_markdown(runtime: Runtime, record: IncidentRecord | None) -> list[tuple[str, str]]:
    """The timeline and postmortem pages as Markdown, read back from (emulated) Notion."""
    if record is None:
        return []
    found = [
        ("Timeline page (Notion)", record.timeline_page_id),
        ("Postmortem page (Notion)", record.postmortem_page_id),
    ]
    return [
        (title, blocks_to_markdown(runtime.notion.read_tree(page_id)))
        for title, page_id in found
        if page_id
    ]


def _settings(box: Sandbox, database_id: str, state_dir: Path, locale: str) -> Settings:
    env = {
        **box.worker_env(database_id),
        "DATABASE_URL": f"sqlite:///{state_dir / 'state.db'}",
        "POLL_INTERVAL": "1s",
        "NAG_INTERVAL": "1s",
        # Second-scale cadence for SEV2 so the story shows a reminder and its answer.
        "UPDATE_CADENCE": f"SEV1=15m,SEV2={DEMO_SEV2_CADENCE},SEV3=60m,SEV4=off",
        "LOCALE": locale,
        "TIMEZONE": SCRIPTS[locale].timezone,
        # Listening to Slack over Socket Mode: the pinned note and the reminder's button.
        "SLACK_APP_TOKEN": box.workspace.slack_app_token,
    }
    return Settings.from_env(env)


def run_demo(locale: str = "en", out: TextIO = sys.stdout) -> int:
    started = time.monotonic()
    script = SCRIPTS[locale]
    with Sandbox(SandboxOptions(seed=42)) as box, tempfile.TemporaryDirectory() as tmp:
        bootstrap = Settings.from_env(
            {"NOTION_TOKEN": box.workspace.notion_token, "NOTION_BASE_URL": box.notion_base_url},
            require_workspace=False,
        )
        setup = set_up(bootstrap, box.workspace.parent_page_id)
        out.write(f"setup: created the Incidents database {setup.database_id}\n")
        settings = _settings(box, setup.database_id, Path(tmp), locale)
        runtime = Runtime.build(settings)
        runtime.start()
        loop = runtime.loop()
        thread = threading.Thread(target=loop.run_until_stopped, daemon=True)
        thread.start()
        inbound = Inbound.build(settings, [runtime], runtime.slack, clock=runtime.clock)
        if inbound is None:
            raise WorkerError("demo: inbound Slack is not configured")
        inbound.start()

        def idle() -> bool:
            return not runtime.store.due_actions(runtime.clock())

        def noted() -> bool:
            record = runtime.store.get_record(story.page_id)
            if record is None or record.timeline_page_id is None:
                return False
            # Both scripts' notes give a time of recovery; nothing else in the story does.
            return "14:30" in blocks_to_markdown(runtime.notion.read_tree(record.timeline_page_id))

        story = Story(box, runtime.notion.data_source_id(), script, idle, noted)
        try:
            story.play()
        finally:
            inbound.stop()
            loop.stop()
            thread.join(5)
            loop.wait_idle(30)  # the passes below must not run beside one still going
        # One last pass so the parent message shows the final state of the row, and the
        # postmortem is written.
        for _ in range(3):
            runtime.poll(runtime.clock())
        record = runtime.store.get_record(story.page_id)
        pages = _pages_markdown(runtime, record)
        runtime.close()
        tz = settings.timezone
        out.write(f"\n#{box.workspace.slack_channel_name} — the incident's thread\n\n")
        out.write(transcript(box, story.thread_ts, tz) + "\n\n")
        for title, markdown in pages:
            out.write(f"\n{title}\n{'─' * len(title)}\n\n{markdown.strip()}\n\n")
        out.write(
            f"cost: {runtime.notion.pacer.requests if runtime.notion.pacer else 0} Notion "
            f"requests and {runtime.slack.requests} Slack requests by the worker; "
            f"{time.monotonic() - started:.1f}s in all\n"
        )
    return 0
