"""``socialdesk schema``: the mapping's JSON Schema, generated from the configuration models."""
from __future__ import annotations

import argparse
import json


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the schema as pretty JSON on stdout; editors read it for completion and checks."""
    from sync.config import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0
