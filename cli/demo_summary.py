"""What ``socialdesk demo`` prints at the end: the day in four short tables (what customers
wrote, what agents answered, Facebook and Instagram, the audit of the far side) and one
result line that says "0 lost, 0 duplicates" or names what went wrong."""
from __future__ import annotations

from typing import Any

from rich.text import Text

from cli.output import pairs


def summary_parts(summary: dict[str, Any]) -> list[Any]:
    """The summary's lines and tables, in the words of the helpdesk it ran on."""
    sections = _sections(summary)
    width = max(len(name) for _, rows in sections for name, _ in rows)
    parts: list[Any] = ["", Text(f"socialdesk demo: one scripted day on the sandbox (X, Facebook, Instagram -> "
                                 f"{summary['helpdesk'].title()} and back)", style="bold")]
    for heading, rows in sections:
        parts += [heading, pairs(rows, name_width=width)]
    return parts + verdict(summary)


def _sections(summary: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    made = "cases" if summary["helpdesk"] == "salesforce" else "tickets"
    meta = summary["meta"]
    return [
        ("what customers wrote on X", [
            ("posts and DMs", summary["mentions"]),
            (f"{made} opened", summary["tickets"]),
            (f"follow-ups added to their {made}", summary["comments"]),
            ("left out (a repost, the brand's own post)", summary["filtered"]),
            ("rules fired", _counted(summary["rules_fired"])),
            ("SLA coverage warnings", summary["sla_warnings"])]),
        ("what agents answered", [
            ("replies and DMs the brand posted on X", summary["replies_posted"]),
            ("waited for a lead's approval", summary["waited_for_approval"]),
            (f"held by a guard (a note on the {made[:-1]} says why)",
             _counted({why: n for why, n in summary["held"].items() if why != "other"})),
            ("moved to a DM by an agent", summary["moved_to_dm"]),
            ("escalated as viral", summary["escalated_viral"])]),
        ("Facebook and Instagram", [
            ("comments and DMs", meta["items"]), (f"{made} opened", meta["tickets"]),
            ("answered in place (under the comment, by message)", meta["answered_in_place"])]),
        ("audit of the far side (what the sandbox's services hold, not the daemon's counters)", [
            ("lost", _flagged(summary["lost"])), ("duplicates", _flagged(summary["duplicates"])),
            ("answers not posted", _flagged(summary["unanswered"]))]),
    ]


def verdict(summary: dict[str, Any]) -> list[Text]:
    """``result: 0 lost, 0 duplicates, ...`` in green, or in red followed by each problem."""
    counts = f"{summary['lost']} lost, {summary['duplicates']} duplicates, {summary['unanswered']} answers not posted"
    problems = list(summary["problems"])
    if summary["held"].get("other"):
        problems.append(f"{summary['held']['other']} item(s) quarantined for another reason than a guard "
                        "(see the daemon's warnings above)")
    if not problems and not (summary["lost"] or summary["duplicates"] or summary["unanswered"]):
        return [Text(f"result: {counts}; every post reached the helpdesk once and every answer went out once "
                     f"(took {summary['seconds']}s)", style="bold green")]
    return [Text(f"result: {counts}; PROBLEMS (took {summary['seconds']}s):", style="bold red"),
            *(Text(f"  - {problem}", style="red") for problem in problems)]


def _counted(counts: dict[str, int]) -> str:
    """``influencer 1, outage 1`` (``none`` when empty)."""
    total = sum(counts.values())
    return f"{total}: " + ", ".join(f"{name} {n}" for name, n in counts.items()) if counts else "none"


def _flagged(n: int) -> Text:
    return Text(str(n), style="green" if n == 0 else "bold red")
