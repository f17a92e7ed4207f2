"""The Send API: ``POST /{page-id}/messages`` (also ``/me/messages``) for Messenger and for
Instagram Messaging with a Facebook Login Page token, and Private Replies.

Windows, by the sandbox clock, counted from the person's last message in the thread:
``RESPONSE`` and ``UPDATE`` within 24 hours; ``MESSAGE_TAG`` with ``HUMAN_AGENT`` within
7 days (Instagram accepts no other tag; Messenger's other tags need only an earlier
message). Outside them: code 10, subcode 2018278. A Private Reply (``recipient:
{"comment_id"}``, or ``{"post_id"}`` for a visitor post) is one message per comment,
within 7 days of the comment; a second is error 10900. It does not open the 24-hour
window: that opens when the person answers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.meta import errors
from sandbox.meta.constants import (
    HUMAN_AGENT_WINDOW,
    INSTAGRAM_TAGS,
    INSTAGRAM_TEXT_BYTES,
    MESSAGING_TYPES,
    MESSENGER_TAGS,
    MESSENGER_TEXT_MAX,
    PRIVATE_REPLY_WINDOW,
    STANDARD_WINDOW,
)
from sandbox.meta.records import FACEBOOK, INSTAGRAM, Comment, Post

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState
    from sandbox.meta.paging import Call

SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")


class Messaging:
    """The Send API of ``MetaApi``."""

    state: "MetaState"

    def send(self, call: Call) -> dict[str, Any]:
        s = self.state
        recipient = call.obj("recipient")
        if not isinstance(recipient, dict) or not recipient:
            raise errors.invalid_param("param recipient must be non-empty.")
        action = call.param("sender_action")
        if action:
            if action not in SENDER_ACTIONS:
                raise errors.invalid_param(f"param sender_action must be one of "
                                           f"{{{', '.join(SENDER_ACTIONS).upper()}}}")
            person = s.people.get(str(recipient.get("id", "")))
            if person is None:
                raise errors.no_matching_user()
            return {"recipient_id": person.id}
        message = call.obj("message")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            raise errors.invalid_param("Message cannot be empty, must provide valid attachment "
                                       "or text")
        kind = call.param("messaging_type")
        if kind is None:
            raise errors.invalid_param("param messaging_type is required")
        if kind not in MESSAGING_TYPES:
            raise errors.invalid_param(f"param messaging_type must be one of "
                                       f"{{{', '.join(MESSAGING_TYPES)}}} - got \"{kind}\"")
        tag = call.param("tag")
        if kind == "MESSAGE_TAG" and not tag:
            raise errors.invalid_param("param tag is required when messaging_type is "
                                       "MESSAGE_TAG")
        text = str(message.get("text") or "")
        media = []
        attachment = message.get("attachment")
        if isinstance(attachment, dict):
            media = [{"type": str(attachment.get("type") or "image")
                      if attachment.get("type") in ("image", "video", "audio", "file")
                      else "file"}]
        if "comment_id" in recipient or "post_id" in recipient:
            return self._private_reply(recipient, text, media, kind, tag)
        person = s.people.get(str(recipient.get("id", "")))
        if person is None:
            raise errors.no_matching_user()
        self._check_text(person.network, text)
        self._check_window(person.network, person.id, kind, tag)
        sent = s.create_message(person.network, person.id, text, from_brand=True, media=media,
                                messaging_type=kind, tag=tag)
        return {"recipient_id": person.id, "message_id": sent.id}

    @staticmethod
    def _check_text(network: str, text: str) -> None:
        if network == FACEBOOK and len(text) > MESSENGER_TEXT_MAX:
            raise errors.invalid_param("Length of param message[text] must be less than or "
                                       f"equal to {MESSENGER_TEXT_MAX}")
        if network == INSTAGRAM and len(text.encode()) > INSTAGRAM_TEXT_BYTES:
            raise errors.invalid_param("Length of param message[text] must be less than or "
                                       f"equal to {INSTAGRAM_TEXT_BYTES}")

    def _check_window(self, network: str, person_id: str, kind: str, tag: str | None) -> None:
        s = self.state
        thread_id = s.thread_of.get((network, person_id))
        last = s.threads[thread_id].customer_at if thread_id else None
        if kind == "MESSAGE_TAG":
            allowed = INSTAGRAM_TAGS if network == INSTAGRAM else MESSENGER_TAGS
            if tag not in allowed:
                raise errors.invalid_param(f"param tag must be one of {{{', '.join(allowed)}}} "
                                           f"- got \"{tag}\"")
            limit = HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else None
        else:
            limit = STANDARD_WINDOW
        if last is None:
            raise errors.outside_window()
        if limit is not None and s.clock.now() - last > limit:
            raise errors.outside_window()

    def _private_reply(self, recipient: dict[str, Any], text: str, media: list[dict[str, Any]],
                       kind: str, tag: str | None) -> dict[str, Any]:
        s = self.state
        target: Post | Comment | None
        if "comment_id" in recipient:
            wanted = str(recipient["comment_id"])
            target = s.live_comment(wanted)
        else:
            wanted = str(recipient["post_id"])
            target = s.live_post(wanted)
            if target is not None and (target.network != FACEBOOK or target.kind != "visitor"):
                target = None
        if target is None:
            raise errors.invalid_param(f"Invalid recipient id: {wanted}", subcode=2018001)
        if s.is_brand(target.author_id):
            raise errors.invalid_param("Cannot send private reply message to another facebook "
                                       "page")
        if target.private_reply_mid is not None:
            raise errors.already_replied()
        if s.clock.now() - target.created_at > PRIVATE_REPLY_WINDOW:
            raise errors.outside_window()
        self._check_text(target.network, text)
        sent = s.create_message(target.network, target.author_id, text, from_brand=True,
                                media=media, messaging_type=kind, tag=tag,
                                private_reply_to=target.id)
        target.private_reply_mid = sent.id
        return {"recipient_id": target.author_id, "message_id": sent.id}
