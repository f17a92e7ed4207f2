"""Webhook routes: create, list, show, update, delete, signing secret, test, and the
invocations and their attempts.
"""
from __future__ import annotations

import base64
import copy
import secrets
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from ulid import ULID

from sandbox.zendesk.constants import WEBHOOKS_CT
from sandbox.zendesk.delivery import _auth_headers, send_webhook
from sandbox.zendesk.helpers import webhook_error
from sandbox.zendesk.records import Delivery
from sandbox.zendesk.wire import _body, _json, webhook_paginate

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WEBHOOK_FORMATS = ("json", "xml", "form_encoded")


def _install_webhooks(app: Flask, state: ZendeskState) -> None:
    def webhook_spec() -> Mapping[str, Any]:
        body = _body()
        spec = body.get("webhook") if isinstance(body, Mapping) else None
        if not isinstance(spec, Mapping):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook object is required")
        return spec

    def validate(w: Mapping[str, Any]) -> None:
        for key in ("name", "endpoint", "http_method", "request_format", "status"):
            if not w.get(key):
                raise webhook_error(400, "InvalidInput", "Invalid input", f"webhook.{key} is required")
        if urlsplit(str(w["endpoint"])).scheme not in ("http", "https"):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.endpoint must be a URL")
        if w["http_method"] not in WEBHOOK_METHODS:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.http_method is invalid")
        if w["request_format"] not in WEBHOOK_FORMATS:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.request_format is invalid")
        if w["status"] not in ("active", "inactive"):
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.status is invalid")
        if not isinstance(w.get("subscriptions"), list) or not w["subscriptions"]:
            raise webhook_error(400, "InvalidInput", "Invalid input", "webhook.subscriptions is required")

    def find(wid: str) -> dict[str, Any]:
        w = state.webhooks.get(wid)
        if w is None:
            raise webhook_error(404, "WebhookNotFound", "Webhook not found",
                                f"Webhook {wid} could not be found")
        return w

    def new_secret() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    @app.route("/api/v2/webhooks", methods=["POST"])
    def create_webhook() -> Response:
        spec = webhook_spec()
        with state.lock:
            now = state.clock.now()
            w: dict[str, Any] = {
                "id": str(ULID.from_timestamp(now)), "name": spec.get("name"),
                "description": spec.get("description"), "status": spec.get("status", "active"),
                "subscriptions": list(spec.get("subscriptions") or []), "_created": now,
                "created_by": g.user["id"], "endpoint": spec.get("endpoint"),
                "http_method": spec.get("http_method", "POST"),
                "request_format": spec.get("request_format", "json"),
                "authentication": copy.deepcopy(spec.get("authentication")), "signing_secret": new_secret()}
            if isinstance(spec.get("signing_secret"), Mapping) and spec["signing_secret"].get("secret"):
                w["signing_secret"] = str(spec["signing_secret"]["secret"])
            validate(w)
            state.webhooks[w["id"]] = w
            return _json({"webhook": state.webhook_json(w, precise=True)}, 201,
                         content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks", methods=["GET"])
    def list_webhooks() -> Response:
        with state.lock:
            hooks = sorted(state.webhooks.values(), key=lambda w: w["id"])
            name = request.args.get("filter[name_contains]")
            if name:
                hooks = [w for w in hooks if name.lower() in str(w["name"]).lower()]
            body, headers = webhook_paginate(state, "webhooks", hooks, lambda w: w["id"], state.webhook_json)
            return _json(body, headers=headers, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>", methods=["GET"])
    def show_webhook(wid: str) -> Response:
        with state.lock:
            return _json({"webhook": state.webhook_json(find(wid))}, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>", methods=["PUT", "PATCH"])
    def update_webhook(wid: str) -> Response:
        spec = webhook_spec()
        with state.lock:
            w = find(wid)
            changed = dict(w)
            for key in ("name", "description", "status", "endpoint", "http_method", "request_format"):
                if key in spec:
                    changed[key] = spec[key]
            if "subscriptions" in spec:
                changed["subscriptions"] = list(spec["subscriptions"] or [])
            if "authentication" in spec:
                changed["authentication"] = copy.deepcopy(spec["authentication"])
            validate(changed)
            changed["_updated"] = state.clock.now()
            changed["updated_by"] = g.user["id"]
            w.update(changed)
            return Response(b"", status=204)

    @app.route("/api/v2/webhooks/<wid>", methods=["DELETE"])
    def delete_webhook(wid: str) -> Response:
        with state.lock:
            find(wid)
            del state.webhooks[wid]
            return Response(b"", status=204, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/signing_secret", methods=["GET", "POST"])
    def signing_secret(wid: str) -> Response:
        with state.lock:
            w = find(wid)
            status = 200
            if request.method == "POST":
                w["signing_secret"] = new_secret()
                status = 201
            return _json({"signing_secret": {"secret": w["signing_secret"], "algorithm": "SHA256"}},
                         status, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/invocations", methods=["GET"])
    def invocations(wid: str) -> Response:
        with state.lock:
            find(wid)
            invs = sorted((i for i in state.invocations.values() if i["webhook_id"] == wid),
                          key=lambda i: i["id"], reverse=True)
            wanted = request.args.get("filter[status]")
            if wanted:
                invs = [i for i in invs if i["status"] == wanted]
            body, headers = webhook_paginate(state, "invocations", invs, lambda i: i["id"],
                                             state.invocation_json)
            return _json(body, headers=headers, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/<wid>/invocations/<iid>/attempts", methods=["GET"])
    def attempts(wid: str, iid: str) -> Response:
        with state.lock:
            find(wid)
            inv = state.invocations.get(iid)
            if inv is None or inv["webhook_id"] != wid:
                raise webhook_error(404, "InvocationNotFound", "Invocation not found",
                                    f"Invocation {iid} could not be found")
            out = []
            for attempt in reversed(inv["attempts"]):
                item = {k: v for k, v in attempt.items() if k not in ("error",)}
                out.append(item)
            return _json({"attempts": out}, content_type=WEBHOOKS_CT)

    @app.route("/api/v2/webhooks/test", methods=["POST"])
    def test_webhook() -> Response:
        body = _body()
        spec = body.get("request") if isinstance(body, Mapping) else None
        with state.lock:
            hook = state.webhooks.get(request.args.get("webhook_id") or "")
            if hook is None and not isinstance(spec, Mapping):
                raise webhook_error(400, "InvalidInput", "Invalid input", "request or webhook_id is required")
            merged = {**(hook or {}), **(spec or {})}
            endpoint = merged.get("endpoint")
            if not endpoint:
                raise webhook_error(400, "InvalidInput", "Invalid input", "request.endpoint is required")
            headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                       "X-Zendesk-Account-Id": str(state.account_id)}
            for h in (spec or {}).get("headers") or []:
                if isinstance(h, Mapping) and h.get("key"):
                    headers[str(h["key"])] = str(h.get("value", ""))
            headers.update(_auth_headers(merged.get("authentication")))
            delivery = Delivery(str(ULID()), (hook or {}).get("id", ""),
                                str(merged.get("http_method", "POST")), str(endpoint), headers,
                                str(merged.get("payload") or ""), (hook or {}).get("signing_secret", ""),
                                state.generation)
        attempt, _ = send_webhook(delivery)
        response: dict[str, Any] = {"headers": (attempt.get("response") or {}).get("headers", []),
                                    "status_code": attempt.get("status_code"),
                                    "payload": (attempt.get("response") or {}).get("payload", "")}
        return _json({"response": response}, content_type=WEBHOOKS_CT)
