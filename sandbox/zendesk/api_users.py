"""User routes: list, create, create_or_update (one and many), show, update, me, show_many,
search, and identities.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Mapping

from flask import Flask, Response, g, request

from sandbox.zendesk.gate import _take, _too_many
from sandbox.zendesk.helpers import bad_request, not_found, record_invalid
from sandbox.zendesk.wire import _body, _ids_arg, _json, _payload, _queue_job, _unpaged, paginate

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _install_users(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/users", methods=["GET"])
    def list_users() -> Response:
        with state.lock:
            users = list(state.users.values())
            roles = request.args.getlist("role[]") or request.args.getlist("role")
            if roles:
                users = [u for u in users if u["role"] in roles]
            if request.args.get("external_id"):
                users = state.find_users_by_external_id(request.args["external_id"])
            return _json(paginate(state, "users", users, lambda u: u["id"],
                                  lambda u: state.user_json(u["id"])))

    @app.route("/api/v2/users", methods=["POST"])
    def create_user() -> Response:
        spec = _payload("user")
        with state.lock:
            uid = state.create_user(spec, state.clock.now())
            return _json({"user": state.user_json(uid)}, 201,
                         {"Location": state.url(f"users/{uid}.json")})

    @app.route("/api/v2/users/create_or_update", methods=["POST"])
    def create_or_update_user() -> Response:
        spec = _payload("user")
        with state.lock:
            now = state.clock.now()
            match = None
            if spec.get("external_id") not in (None, ""):
                found = state.find_users_by_external_id(str(spec["external_id"]))
                match = found[0] if found else None
            if match is None and spec.get("email"):
                match = state.find_user_by_email(str(spec["email"]))
            if match is None:
                uid = state.create_user(spec, now)
                return _json({"user": state.user_json(uid)}, 201,
                             {"Location": state.url(f"users/{uid}.json")})
            ok, limit, remaining, reset_at = _take(state, "user_updates", str(match["id"]))
            if not ok:
                raise _too_many(state, "user_updates", reset_at, {})
            state.update_user(match["id"], spec, now)
            return _json({"user": state.user_json(match["id"])}, 200)

    @app.route("/api/v2/users/create_or_update_many", methods=["POST"])
    def create_or_update_many_users() -> Response:
        body = _body()
        items = body.get("users") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: users")
        return _queue_job(state, "users", copy.deepcopy(items))

    @app.route("/api/v2/users/<int:uid>", methods=["GET"])
    def show_user(uid: int) -> Response:
        with state.lock:
            state.get_user(uid)
            return _json({"user": state.user_json(uid)})

    @app.route("/api/v2/users/<int:uid>", methods=["PUT"])
    def update_user(uid: int) -> Response:
        spec = _payload("user")
        with state.lock:
            state.get_user(uid)
            ok, limit, remaining, reset_at = _take(state, "user_updates", str(uid))
            if not ok:
                raise _too_many(state, "user_updates", reset_at, {})
            state.update_user(uid, spec, state.clock.now())
            return _json({"user": state.user_json(uid)})

    @app.route("/api/v2/users/me", methods=["GET"])
    def me() -> Response:
        with state.lock:
            return _json({"user": state.user_json(g.user["id"], me=True)})

    @app.route("/api/v2/users/show_many", methods=["GET"])
    def show_many_users() -> Response:
        ids = set(_ids_arg())
        with state.lock:
            users = [uid for uid in sorted(state.users) if uid in ids]
            return _json(_unpaged("users", [state.user_json(uid) for uid in users]))

    @app.route("/api/v2/users/search", methods=["GET"])
    def search_users() -> Response:
        with state.lock:
            if request.args.get("external_id") is not None:
                users = state.find_users_by_external_id(request.args["external_id"])
            elif request.args.get("query") is not None:
                users = state.search_users(request.args["query"])
            else:
                raise bad_request("InvalidValue", "query or external_id is required")
            return _json(paginate(state, "users", users, lambda u: u["id"],
                                  lambda u: state.user_json(u["id"])))

    @app.route("/api/v2/users/<int:uid>/identities", methods=["GET"])
    def list_identities(uid: int) -> Response:
        with state.lock:
            state.get_user(uid)
            idents = state.user_identities(uid)
            wanted = request.args.getlist("type[]")
            if wanted:
                idents = [i for i in idents if i["type"] in wanted]
            return _json(paginate(state, "identities", idents, lambda i: i["id"], state.identity_json))

    @app.route("/api/v2/users/<int:uid>/identities", methods=["POST"])
    def add_identity(uid: int) -> Response:
        spec = _payload("identity")
        with state.lock:
            state.get_user(uid)
            before = {i["id"] for i in state.user_identities(uid)}
            ident = state.ensure_identity(uid, spec.get("type"), spec.get("value"), state.clock.now())
            if ident["id"] in before:
                raise record_invalid("value", f"Value: {spec.get('value')} has already been taken",
                                     "DuplicateValue")
            return _json({"identity": state.identity_json(ident)}, 201,
                         {"Location": state.url(f"users/{uid}/identities/{ident['id']}.json")})

    @app.route("/api/v2/users/<int:uid>/identities/<int:iid>", methods=["GET"])
    def show_identity(uid: int, iid: int) -> Response:
        with state.lock:
            ident = state.identities.get(iid)
            if ident is None or ident["user_id"] != uid:
                raise not_found()
            return _json({"identity": state.identity_json(ident)})
