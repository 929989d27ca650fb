"""Real `triad worker` processes on PostgreSQL: throughput with 1, 2 and 4 of them.

Stores N noop operations as scheduled through the real submission path (review, then a
group commit) while the crown holds a freeze, copies that database once per worker count,
starts the workers, waits until each has opened its runtime, then lifts the freeze (which
wakes them) and times until every operation is completed. Beside each figure: the CPU the
workers and PostgreSQL used, how busy the machine was, and what the workers' database
sessions were doing (sampled from pg_stat_activity), which is where a scaling limit shows.
Neighbours' load on a small machine moves these figures a lot: the counts run in
interleaved rounds, each count's best run is kept, and each shows the share of the
machine other processes took meanwhile.

    python bench/workers.py [--quick] [--counts 1 2 4] [--rounds 1] [--concurrency 64]
                            [--env TRIAD_LEASE_S=60 ...]

With ``BENCH_WORKER_PROFILE=prefix`` each worker runs under cProfile and writes its stats to
``prefix.<pid>`` (and its garbage collections to ``prefix.<pid>.gc``) when it stops; compare
them with ``pstats``: call counts per operation, not seconds, are what a loaded machine leaves
steady. With ``BENCH_WORKER_CALLGRIND=prefix`` each worker runs under valgrind's callgrind,
counting instructions only from the unfreeze until every operation completed, into
``prefix.<pid>`` (``callgrind_annotate`` reads it): a count no neighbour's load moves.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

from pipeline import BENCHER, noop_request, submit_grouped
from table import Row
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.constitution.ledger import verify
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import count_by_status
from triadops.storage.wakeups import APPLICATION_NAME

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BASE = PG_ADMIN.rsplit("/", 1)[0]
TRIAD = Path(sys.executable).with_name("triad")
AIM = 1.6
"""Two workers should drive at least this many times what one does."""
PROFILE = os.environ.get("BENCH_WORKER_PROFILE", "")
"""A path prefix to write each worker's cProfile stats to (``prefix.<pid>``), when set."""
CALLGRIND = os.environ.get("BENCH_WORKER_CALLGRIND", "")
"""A path prefix to write each worker's callgrind counts to (``prefix.<pid>``), when set."""
PATIENCE = 20 if CALLGRIND else 1
"""How many times longer than usual to wait (valgrind runs a worker some 50 times slower)."""
_PROFILED = """
import cProfile, gc, json, os, time
from triadops.cli.main import app
collected = {{"process_s": 0.0, "by_generation": [0, 0, 0], "s_by_generation": [0.0, 0.0, 0.0]}}
started = [0.0]
def pauses(phase, info):
    if phase == "start":
        started[0] = time.process_time()
    else:
        spent = time.process_time() - started[0]
        collected["process_s"] += spent
        collected["by_generation"][info["generation"]] += 1
        collected["s_by_generation"][info["generation"]] += spent
gc.callbacks.append(pauses)
profile = cProfile.Profile()
profile.enable()
try:
    app(["worker"])
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(f"{out}.{{os.getpid()}}")
    with open(f"{out}.{{os.getpid()}}.gc", "w") as sink:
        json.dump(collected, sink)
"""


def url_of(database: str) -> str:
    return f"{PG_BASE}/{database}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def store_scheduled(database: str, n: int, home: Path) -> None:
    """Freeze, then store n reviewed noops as scheduled, as the API does under load."""
    rt = await Runtime.open(Settings(home=home, database_url=url_of(database)))
    async with rt.session() as session:
        await freeze(session, by=BENCHER, reason="benchmark: hold until the workers are up")
        await lifecycle.commit(session)
    await submit_grouped(rt, [noop_request() for _ in range(n)])
    async with rt.session() as session:
        assert await count_by_status(session) == {"scheduled": n}
    await rt.close()


@dataclass
class Sampled:
    """What the workers' database sessions were doing, sampled from pg_stat_activity."""

    states: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: int = 0

    def share(self, *keys: str) -> float:
        total = sum(self.states.values())
        return sum(self.states[k] for k in keys) / total if total else 0.0

    def summary(self) -> str:
        total = sum(self.states.values()) or 1
        top = self.states.most_common(6)
        return ", ".join(f"{k} {v / total:.0%}" for k, v in top)


def classify(state: str | None, wait_type: str | None, wait: str | None) -> str:
    if state == "idle":
        return "idle"
    if state == "idle in transaction":
        return "in-txn, waiting on the worker"
    if wait_type is None:
        return "running (postgres CPU)"
    if wait_type == "Lock":
        return f"lock wait ({wait})"
    if wait_type in ("IO", "LWLock"):
        return f"{wait_type} {wait}"
    return f"{wait_type} {wait}"


async def sample_activity(dsn: str, out: Sampled, stop: asyncio.Event) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "bench"})
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend' "
                "AND application_name NOT IN ('bench', $1)",
                APPLICATION_NAME,
            )
            out.samples += 1
            for r in rows:
                out.states[classify(r["state"], r["wait_event_type"], r["wait_event"])] += 1
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL process now, by pid (backends come and go)."""
    found = {}
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            found[p.pid] = cpu_seconds([p])
    return found


async def postgres_cpu_since(watch: asyncpg.Connection, before: dict[int, float]) -> float:
    """CPU the workers' own backends used since `before` (not other databases', not ours)."""
    rows = await watch.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND application_name <> 'bench'"
    )
    now = postgres_cpu()
    return sum(now.get(r["pid"], 0.0) - before.get(r["pid"], 0.0) for r in rows)


@dataclass
class Run:
    workers: int
    n: int
    seconds: float
    worker_cpu_s: float
    postgres_cpu_s: float
    busy_cpu_s: float
    """CPU the whole machine used meanwhile (2 cores: at most twice the wall time)."""
    activity: Sampled

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def others(self) -> float:
        """The share of the machine's CPU that other processes (neighbours) took meanwhile."""
        ours = self.worker_cpu_s + self.postgres_cpu_s
        return max(0.0, self.busy_cpu_s - ours) / ((os.cpu_count() or 1) * self.seconds)


async def run_workers(
    template: str, n: int, count: int, home: Path, *, concurrency: int, extra_env: dict[str, str]
) -> Run:
    """Copy the template, start `count` workers, unfreeze and time until all completed."""
    database = f"triad_bench_w{count}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {
            **os.environ,
            "TRIAD_HOME": str(home),
            "TRIAD_DATABASE_URL": url_of(database),
            "TRIAD_WORKER_CONCURRENCY": str(concurrency),
            "TRIAD_WORKER_POLL_S": "0.5",
            "TRIAD_CONFIG": "",
            **extra_env,
        }
        logs = [home / f"{database}-{i}.log" for i in range(count)]
        command = [str(TRIAD), "worker"]
        if PROFILE:
            command = [sys.executable, "-c", _PROFILED.format(out=PROFILE)]
        if CALLGRIND:
            command = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={CALLGRIND}.%p",
                sys.executable,
                str(TRIAD),
                "worker",
            ]
        for log in logs:
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + 60 * PATIENCE
        while not all("started" in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker did not start: " + logs[0].read_text()[-2000:])
            await asyncio.sleep(0.05)
        rt = await Runtime.open(Settings(home=home, database_url=url_of(database)), migrate=False)
        watch = await asyncpg.connect(
            f"{PG_BASE}/{database}", server_settings={"application_name": "bench"}
        )
        workers = [psutil.Process(p.pid) for p in procs]
        activity, sampling = Sampled(), asyncio.Event()
        sampler = asyncio.create_task(sample_activity(f"{PG_BASE}/{database}", activity, sampling))
        if CALLGRIND:
            _callgrind("--instr=on", procs)
        cpu0, w0, p0 = psutil.cpu_times(), cpu_seconds(workers), postgres_cpu()
        started = time.perf_counter()
        async with rt.session() as session:
            await unfreeze(session, by=BENCHER)
            await lifecycle.commit(session)
        while True:
            done = await watch.fetchval(
                "SELECT count(*) FROM operations WHERE status = 'completed'"
            )
            if done >= n:
                break
            if time.perf_counter() - started > 600 * PATIENCE:
                raise RuntimeError(f"only {done} of {n} completed in {600 * PATIENCE} s")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        if CALLGRIND:
            _callgrind("--instr=off", procs)
        cpu1, w1 = psutil.cpu_times(), cpu_seconds(workers)
        pg = await postgres_cpu_since(watch, p0)
        sampling.set()
        await sampler
        await watch.close()
        busy = (sum(cpu1) - cpu1.idle - cpu1.iowait) - (sum(cpu0) - cpu0.idle - cpu0.iowait)
        async with rt.session() as session:
            assert await count_by_status(session) == {"completed": n}
            report = await verify(session)
            assert report.ok, report.problem
        await rt.close()
        return Run(count, n, elapsed, w1 - w0, pg, busy, activity)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30 * PATIENCE)
            except subprocess.TimeoutExpired:
                p.kill()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def _callgrind(switch: str, procs: list[subprocess.Popen[bytes]]) -> None:
    """Turn the workers' instruction counting on or off (``callgrind_control``)."""
    for p in procs:
        subprocess.run(["callgrind_control", switch, str(p.pid)], check=True, capture_output=True)


async def measure(
    quick: bool,
    counts: list[int],
    *,
    rounds: int = 1,
    concurrency: int = 64,
    extra_env: dict[str, str] | None = None,
) -> list[Run]:
    n = 1000 if quick else 5000
    template = f"triad_bench_tmpl_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{template}"')
    runs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            await store_scheduled(template, n, home)
            # Interleaved rounds: a neighbour's burst of load lands on every count alike.
            for _ in range(rounds):
                for count in counts:
                    runs.append(
                        await run_workers(
                            template,
                            n,
                            count,
                            home,
                            concurrency=concurrency,
                            extra_env=extra_env or {},
                        )
                    )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        await admin.close()
    return runs


def describe(run: Run) -> str:
    ours = run.worker_cpu_s + run.postgres_cpu_s
    return (
        f"{run.rate:.0f} ops/s ({run.n} in {run.seconds:.1f}s; CPU s: workers "
        f"{run.worker_cpu_s:.1f}, postgres {run.postgres_cpu_s:.1f} "
        f"({ours / run.n * 1000:.2f} ms/op), other processes {run.others:.0%} of the machine; "
        f"sessions: {run.activity.summary()})"
    )


def best(runs: list[Run]) -> dict[int, Run]:
    """The fastest run of each worker count: the one a neighbour's load disturbed least."""
    found: dict[int, Run] = {}
    for run in runs:
        if run.workers not in found or run.rate > found[run.workers].rate:
            found[run.workers] = run
    return found


async def rows(quick: bool) -> list[Row]:
    """1, 2 and 4 worker processes over the same stored queue; the ratios to one worker."""
    rounds = 1 if quick else 3
    runs = best(await measure(quick, [1, 2, 4], rounds=rounds))
    one = runs[1]
    out = [
        Row(
            path=f"`triad worker` x1, postgres: {one.n} scheduled noops to completed "
            f"(best of {rounds})",
            measured=describe(one),
            baseline="",
            ratio=None,
        )
    ]
    for count in (2, 4):
        run = runs[count]
        ratio = run.rate / one.rate
        aim = count == 2
        out.append(
            Row(
                path=f"`triad worker` x{count}, postgres: the same",
                measured=describe(run),
                baseline=f"x1: {one.rate:.0f} ops/s",
                ratio=ratio,
                aim=f">= {AIM}x" if aim else "",
                met=ratio >= AIM if aim else None,
            )
        )
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--counts", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for the workers")
    args = parser.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.env)
    runs = await measure(
        args.quick, args.counts, rounds=args.rounds, concurrency=args.concurrency, extra_env=extra
    )
    for run in runs:
        print(f"x{run.workers}: {describe(run)}", flush=True)
    top = best(runs)
    if 1 in top:
        ratios = ", ".join(f"x{c} {r.rate / top[1].rate:.2f}" for c, r in top.items() if c != 1)
        print(f"best of each, ratios to x1: {ratios}")


if __name__ == "__main__":
    asyncio.run(main())
