"""Review of issue 15 (helper R): two people answer the no-commander reminder at once.

The second click is acknowledged before the first one's write is carried out; when that
write finds the commander already set it changes nothing — and the second clicker, who
believes they now command the incident, must be told, as a click after the write is."""

from __future__ import annotations

from tests.e2e.harness import Harness
from tests.test_inbound_buttons import Clock, _declare, _told, _with_button, click, clock, inbound
from worker.inbound.service import Inbound

__all__ = ["clock", "inbound"]  # the fixtures used here


def test_the_second_of_two_simultaneous_take_command_clicks_is_told_someone_was_first(
    h: Harness, inbound: Inbound, clock: Clock
) -> None:
    page = _declare(h, clock)
    h.runtime.nag(clock.at(6))  # no commander after the 5-minute grace
    reminder = _with_button(h, page, "incident.take_command")
    clock.now = clock.at(7)
    assert click(h, inbound, "Ben", reminder, "incident.take_command")[0] == 200
    assert click(h, inbound, "Chidi", reminder, "incident.take_command")[0] == 200
    h.runtime.nag(clock.at(7.5))  # both writes carried out (the second finds Ben there)
    h.runtime.deliver(clock.at(7.6))
    commander = h.row(page)["properties"]["Commander"]["people"]
    assert [p["id"] for p in commander] == [h.person("Ben").notion_id]
    assert _told(h, "Chidi"), "Chidi clicked, was acknowledged, and was never told"
