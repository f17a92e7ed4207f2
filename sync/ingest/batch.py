"""Writing a backlog in batches: a handful of calls (or background jobs) for many rows.

Requesters first, then comments on open tickets and new tickets. Each background job is
noted with exactly the rows it holds as soon as it is queued, so a crash or a lost answer
never writes a row twice: a later attempt waits for that job, then looks for the effect.
Rows already tried once are not batched; they go the careful single way.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from adapters.base import (
    Author, BatchesWrites, Mention, NewTicket, OnSubmitted, RateLimited, SkippableError, SocialdeskError, TicketRef,
    WritesSideBySide,
)
from sync.checkpoints import checkpoint
from sync.context import RouteContext
from sync.failures import halt, work_rows
from sync.ingest.changes import is_change
from sync.ingest.composer import TicketComposer, conversation_key, filtered, row_mention
from sync.ingest.writer import TicketWriter
from sync.policy import Action, backoff, decide
from sync.store import Finished, InboxRow, LinkRow

Comment = tuple[InboxRow, Mention, LinkRow]
Create = tuple[InboxRow, Mention, NewTicket]


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), max(size, 1))]


def jobs_for(items: int, per_job: int) -> int:
    """Jobs (or calls) ``items`` take at ``per_job`` a job."""
    return -(-items // per_job)


def fit_jobs(comments: list[Any], creates: list[Any], per_job: int,
             jobs: int) -> tuple[list[Any], list[Any], list[int]]:
    """Trim comments and new tickets to ``jobs`` jobs in flight together, cutting the
    smallest part-filled job first; the rows cut (from the end) wait for the next round."""
    later: list[int] = []
    while comments and creates and jobs_for(len(comments), per_job) + jobs_for(len(creates), per_job) > jobs:
        cut_comments = len(comments) % per_job or per_job
        cut_creates = len(creates) % per_job or per_job
        if cut_comments <= cut_creates:
            later += [row.id for row, *_ in comments[-cut_comments:]]
            comments = comments[:-cut_comments]
        else:
            later += [row.id for row, *_ in creates[-cut_creates:]]
            creates = creates[:-cut_creates]
    return comments, creates, later


class BatchWriter:
    """Writes claimed inbox rows a batch at a time through a ``BatchesWrites`` helpdesk."""

    def __init__(self, ctx: RouteContext, desk: BatchesWrites, composer: TicketComposer,
                 single: TicketWriter) -> None:
        self.ctx = ctx
        self.desk = desk
        self.composer = composer
        self.single = single

    @property
    def capacity(self) -> int:
        """Rows one call may take: ``batch_max`` a job, ``batch_jobs`` jobs at once."""
        return int(self.desk.batch_max) * int(self.desk.batch_jobs)

    def write(self, rows: list[InboxRow]) -> int:
        """Write a backlog in batches; rows already tried once go the careful single way."""
        ctx = self.ctx
        done = 0
        readable: list[tuple[InboxRow, Mention]] = []
        changes = [row for row in rows if is_change(row)]   # notes on tickets: one at a time
        if changes:
            done += work_rows(ctx, "inbox", changes, self.single.ingest, self.single.quarantine, "ingest")
        for row in rows:
            if is_change(row):
                continue
            try:
                m = row_mention(row)
            except (KeyError, TypeError, ValueError) as err:
                self.single.quarantine(row, err)
                continue
            reason = filtered(ctx.settings, ctx.me, m, row.payload)
            if reason:
                ctx.store.finish_inbox(row.id, "filtered", note=reason)
                ctx.stats.filtered += 1
                done += 1
            else:
                readable.append((row, m))
        # A row tried before may have had its effect: it goes the single way, which looks first.
        singles = [row for row, _ in readable if row.attempts or row.job]
        busy = {conversation_key(m) for row, m in readable if row.attempts or row.job}
        fresh: dict[str, tuple[InboxRow, Mention]] = {}
        later: list[int] = []
        for row, m in readable:
            if row.attempts or row.job:
                continue
            key = conversation_key(m)
            if key in busy or key in fresh:
                later.append(row.id)  # one post per conversation a round keeps them in order
            else:
                fresh[key] = (row, m)
        ctx.store.release("inbox", later)
        if singles:
            done += work_rows(ctx, "inbox", singles, self.single.ingest, self.single.quarantine, "ingest")
        batch = list(fresh.values())
        if not batch:
            return done
        if not ctx.health.ready("helpdesk") or ctx.health.parked:
            ctx.store.release("inbox", [row.id for row, _ in batch])
            return done
        handed_back: list[int] = []  # rows left for the next round take no part in a failure
        begun: set[int] = set()      # rows whose attempt this round has counted
        try:
            done += self._write(batch, handed_back, begun)
        except SocialdeskError as err:
            self._failed(err, [row for row, _ in batch if row.id not in handed_back], begun)
        return done

    def _failed(self, err: SocialdeskError, rows: list[InboxRow], begun: set[int]) -> None:
        """A whole batch failed: the policy table says what becomes of its rows. A refusal
        of the whole batch that names no row (skippable) counts an attempt on every row, so
        each goes the single way next time and is judged alone there: one bad item cannot
        hold a whole batch back round after round."""
        ctx = self.ctx
        action = decide(err, "batch")
        if action is Action.PAUSE and isinstance(err, RateLimited):
            ctx.health.pause("helpdesk", err)
            for row in rows:
                ctx.store.retry_later("inbox", row.id, str(err), err.retry_after)
        elif action in (Action.PARK, Action.WAIT):
            halt(ctx, err, action)
            ctx.store.release("inbox", [row.id for row in rows])
        elif action is Action.RETRY:
            if isinstance(err, SkippableError) and rows:
                ctx.store.begin_attempts([row.id for row in rows if row.id not in begun], rows[0].owner)
            for row in rows:
                ctx.store.retry_later("inbox", row.id, str(err), backoff(row.attempts + 1))
        else:
            raise err

    def _write(self, batch: list[tuple[InboxRow, Mention]], handed_back: list[int], begun: set[int]) -> int:
        """Requesters, then comments on open tickets and new tickets: a call or a job each,
        the comments' and the tickets' jobs in flight together when they fit the helpdesk's
        share of jobs (``WritesSideBySide``); rows that would overfill them are released for
        the next round and named in ``handed_back``."""
        ctx, desk = self.ctx, self.desk
        per_job, jobs = int(desk.batch_max), int(desk.batch_jobs)
        requesters = self.requesters(batch)
        latest = ctx.store.latest_links(ctx.name, [conversation_key(m) for _, m in batch])
        links = {row.id: latest.get(conversation_key(m)) for row, m in batch}
        tickets = self.tickets([link.ticket_id for link in links.values() if link is not None])
        comments: list[Comment] = []
        creates: list[Create] = []
        for row, m in batch:
            requester = requesters.get(m.author.id)
            if isinstance(requester, Exception):
                self.single.quarantine(row, requester)
                continue
            link = links[row.id]
            ticket = tickets.get(link.ticket_id) if link is not None else None
            if link is not None and ticket is not None and not ticket.is_closed:
                comments.append((row, m, link))
            else:
                creates.append((row, m, self.composer.new_ticket(m, requester, ticket)))
        both = desk if isinstance(desk, WritesSideBySide) else None
        if both is not None and comments and creates:
            comments, creates, later = fit_jobs(comments, creates, per_job, jobs)
            ctx.store.release("inbox", later)
            handed_back.extend(later)
        owned = set(ctx.store.begin_attempts([row.id for row, *_ in comments + creates], batch[0][0].owner))
        begun.update(owned)
        comments = [c for c in comments if c[0].id in owned]
        creates = [c for c in creates if c[0].id in owned]
        if (both is not None and comments and creates
                and jobs_for(len(comments), per_job) + jobs_for(len(creates), per_job) <= jobs):
            # One round of jobs for both: the helpdesk's jobs run side by side.
            ids = [row.id for row, *_ in comments + creates]
            items = self._comment_items(comments, requesters)
            commented, created = self._submit(ids, lambda submitted: both.write_tickets(
                items, [new for *_, new in creates], on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done = self._finish_creates(creates, created)  # needs no call: closed first
            return done + self._finish_comments(comments, commented)
        done = 0
        for part in chunks(comments, self.capacity):
            items = self._comment_items(part, requesters)
            results = self._submit([row.id for row, *_ in part],
                                   lambda submitted: desk.add_comments(items, on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done += self._finish_comments(part, results)
        for part in chunks(creates, self.capacity):
            news = [new for *_, new in part]
            results = self._submit([row.id for row, *_ in part],
                                   lambda submitted: desk.create_tickets(news, on_submitted=submitted))
            checkpoint("ingest.after_batch_write")
            done += self._finish_creates(part, results)
        return done

    def _comment_items(self, comments: list[Comment],
                       requesters: dict[str, Any]) -> list[tuple[str, str, bool, str | None]]:
        return [(link.ticket_id, self.composer.comment_body(m), True, requesters[m.author.id])
                for _, m, link in comments]

    def _finish_comments(self, comments: list[Comment], results: list[Any]) -> int:
        """Close the rows whose comment landed, advancing their links, in one step; then
        move their tickets' reply deadlines."""
        landed: list[tuple[str, Mention]] = []
        finished: list[Finished] = []
        for (row, m, link), failed in zip(comments, results):
            if self._item_failed(row, failed):
                continue
            landed.append((link.ticket_id, m))
            finished.append(Finished(row.id, "done", ticket_id=link.ticket_id, link_post=(link.id, m.id)))
        self.ctx.store.finish_inbox_many(finished)
        self.ctx.stats.comments += len(finished)
        for ticket_id, m in landed:
            self.single.written("updated", ticket_id, m)
        self.single.move_deadlines(landed)
        return len(finished)

    def _finish_creates(self, creates: list[Create], results: list[Any]) -> int:
        """Close the rows whose ticket was opened, with their new links, in one step."""
        finished: list[Finished] = []
        made: list[tuple[str, Mention]] = []
        for (row, m, _), ref in zip(creates, results):
            if self._item_failed(row, ref):
                continue
            finished.append(Finished(row.id, "done", ticket_id=ref.id, link=self.composer.link_values(m, ref)))
            made.append((ref.id, m))
        self.ctx.store.finish_inbox_many(finished)
        self.ctx.stats.tickets += len(finished)
        for ticket_id, m in made:
            self.single.written("created", ticket_id, m)
        return len(finished)

    def _submit(self, ids: list[int], write: Callable[[OnSubmitted], Any]) -> Any:
        """One batched write; its background job is noted with its rows as soon as queued.

        A rate limit refuses a call before anything is applied: the rows no queued job
        holds take their attempt back, so they are batched again rather than each looked
        for and written on its own; rows in a queued job keep it and wait for that job."""

        def submitted(job: str, start: int, end: int) -> None:
            self.ctx.store.note_job(ids[start:end], job)

        try:
            return self.ctx.desk(lambda: write(submitted), write=True)
        except RateLimited:
            self.ctx.store.undo_attempts(ids)  # rows already in a queued job keep theirs
            raise

    def requesters(self, batch: list[tuple[InboxRow, Mention]]) -> dict[str, Any]:
        """Helpdesk user ids by author id: known ones from the store, the rest upserted.

        An upsert's background job is noted on the rows of the authors it holds as soon as
        it is queued: when its answer does not come in time (JobPending), those rows go the
        single way next round and wait for that job rather than queue another."""
        ctx, desk = self.ctx, self.desk
        desk_name = ctx.settings.helpdesk_name
        authors = [m.author for _, m in batch]
        found: dict[str, Any] = {}
        missing: dict[str, Author] = {}
        for network in dict.fromkeys(author.network for author in authors):
            known = ctx.store.get_requesters(desk_name, network, [a.id for a in authors if a.network == network])
            for author in authors:
                if author.network != network:
                    continue
                if known.get(author.id):
                    found[author.id] = known[author.id]
                else:
                    missing[author.id] = author
        for part in chunks(list(missing.values()), self.capacity):
            noted: list[int] = []

            def submitted(job: str, start: int, end: int, part: list[Author] = part) -> None:
                held = {author.id for author in part[start:end]}
                rows = [row.id for row, m in batch if m.author.id in held]
                ctx.store.note_job(rows, job)
                noted.extend(rows)

            results = ctx.desk(lambda: desk.upsert_requesters(part, on_submitted=submitted))
            if noted:
                ctx.store.note_job(noted, None)   # its results are in: nothing left to wait for
            for network in dict.fromkeys(author.network for author in part):
                ctx.store.put_requesters(desk_name, network, {
                    author.id: result for author, result in zip(part, results)
                    if author.network == network and not isinstance(result, Exception)})
            for author, result in zip(part, results):
                found[author.id] = result
        return found

    def tickets(self, ids: list[str]) -> dict[str, TicketRef]:
        """The tickets that still exist, by id, read a hundred at a time."""
        found: dict[str, TicketRef] = {}
        for part in chunks(sorted(set(ids)), 100):
            found.update(self.ctx.desk(lambda: self.desk.get_tickets(part)))
        return found

    def _item_failed(self, row: InboxRow, result: Any) -> bool:
        """Settle a row whose item failed inside a batch; False when it succeeded."""
        if not isinstance(result, Exception):
            return False
        if decide(result, "ingest") in (Action.QUARANTINE, Action.HOLD):
            self.single.quarantine(row, result)
        else:  # this item alone: whatever else it says, the row is tried again later
            self.ctx.store.retry_later("inbox", row.id, str(result), backoff(row.attempts + 1))
        return True
