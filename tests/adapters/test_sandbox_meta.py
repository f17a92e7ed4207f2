"""The Meta Graph API stand-in (sandbox/meta/), over real HTTPS.

Driven by an independent Graph client, python-facebook (``pyfacebook``), where it has a
call, and by plain requests elsewhere: reads with paging, comment replies, Private
Replies, messaging windows by the sandbox clock, webhooks (handshake, signatures,
duplicates, drops, retries given up after 36 hours), usage headers and throttling,
batches, token expiry and revocation, and expiring CDN links.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pyfacebook import FacebookApi, FacebookError, GraphAPI, IGBusinessApi

from sandbox.server import Sandbox

HOUR = 3600
DAY = 24 * HOUR


class Meta:
    """Talks to the running stand-in as a client would, plus its control API."""

    def __init__(self, sb: Sandbox) -> None:
        info = sb.info()["services"]["meta"]
        self.info = info
        self.url, self.version = info["url"], info["version"]
        self.token, self.page_id, self.ig_id = info["page_token"], info["page_id"], info["ig_user_id"]
        self.app_token = f"{info['app_id']}|{info['app_secret']}"
        self.http = requests.Session()
        self.http.verify = sb.ca_bundle
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override the sandbox CA
        self.ca_bundle = sb.ca_bundle

    def graph(self, method: str, path: str, token: str | None = "", **kwargs: Any
              ) -> requests.Response:
        params = dict(kwargs.pop("params", {}))
        token = self.token if token == "" else token
        if token is not None:
            params["access_token"] = token
        return self.http.request(method, f"{self.url}/{self.version}/{path}", params=params,
                                 **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.graph("GET", path, params=params)

    def post(self, path: str, **data: Any) -> requests.Response:
        return self.graph("POST", path, data=data)

    def send(self, recipient: dict[str, Any], text: str, messaging_type: str = "RESPONSE",
             **extra: Any) -> requests.Response:
        body = {"recipient": recipient, "messaging_type": messaging_type,
                "message": {"text": text}, **extra}
        return self.graph("POST", f"{self.page_id}/messages", json=body)

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path}", json=body,
                                     params=params)
        assert response.status_code < 300, response.text
        return response.json()

    def act(self, **body: Any) -> dict[str, Any]:
        """A person (or the brand in its own UI) does something on the network."""
        return self.control("POST", "posts", body)

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock", {"advance": seconds})

    def hooks(self, wait: float = 10.0) -> dict[str, Any]:
        return self.control("GET", "webhooks", wait=wait, deliveries=1000)

    def client(self, **extra: Any) -> FacebookApi:
        api = FacebookApi(access_token=self.token, version=self.version,
                          base_url=f"{self.url}/", sleep_on_rate_limit=False, timeout=10,
                          **extra)
        api.session.verify = self.ca_bundle
        api.session.trust_env = False
        return api

    def ig_client(self) -> IGBusinessApi:
        api = IGBusinessApi(access_token=self.token, version=self.version,
                            base_url=f"{self.url}/", sleep_on_rate_limit=False, timeout=10,
                            instagram_business_id=self.ig_id)
        api.session.verify = self.ca_bundle
        api.session.trust_env = False
        return api


def graph_error(response: requests.Response, code: int, subcode: int | None = None
                ) -> dict[str, Any]:
    assert response.status_code >= 400, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "fbtrace_id"}
    assert error["code"] == code, error
    assert error.get("error_subcode") == subcode, error
    return error


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    sandbox = Sandbox(services=("meta",)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def meta(sb: Sandbox) -> Meta:
    client = Meta(sb)
    client.control("POST", "reset")
    return client


# -- a webhook receiver -------------------------------------------------------------------


class Receiver:
    """A callback URL: answers Meta's verification GET (echoing the challenge when the
    verify token matches) and records each POST with its raw bytes and headers; POSTs
    answer ``status`` (or the next of ``script``)."""

    def __init__(self, verify_token: str) -> None:
        self.verify_token = verify_token
        self.posts: list[dict[str, Any]] = []
        self.verifications: list[dict[str, list[str]]] = []
        self.status = 200
        self.script: list[int] = []
        self.challenge_mode = "echo"
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                query = parse_qs(urlsplit(self.path).query)
                receiver.verifications.append(query)
                ok = (query.get("hub.mode") == ["subscribe"]
                      and query.get("hub.verify_token") == [receiver.verify_token])
                if receiver.challenge_mode == "echo" and ok:
                    body = query["hub.challenge"][0].encode()
                    self.send_response(200)
                elif receiver.challenge_mode == "wrong":
                    body = b"not the challenge"
                    self.send_response(200)
                else:
                    body = b"forbidden"
                    self.send_response(403)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.status
                    receiver.posts.append({"raw": raw, "headers": dict(self.headers),
                                           "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/meta/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, ok_only: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(p["raw"]) for p in self.posts
                    if not ok_only or 200 <= p["status"] < 300]

    def entries(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies() for e in body["entry"]]


@pytest.fixture
def receiver(meta: Meta) -> Iterator[Receiver]:
    found = Receiver(meta.info["verify_token"])
    try:
        yield found
    finally:
        found.close()


def subscribe(meta: Meta, receiver: Receiver, obj: str = "page",
              fields: str = "feed,mention,messages,message_echoes,message_edits",
              page_fields: str = "feed,mention,messages,message_echoes,message_edits"
              ) -> None:
    answer = meta.graph("POST", f"{meta.info['app_id']}/subscriptions", token=meta.app_token,
                        data={"object": obj, "callback_url": receiver.url, "fields": fields,
                              "verify_token": receiver.verify_token, "include_values": "true"})
    assert answer.json() == {"success": True}, answer.text
    answer = meta.post(f"{meta.page_id}/subscribed_apps", subscribed_fields=page_fields)
    assert answer.json() == {"success": True}, answer.text


# -- identity and reads --------------------------------------------------------------------


def test_page_and_instagram_account_through_python_facebook(meta: Meta) -> None:
    api = meta.client()
    page = api.page.get_info(meta.page_id, fields="id,name,username", return_json=True)
    assert page == {"id": meta.page_id, "name": "Socialdesk Demo", "username": "socialdesk_demo"}
    assert api.get_object("me") == {"name": "Socialdesk Demo", "id": meta.page_id}
    linked = api.get_object(meta.page_id, fields="instagram_business_account")
    assert linked["instagram_business_account"] == {"id": meta.ig_id}
    ig = meta.ig_client().user.get_info(fields="id,username,name", return_json=True)
    assert ig == {"id": meta.ig_id, "username": "socialdesk_demo", "name": "Socialdesk Demo"}
    # The page token's alias reads as the Page too; an unknown alias is 803.
    assert meta.get("socialdesk_demo").json()["id"] == meta.page_id
    with pytest.raises(FacebookError) as raised:
        api.get_object("nobody_here")
    assert raised.value.code == 803


def test_feed_pages_with_cursors_and_time_windows(meta: Meta) -> None:
    meta.advance(60)
    first = meta.act(network="facebook", author="ann", text="visitor one", on=meta.page_id)
    meta.advance(60)
    for n in range(4):
        meta.act(network="facebook", author="socialdesk_demo", text=f"page post {n}")
        meta.advance(60)
    meta.act(network="facebook", author="ann", text="visitor two", on=meta.page_id)
    api = meta.client()
    # python-facebook follows ``paging.next`` (the same query, a new ``after``).
    everything = api.get_full_connections(meta.page_id, "feed", count=None, limit=2,
                                          fields="id,message,from{id,name},created_time")
    messages = [p["message"] for p in everything["data"]]
    assert messages == ["visitor two", "page post 3", "page post 2", "page post 1",
                        "page post 0", "visitor one", "Welcome to our Page! Ask us anything."]
    assert len({p["id"] for p in everything["data"]}) == 7
    assert all(p["id"].startswith(meta.page_id + "_") for p in everything["data"])
    page1 = meta.get(f"{meta.page_id}/feed", limit=2, fields="id").json()
    assert set(page1["paging"]) == {"cursors", "next"}
    assert set(page1["paging"]["cursors"]) == {"before", "after"}
    page2 = requests.get(page1["paging"]["next"], verify=meta.ca_bundle).json()
    assert "previous" in page2["paging"]
    back = requests.get(page2["paging"]["previous"], verify=meta.ca_bundle).json()
    assert [p["id"] for p in back["data"]] == [p["id"] for p in page1["data"]]
    # posts: the Page's own only; visitor_posts: the visitors' only.
    own = meta.get(f"{meta.page_id}/posts", fields="message", limit=100).json()["data"]
    assert len(own) == 5 and all("visitor" not in p["message"] for p in own)
    visitors = meta.get(f"{meta.page_id}/visitor_posts", fields="id").json()["data"]
    assert {p["id"] for p in visitors} >= {first["id"]}
    # since/until: Unix seconds or ISO 8601, both ends inclusive.
    made = meta.get(first["id"], fields="created_time").json()["created_time"]
    since = meta.get(f"{meta.page_id}/feed", since=made, fields="message").json()["data"]
    assert since[-1]["message"] == "visitor one"
    now = meta.control("GET", "clock")["epoch"]
    until = meta.get(f"{meta.page_id}/feed", until=int(now) - 150, fields="message").json()
    assert [p["message"] for p in until["data"]][:2] == ["page post 1", "page post 0"]
    empty = meta.get(f"{meta.page_id}/feed", since=int(now) + 10).json()
    assert empty == {"data": []}


def test_tagged_posts_and_mention_reads(meta: Meta) -> None:
    tagged = meta.act(network="facebook", author="zoe", on="timeline",
                      text="Thanks @socialdesk_demo for the help")
    meta.act(network="facebook", author="zoe", on="timeline", text="unrelated")
    found = meta.client().page.get_tagged_posts(meta.page_id, fields="id,message,from,message_tags",
                                                return_json=True)
    assert [p["id"] for p in found["data"]] == [tagged["id"]]
    post = found["data"][0]
    assert post["from"]["name"] == "Zoe" and not post["id"].startswith(meta.page_id)
    assert post["message_tags"] == [{"id": meta.page_id, "name": "Socialdesk Demo",
                                     "type": "page", "offset": 7, "length": 16}]


def test_comments_filter_order_and_fields(meta: Meta) -> None:
    top = meta.act(network="facebook", author="ann", text="first")
    meta.advance(5)
    reply = meta.act(network="facebook", author="bob", text="me too", on=top["id"])
    meta.advance(5)
    nested = meta.act(network="facebook", author="cid", text="and me", on=reply["id"])
    meta.advance(5)
    meta.act(network="facebook", author="dee", text="second")
    post_id = top["post_id"]
    # A reply to a reply is attached to the top-level comment, as on Facebook.
    assert nested["parent_id"] == top["id"] and reply["parent_id"] == top["id"]
    fields = ("id,message,from{id,name},created_time,parent{id},attachment,permalink_url,"
              "is_hidden,can_reply_privately")
    toplevel = meta.get(f"{post_id}/comments", fields=fields).json()["data"]
    assert [c["message"] for c in toplevel] == ["first", "second"]
    stream = meta.get(f"{post_id}/comments", filter="stream", fields=fields,
                      order="reverse_chronological", summary="true").json()
    assert [c["message"] for c in stream["data"]] == ["second", "and me", "me too", "first"]
    assert stream["summary"] == {"order": "reverse_chronological", "total_count": 4,
                                 "can_comment": True}
    child = stream["data"][1]
    assert child["parent"] == {"id": top["id"]}
    assert child["permalink_url"].endswith(f"?comment_id={top['id'].split('_')[1]}"
                                           f"&reply_comment_id={nested['id'].split('_')[1]}")
    assert child["can_reply_privately"] is True and child["is_hidden"] is False
    assert "attachment" not in child  # absent, as Meta leaves empty fields out
    # The comments edge as a nested field, with modifiers.
    post = meta.get(post_id, fields="id,comments.limit(1).summary(true){message}").json()
    assert post["comments"]["data"] == [{"message": "first", "id": top["id"]}]
    assert post["comments"]["summary"]["total_count"] == 2
    assert "next" in post["comments"]["paging"]
    more = requests.get(post["comments"]["paging"]["next"], verify=meta.ca_bundle).json()
    assert [c["message"] for c in more["data"]] == ["second"]
    # Several objects at once (python-facebook's get_batch: ``GET /?ids=``), keyed by id.
    both = meta.client().comment.get_batch(f"{top['id']},{reply['id']}", fields="message",
                                           return_json=True)
    assert both == {top["id"]: {"message": "first", "id": top["id"]},
                    reply["id"]: {"message": "me too", "id": reply["id"]}}
    # python-facebook's own comment reader.
    via_lib = meta.client().comment.get_info(top["id"], fields="id,message,comment_count",
                                             return_json=True)
    assert via_lib == {"id": top["id"], "message": "first", "comment_count": 2}
    # Comment default fields: created_time, from, message, id.
    assert set(meta.get(top["id"]).json()) == {"created_time", "from", "message", "id"}


def test_page_replies_hides_and_deletes_comments(meta: Meta) -> None:
    top = meta.act(network="facebook", author="ann", text="broken again")
    api = meta.client()
    made = api.comment.create(top["id"], message="Sorry! We are on it.", return_json=True)
    assert set(made) == {"id"} and made["id"].split("_")[0] == top["post_id"].split("_")[1]
    reply = meta.get(made["id"], fields="from,parent{id},message").json()
    assert reply["from"] == {"name": "Socialdesk Demo", "id": meta.page_id}
    assert reply["parent"] == {"id": top["id"]}
    on_post = meta.post(f"{top['post_id']}/comments", message="A top-level note").json()
    assert "parent" not in meta.get(on_post["id"], fields="parent").json()
    # Hide (python-facebook sends is_hidden=True as a form field).
    assert api.comment.update(top["id"], is_hidden=True) == {"success": True}
    assert meta.get(top["id"], fields="is_hidden").json()["is_hidden"] is True
    own = graph_error(meta.post(made["id"], is_hidden="true"), 100)
    assert "own comment" in own["message"]
    # The Page edits its own comment; not a customer's.
    assert meta.post(made["id"], message="Fixed now.").json() == {"success": True}
    graph_error(meta.post(top["id"], message="rewritten"), 200)
    assert api.comment.delete(made["id"]) == {"success": True}
    graph_error(meta.get(made["id"]), 100, 33)
    graph_error(meta.post(f"{made['id']}/comments", message="late"), 100, 33)
    ids = [c["id"] for c in meta.get(f"{top['post_id']}/comments", filter="stream").json()["data"]]
    assert made["id"] not in ids and top["id"] in ids


def test_instagram_media_comments_replies_tags_and_mentions(meta: Meta) -> None:
    ig = meta.ig_client()
    media = ig.user.get_media(fields="id,caption,timestamp,permalink,comments_count,media_type,"
                              "media_url", return_json=True)["data"]
    assert len(media) == 1 and media[0]["media_type"] == "IMAGE"
    assert media[0]["permalink"].startswith("https://www.instagram.com/p/")
    media_id = media[0]["id"]
    first = meta.act(network="instagram", author="ig.fan", text="Where do you ship?")
    meta.advance(5)
    meta.act(network="instagram", author="other_fan", text="Same question", on=media_id)
    fields = "id,text,timestamp,username,from{id,username},parent_id,hidden,replies{id,text}"
    comments = ig.media.get_comments(media_id, fields=fields, return_json=True)["data"]
    assert [c["text"] for c in comments] == ["Same question", "Where do you ship?"]
    assert comments[1]["from"] == {"id": first["author_id"], "username": "ig.fan"}
    assert "parent_id" not in comments[1]
    made = meta.post(f"{first['id']}/replies", message="@ig.fan Everywhere!").json()
    reply = meta.get(made["id"], fields="id,text,username,parent_id").json()
    assert reply == {"id": made["id"], "text": "@ig.fan Everywhere!",
                     "username": "socialdesk_demo", "parent_id": first["id"]}
    replies = ig.comment.get_replies(first["id"], fields="id,text", return_json=True)["data"]
    assert replies == [{"id": made["id"], "text": "@ig.fan Everywhere!"}]
    # Replies only on top-level comments, and not on hidden ones.
    graph_error(meta.post(f"{made['id']}/replies", message="no"), 100)
    assert meta.post(comments[0]["id"], hide="true").json() == {"success": True}
    graph_error(meta.post(f"{comments[0]['id']}/replies", message="no"), 100)
    # Mentions: a caption and a comment elsewhere; a photo tag for /tags.
    caption = meta.act(network="instagram", author="ig.fan", on="timeline", tagged=True,
                       text="Unboxing with @socialdesk_demo", media=[{"type": "image"}])
    elsewhere = meta.act(network="instagram", author="ig.fan", on=caption["id"],
                         text="@socialdesk_demo is this right?")
    got = ig.user.get_mentioned_media(caption["id"], fields="id,caption,media_type",
                                      return_json=True)
    assert got["mentioned_media"] == {"id": caption["id"],
                                      "caption": "Unboxing with @socialdesk_demo",
                                      "media_type": "IMAGE"}
    got = ig.user.get_mentioned_comment(elsewhere["id"], fields="id,text,username",
                                        return_json=True)
    assert got["mentioned_comment"]["username"] == "ig.fan"
    tags = ig.user.get_tagged_media(fields="id,caption,username", return_json=True)["data"]
    assert [t["id"] for t in tags] == [caption["id"]]
    graph_error(meta.get(meta.ig_id, fields="mentioned_comment.comment_id(1){id}"), 100)


def test_conversations_and_messages_read_like_the_inbox(meta: Meta) -> None:
    dm = meta.act(network="facebook", author="jane_doe", text="Order 42?", dm=True,
                  media=[{"type": "image"}])
    meta.advance(1)
    sent = meta.send({"id": dm["author_id"]}, "Looking now").json()
    ig_dm = meta.act(network="instagram", author="ig.fan", text="Hi!", dm=True)
    fields = ("id,updated_time,participants,messages{id,message,from,to,created_time,"
              "attachments}")
    threads = meta.get(f"{meta.page_id}/conversations", platform="messenger",
                       fields=fields).json()["data"]
    assert len(threads) == 1 and threads[0]["id"].startswith("t_")
    assert threads[0]["participants"]["data"][0] == {
        "name": "Jane Doe", "email": f"{dm['author_id']}@facebook.com", "id": dm["author_id"]}
    messages = threads[0]["messages"]["data"]
    assert [m["id"] for m in messages] == [sent["message_id"], dm["id"]]  # newest first
    assert dm["id"].startswith("m_") and sent["recipient_id"] == dm["author_id"]
    image = messages[1]["attachments"]["data"][0]
    assert image["mime_type"] == "image/jpeg" and "oe=" in image["image_data"]["url"]
    assert messages[0]["from"]["id"] == meta.page_id
    info = meta.client().message.get_info(dm["id"], fields="id,message,from",
                                          return_json=True)
    assert info["message"] == "Order 42?"
    ig_threads = meta.get(f"{meta.page_id}/conversations", platform="instagram",
                          fields="id,participants,messages{id,message,from}").json()["data"]
    assert ig_threads[0]["participants"]["data"][0] == {"username": "ig.fan",
                                                        "id": ig_dm["author_id"]}
    assert ig_threads[0]["messages"]["data"][0]["message"] == "Hi!"
    # People by their scoped ids (User Profile APIs); unversioned paths work too.
    assert meta.get(dm["author_id"], fields="name,first_name").json() == {
        "name": "Jane Doe", "first_name": "Jane", "id": dm["author_id"]}
    assert meta.get(ig_dm["author_id"], fields="name,username").json()["username"] == "ig.fan"
    graph_error(meta.get(dm["author_id"], fields="username"), 100)
    plain = meta.http.get(f"{meta.url}/{dm['author_id']}", params={"access_token": meta.token})
    assert plain.json() == {"name": "Jane Doe", "id": dm["author_id"]}
    listed = meta.get(f"{threads[0]['id']}/messages", fields="message", limit=1).json()
    assert listed["data"] == [{"message": "Looking now", "id": sent["message_id"]}]
    assert "next" in listed["paging"]


# -- errors --------------------------------------------------------------------------------


def test_graph_errors_have_meta_codes(meta: Meta) -> None:
    graph_error(meta.get(meta.page_id, fields="id,nope"), 100)
    error = graph_error(meta.get("123456789_987654321"), 100, 33)
    assert error["type"] == "GraphMethodException"
    assert error["message"].startswith("Unsupported get request. Object with ID "
                                       "'123456789_987654321' does not exist")
    graph_error(meta.post("123456789_987654321", message="x"), 100, 33)
    graph_error(meta.get(f"{meta.page_id}/feed/extra"), 2500)
    graph_error(meta.get(f"{meta.page_id}/nonsense"), 100)
    graph_error(meta.graph("GET", "me", token=None), 104)
    graph_error(meta.graph("GET", "me", token="EAAnot-a-token"), 190)
    graph_error(meta.get(meta.page_id, fields="id,comments{"), 2500)
    # The app token reads no Page content (Meta's recorded answer) and is no user.
    graph_error(meta.graph("GET", f"{meta.page_id}/feed", token=meta.app_token), 100)
    graph_error(meta.graph("GET", "me", token=meta.app_token), 2500)
    with pytest.raises(FacebookError) as raised:
        meta.client().get_object("123456789_987654321")
    assert raised.value.code == 100
    # Tokens also work from the Authorization header.
    headers = {"Authorization": f"Bearer {meta.token}"}
    assert meta.http.get(f"{meta.url}/{meta.version}/me", headers=headers).status_code == 200


def test_appsecret_proof_is_checked_when_sent(meta: Meta) -> None:
    signed = meta.client(app_secret=meta.info["app_secret"])
    assert signed.get_object("me")["id"] == meta.page_id
    wrong = meta.client(app_secret="not-the-secret")
    with pytest.raises(FacebookError) as raised:
        wrong.get_object("me")
    assert raised.value.code == 100 and "appsecret_proof" in raised.value.message


# -- messaging -----------------------------------------------------------------------------


def test_messaging_windows_follow_the_clock(meta: Meta) -> None:
    dm = meta.act(network="facebook", author="jane_doe", text="Help?", dm=True)
    psid = {"id": dm["author_id"]}
    assert meta.send(psid, "Hi Jane").status_code == 200
    meta.advance(23 * HOUR)
    assert meta.send(psid, "Still here", "UPDATE").status_code == 200
    meta.advance(2 * HOUR)   # 25 h after Jane's message
    error = graph_error(meta.send(psid, "Late"), 10, 2018278)
    assert "outside of allowed window" in error["message"]
    graph_error(meta.send(psid, "Tagless", "MESSAGE_TAG"), 100)
    assert meta.send(psid, "Agent here", "MESSAGE_TAG", tag="HUMAN_AGENT").status_code == 200
    meta.advance(6 * DAY)    # 7 days and 1 hour
    graph_error(meta.send(psid, "Agent again", "MESSAGE_TAG", tag="HUMAN_AGENT"), 10, 2018278)
    # The person writes again: the windows open again.
    meta.act(network="facebook", author="jane_doe", text="Hello?", dm=True)
    assert meta.send(psid, "Back!").status_code == 200
    graph_error(meta.send({"id": "99999999"}, "Who?"), 100, 2018001)
    # Instagram: the same windows, HUMAN_AGENT the only tag.
    ig = meta.act(network="instagram", author="ig.fan", text="Yo", dm=True)
    igsid = {"id": ig["author_id"]}
    graph_error(meta.send(igsid, "x", "MESSAGE_TAG", tag="ACCOUNT_UPDATE"), 100)
    assert meta.send(igsid, "x" * 1000).status_code == 200
    graph_error(meta.send(igsid, "é" * 501), 100)  # 1,002 bytes
    meta.advance(2 * DAY)
    graph_error(meta.send(igsid, "late"), 10, 2018278)
    assert meta.send(igsid, "agent", "MESSAGE_TAG", tag="HUMAN_AGENT").status_code == 200
    sent = meta.control("GET", "posts", author="socialdesk_demo")["posts"]
    ig_sent = [p for p in sent if p["network"] == "instagram"]
    assert ig_sent[0]["tag"] == "HUMAN_AGENT" and ig_sent[0]["messaging_type"] == "MESSAGE_TAG"


def test_private_reply_once_within_seven_days(meta: Meta) -> None:
    comment = meta.act(network="facebook", author="bob", text="Refund please")
    old = meta.act(network="facebook", author="carl", text="Old complaint")
    meta.advance(8 * DAY)
    fresh = meta.act(network="facebook", author="dana", text="New complaint")
    answer = meta.send({"comment_id": fresh["id"]}, "Let's talk here")
    assert answer.status_code == 200, answer.text
    assert answer.json()["recipient_id"] == fresh["author_id"]
    graph_error(meta.send({"comment_id": fresh["id"]}, "Again"), 10900)
    graph_error(meta.send({"comment_id": old["id"]}, "Too late"), 10, 2018278)
    assert meta.get(fresh["id"], fields="can_reply_privately").json() == {
        "can_reply_privately": False, "id": fresh["id"]}
    assert meta.get(comment["id"], fields="can_reply_privately").json() == {
        "can_reply_privately": False, "id": comment["id"]}
    # The private reply does not open the 24-hour window; Dana's answer does.
    graph_error(meta.send({"id": fresh["author_id"]}, "Follow-up"), 10, 2018278)
    meta.act(network="facebook", author="dana", text="OK, my order is 7", dm=True)
    assert meta.send({"id": fresh["author_id"]}, "Thanks Dana").status_code == 200
    listed = meta.control("GET", "posts", author="socialdesk_demo")["posts"]
    private = [p for p in listed if p.get("private_reply")]
    assert [p["in_reply_to"] for p in private] == [fresh["id"]]
    # A visitor post takes one too (recipient.post_id); Instagram comments as comment_id.
    visitor = meta.act(network="facebook", author="eve", text="Hello Page", on=meta.page_id)
    assert meta.send({"post_id": visitor["id"]}, "Hi Eve").status_code == 200
    ig_comment = meta.act(network="instagram", author="ig.fan", text="Price?")
    assert meta.send({"comment_id": ig_comment["id"]}, "DM'd you").status_code == 200
    graph_error(meta.send({"comment_id": ig_comment["id"]}, "Twice"), 10900)


# -- webhooks ------------------------------------------------------------------------------


def test_webhook_handshake_and_signed_deliveries(meta: Meta, receiver: Receiver) -> None:
    app = meta.info["app_id"]
    # Verification happens first: a wrong echo or a non-200 refuses the subscription.
    receiver.challenge_mode = "wrong"
    refused = meta.graph("POST", f"{app}/subscriptions", token=meta.app_token,
                         data={"object": "page", "callback_url": receiver.url,
                               "fields": "feed", "verify_token": receiver.verify_token})
    graph_error(refused, 2201)
    receiver.challenge_mode = "forbid"
    graph_error(meta.graph("POST", f"{app}/subscriptions", token=meta.app_token,
                           data={"object": "page", "callback_url": receiver.url,
                                 "fields": "feed", "verify_token": "x"}), 2200)
    graph_error(meta.graph("POST", f"{app}/subscriptions", token=meta.token,
                           data={"object": "page", "callback_url": receiver.url,
                                 "fields": "feed", "verify_token": "x"}), 15)
    receiver.challenge_mode = "echo"
    subscribe(meta, receiver)
    query = receiver.verifications[-1]
    assert query["hub.mode"] == ["subscribe"] and query["hub.challenge"][0].isdigit()
    listed = meta.graph("GET", f"{app}/subscriptions", token=meta.app_token).json()["data"]
    assert listed[0]["object"] == "page" and listed[0]["callback_url"] == receiver.url
    assert {f["name"] for f in listed[0]["fields"]} >= {"feed", "messages"}
    apps = meta.get(f"{meta.page_id}/subscribed_apps").json()["data"]
    assert apps[0]["id"] == app and "feed" in apps[0]["subscribed_fields"]

    comment = meta.act(network="facebook", author="ann", text="Café \u2615 broken/again")
    meta.hooks()
    post = receiver.posts[-1]
    raw, headers = post["raw"], post["headers"]
    secret = meta.info["app_secret"].encode()
    assert headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(
        secret, raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == "sha1=" + hmac.new(secret, raw, hashlib.sha1).hexdigest()
    assert b"\\u2615" in raw and b"broken\\/again" in raw   # Meta's escaping
    body = json.loads(raw)
    assert body["object"] == "page"
    change = body["entry"][0]["changes"][0]
    assert body["entry"][0]["id"] == meta.page_id and change["field"] == "feed"
    value = change["value"]
    assert value["item"] == "comment" and value["verb"] == "add"
    assert value["comment_id"] == comment["id"] and value["post_id"] == comment["post_id"]
    assert value["parent_id"] == comment["post_id"] and value["message"].startswith("Café")
    assert value["from"] == {"name": "Ann", "id": comment["author_id"]}

    # Messages, echoes, the Page's own comments, edits, hides, removals, unsends.
    dm = meta.act(network="facebook", author="ann", text="DM here", dm=True)
    meta.send({"id": dm["author_id"]}, "Answer")
    reply = meta.post(f"{comment['id']}/comments", message="On it").json()
    meta.control("POST", f"posts/{comment['id']}/edit", {"text": "Café fixed"})
    meta.post(comment["id"], is_hidden="true")
    meta.control("POST", f"posts/{comment['id']}/delete")
    meta.control("POST", f"posts/{dm['id']}/unsend")
    meta.hooks()
    entries = receiver.entries()
    events = [e["messaging"][0] for e in entries if "messaging" in e]
    assert events[0]["message"] == {"mid": dm["id"], "text": "DM here"}
    assert events[0]["sender"] == {"id": dm["author_id"]} and events[0]["recipient"] == {
        "id": meta.page_id}
    echo = events[1]["message"]
    assert echo["is_echo"] is True and echo["text"] == "Answer"
    assert events[1]["sender"] == {"id": meta.page_id}
    assert events[2]["message"] == {"mid": dm["id"], "is_deleted": True}
    feed = [c["value"] for e in entries for c in e.get("changes", [])]
    verbs = [(v["item"], v["verb"], v.get("comment_id")) for v in feed]
    assert verbs[1:] == [("comment", "add", reply["id"]), ("comment", "edited", comment["id"]),
                         ("comment", "hide", comment["id"]),
                         ("comment", "remove", comment["id"])]
    assert feed[1]["from"]["id"] == meta.page_id


def test_webhook_instagram_deliveries(meta: Meta, receiver: Receiver) -> None:
    subscribe(meta, receiver, obj="instagram", fields="comments,mentions,messages",
              page_fields="messages")
    comment = meta.act(network="instagram", author="ig.fan", text="Nice!")
    elsewhere = meta.act(network="instagram", author="ig.fan", on="timeline",
                         text="@socialdesk_demo love it")
    dm = meta.act(network="instagram", author="ig.fan", text="psst", dm=True)
    meta.hooks()
    bodies = receiver.bodies()
    assert all(b["object"] == "instagram" for b in bodies)
    entries = receiver.entries()
    assert all(e["id"] == meta.ig_id for e in entries)
    changes = [c for e in entries for c in e.get("changes", [])]
    assert changes[0] == {"field": "comments", "value": {
        "from": {"id": comment["author_id"], "username": "ig.fan"},
        "media": {"id": comment["post_id"], "media_product_type": "FEED"},
        "id": comment["id"], "text": "Nice!"}}
    assert changes[1] == {"field": "mentions", "value": {"media_id": elsewhere["id"]}}
    messaging = [e["messaging"][0] for e in entries if "messaging" in e]
    assert messaging[0]["message"] == {"mid": dm["id"], "text": "psst"}
    assert messaging[0]["recipient"] == {"id": meta.ig_id}


def test_webhook_duplicates_drops_and_batches(meta: Meta, receiver: Receiver) -> None:
    subscribe(meta, receiver)
    meta.control("POST", "webhooks", {"duplicate": 1.0})
    first = meta.act(network="facebook", author="ann", text="twice")
    meta.hooks()
    ids = [c["value"]["comment_id"] for e in receiver.entries() for c in e["changes"]]
    assert ids == [first["id"], first["id"]]
    meta.control("POST", "webhooks", {"duplicate": 0.0, "drop": 1.0})
    meta.act(network="facebook", author="ann", text="never sent")
    status = meta.hooks()
    assert len(receiver.posts) == 2
    assert status["dropped"][-1]["reason"] == "drop"
    # Updates due together ride in one POST (several entries).
    meta.control("POST", "webhooks", {"drop": 0.0, "batch_window": 30})
    for n in range(3):
        meta.act(network="facebook", author="ann", text=f"batched {n}")
    assert meta.hooks(wait=0.5)["pending"] == 3
    meta.advance(31)
    meta.hooks()
    assert len(receiver.posts) == 3
    assert len(receiver.bodies()[-1]["entry"]) == 3


def test_webhook_delay_makes_updates_arrive_out_of_order(meta: Meta, receiver: Receiver) -> None:
    subscribe(meta, receiver)
    meta.control("POST", "webhooks", {"delay": 600, "seed": 7})
    made = [meta.act(network="facebook", author="ann", text=f"n{n}")["id"] for n in range(6)]
    meta.advance(601)
    meta.hooks()
    got = [c["value"]["comment_id"] for e in receiver.entries() for c in e["changes"]]
    assert sorted(got) == sorted(made) and got != made


def test_failed_delivery_is_retried_then_given_up_after_36_hours(meta: Meta,
                                                                 receiver: Receiver) -> None:
    subscribe(meta, receiver)
    receiver.script = [500, 503]
    kept = meta.act(network="facebook", author="ann", text="eventually")
    meta.hooks()
    assert [p["status"] for p in receiver.posts] == [500]
    meta.advance(20)
    meta.hooks()
    meta.advance(70)
    meta.hooks()
    assert [p["status"] for p in receiver.posts] == [500, 503, 200]
    assert receiver.entries()[0]["changes"][0]["value"]["comment_id"] == kept["id"]
    # Failing for good: retried with growing gaps, dropped 36 hours after the first failure.
    receiver.status = 500
    lost = meta.act(network="facebook", author="ann", text="lost")
    meta.hooks()
    for _ in range(12):
        meta.advance(4 * HOUR)
        meta.hooks()
    status = meta.hooks()
    attempts = len(receiver.posts) - 3
    assert 5 <= attempts <= 20
    assert status["pending"] == 0 and status["dropped"][-1]["reason"] == "gave_up"
    assert status["dropped"][-1]["entries"][0]["changes"][0]["value"]["comment_id"] == lost["id"]
    assert len(receiver.posts) - 3 == attempts  # nothing more after giving up


# -- usage, batches, tokens, media ---------------------------------------------------------


def test_usage_headers_and_throttling(meta: Meta) -> None:
    meta.control("POST", "usage", {"bucket": "pages", "calls": 4, "seconds": HOUR})
    answers = [meta.get(meta.page_id) for _ in range(4)]
    usage = [json.loads(a.headers["X-Business-Use-Case-Usage"])[meta.page_id][0]
             for a in answers]
    assert [u["call_count"] for u in usage] == [25, 50, 75, 100]
    assert usage[0]["type"] == "pages" and usage[0]["estimated_time_to_regain_access"] == 0
    assert set(json.loads(answers[0].headers["X-App-Usage"])) == {"call_count", "total_cputime",
                                                                  "total_time"}
    refused = meta.get(meta.page_id)
    error = graph_error(refused, 80001)
    assert error["is_transient"] is True
    over = json.loads(refused.headers["X-Business-Use-Case-Usage"])[meta.page_id][0]
    assert over["estimated_time_to_regain_access"] == 60
    # Instagram nodes count against the Instagram account's budget.
    ig = meta.get(meta.ig_id)
    assert ig.status_code == 200
    assert json.loads(ig.headers["X-Business-Use-Case-Usage"])[meta.ig_id][0]["type"] == "instagram"
    # python-facebook sees the throttle as a FacebookError it can wait on.
    with pytest.raises(FacebookError) as raised:
        meta.client().get_object(meta.page_id)
    assert raised.value.code == 80001
    meta.advance(HOUR + 1)
    assert meta.get(meta.page_id).status_code == 200
    # The app token has its own (Platform) budget: code 4.
    meta.control("POST", "usage", {"bucket": "app", "calls": 1})
    debug = {"input_token": meta.token}
    assert meta.graph("GET", "debug_token", token=meta.app_token, params=debug).ok
    graph_error(meta.graph("GET", "debug_token", token=meta.app_token, params=debug), 4)


def test_batch_requests(meta: Meta) -> None:
    comment = meta.act(network="facebook", author="ann", text="batch me")
    batch = [{"method": "GET", "relative_url": f"{meta.page_id}?fields=id,name"},
             {"method": "GET", "relative_url": f"{meta.version}/{comment['id']}?fields=message"},
             {"method": "POST", "relative_url": f"{comment['id']}/comments",
              "body": "message=Answered in a batch"},
             {"method": "GET", "relative_url": "123_456"}]
    answer = meta.http.post(f"{meta.url}/{meta.version}/",
                            data={"access_token": meta.token, "batch": json.dumps(batch)})
    assert answer.status_code == 200
    results = answer.json()
    assert [r["code"] for r in results] == [200, 200, 200, 400]
    assert json.loads(results[0]["body"]) == {"id": meta.page_id, "name": "Socialdesk Demo"}
    assert json.loads(results[1]["body"])["message"] == "batch me"
    made = json.loads(results[2]["body"])["id"]
    assert meta.get(made, fields="parent{id}").json()["parent"] == {"id": comment["id"]}
    assert json.loads(results[3]["body"])["error"]["error_subcode"] == 33
    headers = {h["name"] for h in results[0]["headers"]}
    assert {"Content-Type", "X-Business-Use-Case-Usage"} <= headers
    usage = meta.control("GET", "usage")["usage"]["pages"]["used"]
    assert usage >= 4   # each request in the batch is counted
    too_many = [{"method": "GET", "relative_url": "me"}] * 51
    refused = meta.http.post(f"{meta.url}/{meta.version}/",
                             data={"access_token": meta.token, "batch": json.dumps(too_many)})
    error = refused.json()["error"]
    assert error["type"] == "GraphBatchException" and "50" in error["message"]


def test_token_expiry_revocation_and_debug_token(meta: Meta) -> None:
    debug = lambda: meta.graph("GET", "debug_token", token=meta.app_token,  # noqa: E731
                               params={"input_token": meta.token}).json()["data"]
    data = debug()
    assert data["is_valid"] is True and data["expires_at"] == 0 and data["type"] == "PAGE"
    assert data["profile_id"] == meta.page_id and "pages_messaging" in data["scopes"]
    graph_error(meta.graph("GET", "debug_token", token=meta.token,
                           params={"input_token": meta.token}), 15)
    meta.control("POST", "tokens", {"action": "expire", "seconds": HOUR})
    assert meta.get("me").status_code == 200
    assert debug()["expires_at"] > 0
    meta.advance(HOUR + 1)
    refused = meta.get("me")
    error = graph_error(refused, 190, 463)
    assert error["message"].startswith("Error validating access token: Session has expired on ")
    assert refused.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform" '
                                                          '"invalid_token"')
    assert debug()["is_valid"] is False and debug()["error"]["subcode"] == 463
    meta.control("POST", "tokens", {"action": "restore"})
    meta.control("POST", "tokens", {"action": "revoke"})
    graph_error(meta.get("me"), 190, 460)
    meta.control("POST", "tokens", {"action": "restore"})
    meta.control("POST", "tokens", {"action": "uninstall"})
    with pytest.raises(FacebookError) as raised:
        meta.client().get_object("me")
    assert raised.value.code == 190
    graph_error(meta.get("me"), 190, 458)
    meta.control("POST", "tokens", {"action": "restore"})
    assert meta.get("me").status_code == 200
    # The app token by client credentials, as python-facebook asks for it.
    lib = GraphAPI(app_id=meta.info["app_id"], app_secret=meta.info["app_secret"],
                   oauth_flow=True, access_token_url=f"{meta.url}/oauth/access_token",
                   base_url=f"{meta.url}/", sleep_on_rate_limit=False)
    lib.session.verify = meta.ca_bundle
    lib.session.trust_env = False
    assert lib.get_app_token()["access_token"] == meta.app_token


def test_cdn_links_expire_and_rereading_gives_a_fresh_one(meta: Meta) -> None:
    meta.control("POST", "cdn", {"ttl": 2 * HOUR})
    comment = meta.act(network="facebook", author="ann", text="look", media=[{"type": "image"}])
    link = meta.get(comment["id"], fields="attachment").json()["attachment"]["media"]["image"]["src"]
    assert link.startswith(meta.url + "/cdn/") and "oe=" in link
    image = meta.http.get(link)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert meta.http.get(link.replace("oe=", "oe=F")).status_code == 403
    meta.advance(2 * HOUR + 1)
    expired = meta.http.get(link)
    assert expired.status_code == 403 and expired.text == "URL signature expired"
    fresh = meta.get(comment["id"], fields="attachment").json()["attachment"]["media"]["image"]["src"]
    assert fresh != link and meta.http.get(fresh).status_code == 200
    media_url = meta.get(meta.ig_id, fields="media{media_url}").json()["media"]["data"][0]["media_url"]
    assert meta.http.get(media_url).status_code == 200


def test_faults_and_outage(meta: Meta) -> None:
    meta.control("POST", "faults", {"path_prefix": f"/{meta.version}/{meta.page_id}",
                                    "code": 368})
    graph_error(meta.get(meta.page_id), 368, 1390008)
    assert meta.get(meta.page_id).status_code == 200
    meta.control("POST", "outage", {"seconds": 60})
    down = meta.get(meta.page_id)
    assert down.status_code == 503 and down.json()["error"]["code"] == 2
    meta.advance(61)
    assert meta.get(meta.page_id).status_code == 200
    calls = meta.control("GET", "requests")["requests"]
    assert calls and all("access_token=***" in c["query"] or "access_token" not in c["query"]
                         for c in calls)
    assert all(meta.token not in json.dumps(c) for c in calls)


def test_control_edits_and_unsends_change_what_reads_show(meta: Meta) -> None:
    post = meta.act(network="facebook", author="ann", text="visitor", on=meta.page_id)
    meta.control("POST", f"posts/{post['id']}/edit", {"text": "visitor (edited)"})
    assert meta.get(post["id"], fields="message").json()["message"] == "visitor (edited)"
    meta.control("POST", f"posts/{post['id']}/hide")
    assert post["id"] not in [p["id"] for p in meta.get(f"{meta.page_id}/feed").json()["data"]]
    hidden = meta.get(f"{meta.page_id}/feed", include_hidden="true").json()["data"]
    assert post["id"] in [p["id"] for p in hidden]
    meta.control("POST", f"posts/{post['id']}/unhide")
    dm = meta.act(network="instagram", author="ig.fan", text="oops", dm=True)
    meta.control("POST", f"posts/{dm['id']}/unsend")
    graph_error(meta.get(dm["id"]), 100, 33)
    listed = meta.control("GET", "posts", author="ig.fan")["posts"]
    assert listed[0]["id"] == dm["id"] and listed[0]["unsent"] is True
