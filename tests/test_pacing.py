"""Client-side pacing: a burst goes at once, then the average rate; waits asked for hold."""

from __future__ import annotations

from worker.pacing import Hold, Pacer


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


def test_a_hold_lasts_as_long_as_asked_and_is_never_shortened() -> None:
    now = [0.0]
    hold = Hold(clock=lambda: now[0])
    assert hold.remaining_s() == 0.0
    assert hold.wait(60.0, "budget spent")  # a wait starts: the caller says so
    now[0] += 10.0
    assert hold.remaining_s() == 50.0
    assert not hold.wait(5.0, "overloaded")  # shorter: the longer wait stands
    assert (hold.remaining_s(), hold.reason) == (50.0, "budget spent")
    assert not hold.wait(300.0, "workspace limit")  # longer: it wins, without a new start
    assert (hold.remaining_s(), hold.reason) == (300.0, "workspace limit")
    now[0] += 300.0
    assert hold.remaining_s() == 0.0
    assert hold.wait(1.0, "again")  # over: the next wait is a new one
