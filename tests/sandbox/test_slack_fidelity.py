"""Slack emulator vs the reference material: response shapes, spec schemas, errors, scopes, tiers.

Sources (reference/slack, see PROVENANCE.md): java-slack-sdk json-logs samples (union shapes
of real responses), python-slack-sdk fixtures, the 2020 OpenAPI document, and the 2026
method catalog (errors, scopes, rate tiers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import reduce
from typing import Any

import jsonschema
import pytest
from slack_sdk.errors import SlackApiError

from tests.sandbox.slack_reference import (
    SlackHarness,
    block_catalogue,
    catalog,
    catalog_scopes,
    catalog_tier,
    common_errors,
    java_sample,
    python_fixture,
    sample_at,
    serve_slack,
    shape_problems,
    spec_errors,
    spec_example,
    spec_success_schema,
    union,
)
from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.slack.directory import Directory
from worker.sandbox.slack.dispatch import Dispatcher, UndeclaredError
from worker.sandbox.slack.errors import COMMON_ERRORS, SlackError
from worker.sandbox.slack.limits import RateLimiter
from worker.sandbox.slack.methods import METHODS, Call, Method
from worker.sandbox.slack.params import Params, ParsedRequest
from worker.sandbox.slack.render import Renderer
from worker.sandbox.slack.state import SlackState
from worker.sandbox.workspace import make_workspace

# Declared errors the catalog does not list, each with the reason we keep it.
KNOWN_GAPS = {
    ("conversations.replies", "not_in_channel"): (
        "a bot outside a public channel cannot read its threads (same rule as history, which "
        "lists not_in_channel); the catalog's replies page omits it"
    ),
    ("chat.update", "msg_blocks_too_long"): (
        "an update stores the same blocks a post does, and the total-text limit real Slack "
        "enforces (limits-measured.md) is not a posting rule; the catalog's update page omits it"
    ),
}
Responses = dict[str, list[dict[str, Any]]]
# Some exercised calls deliberately send blocks without top-level text.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


def _sample(method: str) -> dict[str, Any]:
    """The union shape real responses of `method` have been seen with."""
    if method in ("conversations.history", "conversations.replies"):
        # Both answer with the same message objects (java-slack-sdk's `Message` model); each
        # sample only shows the fields its recordings happened to contain.
        messages = union(
            java_sample("conversations.history")["messages"],
            java_sample("conversations.replies")["messages"],
        )
        # No recording read back a pinned message; message objects elsewhere carry
        # `pinned_to` when pinned (pins.list's example, the pin_added and message_replied
        # event samples), and so does ours.
        messages = [union(reduce(union, messages), {"pinned_to": [""]})]
        return {**java_sample(method), "messages": messages}
    if method == "conversations.list":
        # No java sample: a recorded python-slack-sdk answer, its channels merged with the
        # conversation object conversations.info answers with.
        channels = union(
            python_fixture("web_response_conversations_list")["channels"],
            [java_sample("conversations.info")["channel"]],
        )
        return {**python_fixture("web_response_conversations_list"), "channels": channels}
    if method in _WITHOUT_JAVA_SAMPLE:
        return _WITHOUT_JAVA_SAMPLE[method]()
    return java_sample(method)


def _views_sample() -> dict[str, Any]:
    """The 2020 spec's views.open example, plus the view keys real view_submission payloads
    carry (bolt-python tests/scenario_tests: `close`, `previous_view_id`,
    `app_installed_team_id`)."""
    example = spec_example("views.open") or {}
    extra = {"view": {"close": None, "previous_view_id": None, "app_installed_team_id": ""}}
    return dict(union(example, extra))


def _reactions_get_sample() -> dict[str, Any]:
    """The spec's schema for a message item (`type`, `channel`, `message`), the message as
    conversations.history answers it, with the permalink pins.list shows."""
    messages = _sample("conversations.history")["messages"]
    pinned = (spec_example("pins.list") or {})["items"][0]["message"]
    message = union(reduce(union, messages), pinned)
    return {"ok": True, "type": "message", "channel": "C00000000", "message": message}


def _pins_list_sample() -> dict[str, Any]:
    example = dict(spec_example("pins.list") or {})
    messages = _sample("conversations.history")["messages"]
    item = dict(example["items"][0])
    item["message"] = union(item["message"], reduce(union, messages))
    return {**example, "items": [item]}


_WITHOUT_JAVA_SAMPLE: dict[str, Callable[[], dict[str, Any]]] = {
    "reactions.remove": lambda: {"ok": True},
    "pins.remove": lambda: {"ok": True},
    "reactions.get": _reactions_get_sample,
    "pins.list": _pins_list_sample,
    "views.open": _views_sample,
    "views.push": _views_sample,
    "views.update": _views_sample,
}


def _record(responses: Responses, method: str, answer: Any) -> str:
    responses.setdefault(method, []).append(dict(answer.data))
    return str(answer.data.get("ts", ""))


def _exercise(slack: SlackHarness) -> Responses:
    """One of every success the worker will meet, with the bot's token and a person's."""
    seen: Responses = {}
    bot, channel = slack.bot, slack.channel
    _record(seen, "auth.test", bot.auth_test())
    _record(seen, "auth.test", slack.person(0).auth_test())
    _record(seen, "conversations.info", bot.conversations_info(channel=channel))
    _record(seen, "conversations.join", bot.conversations_join(channel=channel))
    _record(seen, "conversations.join", bot.conversations_join(channel=channel))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*SEV2* checkout", "verbatim": True},
        },
        {"type": "section", "fields": [{"type": "plain_text", "text": "Commander"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "declared by Aiko"}]},
        {"type": "divider"},
    ]
    metadata = {"event_type": "incident", "event_payload": {"page_id": "abc", "severity": 2}}
    parent = _record(seen, "chat.postMessage", slack.post("SEV2", blocks=blocks, metadata=metadata))
    reply = _record(seen, "chat.postMessage", slack.post("Identified", thread_ts=parent))
    _record(
        seen, "chat.postMessage", slack.post("Resolved", thread_ts=parent, reply_broadcast=True)
    )
    person = slack.person(1).chat_postMessage(channel=channel, text="on it", thread_ts=parent)
    _record(seen, "chat.postMessage", person)
    _record(seen, "chat.update", bot.chat_update(channel=channel, ts=parent, text="SEV2 (edited)"))
    _record(seen, "chat.update", bot.chat_update(channel=channel, ts=reply, blocks=blocks))
    _record(
        seen, "reactions.add", bot.reactions_add(channel=channel, name="eyes", timestamp=parent)
    )
    _record(seen, "pins.add", bot.pins_add(channel=channel, timestamp=parent))
    for ts in (parent, reply):
        _record(seen, "chat.getPermalink", bot.chat_getPermalink(channel=channel, message_ts=ts))
    ephemeral = bot.chat_postEphemeral(channel=channel, user=slack.person_id(0), text="psst")
    _record(seen, "chat.postEphemeral", ephemeral)
    for extra in ({"include_all_metadata": True}, {"limit": 1}):
        _record(seen, "conversations.history", bot.conversations_history(channel=channel, **extra))
        replies = bot.conversations_replies(channel=channel, ts=parent, **extra)
        _record(seen, "conversations.replies", replies)
    info = bot.conversations_info(channel=channel, include_num_members=True, include_locale=True)
    _record(seen, "conversations.info", info)
    _record(seen, "conversations.list", bot.conversations_list())
    for user in (slack.person_id(2), slack.workspace.slack_bot_user_id):
        _record(seen, "users.info", bot.users_info(user=user, include_locale=True))
    email = slack.workspace.people[3].email
    _record(seen, "users.lookupByEmail", bot.users_lookupByEmail(email=email))
    _record(seen, "chat.delete", bot.chat_delete(channel=channel, ts=reply))
    _exercise_inbound(slack, seen, parent)
    return seen


def _exercise_inbound(slack: SlackHarness, seen: Responses, parent: str) -> None:
    """The methods inbound Slack brought (reactions and pins read back, views, sockets)."""
    bot, channel = slack.bot, slack.channel
    _record(seen, "reactions.get", bot.reactions_get(channel=channel, timestamp=parent))
    _record(seen, "pins.list", bot.pins_list(channel=channel))
    _record(
        seen,
        "reactions.remove",
        bot.reactions_remove(channel=channel, name="eyes", timestamp=parent),
    )
    _record(seen, "pins.remove", bot.pins_remove(channel=channel, timestamp=parent))
    guest = slack.workspace.slack_guest
    assert guest is not None
    _record(seen, "users.info", bot.users_info(user=guest.slack_id))
    app_token = slack.workspace.slack_app_token
    _record(seen, "apps.connections.open", bot.apps_connections_open(app_token=app_token))
    modal = {
        "type": "modal",
        "callback_id": "post_update",
        "title": {"type": "plain_text", "text": "Post update"},
        "submit": {"type": "plain_text", "text": "Post"},
        "blocks": [
            {
                "type": "input",
                "block_id": "status",
                "label": {"type": "plain_text", "text": "Status"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }
    person = slack.person_id(0)
    trigger = slack.emulator.shortcut(person, "declare")["trigger_id"]
    opened = bot.views_open(trigger_id=trigger, view=modal)
    _record(seen, "views.open", opened)
    trigger = slack.emulator.shortcut(person, "declare")["trigger_id"]
    _record(seen, "views.push", bot.views_push(trigger_id=trigger, view=modal))
    view = opened["view"]
    _record(
        seen, "views.update", bot.views_update(view_id=view["id"], hash=view["hash"], view=modal)
    )


@pytest.fixture(scope="module")
def responses() -> Iterator[Responses]:
    with serve_slack() as slack:
        yield _exercise(slack)


def test_every_emulated_method_was_exercised(responses: Responses) -> None:
    assert set(responses) == set(METHODS)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_success_responses_use_only_keys_and_types_real_responses_use(
    responses: Responses, method: str
) -> None:
    sample = _sample(method)
    problems = [p for answer in responses[method] for p in shape_problems(answer, sample)]

    assert problems == []


def test_the_shape_check_catches_unknown_keys_and_wrong_types() -> None:
    sample = java_sample("chat.postMessage")
    posted = {"ok": True, "channel": "C1", "ts": "1.000000", "message": {"text": "x"}}

    assert shape_problems(posted, sample) == []
    assert shape_problems({**posted, "invented": 1}, sample) == [
        "$.invented: no real response has this key"
    ]
    assert shape_problems({**posted, "ts": 1.5}, sample) == [
        "$.ts: number where real responses have a string"
    ]
    wrong_block = {"text": "x", "blocks": [{"type": "divider", "color": "red"}]}
    assert shape_problems({**posted, "message": wrong_block}, sample) == [
        "$.message.blocks[0].color: no real response has this key"
    ]


def test_the_blocks_we_checked_against_have_real_samples() -> None:
    assert {"section", "context", "divider"} <= set(block_catalogue())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_success_responses_validate_against_the_2020_openapi_schemas(
    responses: Responses, method: str
) -> None:
    validator = jsonschema.Draft4Validator(spec_success_schema(method))
    problems: list[str] = []
    for answer in responses[method]:
        for error in validator.iter_errors(answer):
            if not _newer_than_spec(error, method):
                problems.append(f"{list(error.absolute_path)}: {error.message}")

    assert problems == []


def _newer_than_spec(error: jsonschema.ValidationError, method: str) -> bool:
    """Where the 2020 document disagrees with later recordings of real responses.

    Its schemas are closed (`additionalProperties: false`) and predate keys such as `app_id`,
    `metadata` and `root`, and a few of its types are wrong (`blocks` as an object). Such a
    disagreement is accepted only where the java samples show the emulator's key or type.
    """
    seen = sample_at(_sample(method), error.absolute_path)
    if error.validator == "type":
        return seen is not None and type(seen) is type(error.instance)
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return False
    schema = error.schema if isinstance(error.schema, dict) else {}
    extra = set(error.instance) - set(schema.get("properties", {}))
    return isinstance(seen, dict) and extra <= set(seen)


# Keys of the 2020 spec's example answers that the emulator leaves out, and why.
EXAMPLE_KEYS_LEFT_OUT = {
    ("chat.postMessage", "$.message.attachments"): "the example posted legacy attachments",
    ("chat.postMessage", "$.message.username"): "the example is a legacy bot_message",
    ("conversations.info", "$.channel.parent_conversation"): "shared-channel field, null here",
    ("users.info", "$.user.profile.image_original"): "only for custom avatars",
    ("reactions.get", "$.file"): "the example is a file's reactions; ours are a message's",
}


def _keys_left_out(example: Any, answer: Any, path: str = "$") -> set[str]:
    if not isinstance(example, dict) or not isinstance(answer, dict):
        return set()
    missing = {f"{path}.{key}" for key in example if key not in answer}
    for key in example.keys() & answer.keys():
        missing |= _keys_left_out(example[key], answer[key], f"{path}.{key}")
    return missing


# apps.connections.open is newer than the 2020 spec: no example to compare with.
@pytest.mark.parametrize("method", sorted(set(METHODS) - {"apps.connections.open"}))
def test_success_responses_carry_the_keys_of_the_spec_examples(
    responses: Responses, method: str
) -> None:
    example = spec_example(method)
    assert example is not None
    # A key counts as present if any of our answers of that method carries it.
    left_out = set.intersection(*(_keys_left_out(example, a) for a in responses[method]))

    assert left_out == {path for (m, path) in EXAMPLE_KEYS_LEFT_OUT if m == method}


def test_the_truncation_warning_is_the_documented_one() -> None:
    # Not in any java sample (it was never recorded). Slack's changelog shows the answer of a
    # truncated chat.postMessage: `"response_metadata": {"messages": ["[WARN] Your message was
    # truncated but still posted. The `text` field accepts up to 40,000 characters."],
    # "warnings": ["message_truncated"]}` and no top-level `warning`
    # (api.slack.com/changelog/2018-04-truncating-really-long-messages; slack-api.md §2).
    with serve_slack() as slack:
        answer = slack.post("x" * 40_001).data
        assert isinstance(answer, dict)
    extra = {k: v for k, v in answer.items() if k != "response_metadata"}
    assert shape_problems(extra, _sample("chat.postMessage")) == []
    assert "warning" not in answer
    assert answer["response_metadata"] == {
        "messages": [
            "[WARN] Your message was truncated but still posted. "
            "The `text` field accepts up to 40,000 characters."
        ],
        "warnings": ["message_truncated"],
    }


# -- errors ------------------------------------------------------------------------------------


def _allowed_errors(method: str) -> set[str]:
    return set(catalog(method)["errors"]) | common_errors() | spec_errors(method)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_declared_error_is_in_the_reference(method: str) -> None:
    declared = METHODS[method].errors
    unknown = {code for code in declared if code not in _allowed_errors(method)}

    assert unknown == {code for (m, code) in KNOWN_GAPS if m == method}


def test_the_known_gaps_are_still_gaps() -> None:
    for method, code in KNOWN_GAPS:
        assert code not in set(catalog(method)["errors"])


def test_errors_any_method_may_answer_are_common_ones() -> None:
    spec_wide = set().union(*(spec_errors(m) for m in METHODS))

    assert common_errors() | spec_wide >= COMMON_ERRORS


def test_an_undeclared_error_is_an_emulator_bug_not_an_answer() -> None:
    workspace = make_workspace(0)
    directory = Directory(workspace, 0)
    state = SlackState(workspace, 0)

    def invents(call: Call) -> dict[str, Any]:
        raise SlackError("made_up_error")

    dispatcher = Dispatcher(
        state=state,
        directory=directory,
        renderer=Renderer(directory, workspace.slack_team_id),
        limiter=RateLimiter(RateLimit(0, 0), tier_limits=False, clock=lambda: 0.0),
        lock=threading.RLock(),
        clock=lambda: 0.0,
        methods={"x.invent": Method("x.invent", invents, None, (), (), frozenset())},
    )
    request = ParsedRequest(Params({}), workspace.slack_token)

    with pytest.raises(UndeclaredError, match="made_up_error"):
        dispatcher.handle("x.invent", request)


def _failing_calls(slack: SlackHarness, hidden: str) -> list[tuple[str, Any]]:
    """(method, call) pairs that each fail; the emulator answers with some error code."""
    bot, channel = slack.bot, slack.channel
    theirs = slack.person(0).chat_postMessage(channel=channel, text="mine")["ts"]
    missing = "1234567890.000001"
    return [
        ("chat.postMessage", lambda: bot.chat_postMessage(channel=hidden, text="x")),
        ("chat.postMessage", lambda: bot.chat_postMessage(channel=channel, text="")),
        ("chat.postMessage", lambda: slack.post("x", blocks=[{"type": "nope"}])),
        ("chat.postMessage", lambda: slack.post("x", metadata={"event_payload": {}})),
        ("chat.update", lambda: bot.chat_update(channel=channel, ts=theirs, text="x")),
        ("chat.update", lambda: bot.chat_update(channel=channel, ts=missing, text="x")),
        ("chat.update", lambda: bot.chat_update(channel=hidden, ts=missing, text="x")),
        ("chat.delete", lambda: bot.chat_delete(channel=channel, ts=theirs)),
        ("chat.delete", lambda: bot.chat_delete(channel=channel, ts=missing)),
        ("chat.getPermalink", lambda: bot.chat_getPermalink(channel=channel, message_ts=missing)),
        (
            "chat.postEphemeral",
            lambda: bot.chat_postEphemeral(channel=channel, user="U0", text="x"),
        ),
        ("conversations.history", lambda: bot.conversations_history(channel=channel)),
        ("conversations.replies", lambda: bot.conversations_replies(channel=channel, ts=theirs)),
        ("conversations.info", lambda: bot.conversations_info(channel=hidden)),
        ("conversations.join", lambda: bot.conversations_join(channel=hidden)),
        ("conversations.list", lambda: bot.conversations_list(cursor="zz")),
        ("users.info", lambda: bot.users_info(user="U0NOBODY")),
        ("users.lookupByEmail", lambda: bot.users_lookupByEmail(email="no@example.com")),
        ("reactions.add", lambda: bot.reactions_add(channel=channel, name="x", timestamp=missing)),
        ("pins.add", lambda: bot.pins_add(channel=channel, timestamp=theirs)),
        ("auth.test", slack.client("xoxb-forged").auth_test),
    ]


def _archived_calls(slack: SlackHarness, ts: str) -> list[tuple[str, Any]]:
    bot, channel = slack.bot, slack.channel
    return [
        ("chat.postMessage", lambda: bot.chat_postMessage(channel=channel, text="x")),
        ("chat.update", lambda: bot.chat_update(channel=channel, ts=ts, text="x")),
        ("chat.delete", lambda: bot.chat_delete(channel=channel, ts=ts)),
        ("chat.postEphemeral", lambda: bot.chat_postEphemeral(channel=channel, user="U", text="x")),
        ("conversations.join", lambda: bot.conversations_join(channel=channel)),
        ("reactions.add", lambda: bot.reactions_add(channel=channel, name="eyes", timestamp=ts)),
    ]


def test_error_codes_answered_on_the_wire_are_in_the_reference() -> None:
    answered: set[tuple[str, str]] = set()
    with serve_slack() as slack:
        hidden = slack.emulator.create_private_channel("hidden")
        for method, call in _failing_calls(slack, hidden):
            with pytest.raises(SlackApiError) as failure:
                call()
            answered.add((method, str(failure.value.response["error"])))
        ts = slack.post("before the archive")["ts"]
        slack.emulator.archive_channel(slack.channel)
        for method, call in _archived_calls(slack, ts):
            with pytest.raises(SlackApiError) as failure:
                call()
            answered.add((method, str(failure.value.response["error"])))

    outside = {
        (method, code)
        for method, code in answered
        if code not in _allowed_errors(method) and (method, code) not in KNOWN_GAPS
    }
    assert outside == set()
    assert len({code for _, code in answered}) >= 15


# -- scopes and rate tiers -----------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
def test_scopes_and_rate_tiers_match_the_catalog(method: str) -> None:
    spec = METHODS[method]

    assert spec.tier == catalog_tier(method)
    assert set(spec.bot_scopes) == catalog_scopes(method, "bot")
    assert set(spec.user_scopes) <= catalog_scopes(method, "user")
