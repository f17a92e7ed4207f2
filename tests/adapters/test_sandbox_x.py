"""The X API v2 stand-in (sandbox/x/), over real HTTPS with plain requests.

Checks the wire contract the adapters rely on: field selection, pagination, windows,
errors (bodies, statuses, content types), rate-limit headers, faults and the control
API; then compares responses with the xdk OpenAPI and with real recorded traffic.
"""
from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Iterator

import pytest
import requests

from sandbox.server import Sandbox

from openapi_check import CONTRACTS as _CONTRACTS  # noqa: E402
import harness  # noqa: E402

RECORDED = _CONTRACTS / "x" / "decoded"
PROBLEM_INVALID = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "type": "about:blank", "status": 429,
            "detail": "Too Many Requests"}
DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
             "type": "about:blank", "title": "Forbidden", "status": 403}


class XClient:
    """Talks to the running stand-in as a client would, plus its control API."""

    def __init__(self, sb: Sandbox) -> None:
        info = sb.info()["services"]["x"]
        self.url, self.token, self.app_token = info["url"], info["token"], info["app_token"]
        self.brand, self.brand_id = info["brand_handle"], info["brand_user_id"]
        self.state = sb.app("x").extensions["sandbox_state"]
        self.http = requests.Session()
        self.http.verify = sb.ca_bundle
        # REQUESTS_CA_BUNDLE in the environment would otherwise override the sandbox CA.
        self.http.trust_env = False

    def call(self, method: str, path: str, token: str | None = "",
             **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        token = self.token if token == "" else token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body,
                                     params=params)
        assert response.status_code < 300, response.text
        return response.json()

    def now(self) -> float:
        """The sandbox clock (tests may have advanced it past wall time)."""
        return float(self.control("GET", "clock")["epoch"])

    def iso_at(self, offset: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now() + offset))

    def post_as(self, handle: str, text: str = "", **extra: Any) -> str:
        return self.control("POST", "posts", {"author": handle, "text": text, **extra})["id"]

    def mention(self, handle: str, text: str, **extra: Any) -> str:
        return self.post_as(handle, f"@{self.brand} {text}", **extra)

    def tweet(self, text: str, **body: Any) -> requests.Response:
        return self.call("POST", "/2/tweets", json={"text": text, **body})

    def mentions(self, **params: Any) -> requests.Response:
        return self.get(f"/2/users/{self.brand_id}/mentions", **params)

    def read_all(self, path: str, token_param: str = "pagination_token",
                 **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            body = self.get(path, **params).json()
            items.extend(body.get("data", []))
            token = body["meta"].get("next_token")
            if not token:
                return items
            params[token_param] = token


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(services=("x",), settings=harness.INSTANT).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def x(sb: Sandbox) -> XClient:
    client = XClient(sb)
    client.control("POST", "reset")
    return client


def assert_invalid(response: requests.Response, parameter: str, message: str | None = None) -> dict:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"errors", "title", "detail", "type"}
    assert body["title"] == "Invalid Request" and body["type"] == PROBLEM_INVALID
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert parameter in body["errors"][0]["parameters"]
    if message is not None:
        assert body["errors"][0]["message"] == message
    return body


def rate_headers(response: requests.Response) -> tuple[int, int, int]:
    h = response.headers
    return (int(h["x-rate-limit-limit"]), int(h["x-rate-limit-remaining"]),
            int(h["x-rate-limit-reset"]))


# -- accounts -----------------------------------------------------------------------------


def test_info_and_users_me(sb: Sandbox, x: XClient) -> None:
    info = sb.info()["services"]["x"]
    assert info["brand_handle"] == "socialdesk_demo" and info["brand_user_id"].isdigit()
    assert len(info["token"]) >= 40
    response = x.get("/2/users/me")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"data": {"id": x.brand_id, "name": "Socialdesk Demo",
                                        "username": x.brand}}
    limit, remaining, reset = rate_headers(response)
    assert (limit, remaining) == (75, 74) and reset > time.time() + 800
    assert "retry-after" not in response.headers


def test_brand_handle_is_a_setting() -> None:
    with Sandbox(services=("x",), settings={"x": {"brand_handle": "acme_help", **harness.INSTANT_X}}) as other:
        info = other.info()["services"]["x"]
        response = requests.get(info["url"] + "/2/users/me", verify=other.ca_bundle,
                                headers={"Authorization": f"Bearer {info['token']}"})
        assert info["brand_handle"] == "acme_help"
        assert response.json()["data"]["username"] == "acme_help"


def test_user_fields_are_honoured(x: XClient) -> None:
    x.control("POST", "users", {"handle": "famous_cust", "followers_count": 12345,
                                "verified": True, "description": "hi", "url": "https://a.example"})
    post_id = x.post_as("famous_cust", "hello world")
    fields = ("id,name,username,created_at,description,profile_image_url,protected,"
              "public_metrics,verified,url")
    body = x.get("/2/users/by/username/FAMOUS_CUST",
                 **{"user.fields": fields, "expansions": "most_recent_tweet_id"}).json()
    user = body["data"]
    assert user["username"] == "famous_cust" and user["verified"] is True
    assert user["protected"] is False and user["description"] == "hi"
    assert user["url"] == "https://a.example"
    assert user["created_at"].endswith("Z") and len(user["created_at"]) == 24
    assert user["profile_image_url"].startswith("https://")
    assert user["public_metrics"]["followers_count"] == 12345
    assert user["public_metrics"]["tweet_count"] == 1
    assert body["includes"]["tweets"][0]["id"] == post_id
    by_id = x.get(f"/2/users/{user['id']}").json()
    assert by_id == {"data": {"id": user["id"], "name": "Famous Cust", "username": "famous_cust"}}


def test_unknown_users_are_errors_inside_a_200(x: XClient) -> None:
    response = x.get("/2/users/by/username/nobody_here")
    assert response.status_code == 200
    assert response.json() == {"errors": [{
        "value": "nobody_here", "detail": "Could not find user with username: [nobody_here].",
        "title": "Not Found Error", "resource_type": "user", "parameter": "username",
        "resource_id": "nobody_here", "type": NOT_FOUND}]}
    by_id = x.get("/2/users/42").json()
    assert "data" not in by_id
    assert by_id["errors"][0]["detail"] == "Could not find user with id: [42]."
    assert_invalid(x.get("/2/users/by/username/not.valid"), "username",
                   "The `username` query parameter value [not.valid] does not match "
                   "^[A-Za-z0-9_]{1,15}$")
    assert_invalid(x.get("/2/users/abc"), "id")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/2/users/me"), ("GET", "/2/users/1/mentions"), ("GET", "/2/users/by/username/a"),
    ("GET", "/2/tweets/1"), ("GET", "/2/tweets/search/recent"), ("POST", "/2/tweets"),
    ("DELETE", "/2/tweets/1"), ("GET", "/2/dm_events"),
    ("POST", "/2/dm_conversations/with/1/messages"),
])
@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_every_endpoint_needs_the_bearer_token(x: XClient, method: str, path: str,
                                               token: str | None) -> None:
    response = x.call(method, path, token=token, json={"text": "x"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == UNAUTHORIZED
    assert "x-rate-limit-limit" not in response.headers


def test_app_only_token_is_refused_where_x_needs_user_context(x: XClient) -> None:
    assert x.call("GET", f"/2/users/{x.brand_id}/mentions", token=x.app_token).status_code == 200
    for method, path in (("GET", "/2/users/me"), ("POST", "/2/tweets"), ("GET", "/2/dm_events")):
        response = x.call(method, path, token=x.app_token, json={"text": "hi"})
        assert response.status_code == 403
        body = response.json()
        assert body["type"] == "https://api.twitter.com/2/problems/unsupported-authentication"
        assert body["status"] == 403 and "Application-Only is forbidden" in body["detail"]


# -- mentions -----------------------------------------------------------------------------


def test_mentions_default_fields_and_empty_page(x: XClient) -> None:
    assert x.mentions().json() == {"meta": {"result_count": 0}}
    first = x.mention("cust_a", "hello")
    second = x.mention("cust_b", "again")
    body = x.mentions().json()
    assert [t["id"] for t in body["data"]] == [second, first]
    assert all(set(t) == {"id", "text", "edit_history_tweet_ids"} for t in body["data"])
    assert body["data"][0]["edit_history_tweet_ids"] == [second]
    assert body["meta"] == {"newest_id": second, "oldest_id": first, "result_count": 2}
    assert all(isinstance(t["id"], str) and t["id"].isdigit() for t in body["data"])


def test_mentions_paginate_with_next_token_and_poll_with_since_id(x: XClient) -> None:
    ids = [x.mention(f"cust_{i}", f"number {i}") for i in range(25)]
    pages, params = [], {"max_results": 10}
    while True:
        body = x.mentions(**params).json()
        pages.append(body)
        if "next_token" not in body["meta"]:
            break
        params["pagination_token"] = body["meta"]["next_token"]
    assert [p["meta"]["result_count"] for p in pages] == [10, 10, 5]
    seen = [t["id"] for p in pages for t in p["data"]]
    assert seen == list(reversed(ids))
    assert "previous_token" not in pages[0]["meta"] and "previous_token" in pages[1]["meta"]
    back = x.mentions(max_results=10, pagination_token=pages[1]["meta"]["previous_token"]).json()
    assert [t["id"] for t in back["data"]] == [t["id"] for t in pages[0]["data"]]
    newest = pages[0]["meta"]["newest_id"]
    assert x.mentions(since_id=newest).json() == {"meta": {"result_count": 0}}
    late = [x.mention("late", f"late {i}") for i in range(3)]
    polled = x.mentions(since_id=newest).json()
    assert [t["id"] for t in polled["data"]] == list(reversed(late))
    assert x.mentions(since_id=ids[19], max_results=5).json()["meta"]["result_count"] == 5
    assert [t["id"] for t in x.mentions(until_id=ids[2]).json()["data"]] == [ids[1], ids[0]]
    assert_invalid(x.mentions(pagination_token="zz!"), "pagination_token")


def test_only_the_800_most_recent_mentions_are_reachable(x: XClient) -> None:
    customer = x.state.add_user("bulk_cust")
    brand = x.state.users[x.brand_id]
    start = x.now() - 3600
    ids = [x.state.create_post(customer, f"@{brand.username} bulk {i}", at=start + i).id
           for i in range(805)]
    reached = x.read_all(f"/2/users/{x.brand_id}/mentions", max_results=100)
    assert [t["id"] for t in reached] == list(reversed(ids))[:800]
    assert len(x.read_all(f"/2/users/{x.brand_id}/mentions", since_id=ids[0],
                          max_results=100)) == 800


@pytest.mark.parametrize("value", ["4", "101", "0", "ten"])
def test_max_results_outside_5_to_100_is_invalid(x: XClient, value: str) -> None:
    assert_invalid(x.mentions(max_results=value), "max_results",
                   f"The `max_results` query parameter value [{value}] is not between 5 and 100")


def test_unknown_parameters_and_field_values_are_invalid(x: XClient) -> None:
    body = assert_invalid(x.mentions(tweet_fields="author_id"), "tweet_fields")
    assert body["errors"][0]["message"].startswith(
        "The query parameter [tweet_fields] is not one of [")
    body = assert_invalid(x.mentions(**{"tweet.fields": "author_id,user"}), "tweet.fields")
    assert body["errors"][0]["message"].startswith(
        "The `tweet.fields` query parameter value [user] is not one of [article,attachments")
    assert_invalid(x.mentions(since_id="12a"), "since_id")
    assert_invalid(x.mentions(start_time="yesterday"), "start_time")


def test_reply_chain_fields_and_expansions(x: XClient) -> None:
    root = x.mention("chain_cust", "where is my parcel? #late")
    reply = x.tweet("@chain_cust looking into it", reply={"in_reply_to_tweet_id": root})
    assert reply.status_code == 201
    brand_reply = reply.json()["data"]["id"]
    follow_up = x.post_as("chain_cust", "still nothing", in_reply_to=brand_reply)
    fields = ("author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets,"
              "entities,lang,public_metrics,possibly_sensitive,reply_settings,"
              "edit_history_tweet_ids")
    body = x.mentions(**{"tweet.fields": fields, "user.fields": "username,verified",
                         "expansions": "author_id,in_reply_to_user_id,referenced_tweets.id,"
                                       "entities.mentions.username"}).json()
    by_id = {t["id"]: t for t in body["data"]}
    assert set(by_id) == {root, follow_up}
    customer_id = by_id[root]["author_id"]
    tweet = by_id[follow_up]
    assert tweet["text"] == f"@{x.brand} still nothing"
    assert tweet["conversation_id"] == root and tweet["in_reply_to_user_id"] == x.brand_id
    assert tweet["referenced_tweets"] == [{"type": "replied_to", "id": brand_reply}]
    assert tweet["entities"]["mentions"] == [{"start": 0, "end": 1 + len(x.brand),
                                              "username": x.brand, "id": x.brand_id}]
    assert tweet["lang"] == "en" and tweet["possibly_sensitive"] is False
    assert tweet["reply_settings"] == "everyone"
    assert set(tweet["public_metrics"]) == {"retweet_count", "reply_count", "like_count",
                                            "quote_count", "bookmark_count", "impression_count"}
    assert "in_reply_to_user_id" not in by_id[root] and "referenced_tweets" not in by_id[root]
    assert by_id[root]["conversation_id"] == root
    assert by_id[root]["entities"]["hashtags"][0]["tag"] == "late"
    assert by_id[root]["created_at"].endswith("Z")
    users = {u["id"]: u for u in body["includes"]["users"]}
    assert set(users) == {customer_id, x.brand_id}
    assert set(users[x.brand_id]) == {"id", "name", "username", "verified"}
    assert [t["id"] for t in body["includes"]["tweets"]] == [brand_reply]
    assert x.get(f"/2/tweets/{root}", **{"tweet.fields": "public_metrics"}).json()[
        "data"]["public_metrics"]["reply_count"] == 1


def test_reposts_quotes_and_self_mentions_reach_the_mentions(x: XClient) -> None:
    original = x.mention("orig_cust", "your app is down")
    repost = x.post_as("fan_cust", repost_of=original)
    quote = x.post_as("quoter", f"@{x.brand} same here", quote_of=original)
    own = x.tweet(f"Status update from @{x.brand.upper()}: all good").json()["data"]["id"]
    body = x.mentions(**{"tweet.fields": "referenced_tweets"}).json()
    by_id = {t["id"]: t for t in body["data"]}
    assert set(by_id) == {original, repost, quote, own}
    assert by_id[repost]["text"] == f"RT @orig_cust: @{x.brand} your app is down"
    assert by_id[repost]["referenced_tweets"] == [{"type": "retweeted", "id": original}]
    assert by_id[quote]["referenced_tweets"] == [{"type": "quoted", "id": original}]
    metrics = x.get(f"/2/tweets/{original}", **{"tweet.fields": "public_metrics"}).json()
    assert metrics["data"]["public_metrics"]["retweet_count"] == 1
    assert metrics["data"]["public_metrics"]["quote_count"] == 1
    assert x.post_as("someone", "no mention at all, socialdesk_demo") not in {
        t["id"] for t in x.mentions().json()["data"]}


def test_mentions_time_window_and_since_id_precedence(x: XClient) -> None:
    old = x.mention("time_cust", "old", created_at="2020-01-01T10:00:00Z")
    mid = x.mention("time_cust", "mid", created_at="2020-01-02T10:00:00Z")
    new = x.mention("time_cust", "new")
    window = x.mentions(start_time="2020-01-01T12:00:00Z", end_time="2020-01-03T00:00:00Z").json()
    assert [t["id"] for t in window["data"]] == [mid]
    from_mid = x.mentions(start_time="2020-01-02T10:00:00Z").json()
    assert [t["id"] for t in from_mid["data"]] == [new, mid]
    with_since = x.mentions(since_id=old, start_time="2030-01-01T00:00:00Z").json()
    assert [t["id"] for t in with_since["data"]] == [new, mid]
    created = x.get(f"/2/tweets/{old}", **{"tweet.fields": "created_at"}).json()["data"]
    assert created["created_at"] == "2020-01-01T10:00:00.000Z"


# -- timelines, lookups, search -----------------------------------------------------------


def test_user_timeline_with_exclude(x: XClient) -> None:
    root = x.post_as("tl_cust", "a thought")
    reply = x.post_as("tl_cust", "a reply", in_reply_to=x.mention("other", "hi"))
    retweet = x.post_as("tl_cust", repost_of=root)
    user_id = x.get("/2/users/by/username/tl_cust").json()["data"]["id"]
    path = f"/2/users/{user_id}/tweets"
    assert [t["id"] for t in x.get(path).json()["data"]] == [retweet, reply, root]
    assert [t["id"] for t in x.get(path, exclude="replies").json()["data"]] == [retweet, root]
    assert [t["id"] for t in x.get(path, exclude="replies,retweets").json()["data"]] == [root]
    assert x.get(path, since_id=reply).json()["meta"] == {
        "newest_id": retweet, "oldest_id": retweet, "result_count": 1}
    assert_invalid(x.get(path, exclude="likes"), "exclude")
    assert_invalid(x.get(path, max_results=3), "max_results")


def test_tweet_lookup_single_and_batch(x: XClient) -> None:
    a, b = x.mention("look", "one"), x.mention("look", "two https://example.com")
    single = x.get(f"/2/tweets/{a}").json()
    assert single == {"data": {"id": a, "text": f"@{x.brand} one", "edit_history_tweet_ids": [a]}}
    missing = x.get("/2/tweets/123").json()
    assert missing == {"errors": [{"value": "123", "detail": "Could not find tweet with id: [123].",
                                   "title": "Not Found Error", "resource_type": "tweet",
                                   "parameter": "id", "resource_id": "123", "type": NOT_FOUND}]}
    batch = x.get("/2/tweets", ids=f"{a},999,{b}", **{"tweet.fields": "entities"}).json()
    assert [t["id"] for t in batch["data"]] == [a, b]
    assert batch["errors"][0]["parameter"] == "ids" and batch["errors"][0]["value"] == "999"
    url = batch["data"][1]["entities"]["urls"][0]
    assert url["url"].startswith("https://t.co/") and url["expanded_url"] == "https://example.com"
    assert batch["data"][1]["text"] == f"@{x.brand} two {url['url']}"
    assert_invalid(x.get("/2/tweets"), "ids")
    assert_invalid(x.get("/2/tweets", ids="1,x"), "ids")


@pytest.fixture
def corpus(x: XClient) -> dict[str, str]:
    ids = {"root": x.mention("alice", "My order never arrived, refund please")}
    ids["reply"] = x.post_as("bob", "same problem with my ORDER", in_reply_to=ids["root"])
    ids["brand"] = x.tweet("We are sorry about the order delay",
                           reply={"in_reply_to_tweet_id": ids["root"]}).json()["data"]["id"]
    ids["rt"] = x.post_as("carol", repost_of=ids["root"])
    ids["other"] = x.post_as("dave", "Lovely weather today #sunny")
    ids["old"] = x.post_as("alice", "order from last week", created_at=x.iso_at(-8 * 86400))
    return ids


@pytest.mark.parametrize(("query", "expected"), [
    ("order", {"root", "reply", "brand", "rt"}),
    ('"order never arrived"', {"root", "rt"}),
    # bob replies in alice's thread, so his reply carries the @brand she mentioned
    ("@socialdesk_demo", {"root", "reply", "rt"}),
    ("from:alice", {"root"}),
    ("to:alice", {"reply", "brand"}),
    ("order -is:retweet", {"root", "reply", "brand"}),
    ("order is:retweet", {"rt"}),
    ("order is:reply", {"reply", "brand"}),
    ("order -is:reply -is:retweet", {"root"}),
    ("refund OR weather", {"root", "rt", "other"}),
    ("(from:bob OR from:dave) -is:retweet", {"reply", "other"}),
    ("order sorry", {"brand"}),
    ("#sunny", {"other"}),
    ("conversation_id:{root}", {"root", "reply", "brand"}),
    ("conversation_id:{root} is:reply -from:socialdesk_demo", {"reply"}),
])
def test_search_operators(x: XClient, corpus: dict[str, str], query: str,
                          expected: set[str]) -> None:
    response = x.get("/2/tweets/search/recent", query=query.format(**corpus), max_results=100)
    assert response.status_code == 200, response.text
    found = {t["id"] for t in response.json().get("data", [])}
    assert found == {corpus[k] for k in expected}


@pytest.mark.parametrize(("query", "message"), [
    ("is:reply", "is/has/lang cannot be used as a standalone operator (at position 1)"),
    ("-order", "Rules must contain at least one positive, non-stopword clause (at position 1)"),
    ("(order OR refund", "Missing closing parenthesis (at position 1)"),
    ("order or refund", 'Ambiguous use of or as a keyword. Use a space to logically join two '
                        'clauses, or "or" to find occurrences of or in text (at position 7)'),
    ("filter:replies order", "Reference to invalid operator 'filter'. Operator is not available in "
                             "current product or product packaging. Please refer to complete "
                             "available operator list at https://developer.twitter.com/en/docs/"
                             "twitter-api/enterprise/rules-and-filtering/operators-by-product. "
                             "(at position 1)"),
])
def test_search_query_errors(x: XClient, query: str, message: str) -> None:
    assert_invalid(x.get("/2/tweets/search/recent", query=query), "query",
                   f"There were errors processing your request: {message}")


def test_search_window_and_pagination(x: XClient, corpus: dict[str, str]) -> None:
    search = "/2/tweets/search/recent"
    assert corpus["old"] not in {t["id"] for t in x.get(search, query="from:alice").json()["data"]}
    assert_invalid(x.get(search, query="order", max_results=5), "max_results",
                   "The `max_results` query parameter value [5] is not between 10 and 100")
    body = assert_invalid(x.get(search, query="order", start_time="2020-01-01T00:00:00Z"),
                          "start_time")
    assert body["errors"][0]["message"].startswith(
        "Invalid 'start_time':'2020-01-01T00:00Z'. 'start_time' must be on or after ")
    body = assert_invalid(x.get(search, query="order", since_id=corpus["old"]), "since_id")
    assert "Please use a 'since_id' that is larger than" in body["errors"][0]["message"]
    assert_invalid(x.get(search, query="order", end_time=x.iso_at(-5)), "end_time")
    assert x.get(search, query="order", end_time=x.iso_at(-30)).status_code == 200
    assert_invalid(x.get(search), "query", "The `query` query parameter can not be empty")
    ids = [x.post_as("pager", f"paging word {i}") for i in range(23)]
    assert [t["id"] for t in x.read_all(search, token_param="next_token", query="paging",
                                        max_results=10)] == list(reversed(ids))
    first = x.get(search, query="paging").json()
    assert set(first["meta"]) == {"newest_id", "oldest_id", "result_count", "next_token"}
    second = x.get(search, query="paging", pagination_token=first["meta"]["next_token"])
    assert second.json()["data"][0]["id"] == ids[12]
    assert x.get(search, query="paging", since_id=ids[-1]).json() == {"meta": {"result_count": 0}}


# -- writes -------------------------------------------------------------------------------


def test_create_and_delete_a_post(x: XClient) -> None:
    response = x.tweet("Test Tweet")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert rate_headers(response)[0] == 200
    created = response.json()["data"]
    assert set(created) == {"id", "text"} and created["text"] == "Test Tweet"
    listed = x.control("GET", "posts", author=x.brand)["posts"]
    assert listed[0]["id"] == created["id"] and listed[0]["dm"] is False
    assert listed[0]["in_reply_to"] is None and listed[0]["conversation_id"] == created["id"]
    deleted = x.call("DELETE", f"/2/tweets/{created['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"data": {"deleted": True}}
    assert rate_headers(deleted)[0] == 50
    assert x.get(f"/2/tweets/{created['id']}").json()["errors"][0]["resource_type"] == "tweet"
    assert x.call("DELETE", f"/2/tweets/{created['id']}").json() == {"data": {"deleted": False}}
    someone_elses = x.post_as("not_brand", "mine")
    assert x.call("DELETE", f"/2/tweets/{someone_elses}").status_code == 403


def test_replies_thread_and_auto_populate(x: XClient) -> None:
    root = x.mention("thread_cust", "help")
    plain = x.tweet("on it", reply={"in_reply_to_tweet_id": root}).json()["data"]
    assert plain["text"] == "on it"
    auto = x.tweet("checking", reply={"in_reply_to_tweet_id": root,
                                      "auto_populate_reply_metadata": True}).json()["data"]
    assert auto["text"] == "@thread_cust checking"
    fields = x.get(f"/2/tweets/{plain['id']}", **{
        "tweet.fields": "conversation_id,in_reply_to_user_id,author_id"}).json()["data"]
    assert fields["conversation_id"] == root and fields["author_id"] == x.brand_id
    customer = x.get("/2/users/by/username/thread_cust").json()["data"]["id"]
    assert fields["in_reply_to_user_id"] == customer
    listed = {p["id"]: p for p in x.control("GET", "posts", author=x.brand)["posts"]}
    assert listed[plain["id"]]["in_reply_to"] == root


def test_request_body_is_validated_against_the_spec(x: XClient) -> None:
    response = x.call("POST", "/2/tweets", json={"text": "hi", "colour": "red"})
    assert response.status_code == 400 and response.json()["type"] == PROBLEM_INVALID
    assert response.json()["errors"][0]["message"] == (
        "$.colour: is not defined in the schema and the schema does not allow additional "
        "properties")
    nested = x.call("POST", "/2/tweets", json={"text": "hi", "reply": {"in_reply_to_tweet_id": "1",
                                                                       "extra": 1}})
    assert nested.json()["errors"][0]["message"].startswith("$.reply.extra: is not defined")
    bad_id = x.call("POST", "/2/tweets",
                    json={"text": "hi", "reply": {"in_reply_to_tweet_id": "abc"}})
    assert bad_id.status_code == 400
    assert x.call("POST", "/2/tweets", json={"text": 5}).status_code == 400
    assert x.call("POST", "/2/tweets", data="{not json",
                  headers={"Content-Type": "application/json"}).status_code == 400


def test_duplicate_content_is_refused_with_403(x: XClient) -> None:
    root = x.mention("dup_cust", "dup")
    assert x.tweet("Thanks, we're on it!", reply={"in_reply_to_tweet_id": root}).status_code == 201
    other_root = x.mention("dup_cust2", "dup too")
    again = x.tweet("Thanks, we're on it!", reply={"in_reply_to_tweet_id": other_root})
    assert again.status_code == 403
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json() == DUPLICATE
    x.control("POST", "clock", {"advance": 24 * 3600 + 1})
    assert x.tweet("Thanks, we're on it!").status_code == 201
    first = x.tweet("delete then repeat").json()["data"]["id"]
    x.call("DELETE", f"/2/tweets/{first}")
    assert x.tweet("delete then repeat").status_code == 201


@pytest.mark.parametrize(("text", "ok"), [
    ("a" * 280, True), ("a" * 281, False), ("日" * 140, True), ("日" * 141, False),
    ("😀" * 140, True), ("😀" * 141, False),
    ("a" * 256 + " https://example.com/" + "p" * 100, True),
    ("a" * 257 + " https://example.com/x", False),
])
def test_weighted_length_limit(x: XClient, text: str, ok: bool) -> None:
    response = x.tweet(text)
    if ok:
        assert response.status_code == 201, response.text
    else:
        body = assert_invalid(response, "text")
        assert body["errors"][0]["message"].startswith("Your Tweet text is too long.")


def test_reply_to_a_missing_post_is_forbidden(x: XClient) -> None:
    response = x.tweet("hello?", reply={"in_reply_to_tweet_id": "1234567"})
    assert response.status_code == 403
    assert response.json() == {
        "title": "Forbidden", "type": "about:blank", "status": 403,
        "detail": "You attempted to reply to a Tweet that is deleted or not visible to you."}


# -- rate limits --------------------------------------------------------------------------


def test_rate_window_429_and_reset(x: XClient) -> None:
    assert rate_headers(x.mentions())[0] == 450
    x.control("POST", "limits", {"family": "mentions", "limit": 2, "seconds": 900})
    first, second = x.mentions(), x.mentions()
    assert rate_headers(first)[:2] == (2, 1) and rate_headers(second)[:2] == (2, 0)
    limited = x.mentions()
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json() == TOO_MANY
    limit, remaining, reset = rate_headers(limited)
    assert (limit, remaining) == (2, 0) and reset == rate_headers(first)[2]
    assert "retry-after" not in {k.lower() for k in limited.headers}
    assert x.get("/2/users/me").status_code == 200
    x.control("POST", "clock", {"advance": 901})
    assert x.mentions().status_code == 200
    families = x.control("GET", "limits")["families"]
    assert families["mentions"] == {"limit": 2, "seconds": 900}
    assert families["create_tweet"] == {"limit": 200, "seconds": 900}
    response = x.http.post(f"{x.url}/_sandbox/limits", json={"family": "nope", "limit": 1})
    assert response.status_code == 400


def test_dm_families_share_one_window_per_direction(x: XClient) -> None:
    customer = x.control("POST", "users", {"handle": "dm_window"})["id"]
    sent = x.call("POST", f"/2/dm_conversations/with/{customer}/messages", json={"text": "a"})
    conversation = sent.json()["data"]["dm_conversation_id"]
    again = x.call("POST", f"/2/dm_conversations/{conversation}/messages", json={"text": "b"})
    assert rate_headers(sent)[:2] == (200, 199) and rate_headers(again)[:2] == (200, 198)
    reads = [x.get("/2/dm_events"), x.get(f"/2/dm_conversations/with/{customer}/dm_events"),
             x.get(f"/2/dm_conversations/{conversation}/dm_events")]
    assert [rate_headers(r)[:2] for r in reads] == [(300, 299), (300, 298), (300, 297)]


# -- direct messages ----------------------------------------------------------------------


def test_direct_message_flow(x: XClient) -> None:
    dm_id = x.post_as("dm_cust", "my account number is 12345", dm=True)
    x.post_as("stranger", "not for the brand", dm=True, to="someone_else")
    events = x.get("/2/dm_events").json()
    assert events == {"data": [{"id": dm_id, "event_type": "MessageCreate",
                                "text": "my account number is 12345"}],
                      "meta": {"result_count": 1}}
    full = x.get("/2/dm_events", **{"dm_event.fields": "id,text,event_type,created_at,sender_id,"
                                                       "dm_conversation_id,participant_ids",
                                    "expansions": "sender_id", "user.fields": "username"}).json()
    event = full["data"][0]
    customer = event["sender_id"]
    low, high = sorted((customer, x.brand_id), key=int)
    assert event["dm_conversation_id"] == f"{low}-{high}"
    assert event["created_at"].endswith("Z") and "participant_ids" not in event
    assert full["includes"]["users"] == [{"id": customer, "name": "Dm Cust", "username": "dm_cust"}]
    sent = x.call("POST", f"/2/dm_conversations/with/{customer}/messages",
                  json={"text": "Thanks, checking now"})
    assert sent.status_code == 201
    assert sent.json()["data"]["dm_conversation_id"] == f"{low}-{high}"
    answer = sent.json()["data"]["dm_event_id"]
    conversation = x.get(f"/2/dm_conversations/with/{customer}/dm_events").json()
    assert [e["id"] for e in conversation["data"]] == [answer, dm_id]
    by_id = x.get(f"/2/dm_conversations/{low}-{high}/dm_events").json()
    assert by_id == conversation
    mine = x.control("GET", "posts", author=x.brand)["posts"]
    assert mine[0]["id"] == answer and mine[0]["dm"] is True
    assert mine[0]["dm_recipient"] == "dm_cust"
    theirs = x.control("GET", "posts", author="dm_cust")["posts"]
    assert theirs[0]["dm_recipient"] == x.brand


def test_direct_message_paging_and_errors(x: XClient) -> None:
    ids = [x.post_as("dm_pager", f"message {i}", dm=True) for i in range(5)]
    page1 = x.get("/2/dm_events", max_results=2).json()
    assert [e["id"] for e in page1["data"]] == [ids[4], ids[3]]
    token = page1["meta"]["next_token"]
    assert len(token) >= 16 and "previous_token" not in page1["meta"]
    page2 = x.get("/2/dm_events", max_results=2, pagination_token=token).json()
    assert [e["id"] for e in page2["data"]] == [ids[2], ids[1]]
    assert set(page2["meta"]) == {"result_count", "next_token", "previous_token"}
    assert len(x.read_all("/2/dm_events", max_results=1)) == 5
    x.post_as("dm_pager", "from last quarter", dm=True, created_at=x.iso_at(-31 * 86400))
    assert len(x.read_all("/2/dm_events", max_results=100)) == 5
    assert_invalid(x.get("/2/dm_events", max_results=0), "max_results")
    assert_invalid(x.get("/2/dm_events", pagination_token="short"), "pagination_token")
    customer = x.get("/2/users/by/username/dm_pager").json()["data"]["id"]
    empty = x.call("POST", f"/2/dm_conversations/with/{customer}/messages", json={"text": ""})
    assert empty.status_code == 400 and empty.json()["type"] == PROBLEM_INVALID
    unknown = x.call("POST", "/2/dm_conversations/with/99999/messages", json={"text": "hi"})
    assert unknown.status_code == 403
    assert x.get("/2/dm_conversations/1-2/dm_events").status_code == 403


# -- faults, control API, concurrency -----------------------------------------------------


def test_fault_fails_the_next_matching_calls_then_clears(x: XClient) -> None:
    x.control("POST", "faults", {"path_prefix": "/2/users", "method": "GET", "status": 503,
                                 "count": 2})
    assert x.tweet("writes are not affected").status_code == 201
    for _ in range(2):
        failed = x.mentions()
        assert failed.status_code == 503
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json() == {"title": "Service Unavailable", "type": "about:blank",
                                 "status": 503, "detail": "Service Unavailable"}
    assert x.mentions().status_code == 200
    log = x.control("GET", "requests")["requests"]
    assert [(c["method"], c["status"]) for c in log[-4:]] == [("POST", 201), ("GET", 503),
                                                              ("GET", 503), ("GET", 200)]
    assert log[-2]["fault"] == "error" and log[-4]["body"] == {"text": "writes are not affected"}
    assert log[-1]["path"] == f"/2/users/{x.brand_id}/mentions"


def test_dropped_response_still_applies_the_write(x: XClient) -> None:
    x.control("POST", "faults", {"path_prefix": "/2/tweets", "method": "POST",
                                 "kind": "drop_response"})
    with pytest.raises(requests.ConnectionError):
        x.tweet("did this go out?")
    posted = x.control("GET", "posts", author=x.brand)["posts"]
    assert posted[0]["text"] == "did this go out?"
    assert x.tweet("did this go out?").json() == DUPLICATE
    x.control("POST", "faults", {"path_prefix": "/2/tweets", "kind": "error_after_write",
                                 "status": 500})
    lost = x.tweet("second try")
    assert lost.status_code == 500 and lost.json()["title"] == "Internal Server Error"
    assert x.control("GET", "posts", author=x.brand)["posts"][0]["text"] == "second try"
    assert x.control("GET", "faults")["faults"] == []


def test_control_metrics_users_reset_and_clock(x: XClient) -> None:
    post = x.mention("viral_cust", "look at this")
    x.control("POST", f"posts/{post}/metrics", {"like_count": 50_000, "retweet_count": 9_000})
    metrics = x.get(f"/2/tweets/{post}", **{"tweet.fields": "public_metrics"}).json()
    assert metrics["data"]["public_metrics"]["like_count"] == 50_000
    bad = x.http.post(f"{x.url}/_sandbox/posts/{post}/metrics", json={"likes": 1})
    assert bad.status_code == 400
    bad_handle = x.http.post(f"{x.url}/_sandbox/posts", json={"author": "bad handle!", "text": "x"})
    assert bad_handle.status_code == 400
    assert x.http.post(f"{x.url}/_sandbox/posts", json={"author": "a", "text": "x",
                                                        "in_reply_to": "1"}).status_code == 404
    before = x.control("GET", "clock")["epoch"]
    after = x.control("POST", "clock", {"advance": 3600})["epoch"]
    assert after - before >= 3600
    later = x.mention("viral_cust", "an hour later")
    created = x.get(f"/2/tweets/{later}", **{"tweet.fields": "created_at"}).json()["data"]
    assert created["created_at"][:13] == x.control("GET", "clock")["now"][:13]
    x.control("POST", "reset")
    assert x.mentions().json() == {"meta": {"result_count": 0}}
    assert x.get("/2/users/by/username/viral_cust").json()["errors"]
    assert x.get("/2/users/me").status_code == 200
    assert x.control("GET", "requests")["requests"][-1]["path"] == "/2/users/me"


def test_concurrent_posts_get_unique_ids(x: XClient) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(5):
            post_id = x.mention(f"conc_{n}", f"parallel {i}")
            with lock:
                ids.append(post_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 40
    mentions = x.read_all(f"/2/users/{x.brand_id}/mentions", max_results=100)
    assert {t["id"] for t in mentions} == set(ids)


# -- contracts: OpenAPI and recorded traffic ----------------------------------------------


def test_x_responses_match_openapi(x: XClient) -> None:
    """Every endpoint, success and error shapes, validated against the xdk 2.159 spec."""
    from openapi_check import validate_x

    checked: list[str] = []

    def check(method: str, path: str, body: Any = None, token: str | None = "",
              **params: Any) -> requests.Response:
        response = x.call(method, path, token=token, params=params or None, json=body)
        if response.headers["content-type"] == "application/problem+json":
            validate_x(method, response.url, response.status_code, response.headers, response.content)
        else:
            validate_x(method, response.url, response.status_code, response.headers,
                       response.content, request_body=body)
        checked.append(f"{method} {path} {response.status_code}")
        return response

    tf = ("author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets,entities,"
          "lang,public_metrics,possibly_sensitive,reply_settings,edit_controls")
    uf = ("created_at,description,profile_image_url,protected,public_metrics,verified,url,"
          "verified_type,most_recent_tweet_id")
    exp = ("author_id,in_reply_to_user_id,referenced_tweets.id,entities.mentions.username,"
           "referenced_tweets.id.author_id")
    root = x.mention("oa_cust", "order #9 https://example.com/o/9")
    for n in range(12):
        x.mention("oa_bulk", f"bulk {n}")
    reply = check("POST", "/2/tweets", {"text": "on it", "reply": {"in_reply_to_tweet_id": root}})
    reply_id = reply.json()["data"]["id"]
    x.post_as("oa_cust", "thanks", in_reply_to=reply_id)
    x.post_as("oa_fan", repost_of=root)
    gone = check("POST", "/2/tweets", {"text": "to be deleted", "reply_settings": "following"})
    gone = gone.json()["data"]["id"]
    x.post_as("oa_quote", f"@{x.brand} look", quote_of=gone)
    check("DELETE", f"/2/tweets/{gone}")
    customer = x.get("/2/users/by/username/oa_cust").json()["data"]["id"]
    check("GET", "/2/users/me", **{"user.fields": uf, "expansions": "most_recent_tweet_id"})
    check("GET", "/2/users/by/username/oa_cust", **{"user.fields": uf})
    check("GET", "/2/users/by/username/nobody")
    check("GET", f"/2/users/{customer}", **{"user.fields": uf})
    check("GET", "/2/users/1")
    mentions = f"/2/users/{x.brand_id}/mentions"
    first = check("GET", mentions, **{"tweet.fields": tf, "user.fields": uf, "expansions": exp})
    assert first.json()["errors"], "the deleted quoted post shows up as a partial error"
    check("GET", mentions, pagination_token=first.json()["meta"]["next_token"])
    check("GET", mentions, since_id=reply_id, max_results=100)
    check("GET", mentions, since_id=str(10**18 * 9))
    check("GET", mentions, max_results=500)
    check("GET", f"/2/users/{customer}/tweets", **{"tweet.fields": tf, "exclude": "retweets"})
    check("GET", f"/2/tweets/{root}", **{"tweet.fields": tf, "expansions": exp})
    check("GET", "/2/tweets/1")
    check("GET", "/2/tweets", ids=f"{root},{reply_id},1", **{"tweet.fields": tf, "expansions": exp})
    check("GET", "/2/tweets/search/recent", query="order -is:retweet",
          **{"tweet.fields": tf, "expansions": exp})
    check("GET", "/2/tweets/search/recent", query="nothing matches this")
    check("GET", "/2/tweets/search/recent", query="is:reply")
    check("POST", "/2/tweets", {"text": "on it", "reply": {"in_reply_to_tweet_id": root}})
    check("POST", "/2/tweets", {"text": "x" * 281})
    check("POST", "/2/tweets", {"text": "hi", "unknown": True})
    check("POST", "/2/tweets", {"text": "hi", "reply": {"in_reply_to_tweet_id": "1"}})
    x.post_as("oa_cust", "a private question", dm=True)
    dm = check("POST", f"/2/dm_conversations/with/{customer}/messages", {"text": "an answer"})
    conversation = dm.json()["data"]["dm_conversation_id"]
    check("POST", f"/2/dm_conversations/{conversation}/messages", {"text": "more"})
    dm_fields = {"dm_event.fields": "id,text,event_type,created_at,sender_id,dm_conversation_id",
                 "expansions": "sender_id", "user.fields": uf}
    page = check("GET", "/2/dm_events", max_results=1, **dm_fields)
    check("GET", "/2/dm_events", max_results=1, pagination_token=page.json()["meta"]["next_token"])
    check("GET", f"/2/dm_conversations/with/{customer}/dm_events", **dm_fields)
    check("GET", f"/2/dm_conversations/{conversation}/dm_events")
    check("GET", f"/2/dm_conversations/with/{x.brand_id}1/dm_events")
    check("GET", "/2/users/me", token=None)
    x.control("POST", "limits", {"family": "users_me", "limit": 0, "seconds": 900})
    check("GET", "/2/users/me")
    x.control("POST", "faults", {"path_prefix": "/2/tweets", "status": 503})
    check("GET", f"/2/tweets/{root}")
    routes = set()
    for call in checked:
        method, path, _ = call.split(" ")
        tail = re.sub(r"/by/username/\w+", "/by/username/N", path[2:])
        tail = re.sub(r"/[0-9]+(-[0-9]+)?", "/N", tail)
        routes.add(f"{method} /2{tail}")
    assert routes == {
        "GET /2/users/me", "GET /2/users/by/username/N", "GET /2/users/N",
        "GET /2/users/N/mentions", "GET /2/users/N/tweets", "GET /2/tweets/N", "GET /2/tweets",
        "GET /2/tweets/search/recent",
        "POST /2/tweets", "DELETE /2/tweets/N", "POST /2/dm_conversations/with/N/messages",
        "POST /2/dm_conversations/N/messages", "GET /2/dm_events",
        "GET /2/dm_conversations/with/N/dm_events", "GET /2/dm_conversations/N/dm_events"}
    statuses = {c.rsplit(" ", 1)[1] for c in checked}
    assert statuses >= {"200", "201", "400", "401", "403", "429", "503"}


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _recorded(name: str) -> list[dict[str, Any]]:
    path = RECORDED / f"{name}.decoded.json"
    if not path.exists():
        pytest.skip(f"recorded traffic not available: {path}")
    return json.loads(path.read_text())["interactions"]


def test_responses_have_the_shapes_of_recorded_traffic(x: XClient) -> None:
    """Same keys and JSON types as real api.twitter.com bodies, same content type and the
    same default rate-window figures."""
    customer = x.control("POST", "users", {"handle": "shape_cust"})["id"]
    mentions = [x.mention("shape_cust", f"m {i}") for i in range(15)]
    for i in range(5):
        x.post_as("shape_cust", f"dm {i}", dm=True)

    def same(name: str, index: int, response: requests.Response) -> None:
        real = _recorded(name)[index]["response"]
        assert response.status_code == real["status"]["code"], name
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.headers["x-rate-limit-limit"] == real["headers"]["x-rate-limit-limit"], name
        mine, theirs = _shape(response.json()), _shape(real["body"])
        if "meta" in theirs:
            assert set(mine["meta"]) == set(theirs["meta"]), name
            mine.pop("meta"), theirs.pop("meta")
        assert mine == theirs, name

    same("test_client_get_me", 0, x.get("/2/users/me"))
    same("test_client_get_user", 0, x.get("/2/users/by/username/shape_cust"))
    same("test_client_get_users_mentions", 0, x.mentions())
    same("test_client_get_tweet", 0, x.get(f"/2/tweets/{mentions[0]}"))
    same("test_client_get_tweets", 0, x.get("/2/tweets", ids=f"{mentions[0]},{mentions[1]}"))
    same("test_client_get_users_tweets", 0, x.get(f"/2/users/{customer}/tweets"))
    same("test_client_search_recent_tweets", 0, x.get("/2/tweets/search/recent", query="m"))
    created = x.tweet("Test Tweet")
    same("test_client_create_and_delete_tweet", 0, created)
    same("test_client_create_and_delete_tweet", 1,
         x.call("DELETE", f"/2/tweets/{created.json()['data']['id']}"))
    same("test_manage_and_lookup_direct_messages", 0,
         x.call("POST", f"/2/dm_conversations/with/{customer}/messages",
                json={"text": "Testing 1"}))
    first = x.get(f"/2/dm_conversations/with/{customer}/dm_events", max_results=2).json()
    same("test_manage_and_lookup_direct_messages", 5,
         x.get(f"/2/dm_conversations/with/{customer}/dm_events", max_results=2,
               pagination_token=first["meta"]["next_token"]))
    x.control("POST", "reset")
    empty = x.get("/2/dm_events")
    recorded_empty = _recorded("test_manage_and_lookup_direct_messages")[3]["response"]["body"]
    assert empty.json() == recorded_empty == {"meta": {"result_count": 0}}


# -- chaos faults, tiers, outage ----------------------------------------------------------


def test_probabilistic_429_carries_the_window_headers_and_no_retry_after(x: XClient) -> None:
    window = rate_headers(x.mentions())
    x.control("POST", "faults", {"kind": "429", "probability": 1.0, "count": 1,
                                 "path_prefix": f"/2/users/{x.brand_id}/mentions"})
    limited = x.mentions()
    assert limited.status_code == 429 and limited.json() == TOO_MANY
    assert limited.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in {k.lower() for k in limited.headers}
    limit, remaining, reset = rate_headers(limited)
    assert (limit, remaining, reset) == (450, 0, window[2])  # the window's own reset
    assert x.mentions().status_code == 200
    x.control("POST", "faults", {"kind": "429", "retry_after": 30, "path_prefix": "/2/users"})
    soon = rate_headers(x.mentions())[2]
    assert abs(soon - (x.now() + 30)) <= 2
    log = x.control("GET", "requests")["requests"]
    assert [c.get("fault") for c in log[-4:]] == [None, "429", None, "429"]


def test_probabilistic_5xx_reset_and_dropped_posts(x: XClient) -> None:
    x.control("POST", "faults", {"kind": "5xx", "status": 500, "path_prefix": "/2/users/me"})
    failed = x.get("/2/users/me")
    assert failed.status_code == 500 and failed.json()["title"] == "Internal Server Error"
    assert failed.headers["content-type"] == "application/problem+json"
    x.control("POST", "faults", {"kind": "reset", "method": "POST", "path_prefix": "/2/tweets"})
    with pytest.raises(requests.ConnectionError):
        x.tweet("reset before anything happened")
    assert x.control("GET", "posts", author=x.brand)["posts"] == []
    x.control("POST", "faults", {"kind": "drop_response", "probability": 1.0, "count": 1,
                                 "method": "POST", "path_prefix": "/2/tweets"})
    with pytest.raises(requests.ConnectionError):
        x.tweet("posted, answer lost")
    assert [p["text"] for p in x.control("GET", "posts", author=x.brand)["posts"]] == [
        "posted, answer lost"]


def test_slow_and_held_answers(x: XClient) -> None:
    x.control("POST", "faults", {"kind": "slow", "delay": 0.5, "path_prefix": "/2/users/me"})
    started = time.monotonic()
    assert x.get("/2/users/me").status_code == 200 and time.monotonic() - started >= 0.5
    x.control("POST", "faults", {"kind": "timeout", "delay": 1.5, "method": "POST",
                                 "path_prefix": "/2/tweets"})
    with pytest.raises(requests.ReadTimeout):
        x.call("POST", "/2/tweets", json={"text": "held past the timeout"}, timeout=0.5)
    assert x.control("GET", "posts", author=x.brand)["posts"][0]["text"] == "held past the timeout"


def test_x_faults_replay_with_the_same_seed(x: XClient) -> None:
    def pattern() -> list[int]:
        return [x.get("/2/users/me").status_code for _ in range(30)]

    spec = {"kind": "5xx", "probability": 0.4, "path_prefix": "/2/users/me"}
    x.control("POST", "seed", {"seed": 7})
    x.control("POST", "faults", spec)
    first = pattern()
    x.control("DELETE", "faults")
    x.control("POST", "seed", {"seed": 7})
    x.control("POST", "faults", spec)
    assert pattern() == first and 503 in first and 200 in first
    listed = x.control("GET", "faults")
    assert listed["seed"] == 7 and listed["probabilistic"][0]["hits"] == first.count(503)


@pytest.mark.parametrize("tier, mentions, posts", [
    ("pro", (300, 900), (100, 900)), ("basic", (10, 900), (100, 86400)), ("recorded", (450, 900), (200, 900))])
def test_access_tiers_set_the_windows(x: XClient, tier: str, mentions: tuple[int, int],
                                      posts: tuple[int, int]) -> None:
    shown = x.control("POST", "limits", {"tier": tier})
    assert shown["tier"] == tier
    assert shown["families"]["mentions"] == {"limit": mentions[0], "seconds": mentions[1]}
    assert shown["families"]["create_tweet"] == {"limit": posts[0], "seconds": posts[1]}
    posted = x.tweet(f"tier {tier}")
    limit, _, reset = rate_headers(posted)
    assert limit == posts[0] and abs(reset - (x.now() + posts[1])) <= 2
    assert x.http.post(f"{x.url}/_sandbox/limits", json={"tier": "gold"}).status_code == 400


def test_x_outage(x: XClient) -> None:
    x.control("POST", "outage", {"seconds": 60})
    down = x.mentions()
    assert down.status_code == 503 and down.json()["title"] == "Service Unavailable"
    assert 50 < int(down.headers["Retry-After"]) <= 60
    x.control("POST", "clock", {"advance": 61})
    assert x.mentions().status_code == 200
    x.control("POST", "outage")
    assert x.get("/2/users/me").status_code == 503
    assert x.control("DELETE", "outage")["outage"]["active"] is False
    assert x.get("/2/users/me").status_code == 200
