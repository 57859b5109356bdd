"""Client-side pacing: a burst goes at once, then the average rate is kept."""

from __future__ import annotations

from worker.pacing import Pacer


def test_a_burst_then_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    pacer = Pacer(3.0, burst=2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert slept == [0.333, 0.333, 0.333]  # two at once, then one every third of a second
    assert pacer.requests == 5
    now[0] += 10.0  # idle: the burst is there again, no more
    pacer.wait()
    pacer.wait()
    assert slept == [0.333, 0.333, 0.333]
