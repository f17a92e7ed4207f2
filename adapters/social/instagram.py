"""An Instagram professional account over the Instagram Graph API with Facebook Login.

The account is reached through the Facebook Page linked to it, with that Page's token:
comments and replies on the account's media, mentions and tags, and Instagram messaging
(the Page's conversations with ``platform=instagram``, its Send API for answers).
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import requests

from adapters.base import (
    Author, Change, Cursor, FatalError, KeepsRateBudget, Media, Mention, NotFound, OutboundPost, Page, PostedReply,
    ReadsDMs, ReceivesPushes, RemembersAccount, ResolvesMedia, SkippableError, SocialNetwork, SocialdeskError,
    StartsAtTime, Unparseable,
)
from adapters.social.meta import (
    FIND_PAGES, ITEM_ERRORS, MAX_EXTRA_PAGES, PAGE_SIZE, SETTINGS_SCHEMA, BatchCall, MetaAccount, MetaSettings,
    epoch_or_none, graph_time, item_key, media_kind, meta_settings, nested,
    next_after, opt_str, same_text, settings_problems, sid, text_of,
)

COMMENT_FIELDS = "id,text,timestamp,username,from{id,username},parent_id"
THREAD_FIELDS = f"{COMMENT_FIELDS},replies{{{COMMENT_FIELDS}}}"
MEDIA_FIELDS = "id,caption,timestamp,permalink,comments_count,media_type,media_url,username"
TAG_FIELDS = "id,caption,timestamp,permalink,username,media_type,media_url"
COMMENTS_PER_PAGE = 50


class InstagramAccount(MetaAccount, SocialNetwork, ReadsDMs, StartsAtTime, ReceivesPushes, ResolvesMedia,
                       RemembersAccount, KeepsRateBudget):
    """The brand's Instagram professional account: comments, mentions and messages."""

    kind: ClassVar[str] = "instagram"
    platform: ClassVar[str] = "instagram"
    webhook_object: ClassVar[str] = "instagram"
    # An Instagram comment holds up to 2,200 characters; an Instagram message 1,000.
    max_reply_len: ClassVar[int] = 2200
    max_dm_len: ClassVar[int] = 1000
    min_poll_interval: ClassVar[float] = 60.0
    private_reply_window: ClassVar[float | None] = 24 * 3600.0
    human_agent_window: ClassVar[float | None] = 7 * 24 * 3600.0
    private_replies: ClassVar[bool] = True
    PRIVATE_REPLY_FIELDS: ClassVar[str] = "from"

    def weighted_length(self, text: str) -> int:
        """UTF-8 bytes: Instagram's Send API takes at most 1,000 bytes of message text; a
        comment's 2,200 is held to the same count (never refused, at worst split sooner)."""
        return len(text.encode("utf-8"))
    settings_schema: ClassVar[Mapping[str, str]] = {**SETTINGS_SCHEMA, "ig_user_id": "string"}
    required_settings: ClassVar[tuple[str, ...]] = ("page_id", "page_token", "ig_user_id")

    def __init__(self, settings: MetaSettings, session: requests.Session | None = None) -> None:
        if not settings.ig_user_id:
            raise FatalError("instagram needs ig_user_id: the Instagram professional account's id (Graph API "
                             "Explorer: '{page-id}?fields=instagram_business_account')")
        super().__init__(settings, session)
        # Parents of comments read or posted (None: top-level), so a reply needs no lookup.
        self._parents: dict[str, str | None] = {}
        # Comments elsewhere that mention the account, by the media they are on.
        self._mentioned: dict[str, str] = {}

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "InstagramAccount":
        return cls(meta_settings(values, str(values.get("name") or "instagram")))

    @classmethod
    def settings_problems(cls, values: Mapping[str, Any]) -> list[str]:
        return settings_problems(values, instagram=True)

    @property
    def own_id(self) -> str:
        return str(self.settings.ig_user_id)

    # ------------------------------------------------------------------ identity

    def whoami(self) -> Author:
        if self._me is None:
            body = self.graph.get(self.own_id, "read the Instagram account", fields="id,username,name")
            username = opt_str(body.get("username"))
            if str(body.get("id")) != self.own_id or username is None:
                raise FatalError(f"read the Instagram account: Meta answered for {body.get('id')!r}, not "
                                 f"ig_user_id {self.own_id}")
            self._me = Author(self.kind, self.own_id, username, opt_str(body.get("name")),
                              profile_url=f"https://www.instagram.com/{username}/")
        return self._me

    def probe(self) -> None:
        """The account read with the Page token: the token works and reaches this account."""
        body = self.graph.get(self.own_id, "check the Page token", fields="id,username")
        if str(body.get("id")) != self.own_id:
            raise FatalError(f"check the Page token: it reaches {body.get('id')!r}, not ig_user_id {self.own_id}")

    def account_key(self) -> str:
        return f"instagram {self.own_id}"

    def _author(self, scoped_id: str, name: str | None, username: str | None) -> Author:
        return Author(self.kind, scoped_id, username or name or scoped_id, name,
                      profile_url=f"https://www.instagram.com/{username}/" if username else None)

    def _profile_fields(self) -> str:
        return "name,username"

    def _is_own(self, author_id: str | None, username: str | None) -> bool:
        if author_id == self.own_id:
            return True
        return username is not None and self._me is not None and username == self._me.handle

    # ------------------------------------------------------------------ reconciliation

    def fetch_mentions(self, cursor: Cursor, page: str | None = None) -> Page:
        """Comments and replies on the account's recent media, then media it is tagged in,
        created at or after ``cursor``'s moment (within ``lookback_days``)."""
        return self.phased_read(cursor, page, ("media", self._media_page), ("tags", self._tags_page))

    def _media_page(self, since: int, floor: int, after: str | None) -> tuple[list[Mention | Unparseable], str | None]:
        body = self.graph.get(f"{self.own_id}/media", "read the account's media", fields=MEDIA_FIELDS,
                              since=floor, limit=PAGE_SIZE, after=after)
        rows = [m for m in body.get("data") or [] if isinstance(m, dict)]
        recent = [m for m in rows if (epoch_or_none(m.get("timestamp")) or floor) >= floor]
        with_comments = [m for m in recent if m.get("id") and m.get("comments_count") != 0]
        items = self._media_comments(with_comments, since)
        return items, next_after(body) if len(recent) == len(rows) else None

    def _media_comments(self, media: list[dict[str, Any]], since: int) -> list[Mention | Unparseable]:
        """Comments (with their replies) on each media, read in batches; Instagram filters
        comments by no time, so a recent media's comments are read whole (bounded)."""
        def call(media_id: str, after: str | None = None) -> BatchCall:
            return BatchCall(f"{media_id}/comments", {"fields": THREAD_FIELDS, "limit": COMMENTS_PER_PAGE,
                                                      "after": after})

        permalinks = {str(m["id"]): opt_str(m.get("permalink")) for m in media}
        items: list[Mention | Unparseable] = []
        pending = [(str(m["id"]), call(str(m["id"]))) for m in media]
        for _ in range(MAX_EXTRA_PAGES + 1):
            if not pending:
                break
            answers = self.graph.batch([c for _, c in pending], "read comments")
            more = []
            for (media_id, _), answer in zip(pending, answers):
                if isinstance(answer, NotFound):
                    continue
                if isinstance(answer, SocialdeskError):
                    raise answer
                for row in answer.get("data") or []:
                    items.extend(self._thread_items(row, media_id, permalinks.get(media_id), since))
                after = next_after(answer)
                if after:
                    more.append((media_id, call(media_id, after)))
            pending = more
        return items

    def _thread_items(self, row: Any, media_id: str, permalink: str | None, since: int) -> list[Mention | Unparseable]:
        found: list[Mention | Unparseable] = []
        replies = nested(row, "replies", "data") if isinstance(row, dict) else None
        for item, parent in [(row, None)] + [(r, row.get("id")) for r in replies or []]:
            created = epoch_or_none(item.get("timestamp")) if isinstance(item, dict) else None
            if created is not None and created < since:
                if isinstance(item, dict) and item.get("id"):
                    self._parents[str(item["id"])] = opt_str(item.get("parent_id")) or opt_str(parent)
                continue
            found.extend(self._comment_item(item, media_id, permalink, parent))
        return found

    def _comment_item(self, row: Any, media_id: str, permalink: str | None, parent: Any = None,
                      kind: str = "comment") -> list[Mention | Unparseable]:
        try:
            mention = self._comment(row, media_id, permalink, parent, kind)
        except ITEM_ERRORS as err:
            return [Unparseable(self.kind, item_key(self.kind, row), f"malformed comment: {type(err).__name__}: {err}",
                                row)]
        return [mention] if mention is not None else []

    def _comment(self, row: Mapping[str, Any], media_id: str, permalink: str | None, parent: Any = None,
                 kind: str = "comment") -> Mention | None:
        comment_id = sid(row["id"])
        who = row.get("from") if isinstance(row.get("from"), dict) else {}
        username = opt_str(who.get("username")) or opt_str(row.get("username"))
        author_id = sid(who["id"]) if who.get("id") is not None else username
        if author_id is None:
            raise KeyError("from: the comment names no author")
        parent_id = opt_str(row.get("parent_id")) or (sid(parent) if parent is not None else None)
        self._parents[comment_id] = parent_id
        if self._is_own(author_id, username):
            return None
        url = f"{permalink.rstrip('/')}/c/{comment_id}/" if permalink else None
        return Mention(network=self.kind, id=comment_id, kind=kind,  # type: ignore[arg-type]
                       author=self._author(author_id, None, username), text=text_of(row.get("text")),
                       created_at=graph_time(row.get("timestamp")), url=url, conversation_id=media_id,
                       in_reply_to=parent_id or media_id)

    def _tags_page(self, since: int, after: str | None) -> tuple[list[Mention | Unparseable], str | None]:
        body = self.graph.get(f"{self.own_id}/tags", "read media the account is tagged in", fields=TAG_FIELDS,
                              limit=PAGE_SIZE, after=after)
        rows = [m for m in body.get("data") or [] if isinstance(m, dict)]
        fresh = [m for m in rows if (epoch_or_none(m.get("timestamp")) or since) >= since]
        items: list[Mention | Unparseable] = []
        for row in fresh:
            try:
                mention = self._media_mention(row)
            except ITEM_ERRORS as err:
                items.append(Unparseable(self.kind, item_key(self.kind, row),
                                         f"malformed media: {type(err).__name__}: {err}", row))
                continue
            if mention is not None:
                items.append(mention)
        return items, next_after(body) if len(fresh) == len(rows) else None

    def _media_mention(self, row: Mapping[str, Any]) -> Mention | None:
        """Someone's media that tags or names the account. Instagram shows its owner's
        username, not an id: the username stands in for one."""
        media_id = sid(row["id"])
        username = opt_str(row.get("username"))
        owner = nested(row, "owner", "id")
        author_id = sid(owner) if owner is not None else username
        if author_id is None:
            raise KeyError("username: the media names no owner")
        if self._is_own(author_id, username):
            return None
        url = row.get("media_url")
        media = (Media(media_kind(row.get("media_type")), f"igmedia:{media_id}", url),) \
            if isinstance(url, str) and url else ()
        return Mention(network=self.kind, id=media_id, kind="mention", author=self._author(author_id, None, username),
                       text=text_of(row.get("caption")), created_at=graph_time(row.get("timestamp")),
                       url=opt_str(row.get("permalink")), conversation_id=media_id, media=media)

    # ------------------------------------------------------------------ webhooks

    def _change_items(self, entry: Mapping[str, Any], change: Any) -> list[Mention | Change]:
        if not isinstance(change, dict):
            raise TypeError("a change is an object")
        field, value = change.get("field"), change.get("value")
        if field not in ("comments", "live_comments", "mentions"):
            return []
        if not isinstance(value, dict):
            raise TypeError(f"the {field} change carries no value")
        if field == "mentions":
            return self._mention_change(value)
        comment_id = sid(value["id"])
        media_id = nested(value, "media", "id")
        who = value.get("from")
        if not isinstance(who, dict) or media_id is None:
            # An older, shorter delivery (id and text): the comment is read.
            return self._read_comment(comment_id)
        row = {"id": comment_id, "text": value.get("text"), "from": who, "parent_id": value.get("parent_id"),
               "timestamp": entry.get("time")}
        mention = self._comment(row, sid(media_id), None)
        return [mention] if mention is not None else []

    def _read_comment(self, comment_id: str) -> list[Mention | Change]:
        try:
            row = self.graph.call("GET", comment_id, "read a comment",
                                  params={"fields": f"{COMMENT_FIELDS},media{{id,permalink}}"})
        except NotFound:
            return []
        media_id = nested(row, "media", "id")
        if media_id is None:
            raise KeyError("media: the comment names no media")
        mention = self._comment(row, sid(media_id), opt_str(nested(row, "media", "permalink")))
        return [mention] if mention is not None else []

    def _mention_change(self, value: Mapping[str, Any]) -> list[Mention | Change]:
        """``mentions``: only ids; the comment or caption is read through the account's
        ``mentioned_comment`` / ``mentioned_media`` fields."""
        media_id = sid(value["media_id"])
        comment_id = value.get("comment_id")
        try:
            if comment_id is not None:
                comment_id = sid(comment_id)
                body = self.graph.get(self.own_id, "read a mention", fields=(
                    f"mentioned_comment.comment_id({comment_id}){{{COMMENT_FIELDS},media{{id,permalink}}}}"))
                row = body.get("mentioned_comment")
                if not isinstance(row, dict):
                    return []
                self._mentioned[comment_id] = media_id
                mention = self._comment(row, media_id, opt_str(nested(row, "media", "permalink")), kind="mention")
            else:
                body = self.graph.get(self.own_id, "read a mention",
                                      fields=f"mentioned_media.media_id({media_id}){{{TAG_FIELDS}}}")
                row = body.get("mentioned_media")
                if not isinstance(row, dict):
                    return []
                mention = self._media_mention(row)
        except NotFound:
            return []
        return [mention] if mention is not None else []

    # ------------------------------------------------------------------ answers

    def post(self, post: OutboundPost) -> PostedReply:
        sent = self._post_message(post)
        if sent is not None:
            return sent
        if not post.in_reply_to:
            raise SkippableError("an Instagram answer goes under a comment or media (in_reply_to), to a person "
                                 "(dm_recipient_id), or privately to a comment's author (private_reply_to)")
        if self.weighted_length(post.text) > self.max_reply_len:
            raise SkippableError(f"comment is {len(post.text)} characters; Instagram allows {self.max_reply_len}")
        target = post.in_reply_to
        if target in self._mentioned:
            # A comment on someone else's media that names the account: answered through /mentions.
            body = self.graph.call("POST", f"{self.own_id}/mentions", "answer a mention", write=True,
                                   data={"media_id": self._mentioned[target], "comment_id": target,
                                         "message": post.text})
            top = None
        else:
            top = self._top_comment(target)
            # Instagram takes replies on top-level comments only: a reply's answer goes to its parent.
            path = f"{top}/replies" if top is not None else f"{target}/comments"
            body = self.graph.call("POST", path, "post a reply", data={"message": post.text}, write=True)
        comment_id = body.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise FatalError("post a reply: Meta's answer names no id")
        self._parents[comment_id] = top
        return PostedReply(self.kind, comment_id, None, post.text, in_reply_to=post.in_reply_to)

    def _top_comment(self, object_id: str) -> str | None:
        """The top-level comment of a comment (itself when it is one); None for a media."""
        if object_id in self._parents:
            return self._parents[object_id] or object_id
        try:
            row = self.graph.call("GET", object_id, "read the comment answered", params={"fields": "id,parent_id"},
                                  write=True)
        except SkippableError:
            return None    # a media has no parent_id: the answer is a comment on it
        parent = opt_str(row.get("parent_id"))
        self._parents[object_id] = parent
        return parent or object_id

    def find_own_post(self, post: OutboundPost, since_id: str | None = None) -> PostedReply | None:
        """The account's earlier identical answer under the comment's thread (or on the media),
        or in the conversation."""
        if post.dm_recipient_id or post.private_reply_to:
            return self._find_message(post)
        if not post.in_reply_to:
            return None
        top = self._top_comment(post.in_reply_to)
        path = f"{top}/replies" if top is not None else f"{post.in_reply_to}/comments"
        me = self._me.handle if self._me is not None else None
        for row in self.graph.pages(path, "read the answers under a comment",
                                    {"fields": "id,text,username,from{id,username},timestamp",
                                     "limit": COMMENTS_PER_PAGE}, most=FIND_PAGES, write=True):
            author = str(nested(row, "from", "id"))
            username = opt_str(nested(row, "from", "username")) or opt_str(row.get("username"))
            if (author == self.own_id or (me is not None and username == me)) and same_text(row.get("text"), post.text):
                return PostedReply(self.kind, str(row["id"]), None, post.text, in_reply_to=post.in_reply_to)
        return None
