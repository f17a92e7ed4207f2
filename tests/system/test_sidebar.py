"""The packaged ticket sidebar in headless Chromium with the real ZAF SDK, inside a fake Zendesk
page (packaging/zendesk/harness/host/) that speaks the SDK's postMessage protocol and plays
Zendesk's request proxy. Nothing leaves the machine: every https request is aborted except the
SDK's CDN address, answered with the npm SDK bundled by packaging/zendesk/harness/."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli.package import ROOT, build_zendesk

HARNESS = ROOT / "packaging" / "zendesk" / "harness"
SDK_BUNDLE = HARNESS / "vendor" / "zaf_sdk.js"
SDK_CDN_URL = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
DAEMON = "https://sd.acme.example"
TOKEN = "view-token-5d41402abc4b2a76"
BRAND = (14, 124, 134)
NEEDS = ("needs Debian's chromium (apt-get install -y chromium), the playwright package (pip install "
         "'.[test]') and npm (to bundle the ZAF SDK in packaging/zendesk/harness)")

playwright_api = pytest.importorskip("playwright.sync_api", reason=NEEDS)


def view(**changes: Any) -> dict[str, Any]:
    """A daemon answer as packaging/zendesk/README.md defines it."""
    body: dict[str, Any] = {
        "ticket_id": "4711", "now": "2026-08-20T10:00:00Z", "network": "x", "network_name": "X",
        "author": {"handle": "ana_p", "name": "Ana P.", "url": "https://x.com/ana_p", "followers": 1520},
        "post": {"id": "1829000000000000001", "kind": "mention",
                 "text": "@acme my order never came <script>window.__pwned = 1</script>",
                 "url": "https://x.com/ana_p/status/1829000000000000001", "created_at": "2026-08-20T08:00:00Z"},
        "window": {"closes_at": "2026-08-21T08:00:00Z", "human_agent_until": None,
                   "applies_to": "private replies"},
        "thread": [
            {"by": "brand", "text": "Sorry! Can you DM us the order number?", "at": "2026-08-20T08:30:00Z",
             "state": "posted", "url": "https://x.com/acme/status/1829000000000000002", "comment_id": "9001"},
            {"by": "customer", "text": "Sent.", "at": "2026-08-20T08:40:00Z",
             "url": "https://x.com/ana_p/status/1829000000000000003"},
            {"by": "brand", "text": "Refund on its way.", "at": "2026-08-20T09:10:00Z", "state": "held",
             "hold": "approval", "why": "awaiting approval: a lead adds the tag approved to the ticket",
             "release_tag": "approved", "comment_id": "9002"},
            {"by": "brand", "text": "Call us.", "at": "2026-08-20T09:12:00Z", "state": "failed",
             "why": "X refused the post: duplicate content", "comment_id": "9003"},
        ],
    }
    body.update(changes)
    return body


class Site:
    """The fake Zendesk page, the package, and a stand-in for the daemon's agent view, on loopback."""

    def __init__(self, app: Path) -> None:
        self.app = app
        self.answer: tuple[int, Any] = (200, view())
        self.requests: list[dict[str, Any]] = []
        self.config: dict[str, Any] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/host/config.js":
                    self.reply(200, b"window.HOST_CONFIG = " + json.dumps(site.config).encode() + b";",
                               "application/javascript")
                elif path.startswith("/host/"):
                    self.file(HARNESS / "host", path[len("/host/"):])
                elif path.startswith("/app/"):
                    self.file(site.app, path[len("/app/"):])
                elif path.startswith("/daemon/api/agent-view/tickets/"):
                    site.requests.append({"path": self.path, "headers": dict(self.headers)})
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        status, body = 401, {"error": "no valid agent view token"}
                    else:
                        status, body = site.answer
                    self.reply(status, json.dumps(body).encode(), "application/json")
                else:
                    self.reply(404, b"{}", "application/json")

            def file(self, base: Path, rel: str) -> None:
                target = (base / rel).resolve()
                if not target.is_file() or base.resolve() not in target.parents:
                    return self.reply(404, b"", "text/plain")
                kinds = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
                         ".json": "application/json", ".png": "image/png"}
                self.reply(200, target.read_bytes(), kinds.get(target.suffix, "application/octet-stream"))

            def reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def configure(self, settings: dict[str, Any] | None = None) -> None:
        self.config = {
            "appPath": "/app/", "account": {"subdomain": "acme"},
            "install": {"settings": settings or {"daemon_url": DAEMON, "api_token": TOKEN}},
            "ticket": {"id": 4711, "tags": ["social", "x"]},
            "proxyMap": {DAEMON: f"{self.base}/daemon"},
        }


@pytest.fixture(scope="module")
def sdk_bundle() -> Path:
    return ensure_sdk_bundle()


def ensure_sdk_bundle() -> Path:
    """The real ZAF SDK, bundled once by npm in the harness folder; a skip saying what is missing."""
    if shutil.which("chromium") is None:
        pytest.skip(NEEDS)
    if not SDK_BUNDLE.is_file():
        if shutil.which("npm") is None:
            pytest.skip(NEEDS)
        for step in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "bundle"]):
            done = subprocess.run(step, cwd=HARNESS, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.skip(f"{' '.join(step)} failed in {HARNESS}: {done.stderr[-500:]}; {NEEDS}")
    return SDK_BUNDLE


@pytest.fixture(scope="module")
def browser(sdk_bundle: Path) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    app = build_zendesk(tmp_path_factory.mktemp("zendesk_app"), DAEMON)
    s = Site(app)
    try:
        yield s
    finally:
        s.server.shutdown()


@pytest.fixture()
def open_sidebar(browser: Any, site: Site, sdk_bundle: Path) -> Iterator[Any]:
    contexts: list[Any] = []
    site.requests.clear()
    site.answer = (200, view())

    def start(settings: dict[str, Any] | None = None, wait_for: str = ".author") -> tuple[Any, Any]:
        site.configure(settings)
        ctx = browser.new_context(viewport={"width": 900, "height": 1000})
        contexts.append(ctx)
        # The abort is registered first: a later route wins, so the SDK's address is answered.
        ctx.route("https://**/*", lambda route: route.abort())
        ctx.route(SDK_CDN_URL, lambda route: route.fulfill(path=str(sdk_bundle),
                                                           content_type="application/javascript"))
        page = ctx.new_page()
        page.goto(f"{site.base}/host/index.html")
        frame = page.frame_locator("iframe#app")
        frame.locator(wait_for).first.wait_for(timeout=10_000)
        return page, frame

    yield start
    for ctx in contexts:
        ctx.close()


def sent_by_iframe(page: Any) -> list[Any]:
    return page.evaluate("window.__host.log")


def inner(page: Any) -> Any:
    return next(f for f in page.frames if f.url.startswith(page.url.split("/host/")[0] + "/app/"))


def wait_fitted(page: Any) -> None:
    """The host applied the sidebar's last resize: the iframe is as tall as its content."""
    page.wait_for_function("""() => {
        const f = document.querySelector('iframe#app');
        const h = Math.ceil(f.contentDocument.documentElement.getBoundingClientRect().height);
        return Math.abs(f.getBoundingClientRect().height - h) <= 1;
    }""", timeout=5_000)


# ---------------------------------------------------------------- PNG, read back

def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, rows, bytes per pixel) of an 8-bit RGB/RGBA PNG such as Chromium writes."""
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, channels


def brand_rows(png: bytes) -> list[int]:
    """The rows holding socialdesk's brand colour (the network badge, links)."""
    width, height, rows, ch = decode_png(png)
    found = []
    for y, row in enumerate(rows):
        if any(abs(row[i] - BRAND[0]) < 30 and abs(row[i + 1] - BRAND[1]) < 30 and abs(row[i + 2] - BRAND[2]) < 30
               for i in range(0, width * ch, ch)):
            found.append(y)
    return found


# ---------------------------------------------------------------- the tests

def test_sidebar_shows_the_social_thread(open_sidebar: Any, site: Site, tmp_path: Path) -> None:
    page, frame = open_sidebar()
    handle = frame.locator(".author .handle")
    assert handle.inner_text() == "@ana_p" and handle.get_attribute("href") == "https://x.com/ana_p"
    assert frame.locator(".author .network").inner_text() == "X"
    assert frame.locator(".author .followers").inner_text() == "1,520 followers"
    # The post is text: its markup is shown, never run.
    assert frame.locator(".post").inner_text() == "@acme my order never came <script>window.__pwned = 1</script>"
    assert inner(page).evaluate("window.__pwned") is None
    assert frame.locator("a.open-post").get_attribute("href") == "https://x.com/ana_p/status/1829000000000000001"
    assert frame.locator(".window").inner_text().endswith("(in 22 h).")
    items = frame.locator("ol.thread > li")
    assert items.count() == 4
    assert frame.locator("ol.thread li.brand .state").all_inner_texts() == [
        "Posted", "Held until a lead approves", "Failed"]
    assert items.nth(0).locator("a").get_attribute("href") == "https://x.com/acme/status/1829000000000000002"
    assert items.nth(2).locator(".why").inner_text() == "awaiting approval: a lead adds the tag approved to the ticket"
    assert items.nth(3).locator(".why").inner_text() == "X refused the post: duplicate content"
    assert items.nth(1).locator(".by").inner_text() == "Customer · 1 h ago"
    # The daemon was asked for this ticket of this account.
    assert [r["path"] for r in site.requests] == ["/daemon/api/agent-view/tickets/4711?account=acme"]


def test_sidebar_is_as_tall_as_its_content_in_the_screenshot(open_sidebar: Any, tmp_path: Path) -> None:
    page, frame = open_sidebar()
    wait_fitted(page)
    assert any(m.get("request") == "invoke" and "resize" in m.get("params", {}) for m in sent_by_iframe(page))
    box = page.locator("iframe#app").bounding_box()
    content = inner(page).evaluate("document.documentElement.scrollHeight")
    assert box["height"] >= content > 300
    shot = page.locator("iframe#app").screenshot(path=str(tmp_path / "sidebar.png"))
    width, height, _, _ = decode_png(shot)
    assert (width, height) == (round(box["width"]), round(box["height"]))
    rows = brand_rows(shot)
    # The network badge at the top and the Refresh link, the last line, at the bottom: nothing clipped.
    assert rows and rows[0] < 40 and rows[-1] > height - 40, (rows[:3], rows[-3:], height)


def test_the_token_never_reaches_the_iframe(open_sidebar: Any, site: Site) -> None:
    page, frame = open_sidebar()
    assert TOKEN not in inner(page).content()
    assert TOKEN not in json.dumps(sent_by_iframe(page))
    assert inner(page).evaluate("JSON.stringify(performance.getEntries())").find(TOKEN) < 0
    # What the iframe sent is the placeholder; the proxy filled it in on the way to the daemon.
    requests = [m for m in sent_by_iframe(page) if str(m.get("key", "")).startswith("request:")]
    assert [r["message"]["headers"] for r in requests] == [{"Authorization": "Bearer {{setting.api_token}}"}]
    assert requests[0]["message"]["secure"] is True
    assert site.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_a_held_reply_is_released_by_its_tag(open_sidebar: Any) -> None:
    page, frame = open_sidebar()
    button = frame.locator("button.release")
    assert button.count() == 1
    button.click()
    frame.locator("button.release:has-text('submit the ticket')").wait_for(timeout=5_000)
    assert page.evaluate("window.__host.ticket.tags") == ["social", "x", "approved"]
    assert button.is_disabled()
    wait_fitted(page)


def test_a_submitted_answer_reloads_the_thread(open_sidebar: Any, site: Site) -> None:
    page, frame = open_sidebar()
    thread = view()["thread"] + [{"by": "brand", "text": "On it.", "at": "2026-08-20T09:59:00Z", "state": "queued",
                                  "comment_id": "9004"}]
    site.answer = (200, view(thread=thread))
    page.evaluate("window.__host.emit('ticket.submit.done', {})")
    frame.locator("ol.thread > li:nth-child(5) .state").wait_for(timeout=5_000)
    assert frame.locator("ol.thread > li:nth-child(5) .state").inner_text() == "Waiting to post"
    assert len(site.requests) == 2


def test_a_closed_window_and_a_person_s_extra_time(open_sidebar: Any, site: Site) -> None:
    site.answer = (200, view(network="facebook", network_name="Facebook", window={
        "closes_at": "2026-08-19T10:00:00Z", "human_agent_until": "2026-08-25T10:00:00Z",
        "applies_to": "Messenger replies"}))
    page, frame = open_sidebar()
    box = frame.locator(".window.closed")
    assert box.inner_text().startswith("Messaging window closed 1 day ago: Messenger replies wait until the "
                                       "customer writes again.")
    assert "A person may still answer until" in box.inner_text() and "(in 5 days)." in box.inner_text()
    assert frame.locator("a.open-post").inner_text() == "Open on Facebook"


def test_no_window_where_the_network_has_none(open_sidebar: Any, site: Site) -> None:
    site.answer = (200, view(window=None, thread=[]))
    page, frame = open_sidebar()
    assert frame.locator(".window").count() == 0 and frame.locator("ol.thread").count() == 0


def test_links_that_are_not_https_are_shown_as_text(open_sidebar: Any, site: Site) -> None:
    site.answer = (200, view(author={"handle": "@eve", "url": "javascript:alert(1)"}))
    page, frame = open_sidebar()
    assert frame.locator(".author .handle").inner_text() == "@eve"
    assert frame.locator(".author a").count() == 0


@pytest.mark.parametrize("answer, expected", [
    ((404, {"error": "ticket 4711 has no social post"}),
     "socialdesk has no social post for this ticket: ticket 4711 has no social post"),
    ((503, {"error": "the store is being migrated"}), "socialdesk unavailable: the store is being migrated."),
])
def test_the_daemon_s_refusals_are_said(open_sidebar: Any, site: Site, answer: tuple[int, Any],
                                        expected: str) -> None:
    site.answer = answer
    page, frame = open_sidebar(wait_for=".problem")
    assert frame.locator(".problem").inner_text() == expected
    assert frame.locator(".foot a").inner_text() == "Refresh"


def test_a_wrong_token_is_said(open_sidebar: Any) -> None:
    page, frame = open_sidebar(settings={"daemon_url": DAEMON, "api_token": "stale"}, wait_for=".problem")
    assert frame.locator(".problem").inner_text() == "socialdesk refused the request: no valid agent view token."


def test_a_daemon_outside_the_domain_whitelist_is_never_called(open_sidebar: Any, site: Site) -> None:
    page, frame = open_sidebar(settings={"daemon_url": "https://elsewhere.example", "api_token": TOKEN},
                               wait_for=".problem")
    assert frame.locator(".problem").inner_text() == (
        "socialdesk refused the request: domain not in domainWhitelist: elsewhere.example.")
    assert site.requests == []


def test_an_address_that_is_not_https_is_refused_before_any_request(open_sidebar: Any, site: Site) -> None:
    page, frame = open_sidebar(settings={"daemon_url": "http://sd.acme.example", "api_token": TOKEN},
                               wait_for=".problem")
    assert "must be an https URL" in frame.locator(".problem").inner_text()
    assert not [m for m in sent_by_iframe(page) if str(m.get("key", "")).startswith("request:")]
