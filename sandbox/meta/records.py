"""What the network holds: people, posts (Facebook posts and Instagram media), comments,
message threads and messages, each as the stand-in keeps it (not as the API shows it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FACEBOOK = "facebook"
INSTAGRAM = "instagram"


@dataclass
class Person:
    """Someone on the network who is not the brand. ``id`` is what the brand's token sees:
    the page-scoped id (PSID) on Facebook, the Instagram-scoped id (IGSID) on Instagram."""

    id: str
    network: str
    handle: str
    name: str


@dataclass
class Post:
    """A Facebook post or an Instagram media.

    ``kind``: ``page`` (the brand's own post or media), ``visitor`` (a person's post on the
    Page), ``timeline`` (a person's post on their own timeline or feed, which may mention
    or tag the brand)."""

    id: str
    network: str
    kind: str
    author_id: str
    text: str
    created_at: float
    seq: int
    updated_at: float = 0.0
    media: list[dict[str, Any]] = field(default_factory=list)
    mentions_brand: bool = False
    tagged: bool = False
    hidden: bool = False
    deleted: bool = False
    private_reply_mid: str | None = None
    shortcode: str = ""


@dataclass
class Comment:
    """A comment or a reply. Facebook and Instagram both keep two levels: a reply to a
    reply is attached to the top-level comment (``parent_id``)."""

    id: str
    network: str
    post_id: str
    author_id: str
    text: str
    created_at: float
    seq: int
    parent_id: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    mentions_brand: bool = False
    hidden: bool = False
    deleted: bool = False
    edited_at: float | None = None
    private_reply_mid: str | None = None


@dataclass
class Thread:
    """A Messenger or Instagram conversation between the brand and one person.

    ``customer_at``: when the person last wrote (the messaging windows count from it)."""

    id: str
    network: str
    person_id: str
    seq: int
    messages: list[str] = field(default_factory=list)
    customer_at: float | None = None
    updated_at: float = 0.0


@dataclass
class Message:
    id: str
    network: str
    thread_id: str
    sender_id: str
    recipient_id: str
    text: str
    created_at: float
    seq: int
    from_brand: bool = False
    media: list[dict[str, Any]] = field(default_factory=list)
    messaging_type: str | None = None
    tag: str | None = None
    private_reply_to: str | None = None
    edits: int = 0
    unsent: bool = False
