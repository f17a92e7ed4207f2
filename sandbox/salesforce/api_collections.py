"""sObject Collections and Composite: per-record results, allOrNone, references."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from flask import Flask, Response, g, request

from sandbox.salesforce.api_data import _assign_header
from sandbox.salesforce.catalog import PREFIXES
from sandbox.salesforce.constants import COLLECTION_MAX, COMPOSITE_MAX
from sandbox.salesforce.errors import not_found, sf_error, SfError
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.wire import _body, _json, _route, _version

if TYPE_CHECKING:
    from sandbox.salesforce.model import SalesforceState


ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction "
                      "failed."}]


def _item_error(err: SfError) -> dict[str, Any]:
    first = err.first
    return {"statusCode": first.get("errorCode", "UNKNOWN_EXCEPTION"), "message": first.get("message", ""),
            "fields": list(first.get("fields", []))}


def _install_collections(app: Flask, state: SalesforceState) -> None:
    D = "/services/data/<ver>"
    route = lambda rule, methods: _route(app, state, rule, methods)  # noqa: E731

    def collection() -> tuple[list[Any], bool]:
        body = _body()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize the request: expected an object with "
                           "a records array")
        if len(body["records"]) > COLLECTION_MAX:
            raise sf_error(400, "EXCEEDED_ID_LIMIT",
                           "record limit reached. cannot submit more than 200 records "
                           "into this call")
        return body["records"], bool(body.get("allOrNone", False))

    def run_all(items: list[Any], one: Callable[[Any], dict[str, Any]],
                all_or_none: bool) -> list[dict[str, Any]]:
        snap = state.snapshot() if all_or_none else None
        results: list[dict[str, Any]] = []
        for item in items:
            try:
                results.append(one(item))
            except SfError as err:
                results.append({"success": False, "errors": [_item_error(err)]})
        if snap is not None and any(not r["success"] for r in results):
            state.restore(snap)
            results = [r if not r["success"] else {"success": False, "errors": [dict(ROLLED_BACK)]}
                       for r in results]
        return results

    def record_type(item: Any, expected: str | None = None) -> str:
        if not isinstance(item, dict):
            raise sf_error(400, "JSON_PARSER_ERROR",
                           "Cannot deserialize instance of sObject from a non-object value")
        attrs = item.get("attributes")
        kind = attrs.get("type") if isinstance(attrs, dict) else None
        if not kind:
            if expected:
                return expected
            raise sf_error(400, "INVALID_FIELD", "No SObject Type defined in the attributes of a record", [])
        view = state.view_ci(str(kind))
        if view is None or (expected and view.name != expected):
            raise sf_error(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.", [])
        return view.name

    def strip(item: Mapping[str, Any], *names: str) -> dict[str, Any]:
        lowered = {n.lower() for n in names} | {"attributes"}
        return {k: v for k, v in item.items() if k.lower() not in lowered}

    @route(D + "/composite/sobjects", ["POST", "PATCH", "DELETE", "GET"])
    def sobject_collection(ver: str) -> Response:
        assign = request.headers.get("Sforce-Auto-Assign")
        if request.method == "DELETE":
            ids = [i for i in request.args.get("ids", "").split(",") if i]
            if not ids:
                raise sf_error(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.")
            if len(ids) > COLLECTION_MAX:
                raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 "
                               "records into this call")

            def delete_one(rid: str) -> dict[str, Any]:
                norm = normalize_id(rid)
                kind = PREFIXES.get((norm or "")[:3])
                if norm is None or kind is None or state.view(kind) is None:
                    raise sf_error(400, "MALFORMED_ID", f"malformed id {rid}", [])
                try:
                    state.delete(kind, norm, g.user)
                except SfError as err:
                    if err.first.get("errorCode") == "NOT_FOUND":
                        raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted", []) from None
                    raise
                return {"id": norm, "success": True, "errors": []}
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"
            return _json(run_all(ids, delete_one, all_or_none))
        if request.method == "GET":
            raise not_found()
        items, all_or_none = collection()
        if request.method == "POST":
            def create_one(item: Any) -> dict[str, Any]:
                kind = record_type(item)
                return {"id": state.insert(kind, strip(item), g.user, assign), "success": True, "errors": []}
            return _json(run_all(items, create_one, all_or_none))

        def update_one(item: Any) -> dict[str, Any]:
            kind = record_type(item)
            rid = next((v for k, v in item.items() if k.lower() == "id"), None)
            if not rid:
                raise sf_error(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            norm = normalize_id(rid)
            if norm is None or PREFIXES.get(norm[:3]) != kind:
                raise sf_error(400, "MALFORMED_ID", f"{kind} ID: id value of incorrect type: {rid}", ["Id"])
            state.update(kind, norm, strip(item, "Id"), g.user, _assign_header())
            return {"id": norm, "success": True, "errors": []}
        return _json(run_all(items, update_one, all_or_none))

    @route(D + "/composite/sobjects/<sobject>", ["GET"])
    def collection_retrieve(ver: str, sobject: str) -> Response:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        fields = [f for f in request.args.get("fields", "").split(",") if f] or None
        out = []
        for rid in ids:
            rec = state.records[view.name].get(normalize_id(rid) or "")
            out.append(None if rec is None or rec.get("IsDeleted") else
                       state.render(view.name, rec, _version(ver), fields))
        return _json(out)

    @route(D + "/composite/sobjects/<sobject>/<ext>", ["PATCH"])
    def collection_upsert(ver: str, sobject: str, ext: str) -> Response:
        view = state.view_ci(sobject)
        if view is None:
            raise not_found()
        f = view.field(ext)
        if f is None or not (f["externalId"] or f["idLookup"]):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext}")
        items, all_or_none = collection()
        assign = request.headers.get("Sforce-Auto-Assign")
        seen: dict[Any, int] = {}
        for item in items:
            if isinstance(item, dict):
                value = next((v for k, v in item.items() if k.lower() == f["name"].lower()), None)
                if value is not None:
                    key = state._match_key(f, value)
                    seen[key] = seen.get(key, 0) + 1

        def upsert_one(item: Any) -> dict[str, Any]:
            kind = record_type(item, view.name)
            value = next((v for k, v in item.items() if k.lower() == f["name"].lower()), None)
            if value in (None, ""):
                raise sf_error(400, "MISSING_ARGUMENT", f"{f['name']} not specified", [])
            if seen.get(state._match_key(f, value), 0) > 1:
                raise sf_error(400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}",
                               [f["name"]])
            matches = state.find_by(view, f, value)
            if len(matches) > 1:
                raise sf_error(300, "DUPLICATE_EXTERNAL_ID",
                               f"{f['name']}: more than one record found for external "
                               f"id field: [{', '.join(m['Id'] for m in matches)}]", [f["name"]])
            if matches:
                state.update(kind, matches[0]["Id"], strip(item, f["name"]), g.user, _assign_header())
                return {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            return {"id": state.insert(kind, strip(item), g.user, assign), "success": True, "errors": [],
                    "created": True}
        return _json(run_all(items, upsert_one, all_or_none))

    @route(D + "/composite", ["POST"])
    def composite(ver: str) -> Response:
        body = _body()
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise sf_error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
        if len(subs) > COMPOSITE_MAX:
            raise sf_error(400, "LIMIT_EXCEEDED", f"Maximum number of subrequests ({COMPOSITE_MAX}) exceeded")
        all_or_none = bool(body.get("allOrNone", False))
        snap = state.snapshot() if all_or_none else None
        results: list[dict[str, Any]] = []
        refs: dict[str, Any] = {}
        failed = False
        for sub in subs:
            ref = str(sub.get("referenceId", ""))
            if failed and all_or_none:
                results.append({"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            try:
                url = _resolve_refs(str(sub.get("url", "")), refs)
                payload = _resolve_refs(sub.get("body"), refs)
            except KeyError as err:
                failed = True
                message = (f"Invalid reference specified. No value for {err.args[0]} found in a previous "
                           "subrequest.")
                results.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
                                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            status, out, headers = _dispatch(app, str(sub.get("method", "GET")), url, payload,
                                             sub.get("httpHeaders") or {})
            results.append({"body": out, "httpHeaders": headers, "httpStatusCode": status,
                            "referenceId": ref})
            refs[ref] = out
            failed = failed or status >= 400
        if snap is not None and failed:
            state.restore(snap)
            results = [r if r["httpStatusCode"] >= 400 else
                       {"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400,
                        "referenceId": r["referenceId"]}
                       for r in results]
        return _json({"compositeResponse": results})


def _resolve_refs(value: Any, refs: Mapping[str, Any]) -> Any:
    """Replace ``@{refId.path}`` with values from earlier composite results (KeyError if missing)."""
    if isinstance(value, dict):
        return {k: _resolve_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, refs) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def lookup(expr: str) -> Any:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", expr)
        if not parts or parts[0] not in refs:
            raise KeyError(expr)
        cur = refs[parts[0]]
        for part in parts[1:]:
            try:
                cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
            except (KeyError, IndexError, TypeError):
                raise KeyError(expr) from None
        return cur

    whole = re.fullmatch(r"@\{([^}]+)\}", value)
    if whole:
        return lookup(whole.group(1))
    return re.sub(r"@\{([^}]+)\}", lambda m: str(lookup(m.group(1))), value)


def _dispatch(app: Flask, method: str, url: str, body: Any,
              headers: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Run one composite subrequest through the app as the same user, without counting a call."""
    parts = urlsplit(url)
    sent = {"Authorization": request.headers.get("Authorization", ""), "Content-Type": "application/json"}
    if request.headers.get("Sforce-Auto-Assign"):
        sent["Sforce-Auto-Assign"] = request.headers["Sforce-Auto-Assign"]
    sent.update({str(k): str(v) for k, v in headers.items()})
    response = app.test_client().open(
        quote(parts.path, safe="/:@!$&'()*+,;=-._~%"), method=method.upper(),
        query_string=urlencode(parse_qsl(parts.query, keep_blank_values=True)),
        data=json.dumps(body) if body is not None else None, headers=sent,
        environ_base={"sandbox.internal": True, "REMOTE_ADDR": request.remote_addr or "127.0.0.1"})
    payload = json.loads(response.data) if response.data else None
    out_headers: dict[str, str] = {}
    if response.status_code == 201 and isinstance(payload, dict) and "id" in payload:
        out_headers["Location"] = f"{parts.path.rstrip('/')}/{payload['id']}"
    return response.status_code, payload, out_headers
