"""The account's write path widened for the Channel Framework on ``ZendeskState``: a write
the framework makes is stamped ``via`` any_channel before triggers see it; an agent's
public comment on an any_channel ticket queues a channelback; the ticket JSON says
whether it allows one (``allow_channelback``).
"""
from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec, UpdateContext


class ChannelWrites:
    """``run_triggers`` and ``ticket_json`` of ``ZendeskState``, widened for any_channel."""

    # ----------------------------------------------------------- the account's write path

    @contextlib.contextmanager
    def _channel_writing(self, via: dict[str, Any], internal: bool, html: Any) -> Iterator[None]:
        """A write made inside is the framework's: ``run_triggers`` stamps it."""
        self._channel_write = {"via": via, "internal": internal, "html": html}
        try:
            yield
        finally:
            self._channel_write = None

    def run_triggers(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any], now: float) -> None:
        write = self._channel_write
        if write is not None:
            self._stamp_channel_write(t, ctx, audit, write)
        super().run_triggers(t, ctx, audit, now)  # type: ignore[misc]
        if write is None and ctx.comment is not None:
            self._queue_channelback(t, ctx.comment)

    def _stamp_channel_write(self, t: TicketRec, ctx: UpdateContext, audit: dict[str, Any],
                             write: Mapping[str, Any]) -> None:
        """The write the framework makes, as Zendesk records it: ``via`` any_channel on
        the ticket (when made), the audit and the comment; an ``internal_note`` private;
        an ``html_message`` as the comment's HTML."""
        via = write["via"]
        creating = ctx.update_type == "Create"
        audit["via"] = copy.deepcopy(via)
        if creating:
            t.data["via"] = copy.deepcopy(via)
        comment = ctx.comment
        if comment is None:
            return
        comment["via"] = copy.deepcopy(via)
        event = next((e for e in audit["events"] if e.get("type") == "Comment" and e["id"] == comment["id"]), {})
        if write["internal"]:
            comment["public"] = event["public"] = False
            if creating:
                t.data["is_public"] = t.data["initial_public"] = False
        if write["html"]:
            markup = f'<div class="zd-comment" dir="auto">{write["html"]}</div>'
            comment["html_body"] = event["html_body"] = markup

    def ticket_json(self, t: TicketRec) -> dict[str, Any]:
        out: dict[str, Any] = super().ticket_json(t)  # type: ignore[misc]
        info = self.channel_tickets.get(t.id)
        if info is not None:
            out["allow_channelback"] = info.allow_channelback and self._channelback_url(info) is not None
        return out
