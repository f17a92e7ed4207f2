"""Salesforce record ids (15 and 18 characters) and its date and time formats."""
from __future__ import annotations

import itertools
import re
import secrets
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")
_ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")


def id_suffix(id15: str) -> str:
    """Salesforce's 3-character case-safety suffix for a 15-character id."""
    out = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out += _SUFFIX[bits]
    return out


def to18(id15: str) -> str:
    return id15 + id_suffix(id15)


def normalize_id(value: Any) -> str | None:
    """The canonical 18-character form of a 15/18-character id, or None if it is not one."""
    if not isinstance(value, str):
        return None
    if _ID15.match(value):
        return to18(value)
    if _ID18.match(value):
        base, suffix = value[:15], value[15:].upper()
        if not all(c in _SUFFIX for c in suffix):
            return None
        fixed = ""
        for chunk in range(3):
            bits = _SUFFIX.index(suffix[chunk])
            for i, ch in enumerate(base[chunk * 5:chunk * 5 + 5]):
                fixed += ch.upper() if bits & (1 << i) else ch.lower() if ch.isalpha() else ch
        return to18(fixed) if to18(fixed)[15:] == suffix else None
    return None


class IdFactory:
    """18-character ids: key prefix, pod, '0', a base-62 counter, checksum (like 0037e00001WZ30qAAD)."""

    def __init__(self) -> None:
        self.pod = secrets.choice("123456789") + secrets.choice("abcdefghjkmnpqrstuvwxyz")
        self._start = 1_000_000 + secrets.randbelow(50_000_000)
        self.reset()

    def reset(self) -> None:
        self._counters: dict[str, Iterator[int]] = {}

    def next(self, prefix: str) -> str:
        offset = int.from_bytes(prefix.encode(), "big") * 7919 % 1_000_003
        counter = self._counters.setdefault(prefix, itertools.count(self._start + offset))
        n, digits = next(counter), ""
        while n:
            n, r = divmod(n, 62)
            digits = BASE62[r] + digits
        return to18(f"{prefix}{self.pod}0{digits.rjust(9, '0')}")


def sf_time(ts: float) -> str:
    """REST datetime: ``2013-05-20T20:49:32.000+0000`` (second precision, as the API reports)."""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def om_time(value: str) -> str:
    """Outbound-message datetime: ``2017-12-11T21:49:24.000Z``."""
    return value[:23] + "Z" if value.endswith("+0000") else value


_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                    r"(Z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(value: str) -> float | None:
    match = _DT_RE.match(value.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, _frac, tz = match.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.timestamp()


def parse_date(value: str) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if re.match(r"^\d{4}-\d{2}-\d{2}$", value) else None
    except ValueError:
        return None


def release_label(major: int) -> str:
    """Release name of an API version (59 -> "Winter '24")."""
    k = major - 59
    return f"{('Winter', 'Spring', 'Summer')[k % 3]} '{24 + k // 3:02d}"
