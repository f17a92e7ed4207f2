#!/usr/bin/env python
"""The admin's browser for an unattended ``socialdesk connect``: give it as BROWSER.

    BROWSER="python bench/consent_browser.py %s" CONSENT_BROWSER_CA=<sandbox CA bundle> \\
        socialdesk connect acme --config mapping.yaml --redirect-uri http://127.0.0.1:<port>/socialdesk/callback

Python's ``webbrowser`` (which ``connect`` opens the consent page with) runs the command
with the consent URL in place of ``%s``. This script GETs the consent page, as a browser
whose admin approves at once would (the sandbox's authorize pages approve by themselves),
and follows its redirects to the loopback address where ``connect`` listens. The CA bundle
that the consent page's TLS certificate chains to comes from ``CONSENT_BROWSER_CA``
(default: the system's). Exit status 0 when the last answer is a success, else 1 with a
short reason on stderr that never shows a query string (the code travels in it).
"""
from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import requests

CA_ENV = "CONSENT_BROWSER_CA"
TIMEOUT = (5.0, 30.0)
MAX_REDIRECTS = 5


def _where(url: str) -> str:
    """An address without its query or fragment (they carry state, codes, challenges)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def visit(url: str, ca_bundle: str | None) -> tuple[bool, str]:
    """Follow ``url`` through its redirects; (success, what happened)."""
    session = requests.Session()
    session.trust_env = False   # no proxy between this "browser" and loopback addresses
    session.verify = ca_bundle if ca_bundle else True
    session.max_redirects = MAX_REDIRECTS
    try:
        answer = session.get(url, timeout=TIMEOUT, allow_redirects=True)
    except requests.TooManyRedirects:
        return False, f"more than {MAX_REDIRECTS} redirects from {_where(url)}"
    except requests.RequestException as err:
        return False, f"{_where(url)}: {type(err).__name__}"
    finally:
        session.close()
    hops = " -> ".join(_where(r.url) for r in [*answer.history, answer])
    if not answer.ok:
        return False, f"HTTP {answer.status_code} at the end of {hops}"
    if not answer.history:
        return False, f"the consent page {_where(url)} answered HTTP {answer.status_code} without a redirect"
    return True, hops


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].startswith(("https://", "http://")):
        print("usage: consent_browser.py <consent URL>", file=sys.stderr)
        return 2
    ok, what = visit(args[0], os.environ.get(CA_ENV) or None)
    if not ok:
        print(f"consent_browser: {what}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
