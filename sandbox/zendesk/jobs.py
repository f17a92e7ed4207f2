"""Background jobs (bulk ticket and user writes) that finish on the sandbox clock."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

from sandbox.zendesk.constants import JOB_SECONDS
from sandbox.zendesk.helpers import _safe_int, ApiError
from sandbox.zendesk.records import UpdateContext

if TYPE_CHECKING:
    from sandbox.zendesk.records import Job


class Jobs:
    """Job settling and rendering on ``ZendeskState``."""

    def settle_jobs(self) -> None:
        """Jobs finish on their own JOB_SECONDS of sandbox time after any hold ends, polled or not."""
        now = self.clock.now()
        for job in list(self.jobs.values()):
            if (job.status in ("queued", "working") and not self.job_held(job, now)
                    and now - max(job.created, job.hold_until) >= JOB_SECONDS):
                self.advance_job(job, to_end=True)

    @staticmethod
    def job_held(job: Job, now: float) -> bool:
        """A held job is still ``queued``: status reads left to answer so, or its hold time not over."""
        return job.status == "queued" and (job.hold_reads > 0 or now < job.hold_until)

    def advance_job(self, job: Job, to_end: bool = False) -> None:
        """One status read's worth of progress (``to_end``: all of it). A held job stays
        ``queued`` and the read counts against its hold."""
        if self.job_held(job, self.clock.now()):
            if not to_end:
                job.hold_reads = max(0, job.hold_reads - 1)
                return
            job.hold_reads, job.hold_until = 0, 0.0
        if job.status == "queued" and not to_end:
            job.status = "working"
            job.progress = len(job.items) // 2
            self._run_job_items(job, job.progress)
            verb = "Creating" if job.kind == "create" else "Updating"
            job.message = f"{verb} ticket #{job.progress}"
        elif job.status in ("queued", "working"):
            self._run_job_items(job, len(job.items))
            job.status = "completed"
            job.progress = len(job.items)
            finished = datetime.fromtimestamp(self.clock.now(), timezone.utc)
            job.message = f"Completed at {finished:%Y-%m-%d %H:%M:%S} +0000"

    def hold_jobs(self, spec: Mapping[str, Any]) -> None:
        """``/_sandbox/jobs`` POST: ``hold`` (status reads each new job answers ``queued``),
        ``hold_seconds`` (sandbox seconds each new job stays ``queued``), ``release`` (end
        the hold of every job queued now; they run on their next reads)."""
        if not {"hold", "hold_seconds", "release"} & set(spec):
            raise ValueError("give hold (status reads), hold_seconds or release")
        if "hold" in spec:
            reads = spec["hold"]
            if isinstance(reads, bool) or not isinstance(reads, int) or reads < 0:
                raise ValueError("hold must be a whole number of status reads, 0 or more")
            self.job_hold_reads = reads
        if "hold_seconds" in spec:
            seconds = spec["hold_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 10**7:
                raise ValueError("hold_seconds must be a number of seconds, 0 or more")
            self.job_hold_seconds = float(seconds)
        if spec.get("release"):
            for job in self.jobs.values():
                job.hold_reads, job.hold_until = 0, 0.0

    def jobs_json(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"hold": self.job_hold_reads, "hold_seconds": self.job_hold_seconds,
                "jobs": [{"id": j.id, "status": j.status, "held": self.job_held(j, now),
                          "hold_reads": j.hold_reads, "total": len(j.items)} for j in self.jobs.values()]}

    def _run_job_items(self, job: Job, upto: int) -> None:
        actor = self.users.get(job.actor_id)
        if actor is None:
            return
        while job.done < upto:
            index = job.done
            item = job.items[index]
            job.done += 1
            ctx = UpdateContext(actor=actor, client=job.client)
            try:
                if job.kind == "users":
                    uid, created = self.upsert_user(item, self.clock.now())
                    job.results.append({"index": index, "id": uid,
                                        "status": "Created" if created else "Updated"})
                    continue
                if job.kind == "create":
                    t, _ = self.create_ticket(item, ctx)
                    job.results.append({"index": index, "id": t.id, "account_id": self.account_id})
                else:
                    tid, changes = item
                    t = self.get_ticket(tid)
                    self.update_ticket(t, changes, UpdateContext(actor=actor, client=job.client))
                    job.results.append({"id": t.id, "action": "update", "success": True,
                                        "status": "Updated"})
            except ApiError as err:
                detail = err.body.get("description", "") if isinstance(err.body, dict) else str(err.body)
                if isinstance(err.body, dict) and err.body.get("details"):
                    detail = json.dumps(err.body["details"])
                if job.kind in ("create", "users"):
                    job.results.append({"index": index, "error": str(err.body.get("error", "Error"))
                                        if isinstance(err.body, dict) else "Error", "details": detail})
                else:
                    job.results.append({"id": _safe_int(item[0]), "action": "update", "success": False,
                                        "error": str(err.body.get("error", "Error"))
                                        if isinstance(err.body, dict) else "Error", "details": detail})

    def upsert_user(self, spec: Mapping[str, Any], now: float) -> tuple[int, bool]:
        """Create-or-update as the API does it: matched by external_id, then email."""
        match = None
        if spec.get("external_id") not in (None, ""):
            found = self.find_users_by_external_id(str(spec["external_id"]))
            match = found[0] if found else None
        if match is None and spec.get("email"):
            match = self.find_user_by_email(str(spec["email"]))
        if match is None:
            return self.create_user(spec, now), True
        self.update_user(match["id"], spec, now)
        return match["id"], False

    def job_json(self, job: Job) -> dict[str, Any]:
        job_type = {"create": "Bulk Create Ticket", "users": "Bulk Create or Update Users"}.get(
            job.kind, "Bulk Update Ticket")
        return {"id": job.id, "job_type": job_type,
                "url": self.url(f"job_statuses/{job.id}.json"), "total": len(job.items),
                "progress": job.progress, "status": job.status, "message": job.message,
                "results": copy.deepcopy(job.results) if job.status == "completed" else None}
