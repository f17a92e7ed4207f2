"""When a Channel Framework tenant's waiting resources are pushed (sync/channel/pacing.py):
a full push at once, else after the oldest has waited, else left to a pull due by then."""
from __future__ import annotations

import pytest

from sync.channel.pacing import DEFAULT_WAIT, PushRule, check_wait


def test_the_default_wait_is_a_few_seconds() -> None:
    assert 2.0 <= DEFAULT_WAIT <= 5.0 and PushRule().full == 256


def test_a_full_push_goes_at_once_and_a_smaller_one_after_the_wait() -> None:
    rule = PushRule(wait=3.0)
    assert rule.due(256, 100.0, now=100.0) == 100.0
    assert rule.due(300, None, now=100.0) == 100.0          # even of resources tried before
    assert rule.due(1, 100.0, now=100.5) == 103.0
    assert rule.due(255, 100.0, now=101.0) == 103.0
    assert rule.due(0, None, now=100.0) is None


def test_resources_a_push_tried_before_never_start_a_push_alone() -> None:
    assert PushRule().due(5, None, now=100.0) is None


def test_a_pull_due_about_then_takes_them_and_an_overdue_one_is_not_waited_for() -> None:
    rule = PushRule(wait=3.0, pull_every=120.0)
    # Last pull at 0: the next is expected at 120. A resource made at 115 would be pushed
    # at 118; the pull comes by 121 at the latest: it is left to the pull, pushed at 123 if not.
    assert rule.due(1, 115.0, now=116.0, last_pull=0.0) == 123.0
    # Made at 100: pushed at 103, long before the pull.
    assert rule.due(1, 100.0, now=101.0, last_pull=0.0) == 103.0
    # The pull is 4 s overdue (past its 3 s grace): not counted on.
    assert rule.next_pull(0.0, now=124.0) is None
    assert rule.due(1, 123.0, now=124.0, last_pull=0.0) == 126.0
    # No pull seen by this daemon: pushes alone decide.
    assert rule.due(1, 115.0, now=116.0, last_pull=None) == 118.0


def test_no_wait_pushes_each_round() -> None:
    assert PushRule(wait=0.0).due(1, 100.0, now=100.0) == 100.0


@pytest.mark.parametrize("value, message", [("soon", "not a number"), ("-1", "outside 0 to 120"),
                                            ("600", "outside 0 to 120"), ("nan", "outside")])
def test_a_wait_that_is_not_0_to_120_seconds_is_refused_by_name(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        check_wait(value, "SOCIALDESK_CHANNEL_PUSH_WAIT")
    assert str(err.value).startswith("SOCIALDESK_CHANNEL_PUSH_WAIT: ")


def test_a_wait_in_range_is_taken() -> None:
    assert check_wait("2.5", "x") == 2.5 and check_wait(0, "x") == 0.0
