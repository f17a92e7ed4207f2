"""Per-adapter test harnesses: build an adapter against the sandbox and act as the
people on the other side (a customer posting, an agent answering).

Every registered adapter kind must have a harness here; the role contract suites are
parametrised over the registry, so a new adapter gets them for free.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket

from adapters.base import Cursor, Secret


class Control:
    """The sandbox's ``/_sandbox/`` control API of one service."""

    def __init__(self, url: str, ca_bundle: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.verify = ca_bundle
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify

    def post(self, path: str, body: Any = None) -> Any:
        response = self.http.post(f"{self.url}/_sandbox/{path}", json=body or {})
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.url}/_sandbox/{path}", params=params)
        response.raise_for_status()
        return response.json()


class XHarness:
    kind = "x"
    role = "social"

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.service = info["services"]["x"]
        self.control = Control(self.service["url"], info["ca_bundle"])
        self.brand = self.service["brand_handle"]

    def adapter(self, token: str | None = None) -> Any:
        from adapters.social.x import XNetwork, XSettings

        return XNetwork(XSettings(token=Secret(token or self.service["token"], "token"),
                                  base_url=self.service["url"], ca_bundle=self.info["ca_bundle"]))

    def customer_posts(self, handle: str, text: str, in_reply_to: str | None = None,
                       dm: bool = False, **extra: Any) -> str:
        body = {"author": handle, "text": text, "in_reply_to": in_reply_to, "dm": dm, **extra}
        return str(self.control.post("posts", body)["id"])

    def posts_by(self, handle: str) -> list[dict[str, Any]]:
        return self.control.get("posts", author=handle)["posts"]

    def mention_text(self, text: str) -> str:
        return f"@{self.brand} {text}"

    def fault(self, **spec: Any) -> None:
        self.control.post("faults", spec)

    def limit(self, family: str, limit: int, seconds: int = 900) -> None:
        self.control.post("limits", {"family": family, "limit": limit, "seconds": seconds})

    def reset(self) -> None:
        self.control.post("reset")


class ZendeskHarness:
    kind = "zendesk"
    role = "helpdesk"

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.service = info["services"]["zendesk"]
        self.control = Control(self.service["url"], info["ca_bundle"])

    def adapter(self, token: str | None = None) -> Any:
        """The adapter as a marketplace install signs in (OAuth client credentials); with
        ``token``, as a legacy API token (a refused one, in the refusal tests)."""
        from adapters.helpdesk.zendesk import ZendeskHelpdesk, ZendeskSettings

        if token is not None:
            settings = ZendeskSettings(url=self.service["url"], email=self.service["api_email"],
                                       token=Secret(token, "token"), ca_bundle=self.info["ca_bundle"])
        else:
            settings = ZendeskSettings(url=self.service["url"], auth="client_credentials",
                                       client_id=self.service["oauth_client_id"],
                                       client_secret=Secret(self.service["oauth_client_secret"], "client_secret"),
                                       ca_bundle=self.info["ca_bundle"])
        return ZendeskHelpdesk(settings, sleep=time.sleep)  # the test waits for jobs as the daemon does

    def agent(self) -> Zenpy:
        """Real zenpy logged in as the sandbox's agent."""
        session = requests.Session()
        session.verify = self.info["ca_bundle"]
        session.trust_env = False
        host = self.service["url"].split("://", 1)[1]
        subdomain, domain = host.split(".", 1)
        return Zenpy(subdomain=subdomain, domain=domain, oauth_token=self.service["agent_oauth_token"],
                     session=session)

    def agent_comment(self, ticket_id: str, body: str, public: bool = True,
                      status: str | None = None) -> None:
        ticket = Ticket(id=int(ticket_id), comment=Comment(body=body, public=public))
        if status:
            ticket.status = status
        self.agent().tickets.update(ticket)

    def set_status(self, ticket_id: str, status: str) -> None:
        self.agent().tickets.update(Ticket(id=int(ticket_id), status=status))

    def advance_clock(self, seconds: float) -> None:
        self.control.post("clock", {"advance": seconds})

    def fault(self, **spec: Any) -> None:
        self.control.post("faults", spec)

    def limit(self, family: str, limit: int, seconds: int = 60) -> None:
        self.control.post("limits", {"family": family, "limit": limit, "seconds": seconds})

    def reset(self) -> None:
        self.control.post("reset")

    # what the role contract suite needs, said the helpdesk-neutral way

    supports_tags = True
    missing_ticket_id = "987654321"
    comments_keep_their_author = True

    def priority(self, ours: str) -> str:
        return ours

    def cursor_before_now(self, seconds: int = 5) -> Cursor:
        return Cursor(str(int(time.time()) - seconds))

    def unknown_ticket_id(self) -> str:
        return "99999999999"

    def throttle(self) -> None:
        self.limit("account", 1)

    def unthrottle(self) -> None:
        self.limit("account", 100_000)

    def fail_next_read(self, status: int) -> None:
        self.fault(path_prefix="/api/v2/tickets", method="GET", status=status, count=1)


class SalesforceHarness:
    kind = "salesforce"
    role = "helpdesk"
    supports_tags = False            # Cases have no tags; the mapping's fields carry it
    missing_ticket_id = "500000000000999AAA"
    comments_keep_their_author = False  # CaseComments are written by the integration user

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.service = info["services"]["salesforce"]
        self.control = Control(self.service["url"], info["ca_bundle"])

    def adapter(self, token: str | None = None) -> Any:
        from adapters.helpdesk.salesforce import SalesforceHelpdesk, SalesforceSettings

        s = self.service
        if token is not None:
            return SalesforceHelpdesk(SalesforceSettings(
                login_url=s["login_url"], auth="session", session_token=Secret(token, "token"),
                instance_url=s["instance_url"], ca_bundle=self.info["ca_bundle"], username=s["api_username"]))
        return SalesforceHelpdesk(SalesforceSettings(
            login_url=s["login_url"], auth="client_credentials", client_id=s["client_id"],
            client_secret=Secret(s["client_secret"], "client_secret"), username=s["api_username"],
            ca_bundle=self.info["ca_bundle"]))

    def agent(self) -> Any:
        """Real simple-salesforce logged in as the sandbox's agent."""
        from simple_salesforce import Salesforce

        session = requests.Session()
        session.verify = self.info["ca_bundle"]
        session.trust_env = False
        return Salesforce(instance_url=self.service["instance_url"], session_id=self.service["token"],
                          session=session, version=self.service.get("api_version", "59.0"))

    def agent_comment(self, ticket_id: str, body: str, public: bool = True, status: str | None = None) -> None:
        sf = self.agent()
        sf.CaseComment.create({"ParentId": ticket_id, "CommentBody": body, "IsPublished": public})
        if status:
            self.set_status(ticket_id, status)

    def set_status(self, ticket_id: str, status: str) -> None:
        self.agent().Case.update(ticket_id, {"Status": "Closed" if status in ("closed", "solved") else status})

    def advance_clock(self, seconds: float) -> None:
        self.control.post("clock", {"advance": seconds})

    def priority(self, ours: str) -> str:
        return {"urgent": "High", "high": "High", "normal": "Medium", "low": "Low"}[ours]

    def cursor_before_now(self, seconds: int = 5) -> Cursor:
        now = self.control.get("clock")["now"] - seconds
        return Cursor(time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(now)))

    def unknown_ticket_id(self) -> str:
        return "500000000000000AAA"

    def throttle(self) -> None:
        self.control.post("limits", {"limit": 1})

    def unthrottle(self) -> None:
        self.control.post("limits", {"limit": 1_000_000, "used": 0})

    def fail_next_read(self, status: int) -> None:
        self.control.post("faults", {"path_prefix": "/services/data", "method": "GET", "status": status,
                                     "count": 1})

    def reset(self) -> None:
        self.control.post("reset")


class XSocialHarness(XHarness):
    """X as the social contract suite (tests/adapters/test_contract_social.py) asks every
    network: what a customer's opening post is read as, how the network counts length,
    what it refuses twice, how its reads are throttled and failed."""

    mention_kind = "mention"
    reply_kind = "reply"
    # X threads a reply under the post it answers, at any depth.
    flat_replies = False
    supports_reposts = True
    # X's weighted length: a link weighs 23, CJK and emoji 2 (twitter-text config v3).
    length_cases = {"abc": 3, "see https://example.com/a/very/long/path/indeed": 4 + 23, "日本": 4, "😀": 2}

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info)
        self._conversations: dict[str, str] = {}

    def customer_posts(self, handle: str, text: str, in_reply_to: str | None = None,
                       dm: bool = False, **extra: Any) -> str:
        body = {"author": handle, "text": text, "in_reply_to": in_reply_to, "dm": dm, **extra}
        answer = self.control.post("posts", body)
        post_id = str(answer["id"])
        if not dm:
            self._conversations[post_id] = str(answer.get("conversation_id") or post_id)
        return post_id

    def conversation_of(self, post_id: str) -> str:
        return self._conversations.get(post_id, post_id)

    def shown_handle(self, handle: str) -> str:
        return handle

    def tick(self) -> None:
        """Nothing to wait for: X's reads go on from the newest post id read."""

    def throttle(self) -> None:
        self.limit("mentions", 1)

    def unthrottle(self) -> None:
        self.limit("mentions", 10_000)

    def fail_next_read(self, status: int) -> None:
        self.fault(path_prefix="/2/users", method="GET", status=status, count=1)

    def refused_twice(self, text: str, root: str) -> Any:
        """X refuses the same text posted twice ("duplicate content")."""
        from adapters.base import OutboundPost

        return OutboundPost(text=text, in_reply_to=root)


class MetaHarness:
    """The sandbox's Meta service as one of its two networks, for the social contract
    suite: people comment, post on the Page and write DMs through its control API.

    The adapter keeps the sandbox's time (its reads start at a moment, ``since``), and
    ``tick`` moves that time on: Graph's ``since`` is whole seconds and inclusive, so a
    read begun in the second something was posted reads it again (the store's dedupe
    meets it), and a test of "only what is newer" lets a second pass first.
    """

    role = "social"
    kind = "meta"
    handle_key = "page_handle"
    bucket = "pages"              # the Business Use Case budget its calls count against
    reply_kind = "comment"
    flat_replies = False
    # Meta shows a Page or account no reshares of its posts as items, only share counts.
    supports_reposts = False
    # Meta counts characters as written: no link shortening, no weights.
    length_cases = {"abc": 3, "see https://example.com/a/very/long/path/indeed": 47, "日本": 2}

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.service = info["services"]["meta"]
        self.control = Control(self.service["url"], info["ca_bundle"])
        self.brand = self.service[self.handle_key]
        self._answers: dict[str, dict[str, Any]] = {}
        self._people: dict[str, str] = {}
        self._budget: dict[str, Any] | None = None
        self._offset = 0.0
        self._sync_clock()

    def _sync_clock(self) -> None:
        epoch = float(self.control.get("clock")["epoch"])
        self._offset = epoch - time.time()

    def now(self) -> float:
        """The sandbox's time, as the adapter reads it."""
        return time.time() + self._offset

    def tick(self) -> None:
        self.control.post("clock", {"advance": 2})
        self._sync_clock()

    def adapter(self, token: str | None = None) -> Any:
        """The adapter as ``cli/wiring.py`` builds a ``sandbox: true`` entry; with ``token``,
        one holding that Page token instead."""
        import adapters
        from cli.wiring import sandbox_settings

        values = sandbox_settings(self.kind, self.info)
        if token is not None:
            values["page_token"] = Secret(token, "page_token")
        network = adapters.resolve(self.kind, "social").from_config(values)
        network.use_clock(self.now)
        return network

    def opening(self) -> dict[str, Any]:
        """Where a customer's opening post goes (control API ``on``)."""
        raise NotImplementedError

    def customer_posts(self, handle: str, text: str, in_reply_to: str | None = None,
                       dm: bool = False, **extra: Any) -> str:
        body: dict[str, Any] = {"network": self.kind, "author": handle, "text": text, "dm": dm, **extra}
        if in_reply_to:
            body["on"] = in_reply_to
        elif not dm:
            body.update(self.opening())
        answer = self.control.post("posts", body)
        post_id = str(answer["id"])
        self._answers[post_id] = answer
        self._people[handle] = str(answer["author_id"])
        return post_id

    def conversation_of(self, post_id: str) -> str:
        """The post a comment sits on; a post is its own conversation."""
        return str(self._answers.get(post_id, {}).get("post_id") or post_id)

    def posts_by(self, handle: str) -> list[dict[str, Any]]:
        return self.control.get("posts", author=handle)["posts"]

    def mention_text(self, text: str) -> str:
        # The opening post is in the brand's own space (on its Page, under its media):
        # it reaches the brand without naming it.
        return text

    def shown_handle(self, handle: str) -> str:
        return handle

    def fault(self, **spec: Any) -> None:
        self.control.post("faults", spec)

    def throttle(self) -> None:
        """The budget this network's reads count against is spent (Meta answers 80001/80002)."""
        usage = self.control.get("usage")["usage"][self.bucket]
        self._budget = {"bucket": self.bucket, "calls": usage["calls"], "seconds": usage["seconds"]}
        self.control.post("usage", {"bucket": self.bucket, "calls": 1})

    def unthrottle(self) -> None:
        if self._budget is not None:
            self.control.post("usage", self._budget)
            self._budget = None

    def fail_next_read(self, status: int) -> None:
        # Graph's code 2, "Service temporarily unavailable".
        self.fault(path_prefix=f"/{self.service['version']}/", method="GET", status=status, code=2, count=1)

    def refused_twice(self, text: str, root: str) -> Any:
        """Meta takes one Private Reply per post or comment; a second is error 10900
        (public comments of the same text are taken again)."""
        from adapters.base import OutboundPost

        return OutboundPost(text=text, private_reply_to=root)

    def reset(self) -> None:
        self.control.post("reset")


class FacebookHarness(MetaHarness):
    kind = "facebook"
    handle_key = "page_handle"
    bucket = "pages"
    # A customer opens with a visitor post on the Page: a root, as a mention on X is.
    mention_kind = "mention"

    def opening(self) -> dict[str, Any]:
        return {"on": self.service["page_id"]}

    def shown_handle(self, handle: str) -> str:
        """Meta shows a Page a person's name, never a username: the User Profile API's."""
        person = self._people[handle]
        response = self.control.http.get(f"{self.service['url']}/{self.service['version']}/{person}",
                                         params={"fields": "name"},
                                         headers={"Authorization": f"Bearer {self.service['page_token']}"})
        response.raise_for_status()
        return str(response.json()["name"])


class InstagramHarness(MetaHarness):
    kind = "instagram"
    handle_key = "ig_handle"
    bucket = "instagram"
    # Instagram has no visitor posts: a customer opens with a comment under the brand's
    # latest media, and Instagram keeps one level of replies, so an answer to a reply is
    # filed under the top-level comment (IG Comment replies reference).
    mention_kind = "comment"
    flat_replies = True
    # Instagram's Send API takes 1,000 bytes of UTF-8; the adapter counts bytes everywhere.
    length_cases = {"abc": 3, "see https://example.com/a/very/long/path/indeed": 47, "日本": 6}

    def opening(self) -> dict[str, Any]:
        return {}


HARNESSES = {"x": XSocialHarness, "zendesk": ZendeskHarness, "salesforce": SalesforceHarness,
             "facebook": FacebookHarness, "instagram": InstagramHarness}


# X indexes a post up to a few seconds late and sometimes names an empty last page; the
# sandbox does so by default (the demo, the chaos run and `socialdesk sandbox` meet it).
# Most tests post and read at once, so their sandboxes index at once; the tests of that
# behaviour (test_indexing_lag, test_x_fidelity) and the chaos run turn it on.
INSTANT_X = {"index_lag": 0, "trailing_empty_page": 0}
INSTANT = {"x": INSTANT_X}


def own_sandbox() -> Iterator[Any]:
    """A sandbox of one test module's own (wrap it as a module fixture): what its tests
    set up there (policies, triggers, limits) never reaches another module."""
    from sandbox.server import Sandbox

    sandbox = Sandbox(settings=INSTANT).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def reset(info: dict[str, Any], *services: str) -> dict[str, Any]:
    """Put ``services`` of a sandbox back to their starting state; returns ``info``."""
    for name in services:
        requests.post(f"{info['services'][name]['url']}/_sandbox/reset", verify=info["ca_bundle"]).raise_for_status()
    return info


def sandbox_process() -> Iterator[dict[str, Any]]:
    """``socialdesk sandbox --json`` as its own process (it outlives daemons under test)."""
    import json
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "cli", "sandbox", "--json", "--x-index-lag", "0",
                             "--x-trailing-empty-page", "0"], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, "the sandbox printed nothing"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def production_mapping(tmp: Path, info: dict[str, Any], route: str, ticket: str,
                       helpdesk: str = "zendesk") -> tuple[Path, dict[str, str]]:
    """A mapping that reaches the sandbox the way a customer's reaches production:
    explicit URLs, a CA bundle, secrets from environment variables (returned)."""
    x = info["services"]["x"]
    ca = info["ca_bundle"]
    if helpdesk == "salesforce":
        sf = info["services"]["salesforce"]
        desk = f"""\
    kind: salesforce
    login_url: {sf['login_url']}
    auth: client_credentials
    client_id: {sf['client_id']}
    client_secret: {{env: SOCIALDESK_SALESFORCE_CLIENT_SECRET}}
    username: {sf['api_username']}
    ca_bundle: {ca}"""
        env = {"SOCIALDESK_SALESFORCE_CLIENT_SECRET": sf["client_secret"]}
    else:
        zd = info["services"]["zendesk"]
        desk = f"""\
    kind: zendesk
    url: {zd['url']}
    auth: client_credentials
    client_id: {zd['oauth_client_id']}
    client_secret: {{env: SOCIALDESK_ZENDESK_CLIENT_SECRET}}
    ca_bundle: {ca}"""
        env = {"SOCIALDESK_ZENDESK_CLIENT_SECRET": zd["oauth_client_secret"]}
    path = tmp / "mapping.yaml"
    path.write_text(f"""\
version: 1
state: sqlite:///{tmp / 'state.sqlite'}
helpdesks:
  acme:
{desk}
networks:
  acme_x:
    kind: x
    base_url: {x['url']}
    token: {{env: SOCIALDESK_X_TOKEN}}
    ca_bundle: {ca}
routes:
  - name: {route}
    network: acme_x
    helpdesk: acme
    streams: [mentions, dms]
    ticket: {ticket}
""")
    return path, {**env, "SOCIALDESK_X_TOKEN": x["token"]}


class OutboundReceiver:
    """A loopback SOAP listener for Salesforce outbound messages: answers each delivery with the
    next of ``answers`` (status, body), then with ``ack``; keeps the bodies and headers."""

    def __init__(self, ack: str, answers: list[tuple[int, str]] | None = None) -> None:
        self.bodies: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.answers = list(answers or [])
        self.ack = ack
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                with receiver.lock:
                    receiver.bodies.append(self.rfile.read(length).decode())
                    receiver.headers.append(dict(self.headers))
                    status, body = receiver.answers.pop(0) if receiver.answers else (200, receiver.ack)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/salesforce/outbound"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """A daemon's time in a test: wall time plus what the test lets pass (``offset``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset
