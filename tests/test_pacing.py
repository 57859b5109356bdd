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


def _send_times(window: tuple[int, float] | None, count: int) -> list[float]:
    """When each of `count` back-to-back requests goes, on a fake clock."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(3.0, burst=2.0, clock=lambda: now[0], sleep=sleep, window=window)
    times = []
    for _ in range(count):
        pacer.wait()
        times.append(now[0])
    return times


def _most_in_any(times: list[float], window_s: float) -> int:
    return max(sum(1 for t in times[i:] if t < start + window_s) for i, start in enumerate(times))


def test_a_window_budget_is_never_overspent_by_the_burst() -> None:
    # Notion counts 180 requests per 60 s: the bucket alone fits its burst on top of that.
    assert _most_in_any(_send_times(None, 400), 60.0) > 180
    times = _send_times((180, 61.0), 400)
    assert _most_in_any(times, 61.0) == 180
    assert times[-1] < 400 / 3.0 + 5.0  # and the average is still the rate, near enough


def test_a_lanes_requests_go_only_while_its_lease_holds() -> None:
    """Inside `sending_only_while`, a request about to go (a retry too) is stopped once the
    condition fails; outside it, or in another thread, nothing is checked."""
    import threading

    import pytest

    from worker.errors import LostLeadershipError
    from worker.pacing import may_send, sending_only_while

    holds = [True]
    with sending_only_while(lambda: holds[0]):
        may_send()
        holds[0] = False
        sent: list[bool] = []

        def elsewhere() -> None:  # another thread's requests: unchecked
            may_send()
            sent.append(True)

        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
        assert sent == [True]
        with pytest.raises(LostLeadershipError):
            may_send()
    may_send()  # outside: unchecked again
