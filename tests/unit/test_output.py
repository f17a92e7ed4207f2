"""How commands print (cli/output.py): plain aligned text on a pipe, colour and a progress
bar on a terminal (a real pseudo-terminal here, not a flag)."""
from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from rich.text import Text

from cli.output import Progress, pairs, plain, show, table

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def in_terminal(*argv: str) -> str:
    """What ``argv`` writes when its stdout and stderr are a terminal 120 columns wide."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, cwd=ROOT,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    return b"".join(chunks).decode()


def test_plain_tables_are_aligned_whole_lines_without_escape_codes() -> None:
    text = plain("title", table([("a", "[mention, dm]", None), ("longer name", Text("x", style="red"), True)],
                                headers=("name", "value", "more")),
                 pairs([("k", "v " * 200)]))
    lines = text.splitlines()
    assert lines[:4] == ["title", "name         value          more", "a            [mention, dm]  -",
                         "longer name  x              true"]
    assert lines[4] == "  k  " + ("v " * 200).rstrip(), "never wrapped, no trailing spaces"
    assert "\x1b" not in text


def test_show_writes_plain_text_to_a_stream_that_is_not_a_terminal() -> None:
    out = io.StringIO()
    show(Text("ok", style="green"), pairs([("a", 1), ("bb", 2)], name_width=5), stream=out)
    assert out.getvalue() == "ok\n  a      1\n  bb     2\n"


def test_progress_when_not_on_a_terminal_says_lines_and_a_status_now_and_then() -> None:
    out = io.StringIO()
    with Progress("job", total=3, stream=out, plain_every=3600) as bar:
        bar.say("first step")
        bar.advance(status="1 of 3")
        bar.advance(status="2 of 3")   # within plain_every of the last: not printed
        bar.finish("all 3 done")       # the end is always said
    lines = out.getvalue().splitlines()
    assert lines[0] == "first step"
    assert re.fullmatch(r"\[job +\d+\.\ds\] 1 of 3", lines[1]) and re.fullmatch(r"\[job +\d+\.\ds\] all 3 done",
                                                                                lines[2])
    assert len(lines) == 3


def test_on_a_terminal_rules_explain_is_coloured_and_still_shows_the_tag() -> None:
    shown = in_terminal(sys.executable, "-m", "cli", "rules", "explain", "--config", "mapping.yaml",
                        "--mention", "examples/mention.json")
    assert "\x1b[32m" in shown, "fired rules in green"
    text = ESCAPE.sub("", shown).replace("\r", "")
    assert re.search(r"\n  tags +socialdesk, social_mention +socialdesk itself", text)


def test_on_a_terminal_progress_draws_a_bar_that_ends_full() -> None:
    script = ("from cli.output import Progress\n"
              "with Progress('job', total=4) as bar:\n"
              "    bar.say('a line above the bar')\n"
              "    for _ in range(4):\n"
              "        bar.advance(status='working')\n"
              "    bar.finish('done')\n")
    shown = ESCAPE.sub("", in_terminal(sys.executable, "-c", script)).replace("\r", "\n")
    assert "a line above the bar" in shown
    last = [line for line in shown.splitlines() if line.startswith("job ")][-1]
    assert "━" in last and "4/4" in last and last.rstrip().endswith("done")
