"""What each change sends to the webhook subscribers: ``Announcer``.

Payload shapes as in the RestFB fixtures of Meta's deliveries: Page ``feed`` and
``mention`` changes, Instagram ``comments`` and ``mentions`` changes, and Messenger and
Instagram ``messaging`` events (messages, echoes, edits, unsends).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.meta.records import FACEBOOK, INSTAGRAM, Comment, Message, Post

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState


class Announcer:
    """Builds the webhook of a change to a post, comment or message and hands it to the
    state's ``hooks`` (which deliver it to whoever subscribed)."""

    def __init__(self, state: MetaState) -> None:
        self.state = state

    def post(self, post: Post, verb: str) -> None:
        s = self.state
        if post.network == INSTAGRAM:
            if verb == "add" and post.mentions_brand:
                # A caption @mention: ``mentions`` with the media id alone.
                s.hooks.emit(INSTAGRAM, s.ig_user_id, "mentions", change={"media_id": post.id})
            return
        when = int(s.clock.now())
        if post.kind == "timeline":
            if post.mentions_brand and verb == "add":
                s.hooks.emit("page", s.page_id, "mention", change={
                    "message": post.text, "post_id": post.id,
                    "created_time": int(post.created_at), "item": "post", "verb": "add"})
            return
        # The Page's own text posts are ``status`` items, a visitor's ``post`` items, photos
        # ``photo`` items (RestFB fixtures feed-status-add, feed-post-add, feed-photo-add).
        item = "post" if post.kind == "visitor" else "status"
        value: dict[str, Any] = {"from": s.display(post.author_id), "post_id": post.id,
                                 "created_time": int(post.created_at), "item": item,
                                 "verb": verb, "published": 1}
        if verb in ("add", "edited"):
            value["message"] = post.text
        if verb == "add":
            value["is_hidden"] = post.hidden
        if post.media and verb == "add":
            value["item"] = "photo"
            value["link"] = s.cdn.link(post.media[0])
            value["photo_id"] = post.media[0]["id"]
        if verb in ("remove", "hide", "unhide"):
            value["item"] = "post"
            value["created_time"] = when
        if post.kind == "visitor":
            value["recipient_id"] = s.page_id
        s.hooks.emit("page", s.page_id, "feed", change=value)

    def comment(self, comment: Comment, verb: str) -> None:
        s = self.state
        post = s.posts[comment.post_id]
        if comment.network == INSTAGRAM:
            if verb != "add":
                return  # Instagram sends no webhook for edits, removals or hiding
            if post.kind == "page":
                value: dict[str, Any] = {
                    "from": s.ig_display(comment.author_id),
                    "media": {"id": post.id, "media_product_type": "FEED"},
                    "id": comment.id, "text": comment.text}
                if comment.parent_id:
                    value["parent_id"] = comment.parent_id
                s.hooks.emit(INSTAGRAM, s.ig_user_id, "comments", change=value)
            elif comment.mentions_brand:
                s.hooks.emit(INSTAGRAM, s.ig_user_id, "mentions",
                             change={"comment_id": comment.id, "media_id": post.id})
            return
        if post.kind == "timeline":
            if comment.mentions_brand and verb == "add":
                s.hooks.emit("page", s.page_id, "mention", change={
                    "message": comment.text, "post_id": post.id, "comment_id": comment.id,
                    "created_time": int(comment.created_at), "item": "comment", "verb": "add"})
            return
        value = {"from": s.display(comment.author_id), "post_id": post.id,
                 "comment_id": comment.id, "parent_id": comment.parent_id or post.id,
                 "created_time": int(comment.created_at), "item": "comment", "verb": verb}
        if verb in ("add", "edited", "hide", "unhide"):
            value["message"] = comment.text
        if verb == "edited":
            value["created_time"] = int(comment.edited_at or comment.created_at)
        if comment.media and verb in ("add", "edited"):
            value["photo"] = s.cdn.link(comment.media[0])
        s.hooks.emit("page", s.page_id, "feed", change=value)

    def message(self, message: Message) -> None:
        s = self.state
        body: dict[str, Any] = {"mid": message.id}
        if message.text:
            body["text"] = message.text
        if message.media:
            body["attachments"] = [{"type": m["type"], "payload": {"url": s.cdn.link(m)}}
                                   for m in message.media]
        field = "messages"
        if message.from_brand:
            body["is_echo"] = True
            body["app_id"] = int(s.app_id)
            if message.network == FACEBOOK:
                field = "message_echoes"
        event = self._messaging(message)
        event["message"] = body
        s.hooks.emit(*self._object(message.network), field, messaging=event)

    def edit(self, message: Message) -> None:
        event = self._messaging(message)
        event["timestamp"] = int(self.state.clock.now() * 1000)
        event["message_edit"] = {"mid": message.id, "text": message.text,
                                 "num_edit": message.edits}
        field = "message_edits" if message.network == FACEBOOK else "message_edit"
        self.state.hooks.emit(*self._object(message.network), field, messaging=event)

    def unsend(self, message: Message) -> None:
        event = self._messaging(message)
        event["timestamp"] = int(self.state.clock.now() * 1000)
        event["message"] = {"mid": message.id, "is_deleted": True}
        self.state.hooks.emit(*self._object(message.network), "messages", messaging=event)

    @staticmethod
    def _messaging(message: Message) -> dict[str, Any]:
        return {"sender": {"id": message.sender_id}, "recipient": {"id": message.recipient_id},
                "timestamp": int(message.created_at * 1000)}

    def _object(self, network: str) -> tuple[str, str]:
        """The webhook object and entry id a network's messaging events come under."""
        s = self.state
        return ("page", s.page_id) if network == FACEBOOK else (INSTAGRAM, s.ig_user_id)
