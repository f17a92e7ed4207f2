"""Users, posts and DM events as the API returns them, and their pages."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from flask import request

from sandbox.x.constants import DM_DAYS, EVENT_TYPES, HASHTAG_RE, STATUS_URL_RE
from sandbox.x.helpers import escaped, iso, make_token
from sandbox.x.includes import Includes
from sandbox.x.params import (
    _id_value,
    _int_param,
    _list_param,
    _time_param,
    _token_param,
    paginate,
)

if TYPE_CHECKING:
    from sandbox.x.params import Fields
    from sandbox.x.records import DmEvent, Post, User


class Representations:
    """Rendering of ``XApi``."""

    # -- representations --------------------------------------------------------------

    def user_obj(self, user: User, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        counted = fields & {"public_metrics", "most_recent_tweet_id"}
        own = self.state.posts_by(user) if counted else []
        optional: dict[str, Any] = {
            "created_at": lambda: iso(user.created_at),
            "description": lambda: user.description,
            "location": lambda: user.location or None,
            "url": lambda: user.url,
            "protected": lambda: user.protected,
            "verified": lambda: user.verified,
            "verified_type": lambda: "business" if user.verified else "none",
            "profile_image_url": lambda: "https://pbs.twimg.com/profile_images/"
                                         f"{user.id}/avatar_normal.png",
            "public_metrics": lambda: {"followers_count": user.followers_count,
                                       "following_count": user.following_count,
                                       "tweet_count": len(own),
                                       "listed_count": user.listed_count,
                                       "like_count": 0, "media_count": 0},
            "most_recent_tweet_id": lambda: own[0].id if own else None,
        }
        for name, value in optional.items():
            if name in fields and (result := value()) is not None:
                out[name] = result
        return out

    def entities(self, post: Post) -> dict[str, Any]:
        found: dict[str, Any] = {}
        mentions = []
        for start, end, handle in post.mentions:
            entity: dict[str, Any] = {"start": start, "end": end, "username": handle}
            user = self.state.user_by_handle(handle)
            if user is not None:
                entity["id"] = user.id
            mentions.append(entity)
        hashtags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)}
                    for m in HASHTAG_RE.finditer(post.text)]
        for name, items in (("mentions", mentions), ("hashtags", hashtags),
                            ("urls", [dict(u) for u in post.urls])):
            if items:
                found[name] = items
        return found

    def tweet_obj(self, post: Post, fields: set[str]) -> dict[str, Any]:
        """Default fields are exactly id, text, edit_history_tweet_ids (as recorded)."""
        out: dict[str, Any] = {"id": post.id, "text": escaped(post.text),
                               "edit_history_tweet_ids": [post.id]}
        optional: dict[str, Callable[[], Any]] = {
            "author_id": lambda: post.author_id,
            "conversation_id": lambda: post.conversation_id,
            "created_at": lambda: iso(post.created_at),
            "in_reply_to_user_id": lambda: post.in_reply_to_user_id,
            "referenced_tweets": lambda: [{"type": t, "id": i} for t, i in post.referenced]
                                         or None,
            "entities": lambda: self.entities(post) or None,
            "lang": lambda: post.lang,
            "public_metrics": lambda: dict(post.metrics),
            "possibly_sensitive": lambda: False,
            "reply_settings": lambda: post.reply_settings,
            "edit_controls": lambda: {
                "edits_remaining": 5,
                "is_edit_eligible": True,
                "editable_until": iso(post.created_at + 3600)},
        }
        for name, value in optional.items():
            if name in fields and (result := value()) is not None:
                out[name] = result
        return out

    def dm_obj(self, event: DmEvent, fields: set[str]) -> dict[str, Any]:
        """Defaults are id, event_type, text; ``participant_ids`` exists only on
        ParticipantsJoin/Leave events (spec), so a MessageCreate never carries it."""
        out: dict[str, Any] = {"id": event.id, "event_type": event.event_type,
                               "text": escaped(event.text)}
        refs = [{"id": i} for i in STATUS_URL_RE.findall(event.submitted_text)]
        optional = {"created_at": iso(event.created_at), "sender_id": event.sender_id,
                    "dm_conversation_id": event.conversation_id,
                    "referenced_tweets": refs or None,
                    "entities": {"urls": [dict(u) for u in event.urls]} if event.urls else None}
        for name, value in optional.items():
            if name in fields and value is not None:
                out[name] = value
        return out

    def tweet_page(self, items: list[Post], size: int, token: tuple[str, int] | None,
                   fields: Fields, previous: bool = True) -> dict[str, Any]:
        page, following, before = paginate(items, size, token, self.state.trailing_page())
        if not page:
            return {"meta": {"result_count": 0}}
        includes = Includes(self, fields)
        for post in page:
            includes.expand_post(post)
        body: dict[str, Any] = {"data": [self.tweet_obj(p, fields.tweet) for p in page]}
        meta: dict[str, Any] = {"newest_id": page[0].id, "oldest_id": page[-1].id,
                                "result_count": len(page)}
        if following:
            meta["next_token"] = make_token("next", following)
        if before and previous:
            meta["previous_token"] = make_token("prev", before)
        body = includes.attach(body)
        body["meta"] = meta
        return body

    def dm_page(self, events: list[DmEvent], fields: Fields) -> dict[str, Any]:
        """Newest first, events of the last 30 days only (DM lookup docs)."""
        size = _int_param("max_results", 1, 100, 100)
        token = _token_param("pagination_token", dm=True)
        types = _list_param("event_types", EVENT_TYPES) or EVENT_TYPES
        floor = self.state.clock.now() - DM_DAYS * 86400
        events = sorted((e for e in events if e.event_type in types and e.created_at >= floor),
                        key=lambda e: int(e.id), reverse=True)
        page, following, before = paginate(events, size, token, self.state.trailing_page())
        if not page:
            return {"meta": {"result_count": 0}}
        includes = Includes(self, fields)
        for event in page:
            includes.expand_dm(event)
        body = includes.attach({"data": [self.dm_obj(e, fields.dm) for e in page]})
        meta: dict[str, Any] = {"result_count": len(page)}
        if following:
            meta["next_token"] = make_token("next", following, dm=True)
        if before:
            meta["previous_token"] = make_token("prev", before, dm=True)
        body["meta"] = meta
        return body

    def time_window(self, items: list[Post]) -> list[Post]:
        """since_id/until_id, or else start_time (inclusive)/end_time (exclusive)."""
        since = _id_value("since_id", request.args.get("since_id"))
        until = _id_value("until_id", request.args.get("until_id"))
        start, end = _time_param("start_time"), _time_param("end_time")
        if since is not None:
            items = [p for p in items if int(p.id) > int(since)]
        elif start is not None:
            items = [p for p in items if p.created_at >= start]
        if until is not None:
            items = [p for p in items if int(p.id) < int(until)]
        elif end is not None:
            items = [p for p in items if p.created_at < end]
        return items

    def _user_or_error(self, user_id: str) -> User | None:
        _id_value("id", user_id)
        return self.state.users.get(user_id)
