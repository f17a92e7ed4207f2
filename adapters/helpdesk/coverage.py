"""The words every helpdesk's SLA coverage check speaks (``ReportsSlaCoverage``).

A route's ticket outcomes come in as (label, mention kinds, settings by name); each
helpdesk adapter answers with an ``SlaCoverage`` whose outcomes and findings say
themselves as report lines, so the report in ``sync/`` needs no vendor knowledge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol

from adapters.base import SocialdeskError

RouteOutcome = tuple[str, tuple[str, ...], Mapping[str, Any]]
"""label, the mention kinds it applies to, the ticket settings (names, not ids)."""


@dataclass(frozen=True)
class Unknown:
    """A ticket field value this check cannot know; conditions on it cannot be evaluated."""

    why: str

    def __str__(self) -> str:
        return f"? ({self.why})"


class CoveredOutcome(Protocol):
    """One outcome's coverage as a helpdesk reports it."""

    label: str
    kinds: tuple[str, ...]
    warnings: tuple[str, ...]

    def lines(self) -> list[str]:
        """The outcome's report lines (indented two spaces; warnings start ``WARNING``)."""
        raise NotImplementedError


class Finding(Protocol):
    """A rule of the helpdesk that misbehaves on social tickets (e-mails a requester...)."""

    @property
    def certain(self) -> bool:
        raise NotImplementedError

    @property
    def warning(self) -> str:
        raise NotImplementedError

    def lines(self) -> list[str]:
        raise NotImplementedError


@dataclass(frozen=True)
class SlaCoverage:
    """What a helpdesk does with a route's ticket outcomes: each outcome's coverage, rules
    found misbehaving, how much of its setup it read, and what it could not read."""

    outcomes: tuple[CoveredOutcome, ...] = ()
    findings: tuple[Finding, ...] = ()
    policies: int | None = None             # SLA policies read (None: none, or not readable)
    active_triggers: int | None = None
    problems: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()            # report lines after the outcomes (said once per route)


class Names:
    """Names -> ids with ``resolve``, each asked once; failures collected, not raised."""

    def __init__(self, resolve: Callable[[str, Any], Any]) -> None:
        self.resolve = resolve
        self.cache: dict[tuple[str, str], Any] = {}
        self.problems: list[str] = []

    def __call__(self, kind: str, name: Any) -> Any:
        if name is None:
            return None
        key = (kind, str(name))
        if key not in self.cache:
            try:
                self.cache[key] = str(self.resolve(kind, name))
            except SocialdeskError as err:
                self.cache[key] = Unknown(f"{kind} {name!r} not resolved")
                self.problems.append(f"{kind} {name!r}: {err}")
        return self.cache[key]


def quoted(value: Any) -> str:
    return f'"{value}"'


def kinds_text(kinds: Iterable[str]) -> str:
    kinds = list(kinds)
    return f" [{', '.join(kinds)}]" if kinds else ""
