"""Catalog routes: ticket fields, groups, brands, forms, organizations and custom roles
(read; ticket fields and groups also written).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import Flask, Response, request

from sandbox.zendesk.helpers import _found, record_invalid
from sandbox.zendesk.wire import _api_warn, _body, _json, _payload, _unpaged, paginate

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _read_routes(app: Flask, state: ZendeskState, path: str, attr: str, one: str,
                 render: Callable[[Any], dict[str, Any]], listing: str | None = None) -> None:
    """GET /api/v2/<path>/<id> as ``{one: render(record)}``, the record from ``state.<attr>`` (read
    per request: reset() replaces the dicts). With ``listing``, also GET /api/v2/<path>: every record
    in id order, in the unpaged offset envelope ("envelope") or as ``{path: [...]}`` alone ("bare")."""
    def show(rid: int) -> Response:
        with state.lock:
            return _json({one: render(_found(getattr(state, attr), rid))})

    def index() -> Response:
        with state.lock:
            items = [render(r) for _, r in sorted(getattr(state, attr).items())]
            return _json(_unpaged(path, items) if listing == "envelope" else {path: items})

    app.add_url_rule(f"/api/v2/{path}/<int:rid>", f"show_{one}", show, methods=["GET"])
    if listing is not None:
        app.add_url_rule(f"/api/v2/{path}", f"list_{path}", index, methods=["GET"])


def _install_catalog(app: Flask, state: ZendeskState) -> None:
    @app.route("/api/v2/ticket_fields", methods=["GET"])
    def list_fields() -> Response:
        with state.lock:
            if any(k.startswith("page[") for k in request.args):
                return _json(paginate(state, "ticket_fields", list(state.fields.values()),
                                      lambda f: f["id"], state.field_json))
            ordered = sorted(state.fields.values(), key=lambda f: (f["position"], f["id"]))
            return _json(_unpaged("ticket_fields", [state.field_json(f) for f in ordered]))

    @app.route("/api/v2/ticket_fields", methods=["POST"])
    def create_field() -> Response:
        spec = _payload("ticket_field")
        if not spec.get("title"):
            raise record_invalid("title", "Title: cannot be blank", "BlankValue")
        kind = spec.get("type") or "text"
        if kind not in ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp",
                        "partialcreditcard", "multiselect", "tagger", "lookup"):
            raise record_invalid("type", f"Type: {kind} is not valid")
        options = spec.get("custom_field_options") or []
        if kind in ("tagger", "multiselect") and not options:
            raise record_invalid("field_options", "Field options: must contain at least one option",
                                 "EmptyValue")
        with state.lock:
            now = state.clock.now()
            fid = state.ids.next()
            record = state._field_record(fid, kind, str(spec["title"]), int(spec.get("position", 9999)),
                                         now, removable=True)
            if spec.get("description"):
                record["description"] = str(spec["description"])
            record["tag"] = spec.get("tag")
            if options:
                record["custom_field_options"] = [
                    {"id": state.ids.next(), "name": str(o.get("name")), "raw_name": str(o.get("name")),
                     "value": str(o.get("value")), "default": bool(o.get("default", False))}
                    for o in options if isinstance(o, Mapping)]
            state.fields[fid] = record
            return _json({"ticket_field": state.field_json(record)}, 201,
                         {"Location": state.url(f"ticket_fields/{fid}.json")})

    @app.route("/api/v2/ticket_fields/<int:fid>", methods=["PUT"])
    def update_field(fid: int) -> Response:
        body = _body()
        spec = body.get("ticket_field") if isinstance(body, Mapping) else {}
        with state.lock:
            f = _found(state.fields, fid)
            for key in ("title", "description", "active", "required", "position", "agent_description"):
                if isinstance(spec, Mapping) and key in spec:
                    f[key] = spec[key]
            f["_updated"] = state.clock.now()
            allowed = frozenset({"title", "description", "active", "required", "position",
                                 "agent_description", "custom_field_options", "tag",
                                 "visible_in_portal", "editable_in_portal", "required_in_portal"})
            return _json({"ticket_field": state.field_json(f)},
                         headers=_api_warn("ticket_fields", "update", spec, "ticket_field", allowed))

    @app.route("/api/v2/groups", methods=["GET"])
    def list_groups() -> Response:
        with state.lock:
            return _json(paginate(state, "groups", list(state.groups.values()), lambda x: x["id"],
                                  state.group_json))

    @app.route("/api/v2/groups", methods=["POST"])
    def create_group() -> Response:
        body = _body()
        spec = body.get("group") if isinstance(body, Mapping) else None
        if not isinstance(spec, Mapping) or not spec.get("name"):
            raise record_invalid("name", "Name: cannot be blank", "BlankValue")
        with state.lock:
            gid = state.ids.next()
            state.groups[gid] = {"id": gid, "name": str(spec["name"]),
                                 "description": str(spec.get("description") or ""), "default": False,
                                 "is_public": bool(spec.get("is_public", True)), "deleted": False,
                                 "_created": state.clock.now()}
            return _json({"group": state.group_json(state.groups[gid])}, 201)

    for path, attr, one, render, listing in (
            ("ticket_fields", "fields", "ticket_field", state.field_json, None),
            ("groups", "groups", "group", state.group_json, None),
            ("brands", "brands", "brand", state.brand_json, "envelope"),
            ("ticket_forms", "forms", "ticket_form", state.form_json, "envelope"),
            ("organizations", "organizations", "organization", state.organization_json, None),
            ("custom_roles", "custom_roles", "custom_role", state.custom_role_json, "bare")):
        _read_routes(app, state, path, attr, one, render, listing)
