"""The Flask app of the X stand-in: its routes, built from the rooms that serve them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from flask import Flask, Response

from sandbox.x.api_oauth import OAuthRoutes
from sandbox.x.api_reads import Reads
from sandbox.x.api_writes import Writes
from sandbox.x.constants import _DM_READ, _TIMELINE, _TWEET_READ
from sandbox.x.control import Control
from sandbox.x.daily import FidelityControl
from sandbox.x.gate import Gate
from sandbox.x.model import XState
from sandbox.x.render import Representations

if TYPE_CHECKING:
    from sandbox.x.constants import View


class XApi(Gate, Representations, Reads, Writes, Control, FidelityControl, OAuthRoutes):
    """The Flask app: API routes under ``/2/``, control routes under ``/_sandbox/``."""

    def __init__(self, state: XState) -> None:
        self.state = state
        self.app = app = Flask("sandbox.x")
        app.extensions["sandbox_state"] = state
        tweet_read = _TWEET_READ
        api_routes: list[tuple[str, str, str, bool, View, tuple[str, ...]]] = [
            ("/2/users/me", "GET", "users_me", True, self.users_me,
             ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/by/username/<username>", "GET", "users_by_username", False,
             self.user_by_username, ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/<id>", "GET", "users_by_id", False, self.user_by_id,
             ("user.fields", "expansions", "tweet.fields")),
            ("/2/users/<id>/mentions", "GET", "mentions", False, self.mentions,
             _TIMELINE + tweet_read),
            ("/2/users/<id>/tweets", "GET", "user_tweets", False, self.user_tweets,
             _TIMELINE[:4] + ("exclude",) + _TIMELINE[4:] + tweet_read),
            ("/2/tweets/<id>", "GET", "tweet_lookup", False, self.tweet, tweet_read),
            ("/2/tweets", "GET", "tweets_lookup", False, self.tweets, ("ids",) + tweet_read),
            ("/2/tweets/search/recent", "GET", "search_recent", False, self.search,
             ("query", "start_time", "end_time", "since_id", "until_id", "max_results",
              "next_token", "pagination_token", "sort_order") + tweet_read),
            ("/2/tweets", "POST", "create_tweet", True, self.create_tweet, ()),
            ("/2/tweets/<id>", "DELETE", "delete_tweet", True, self.delete_tweet, ()),
            ("/2/dm_conversations/with/<participant_id>/messages", "POST", "dm_write", True,
             self.dm_send_with, ()),
            ("/2/dm_conversations/<conversation_id>/messages", "POST", "dm_write", True,
             self.dm_send_in, ()),
            ("/2/dm_events", "GET", "dm_read", True, self.dm_events, _DM_READ),
            ("/2/dm_conversations/with/<participant_id>/dm_events", "GET", "dm_read", True,
             self.dm_events_with, _DM_READ),
            ("/2/dm_conversations/<conversation_id>/dm_events", "GET", "dm_read", True,
             self.dm_events_in, _DM_READ),
        ]
        for rule, method, family, user_only, view, params in api_routes:
            app.add_url_rule(rule, f"{method} {rule}", self._endpoint(view, family, user_only,
                                                                       params), methods=[method])
        control: list[tuple[str, str, Callable[..., Response]]] = [
            ("/_sandbox/posts", "POST", self.c_create_post),
            ("/_sandbox/posts", "GET", self.c_list_posts),
            ("/_sandbox/posts/<post_id>/metrics", "POST", self.c_metrics),
            ("/_sandbox/users", "POST", self.c_user),
            ("/_sandbox/reset", "POST", self.c_reset),
            ("/_sandbox/clock", "GET", self.c_clock),
            ("/_sandbox/clock", "POST", self.c_clock),
            ("/_sandbox/limits", "GET", self.c_limits),
            ("/_sandbox/limits", "POST", self.c_limits),
            ("/_sandbox/daily_limits", "GET", self.c_daily_limits),
            ("/_sandbox/daily_limits", "POST", self.c_daily_limits),
            ("/_sandbox/pagination", "GET", self.c_pagination),
            ("/_sandbox/pagination", "POST", self.c_pagination),
            ("/_sandbox/requests", "GET", self.c_requests),
            ("/_sandbox/requests", "DELETE", self.c_requests),
            ("/_sandbox/faults", "GET", self.c_faults),
            ("/_sandbox/faults", "POST", self.c_faults),
            ("/_sandbox/faults", "DELETE", self.c_faults),
            ("/_sandbox/seed", "GET", self.c_seed),
            ("/_sandbox/seed", "POST", self.c_seed),
            ("/_sandbox/outage", "GET", self.c_outage),
            ("/_sandbox/outage", "POST", self.c_outage),
            ("/_sandbox/outage", "DELETE", self.c_outage),
        ]
        oauth: list[tuple[str, str, Callable[..., Response]]] = [
            ("/i/oauth2/authorize", "GET", self.o_authorize),
            ("/2/oauth2/token", "POST", self.o_token),
            ("/2/oauth2/revoke", "POST", self.o_revoke),
        ]
        for rule, method, view in control + oauth:
            app.add_url_rule(rule, f"{method} {rule}", view, methods=[method])
        state.auth.install_control(app)
        app.after_request(self._log)
        app.register_error_handler(404, self._routing_error)
        app.register_error_handler(405, self._routing_error)


def create_service(settings: dict[str, Any]) -> tuple[Flask, dict[str, Any]]:
    """Build the X stand-in. Settings: ``url``, ``brand_handle``, ``brand_user_id``,
    ``token``, ``app_token``, ``rate_limits`` ({family: [limit, seconds]})."""
    state = XState(settings)
    api = XApi(state)
    url = str(settings.get("url", "")).rstrip("/")
    return api.app, {"brand_handle": state.brand_handle, "brand_user_id": state.brand_id,
                     "token": state.token, "app_token": state.app_token,
                     "oauth_client_id": state.oauth_client_id,
                     "oauth_client_secret": state.oauth_client_secret,
                     "oauth_public_client_id": state.oauth_public_client_id,
                     "oauth_authorize_url": f"{url}/i/oauth2/authorize",
                     "oauth_token_url": f"{url}/2/oauth2/token",
                     "oauth_revoke_url": f"{url}/2/oauth2/revoke",
                     "consumer_key": state.oauth1.consumer_key,
                     "consumer_secret": state.oauth1.consumer_secret,
                     "access_token": state.oauth1.token,
                     "access_token_secret": state.oauth1.token_secret}
