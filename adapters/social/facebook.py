"""A Facebook Page over Meta's Graph API, as the Page (its Page token).

Webhooks (``feed``, ``mention``, ``messages``) bring comments, visitor posts, mentions and
Messenger conversations as they happen; ``fetch_mentions`` and ``fetch_dms`` are the
reconciliation that finds what a lost delivery missed. Answers go under the comment or
post, by Messenger, or as a Private Reply to a comment's author.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import requests

from adapters.base import (
    Author, Change, ChangeKind, Cursor, FatalError, KeepsRateBudget, Media, Mention, NotFound, OutboundPost, Page,
    PostedReply, ReadsDMs, ReceivesPushes, RemembersAccount, ResolvesMedia, SkippableError, SocialNetwork,
    SocialdeskError, StartsAtTime, Unparseable, post_key,
)
from adapters.social.meta import (
    COMMENT_PAGE_SIZE, FIND_PAGES, ITEM_ERRORS, MAX_EXTRA_PAGES, PAGE_SIZE, BatchCall, MetaAccount, MetaSettings,
    epoch_or_none, graph_time, item_key, media_kind, meta_settings, nested,
    next_after, opt_str, same_text, settings_problems, sid, text_of,
)

POST_FIELDS = "id,message,created_time,updated_time,from{id,name},permalink_url,full_picture"
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,attachment"
# Feed items a visitor's post arrives as (``feed`` webhook ``item``).
POST_ITEMS = frozenset({"post", "status", "photo", "video", "share", "link"})
VERBS: Mapping[str, ChangeKind] = {"edited": "edited", "edit": "edited", "remove": "deleted",
                                    "hide": "hidden", "unhide": "unhidden"}


def comment_url(post_id: str, comment_id: str) -> str | None:
    """A comment's link from its ids (``{page}_{post}`` and ``{post}_{comment}``), as Meta's
    ``permalink_url`` spells it, when the webhook carried none."""
    page, _, post = post_id.partition("_")
    _, _, comment = comment_id.partition("_")
    if not (page and post and comment):
        return None
    return f"https://www.facebook.com/{page}/posts/{post}/?comment_id={comment}"


def post_url(post_id: str) -> str:
    page, _, post = post_id.partition("_")
    return f"https://www.facebook.com/{page}/posts/{post}/" if post else f"https://www.facebook.com/{post_id}"


class FacebookPage(MetaAccount, SocialNetwork, ReadsDMs, StartsAtTime, ReceivesPushes, ResolvesMedia,
                   RemembersAccount, KeepsRateBudget):
    """The brand's Facebook Page: comments, visitor posts, mentions and Messenger."""

    kind: ClassVar[str] = "facebook"
    platform: ClassVar[str] = "messenger"
    webhook_object: ClassVar[str] = "page"
    # A Facebook comment holds up to 8,000 characters; a Messenger text 2,000 (Send API).
    max_reply_len: ClassVar[int] = 8000
    max_dm_len: ClassVar[int] = 2000
    # Webhooks carry the news; the reads reconcile, and each costs Page budget.
    min_poll_interval: ClassVar[float] = 60.0
    private_reply_window: ClassVar[float | None] = 24 * 3600.0
    human_agent_window: ClassVar[float | None] = 7 * 24 * 3600.0
    private_replies: ClassVar[bool] = True
    addresses_author: ClassVar[bool] = False

    def __init__(self, settings: MetaSettings, session: requests.Session | None = None) -> None:
        super().__init__(settings, session)

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "FacebookPage":
        return cls(meta_settings(values, str(values.get("name") or "facebook")))

    @classmethod
    def settings_problems(cls, values: Mapping[str, Any]) -> list[str]:
        return settings_problems(values)

    # ------------------------------------------------------------------ identity

    def whoami(self) -> Author:
        if self._me is None:
            body = self.graph.get(self.settings.page_id, "read the Page", fields="id,name,username,link")
            if str(body.get("id")) != self.settings.page_id:
                raise FatalError(f"read the Page: Meta answered for {body.get('id')!r}, not page_id "
                                 f"{self.settings.page_id}")
            name = opt_str(body.get("name"))
            handle = opt_str(body.get("username")) or name or self.settings.page_id
            self._me = Author(self.kind, self.settings.page_id, handle, name,
                              profile_url=opt_str(body.get("link")) or f"https://www.facebook.com/{handle}")
        return self._me

    def probe(self) -> None:
        """``GET /me`` with the Page token: the token works, and belongs to this Page."""
        body = self.graph.get("me", "check the Page token", fields="id,name")
        if str(body.get("id")) != self.settings.page_id:
            raise FatalError(f"check the Page token: it is the token of {body.get('id')!r}, not of page_id "
                             f"{self.settings.page_id}: make a Page token for this Page")

    def account_key(self) -> str:
        return f"page {self.settings.page_id}"

    def _author(self, scoped_id: str, name: str | None, username: str | None) -> Author:
        # A Page sees a person's page-scoped id and name, never a username.
        return Author(self.kind, scoped_id, name or scoped_id, name)

    # ------------------------------------------------------------------ reconciliation

    def fetch_mentions(self, cursor: Cursor, page: str | None = None) -> Page:
        """Comments and replies on the Page's recent posts, visitor posts, then posts that
        mention the Page, created at or after ``cursor``'s moment (within ``lookback_days``)."""
        return self.phased_read(cursor, page, ("feed", self._feed_page), ("tagged", self._tagged_page))

    def _feed_page(self, since: int, floor: int, after: str | None) -> tuple[list[Mention | Unparseable], str | None]:
        body = self.graph.get(f"{self.settings.page_id}/feed", "read the Page's feed", fields=POST_FIELDS,
                              since=floor, limit=PAGE_SIZE, after=after)
        posts = [p for p in body.get("data") or [] if isinstance(p, dict)]
        items: list[Mention | Unparseable] = []
        recent, commented = [], []
        for post in posts:
            created = epoch_or_none(post.get("created_time"))
            if created is not None and created < floor:
                continue
            recent.append(post)
            if created is None or created >= since:
                items.extend(self._visitor_post(post))
            # A post's updated_time moves when someone comments (Graph API Post reference).
            updated = epoch_or_none(post.get("updated_time"))
            if post.get("id") and (updated is None or updated >= since):
                commented.append(str(post["id"]))
        items.extend(self._comments(commented, since))
        return items, next_after(body) if len(recent) == len(posts) else None

    def _visitor_post(self, post: dict[str, Any]) -> list[Mention | Unparseable]:
        try:
            mention = self._post_mention(post)
        except ITEM_ERRORS as err:
            return [Unparseable(self.kind, item_key(self.kind, post), f"malformed post: {type(err).__name__}: {err}",
                                post)]
        return [mention] if mention is not None else []

    def _comments(self, post_ids: list[str], since: int) -> list[Mention | Unparseable]:
        """Each post's comments and replies (``filter=stream``) since ``since``, newest first,
        read in batches."""
        def call(post_id: str, after: str | None = None) -> BatchCall:
            return BatchCall(f"{post_id}/comments", {"filter": "stream", "order": "reverse_chronological",
                                                     "since": since, "fields": COMMENT_FIELDS,
                                                     "limit": COMMENT_PAGE_SIZE, "after": after})

        items: list[Mention | Unparseable] = []
        pending = [(p, call(p)) for p in post_ids]
        for _ in range(MAX_EXTRA_PAGES + 1):
            if not pending:
                break
            answers = self.graph.batch([c for _, c in pending], "read comments")
            more = []
            for (post_id, _), answer in zip(pending, answers):
                if isinstance(answer, NotFound):
                    continue     # the post is gone since the feed was read
                if isinstance(answer, SocialdeskError):
                    raise answer
                reached = False
                for row in answer.get("data") or []:
                    created = epoch_or_none(row.get("created_time")) if isinstance(row, dict) else None
                    if created is not None and created < since:
                        reached = True
                        continue
                    items.extend(self._comment_item(row, post_id))
                after = next_after(answer)
                if after and not reached:
                    more.append((post_id, call(post_id, after)))
            pending = more
        return items

    def _comment_item(self, row: Any, post_id: str, kind: str = "comment") -> list[Mention | Unparseable]:
        try:
            mention = self._comment(row, post_id, kind)
        except ITEM_ERRORS as err:
            return [Unparseable(self.kind, item_key(self.kind, row), f"malformed comment: {type(err).__name__}: {err}",
                                row)]
        return [mention] if mention is not None else []

    def _comment(self, row: Mapping[str, Any], post_id: str, kind: str = "comment") -> Mention | None:
        comment_id = sid(row["id"])
        who = row.get("from")
        if not isinstance(who, dict):
            raise KeyError("from: the comment names no author (the Page token needs pages_read_user_content)")
        author_id = sid(who["id"])
        if author_id == self.settings.page_id:
            return None     # our own answer
        parent = nested(row, "parent", "id")
        attachment = row.get("attachment")
        media: tuple[Media, ...] = ()
        if isinstance(attachment, dict):
            url = (nested(attachment, "media", "source") or nested(attachment, "media", "image", "src")
                   or attachment.get("url"))
            media = (Media(media_kind(attachment.get("type")), f"comment:{comment_id}",
                           url if isinstance(url, str) else None),)
        return Mention(network=self.kind, id=comment_id, kind=kind,  # type: ignore[arg-type]
                       author=self._author(author_id, opt_str(who.get("name")), None),
                       text=text_of(row.get("message")), created_at=graph_time(row.get("created_time")),
                       url=opt_str(row.get("permalink_url")) or comment_url(post_id, comment_id),
                       conversation_id=post_id, in_reply_to=parent if isinstance(parent, str) else post_id,
                       media=media)

    def _post_mention(self, row: Mapping[str, Any]) -> Mention | None:
        """A post by someone else on the Page (a visitor post) or naming it (a mention)."""
        post_id = sid(row["id"])
        who = row.get("from")
        if not isinstance(who, dict):
            raise KeyError("from: the post names no author (the Page token needs pages_read_user_content)")
        author_id = sid(who["id"])
        if author_id == self.settings.page_id:
            return None
        picture = row.get("full_picture")
        media = (Media("image", f"post:{post_id}", picture),) if isinstance(picture, str) and picture else ()
        return Mention(network=self.kind, id=post_id, kind="mention",
                       author=self._author(author_id, opt_str(who.get("name")), None),
                       text=text_of(row.get("message")), created_at=graph_time(row.get("created_time")),
                       url=opt_str(row.get("permalink_url")) or post_url(post_id), conversation_id=post_id,
                       media=media)

    def _tagged_page(self, since: int, after: str | None) -> tuple[list[Mention | Unparseable], str | None]:
        body = self.graph.get(f"{self.settings.page_id}/tagged", "read posts that mention the Page",
                              fields=POST_FIELDS, since=since, limit=PAGE_SIZE, after=after)
        rows = [p for p in body.get("data") or [] if isinstance(p, dict)]
        fresh = [p for p in rows if (epoch_or_none(p.get("created_time")) or since) >= since]
        items: list[Mention | Unparseable] = []
        for row in fresh:
            items.extend(self._visitor_post(row))
        return items, next_after(body) if len(fresh) == len(rows) else None

    # ------------------------------------------------------------------ webhooks

    def _change_items(self, entry: Mapping[str, Any], change: Any) -> list[Mention | Change]:
        if not isinstance(change, dict):
            raise TypeError("a change is an object")
        field, value = change.get("field"), change.get("value")
        if field not in ("feed", "mention"):
            return []       # fields socialdesk does not subscribe to (ratings, page info...)
        if not isinstance(value, dict):
            raise TypeError(f"the {field} change carries no value")
        item, verb = value.get("item"), value.get("verb")
        at = graph_time(entry.get("time")) or graph_time(value.get("created_time"))
        if field == "mention":
            return self._mention_change(value, verb, at)
        who = value.get("from") if isinstance(value.get("from"), dict) else {}
        sender = who.get("id", value.get("sender_id"))
        sender_id = sid(sender) if sender is not None else None
        by = opt_str(who.get("name")) or opt_str(value.get("sender_name")) or sender_id
        if item == "comment":
            comment_id = sid(value["comment_id"])
            if verb == "add":
                if sender_id == self.settings.page_id:
                    return []
                if sender_id is None:
                    return self._read_comment(comment_id, value, "comment")
                return [self._pushed_comment(value, comment_id, sender_id, by, at)]
            return self._change(post_key(self.kind, comment_id), verb, value, at, by)
        if item in POST_ITEMS:
            post_id = sid(value["post_id"])
            if verb == "add":
                if sender_id == self.settings.page_id or value.get("published") in (0, "0"):
                    return []
                if sender_id is None:
                    return self._read_post(post_id)
                return [self._pushed_post(value, post_id, sender_id, by, at)]
            return self._change(post_key(self.kind, post_id), verb, value, at, by)
        return []           # reactions, likes: nothing for a ticket

    def _change(self, target: str, verb: Any, value: Mapping[str, Any], at: Any, by: str | None) -> list[Mention | Change]:
        what = VERBS.get(str(verb))
        if what is None:
            return []
        text = text_of(value.get("message")) if what == "edited" else None
        return [Change(self.kind, target, what, text=text, at=at, by=by)]

    def _pushed_comment(self, value: Mapping[str, Any], comment_id: str, sender_id: str, by: str | None,
                        at: Any) -> Mention:
        post_id = sid(value["post_id"])
        parent = value.get("parent_id")
        media = tuple(Media(kind, f"comment:{comment_id}", url) for kind, url in
                      (("image", value.get("photo")), ("video", value.get("video"))) if isinstance(url, str) and url)
        return Mention(network=self.kind, id=comment_id, kind="comment", author=self._author(sender_id, by, None),
                       text=text_of(value.get("message")), created_at=graph_time(value.get("created_time")) or at,
                       url=comment_url(post_id, comment_id), conversation_id=post_id,
                       in_reply_to=sid(parent) if parent is not None else post_id, media=media)

    def _pushed_post(self, value: Mapping[str, Any], post_id: str, sender_id: str, by: str | None,
                     at: Any) -> Mention:
        photos = value.get("photos") if isinstance(value.get("photos"), list) else [value.get("link")] \
            if value.get("item") == "photo" else []
        media = tuple(Media("image", f"post:{post_id}", url) for url in photos if isinstance(url, str) and url)
        if isinstance(value.get("video"), str):
            media += (Media("video", f"post:{post_id}", value["video"]),)
        return Mention(network=self.kind, id=post_id, kind="mention", author=self._author(sender_id, by, None),
                       text=text_of(value.get("message")), created_at=graph_time(value.get("created_time")) or at,
                       url=post_url(post_id), conversation_id=post_id, media=media)

    def _mention_change(self, value: Mapping[str, Any], verb: Any, at: Any) -> list[Mention | Change]:
        """``mention``: a post or comment elsewhere names the Page. The delivery holds no
        author, so the post or comment is read (gone since: nothing to answer)."""
        item = value.get("item")
        object_id = sid(value["comment_id"] if item == "comment" else value["post_id"])
        if verb != "add":
            return self._change(post_key(self.kind, object_id), verb, value, at, None)
        if item == "comment":
            return self._read_comment(object_id, value, "mention")
        return self._read_post(object_id)

    def _read_comment(self, comment_id: str, value: Mapping[str, Any], kind: str) -> list[Mention | Change]:
        try:
            row = self.graph.call("GET", comment_id, "read a comment", params={"fields": COMMENT_FIELDS})
        except NotFound:
            return []
        post_id = opt_str(value.get("post_id")) or comment_id
        mention = self._comment(row, post_id, kind)
        return [mention] if mention is not None else []

    def _read_post(self, post_id: str) -> list[Mention | Change]:
        try:
            row = self.graph.call("GET", post_id, "read a post", params={"fields": POST_FIELDS})
        except NotFound:
            return []
        mention = self._post_mention(row)
        return [mention] if mention is not None else []

    # ------------------------------------------------------------------ answers

    def post(self, post: OutboundPost) -> PostedReply:
        sent = self._post_message(post)
        if sent is not None:
            return sent
        if not post.in_reply_to:
            raise SkippableError("a Facebook answer goes under a comment or post (in_reply_to), to a person "
                                 "(dm_recipient_id), or privately to a comment's author (private_reply_to)")
        if self.weighted_length(post.text) > self.max_reply_len:
            raise SkippableError(f"comment is {len(post.text)} characters; Facebook allows {self.max_reply_len}")
        body = self.graph.call("POST", f"{post.in_reply_to}/comments", "post a comment",
                               params={"fields": "id,permalink_url"}, data={"message": post.text}, write=True)
        comment_id = body.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise FatalError("post a comment: Meta's answer names no id")
        return PostedReply(self.kind, comment_id, opt_str(body.get("permalink_url")), post.text,
                           in_reply_to=post.in_reply_to)

    def private_recipient(self, target: str) -> dict[str, str]:
        """A post on the Page (a visitor post: ``<page id>_<n>``) is answered privately by
        ``post_id``, a comment by ``comment_id`` (Meta's Private Replies guide)."""
        return {"post_id": target} if target.startswith(f"{self.settings.page_id}_") else {"comment_id": target}

    def find_own_post(self, post: OutboundPost, since_id: str | None = None) -> PostedReply | None:
        """The Page's earlier identical answer: under the comment or post (or under the
        comment's parent, where Facebook threads a reply to a reply), or in the conversation."""
        if post.dm_recipient_id or post.private_reply_to:
            return self._find_message(post)
        if not post.in_reply_to:
            return None
        found = self._find_comment(post.in_reply_to, post)
        if found is None:
            try:
                parent = nested(self.graph.call("GET", post.in_reply_to, "read the comment answered",
                                                 params={"fields": "parent{id}"}, write=True), "parent", "id")
            except SkippableError:
                parent = None     # a post, or gone
            if isinstance(parent, str):
                found = self._find_comment(parent, post)
        return found

    def _find_comment(self, object_id: str, post: OutboundPost) -> PostedReply | None:
        params = {"filter": "stream", "order": "reverse_chronological", "limit": COMMENT_PAGE_SIZE,
                  "fields": "id,message,from{id},permalink_url,created_time"}
        for row in self.graph.pages(f"{object_id}/comments", "read the answers under a comment", params,
                                    most=FIND_PAGES, write=True):
            if str(nested(row, "from", "id")) == self.settings.page_id and same_text(row.get("message"), post.text):
                return PostedReply(self.kind, str(row["id"]), opt_str(row.get("permalink_url")), post.text,
                                   in_reply_to=post.in_reply_to)
        return None
