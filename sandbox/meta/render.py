"""Graph nodes as the API shows them: field selection, nested fields and edges.

Each node type has value makers (one per field the stand-in knows a value for) and
edges; a field Meta's node spec has but the stand-in has no value for is left out, as Meta
leaves out empty fields; a field the spec lacks is error 100.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from sandbox.meta import errors
from sandbox.meta.constants import (
    DEFAULT_FIELDS,
    HUMAN_AGENT_WINDOW,
    MESSAGE_EDGES,
    MESSAGE_FIELDS,
    PRIVATE_REPLY_WINDOW,
    THREAD_EDGES,
)
from sandbox.meta.fields import Field, unparse
from sandbox.meta.paging import Call, graph_time, limit_of, link_for, page, window
from sandbox.meta.records import FACEBOOK, Comment, Message, Person, Post, Thread
from sandbox.meta.vocabulary import EDGES, FIELDS

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState

Maker = Callable[[Field], Any]


# Nested objects that are not nodes of their own (Graph API reference: StoryAttachment,
# Message attachments).
ATTACHMENT_FIELDS = {
    "StoryAttachment": frozenset({"description", "description_tags", "media", "media_type",
                                  "target", "title", "type", "unshimmed_url", "url",
                                  "subattachments"}),
    "MessageAttachment": frozenset({"id", "image_data", "mime_type", "name", "size",
                                    "video_data", "file_url", "generic_template"}),
}


# People as a Page token sees them: the Messenger User Profile API (PSID) and the
# Instagram User Profile API (IGSID).
PERSON_FIELDS = {
    "User": frozenset({"id", "name", "first_name", "last_name", "profile_pic", "locale",
                       "timezone", "gender"}),
    "InstagramUser": frozenset({"id", "name", "username", "profile_pic", "follower_count",
                                "is_user_follow_business", "is_business_follow_user",
                                "is_verified_user"}),
}


def vocabulary(node: str) -> frozenset[str]:
    if node in PERSON_FIELDS:
        return PERSON_FIELDS[node]
    if node in ATTACHMENT_FIELDS:
        return ATTACHMENT_FIELDS[node]
    if node == "Message":
        return MESSAGE_FIELDS | MESSAGE_EDGES
    if node == "PagePost":
        return FIELDS["PagePost"] | FIELDS["Post"] | EDGES["PagePost"] | EDGES["Post"]
    extra = THREAD_EDGES if node == "UnifiedThread" else frozenset()
    return FIELDS.get(node, frozenset()) | EDGES.get(node, frozenset()) | extra


def pick(value: dict[str, Any], sub: list[Field] | None, node: str) -> dict[str, Any]:
    """A plain nested object cut to the subfields asked for."""
    if sub is None:
        return value
    out = {}
    for item in sub:
        if item.name not in value and item.name not in vocabulary(node):
            raise errors.nonexisting_field(item.name, node)
        if item.name in value:
            out[item.key] = value[item.name]
    return out


class Nodes:
    """Rendering of ``MetaApi`` (``self.state``)."""

    state: "MetaState"

    # -- the walker -------------------------------------------------------------------

    def node(self, node: str, fields: list[Field] | None, makers: dict[str, Maker]
             ) -> dict[str, Any]:
        wanted = fields if fields is not None else [Field(n) for n in DEFAULT_FIELDS[node]]
        known = vocabulary(node)
        out: dict[str, Any] = {}
        for item in wanted:
            maker = makers.get(item.name)
            if maker is None:
                if item.name not in known:
                    raise errors.nonexisting_field(item.name, node)
                continue
            value = maker(item)
            if value is not None:
                out[item.key] = value
        if fields is not None and "id" not in out and "id" in makers:
            out["id"] = makers["id"](Field("id"))  # Graph adds a node's id unasked
        return out

    def edge(self, call: Call, path: str, items: list[Any], key: Callable[[Any], Any],
             render: Callable[[Any, list[Field] | None], dict[str, Any]],
             spec: Field | None = None, summary: dict[str, Any] | None = None,
             default_limit: int = 25) -> dict[str, Any]:
        """A page of an edge, read as ``/{id}/{edge}`` (``spec`` None) or as a field
        (``comments.limit(5){id}``: the modifiers of ``spec`` are its parameters)."""
        if spec is None:
            params = call.params
            sub = self.fields_of(call)
            link = link_for(self.state.url, call, path)
        else:
            params = dict(spec.mods)
            sub = spec.sub
            extra = {k: v for k, v in spec.mods.items() if k not in ("as", "limit")}
            if spec.sub is not None:
                extra["fields"] = unparse(spec.sub)
            nested = Call("GET", call.version, path.split("/"), extra, call.token)
            link = link_for(self.state.url, nested, path, {"limit": params.get("limit", "")}
                            if params.get("limit") else None)
        limit = limit_of(params.get("limit"), default_limit)
        body = page(items, key, lambda i: render(i, sub), limit=limit,
                    after=params.get("after"), before=params.get("before"), link=link)
        wants_summary = str(params.get("summary", "")).lower() in ("true", "1", "total_count")
        if summary is not None and wants_summary:
            body["summary"] = summary
        return body

    @staticmethod
    def fields_of(call: Call) -> list[Field] | None:
        from sandbox.meta.fields import parse
        return parse(call.params.get("fields"))

    # -- Facebook -----------------------------------------------------------------------

    def page_node(self, call: Call, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        makers: dict[str, Maker] = {
            "id": lambda f: s.page_id,
            "name": lambda f: s.page_name,
            "username": lambda f: s.page_handle,
            "link": lambda f: f"https://www.facebook.com/{s.page_handle}",
            "category": lambda f: "Product/service",
            "about": lambda f: "Support for Socialdesk customers (sandbox).",
            "fan_count": lambda f: 0,
            "followers_count": lambda f: 0,
            "is_published": lambda f: True,
            "is_webhooks_subscribed": lambda f: s.hooks.page_fields is not None,
            "verification_status": lambda f: "not_verified",
            "instagram_business_account": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser"),
            "connected_instagram_account": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser"),
            "access_token": lambda f: call.token if call.grant and call.grant.kind == "page"
            else None,
        }
        for name, reader in self.page_edges(call).items():
            makers[name] = reader
        return self.node("Page", fields, makers)

    def page_edges(self, call: Call) -> dict[str, Maker]:
        s = self.state
        return {
            "feed": lambda f: self.posts_edge(call, s.page_id, "feed", f),
            "posts": lambda f: self.posts_edge(call, s.page_id, "posts", f),
            "published_posts": lambda f: self.posts_edge(call, s.page_id, "published_posts", f),
            "visitor_posts": lambda f: self.posts_edge(call, s.page_id, "visitor_posts", f),
            "tagged": lambda f: self.posts_edge(call, s.page_id, "tagged", f),
        }

    def page_posts(self, which: str, include_hidden: bool) -> list[Post]:
        s = self.state
        kinds = {"feed": ("page", "visitor"), "posts": ("page",), "published_posts": ("page",),
                 "visitor_posts": ("visitor",), "tagged": ("timeline",)}[which]
        found = [p for p in s.posts.values()
                 if p.network == FACEBOOK and not p.deleted and p.kind in kinds
                 and (which != "tagged" or p.mentions_brand or p.tagged)
                 and (include_hidden or not p.hidden)]
        return sorted(found, key=lambda p: p.seq, reverse=True)

    def posts_edge(self, call: Call, owner: str, which: str, spec: Field | None
                   ) -> dict[str, Any]:
        params = call.params if spec is None else spec.mods
        hidden = str(params.get("include_hidden", "")).lower() == "true"
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        posts = window(self.page_posts(which, hidden), holder, lambda p: p.created_at)
        return self.edge(call, f"{owner}/{which}", posts, lambda p: (-p.seq,),
                         lambda p, sub: self.post_node(call, p, sub), spec)

    def post_node(self, call: Call, post: Post, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        number = post.id.split("_")[-1]
        owner = post.id.split("_")[0]
        media = post.media[0] if post.media else None
        makers: dict[str, Maker] = {
            "id": lambda f: post.id,
            "message": lambda f: post.text or None,
            "created_time": lambda f: graph_time(post.created_at),
            "updated_time": lambda f: graph_time(max(post.updated_at, self._last_activity(post))),
            "from": lambda f: pick(s.display(post.author_id), f.sub, "Profile"),
            "permalink_url": lambda f: f"https://www.facebook.com/{owner}/posts/{number}/",
            "is_hidden": lambda f: post.hidden,
            "is_published": lambda f: True,
            "is_expired": lambda f: False,
            "status_type": lambda f: "added_photos" if media else "mobile_status_update",
            "full_picture": lambda f: s.cdn.link(media) if media else None,
            "picture": lambda f: s.cdn.link(media) if media else None,
            "attachments": lambda f: self._attachments(post.media, f.sub),
            "message_tags": lambda f: self._tags(post.text, post.network) or None,
            "to": lambda f: {"data": [s.display(s.page_id)]} if post.kind == "visitor" else None,
            "can_reply_privately": lambda f: self._can_reply_privately(post),
            "comments": lambda f: self.comments_edge(call, post, f),
            "reactions": lambda f: self._empty_edge(f, {"total_count": 0,
                                                         "viewer_reaction": "NONE"}),
            "likes": lambda f: self._empty_edge(f, {"total_count": 0, "can_like": True,
                                                     "has_liked": False}),
            "privacy": lambda f: {"allow": "", "deny": "", "description": "Public",
                                  "friends": "", "value": "EVERYONE"},
        }
        return self.node("PagePost", fields, makers)

    def _last_activity(self, post: Post) -> float:
        times = [c.created_at for c in self.state.comments.values()
                 if c.post_id == post.id and not c.deleted]
        return max(times, default=post.created_at)

    def _tags(self, text: str, network: str) -> list[dict[str, Any]]:
        s = self.state
        handle = "@" + s.brand_handle(network)
        at = text.lower().find(handle.lower())
        if at < 0 or network != FACEBOOK:
            return []
        return [{"id": s.page_id, "name": s.page_name, "type": "page", "offset": at,
                 "length": len(handle)}]

    def _attachment(self, asset: dict[str, Any]) -> dict[str, Any]:
        link = self.state.cdn.link(asset)
        photo = f"https://www.facebook.com/photo.php?fbid={asset['id']}"
        kind = "photo" if asset["type"] == "image" else asset["type"]
        return {"media": {"image": {"height": asset["height"], "src": link,
                                    "width": asset["width"]}},
                "media_type": kind, "target": {"id": asset["id"], "url": photo},
                "type": kind, "url": photo}

    def _attachments(self, media: list[dict[str, Any]], sub: list[Field] | None
                     ) -> dict[str, Any] | None:
        if not media:
            return None
        return {"data": [pick(self._attachment(m), sub, "StoryAttachment") for m in media]}

    @staticmethod
    def _empty_edge(spec: Field, summary: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"data": []}
        if str(spec.mods.get("summary", "")).lower() in ("true", "1", "total_count"):
            body["summary"] = summary
        return body

    def _can_reply_privately(self, target: Post | Comment) -> bool:
        s = self.state
        if s.is_brand(target.author_id) or target.private_reply_mid is not None:
            return False
        if isinstance(target, Post) and target.kind != "visitor":
            return False
        return s.clock.now() - target.created_at <= PRIVATE_REPLY_WINDOW

    def fb_comments(self, post: Post, parent: Comment | None, filter_: str, order: str
                    ) -> list[Comment]:
        s = self.state
        found = [c for c in s.comments.values() if c.post_id == post.id and not c.deleted]
        if parent is not None:
            found = [c for c in found if c.parent_id == parent.id]
        elif filter_ != "stream":
            found = [c for c in found if c.parent_id is None]
        return sorted(found, key=lambda c: c.seq, reverse=order == "reverse_chronological")

    def comments_edge(self, call: Call, target: Post | Comment, spec: Field | None
                      ) -> dict[str, Any]:
        s = self.state
        params = call.params if spec is None else spec.mods
        filter_ = str(params.get("filter") or "toplevel")
        order = str(params.get("order") or "chronological")
        if filter_ not in ("toplevel", "stream"):
            raise errors.invalid_param("Param filter must be one of {toplevel, stream} - got "
                                       f"\"{filter_}\"")
        if order not in ("chronological", "reverse_chronological"):
            raise errors.invalid_param("Param order must be one of {chronological, "
                                       f"reverse_chronological}} - got \"{order}\"")
        if isinstance(target, Post):
            post, parent = target, None
        else:
            post, parent = s.posts[target.post_id], target
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        items = window(self.fb_comments(post, parent, filter_, order), holder,
                       lambda c: c.created_at)
        sign = -1 if order == "reverse_chronological" else 1
        summary = {"order": order, "total_count": len(items), "can_comment": True}
        return self.edge(call, f"{target.id}/comments", items, lambda c: (sign * c.seq,),
                         lambda c, sub: self.comment_node(call, c, sub), spec, summary)

    def comment_node(self, call: Call, comment: Comment, fields: list[Field] | None
                     ) -> dict[str, Any]:
        s = self.state
        post = s.posts[comment.post_id]
        owner, number = post.id.split("_")[0], post.id.split("_")[-1]
        top = comment.parent_id or comment.id
        link = f"https://www.facebook.com/{owner}/posts/{number}/?comment_id={top.split('_')[-1]}"
        if comment.parent_id:
            link += f"&reply_comment_id={comment.id.split('_')[-1]}"
        parent = s.comments.get(comment.parent_id or "")
        replies = [c for c in s.comments.values() if c.parent_id == comment.id and not c.deleted]
        makers: dict[str, Maker] = {
            "id": lambda f: comment.id,
            "message": lambda f: comment.text,
            "created_time": lambda f: graph_time(comment.created_at),
            "from": lambda f: pick(s.display(comment.author_id), f.sub, "Profile"),
            "parent": lambda f: self.comment_node(call, parent, f.sub) if parent else None,
            "attachment": lambda f: pick(self._attachment(comment.media[0]), f.sub,
                                         "StoryAttachment") if comment.media else None,
            "permalink_url": lambda f: link,
            "is_hidden": lambda f: comment.hidden,
            "is_private": lambda f: False,
            "can_reply_privately": lambda f: self._can_reply_privately(comment),
            "can_hide": lambda f: not s.is_brand(comment.author_id),
            "can_remove": lambda f: True,
            "can_comment": lambda f: True,
            "can_like": lambda f: True,
            "comment_count": lambda f: len(replies),
            "like_count": lambda f: 0,
            "user_likes": lambda f: False,
            "message_tags": lambda f: self._tags(comment.text, FACEBOOK) or None,
            "object": lambda f: pick({"id": post.id, "created_time": graph_time(post.created_at)},
                                     f.sub, "PagePost"),
            "private_reply_conversation": lambda f: self._private_thread(comment, f),
            "comments": lambda f: self.comments_edge(call, comment, f),
            "reactions": lambda f: self._empty_edge(f, {"total_count": 0,
                                                         "viewer_reaction": "NONE"}),
            "likes": lambda f: self._empty_edge(f, {"total_count": 0}),
        }
        return self.node("Comment", fields, makers)

    def _private_thread(self, target: Comment, spec: Field) -> dict[str, Any] | None:
        message = self.state.messages.get(target.private_reply_mid or "")
        return pick({"id": message.thread_id}, spec.sub, "UnifiedThread") if message else None

    # -- Instagram ------------------------------------------------------------------------

    def ig_user_node(self, call: Call, fields: list[Field] | None) -> dict[str, Any]:
        s = self.state
        own = [p for p in s.posts.values() if p.network != FACEBOOK and p.kind == "page"
               and not p.deleted]
        makers: dict[str, Maker] = {
            "id": lambda f: s.ig_user_id,
            "username": lambda f: s.ig_handle,
            "name": lambda f: s.page_name,
            "ig_id": lambda f: int(s.ig_user_id[-10:]),
            "biography": lambda f: "Support for Socialdesk customers (sandbox).",
            "followers_count": lambda f: 0,
            "follows_count": lambda f: 0,
            "media_count": lambda f: len(own),
            "profile_picture_url": lambda f: None,
            "website": lambda f: None,
            "mentioned_comment": lambda f: self._mentioned_comment(call, f),
            "mentioned_media": lambda f: self._mentioned_media(call, f),
            "media": lambda f: self.media_edge(call, "media", f),
            "tags": lambda f: self.media_edge(call, "tags", f),
            "stories": lambda f: {"data": []},
            "live_media": lambda f: {"data": []},
        }
        return self.node("IGUser", fields, makers)

    def _mentioned_comment(self, call: Call, spec: Field) -> dict[str, Any]:
        s = self.state
        wanted = spec.mods.get("comment_id")
        if not wanted:
            raise errors.invalid_param("mentioned_comment requires the comment_id modifier")
        comment = s.live_comment(wanted)
        if comment is None or comment.network == FACEBOOK or not comment.mentions_brand:
            raise errors.invalid_param(f"Invalid comment_id: {wanted}")
        return self.ig_comment_node(call, comment, spec.sub)

    def _mentioned_media(self, call: Call, spec: Field) -> dict[str, Any]:
        s = self.state
        wanted = spec.mods.get("media_id")
        if not wanted:
            raise errors.invalid_param("mentioned_media requires the media_id modifier")
        media = s.live_post(wanted)
        if media is None or media.network == FACEBOOK or not (
                media.mentions_brand or any(c.mentions_brand and c.post_id == media.id
                                            for c in s.comments.values())):
            raise errors.invalid_param(f"Invalid media_id: {wanted}")
        return self.media_node(call, media, spec.sub)

    def ig_media(self, which: str) -> list[Post]:
        s = self.state
        if which == "media":
            found = [p for p in s.posts.values() if p.network != FACEBOOK and p.kind == "page"]
        else:
            found = [p for p in s.posts.values() if p.network != FACEBOOK and p.tagged]
        return sorted((p for p in found if not p.deleted), key=lambda p: p.seq, reverse=True)

    def media_edge(self, call: Call, which: str, spec: Field | None) -> dict[str, Any]:
        params = call.params if spec is None else spec.mods
        holder = Call(call.method, call.version, call.path, params, call.token, call.grant)
        items = window(self.ig_media(which), holder, lambda p: p.created_at)
        return self.edge(call, f"{self.state.ig_user_id}/{which}", items, lambda p: (-p.seq,),
                         lambda p, sub: self.media_node(call, p, sub), spec)

    def media_node(self, call: Call, media: Post, fields: list[Field] | None
                   ) -> dict[str, Any]:
        s = self.state
        asset = media.media[0] if media.media else None
        comments = [c for c in s.comments.values() if c.post_id == media.id and not c.deleted]
        media_type = {"video": "VIDEO"}.get(asset["type"] if asset else "", "IMAGE")
        makers: dict[str, Maker] = {
            "id": lambda f: media.id,
            "caption": lambda f: media.text or None,
            "timestamp": lambda f: graph_time(media.created_at),
            "permalink": lambda f: f"https://www.instagram.com/p/{media.shortcode}/",
            "shortcode": lambda f: media.shortcode,
            "comments_count": lambda f: len(comments),
            "like_count": lambda f: 0,
            "media_type": lambda f: media_type,
            "media_product_type": lambda f: "FEED",
            "media_url": lambda f: s.cdn.link(asset) if asset else None,
            "thumbnail_url": lambda f: s.cdn.link(asset) if asset and media_type == "VIDEO"
            else None,
            "username": lambda f: s.username(media.author_id),
            "owner": lambda f: pick({"id": media.author_id}, f.sub, "IGUser")
            if media.kind == "page" else None,
            "is_comment_enabled": lambda f: True,
            "comments": lambda f: self.ig_comments_edge(call, media, f),
            "children": lambda f: None,
        }
        return self.node("IGMedia", fields, makers)

    def ig_comments_edge(self, call: Call, target: Post | Comment, spec: Field | None
                         ) -> dict[str, Any]:
        """Top-level comments of a media, newest first; or a comment's replies, oldest first."""
        s = self.state
        if isinstance(target, Post):
            items = sorted((c for c in s.comments.values() if c.post_id == target.id
                            and c.parent_id is None and not c.deleted),
                           key=lambda c: c.seq, reverse=True)
            key: Callable[[Comment], Any] = lambda c: (-c.seq,)
            path = f"{target.id}/comments"
        else:
            items = sorted((c for c in s.comments.values() if c.parent_id == target.id
                            and not c.deleted), key=lambda c: c.seq)
            key = lambda c: (c.seq,)
            path = f"{target.id}/replies"
        return self.edge(call, path, items, key,
                         lambda c, sub: self.ig_comment_node(call, c, sub), spec)

    def ig_comment_node(self, call: Call, comment: Comment, fields: list[Field] | None
                        ) -> dict[str, Any]:
        s = self.state
        makers: dict[str, Maker] = {
            "id": lambda f: comment.id,
            "text": lambda f: comment.text,
            "timestamp": lambda f: graph_time(comment.created_at),
            "username": lambda f: s.username(comment.author_id),
            "from": lambda f: pick(s.ig_display(comment.author_id), f.sub, "IGCommentFromUser"),
            "like_count": lambda f: 0,
            "hidden": lambda f: comment.hidden,
            "media": lambda f: pick({"id": comment.post_id, "media_product_type": "FEED"},
                                    f.sub, "IGMedia"),
            "parent_id": lambda f: comment.parent_id,
            "user": lambda f: pick({"id": s.ig_user_id}, f.sub, "IGUser")
            if comment.author_id == s.ig_user_id else None,
            "replies": lambda f: self.ig_comments_edge(call, comment, f),
        }
        return self.node("IGComment", fields, makers)

    # -- people ---------------------------------------------------------------------------

    def person_node(self, person: Person, fields: list[Field] | None) -> dict[str, Any]:
        first, _, last = person.name.partition(" ")
        if person.network == FACEBOOK:
            makers: dict[str, Maker] = {
                "id": lambda f: person.id, "name": lambda f: person.name,
                "first_name": lambda f: first, "last_name": lambda f: last or None}
            return self.node("User", fields, makers)
        makers = {"id": lambda f: person.id, "name": lambda f: person.name,
                  "username": lambda f: person.handle, "follower_count": lambda f: 0,
                  "is_user_follow_business": lambda f: False,
                  "is_business_follow_user": lambda f: False,
                  "is_verified_user": lambda f: False}
        return self.node("InstagramUser", fields, makers)

    # -- conversations ---------------------------------------------------------------------

    def participant(self, network: str, some_id: str) -> dict[str, Any]:
        s = self.state
        if network == FACEBOOK:
            shown = s.display(some_id)
            return {"name": shown["name"], "email": f"{some_id}@facebook.com", "id": some_id}
        return {"username": s.username(some_id), "id": some_id}

    def thread_node(self, call: Call, thread: Thread, fields: list[Field] | None
                    ) -> dict[str, Any]:
        s = self.state
        messages = s.thread_messages(thread)
        people = [self.participant(thread.network, thread.person_id),
                  self.participant(thread.network, s.brand_id(thread.network))]
        open_ = thread.customer_at is not None and \
            s.clock.now() - thread.customer_at <= HUMAN_AGENT_WINDOW
        makers: dict[str, Maker] = {
            "id": lambda f: thread.id,
            "updated_time": lambda f: graph_time(thread.updated_at),
            "participants": lambda f: {"data": [pick(p, f.sub, "Profile") for p in people]},
            "senders": lambda f: {"data": [pick(p, f.sub, "Profile") for p in people]},
            "message_count": lambda f: len(messages),
            "unread_count": lambda f: 0,
            "snippet": lambda f: messages[0].text[:100] if messages else "",
            "link": lambda f: f"/{s.page_id}/inbox/{thread.seq}/",
            "can_reply": lambda f: open_,
            "is_subscribed": lambda f: True,
            "folder": lambda f: "inbox",
            "messages": lambda f: self.messages_edge(call, thread, f),
        }
        return self.node("UnifiedThread", fields, makers)

    def messages_edge(self, call: Call, thread: Thread, spec: Field | None) -> dict[str, Any]:
        items = self.state.thread_messages(thread)
        return self.edge(call, f"{thread.id}/messages", items, lambda m: (-m.seq,),
                         lambda m, sub: self.message_node(call, m, sub), spec)

    def message_node(self, call: Call, message: Message, fields: list[Field] | None
                     ) -> dict[str, Any]:
        network = message.network
        makers: dict[str, Maker] = {
            "id": lambda f: message.id,
            "created_time": lambda f: graph_time(message.created_at),
            "message": lambda f: message.text,
            "from": lambda f: pick(self.participant(network, message.sender_id), f.sub,
                                   "Profile"),
            "to": lambda f: {"data": [pick(self.participant(network, message.recipient_id),
                                           f.sub, "Profile")]},
            "attachments": lambda f: self._message_attachments(message, f.sub),
            "tags": lambda f: {"data": [{"name": "inbox"}, {"name": "read"}]
                               + ([{"name": "source:chat"}] if message.from_brand else [])},
            "is_unsupported": lambda f: False,
        }
        return self.node("Message", fields, makers)

    def _message_attachments(self, message: Message, sub: list[Field] | None
                             ) -> dict[str, Any] | None:
        if not message.media:
            return None
        out = []
        for asset in message.media:
            link = self.state.cdn.link(asset)
            item: dict[str, Any] = {"id": asset["id"], "mime_type": asset["mime_type"],
                                    "name": asset["name"], "size": asset["size"]}
            if asset["type"] == "image":
                item["image_data"] = {"width": asset["width"], "height": asset["height"],
                                      "max_width": asset["width"],
                                      "max_height": asset["height"], "url": link,
                                      "preview_url": link, "image_type": 1,
                                      "render_as_sticker": False}
            elif asset["type"] == "video":
                item["video_data"] = {"width": 1, "height": 1, "length": 1, "video_type": 1,
                                      "url": link, "preview_url": link, "rotation": 0}
            else:
                item["file_url"] = link
            out.append(pick(item, sub, "MessageAttachment"))
        return {"data": out}
