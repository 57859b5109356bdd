"""End to end, the small chaos run (`make chaos` is the big one): three incidents played on a
sandbox failing a fifth of the worker's requests, while the worker process is killed with
SIGKILL and restarted; the Slack threads and Notion pages must be those of a fault-free run —
no message or page lost, doubled or changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.chaos_scenario import ChaosConfig, compare, play_both


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_faults_and_kills_lose_double_and_change_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        incidents=3,
        fault_rate=0.2,
        seed=7,
        kill_after_s=(0.5, 3.0),
        max_kills=3,
        step_timeout_s=150.0,
    )
    reference, chaos = play_both(config, tmp_path)
    diff = compare(reference, chaos)
    assert not [o.stuck for o in reference.incidents if o.stuck]
    summary = [diff.messages.line("messages"), diff.pages.line("pages"), *diff.details[:40]]
    assert diff.clean, "\n".join(summary)
    assert diff.messages.expected == 3 * 9  # the parent and 8 replies per incident
    assert diff.pages.expected == 3 * 2
    assert chaos.kills == 3
    assert sum(chaos.faults.values()) > 0
