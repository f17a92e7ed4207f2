"""X (formerly Twitter) API v2 over requests, as the brand's account.

Reads: the mentions timeline (mentions and replies), DM events, recent search for
backfill, the brand's own timeline for crash recovery. Writes: replies in a thread and
DMs. Every response is translated here; nothing of the wire format leaves this module.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Mapping, Sequence

import requests
from twitter_text import parse_tweet

from adapters.base import (
    AuthFailed, Author, Cursor, DuplicateContent, FatalError, Mention, NotFound,
    OutboundPost, Page, PostedReply, RateLimited, RetriableError, Secret, SkippableError,
    KeepsRateBudget, ReadsDMs, ReadsMetrics, RemembersAccount, SearchesRecent, SignsInWithOAuth, SocialNetwork,
    StartsAtTime, Unparseable,
)
from adapters.http import DEFAULT_RATE_SHARE, RateBudget, build_session, endpoint_bucket, transport_errors
from adapters.oauth import BearerAuth, OAuthClient, TokenSource

PRODUCTION_URL = "https://api.x.com"
TWEET_FIELDS = ("author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets,"
                "public_metrics,lang,entities")
USER_FIELDS = "name,username,public_metrics,verified,profile_image_url"
DM_FIELDS = "id,text,event_type,created_at,sender_id,dm_conversation_id,participant_ids,entities"
# The mentions timeline reaches back this many posts at most (X API v2 docs).
MENTION_WINDOW = 800
# A cursor that names a moment (``t:<epoch seconds>``) rather than a post id.
TIME_CURSOR = "t:"
# How far recent search reaches back (7 days), less a minute for clocks that disagree.
SEARCH_REACH = 7 * 86400 - 60
AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
# What socialdesk does as the brand: read mentions and DMs, post replies and DMs; offline.access
# makes X send a refresh token (user tokens live two hours).
SCOPES = "tweet.read tweet.write users.read dm.read dm.write offline.access"
AUTH_MODES = ("oauth2", "oauth1", "bearer")


@dataclass(frozen=True)
class XSettings:
    """As the brand: OAuth 2.0 (a grant ``socialdesk connect`` stored, renewed every two
    hours), OAuth 1.0a user context, or a bearer token given as is."""

    token: Secret | None = None
    base_url: str = PRODUCTION_URL
    ca_bundle: str | None = None
    user_id: str | None = None
    rate_share: float = DEFAULT_RATE_SHARE
    auth: str = "bearer"
    client_id: str | None = None
    client_secret: Secret | None = None
    authorize_url: str = AUTHORIZE_URL
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    access_token: Secret | None = None
    access_token_secret: Secret | None = None
    name: str = "x"

    def __repr__(self) -> str:
        return f"XSettings(base_url={self.base_url!r}, auth={self.auth!r}, client_id={self.client_id!r})"


def _auth_of(values: Mapping[str, Any]) -> str:
    """The way an entry without ``auth`` signs in, from the settings it has."""
    return "bearer" if values.get("token") is not None else "oauth1" if values.get("consumer_key") else "oauth2"


def _error_for(response: requests.Response, what: str, *, write: bool) -> Exception:
    """Translate an X error response into the taxonomy (status -> action table)."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = {}
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or "")
        if not detail and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            detail = str(first.get("message") or first.get("detail") or "") if isinstance(first, dict) else ""
    message = f"{what}: HTTP {status}" + (f" {detail}" if detail else "")
    if status == 429:
        # A spent 24-hour cap (posts, DMs) says so in its own headers, while the
        # 15-minute window may still have calls left: then wait for the cap's reset.
        resets = [response.headers.get(f"{cap}-reset") for cap in DAILY_CAPS
                  if response.headers.get(f"{cap}-remaining", "").strip() == "0"]
        reset = max(resets, key=_epoch) if resets else response.headers.get("x-rate-limit-reset")
        try:
            retry_after = max(1.0, float(reset) - time.time()) if reset else 60.0
        except ValueError:
            retry_after = 60.0
        if resets:
            message += " (24-hour cap spent)"
        if not retry_after <= MAX_RETRY_AFTER:  # inf, nan, a reset years ahead
            retry_after = MAX_RETRY_AFTER
        return RateLimited(message, retry_after)
    if status == 401:
        return AuthFailed(message)
    if status == 403:
        if "duplicate content" in detail.lower():
            return DuplicateContent(message)
        # A refused write concerns this post (deleted or protected parent, blocked
        # user...); a refused read means the token lacks the access the route needs.
        return SkippableError(message) if write else AuthFailed(message)
    if status == 404:
        return NotFound(message)
    if status in (400, 413, 422):
        return SkippableError(message) if write else FatalError(message)
    if status >= 500 or status in (408, 409):
        return RetriableError(message)
    return FatalError(message)


def _epoch(value: str | None) -> float:
    try:
        return float(value or "")
    except ValueError:
        return 0.0


def _unescape(text: str) -> str:
    """Undo X's escaping of ``&``, ``<`` and ``>`` exactly once: ``&amp;amp;`` (a
    customer who typed ``&amp;``) becomes ``&amp;``; other entities are left as typed."""
    return _ESCAPED.sub(lambda m: _ENTITIES[m.group(1)], text)


_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_ESCAPED = re.compile(r"&(amp|lt|gt);")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


MAX_RETRY_AFTER = 86_400.0   # X's longest window: the 24-hour post cap
# Header prefixes of X's 24-hour caps (per user, per app): -limit, -remaining, -reset.
DAILY_CAPS = ("x-user-limit-24hour", "x-app-limit-24hour")
# How far a retried write looks back for its own effect: 10 pages of 100.
FIND_PAGES = 10
ITEM_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


def _x_id(value: Any) -> str | None:
    """An X id (a decimal string; a JSON number accepted), else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if text.isascii() and text.isdigit() else None


def _item_key(kind: str, item: Any) -> str:
    """The source key of an item: its id, or a digest of it when it names no usable id,
    so two different unreadable items never share a quarantine row."""
    item_id = _x_id(item.get("id")) if isinstance(item, dict) else None
    if item_id is not None:
        return f"x:{kind}:{item_id}"
    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=repr).encode("utf-8", "backslashreplace"))
    return f"x:{kind}:?{digest.hexdigest()[:16]}"


def _page_parts(body: Mapping[str, Any], what: str) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """data, users by id and meta of a page; RetriableError when the page itself is unsound."""
    data, includes, meta = body.get("data"), body.get("includes"), body.get("meta")
    users = includes.get("users") if isinstance(includes, dict) else None
    if (data is not None and not isinstance(data, list)) or (includes is not None and not isinstance(includes, dict)) \
            or (users is not None and not isinstance(users, list)) or (meta is not None and not isinstance(meta, dict)):
        raise RetriableError(f"{what}: the page does not have the shape of an X page")
    return (data or [], {str(u.get("id")): u for u in users or [] if isinstance(u, dict)}, meta or {})


def _opt(value: Any, kind: type) -> Any:
    return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None


class XNetwork(SocialNetwork, ReadsDMs, SearchesRecent, StartsAtTime, ReadsMetrics, RemembersAccount,
               KeepsRateBudget, SignsInWithOAuth):
    """The brand's X account: ``SocialNetwork`` over the X API v2."""

    kind: ClassVar[str] = "x"
    max_reply_len: ClassVar[int] = 280
    max_dm_len: ClassVar[int] = 10000
    min_poll_interval: ClassVar[float] = 15.0
    mention_window: ClassVar[int] = MENTION_WINDOW
    # X sets no deadline on a business's private answer (Meta allows 24 hours).
    private_reply_window: ClassVar[float | None] = None
    settings_schema: ClassVar[Mapping[str, str]] = {
        "auth": "string", "client_id": "string", "client_secret": "secret", "authorize_url": "url",
        "token": "secret", "consumer_key": "string", "consumer_secret": "secret", "access_token": "secret",
        "access_token_secret": "secret", "base_url": "url", "ca_bundle": "path", "user_id": "string",
        "rate_share": "share"}
    required_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: XSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.session = session or build_session(settings.ca_bundle)
        # Each endpoint has its own 15-minute window (and some a 24-hour cap); socialdesk
        # keeps to its share of each.
        self.session.rate_budget = RateBudget(  # type: ignore[attr-defined]
            "X", ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"), reset_epoch=True,
            bucket_of=endpoint_bucket, share=settings.rate_share, max_wait=15 * 60,
            # Posting and DMs also have 24-hour caps, per user and per app.
            caps=tuple((f"{cap}-limit", f"{cap}-remaining", f"{cap}-reset") for cap in DAILY_CAPS),
            cap_wait=MAX_RETRY_AFTER)
        self._me: Author | None = None
        self._user_id = settings.user_id
        self.oauth: TokenSource | None = None
        self._authenticate(settings)

    def _authenticate(self, s: XSettings) -> None:
        if s.auth == "oauth2":
            if not s.client_id:
                raise FatalError("x auth 'oauth2' needs client_id (developer portal > your app > Keys and tokens)")
            self.oauth = TokenSource(OAuthClient(
                vendor="x", endpoint=s.name, token_url=f"{self.base_url}/2/oauth2/token",
                authorize_url=s.authorize_url, client_id=s.client_id, client_secret=s.client_secret,
                # A confidential client authenticates with HTTP Basic; a public one by PKCE alone.
                auth_method="client_secret_basic" if s.client_secret is not None else "none",
                scope=SCOPES, ca_bundle=s.ca_bundle))
            self.session.auth = BearerAuth(self.oauth, self.session)
        elif s.auth == "oauth1":
            from authlib.integrations.requests_client import OAuth1Auth

            if not (s.consumer_key and s.consumer_secret and s.access_token and s.access_token_secret):
                raise FatalError("x auth 'oauth1' needs consumer_key, consumer_secret, access_token and "
                                 "access_token_secret")
            self.session.auth = OAuth1Auth(s.consumer_key, s.consumer_secret.reveal(), token=s.access_token.reveal(),
                                           token_secret=s.access_token_secret.reveal())
        elif s.auth == "bearer":
            if s.token is None:
                raise FatalError("x auth 'bearer' needs token")
            token = s.token.reveal()

            def bearer(request: requests.PreparedRequest) -> requests.PreparedRequest:
                request.headers["Authorization"] = f"Bearer {token}"
                return request

            self.session.auth = bearer
        else:
            raise FatalError(f"x auth {s.auth!r}: use {', '.join(AUTH_MODES)}")

    @classmethod
    def settings_problems(cls, values: Mapping[str, Any]) -> list[str]:
        """What a mapping entry lacks for the way it signs in (checked with the mapping)."""
        auth = str(values.get("auth") or _auth_of(values))
        if auth not in AUTH_MODES:
            return [f"auth {auth!r}: use {', '.join(AUTH_MODES)}"]
        needs = {"oauth2": ("client_id",), "bearer": ("token",),
                 "oauth1": ("consumer_key", "consumer_secret", "access_token", "access_token_secret")}[auth]
        missing = [key for key in needs if values.get(key) is None]
        return [f"auth {auth} needs {' and '.join(missing)}"] if missing else []

    def use_vault(self, vault: Any) -> None:
        """Keep the OAuth grant in ``vault`` (the state store), where ``connect`` put it."""
        if self.oauth is not None:
            self.oauth.use_vault(vault)

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "XNetwork":
        def secret(key: str) -> Secret | None:
            value = values.get(key)
            return value if isinstance(value, Secret) or value is None else Secret(str(value), key)

        auth = values.get("auth") or _auth_of(values)
        return cls(XSettings(token=secret("token"), base_url=values.get("base_url") or PRODUCTION_URL,
                             ca_bundle=values.get("ca_bundle"), user_id=values.get("user_id"),
                             rate_share=float(values.get("rate_share", DEFAULT_RATE_SHARE)),
                             auth=str(auth), client_id=values.get("client_id"), client_secret=secret("client_secret"),
                             authorize_url=values.get("authorize_url") or AUTHORIZE_URL,
                             consumer_key=values.get("consumer_key"), consumer_secret=secret("consumer_secret"),
                             access_token=secret("access_token"),
                             access_token_secret=secret("access_token_secret"), name=str(values.get("name") or "x")))

    def __repr__(self) -> str:
        return f"XNetwork({self.base_url!r})"

    # ------------------------------------------------------------------ wire

    def _call(self, method: str, path: str, what: str, *, params: Mapping[str, Any] | None = None,
              json_body: Any = None, write: bool = False) -> Any:
        response = transport_errors(what, lambda: self.session.request(
            method, self.base_url + path, params=params, json=json_body))
        if not 200 <= response.status_code < 300:
            raise _error_for(response, what, write=write)
        try:
            body = response.json()
        except (ValueError, RecursionError) as err:
            raise RetriableError(f"{what}: response was not JSON") from err
        if not isinstance(body, dict):
            raise RetriableError(f"{what}: response was not a JSON object")
        return body

    # ------------------------------------------------------------------ identity

    def use_clock(self, clock: Callable[[], float], sleep: Callable[[float], None] | None = None) -> None:
        """The rate budget's windows pass on ``clock``; X never waits itself (a 429 or a
        spent budget is RateLimited for the caller), so ``sleep`` is not kept."""
        self.session.rate_budget.clock = clock  # type: ignore[attr-defined]

    def whoami(self) -> Author:
        if self._me is None:
            body = self._call("GET", "/2/users/me", "read own account",
                              params={"user.fields": USER_FIELDS})
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or "id" not in data:
                raise FatalError("read own account: response has no data.id")
            self._me = self._author(data)
            self._user_id = self._me.id
        return self._me

    def probe(self) -> None:
        self._call("GET", "/2/users/me", "check access")

    def account_key(self) -> str:
        return f"user {self.whoami().id}"

    def remember_account(self, me: Author) -> None:
        """Take the brand account as an earlier run read it, while ``users/me`` cannot be
        read: mentions and posts need its id and handle, not a fresh read."""
        if self._me is None:
            self._me = me
            self._user_id = self._user_id or me.id

    @property
    def user_id(self) -> str:
        return self._user_id or self.whoami().id

    def _author(self, user: Mapping[str, Any]) -> Author:
        metrics = user.get("public_metrics") or {}
        handle = str(user["username"])
        return Author(network=self.kind, id=str(user["id"]), handle=handle, name=_opt(user.get("name"), str),
                      followers=_opt(metrics.get("followers_count"), int), verified=_opt(user.get("verified"), bool),
                      profile_url=f"https://x.com/{handle}")

    # ------------------------------------------------------------------ reads

    def fetch_mentions(self, cursor: Cursor, page: str | None = None) -> Page:
        params = {"max_results": 100, "tweet.fields": TWEET_FIELDS, "expansions": "author_id",
                  "user.fields": USER_FIELDS}
        return self._read_tweets(f"/2/users/{self.user_id}/mentions", "read mentions",
                                 params, cursor, page, token_param="pagination_token")

    def search_recent(self, query: str, cursor: Cursor, page: str | None = None) -> Page:
        params = {"query": query, "max_results": 100, "tweet.fields": TWEET_FIELDS,
                  "expansions": "author_id", "user.fields": USER_FIELDS}
        return self._read_tweets("/2/tweets/search/recent", "search recent posts", params,
                                 cursor, page, token_param="next_token")

    def cursor_at(self, moment: float) -> Cursor:
        """A cursor from a moment: the next read asks for posts from then on
        (``start_time``), not for posts newer than one already read (``since_id``)."""
        return Cursor(f"{TIME_CURSOR}{int(moment)}")

    def _read_tweets(self, path: str, what: str, params: dict[str, Any], cursor: Cursor,
                     page: str | None, *, token_param: str) -> Page:
        # Page tokens carry the read's newest id along, since only the first page knows it.
        token, newest, seen = _split_token(page)
        if cursor.value and cursor.value.startswith(TIME_CURSOR):
            # Search reaches back 7 days; asking for more is refused, and nothing older is there.
            floor = self.session.rate_budget.clock() - SEARCH_REACH if "search" in path else 0  # type: ignore[attr-defined]
            moment = max(float(cursor.value[len(TIME_CURSOR):]), floor)
            params["start_time"] = datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif cursor.value:
            params["since_id"] = cursor.value
        if token:
            params[token_param] = token
        body = self._call("GET", path, what, params=params)
        if not isinstance(body, dict):
            raise RetriableError(f"{what}: response is not an object")
        data, users, meta = _page_parts(body, what)
        items = tuple(self._tweet_item(t, users) for t in data)
        newest = newest or _x_id(meta.get("newest_id")) or cursor.value
        seen += len(items)
        next_token = _next_token(meta, token, data)
        # A complete read that filled the whole window likely skipped older posts.
        gap = bool(cursor.value) and not next_token and seen >= self.mention_window
        return Page(items=items, next_page=_join_token(next_token, newest, seen) if next_token else None,
                    cursor=Cursor(newest), gap=gap)

    def _tweet_item(self, tweet: Any, users: Mapping[str, Any]) -> Mention | Unparseable:
        try:
            return self._mention(tweet, users)
        except ITEM_ERRORS as err:
            return Unparseable(self.kind, _item_key("post", tweet), f"malformed post: {type(err).__name__}: {err}", tweet)

    def _mention(self, tweet: Mapping[str, Any], users: Mapping[str, Any]) -> Mention:
        tweet_id = _x_id(tweet["id"])
        if tweet_id is None:
            raise ValueError("id is not an X id")
        text = tweet["text"]
        if not isinstance(text, str):
            raise TypeError("text is not a string")
        text = _shown_text(text, tweet.get("entities"))
        author_id = str(tweet["author_id"])
        user = users.get(author_id)
        author = self._author(user) if user else Author(self.kind, author_id, author_id)
        refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
        in_reply_to = refs.get("replied_to")
        is_reply_to_us = in_reply_to is not None and str(tweet.get("in_reply_to_user_id")) == self._user_id
        metrics = {k: int(v) for k, v in (tweet.get("public_metrics") or {}).items()
                   if isinstance(v, (int, float))}
        return Mention(
            network=self.kind, id=tweet_id, kind="reply" if is_reply_to_us else "mention",
            author=author, text=text, created_at=_parse_time(tweet.get("created_at")),
            url=f"https://x.com/{author.handle}/status/{tweet_id}",
            conversation_id=str(tweet.get("conversation_id") or tweet_id), in_reply_to=in_reply_to,
            is_repost="retweeted" in refs, is_quote="quoted" in refs, lang=_opt(tweet.get("lang"), str),
            metrics=metrics)

    def fetch_dms(self, cursor: Cursor, page: str | None = None) -> Page:
        """DM events received, newest first, down to the event id in ``cursor``."""
        token, newest, seen = _split_token(page)
        params: dict[str, Any] = {"max_results": 100, "dm_event.fields": DM_FIELDS,
                                  "event_types": "MessageCreate", "expansions": "sender_id",
                                  "user.fields": USER_FIELDS}
        if token:
            params["pagination_token"] = token
        body = self._call("GET", "/2/dm_events", "read direct messages", params=params)
        data, users, meta = _page_parts(body, "read direct messages")
        me = self.user_id
        items: list[Mention | Unparseable] = []
        reached_cursor = False
        for event in data:
            event_id = _x_id(event.get("id")) if isinstance(event, dict) else None
            if event_id is not None and cursor.value and _id_le(event_id, cursor.value):
                reached_cursor = True
                break
            newest = newest or event_id
            if isinstance(event, dict) and str(event.get("sender_id")) == me:
                continue
            items.append(self._dm_item(event, users))
        next_token = None if reached_cursor else _next_token(meta, token, data)
        seen += len(items)
        return Page(items=tuple(items), next_page=_join_token(next_token, newest, seen) if next_token else None,
                    cursor=Cursor(newest or cursor.value))

    def _dm_item(self, event: Any, users: Mapping[str, Any]) -> Mention | Unparseable:
        try:
            event_id = _x_id(event["id"])
            if event_id is None:
                raise ValueError("id is not an X id")
            sender = str(event["sender_id"])
            text = event["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
            user = users.get(sender)
            author = self._author(user) if user else Author(self.kind, sender, sender)
            return Mention(network=self.kind, id=event_id, kind="dm", author=author,
                           text=_shown_text(text, event.get("entities")),
                           created_at=_parse_time(event.get("created_at")), url=None,
                           conversation_id=str(event.get("dm_conversation_id") or sender))
        except ITEM_ERRORS as err:
            return Unparseable(self.kind, _item_key("dm", event), f"malformed DM event: {type(err).__name__}: {err}", event)

    # ------------------------------------------------------------------ writes

    def weighted_length(self, text: str) -> int:
        return parse_tweet(text).weightedLength

    def post(self, post: OutboundPost) -> PostedReply:
        if post.dm_recipient_id:
            if self.weighted_length(post.text) > self.max_dm_len:
                raise SkippableError(f"DM is {len(post.text)} characters; X allows {self.max_dm_len}")
            body = self._call("POST", f"/2/dm_conversations/with/{post.dm_recipient_id}/messages",
                              "send direct message", json_body={"text": post.text}, write=True)
            data = body.get("data") or {}
            return PostedReply(network=self.kind, id=str(data["dm_event_id"]), url=None,
                               text=post.text, dm=True,
                               conversation_id=data.get("dm_conversation_id"))
        if self.weighted_length(post.text) > self.max_reply_len:
            raise SkippableError(f"post weighs {self.weighted_length(post.text)} characters; "
                                 f"X allows {self.max_reply_len}")
        payload: dict[str, Any] = {"text": post.text}
        if post.in_reply_to:
            payload["reply"] = {"in_reply_to_tweet_id": post.in_reply_to}
        body = self._call("POST", "/2/tweets", "post reply", json_body=payload, write=True)
        data = body.get("data") or {}
        post_id = str(data["id"])
        shown = data.get("text")
        return PostedReply(network=self.kind, id=post_id,
                           text=_unescape(shown) if isinstance(shown, str) else post.text,
                           url=f"https://x.com/{self.whoami().handle}/status/{post_id}",
                           in_reply_to=post.in_reply_to)

    def fetch_metrics(self, post_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Public metrics of up to 100 posts in one read; deleted posts are absent."""
        if not post_ids:
            return {}
        body = self._call("GET", "/2/tweets", "read post metrics",
                          params={"ids": ",".join(post_ids[:100]), "tweet.fields": "public_metrics"})
        return {str(t["id"]): {k: int(v) for k, v in (t.get("public_metrics") or {}).items()
                               if isinstance(v, int)}
                for t in body.get("data") or [] if isinstance(t, dict) and "id" in t}

    def find_own_post(self, post: OutboundPost, since_id: str | None = None) -> PostedReply | None:
        """An earlier post by the brand with this text in this thread (or DM), if any.

        Reads back page by page: a reply is newer than the post it answers, so the brand's
        timeline is read down to that post (``since_id``), however much the brand has
        posted since; a DM conversation is read to its end (at most ``FIND_PAGES`` pages).
        """
        if post.dm_recipient_id:
            # One customer's conversation: a refusal (blocked, suspended) concerns this
            # post only, hence write=True for the error mapping.
            me = self.user_id
            for event in self._pages(f"/2/dm_conversations/with/{post.dm_recipient_id}/dm_events",
                                     "read DM conversation", {"dm_event.fields": DM_FIELDS}, write=True):
                if event.get("sender_id") is None:
                    # Without it our own DMs cannot be told apart: never guess "not sent".
                    raise FatalError("read DM conversation: events carry no sender_id")
                if str(event.get("sender_id")) == me and _same_text(event, post.text):
                    return PostedReply(self.kind, str(event["id"]), None, post.text, dm=True,
                                       conversation_id=event.get("dm_conversation_id"))
            return None
        params: dict[str, Any] = {"tweet.fields": "referenced_tweets,created_at,entities"}
        since = since_id or post.in_reply_to
        if since:
            params["since_id"] = since
        for tweet in self._pages(f"/2/users/{self.user_id}/tweets", "read own posts", params):
            refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
            if _same_text(tweet, post.text) and refs.get("replied_to") == post.in_reply_to:
                return PostedReply(self.kind, str(tweet["id"]),
                                   f"https://x.com/{self.whoami().handle}/status/{tweet['id']}",
                                   post.text, in_reply_to=post.in_reply_to)
        return None

    def _pages(self, path: str, what: str, params: dict[str, Any], *, write: bool = False) -> Any:
        """The items of a paged read, newest first, page after page (at most FIND_PAGES)."""
        token: str | None = None
        for _ in range(FIND_PAGES):
            query = {**params, "max_results": 100, **({"pagination_token": token} if token else {})}
            body = self._call("GET", path, what, params=query, write=write)
            for item in body.get("data") or []:
                if isinstance(item, dict):
                    yield item
            meta = body.get("meta")
            token = _next_token(meta if isinstance(meta, dict) else {}, token, body.get("data"))
            if token is None:
                return


def _expand_links(text: str, entities: Any) -> str:
    """Put back the links the customer wrote: X replaces them with t.co short links."""
    if not isinstance(entities, dict):
        return text
    for url in entities.get("urls") or []:
        short, full = url.get("url"), url.get("expanded_url")
        if isinstance(short, str) and isinstance(full, str) and short:
            text = text.replace(short, full)
    return text


def _shown_text(text: str, entities: Any) -> str:
    """The text as its author wrote it: X's escaping undone first, then the t.co links
    put back (an expanded URL is not escaped, so it must not be unescaped)."""
    return _expand_links(_unescape(text), entities)


def _same_text(item: Mapping[str, Any], text: str) -> bool:
    """Whether a post X returns is one we sent: X shortens links and escapes &, <, >.
    Only the unescaped text is compared: the raw one could match a different post
    (``a &amp; b`` is how X shows ``a & b``)."""
    shown = item.get("text")
    if not isinstance(shown, str):
        return False
    return _shown_text(shown, item.get("entities")) == text


def _next_token(meta: Mapping[str, Any], used: str | None, data: Any) -> str | None:
    """The page after this one. X may name a next page after its last one, which is then
    empty (``result_count: 0``, no token); an empty page naming the token it was read
    with again would be read for ever, so that ends the read too."""
    token = meta.get("next_token")
    if not isinstance(token, str) or not token or (not data and token == used):
        return None
    return token


def _id_le(a: str, b: str) -> bool:
    """Compare X ids (decimal strings, time-ordered) numerically."""
    try:
        return int(a) <= int(b)
    except ValueError:
        return a <= b


def _split_token(page: str | None) -> tuple[str | None, str | None, int]:
    if not page:
        return None, None, 0
    rest, _, seen = page.rpartition("|")      # X's own token may hold '|'; ours never does
    token, _, newest = rest.rpartition("|")
    return token, newest or None, int(seen or 0)


def _join_token(token: str, newest: str | None, seen: int) -> str:
    return f"{token}|{newest or ''}|{seen}"

