"""The composer: what a mention's inbox row holds, and what its ticket says."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

from adapters.base import Author, Media, Mention
from sync.ingest.composer import conversation_key, mention_from_payload, mention_to_payload

MENTION = Mention(network="x", id="1849", kind="reply", text="@brand Q&A <today>?",
                  author=Author(network="x", id="77", handle="ada", name="Ada L", followers=1200, verified=True,
                                profile_url="https://x.com/ada"),
                  created_at=datetime(2026, 12, 6, 9, 30, tzinfo=timezone.utc), url="https://x.com/ada/status/1849",
                  conversation_id="1800", in_reply_to="1800", is_quote=True, lang="en",
                  metrics={"like_count": 3, "reply_count": 1},
                  media=(Media("image", "1849_55", "https://cdn.example/55.jpg"),))


def test_the_inbox_payload_holds_every_field_and_reads_back_the_same_mention() -> None:
    payload = mention_to_payload(MENTION)
    expected = dataclasses.asdict(MENTION)
    expected["created_at"] = MENTION.created_at.isoformat()  # type: ignore[union-attr]
    expected["media"] = [dataclasses.asdict(x) for x in MENTION.media]
    assert payload == expected, "a field added to Mention must be added to the payload"
    assert mention_from_payload(json.loads(json.dumps(payload))) == MENTION


def test_a_mention_without_a_time_keeps_none() -> None:
    bare = dataclasses.replace(MENTION, created_at=None, metrics={}, media=())
    assert mention_from_payload(mention_to_payload(bare)) == bare


def test_one_ticket_per_customer_conversation_and_one_per_dm_thread() -> None:
    assert conversation_key(MENTION) == "x:conv:1800:77"
    other = dataclasses.replace(MENTION, author=dataclasses.replace(MENTION.author, id="78"))
    assert conversation_key(other) != conversation_key(MENTION)
    dm = dataclasses.replace(MENTION, kind="dm", conversation_id="77-99")
    assert conversation_key(dm) == "x:dm:77-99"
