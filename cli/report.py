"""``socialdesk report``: response times against the helpdesk's SLA targets, volumes per
network and route, held replies and why, quarantine and vendor cost, over ``--since``."""
from __future__ import annotations

import argparse
import sys


def cmd_report(args: argparse.Namespace) -> int:
    """Not built yet: says so and exits 2."""
    print("socialdesk: report is not available in this build", file=sys.stderr)
    return 2
