"""The Channel Framework's endpoints, under ``/channel/`` of the daemon's web server.

``manifest.json`` (what Zendesk installs), ``admin`` (the page Zendesk shows an admin who
adds an account), ``pull``, ``channelback``, ``clickthrough``, ``healthcheck`` and
``events`` (event callbacks). Bad input is answered with a short clear error: JSON
``{"error": ...}`` for Zendesk's calls, a small page for the admin's.
"""
from __future__ import annotations

import html
import json
import logging
from typing import Any, Callable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sync.channel.replies import Refused
from sync.channel.service import ChannelService

log = logging.getLogger("socialdesk.channel")

PREFIX = "/channel"
MAX_BODY = 1024 * 1024   # a channelback's message is at most 65,535 characters; events come aggregated


def _json(data: Any, status: int = 200, retry_after: float | None = None) -> Response:
    response = Response(json.dumps(data), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:40em;color:#2f3941}'
            'label{display:block;margin:12px 0 4px;font-weight:600}input[type=text]{width:100%;padding:6px}'
            'button{margin-top:16px;padding:6px 14px}li{margin:2px 0}.muted{color:#68737d}</style></head>'
            f'<body><h1>{html.escape(title)}</h1>{body}</body></html>')
    response = Response(text, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    # Shown in Zendesk's admin center, in an iframe: Zendesk's pages may frame it.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action https: " \
                                                  "http:; frame-ancestors https: http:"
    return response


class ChannelApp:
    """The WSGI app Zendesk calls; ``public_url`` is where it is reached (https)."""

    def __init__(self, service: ChannelService, public_url: Callable[[], str | None]) -> None:
        self.service = service
        self.public_url = public_url
        self.urls = Map([
            Rule(f"{PREFIX}/manifest.json", endpoint=self.manifest, methods=["GET"]),
            Rule(f"{PREFIX}/admin", endpoint=self.admin, methods=["GET", "POST"]),
            Rule(f"{PREFIX}/pull", endpoint=self.pull, methods=["POST"]),
            Rule(f"{PREFIX}/channelback", endpoint=self.channelback, methods=["POST"]),
            Rule(f"{PREFIX}/clickthrough", endpoint=self.clickthrough, methods=["GET"]),
            Rule(f"{PREFIX}/healthcheck", endpoint=self.healthcheck, methods=["GET"]),
            Rule(f"{PREFIX}/events", endpoint=self.events, methods=["POST"]),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            handler, values = self.urls.bind_to_environ(environ).match()
            response = handler(request, **values)
        except Refused as err:
            response = _json({"error": err.message}, err.status, err.retry_after)
        except HTTPException as err:   # unknown path or method, a body over the limit
            return err(environ, start_response)
        return response(environ, start_response)

    # ------------------------------------------------------------------ endpoints

    def manifest(self, request: Request) -> Response:
        public = self.public_url()
        if not public:
            return _json({"error": "the daemon's public address is not known yet"}, 503)
        return _json(self.service.manifest(public))

    def admin(self, request: Request) -> Response:
        """The page Zendesk shows an admin adding an account: it names what the account
        brings in and posts ``name`` and ``metadata`` back to Zendesk's ``return_url``."""
        if request.method == "GET":
            return _page("socialdesk", "<p>Open this page from Zendesk: Admin Center, Apps and integrations, "
                                       "Channel apps, socialdesk, Add account.</p>", 400)
        try:
            admin = self.service.any_desk().read_admin(request.form)
        except ValueError as err:
            return _page("socialdesk cannot add this account", f"<p>{html.escape(str(err))}.</p>", 400)
        try:
            tenant_id, metadata, helpdesk = self.service.admin(admin)
        except Refused as err:
            return _page("socialdesk cannot add this account", f"<p>{html.escape(err.message)}.</p>", err.status)
        routes = "".join(f"<li>{html.escape(name)} <span class=muted>({html.escape(kind)})</span></li>"
                         for name, kind in self.service.covered(helpdesk)) or "<li>no route yet</li>"
        name = admin.name or self.service.default_name(helpdesk)
        body = (f"<p>This account brings these socialdesk routes into {html.escape(admin.subdomain)}: posts become "
                "tickets, and agents' public replies go back in the thread.</p>"
                f"<ul>{routes}</ul>"
                f'<form method="post" action="{html.escape(admin.return_url, quote=True)}">'
                '<label for="name">Account name</label>'
                f'<input type="text" id="name" name="name" maxlength="255" required value="{html.escape(name, quote=True)}">'
                f'<input type="hidden" name="metadata" value="{html.escape(metadata, quote=True)}">'
                '<button type="submit">Save</button></form>')
        log.info("admin UI for %s (tenant %s) shown", admin.subdomain, tenant_id)
        return _page("socialdesk", body)

    def pull(self, request: Request) -> Response:
        try:
            metadata, state = self.service.any_desk().read_pull(request.form)
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        return _json(self.service.pull(metadata, state))

    def channelback(self, request: Request) -> Response:
        try:
            back = self.service.any_desk().read_channelback(request.form, request.form.getlist("file_urls[]"))
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        return _json(self.service.channelback(back))

    def clickthrough(self, request: Request) -> Response:
        external_id = request.args.get("external_id", "")
        if not external_id:
            return _page("socialdesk", "<p>external_id is required.</p>", 400)
        try:
            url = self.service.clickthrough(external_id)
        except Refused as err:
            return _page("socialdesk", f"<p>{html.escape(err.message)}.</p>", err.status)
        response = Response(status=302)
        response.headers["Location"] = url
        response.headers["Cache-Control"] = "no-store"
        return response

    def healthcheck(self, request: Request) -> Response:
        status, body = self.service.health(request.args.get("metadata"))
        return _json(body, status)

    def events(self, request: Request) -> Response:
        try:
            events = self.service.any_desk().read_events(request.get_data())
        except ValueError as err:
            return _json({"error": str(err)}, 400)
        return _json({"received": len(events), "taken": self.service.events(events)})


def mount(channel: Callable[..., Any], inner: Callable[..., Any]) -> Callable[..., Any]:
    """One WSGI app: ``/channel/`` to the channel app, the rest to the daemon's own."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        target = channel if path == PREFIX or path.startswith(PREFIX + "/") else inner
        return target(environ, start_response)
    return app
