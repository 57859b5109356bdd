"""End to end: no secret of the workspace's (the integration's and the bot's tokens, people's
tokens, a wrong token tried) appears in the logs, errors, reprs, `check` lines, Slack messages,
Notion pages or the emulators' request logs."""

from __future__ import annotations

import json
import logging

import pytest

from tests.e2e.harness import Harness, check, check_env, select
from worker.config import Secret, Settings
from worker.errors import ServiceError
from worker.notion import NotionGateway
from worker.slack import SlackGateway

WRONG_NOTION_TOKEN = "ntn_" + "W" * 46
WRONG_SLACK_TOKEN = "xoxb-000000000000-" + "W" * 24


def test_no_secret_appears_in_logs_errors_reprs_or_request_logs(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = h.box
    secrets = [box.workspace.notion_token, box.workspace.slack_token, WRONG_NOTION_TOKEN]
    secrets += [WRONG_SLACK_TOKEN]
    secrets += [p.notion_token for p in box.workspace.people]
    secrets += [p.slack_token for p in box.workspace.people]
    seen: list[str] = []
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    seen.append(repr(h.runtime))
    seen.append(repr(h.settings()))

    wrong = Settings.from_env(
        check_env(h, NOTION_TOKEN=WRONG_NOTION_TOKEN, SLACK_BOT_TOKEN=WRONG_SLACK_TOKEN)
    )
    notion = NotionGateway.build(wrong)
    slack = SlackGateway.build(wrong)
    for call in (notion.me, notion.data_source_id, slack.auth, lambda: slack.join(h.channel)):
        with pytest.raises(ServiceError) as caught:
            call()
        assert caught.value.status == 401 or caught.value.code == "invalid_auth"
        seen += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    notion.close()
    seen += [r.line() for r in check(check_env(h, NOTION_TOKEN=WRONG_NOTION_TOKEN))]
    seen += [r.line() for r in check(check_env(h))]
    assert repr(Secret(WRONG_NOTION_TOKEN)) == "Secret('***')"

    box.notion.share(box.workspace.parent_page_id, shared=False)
    with pytest.raises(ServiceError) as unshared:
        h.poll()
    seen.append(str(unshared.value))
    box.notion.share(box.workspace.parent_page_id, shared=True)

    seen.append(caplog.text)
    seen += [logging.Formatter().format(r) for r in caplog.records]
    seen.append(json.dumps(box.notion_log.entries()))
    seen.append(json.dumps(box.slack_log.entries()))
    seen.append(json.dumps(box.slack.all_messages(), ensure_ascii=False))
    seen.append(json.dumps(box.notion.dump(), ensure_ascii=False))
    everything = "\n".join(seen)
    assert "401" in json.dumps(box.notion_log.entries())  # the failures were recorded
    leaks = [s[:10] + "…" for s in secrets if s in everything]
    assert leaks == []
