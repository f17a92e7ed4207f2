"""The stand-in's calls to an integration service (manifest, admin UI, pull, channelback,
clickthrough, event callbacks) and the little of a browser it needs to fill in an admin UI.

Calls go out from the sandbox's own threads, never with the account's lock held. TLS is
verified as usual except for loopback services, whose certificates a test or a local
daemon makes for itself (as the webhook deliveries do).
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Sequence
from urllib.parse import urlencode, urljoin, urlsplit

from sandbox.zendesk.channel_validate import LOOPBACK_HOSTS

# How long Zendesk waits for an integration's answer is not documented: the webhooks' figure.
CHANNEL_TIMEOUT = 12.0
BODY_MAX = 5 * 1024 * 1024
USER_AGENT = "Zendesk Channel Framework (sandbox)"


@dataclass
class Answer:
    """What an integration answered; ``status`` None when no answer came (``error`` says why)."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def describe(self) -> str:
        """The failure in a line: the transport error, or the status and the body's start."""
        if self.status is None:
            return self.error or "no answer"
        snippet = " ".join(self.text.split())[:200]
        return f"HTTP {self.status}" + (f": {snippet}" if snippet else "")


def send(method: str, url: str, *, form: Sequence[tuple[str, str]] | None = None,
         json_body: Any = None, timeout: float = CHANNEL_TIMEOUT) -> Answer:
    """One HTTP exchange with an integration service: a form post, a JSON post or a GET."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/html;q=0.9, */*;q=0.5"}
    body: bytes | None = None
    if form is not None:
        body = urlencode(list(form)).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            if host in LOOPBACK_HOSTS:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read(BODY_MAX))
        finally:
            conn.close()
    except socket.timeout:
        return Answer(None, error=f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException) as err:
        return Answer(None, error=f"{type(err).__name__}: {err}")


def with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(list(params))


@dataclass
class Form:
    """A page's form as a browser would submit it: where, how, and the values it holds."""

    action: str
    method: str
    fields: list[tuple[str, str]]

    def filled(self, values: dict[str, str]) -> list[tuple[str, str]]:
        """The form's fields with what the admin typed into the named ones."""
        return [(name, values.get(name, value)) for name, value in self.fields]


class _FormReader(HTMLParser):
    """Reads the first form of a page: its inputs (checked boxes only), text areas and
    selects (the selected option, else the first)."""

    SKIPPED = ("submit", "button", "reset", "image", "file")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: dict[str, Any] | None = None
        self.inside = False
        self.done = False
        self.textarea: list[Any] | None = None
        self.select: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self.done:
            return
        if tag == "form" and self.form is None:
            self.form = {"action": a.get("action", ""), "method": (a.get("method") or "get").upper(),
                         "fields": []}
            self.inside = True
        elif not self.inside or self.form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in self.SKIPPED or (kind in ("checkbox", "radio") and "checked" not in a):
                return
            self.form["fields"].append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and a.get("name"):
            self.textarea = [a["name"], []]
        elif tag == "select" and a.get("name"):
            self.select = [a["name"], None, None]
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if self.select[2] is None:
                self.select[2] = value
            if "selected" in a:
                self.select[1] = value

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self.form is None or self.done:
            return
        if tag == "textarea" and self.textarea is not None:
            self.form["fields"].append((self.textarea[0], "".join(self.textarea[1])))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = self.select[1] if self.select[1] is not None else self.select[2]
            self.form["fields"].append((self.select[0], chosen or ""))
            self.select = None
        elif tag == "form":
            self.inside, self.done = False, True


def first_form(page: str, page_url: str) -> Form | None:
    """The first form of ``page`` (served from ``page_url``), its action made absolute."""
    reader = _FormReader()
    reader.feed(page)
    reader.close()
    if reader.form is None:
        return None
    return Form(urljoin(page_url, reader.form["action"]) if reader.form["action"] else page_url,
                reader.form["method"], reader.form["fields"])


def same_endpoint(a: str, b: str) -> bool:
    """Two URLs name the same endpoint (scheme, host, port and path; the query aside)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return ((pa.scheme, pa.hostname, pa.port, pa.path.rstrip("/"))
            == (pb.scheme, pb.hostname, pb.port, pb.path.rstrip("/")))
