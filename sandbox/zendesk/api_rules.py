"""Trigger and SLA policy routes."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping

from flask import Flask, Response, request

from sandbox.zendesk.api_catalog import _read_routes
from sandbox.zendesk.helpers import _found, iso, not_found, record_invalid
from sandbox.zendesk.wire import _api_warn, _json, _payload, _unpaged, paginate

if TYPE_CHECKING:
    from sandbox.zendesk.model import ZendeskState


def _conditions_from(spec: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    conditions = spec.get("conditions")
    if isinstance(conditions, Mapping):
        return {"all": list(conditions.get("all") or []), "any": list(conditions.get("any") or [])}
    if "all" in spec or "any" in spec:
        return {"all": list(spec.get("all") or []), "any": list(spec.get("any") or [])}
    return copy.deepcopy(dict(current)) if current else {"all": [], "any": []}


def _install_rules(app: Flask, state: ZendeskState) -> None:
    def check_actions(actions: Any) -> list[dict[str, Any]]:
        if not isinstance(actions, list) or not actions:
            raise record_invalid("actions", "Actions: cannot be blank", "BlankValue")
        for action in actions:
            if not isinstance(action, Mapping) or not action.get("field"):
                raise record_invalid("actions", "Actions: is invalid")
            if action["field"] == "notification_webhook":
                value = action.get("value")
                hook = state.webhooks.get(str(value[0])) if isinstance(value, list) and value else None
                if hook is None:
                    raise record_invalid("actions", "Actions: webhook not found")
                if "conditional_ticket_events" not in hook["subscriptions"]:
                    raise record_invalid("actions", "Actions: a webhook subscribed to Zendesk events "
                                                    "cannot be connected to a trigger")
        return [dict(a) for a in actions]

    @app.route("/api/v2/triggers", methods=["GET"])
    @app.route("/api/v2/triggers/active", methods=["GET"])
    def list_triggers() -> Response:
        with state.lock:
            triggers = list(state.triggers.values())
            if request.path.endswith("/active") or request.args.get("active") == "true":
                triggers = [tr for tr in triggers if tr["active"]]
            elif request.args.get("active") == "false":
                triggers = [tr for tr in triggers if not tr["active"]]
            return _json(paginate(state, "triggers", triggers, lambda tr: (tr["position"], tr["id"]),
                                  state.trigger_json))

    @app.route("/api/v2/triggers", methods=["POST"])
    def create_trigger() -> Response:
        spec = _payload("trigger")
        with state.lock:
            if not spec.get("title"):
                raise record_invalid("title", "Title: cannot be blank", "BlankValue")
            actions = check_actions(spec.get("actions"))
            now = state.clock.now()
            tid = state.ids.next()
            position = spec.get("position")
            if not isinstance(position, int):
                position = max((tr["position"] for tr in state.triggers.values()), default=0) + 1
            state.triggers[tid] = {
                "id": tid, "title": str(spec["title"]), "description": spec.get("description"),
                "active": spec.get("active", True) is not False, "position": position,
                "actions": actions, "conditions": _conditions_from(spec, None),
                "category_id": str(spec.get("category_id") or state.trigger_category_id),
                "_created": now, "_updated": now}
            return _json({"trigger": state.trigger_json(state.triggers[tid])}, 201,
                         {"Location": state.url(f"triggers/{tid}.json")})

    _read_routes(app, state, "triggers", "triggers", "trigger", state.trigger_json)

    @app.route("/api/v2/triggers/<int:tid>", methods=["PUT"])
    def update_trigger(tid: int) -> Response:
        spec = _payload("trigger")
        with state.lock:
            tr = _found(state.triggers, tid)
            if "title" in spec:
                if not spec["title"]:
                    raise record_invalid("title", "Title: cannot be blank", "BlankValue")
                tr["title"] = str(spec["title"])
            if "actions" in spec:
                tr["actions"] = check_actions(spec["actions"])
            for key in ("description", "position", "category_id"):
                if key in spec:
                    tr[key] = spec[key]
            if "active" in spec:
                tr["active"] = spec["active"] is not False
            tr["conditions"] = _conditions_from(spec, tr["conditions"])
            tr["_updated"] = state.clock.now()
            allowed = frozenset({"title", "description", "active", "position", "actions", "conditions",
                                 "all", "any", "category_id"})
            return _json({"trigger": state.trigger_json(tr)},
                         headers={"Location": state.url(f"triggers/{tid}.json"),
                                  **_api_warn("triggers", "update", spec, "trigger", allowed)})

    @app.route("/api/v2/triggers/<int:tid>", methods=["DELETE"])
    def delete_trigger(tid: int) -> Response:
        with state.lock:
            if state.triggers.pop(tid, None) is None:
                raise not_found()
            return Response(b"", status=204)

    def sla_json(p: Mapping[str, Any]) -> dict[str, Any]:
        metrics = []
        for m in p["policy_metrics"]:
            metric = dict(m)
            if isinstance(metric.get("target"), int):
                metric["target_in_seconds"] = metric["target"] * 60
            metrics.append(metric)
        return {"url": state.url(f"slas/policies/{p['id']}.json"), "id": p["id"], "title": p["title"],
                "description": p["description"], "position": p["position"],
                "filter": copy.deepcopy(p["filter"]), "policy_metrics": metrics,
                "created_at": iso(p["_created"]), "updated_at": iso(p["_updated"])}

    def apply_sla(p: dict[str, Any], spec: Mapping[str, Any]) -> None:
        if "title" in spec:
            p["title"] = spec["title"]
        if "description" in spec:
            p["description"] = spec["description"]
        if "position" in spec:
            p["position"] = spec["position"]
        if "filter" in spec:
            flt = spec["filter"]
            if not isinstance(flt, Mapping):
                raise record_invalid("filter", "Filter: is invalid")
            p["filter"] = {"all": list(flt.get("all") or []), "any": list(flt.get("any") or [])}
        if "policy_metrics" in spec:
            metrics = spec["policy_metrics"]
            if not isinstance(metrics, list):
                raise record_invalid("policy_metrics", "Policy metrics: is invalid")
            p["policy_metrics"] = [
                {"priority": m.get("priority"), "metric": m.get("metric"), "target": m.get("target"),
                 "business_hours": bool(m.get("business_hours", False))}
                for m in metrics if isinstance(m, Mapping)]
        if not p.get("title"):
            raise record_invalid("title", "Title: cannot be blank", "BlankValue")
        if p.get("filter") is None:
            raise record_invalid("filter", "Filter: cannot be blank", "BlankValue")

    @app.route("/api/v2/slas/policies", methods=["GET"])
    def list_slas() -> Response:
        with state.lock:
            policies = sorted(state.sla_policies.values(), key=lambda p: (p["position"], p["id"]))
            return _json(_unpaged("sla_policies", [sla_json(p) for p in policies]))

    @app.route("/api/v2/slas/policies", methods=["POST"])
    def create_sla() -> Response:
        spec = _payload("sla_policy")
        with state.lock:
            now = state.clock.now()
            pid = state.ids.next()
            policy: dict[str, Any] = {"id": pid, "title": None, "description": "", "filter": None,
                                      "policy_metrics": [], "_created": now, "_updated": now,
                                      "position": len(state.sla_policies) + 1}
            apply_sla(policy, spec)
            state.sla_policies[pid] = policy
            return _json({"sla_policy": sla_json(policy)}, 201,
                         {"Location": state.url(f"slas/policies/{pid}.json")})

    @app.route("/api/v2/slas/policies/<int:pid>", methods=["GET", "PUT", "DELETE"])
    def one_sla(pid: int) -> Response:
        spec = _payload("sla_policy") if request.method == "PUT" else None
        with state.lock:
            policy = _found(state.sla_policies, pid)
            if request.method == "DELETE":
                del state.sla_policies[pid]
                return Response(b"", status=204)
            if spec is not None:
                apply_sla(policy, spec)
                policy["_updated"] = state.clock.now()
            return _json({"sla_policy": sla_json(policy)})
