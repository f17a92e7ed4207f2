"""``socialdesk run --sandbox --log-format json`` as a real process: customers write, agents
answer, and its log says each unit of work once, as JSON with its route and conversation,
and nothing a customer or an agent wrote, nor any secret."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from sandbox.scenario import People

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_TEXT = "my order ORD-991204 arrived broken, write me at ana.lopez@example.org"
AGENT_TEXT = "So sorry Ana, a new one ships today"
HELD_TEXT = "Please mail us at care@acme.example with the details"


class Run:
    """The daemon process; its stderr lines collected as they come."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--config", str(config), "--sandbox", "--log-format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ})
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()
        self.info = json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def _collect(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == name:
                found.append(entry)
        return found

    def wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, "the daemon stopped:\n" + "\n".join(self.lines[-20:])
            assert time.monotonic() < deadline, f"{what} did not happen in {seconds:.0f}s:\n" + "\n".join(
                self.lines[-20:])
            time.sleep(0.5)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        time.sleep(0.2)
        return "\n".join(self.lines)


def test_a_real_run_logs_each_unit_of_work_once_as_json_without_text_or_secrets(tmp_path: Path) -> None:
    config = tmp_path / "mapping.yaml"
    config.write_text((ROOT / "mapping.yaml").read_text()
                      .replace("sqlite:///socialdesk.sqlite", f"sqlite:///{tmp_path / 'state.sqlite'}")
                      .replace("poll: {mentions: 30s, dms: 60s, replies: 30s}",
                               "poll: {mentions: 15s, dms: 60s, replies: 30s}"))
    run = Run(config)
    try:
        run.wait(lambda: any("listening at" in line for line in run.lines), 60, "the web server")
        people = People(run.info)
        ana = people.post("ana_logs", f"@{people.brand} {CUSTOMER_TEXT}")
        ben = people.post("ben_logs", f"@{people.brand} where is my parcel?")
        run.wait(lambda: people.ticket_for(ana) is not None and people.ticket_for(ben) is not None, 90,
                 "both tickets")
        answered = str(people.ticket_for(ana)["id"])   # type: ignore[index]
        people.answer(answered, AGENT_TEXT)
        people.answer(people.ticket_for(ben)["id"], HELD_TEXT)    # type: ignore[index]
        run.wait(lambda: bool(run.events("reply_posted")) and bool(run.events("reply_held")), 90, "the replies")
        time.sleep(17)   # one more read of the mentions, which reads both posts again (the overlap)
        assert len(people.posts_by(people.brand)) == 1, "the held reply stays held"
    finally:
        output = run.stop()

    entries = [json.loads(line) for line in output.splitlines()]   # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= set(e) for e in entries)
    route = "x-support"
    read = Counter(e["post"] for e in run.events("mention_read"))
    assert read[f"x:post:{ana}"] == 1 and read[f"x:post:{ben}"] == 1, "a post read again is no news"
    created = {e["post"]: e for e in run.events("ticket_created")}
    assert set(created) >= {f"x:post:{ana}", f"x:post:{ben}"} and len(run.events("ticket_created")) == len(created)
    for entry in [*run.events("mention_read"), *created.values(), *run.events("reply_posted"),
                  *run.events("reply_held")]:
        assert entry["route"] == route and entry["conversation"].startswith("x:conv:"), entry
    posted, held = run.events("reply_posted"), run.events("reply_held")
    assert len(posted) == 1 and posted[0]["ticket"] == answered
    assert len(held) == 1 and held[0]["why"] == "personal_data" and held[0]["level"] == "INFO"
    assert posted[0]["conversation"] == created[f"x:post:{ana}"]["conversation"]
    assert len(run.events("route_active")) == 1

    zd, x = run.info["services"]["zendesk"], run.info["services"]["x"]
    secrets = [zd["oauth_client_secret"], zd["agent_oauth_token"], x["oauth_client_secret"], x.get("token", "")]
    for said in (*[s for s in secrets if s], CUSTOMER_TEXT, "ORD-991204", "ana.lopez@example.org", AGENT_TEXT,
                 HELD_TEXT, "care@acme.example"):
        assert said not in output, f"{said!r} is in the log"
    assert not [e["msg"] for e in entries if "{'" in e["msg"]], "no dict reprs"
