"""The chaos run with replicas (``bench/chaos.py --replicas N``): N real daemons
(``socialdesk run --replica-id rK``) on one throwaway PostgreSQL database instead of one
daemon on an SQLite file, a random replica SIGKILLed and restarted at each kill.

Each replica has a mapping of its own that differs only in the port its receiver listens
on; Meta's webhooks reach them through one address (``Forwarder``), as behind a load
balancer, each delivery handed to whichever replica takes the connection, so any replica
must accept any delivery. A kill never lands while the victim's log shows a token renewal
under way (a lost refresh answer spends a rotating refresh token, as with one daemon).

Kills around a renewal (``--refresh-kills``) belong to the one-daemon run: under replicas
the renewals are covered by tests/system/test_refresh_replicas.py.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.chaos import RESTART_PAUSE, ChaosOptions, ChaosRun, RenewalWatch, free_port, write_mapping
from bench.replica_set import Forwarder, ReplicaSet

STATE_ENV = "SOCIALDESK_CHAOS_STATE"


class WatchGroup:
    """The renewal watches of every replica, asked as one (no kill is armed on a renewal)."""

    def __init__(self, watches: dict[str, RenewalWatch]) -> None:
        self.watches = watches
        self.armed = False
        self.missed: list[str] = []

    def start(self) -> None:
        for watch in self.watches.values():
            watch.start()

    def stop(self) -> None:
        for watch in self.watches.values():
            watch.stop()

    def settled(self) -> None:
        for watch in self.watches.values():
            watch.settled()


class ReplicaChaosRun(ChaosRun):
    """The chaos run over ``options.replicas`` replicas sharing the PostgreSQL state at ``state_url``."""

    def __init__(self, options: ChaosOptions, info: dict[str, Any], workdir: Path, state_url: str) -> None:
        if options.refresh_kills:
            raise ValueError("--refresh-kills is for the one-daemon run; leave it out with --replicas")
        super().__init__(options, info, workdir)
        names = [f"r{k}" for k in range(1, options.replicas + 1)]
        ports = {name: free_port() for name in names} if self.meta else {}
        configs = []
        for name in names:
            config, env = write_mapping(workdir, info, options.helpdesk, ports.get(name), state=f"{{env: {STATE_ENV}}}",
                                        name=f"mapping-{name}.yaml")
            configs.append(config)
        self.config, self.env, self.state_url = configs[0], {**env, STATE_ENV: state_url}, state_url
        self.replicas = ReplicaSet(configs, self.env, workdir, replica_id=True)
        self.daemon = self.replicas     # what the run starts, stops and asks about
        self.watch = WatchGroup({name: RenewalWatch(d.log, lambda: None) for name, d in self.replicas.daemons.items()})
        self.forwarder = Forwarder(int(self.meta_port), list(ports.values())) if self.meta_port else None
        self.kill_rng = random.Random(options.seed * 13 + 5)

    def run(self):  # type: ignore[no-untyped-def]
        if self.forwarder is not None:
            self.forwarder.start()
        try:
            return super().run()
        finally:
            if self.forwarder is not None:
                self.forwarder.stop()

    def _kill_and_restart(self) -> None:
        """A random replica killed and started again, never while it renews a token."""
        victim = self.kill_rng.choice(sorted(self.replicas.daemons))
        watch = self.watch.watches[victim]
        watch.settled()
        with self.daemon_lock:
            watch.settled()
            daemon = self.replicas.daemons[victim]
            daemon.kill()
            self.report.kills += 1
            time.sleep(self.rng.uniform(*RESTART_PAUSE))
            daemon.start()
        self._say(f"kill {self.report.kills}: replica {victim} SIGKILLed and started again")

    def _keep_alive(self) -> None:
        """A replica that exited by itself is started again and counted, with why."""
        with self.daemon_lock:
            for name, last in self.replicas.revive().items():
                self.report.restarts_after_exit += 1
                self.report.problems.append(f"replica {name} exited by itself: {last}")
                self._say(f"replica {name} exited by itself ({last}); started again")

    def _daemon_log_text(self) -> str:
        return "".join(d.log.read_text(encoding="utf-8", errors="replace")
                       for d in self.replicas.daemons.values() if d.log.exists())

    def _state_rows(self, query: str) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(self.state_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.exec_driver_sql(query)]
        except sa.exc.ProgrammingError:   # before the replicas made the schema
            return []
        finally:
            engine.dispose()
