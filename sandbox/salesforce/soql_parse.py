"""SOQL subset: tokens, the query tree and the parser."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sandbox.salesforce.errors import sf_error
from sandbox.salesforce.ids import parse_date, parse_datetime

if TYPE_CHECKING:
    from sandbox.salesforce.errors import SfError


class SoqlError(Exception):
    """A query error; rendered with Salesforce's caret diagram (Row/Column) by ``soql_error``."""

    def __init__(self, code: str, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos


def soql_error(query: str, err: SoqlError) -> SfError:
    if err.pos is None:
        return sf_error(400, err.code, err.message)
    pos = min(max(err.pos, 0), len(query))
    row = query.count("\n", 0, pos) + 1
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start: line_end if line_end >= 0 else len(query)]
    col = pos - line_start + 1
    text = f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{err.message}"
    status = 400
    return sf_error(status, err.code, text)


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


_TOKEN_RE = re.compile(r"""
 (?P<ws>\s+)
|(?P<string>'(?:[^'\\]|\\.)*')
|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
|(?P<date>\d{4}-\d{2}-\d{2})
|(?P<number>-?\d+(?:\.\d+)?)
|(?P<op>!=|<>|<=|>=|=|<|>)
|(?P<punct>[(),])
|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
""", re.X)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\\%", "_": "\\_"}


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            bad = text[pos]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {bad}" if bad != '"' else
                            "unexpected token: '\"'", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, match.group(), pos))
        pos = match.end()
    return out


def unquote(token: str) -> str:
    """A SOQL string literal's value; LIKE wildcards escaped as \\% and \\_ stay escaped."""
    body, out, i = token[1:-1], "", 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal '{token}'. Illegal character "
                                "sequence '\\" + nxt + "' in string literal.")
            out += _ESCAPES[nxt]
            i += 2
        else:
            out += body[i]
            i += 1
    return out


DATE_LITERALS = ("TODAY", "YESTERDAY", "TOMORROW", "THIS_WEEK", "LAST_WEEK", "NEXT_WEEK", "THIS_MONTH",
                 "LAST_MONTH", "NEXT_MONTH", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_90_DAYS",
                 "NEXT_90_DAYS")


@dataclass
class Lit:
    kind: str  # string number datetime date bool null dateliteral
    value: Any
    pos: int
    text: str


@dataclass
class FieldPath:
    text: str
    pos: int
    chain: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] | None = None
    views: list[str] = field(default_factory=list)


@dataclass
class Subquery:
    rel: str
    query: "Query"
    pos: int
    child_field: str = ""


@dataclass
class Query:
    obj: str
    obj_pos: int
    items: list[FieldPath | Subquery]
    count: bool
    where: Any
    order: list[tuple[FieldPath, bool, bool]]
    limit: int | None
    offset: int | None


class Parser:
    """Recursive-descent parser for the supported SOQL subset."""

    STOP = {"FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING"}

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def is_kw(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok is not None and tok.kind == "ident" and tok.text.upper() == word

    def is_punct(self, ch: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "punct" and tok.text == ch

    def unexpected(self) -> SoqlError:
        tok = self.peek()
        if tok is None:
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", len(self.text))
        return SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise self.unexpected()
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> Tok:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.take()

    def expect_punct(self, ch: str) -> Tok:
        if not self.is_punct(ch):
            raise self.unexpected()
        return self.take()

    def parse(self) -> Query:
        query = self.query()
        if self.peek() is not None:
            raise self.unexpected()
        return query

    def query(self) -> Query:
        self.expect_kw("SELECT")
        items: list[FieldPath | Subquery] = []
        count = False
        while True:
            tok = self.peek()
            if tok is None:
                raise self.unexpected()
            after = self.peek(1)
            if self.is_kw("COUNT") and after is not None and after.text == "(":
                self.take()
                self.take()
                if not self.is_punct(")"):
                    raise SoqlError("MALFORMED_QUERY", "only COUNT() is supported by the sandbox", tok.pos)
                self.take()
                count = True
            elif self.is_punct("("):
                start = self.take()
                sub = self.query()
                self.expect_punct(")")
                items.append(Subquery(sub.obj, sub, start.pos))
            elif tok.kind == "ident" and tok.text.upper() not in self.STOP:
                self.take()
                items.append(FieldPath(tok.text, tok.pos))
            else:
                raise self.unexpected()
            if self.is_punct(","):
                self.take()
                continue
            break
        if count and items:
            raise SoqlError("MALFORMED_QUERY", "COUNT() and other fields cannot be selected together",
                            items[0].pos)
        self.expect_kw("FROM")
        obj = self.take()
        if obj.kind != "ident" or "." in obj.text:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {obj.text}", obj.pos)
        where = None
        if self.is_kw("WHERE"):
            self.take()
            where = self.condition()
        order: list[tuple[FieldPath, bool, bool]] = []
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            while True:
                tok = self.take()
                if tok.kind != "ident":
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
                desc = False
                if self.is_kw("ASC") or self.is_kw("DESC"):
                    desc = self.take().text.upper() == "DESC"
                nulls_first = not desc
                if self.is_kw("NULLS"):
                    self.take()
                    if not (self.is_kw("FIRST") or self.is_kw("LAST")):
                        raise self.unexpected()
                    nulls_first = self.take().text.upper() == "FIRST"
                order.append((FieldPath(tok.text, tok.pos), desc, nulls_first))
                if self.is_punct(","):
                    self.take()
                    continue
                break
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.take()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.take()
            offset = self.integer()
        return Query(obj.text, obj.pos, items, count, where, order, limit, offset)

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
        return int(tok.text)

    def condition(self) -> Any:
        first = self.unary()
        op = None
        if self.is_kw("AND") or self.is_kw("OR"):
            op = self.peek().text.upper()  # type: ignore[union-attr]
        if op is None:
            return first
        items = [first]
        while self.is_kw(op):
            self.take()
            items.append(self.unary())
        other = "OR" if op == "AND" else "AND"
        if self.is_kw(other):
            raise self.unexpected()
        return (op.lower(), items)

    def unary(self) -> Any:
        if self.is_kw("NOT"):
            self.take()
            return ("not", self.unary())
        if self.is_punct("("):
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        tok = self.take()
        if tok.kind != "ident" or tok.text.upper() in ("AND", "OR", "NOT"):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
        path = FieldPath(tok.text, tok.pos)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "op":
            self.take()
            op = "!=" if nxt.text == "<>" else nxt.text
            return ("cmp", path, op, self.value())
        negate = False
        if self.is_kw("NOT"):
            self.take()
            negate = True
            if not self.is_kw("IN"):
                raise self.unexpected()
        if self.is_kw("IN"):
            self.take()
            self.expect_punct("(")
            if self.is_kw("SELECT"):
                raise SoqlError("MALFORMED_QUERY", "semi-join subqueries are not supported by the sandbox",
                                self.peek().pos)  # type: ignore[union-attr]
            values = [self.value()]
            while self.is_punct(","):
                self.take()
                values.append(self.value())
            self.expect_punct(")")
            return ("in", path, negate, values)
        if self.is_kw("LIKE"):
            self.take()
            return ("like", path, self.value())
        raise self.unexpected()

    def value(self) -> Lit:
        tok = self.take()
        if tok.kind == "string":
            return Lit("string", unquote(tok.text), tok.pos, tok.text)
        if tok.kind == "number":
            return Lit("number", float(tok.text), tok.pos, tok.text)
        if tok.kind == "datetime":
            parsed = parse_datetime(tok.text)
            if parsed is None:
                raise SoqlError("MALFORMED_QUERY", f"line 1:{tok.pos} no viable alternative at character ' '",
                                tok.pos)
            return Lit("datetime", parsed, tok.pos, tok.text)
        if tok.kind == "date":
            if parse_date(tok.text) is None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)
            return Lit("date", tok.text, tok.pos, tok.text)
        if tok.kind == "ident":
            word = tok.text.upper()
            if word == "NULL":
                return Lit("null", None, tok.pos, tok.text)
            if word in ("TRUE", "FALSE"):
                return Lit("bool", word == "TRUE", tok.pos, tok.text)
            name, _, n = word.partition(":")
            if name in DATE_LITERALS and bool(n) == (name in ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO")):
                return Lit("dateliteral", (name, int(n) if n else 0), tok.pos, tok.text)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {tok.text}", tok.pos)


def date_literal_range(name: str, n: int, now: float) -> tuple[float, float]:
    """[start, end) in epoch seconds (UTC days) for a SOQL date literal."""
    today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    month_start = today.replace(day=1)

    def add_months(d: datetime, k: int) -> datetime:
        m = d.month - 1 + k
        return d.replace(year=d.year + m // 12, month=m % 12 + 1, day=1)

    ranges = {
        "TODAY": (today, today + day), "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_WEEK": (week_start, week_start + 7 * day), "LAST_WEEK": (week_start - 7 * day, week_start),
        "NEXT_WEEK": (week_start + 7 * day, week_start + 14 * day),
        "THIS_MONTH": (month_start, add_months(month_start, 1)),
        "LAST_MONTH": (add_months(month_start, -1), month_start),
        "NEXT_MONTH": (add_months(month_start, 1), add_months(month_start, 2)),
        "LAST_N_DAYS": (today - n * day, today + day), "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_90_DAYS": (today - 90 * day, today + day), "NEXT_90_DAYS": (today + day, today + 91 * day),
    }
    start, end = ranges[name]
    return start.timestamp(), end.timestamp()
