#!/usr/bin/env python
"""What idle routes cost: N replicas with R routes and nothing to do, on one PostgreSQL.

    cd /work/main && .venv/bin/python bench/idle.py --replicas 3 --routes 60 --json

A sandbox process serves X and one Zendesk account per route (``bench/tenants.py``), the
replicas (``socialdesk run --replica-id rK``) start on a throwaway PostgreSQL database and
settle their shares; then, for ``--seconds``, the cores each party uses are measured: the
replicas together, the sandbox, PostgreSQL. No post arrives meanwhile: what is measured is
the cost of keeping routes ready (lease ticks, row checks, the pollers' and replies
readers' reads, which still reach the vendors).

Progress goes to stderr, the figures to stdout (``--json``: one object).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from bench import tenants  # noqa: E402
from bench.chaos import sandbox_popen  # noqa: E402
from bench.figures import show  # noqa: E402
from bench.replica_set import ReplicaSet, postgres_cpu, process_cpu, takes_replica_id  # noqa: E402
from bench.replicas import Options, Run  # noqa: E402
from bench.scratch_pg import NoPostgres, scratch_database  # noqa: E402

SETTLE = 15.0   # seconds for the replicas to start and share the leases before measuring


def measure(replicas: int, routes: int, seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-idle-"))
    try:
        with sandbox_popen(args=("--zendesk-accounts", str(routes))) as (sandbox, info):
            run = Run(Options(replicas=replicas, routes=routes), info, sandbox.pid, workdir, replicas, False, True)
            run.prepare_sandbox()   # the bench's limits and groups, as for bench/replicas.py
            with scratch_database() as url:
                config = workdir / "mapping.yaml"
                secrets = tenants.write_mapping(config, info, routes)
                env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
                env.update(secrets, **{tenants.STATE_ENV: url, "SOCIALDESK_KEY_FILE": str(workdir / "secret.key")})
                started = ReplicaSet([config] * replicas, env, workdir, takes_replica_id())
                started.start()
                try:
                    print(f"idle: {replicas} replica(s), {routes} routes: settling {SETTLE:.0f}s", file=sys.stderr)
                    time.sleep(SETTLE)
                    before = (started.cpu(), process_cpu(sandbox.pid), postgres_cpu())
                    print(f"idle: measuring {seconds:.0f}s", file=sys.stderr)
                    time.sleep(seconds)
                    after = (started.cpu(), process_cpu(sandbox.pid), postgres_cpu())
                    alive = len(started.alive())
                finally:
                    started.stop()
        used = [round((b - a) / seconds, 3) for a, b in zip(before, after)]
        return {"replicas": replicas, "routes": routes, "seconds": seconds, "alive": alive,
                "cores": {"replicas": used[0], "sandbox": used[1], "postgres": used[2]},
                "replica_cores_per_100_routes": round(used[0] / routes * 100, 3)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--routes", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to measure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.replicas < 1 or args.routes < 1 or args.seconds <= 0:
        print("idle: --replicas and --routes are 1 or more, --seconds above 0", file=sys.stderr)
        return 2
    try:
        out = measure(args.replicas, args.routes, args.seconds)
    except NoPostgres as err:
        print(f"idle: {err}", file=sys.stderr)
        return 2
    show(out, args.json)
    return 0 if out["alive"] == args.replicas else 1


if __name__ == "__main__":
    sys.exit(main())
