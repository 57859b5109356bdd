"""Fault injection and the request log: reproducible failures the way the services fail."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.sandbox.faults import (
    NOTION_FAULTS,
    SLACK_FAULTS,
    FaultKind,
    FaultMiddleware,
    FaultPlan,
    RequestLog,
    RequestLogMiddleware,
    notion_fault_fits,
    notion_fault_response,
    slack_fault_response,
)
from worker.sandbox.ratelimit import RateLimit, TokenBuckets
from worker.sandbox.server import ServedApp


class Counting:
    def __init__(self) -> None:
        self.effects = 0

    async def handle(self, request: Request) -> JSONResponse:
        self.effects += 1
        return JSONResponse({"ok": True, "n": self.effects})


def _serve(
    rate: float, seed: int, kinds: tuple[FaultKind, ...] = NOTION_FAULTS, slow_s: float = 0.5
):  # type: ignore[no-untyped-def]
    counter = Counting()
    app = Starlette(
        routes=[
            Route("/v1/thing", counter.handle, methods=["POST", "GET"]),
            Route("/v1/things/{id}/query", counter.handle, methods=["POST"]),
        ]
    )
    log = RequestLog()
    faults = FaultMiddleware(
        app, FaultPlan(rate, seed, kinds), notion_fault_response, slow_s, fits=notion_fault_fits
    )
    wrapped = RequestLogMiddleware(faults, log)
    served = ServedApp(wrapped)
    served.start()
    return served, counter, log


def _outcomes(url: str, n: int) -> list[str]:
    out = []
    with httpx.Client(timeout=0.3) as client:
        for _ in range(n):
            try:
                out.append(str(client.post(url + "/v1/thing").status_code))
            except httpx.TimeoutException:
                out.append("timeout")
            except httpx.TransportError:
                out.append("reset")
    return out


def test_faults_are_reproducible_by_seed_and_roughly_at_the_rate() -> None:
    runs = []
    for _ in range(2):
        served, _counter, _log = _serve(0.3, seed=11, slow_s=0.5)
        try:
            runs.append(_outcomes(served.url, 60))
        finally:
            served.stop()
    assert runs[0] == runs[1]
    failures = sum(1 for o in runs[0] if o != "200")
    assert 8 <= failures <= 30
    assert {"429", "500", "502", "503", "504", "529"} & set(runs[0])


def test_some_faults_happen_after_the_effect() -> None:
    served, counter, _log = _serve(1.0, seed=3)
    try:
        outcomes = _outcomes(served.url, 40)
    finally:
        served.stop()
    # Every request failed, yet some were carried out: the outcome was unknown to the client.
    assert all(o != "200" for o in outcomes)
    assert 0 < counter.effects < 40
    assert "reset" in outcomes
    assert "timeout" in outcomes


def test_a_notion_429_has_an_integer_retry_after_and_a_notion_body() -> None:
    status, body, headers = notion_fault_response(FaultKind.RATE_LIMITED)
    assert status == 429
    assert headers["retry-after"].isdigit()
    error = json.loads(body)
    assert error["object"] == "error"
    assert error["code"] == "rate_limited"
    assert error["request_id"]
    status, body, headers = notion_fault_response(FaultKind.BAD_GATEWAY)
    assert status == 502
    assert headers["content-type"] == "text/html"
    assert notion_fault_response(FaultKind.OVERLOADED)[0] == 529


def test_a_notion_conflict_is_a_409_on_writes_only_and_never_carried_out() -> None:
    """409 `conflict_error` with the message of live answers (rowthan/pagenote#162: "Conflict
    occurred while saving. Please try again."); a conflict means the write was not saved, and
    reads (GET, a data source query) do not conflict, so they pass through unharmed."""
    status, body, _headers = notion_fault_response(FaultKind.CONFLICT)
    error = json.loads(body)
    assert (status, error["code"], error["message"]) == (
        409,
        "conflict_error",
        "Conflict occurred while saving. Please try again.",
    )
    assert error["status"] == 409
    assert error["request_id"]
    assert FaultKind.CONFLICT in NOTION_FAULTS
    assert FaultKind.CONFLICT not in SLACK_FAULTS
    served, counter, log = _serve(1.0, seed=5, kinds=(FaultKind.CONFLICT,))
    try:
        with httpx.Client() as client:
            writes = [client.post(served.url + "/v1/thing").status_code for _ in range(5)]
            reads = [client.get(served.url + "/v1/thing").status_code for _ in range(3)]
            query = client.post(served.url + "/v1/things/1/query").status_code
    finally:
        served.stop()
    assert writes == [409] * 5
    assert reads == [200] * 3
    assert query == 200
    assert counter.effects == 4  # the reads only
    assert [e.get("fault") for e in log.entries()] == ["conflict"] * 5 + [None] * 4


def test_slack_faults_look_like_slack() -> None:
    status, body, headers = slack_fault_response(FaultKind.RATE_LIMITED)
    assert (status, json.loads(body), headers["retry-after"]) == (
        429,
        {"ok": False, "error": "ratelimited"},
        "1",
    )
    # Slack's own answers (429, 500) carry its request id; the 503 page of the load
    # balancer in front of it does not.
    assert headers["x-slack-req-id"]
    assert slack_fault_response(FaultKind.INTERNAL_ERROR)[2]["x-slack-req-id"]
    assert "x-slack-req-id" not in slack_fault_response(FaultKind.UNAVAILABLE)[2]
    assert set(SLACK_FAULTS) <= set(FaultKind)


def test_request_log_records_method_path_status_never_the_query() -> None:
    served, _counter, log = _serve(0.0, seed=0)
    try:
        with httpx.Client() as client:
            client.post(served.url + "/v1/thing?token=secret-value")
            client.get(served.url + "/v1/missing")
            entries = client.get(served.url + "/_sandbox/requests").json()
    finally:
        served.stop()
    assert [{k: v for k, v in e.items() if k != "at"} for e in entries] == [
        {"method": "POST", "path": "/v1/thing", "status": 200},
        {"method": "GET", "path": "/v1/missing", "status": 404},
    ]
    assert entries[0]["at"] <= entries[1]["at"] <= time.time()  # when each was answered
    assert "secret-value" not in json.dumps(log.entries())


def test_fault_rate_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultPlan(1.5, 0, NOTION_FAULTS)


def test_token_buckets_allow_a_burst_then_ask_to_wait() -> None:
    now = [0.0]
    buckets = TokenBuckets(RateLimit(3.0, 3.0), clock=lambda: now[0])
    assert [buckets.take("t") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("t") == 1
    assert buckets.take("other") == 0
    now[0] += 1.0  # three more tokens at 3 per second
    assert Counter(buckets.take("t") for _ in range(4)) == Counter({0: 3, 1: 1})
    assert TokenBuckets(RateLimit(0, 0)).take("t") == 0
