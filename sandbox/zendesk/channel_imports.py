"""External resources into the account on ``ZendeskState``: each pushed or pulled resource
becomes a comment on its ticket or a new (follow-up) ticket, by an end user made for its
author, and is remembered by its external id.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.channel_records import (
    CHANNEL_CLIENT,
    SUBJECT_MAX,
    ChannelTicket,
    Imported,
    Instance,
    Integration,
    api_error_text,
    resource_result,
)
from sandbox.zendesk.helpers import ApiError
from sandbox.zendesk.records import UpdateContext

if TYPE_CHECKING:
    from sandbox.zendesk.records import TicketRec


class ChannelImports:
    """External resources as tickets and comments on ``ZendeskState``."""

    # ----------------------------------------------------------- external resources

    def import_channel_resources(self, inst: Instance, resources: list[dict[str, Any]],
                                 request_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Tickets and comments from schema-valid external resources, in order: one result
        per resource (push docs' status codes) and the duplicates met. A resource that fails
        with a processing error halts the ones after it."""
        results: list[dict[str, Any]] = []
        duplicates: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        failed = False
        for res in resources:
            ext = res["external_id"]
            if failed:
                results.append(resource_result(ext, "halted"))
                continue
            known = self.channel_resources.get((inst.id, ext))
            if known is not None:
                results.append(resource_result(ext, "already_imported"))
                duplicates.append({"external_id": ext, "request_id": known.request_id,
                                   "ticket_id": known.ticket_id, "comment_id": known.comment_id})
                continue
            if res.get("parent_id") is not None and res.get("thread_id") is not None:
                results.append(resource_result(ext, "processing_error",
                                               "a resource may name its parent_id or its thread_id, not both"))
                failed = True
                continue
            try:
                event = self._import_channel_resource(inst, res, request_id)
            except ApiError as err:
                results.append(resource_result(ext, "processing_error", api_error_text(err)))
                failed = True
                continue
            if event is None:
                results.append(resource_result(ext, "could_not_locate_parent_external_resource", res["parent_id"]))
                continue
            results.append(resource_result(ext, "success"))
            created.append(event)
        if created:
            self.channel_event(self.channel_integrations[inst.integration_id],
                               "resources_created_from_external_ids",
                               {"request_id": request_id, "resource_events": created}, instance=inst)
        return results, duplicates

    def _channel_ticket_for(self, inst: Instance, res: Mapping[str, Any]) -> tuple[TicketRec | None, bool]:
        """(the ticket a resource belongs to, whether its parent was found): by ``parent_id``
        (an imported resource or a channelback), else by ``thread_id``; a closed ticket
        leads on to the follow-up made from it."""
        parent, thread = res.get("parent_id"), res.get("thread_id")
        tid: int | None = None
        if parent is not None:
            hit = self.channel_resources.get((inst.id, parent))
            if hit is None:
                return None, False
            tid = hit.ticket_id
        elif thread is not None:
            tid = self.channel_threads.get((inst.id, thread))
        while tid is not None and tid in self.channel_followups:
            tid = self.channel_followups[tid]
        t = self.tickets.get(tid) if tid is not None else None
        return (None if t is None or t.deleted else t), True

    def _import_channel_resource(self, inst: Instance, res: Mapping[str, Any],
                                 request_id: str) -> dict[str, Any] | None:
        """One resource as a comment on its ticket, or as a new (follow-up) ticket; the
        resource event for ``resources_created_from_external_ids``, None when the parent
        is unknown."""
        integ = self.channel_integrations[inst.integration_id]
        target, found = self._channel_ticket_for(inst, res)
        if not found:
            return None
        now = self.clock.now()
        ext = res["external_id"]
        author_ext = res["author"]["external_id"]
        author = self._channel_author(inst, res["author"], now)
        internal = res.get("internal_note") is True
        spec = {"body": res["message"], "author_id": author, "public": not internal}
        ctx = UpdateContext(actor=self.users[author], client=dict(CHANNEL_CLIENT))
        event: dict[str, Any]
        if target is not None and target.data["status"] != "closed":
            p: dict[str, Any] = {"comment": spec}
            if target.data["status"] in ("pending", "solved"):
                p["status"] = "open"
            with self._channel_writing(self._channel_via(integ, inst), internal, res.get("html_message")):
                self.update_ticket(target, p, ctx)
            assert ctx.comment is not None
            info = self.channel_tickets.get(target.id)
            if info is not None:
                info.parent_id = ext
                if isinstance(res.get("allow_channelback"), bool):
                    info.allow_channelback = res["allow_channelback"]
            home, comment_id = target.id, ctx.comment["id"]
            ticket_id = home
            event = {"type_id": "comment_on_existing_ticket"}
        else:
            follow = target if target is not None and integ.manifest.get("create_followup_tickets", True) else None
            p = {"requester_id": author, "subject": self._channel_subject(res), "comment": spec,
                 **self._channel_fields(res.get("fields"))}
            if follow is not None:
                p["via_followup_source_id"] = follow.id
            with self._channel_writing(self._channel_via(integ, inst, follow), internal, res.get("html_message")):
                t, _ = self.create_ticket(p, ctx)
            self.channel_tickets[t.id] = ChannelTicket(
                inst.id, res.get("thread_id"), ext, author_ext, res.get("allow_channelback", True) is not False)
            if res.get("thread_id") is not None:
                self.channel_threads[(inst.id, res["thread_id"])] = t.id
            home, comment_id = t.id, t.comments[0]["id"]
            ticket_id = home
            event = {"type_id": "comment_on_new_ticket"}
            if target is not None:
                self.channel_followups[target.id] = t.id
                if follow is not None:
                    # The schema's follow-up event: the comment is on follow_up_ticket_id, made
                    # from the closed ticket_id (Zendesk's docs say no more than the field names).
                    event = {"type_id": "comment_on_follow_up_ticket", "follow_up_ticket_id": t.id}
                    ticket_id = target.id
        self.channel_resources[(inst.id, ext)] = Imported(inst.id, ext, home, comment_id, request_id,
                                                          event["type_id"])
        event.update({"external_id": ext, "comment_id": comment_id, "ticket_id": ticket_id})
        return event

    def _channel_author(self, inst: Instance, author: Mapping[str, Any], now: float) -> int:
        """The end user an author's external id stands for in this account (made on first
        sight, named by ``name`` or else the external id, as the push docs say)."""
        key = (inst.id, str(author["external_id"]))
        uid = self.channel_authors.get(key)
        if uid is not None and uid in self.users:
            return uid
        uid = self._new_user({"name": author.get("name") or author["external_id"], "role": "end-user"}, now)
        self._add_identity(uid, "any_channel", str(author["external_id"]), now, primary=True)
        self.channel_authors[key] = uid
        return uid

    @staticmethod
    def _channel_subject(res: Mapping[str, Any]) -> str:
        """A new ticket's subject when ``fields`` names none: the message's first line,
        cut (the sandbox's choice: Zendesk's rule is not documented)."""
        line = next((ln.strip() for ln in str(res["message"]).splitlines() if ln.strip()), "")
        return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1].rstrip() + "…"

    def _channel_fields(self, entries: Any) -> dict[str, Any]:
        """The ``fields`` of a resource as ticket create parameters: system fields by their
        English name, custom fields by id or title (push docs); on creation only."""
        out: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        for entry in entries or []:
            key, value = entry["id"], entry["value"]
            name = str(key).strip().lower()
            if name in ("subject", "priority", "type", "status", "tags"):
                out[name] = value
                continue
            for f in self.fields.values():
                if f.get("removable") and (str(f["id"]) == str(key) or str(f["title"]).lower() == name):
                    custom.append({"id": f["id"], "value": value})
                    break
        if custom:
            out["custom_fields"] = custom
        return out

    def _channel_via(self, integ: Integration, inst: Instance, follow: TicketRec | None = None) -> dict[str, Any]:
        """``via`` of what the framework writes: channel any_channel, its service named in
        ``source.from.service_info`` as real any_channel tickets carry it."""
        source: dict[str, Any] = {"service_info": {
            "supports_channelback": bool(integ.urls.get("channelback_url")),
            "supports_clickthrough": bool(integ.urls.get("clickthrough_url")),
            "registered_integration_service_name": integ.name,
            "registered_integration_service_external_id": str(integ.manifest["id"]),
            "integration_service_instance_name": inst.name}}
        rel = None
        if follow is not None:
            source.update({"ticket_id": follow.id, "subject": follow.data["subject"], "channel": "any_channel"})
            rel = "follow_up"
        return {"channel": "any_channel", "source": {"from": source, "to": {}, "rel": rel}}
