"""``includes`` and partial ``errors`` for the expansions a request asks for."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.x.constants import STATUS_URL_RE
from sandbox.x.helpers import not_found

if TYPE_CHECKING:
    from sandbox.x.params import Fields
    from sandbox.x.records import DmEvent, Post


class Includes:
    """Collects ``includes`` (and partial ``errors``) for the expansions asked for."""

    def __init__(self, api: "XApi", fields: Fields) -> None:
        self.api, self.fields = api, fields
        self.users: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []

    def user(self, user_id: str | None) -> None:
        user = self.api.state.users.get(user_id or "")
        if user is not None and user.id not in self.users:
            self.users[user.id] = self.api.user_obj(user, self.fields.user)

    def tweet(self, tweet_id: str, parameter: str) -> None:
        post = self.api.state.live_post(tweet_id)
        if post is None:
            self.errors.append(not_found("tweet", parameter, tweet_id))
        elif post.id not in self.tweets:
            self.tweets[post.id] = self.api.tweet_obj(post, self.fields.tweet)

    def expand_post(self, post: Post) -> None:
        wanted = self.fields.expansions
        if "author_id" in wanted:
            self.user(post.author_id)
        if "in_reply_to_user_id" in wanted:
            self.user(post.in_reply_to_user_id)
        if "entities.mentions.username" in wanted:
            for _, _, handle in post.mentions:
                found = self.api.state.user_by_handle(handle)
                self.user(found.id if found else None)
        for _, ref_id in post.referenced:
            if "referenced_tweets.id" in wanted:
                self.tweet(ref_id, "referenced_tweets.id")
            ref = self.api.state.live_post(ref_id)
            if ref is not None and "referenced_tweets.id.author_id" in wanted:
                self.user(ref.author_id)

    def expand_dm(self, event: DmEvent) -> None:
        wanted = self.fields.expansions
        if "sender_id" in wanted:
            self.user(event.sender_id)
        if "referenced_tweets.id" in wanted:
            for tweet_id in STATUS_URL_RE.findall(event.submitted_text):
                self.tweet(tweet_id, "referenced_tweets.id")

    def attach(self, body: dict[str, Any]) -> dict[str, Any]:
        includes: dict[str, Any] = {}
        if self.users:
            includes["users"] = list(self.users.values())
        if self.tweets:
            includes["tweets"] = list(self.tweets.values())
        if includes:
            body["includes"] = includes
        if self.errors:
            body["errors"] = self.errors
        return body
