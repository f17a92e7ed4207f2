"""Replicas of the daemon as processes on one PostgreSQL state, and what a bench reads of
them: the work done (inbox and outbox rows), the leases each one holds, their CPU time.

Each replica is the real ``socialdesk run --config MAPPING --replica-id rK`` (the flag is
left out when the ``socialdesk`` of the checkout does not have it yet).
"""
from __future__ import annotations

import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
import sqlalchemy as sa

from bench.chaos import DAEMON_STOP_SECONDS, DaemonProcess, ROOT, socialdesk_command

TICK = 1.0 / 100   # what /proc/<pid>/stat counts CPU time in (USER_HZ, 100 on Linux)


def takes_replica_id() -> bool:
    """Whether ``socialdesk run`` has ``--replica-id``."""
    done = subprocess.run([*socialdesk_command(), "run", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    return "--replica-id" in done.stdout


class ReplicaSet:
    """Replicas named r1..rN, one per mapping in ``configs`` (the same file for all, or one
    each: a port of their own), each logging to ``workdir/rK.log``."""

    def __init__(self, configs: list[Path], env: dict[str, str], workdir: Path, replica_id: bool) -> None:
        self.daemons = {f"r{k}": DaemonProcess(config, env, workdir / f"r{k}.log",
                                               args=("--replica-id", f"r{k}") if replica_id else ())
                        for k, config in enumerate(configs, start=1)}
        self.cpu_at_death: dict[str, float] = {}

    @property
    def log(self) -> Path:
        """The first replica's log (where to look first)."""
        return next(iter(self.daemons.values())).log

    def start(self) -> None:
        """Start every replica not running."""
        for daemon in self.daemons.values():
            if not daemon.alive():
                daemon.start()

    def alive(self) -> list[str]:
        return [name for name, daemon in self.daemons.items() if daemon.alive()]

    def revive(self) -> dict[str, str]:
        """Start again each replica that exited by itself (as a service manager does; the
        killed ones stay dead): by name, the last line of its log before it exited."""
        said = {}
        for name, daemon in self.daemons.items():
            if daemon.proc is not None and not daemon.alive() and name not in self.cpu_at_death:
                said[name] = last_words(daemon.log)
                daemon.start()
        return said

    def pid(self, name: str) -> int:
        proc = self.daemons[name].proc
        assert proc is not None
        return proc.pid

    def kill(self, name: str) -> None:
        """SIGKILL ``name``, its CPU time so far kept for the accounts."""
        daemon = self.daemons[name]
        if daemon.proc is not None:
            self.cpu_at_death[name] = process_cpu(daemon.proc.pid)
        daemon.kill()

    def cpu(self) -> float:
        """CPU seconds every replica has used (the killed ones up to their death)."""
        live = sum(process_cpu(d.proc.pid) for n, d in self.daemons.items()
                   if d.proc is not None and n not in self.cpu_at_death)
        return live + sum(self.cpu_at_death.values())

    def stop(self) -> None:
        """Ctrl-C to every replica at once, then SIGKILL to any still there after the grace."""
        running = [d for d in self.daemons.values() if d.alive()]
        for daemon in running:
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + DAEMON_STOP_SECONDS
        for daemon in running:
            assert daemon.proc is not None
            try:
                daemon.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                daemon.kill()


class Profiler:
    """py-spy sampling processes of the run (attached by pid, so a SIGKILL reaches the
    process itself), each writing collapsed stacks (``--format raw``) to ``directory``;
    with ``idle`` the waiting threads are sampled too (wall time, not only CPU); with ``gil``
    only the thread holding the GIL (the Python work, without the waits)."""

    def __init__(self, directory: Path, idle: bool = False, gil: bool = False) -> None:
        self.directory = directory
        self.idle, self.gil = idle, gil
        self.spy = shutil.which("py-spy")
        if self.spy is None:
            raise ValueError("--profile needs py-spy on the PATH (pip install py-spy)")
        directory.mkdir(parents=True, exist_ok=True)
        self.samplers: list[subprocess.Popen[bytes]] = []

    def attach(self, name: str, pid: int) -> None:
        command = [str(self.spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "50", "--nonblocking",
                   "-o", str(self.directory / f"{name}.txt"), *(["--idle"] if self.idle else []),
                   *(["--gil"] if self.gil else [])]
        self.samplers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def detach(self) -> None:
        """Stop sampling (Ctrl-C: py-spy writes what it has)."""
        for sampler in self.samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in self.samplers:
            try:
                sampler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sampler.kill()


def last_words(log: Path) -> str:
    """What a replica said last before it exited: its log's last line that is a message
    (not a traceback's indented frame, nor a library's '(Background on this error ...)')."""
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    said = [line for line in lines if line and not line[0].isspace() and not line.startswith(("(", "["))]
    return (said or lines or ["nothing logged"])[-1][:300]


# ---------------------------------------------------------------------------- CPU time


def process_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of process ``pid`` (with ``children``: also of its
    children it has waited for); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks * TICK


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server: its processes running now, and the backends
    that have ended (counted in the postmaster's children's time)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        if "(postgres)" in text:
            parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    # The postmaster is the one postgres process whose parent is not one.
    return sum(process_cpu(pid, children=parent not in parents) for pid, parent in parents.items())


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every process, from /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle and iowait
    return (sum(fields[:8]) - idle) * TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------- the shared state


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str | None
    expires_at: float


class StateReader:
    """Reads of the replicas' PostgreSQL state, for the bench's eyes only."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_size=2)

    def close(self) -> None:
        self.engine.dispose()

    def work_done(self) -> tuple[int, int]:
        """(inbox rows written to the helpdesk, agent answers posted); (0, 0) before the
        replicas have made the schema."""
        try:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql(
                    "SELECT (SELECT count(*) FROM inbox WHERE state = 'done'),"
                    " (SELECT count(*) FROM outbox WHERE state = 'posted')").one()
        except sa.exc.ProgrammingError:   # no tables yet
            return 0, 0
        return int(row[0]), int(row[1])

    def leases(self) -> list[Lease]:
        try:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT name, holder, expires_at FROM leases").all()
        except sa.exc.ProgrammingError:
            return []
        return [Lease(str(r[0]), r[1], float(r[2] or 0.0)) for r in rows]


def held(leases: list[Lease], replicas: list[str], now: float | None = None) -> dict[str, int]:
    """Live leases per replica (every one of ``replicas`` named, holding none or more)."""
    now = time.time() if now is None else now
    counts = {name: 0 for name in replicas}
    for lease in leases:
        if lease.holder in counts and lease.expires_at > now:
            counts[lease.holder] += 1
    return counts


def balance(counts: dict[str, int]) -> float | None:
    """Most leases held by one replica over the fewest; None when one holds none."""
    if not counts or min(counts.values()) == 0:
        return None
    return round(max(counts.values()) / min(counts.values()), 2)


def taken_over(leases: list[Lease], names: set[str], victim: str, now: float | None = None) -> bool:
    """Every lease in ``names`` is held, live, by a replica other than ``victim``."""
    now = time.time() if now is None else now
    by_name = {lease.name: lease for lease in leases}
    return all(name in by_name and by_name[name].holder not in (None, victim) and by_name[name].expires_at > now
               for name in names)


class Forwarder:
    """One public TCP address in front of the replicas' receivers: each connection goes to
    the next replica that accepts it (round robin), bytes piped both ways until either side
    closes."""

    def __init__(self, port: int, targets: list[int]) -> None:
        self.port, self.targets = port, targets
        self._next = 0
        self._server: socket.socket | None = None

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, name="forwarder", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()   # no replica listens right now: the sender sees a failed delivery
            return
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)

    def _connect(self) -> socket.socket | None:
        for _ in self.targets:
            port = self.targets[self._next % len(self.targets)]
            self._next += 1
            with suppress(OSError):
                return socket.create_connection(("127.0.0.1", port), timeout=5)
        return None


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    for end in (source, sink):
        with suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()
