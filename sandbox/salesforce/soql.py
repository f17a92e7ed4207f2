"""SOQL subset: binding a parsed query to the catalog and running it over records."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.salesforce.ids import normalize_id, parse_datetime
from sandbox.salesforce.soql_parse import date_literal_range, FieldPath, SoqlError

if TYPE_CHECKING:
    from sandbox.salesforce.catalog import ObjectView
    from sandbox.salesforce.soql_parse import Lit, Query


STRINGY = ("string", "picklist", "email", "phone", "url", "textarea", "combobox", "multipicklist")
NUMERIC = ("int", "double", "currency", "percent")
TYPE_WORDS = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "int", "double": "double"}
NO_COLUMN = ("No such column '{name}' on entity '{obj}'. If you are attempting to use a custom field, be "
             "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
             "describe call for the appropriate names.")
NO_RELATION = ("Didn't understand relationship '{name}' in field path. If you are attempting to use a "
               "custom relationship, be sure to append the '__r' after the custom relationship name. "
               "Please reference your WSDL or the describe call for the appropriate names.")
NO_TYPE = ("sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure "
           "to append the '__c' after the entity name. Please reference your WSDL or the describe call for "
           "the appropriate names.")
NO_CHILD = ("Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to "
            "use a custom relationship, be sure to append the '__r' after the custom relationship name. "
            "Please reference your WSDL or the describe call for the appropriate names.")


class Soql:
    """Binds a parsed query to the org's schema, then filters, orders and renders records."""

    def __init__(self, state: "SalesforceState") -> None:
        self.state = state
        self.now = state.clock.now()

    # ----------------------------------------------------------- binding

    def bind(self, q: Query) -> ObjectView:
        view = self.state.view_ci(q.obj)
        if view is None:
            raise SoqlError("INVALID_TYPE", NO_TYPE.format(name=q.obj), q.obj_pos)
        q.obj = view.name
        for item in q.items:
            if isinstance(item, FieldPath):
                self.resolve(view, item)
            else:
                child = view.children.get(item.rel.lower())
                child_view = self.state.view(child[0]) if child else None
                if child is None or child_view is None:
                    raise SoqlError("INVALID_TYPE", NO_CHILD.format(name=item.rel), item.query.obj_pos)
                item.rel, item.child_field = child[2], child[1]
                item.query.obj = child_view.name
                self.bind(item.query)
        if q.where is not None:
            self.bind_condition(view, q.where)
        for path, _desc, _nulls in q.order:
            self.resolve(view, path, sort=True)
        return view

    def resolve(self, view: ObjectView, path: FieldPath, filter_: bool = False, sort: bool = False) -> None:
        parts = path.text.split(".")
        if len(parts) > 1 and parts[0].lower() == view.name.lower():
            parts = parts[1:]
        views = [view]
        chain: list[dict[str, Any]] = []
        for part in parts[:-1]:
            ref = next((v.rels[part.lower()] for v in views if part.lower() in v.rels), None)
            targets = [self.state.view(t) for t in (ref or {}).get("referenceTo", [])]
            views = [t for t in targets if t is not None]
            if ref is None or not views:
                raise SoqlError("INVALID_FIELD", NO_RELATION.format(name=part), path.pos)
            chain.append(ref)
        target = next((v.field(parts[-1]) for v in views if v.field(parts[-1]) is not None), None)
        if target is None:
            owner = "Name" if chain and chain[-1]["polymorphicForeignKey"] else views[0].name
            raise SoqlError("INVALID_FIELD", NO_COLUMN.format(name=parts[-1], obj=owner), path.pos)
        if filter_ and not target["filterable"]:
            raise SoqlError("INVALID_FIELD", f"field '{target['name']}' can not be filtered in a query call",
                            path.pos)
        if sort and not target["sortable"]:
            raise SoqlError("INVALID_FIELD", f"field '{target['name']}' can not be sorted in a query call",
                            path.pos)
        path.chain, path.target, path.views = chain, target, [v.name for v in views]

    def bind_condition(self, view: ObjectView, node: Any) -> None:
        kind = node[0]
        if kind in ("and", "or"):
            for child in node[1]:
                self.bind_condition(view, child)
        elif kind == "not":
            self.bind_condition(view, node[1])
        elif kind == "cmp":
            self.resolve(view, node[1], filter_=True)
            self.check_literal(node[1], node[3], node[2])
        elif kind == "in":
            self.resolve(view, node[1], filter_=True)
            for lit in node[3]:
                self.check_literal(node[1], lit, "=")
        elif kind == "like":
            self.resolve(view, node[1], filter_=True)
            target = node[1].target
            if target["type"] not in STRINGY or node[2].kind != "string":
                raise SoqlError("INVALID_FIELD", f"invalid operator on {target['type']} field: LIKE",
                                node[1].pos)

    def check_literal(self, path: FieldPath, lit: Lit, op: str) -> None:
        f = path.target or {}
        ftype, name = f["type"], f["name"]
        if lit.kind == "null":
            if op not in ("=", "!="):
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {lit.text}", lit.pos)
            return
        if ftype in ("id", "reference"):
            norm = normalize_id(lit.value) if lit.kind == "string" else None
            if norm is None:
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR",
                                f"invalid ID field: {lit.value if lit.kind == 'string' else lit.text}",
                                lit.pos)
            lit.value = norm
            return
        quoted = lit.kind == "string"
        expected = {"datetime": ("datetime", "dateliteral"), "date": ("date", "dateliteral"),
                    "boolean": ("bool",)}.get(ftype, ("number",) if ftype in NUMERIC else ("string",))
        if lit.kind not in expected:
            word = TYPE_WORDS.get(ftype, "string")
            how = "should be enclosed in quotes" if word == "string" else "should not be enclosed in quotes"
            raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type "
                            f"{word} and {how}", lit.pos if quoted or word == "string" else lit.pos)

    # ----------------------------------------------------------- evaluation

    def get(self, obj: str, rec: Mapping[str, Any], path: FieldPath) -> Any:
        cur_type, cur = obj, rec
        for ref in path.chain:
            cur_type, cur = self.state.related(cur_type, cur, ref["name"])
            if cur is None:
                return None
        view = self.state.view(cur_type)
        if view is None or view.field(path.target["name"]) is None:  # type: ignore[index]
            return None
        return self.state.value(cur_type, cur, path.target["name"])  # type: ignore[index]

    @staticmethod
    def norm(f: Mapping[str, Any], value: Any) -> Any:
        if value is None:
            return None
        ftype = f["type"]
        if ftype in STRINGY:
            return str(value) if f.get("caseSensitive") else str(value).casefold()
        if ftype == "datetime":
            return parse_datetime(value) if isinstance(value, str) else value
        if ftype in NUMERIC:
            return float(value)
        return value

    def matches(self, obj: str, rec: Mapping[str, Any], node: Any) -> bool:
        kind = node[0]
        if kind == "and":
            return all(self.matches(obj, rec, c) for c in node[1])
        if kind == "or":
            return any(self.matches(obj, rec, c) for c in node[1])
        if kind == "not":
            return not self.matches(obj, rec, node[1])
        path = node[1]
        value = self.get(obj, rec, path)
        if kind == "cmp":
            return self.compare(path.target, value, node[2], node[3])
        if kind == "in":
            hit = any(self.compare(path.target, value, "=", lit) for lit in node[3])
            return (not hit) if node[2] else hit
        if kind == "like":
            if value is None:
                return False
            return like_regex(node[2].value).fullmatch(str(value)) is not None
        raise AssertionError(kind)

    def compare(self, f: Mapping[str, Any], value: Any, op: str, lit: Lit) -> bool:
        if lit.kind == "null":
            return (value is None) == (op == "=")
        if value is None:
            return op == "!="
        if lit.kind == "dateliteral":
            start, end = date_literal_range(lit.value[0], lit.value[1], self.now)
            if f["type"] == "date":
                v = datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()
            else:
                v = self.norm(f, value)
            inside = start <= v < end
            return {"=": inside, "!=": not inside, "<": v < start, "<=": v < end, ">": v >= end,
                    ">=": v >= start}[op]
        a = self.norm(f, value)
        b = lit.value if lit.kind in ("datetime", "number", "bool") else self.norm(f, lit.value)
        if f["type"] in ("id", "reference"):
            b = lit.value
        try:
            return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            return False

    def order(self, obj: str, rows: list[dict[str, Any]],
              order: list[tuple[FieldPath, bool, bool]]) -> list[dict[str, Any]]:
        for path, desc, nulls_first in reversed(order):
            keyed = [(self.norm(path.target, self.get(obj, r, path)),
                      r) for r in rows]  # type: ignore[arg-type]
            nulls = [r for k, r in keyed if k is None]
            values = [(k, r) for k, r in keyed if k is not None]
            values.sort(key=lambda kr: kr[0], reverse=desc)
            ordered = [r for _, r in values]
            rows = nulls + ordered if nulls_first else ordered + nulls
        return rows

    def select(self, q: Query, include_deleted: bool,
               parent: tuple[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
        """(matching records, totalSize) for a bound query (or a child subquery of ``parent``)."""
        rows = [r for r in self.state.records.get(q.obj, {}).values()
                if include_deleted or not r.get("IsDeleted")]
        if parent is not None:
            rows = [r for r in rows if r.get(parent[0]) == parent[1]]
        if q.where is not None:
            rows = [r for r in rows if self.matches(q.obj, r, q.where)]
        if q.order:
            rows = self.order(q.obj, rows, q.order)
        if q.offset:
            rows = rows[q.offset:]
        if q.limit is not None:
            rows = rows[:q.limit]
        return rows, len(rows)

    def render(self, q: Query, rec: Mapping[str, Any], version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.state.attributes(q.obj, rec["Id"], version)}
        for item in q.items:
            if isinstance(item, FieldPath):
                self.put(out, q.obj, rec, item.chain, item.target, version)  # type: ignore[arg-type]
            else:
                children, total = self.select(item.query, False, (item.child_field, rec["Id"]))
                out[item.rel] = None if not children else {
                    "totalSize": total, "done": True,
                    "records": [self.render(item.query, c, version) for c in children]}
        return out

    def put(self, out: dict[str, Any], obj: str, rec: Mapping[str, Any], chain: list[dict[str, Any]],
            target: Mapping[str, Any], version: str) -> None:
        if not chain:
            view = self.state.view(obj)
            present = view is not None and view.field(target["name"]) is not None
            out[target["name"]] = self.state.value(obj, rec, target["name"]) if present else None
            return
        ref = chain[0]
        key = ref["relationshipName"]
        rtype, related = self.state.related(obj, rec, ref["name"])
        if related is None or rtype is None:
            out.setdefault(key, None)
            return
        node = out.get(key)
        if not isinstance(node, dict):
            attrs = self.state.attributes(rtype, related["Id"], version)
            if ref["polymorphicForeignKey"]:
                attrs["type"] = "Name"
            node = out[key] = {"attributes": attrs}
        self.put(node, rtype, related, chain[1:], target, version)


def like_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.compile(out, re.IGNORECASE | re.DOTALL)
