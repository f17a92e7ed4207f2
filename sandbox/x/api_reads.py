"""Read routes: users, mentions, timelines, lookups and recent search."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import g, request

from sandbox.x.constants import (
    ID_RE,
    MENTIONS_REACH,
    SEARCH_DAYS,
    TIMELINE_REACH,
    TIMELINE_REACH_NO_REPLIES,
    TWEET_EXPANSIONS,
    USER_EXPANSIONS,
    USERNAME_RE,
)
from sandbox.x.helpers import _minute, invalid, not_found, snowflake_at
from sandbox.x.includes import Includes
from sandbox.x.params import _id_value, _int_param, _list_param, _time_param, _token_param, Fields
from sandbox.x.search import indexed, query_matches, QueryError, QueryParser

if TYPE_CHECKING:
    from sandbox.x.records import User


class Reads:
    """Read routes of ``XApi``."""

    # -- users ------------------------------------------------------------------------

    def user_payload(self, user: User) -> tuple[int, dict[str, Any]]:
        fields = Fields(USER_EXPANSIONS)
        body: dict[str, Any] = {"data": self.user_obj(user, fields.user)}
        own = self.state.posts_by(user)
        if "most_recent_tweet_id" in fields.expansions and own:
            body["includes"] = {"tweets": [self.tweet_obj(own[0], fields.tweet)]}
        return 200, body

    def users_me(self) -> tuple[int, dict[str, Any]]:
        return self.user_payload(g.user)

    def user_by_username(self, username: str) -> tuple[int, dict[str, Any]]:
        if not USERNAME_RE.match(username):
            raise invalid("username", username, f"The `username` query parameter value "
                                                f"[{username}] does not match "
                                                "^[A-Za-z0-9_]{1,15}$")
        Fields(USER_EXPANSIONS)
        user = self.state.user_by_handle(username)
        if user is None:
            return 200, {"errors": [not_found("user", "username", username)]}
        return self.user_payload(user)

    def user_by_id(self, id: str) -> tuple[int, dict[str, Any]]:
        user = self._user_or_error(id)
        Fields(USER_EXPANSIONS)
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        return self.user_payload(user)

    # -- timelines, lookup, search ----------------------------------------------------

    def mentions(self, id: str) -> tuple[int, dict[str, Any]]:
        """Newest first; only the 800 most recent mentions are reachable at all."""
        user = self._user_or_error(id)
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 5, 100, 10)
        token = _token_param("pagination_token")
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        items = self.time_window(indexed(self.state.mentions_of(user), self.state)[:MENTIONS_REACH])
        return 200, self.tweet_page(items, size, token, fields)

    def user_tweets(self, id: str) -> tuple[int, dict[str, Any]]:
        """The 3200 most recent posts (800 with exclude=replies), as documented."""
        user = self._user_or_error(id)
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 5, 100, 10)
        token = _token_param("pagination_token")
        exclude = set(_list_param("exclude", ["replies", "retweets"]))
        if user is None:
            return 200, {"errors": [not_found("user", "id", id)]}
        items = self.state.posts_by(user)
        if "replies" in exclude:
            items = [p for p in items if p.in_reply_to_tweet_id is None][:TIMELINE_REACH_NO_REPLIES]
        if "retweets" in exclude:
            items = [p for p in items if not any(t == "retweeted" for t, _ in p.referenced)]
        items = self.time_window(items[:TIMELINE_REACH])
        return 200, self.tweet_page(items, size, token, fields)

    def tweet(self, id: str) -> tuple[int, dict[str, Any]]:
        _id_value("id", id)
        fields = Fields(TWEET_EXPANSIONS)
        post = self.state.live_post(id)
        if post is None:
            return 200, {"errors": [not_found("tweet", "id", id)]}
        includes = Includes(self, fields)
        includes.expand_post(post)
        return 200, includes.attach({"data": self.tweet_obj(post, fields.tweet)})

    def tweets(self) -> tuple[int, dict[str, Any]]:
        raw = request.args.get("ids")
        if not raw:
            raise invalid("ids", raw, "The `ids` query parameter can not be empty")
        ids = raw.split(",")
        if len(ids) > 100:
            raise invalid("ids", raw, f"The number of values in the `ids` query parameter list "
                                      f"[{len(ids)}] is not between 1 and 100")
        for value in ids:
            if not ID_RE.match(value):
                raise invalid("ids", value, f"The `ids` query parameter value [{value}] does not "
                                            "match ^[0-9]{1,19}$")
        fields = Fields(TWEET_EXPANSIONS)
        includes = Includes(self, fields)
        data, missing = [], []
        for value in dict.fromkeys(ids):
            post = self.state.live_post(value)
            if post is None:
                missing.append(not_found("tweet", "ids", value))
                continue
            data.append(self.tweet_obj(post, fields.tweet))
            includes.expand_post(post)
        body = includes.attach({"data": data} if data else {})
        if missing:
            body["errors"] = missing + body.get("errors", [])
        return 200, body

    def search(self) -> tuple[int, dict[str, Any]]:
        """Posts of the last 7 days matching the query, newest first (``relevancy`` is
        served in recency order)."""
        query = request.args.get("query")
        if not query:
            raise invalid("query", query, "The `query` query parameter can not be empty")
        if len(query) > 4096:
            raise invalid("query", query, f"The `query` query parameter value [{query}] is not "
                                          "between 1 and 4096 characters")
        fields = Fields(TWEET_EXPANSIONS)
        size = _int_param("max_results", 10, 100, 10)
        sort = request.args.get("sort_order")
        if sort is not None and sort not in ("recency", "relevancy"):
            raise invalid("sort_order", sort, f"The `sort_order` query parameter value [{sort}] "
                                              "is not one of [recency,relevancy]")
        token = _token_param("next_token") or _token_param("pagination_token")
        now = self.state.clock.now()
        floor = now - SEARCH_DAYS * 86400
        start, end = _time_param("start_time"), _time_param("end_time")
        if start is not None and start < floor:
            raise invalid("start_time", request.args["start_time"],
                          f"Invalid 'start_time':'{_minute(start)}'. 'start_time' must be on or "
                          f"after {_minute(floor)}")
        if end is not None and end > now - 10:
            raise invalid("end_time", request.args["end_time"],
                          f"Invalid 'end_time':'{_minute(end)}'. 'end_time' must be a minimum of "
                          "10 seconds prior to the request time.")
        since = _id_value("since_id", request.args.get("since_id"))
        oldest_id = snowflake_at(floor, 0)
        if since is not None and int(since) < oldest_id:
            raise invalid("since_id", since, f"'since_id' must be a tweet id created after "
                                             f"{_minute(floor)}. Please use a 'since_id' that is "
                                             f"larger than {oldest_id}")
        try:
            tree = QueryParser(query).parse()
        except QueryError as error:
            raise invalid("query", query, "There were errors processing your request: "
                                          f"{error.message} (at position {error.position})")
        items = indexed([p for p in self.state.newest_first(self.state.posts.values())
                         if p.created_at >= floor and query_matches(tree, p, self.state)], self.state)
        return 200, self.tweet_page(self.time_window(items), size, token, fields,
                                    previous=False)
