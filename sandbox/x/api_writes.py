"""Write routes: create and delete posts, send and read DMs."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import g
from twitter_text import parse_tweet

from sandbox.x.constants import (
    DM_EXPANSIONS,
    DM_MAX_CHARS,
    DUPLICATE,
    DUPLICATE_SECONDS,
    MAX_WEIGHTED,
    TOO_LONG,
)
from sandbox.x.helpers import ApiError, escaped, generic_problem, invalid
from sandbox.x.params import (
    _body_problem,
    _id_value,
    _json_body,
    Fields,
    schema_errors,
    TWEET_CREATE_SCHEMA,
)

if TYPE_CHECKING:
    from sandbox.x.records import Post, User


class Writes:
    """Write and DM routes of ``XApi``."""

    # -- writes -----------------------------------------------------------------------

    def create_tweet(self) -> tuple[int, dict[str, Any]]:
        """Validation order: schema, media, empty text, reply/quote target, weighted length
        (400 invalid-request, as quoted from real tweepy errors), then duplicate (403)."""
        body = _json_body()
        errors = schema_errors(body, TWEET_CREATE_SCHEMA)
        if errors:
            raise _body_problem(errors)
        if "media" in body:
            raise invalid("media.media_ids", ",".join(body["media"]["media_ids"]),
                          "Your media IDs are invalid.")
        text: str = body.get("text", "")
        if not text.strip() and "poll" not in body:
            raise invalid("text", text, "Post text must not be empty.")
        user: User = g.user
        reply_to = quote = None
        if "reply" in body:
            reply_to = self.state.live_post(body["reply"]["in_reply_to_tweet_id"])
            if reply_to is None:
                raise ApiError(403, generic_problem(403, "You attempted to reply to a Tweet that "
                                                         "is deleted or not visible to you."))
        if "quote_tweet_id" in body:
            quote = self.state.live_post(body["quote_tweet_id"])
            if quote is None:
                raise ApiError(403, generic_problem(403, "You attempted to quote a Tweet that is "
                                                         "deleted or not visible to you."))
        if parse_tweet(text).weightedLength > MAX_WEIGHTED:
            raise invalid("text", text, TOO_LONG)
        if reply_to is not None and body["reply"].get("auto_populate_reply_metadata"):
            text = self._reply_prefix(reply_to, user, body["reply"]) + text
        since = self.state.clock.now() - DUPLICATE_SECONDS
        if any(p.author_id == user.id and p.submitted_text == text and p.created_at >= since
               for p in self.state.posts.values() if not p.deleted):
            raise ApiError(403, dict(DUPLICATE))
        post = self.state.create_post(user, text, reply_to=reply_to, quote_of=quote,
                                      reply_settings=body.get("reply_settings", "everyone"))
        return 201, {"data": {"id": post.id, "text": escaped(post.text)}}

    def _reply_prefix(self, parent: Post, user: User, reply: dict[str, Any]) -> str:
        """auto_populate_reply_metadata: the parent's author and the people it mentioned."""
        excluded = set(reply.get("exclude_reply_user_ids", [])) | {user.id}
        handles: dict[str, str] = {}
        author = self.state.users[parent.author_id]
        for handle in [author.username] + [m[2] for m in parent.mentions]:
            found = self.state.user_by_handle(handle)
            if found is not None and found.id not in excluded:
                handles.setdefault(found.id, found.username)
        return "".join(f"@{h} " for h in handles.values())

    def _client_reply_prefix(self, parent: Post, author: User, text: str) -> str:
        """What X's apps put in front of a reply: the parent's author and everyone the
        parent mentioned, less the replier and anyone the text already starts with."""
        leading = {m.lower() for m in re.findall(r"@(\w+)", re.match(r"^(?:@\w+\s+)*", text).group(0))}
        handles: dict[str, str] = {}
        for handle in [self.state.users[parent.author_id].username] + [m[2] for m in parent.mentions]:
            found = self.state.user_by_handle(handle)
            if found is not None and found.id != author.id and found.username.lower() not in leading:
                handles.setdefault(found.id, found.username)
        return "".join(f"@{h} " for h in handles.values())

    def delete_tweet(self, id: str) -> tuple[int, dict[str, Any]]:
        _id_value("id", id)
        post = self.state.live_post(id)
        if post is None:
            return 200, {"data": {"deleted": False}}
        if post.author_id != g.user.id:
            raise ApiError(403, generic_problem(403, "You are not allowed to delete this Tweet."))
        post.deleted = True
        for kind, ref_id in post.referenced:
            ref = self.state.posts.get(ref_id)
            counter = {"replied_to": "reply_count", "quoted": "quote_count",
                       "retweeted": "retweet_count"}[kind]
            if ref is not None and ref.metrics[counter] > 0:
                ref.metrics[counter] -= 1
        return 200, {"data": {"deleted": True}}

    def _dm_text(self) -> str:
        body = _json_body()
        if not isinstance(body, dict):
            raise _body_problem(schema_errors(body, {"type": "object"}))
        if "attachments" in body:
            raise invalid("attachments", None, "Your media IDs are invalid.")
        text = body.get("text")
        if not isinstance(text, str):
            raise _body_problem(["$.text: is missing but it is required"] if text is None
                                else schema_errors(text, {"type": "string"}, "$.text"))
        if not text:
            raise _body_problem(["$.text: must be at least 1 characters long"])
        if len(text) > DM_MAX_CHARS:
            raise ApiError(403, generic_problem(403, "The text of your direct message is over "
                                                     "the max character limit."))
        return text

    def _send_dm(self, recipient: User | None) -> tuple[int, dict[str, Any]]:
        text = self._dm_text()
        if recipient is None or recipient.id == g.user.id:
            raise ApiError(403, generic_problem(403, "You cannot send messages to this user."))
        event = self.state.create_dm(g.user, recipient, text)
        return 201, {"data": {"dm_conversation_id": event.conversation_id,
                              "dm_event_id": event.id}}

    def dm_send_with(self, participant_id: str) -> tuple[int, dict[str, Any]]:
        _id_value("participant_id", participant_id)
        return self._send_dm(self.state.users.get(participant_id))

    def _conversation_peer(self, conversation_id: str) -> User | None:
        if not re.match(r"^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$", conversation_id):
            raise invalid("dm_conversation_id", conversation_id,
                          f"The `dm_conversation_id` query parameter value [{conversation_id}] "
                          "does not match ^([0-9]{1,19}-[0-9]{1,19}|[0-9]{15,19})$")
        members = conversation_id.split("-")
        if len(members) != 2 or g.user.id not in members:
            raise ApiError(403, generic_problem(403, "You are not a participant in this "
                                                     "conversation."))
        other = members[1] if members[0] == g.user.id else members[0]
        return self.state.users.get(other)

    def dm_send_in(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        return self._send_dm(self._conversation_peer(conversation_id))

    def dm_events(self) -> tuple[int, dict[str, Any]]:
        """Every DM event in a conversation the caller is part of, newest first."""
        fields = Fields(DM_EXPANSIONS)
        me = g.user.id
        return 200, self.dm_page([e for e in self.state.dms.values()
                                  if me in (e.sender_id, e.recipient_id)], fields)

    def dm_events_with(self, participant_id: str) -> tuple[int, dict[str, Any]]:
        _id_value("participant_id", participant_id)
        low, high = sorted((g.user.id, participant_id), key=int)
        return self._conversation_events(f"{low}-{high}")

    def dm_events_in(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        self._conversation_peer(conversation_id)
        return self._conversation_events(conversation_id)

    def _conversation_events(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        fields = Fields(DM_EXPANSIONS)
        return 200, self.dm_page([e for e in self.state.dms.values()
                                  if e.conversation_id == conversation_id], fields)
