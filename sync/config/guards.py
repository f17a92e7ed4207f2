"""A route's ``mirror:`` (how replies go back, and the guards they pass) and ``viral:``
(the viral and spike watchers) sections."""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import Field
from pydantic_core import PydanticCustomError

from sync.config import fields as f
from sync.config.constants import PRIORITIES, TAG_RE
from sync.config.fields import Found
from sync.config.sections import Section, leaf, read, section
from sync.config.values import (
    ApprovalConfig, MirrorConfig, PiiPattern, SpikeConfig, ViralConfig,
)
from sync.config.yaml_marks import describe

Duration = Union[float, Annotated[str, Field(pattern=r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h)?\s*)+$")]]
Priority = Literal["low", "normal", "high", "urgent"]
MetricCounts = dict[Literal["like_count", "retweet_count", "reply_count", "quote_count", "bookmark_count",
                            "impression_count"], int]


def _dm_tag(value: Any) -> str | None:
    text = f.string(value, nullable=True)
    if text is not None and not TAG_RE.fullmatch(text):
        f.fail(f"tag {text!r} must not contain spaces or commas")
    return text


class Approval(Section):
    """Whether a reply waits for a lead, who approves it by tagging the ticket."""

    required: Annotated[bool, leaf(f.flag, bool)] = False
    """true: every reply waits for a lead's approval."""
    tag: Annotated[str, leaf(f.tag, str)] = ApprovalConfig.tag
    """The ticket tag a lead sets to approve the reply."""


class PiiPatternModel(Section):
    """Personal data an admin names (an order number...) that must not appear in a public reply."""

    name: Annotated[str, leaf(f.string, str)]
    """What the pattern finds, as the held reply's note names it."""
    regex: Annotated[re.Pattern[str], leaf(lambda v: f.pattern(v, "hold every reply"), str)]
    """A Python regular expression; write it in single quotes so backslashes stay as written."""


def _pii_patterns(value: Any) -> tuple[PiiPattern, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        f.fail("expected a list like [{name: order number, regex: '\\bORD-\\d{6}\\b'}]; "
               f"got {describe(value)}")
    found, out, seen = Found(), [], {}
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            pattern = read(PiiPatternModel, item, None)
        except PydanticCustomError as err:
            found.take(err, (i,))
            pattern = None
        if isinstance(name, str) and name in seen:
            found.add(f"duplicate pattern name {name!r} (first at line {{first_line}})", (i, "name"),
                      first=(seen[name], "name"))
        elif isinstance(name, str):
            seen[name] = i
        if isinstance(pattern, PiiPatternModel):
            out.append(PiiPattern(name=pattern.name, regex=pattern.regex))
    found.check()
    return tuple(out)


class Mirror(Section):
    """How agent replies go back to the network, and the guards they pass first."""

    enabled: Annotated[bool, leaf(f.flag, bool)] = True
    """false: replies stay in the helpdesk."""
    dm_public_note: Annotated[str | None, leaf(lambda v: f.string(v, nullable=True), str, nullable=True)] = None
    """The public note posted once when a conversation moves to DM (null: none)."""
    private_note: Annotated[str | None, leaf(lambda v: f.string(v, nullable=True), str, nullable=True)] = None
    """Another name of dm_public_note; write one of them."""
    dm_tag: Annotated[str | None, leaf(_dm_tag, str, nullable=True)] = None
    """The tag put on tickets of direct messages."""
    thread_long_replies: Annotated[bool, leaf(f.flag, bool)] = True
    """A reply longer than a post goes out as a numbered thread."""
    sign_off: Annotated[str | None, leaf(lambda v: f.string(v, nullable=True), str, nullable=True)] = None
    """Text added to every reply."""
    max_age: Annotated[float | None, leaf(f.seconds, Duration, nullable=True)] = None
    """A reply to a conversation older than this is held (null: no limit)."""
    approval: Annotated[Approval, section(Approval)] = Field(default_factory=Approval)
    """Replies wait for a lead's approval."""
    pii_patterns: Annotated[tuple[PiiPattern, ...], leaf(_pii_patterns, list[PiiPatternModel],
                                                         nullable=True)] = ()
    """Personal data that must not appear in a public reply."""

    def value(self) -> MirrorConfig:
        given = self.given()
        values: dict[str, Any] = {k: v for k, v in given.items() if k not in ("private_note", "approval")}
        if "private_note" in given:
            values["dm_public_note"] = given["private_note"]
        if "approval" in given:
            values["approval"] = ApprovalConfig(**self.approval.given())
        if "pii_patterns" in given:
            values["pii_patterns"] = self.pii_patterns or ()
        return MirrorConfig(**values)


def _mirror_checks(raw: dict[str, Any], context: Any, found: Found) -> None:
    if "dm_public_note" in raw and "private_note" in raw:
        found.add("private_note and dm_public_note are one setting (the public note posted when a "
                  "conversation moves to DM); keep one", ("private_note",))


class Velocity(Section):
    """Counts gained per hour that make a post viral."""

    per_hour: Annotated[Mapping[str, int], leaf(lambda v: f.metric_counts(v, 1), MetricCounts)]
    """Public metric -> count gained in an hour, like {like_count: 200}."""


class Spike(Section):
    """A route's mention rate over ``window`` above ``factor`` x its baseline is one incident."""

    enabled: Annotated[bool, leaf(f.flag, bool)] = False
    window: Annotated[float, leaf(f.seconds, Duration)] = SpikeConfig.window
    factor: Annotated[float, leaf(lambda v: f.number(v, 1.0), float)] = SpikeConfig.factor
    min_mentions: Annotated[int, leaf(lambda v: f.count(v, 1), int)] = SpikeConfig.min_mentions

    def value(self) -> SpikeConfig:
        return SpikeConfig(**self.given())


class Viral(Section):
    """While a ticket is open its post's metrics are refreshed; crossing a threshold raises priority."""

    enabled: Annotated[bool, leaf(f.flag, bool)] = False
    refresh: Annotated[float, leaf(f.seconds, Duration)] = ViralConfig.refresh
    """How often an open ticket's post metrics are read again."""
    thresholds: Annotated[Mapping[str, int], leaf(lambda v: f.metric_counts(v, 1), MetricCounts)] = Field(default_factory=lambda: MappingProxyType({}))
    """Public metric -> count that makes a post viral."""
    velocity: Annotated[Velocity | None, section(Velocity)] = None
    """Counts gained per hour: {per_hour: {like_count: 200}}."""
    priority: Annotated[Priority, leaf(lambda v: f.choice(v, PRIORITIES, "priority"), Priority)] = "urgent"
    tag: Annotated[str, leaf(f.tag, str)] = ViralConfig.tag
    spike: Annotated[Spike, section(Spike)] = Field(default_factory=Spike)

    def value(self) -> ViralConfig:
        given = self.given()
        values = {k: v for k, v in given.items() if k not in ("velocity", "spike")}
        if given.get("velocity") is not None:
            values["velocity_per_hour"] = self.velocity.per_hour
        if "spike" in given:
            values["spike"] = self.spike.value()
        return ViralConfig(**values)


def _viral_checks(raw: dict[str, Any], context: Any, found: Found) -> None:
    """A watch that is on but can never fire: judged on the thresholds that are right."""
    if raw.get("enabled") is not True:
        return
    for key, counts in (("thresholds", raw.get("thresholds")), ("velocity", _per_hour(raw.get("velocity")))):
        if isinstance(counts, dict) and any(
                name in f.METRICS and isinstance(n, int) and not isinstance(n, bool) and n >= 1
                for name, n in counts.items()):
            return
    found.add("viral watch is on but has no thresholds or velocity, so it would never fire; add thresholds: "
              "{like_count: 500}, velocity: {per_hour: {like_count: 200}}, or both", ("enabled",))


def _per_hour(velocity: Any) -> Any:
    return velocity.get("per_hour") if isinstance(velocity, dict) else None


mirror_section = section(Mirror, _mirror_checks)
viral_section = section(Viral, _viral_checks)
