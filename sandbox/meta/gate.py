"""What every Graph call passes, over HTTP or inside a batch: outage, token, appsecret
proof, usage budget, faults, then the handler; and the call log.

Tokens are read where Meta reads them: ``access_token`` in the query, the form or the JSON
body, or ``Authorization: Bearer|OAuth <token>``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from flask import Response, g, request

from sandbox.common import cut_connection, hold, retry_after_seconds
from sandbox.meta import errors
from sandbox.meta.constants import BATCH_MAX, JSON_TYPE, VERSION_RE
from sandbox.meta.paging import Call

if TYPE_CHECKING:
    from sandbox.meta.model import MetaState

Answer = tuple[int, Any, dict[str, str]]


def _masked(query: str) -> str:
    """A query string with its secrets cut (the call log never shows a token)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{k}={'***' if k in ('access_token', 'appsecret_proof', 'input_token', 'client_secret') else v}"
                    for k, v in pairs)


class Gate:
    """Request plumbing of ``MetaApi``."""

    state: "MetaState"

    # -- HTTP ------------------------------------------------------------------------------

    def http(self, version: str = "", rest: str = "") -> Response:
        if version and not VERSION_RE.match(version):
            rest, version = f"{version}/{rest}".strip("/"), ""
        params: dict[str, Any] = {k: v for k, v in request.args.items()}
        params.update({k: v for k, v in request.form.items()})
        body = request.get_json(silent=True) if request.is_json else None
        if isinstance(body, dict):
            params.update(body)
        token = params.pop("access_token", None)
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if token is None and scheme.lower() in ("bearer", "oauth") and value.strip():
            token = value.strip()
        call = Call(request.method, version or self.state.version,
                    [p for p in rest.split("/") if p], params,
                    str(token) if token is not None else None)
        g.call = call
        left = self.state.outage.refuse()
        if left is not None:
            error = errors.service_unavailable()
            after = retry_after_seconds(left)
            return self._respond(error.status, error.body(),
                                 {"Retry-After": after} if after else {})
        fault = g.fault = self.state.take_fault(request.method, request.path)
        if fault is not None and fault.get("kind", "error") == "error":
            error = errors.by_code(int(fault.get("code") or 2), fault.get("status"))
            return self._respond(error.status, error.body(), error.headers)
        chaos = g.chaos = None if fault is not None else self.state.chaos.draw(
            request.method, (request.path,))
        if chaos is not None and chaos.kind == "reset":
            return cut_connection()
        if chaos is not None and chaos.kind in ("429", "5xx"):
            error = errors.page_buc_limit() if chaos.kind == "429" else errors.service_unavailable()
            if chaos.kind == "5xx":
                error.status = chaos.status or 503
            return self._respond(error.status, error.body(), error.headers)
        if not call.path and call.method == "POST" and "batch" in call.params:
            status, answer, headers = self.batch_checked(call)
        else:
            status, answer, headers = self.dispatch(call)
        kind = (fault or {}).get("kind") or (chaos.kind if chaos else "")
        if kind == "error_after_write":
            error = errors.by_code(int(fault.get("code") or 2), fault.get("status"))
            return self._respond(error.status, error.body(), error.headers)
        if kind == "drop_response":
            return cut_connection()
        return self._respond(status, answer, headers)

    def _respond(self, status: int, body: Any, headers: dict[str, str]) -> Response:
        response = Response(json.dumps(body, ensure_ascii=False), status=status,
                            content_type=JSON_TYPE)
        response.headers["facebook-api-version"] = self.state.version
        response.headers["x-fb-trace-id"] = errors.fbtrace_id()[:11]
        response.headers["x-fb-rev"] = str(1000000000 + secrets.randbelow(10**9))
        for key, value in headers.items():
            response.headers[key] = value
        return response

    # -- one call --------------------------------------------------------------------------

    def dispatch(self, call: Call) -> Answer:
        """Token, proof, usage, then the handler; the answer as (status, body, headers)."""
        s = self.state
        try:
            if call.path[:1] == ["oauth"]:
                return 200, self.app_token(call), {}
            call.grant = s.tokens.check(call.token)
            self._check_proof(call)
        except errors.GraphError as error:
            return error.status, error.body(), error.headers
        bucket, owner = "app", s.app_id
        headers: dict[str, str] = {}
        try:
            with s.lock:
                kind, obj, edge = self._target(call)
                if call.grant.kind == "page":
                    bucket = self.bucket(kind, obj)
                    owner = s.ig_user_id if bucket == "instagram" else s.page_id
                refused = s.usage.take(bucket)
                headers = s.usage.headers(bucket, owner)
                if refused is not None:
                    raise refused
                if kind == "app" and edge == "subscriptions" and call.method == "POST":
                    pass  # verified outside the lock: the callback may call back
                else:
                    return 200, self.handle(call, kind, obj, edge), headers
            return 200, self.handle(call, kind, obj, edge), headers
        except errors.GraphError as error:
            return error.status, error.body(), {**headers, **error.headers}

    def _target(self, call: Call) -> tuple[str, Any, str | None]:
        path = call.path
        if not path and call.method == "GET" and call.params.get("ids"):
            return "ids", None, None
        if not path:
            raise errors.invalid_param("Unsupported request - method type: "
                                       f"{call.method.lower()}")
        if path == ["debug_token"]:
            return "debug_token", None, None
        if len(path) > 2:
            raise errors.unknown_path("/".join(path[2:]))
        kind, obj = self.resolve(path[0], call)
        return kind, obj, path[1] if len(path) > 1 else None

    def handle(self, call: Call, kind: str, obj: Any, edge: str | None) -> Any:
        if kind == "debug_token":
            return self.debug_token(call)
        if kind == "ids":
            return self.many(call)
        if call.method == "GET":
            return self.read(call, kind, obj, edge)
        answer = self.write(call, kind, obj, edge)
        if answer is None:
            raise self.no_edge(call, kind, obj, edge)
        return answer

    def many(self, call: Call) -> dict[str, Any]:
        """``GET /?ids=a,b``: each object, keyed by its id (each counted as a call)."""
        out: dict[str, Any] = {}
        wanted = [i.strip() for i in str(call.params["ids"]).split(",") if i.strip()]
        for index, ident in enumerate(wanted):
            kind, obj = self.resolve(ident, call)
            if index:  # the first was counted as the call itself
                refused = self.state.usage.take(self.bucket(kind, obj) if call.grant and
                                                call.grant.kind == "page" else "app")
                if refused is not None:
                    raise refused
            out[ident] = self.read(call, kind, obj, None)
        return out

    # -- platform --------------------------------------------------------------------------

    def app_token(self, call: Call) -> dict[str, Any]:
        """``GET /oauth/access_token?grant_type=client_credentials``: the app token."""
        s = self.state
        if call.param("grant_type") != "client_credentials":
            raise errors.invalid_param("Unsupported grant_type")
        if call.param("client_id") != s.app_id or not hmac.compare_digest(
                str(call.param("client_secret", "")), s.app_secret):
            raise errors.bad_client_secret()
        return {"access_token": s.tokens.app_token, "token_type": "bearer"}

    def debug_token(self, call: Call) -> dict[str, Any]:
        s = self.state
        if call.grant is None or call.grant.kind != "app":
            raise errors.needs_app_token()
        wanted = str(call.param("input_token") or "")
        if not wanted:
            raise errors.invalid_param("The parameter input_token is required")
        grant = s.tokens.find(wanted)
        if grant is None:
            return {"data": {"error": {"code": 190, "message": "Invalid OAuth access token."},
                             "is_valid": False, "scopes": []}}
        data: dict[str, Any] = {"app_id": s.app_id, "type": grant.kind.upper(),
                                "application": s.app_name,
                                "data_access_expires_at": int(grant.issued_at) + 90 * 86400,
                                "expires_at": int(grant.expires_at), "is_valid": True,
                                "issued_at": int(grant.issued_at)}
        if grant.kind == "page":
            data["profile_id"] = s.page_id
            data["scopes"] = list(grant.scopes)
            data["granular_scopes"] = [{"scope": scope, "target_ids": [s.page_id]}
                                       for scope in grant.scopes
                                       if scope.startswith(("pages_", "instagram_"))]
            data["user_id"] = s.admin_user_id
        else:
            data["scopes"] = []
        problem = s.tokens.problem(grant)
        if problem is not None:
            data["is_valid"] = False
            data["error"] = {"code": 190, "message": problem.message,
                             "subcode": problem.subcode}
        return {"data": data}

    def batch_checked(self, call: Call) -> Answer:
        """A batch is refused whole when its own token or proof is refused."""
        try:
            self.state.tokens.check(call.token)
            self._check_proof(call)
        except errors.GraphError as error:
            return error.status, error.body(), error.headers
        return self.batch(call)

    def _check_proof(self, call: Call) -> None:
        proof = call.params.pop("appsecret_proof", None)
        if proof is not None:
            wanted = hmac.new(self.state.app_secret.encode(), str(call.token).encode(),
                              hashlib.sha256).hexdigest()
            if not hmac.compare_digest(str(proof), wanted):
                raise errors.bad_proof()

    def batch(self, call: Call) -> Answer:
        """``POST /`` with ``batch=[{method, relative_url, body}]``: up to 50 calls, each
        counted against the budgets, each answered as {code, headers, body}."""
        raw = call.params.get("batch")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            items = None
        if not isinstance(items, list) or not items:
            error = errors.invalid_param("The parameter batch must be a JSON array")
            return error.status, error.body(), {}
        if len(items) > BATCH_MAX:
            error = errors.batch_too_big()
            return error.status, error.body(), {}
        with_headers = str(call.params.get("include_headers", "true")).lower() != "false"
        out: list[dict[str, Any] | None] = []
        for item in items:
            if not isinstance(item, dict) or not item.get("relative_url"):
                error = errors.invalid_param("Each batch request needs a relative_url")
                out.append({"code": 400, "body": json.dumps(error.body())})
                continue
            out.append(self._batch_item(call, item, with_headers))
        return 200, out, {}

    def _batch_item(self, call: Call, item: dict[str, Any], with_headers: bool
                    ) -> dict[str, Any]:
        url = urlsplit("/" + str(item["relative_url"]).lstrip("/"))
        segments = [p for p in url.path.split("/") if p]
        version = call.version
        if segments and VERSION_RE.match(segments[0]):
            version = segments.pop(0)
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        body = item.get("body")
        if isinstance(body, str):
            params.update(parse_qsl(body, keep_blank_values=True))
        elif isinstance(body, dict):
            params.update(body)
        token = params.pop("access_token", None) or call.token
        sub = Call(str(item.get("method") or "GET").upper(), version, segments, params, token)
        status, answer, headers = self.dispatch(sub)
        result: dict[str, Any] = {"code": status, "body": json.dumps(answer, ensure_ascii=False)}
        if with_headers:
            result["headers"] = [{"name": "Content-Type",
                                  "value": "text/javascript; charset=UTF-8"}] + [
                {"name": k, "value": v} for k, v in headers.items()]
        return result

    # -- log -------------------------------------------------------------------------------

    def _log(self, response: Response) -> Response:
        if not request.path.startswith(("/_sandbox/", "/cdn/")):
            entry: dict[str, Any] = {"method": request.method, "path": request.path,
                                     "query": _masked(request.query_string.decode()),
                                     "status": response.status_code,
                                     "at": self.state.clock.now()}
            call: Call | None = g.get("call")
            if call is not None and request.method in ("POST", "DELETE"):
                entry["params"] = {k: v for k, v in call.params.items()
                                   if k not in ("appsecret_proof", "client_secret",
                                                "input_token")}
            fault = g.get("fault")
            chaos = g.get("chaos")
            if fault is not None:
                entry["fault"] = fault.get("kind", "error")
            elif chaos is not None:
                entry["fault"] = chaos.kind
            with self.state.lock:
                self.state.calls.append(entry)
                del self.state.calls[:-10_000]
            hold(chaos)
        return response

    def _routing_error(self, error: Exception) -> Response:
        status = getattr(error, "code", 404) or 404
        if request.path.startswith("/_sandbox/"):
            return Response(json.dumps({"error": "no such control route"}), status=status,
                            content_type=JSON_TYPE)
        graph = errors.unknown_path(request.path.strip("/"))
        return self._respond(400, graph.body(), {})
