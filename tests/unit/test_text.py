"""Reply composition: addressed, within the network's weighted limit, never cut."""
from __future__ import annotations

import pytest
from twitter_text import parse_tweet

from sync.text import ReplyTooLong, address, split_reply


def weigh(text: str) -> int:
    return parse_tweet(text).weightedLength


def _rejoin(parts: list[str]) -> str:
    return " ".join(p.rsplit(" ", 1)[0] for p in parts)


def test_address_adds_the_handle_once() -> None:
    assert address("Thanks!", "ada") == "@ada Thanks!"
    assert address("@Ada thanks", "ada") == "@Ada thanks"


def test_short_reply_is_one_post_unchanged() -> None:
    assert split_reply("@ada hi", weigh, 280) == ["@ada hi"]


@pytest.mark.parametrize("text", [
    "@ada " + "word " * 150,
    "@ada " + "日本語のテキスト " * 40,
    "@ada " + "see https://example.com/a/very/long/link/that/counts/as/23 " * 20,
    "@ada " + "😀 " * 200,
    "@ada " + "x" * 700 + " tail",
])
def test_long_reply_is_a_numbered_thread_within_the_limit(text: str) -> None:
    parts = split_reply(text.strip(), weigh, 280)
    assert len(parts) > 1
    assert all(weigh(p) <= 280 for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"{i}/{len(parts)}" for i in range(1, len(parts) + 1)]
    assert _rejoin(parts).replace(" ", "") == text.strip().replace(" ", "")


def test_threading_off_refuses_instead_of_cutting() -> None:
    with pytest.raises(ReplyTooLong, match="limit is 280"):
        split_reply("@ada " + "x" * 300, weigh, 280, thread=False)
