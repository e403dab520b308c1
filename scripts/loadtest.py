"""Load test of the live API on SQLite and PostgreSQL: reads of suggestion pages, writes of needs.

Usage: ``python scripts/loadtest.py [--database sqlite|postgresql ...] [--duration SECONDS]``
(``make bench`` runs it on both databases after the pytest benchmarks). Needs ``wrk``
(``apt-get install wrk``): a Python client on a small machine is itself the bottleneck.

Per database it builds a fresh database (an SQLite file in a temporary directory, or a new
schema in the local PostgreSQL ``test`` database, dropped afterwards), runs the migrations,
loads the municipalities and the demo community, issues an organiser's token (every request
authenticates against the database with it), and starts ``copmatch serve`` (one uvicorn
worker) pinned to the last CPU while the clients run on the first. Then the phases:

1. unloaded: a sequential keep-alive client, 2,000 GETs of one need, and as many of health;
2. ``wrk`` on ``/api/v1/health``: the baseline every figure is divided by;
3. ``wrk`` on a 50-item suggestions page, 16 connections;
4. ``wrk`` mixing that page with POSTs of needs (one request in ten), 16 connections;

and checks that every 201 is a stored need (no lost writes) and that no request failed. The
table prints each figure next to the same run's health figure, and per phase the machine's
load, the share of a core the server used and its CPU time per request: other benchmarks may
share the machine, and CPU time per request is the figure they distort least.

Exit status 1 when a request failed or a write was lost; performance targets are reported as
PASS/MISS (binding on PostgreSQL) and fail the run only with ``--strict``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from app.db import build_engine, session_scope
from app.migrate import upgrade_to_head
from app.models import Community, Membership, Need, Organisation, Suggestion
from app.schemas import PersonCreate
from app.services.demo import load_demo
from app.services.organisations import create_person, load_municipalities
from app.services.tokens import add_organiser, issue_token

BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "COPMATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
API = "/api/v1"
PAGE_SIZE = 50
WRITE_EVERY = 10
"""In the mixed phase one request in this many is a POST of a need."""

NEED_TEXTS = (
    "Hoe betrek je VvE-besturen bij de wijkaanpak aardgasvrij",
    "Ervaring gezocht met aquathermie uit oppervlaktewater en een TEO-haalbaarheidsstudie",
    "Wie heeft een businesscase voor een warmtenet met onrendabele top doorgerekend",
    "Hoe organiseer je energiecoaches met vrijwilligers in de wijk",
    "Participatie van bewoners bij het actualiseren van de Transitievisie Warmte",
    "Juridische ervaring met het aanwijzen van een warmtekavel en de Wet collectieve warmte",
)


@dataclass(frozen=True, slots=True)
class Targets:
    """The service-level targets of issue 5 (one uvicorn worker on PostgreSQL)."""

    single_p50_ms: float = 2.0
    single_p99_ms: float = 10.0
    page_requests_per_second: float = 1000.0
    page_p99_ms: float = 50.0


@dataclass(frozen=True, slots=True)
class Demo:
    community_id: int
    need_ids: list[int]
    organisation_ids: list[int]
    token: str
    """An organiser's stored token: every request authenticates against the database, as a
    real client's would (the bootstrap admin token is checked without it)."""


@dataclass(frozen=True, slots=True)
class Machine:
    """What else the machine did during a phase."""

    load_before: float
    load_after: float
    busy_share: float
    """Of all CPUs, 0..1, by everyone (our client and server included)."""
    server_core_share: float
    """CPU time of the server process per wall-clock second (1.0: one core, fully)."""
    server_cpu_seconds: float


@dataclass(slots=True)
class Sequential:
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    requests: int
    """Including the warm-up requests (for the server's CPU time per request)."""
    machine: Machine | None = None


@dataclass(slots=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int
    created_ids: list[int] = field(default_factory=list)
    machine: Machine | None = None

    @property
    def failed(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + self.socket_errors


@dataclass(slots=True)
class Writes:
    acknowledged: int
    rows_added: int
    lost: int
    """201 answers whose need is not in the database."""
    unacknowledged: int
    """Needs stored whose 201 wrk never read: in flight when the run stopped; not lost."""


@dataclass(slots=True)
class Run:
    database: str
    single: Sequential
    health_single: Sequential
    health: WrkResult
    page: WrkResult
    mixed: WrkResult
    writes: Writes
    suggestions_total: int
    uptime_before: str
    uptime_after: str
    seconds: float


# --- the machine ---------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _process_cpu_seconds(pid: int) -> float:
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def watching(server_pid: int, into: list[Machine]) -> Iterator[None]:
    """Record the machine's load and the server's CPU use around a phase."""
    load_before = os.getloadavg()[0]
    busy_before, total_before = _cpu_times()
    server_before = _process_cpu_seconds(server_pid)
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    busy_after, total_after = _cpu_times()
    server_cpu = _process_cpu_seconds(server_pid) - server_before
    into.append(
        Machine(
            load_before=load_before,
            load_after=os.getloadavg()[0],
            busy_share=(busy_after - busy_before) / max(total_after - total_before, 1),
            server_core_share=server_cpu / elapsed,
            server_cpu_seconds=server_cpu,
        )
    )


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def cpu_sets() -> tuple[list[str], list[str]]:
    """``taskset`` prefixes for the server (last CPU) and the clients (the others)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return [], []
    clients = ",".join(str(cpu) for cpu in cpus[:-1])
    return ["taskset", "-c", str(cpus[-1])], ["taskset", "-c", clients]


# --- the database --------------------------------------------------------------------------


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    engine = build_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return str(error.orig).strip()
    finally:
        engine.dispose()
    return None


@contextmanager
def fresh_database(database: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty database, removed when the block ends."""
    if database == "sqlite":
        yield f"sqlite:///{workdir / 'load.sqlite3'}"
        return
    schema = f"copmatch_load_{os.getpid()}"
    admin = build_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def load_data(engine: Engine, url: str) -> Demo:
    """Migrate ``url`` and load the municipalities and the demo community."""
    upgrade_to_head(url)
    with session_scope(engine) as session:
        load_municipalities(session)
        demo = load_demo(session)
        community = session.get_one(Community, demo.community_id)
        member = select(func.min(Membership.organisation_id)).where(
            Membership.community_id == community.id
        )
        organisation = session.get_one(Organisation, session.scalar(member))
        person = create_person(
            session, organisation, PersonCreate(name="Load Test", email="load@example.org")
        )
        add_organiser(session, community, person.id)
        issued = issue_token(session, person, lifetime_days=1)
    with engine.connect() as connection:
        needs = connection.execute(
            select(Need.id, Need.organisation_id).where(Need.community_id == demo.community_id)
        ).all()
    return Demo(
        community_id=demo.community_id,
        need_ids=[need_id for need_id, _ in needs],
        organisation_ids=sorted({organisation_id for _, organisation_id in needs}),
        token=issued.token,
    )


def count_rows(engine: Engine, model: type[Need] | type[Suggestion], community_id: int) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(model).where(model.community_id == community_id)
            )
            or 0
        )


def settled_count(engine: Engine, community_id: int, timeout: float = 15.0) -> int:
    """The community's needs once requests still in flight when wrk stopped have committed."""
    deadline = time.monotonic() + timeout
    previous = count_rows(engine, Need, community_id)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = count_rows(engine, Need, community_id)
        if current == previous:
            break
        previous = current
    return previous


def stored_need_ids(engine: Engine, ids: list[int]) -> set[int]:
    with engine.connect() as connection:
        return set(connection.scalars(select(Need.id).where(Need.id.in_(ids))))


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(url: str, token: str, workdir: Path, pin: list[str]) -> Iterator[tuple[int, int]]:
    """``copmatch serve`` (one uvicorn worker) on a free port: yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "COPMATCH_DATABASE_URL": url,
        "COPMATCH_ENVIRONMENT": "test",
        "COPMATCH_ADMIN_TOKEN": token,
        "COPMATCH_LOG_LEVEL": "warning",
    }
    log = workdir / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*pin, str(BIN / "copmatch"), "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port, server.pid
    finally:
        if server.poll() is not None:
            print(f"the API stopped by itself:\n{log.read_text()[-3000:]}", file=sys.stderr)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", f"{API}/health")
        healthy = connection.getresponse().status == 200
        connection.close()
    except OSError:
        return False
    return healthy


# --- clients -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, round(share * len(sorted_values)))
    return sorted_values[rank - 1]


WARM_UP = 100


def sequential(port: int, paths: list[str], token: str, requests: int) -> Sequential:
    """``requests`` GETs one after the other on one keep-alive connection (after some to warm)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    timings: list[float] = []
    statuses: dict[int, int] = {}
    for index in range(requests + WARM_UP):
        path = paths[index % len(paths)]
        started = time.perf_counter_ns()
        connection.request("GET", path, headers=headers)
        response = response_of(connection)
        elapsed = time.perf_counter_ns() - started
        if index >= WARM_UP:
            timings.append(elapsed / 1e6)
            statuses[response] = statuses.get(response, 0) + 1
    connection.close()
    timings.sort()
    return Sequential(
        percentile(timings, 0.50), percentile(timings, 0.99), statuses, requests + WARM_UP
    )


def response_of(connection: http.client.HTTPConnection) -> int:
    response = connection.getresponse()
    response.read()
    return response.status


WRK_SCRIPT = """
local read_path = %(read_path)s
local write_path = %(write_path)s
local write_every = %(write_every)d
local ids_file = %(ids_file)s
local organisation_ids = {%(organisation_ids)s}
local texts = {%(texts)s}
local auth = "Bearer " .. %(token)s
local read_headers = {["Authorization"] = auth}
local write_headers = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
local threads = {}
local sent = 0
statuses = {}
created = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  sent = sent + 1
  if write_every > 0 and sent %% write_every == 0 then
    local body = string.format(
      '{"organisationId": %%d, "text": "%%s (load %%d)", "priority": "normal"}',
      organisation_ids[sent %% #organisation_ids + 1], texts[sent %% #texts + 1], sent)
    return wrk.format("POST", write_path, write_headers, body)
  end
  return wrk.format("GET", read_path, read_headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    table.insert(created, tonumber(body:match('"id":(%%d+)')))
  end
end

function done(summary, latency, requests)
  local out = io.open(ids_file, "w")
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("wrk-status %%d %%d\\n", status, count))
    end
    for _, id in ipairs(thread:get("created")) do
      out:write(id, "\\n")
    end
  end
  out:close()
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * UNITS_MS[unit]


def wrk(
    url: str,
    *,
    token: str,
    read_path: str,
    seconds: float,
    connections: int,
    workdir: Path,
    pin: list[str],
    demo: Demo,
    write_every: int = 0,
) -> WrkResult:
    """Run wrk (one thread) with the status-counting script; POST a need every ``write_every``."""
    ids_file = workdir / "created-ids.txt"
    script = workdir / "load.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "read_path": lua_string(read_path),
            "write_path": lua_string(f"{API}/communities/{demo.community_id}/needs"),
            "write_every": write_every,
            "ids_file": lua_string(str(ids_file)),
            "organisation_ids": ", ".join(str(i) for i in demo.organisation_ids),
            "texts": ", ".join(lua_string(t) for t in NEED_TEXTS),
            "token": lua_string(token),
        },
        encoding="utf-8",
    )
    command = [
        *pin,
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "--script",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output, ids_file)


def parse_wrk(output: str, ids_file: Path) -> WrkResult:
    def number(pattern: str) -> str:
        match = re.search(pattern, output)
        if match is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{output}")
        return match.group(1)

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    statuses = {
        int(status): int(count)
        for status, count in re.findall(r"^wrk-status (\d+) (\d+)$", output, re.MULTILINE)
    }
    return WrkResult(
        requests=int(number(r"(\d+) requests in")),
        seconds=_milliseconds(number(r"requests in ([\d.]+\w+),")) / 1e3,
        requests_per_second=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_milliseconds(number(r"\s50%\s+([\d.]+\w+)")),
        p99_ms=_milliseconds(number(r"\s99%\s+([\d.]+\w+)")),
        statuses=statuses,
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        created_ids=[int(line) for line in ids_file.read_text().split() if line],
    )


# --- one database --------------------------------------------------------------------------


def run_database(database: str, arguments: argparse.Namespace) -> Run:
    """Set up, run every phase and tear down one database."""
    started = time.monotonic()
    uptime_before = uptime()
    token = secrets.token_urlsafe(32)  # 43 characters
    server_pin, client_pin = cpu_sets()
    affinity = os.sched_getaffinity(0)
    workdir = Path(tempfile.mkdtemp(prefix=f"copmatch-load-{database}-"))
    try:
        with fresh_database(database, workdir) as url:
            engine = build_engine(url)
            try:
                print(f"[{database}] migrating and loading the demo …", flush=True)
                demo = load_data(engine, url)
                with serving(url, token, workdir, server_pin) as (port, pid):
                    if client_pin:
                        os.sched_setaffinity(0, {int(c) for c in client_pin[-1].split(",")})
                    run = _phases(
                        database,
                        arguments,
                        engine,
                        demo,
                        port,
                        pid,
                        demo.token,
                        workdir,
                        client_pin,
                    )
            finally:
                engine.dispose()
    finally:
        os.sched_setaffinity(0, affinity)
        shutil.rmtree(workdir, ignore_errors=True)
    run.uptime_before = uptime_before
    run.uptime_after = uptime()
    run.seconds = time.monotonic() - started
    return run


def _phases(
    database: str,
    arguments: argparse.Namespace,
    engine: Engine,
    demo: Demo,
    port: int,
    pid: int,
    token: str,
    workdir: Path,
    client_pin: list[str],
) -> Run:
    base = f"http://127.0.0.1:{port}"
    community = f"{API}/communities/{demo.community_id}"
    page_path = f"{community}/suggestions?limit={PAGE_SIZE}"
    need_paths = [f"{community}/needs/{need_id}" for need_id in demo.need_ids]
    machines: list[Machine] = []

    def load(read_path: str, write_every: int = 0) -> WrkResult:
        print(f"[{database}] wrk {read_path} (write every {write_every or '-'}) …", flush=True)
        with watching(pid, machines):
            result = wrk(
                base + read_path,
                token=token,
                read_path=read_path,
                seconds=arguments.duration,
                connections=arguments.connections,
                workdir=workdir,
                pin=client_pin,
                demo=demo,
                write_every=write_every,
            )
        result.machine = machines[-1]
        return result

    print(f"[{database}] sequential single-object reads …", flush=True)
    sequential(port, [page_path], token, 50)  # warm the suggestions path (lazy imports)
    with watching(pid, machines):
        single = sequential(port, need_paths, token, arguments.requests)
    single.machine = machines[-1]
    with watching(pid, machines):
        health_single = sequential(port, [f"{API}/health"], token, arguments.requests)
    health_single.machine = machines[-1]

    health = load(f"{API}/health")
    page = load(page_path)
    suggestions_total = count_rows(engine, Suggestion, demo.community_id)

    needs_before = count_rows(engine, Need, demo.community_id)
    mixed = load(page_path, write_every=WRITE_EVERY)
    rows_added = settled_count(engine, demo.community_id) - needs_before
    acknowledged = mixed.created_ids
    if len(acknowledged) != mixed.statuses.get(201, 0):
        raise RuntimeError("wrk's script did not read the id of every created need")
    lost = len(set(acknowledged) - stored_need_ids(engine, acknowledged)) if acknowledged else 0
    writes = Writes(
        acknowledged=len(acknowledged),
        rows_added=rows_added,
        lost=lost,
        unacknowledged=rows_added - (len(acknowledged) - lost),
    )
    return Run(
        database=database,
        single=single,
        health_single=health_single,
        health=health,
        page=page,
        mixed=mixed,
        writes=writes,
        suggestions_total=suggestions_total,
        uptime_before="",
        uptime_after="",
        seconds=0.0,
    )


# --- the report ----------------------------------------------------------------------------


def verdict(ok: bool, binding: bool) -> str:
    if ok:
        return "PASS"
    return "MISS" if binding else "miss (info)"


def print_run(run: Run, targets: Targets, connections: int) -> tuple[bool, bool]:
    """Print one database's table; returns (correct, targets met)."""
    binding = run.database == "postgresql"
    rows: list[tuple[str, str, str, str, str]] = []

    def ratio(value: float, baseline: float) -> str:
        return f"{value / baseline:.2f}x" if baseline else "-"

    def machine(m: Machine | None, requests: int) -> str:
        if m is None:
            return ""
        return (
            f"load {m.load_before:.1f}->{m.load_after:.1f}, CPUs {m.busy_share:.0%} busy, "
            f"server {m.server_core_share:.0%} of a core = "
            f"{m.server_cpu_seconds * 1e3 / max(requests, 1):.2f} ms CPU per request"
        )

    single, health_single, health, page, mixed = (
        run.single,
        run.health_single,
        run.health,
        run.page,
        run.mixed,
    )
    checks = {
        "single p50": single.p50_ms <= targets.single_p50_ms,
        "single p99": single.p99_ms <= targets.single_p99_ms,
        "page rps": page.requests_per_second >= targets.page_requests_per_second,
        "page p99": page.p99_ms <= targets.page_p99_ms,
    }
    rows += [
        (
            "GET need, sequential: p50",
            f"{single.p50_ms:.2f} ms",
            f"<= {targets.single_p50_ms:g} ms",
            f"health {health_single.p50_ms:.2f} ms = {ratio(single.p50_ms, health_single.p50_ms)}",
            verdict(checks["single p50"], binding),
        ),
        (
            "GET need, sequential: p99",
            f"{single.p99_ms:.2f} ms",
            f"<= {targets.single_p99_ms:g} ms",
            f"health {health_single.p99_ms:.2f} ms = {ratio(single.p99_ms, health_single.p99_ms)}",
            verdict(checks["single p99"], binding),
        ),
        (
            f"GET health, wrk c={connections}",
            f"{health.requests_per_second:,.0f} req/s",
            "(baseline)",
            f"p50 {health.p50_ms:.2f} ms, p99 {health.p99_ms:.2f} ms",
            "",
        ),
        (
            f"GET suggestions?limit={PAGE_SIZE}, c={connections}",
            f"{page.requests_per_second:,.0f} req/s",
            f">= {targets.page_requests_per_second:,.0f} req/s",
            f"health = {ratio(page.requests_per_second, health.requests_per_second)}",
            verdict(checks["page rps"], binding),
        ),
        (
            "  the same: p50 / p99",
            f"{page.p50_ms:.1f} / {page.p99_ms:.1f} ms",
            f"p99 <= {targets.page_p99_ms:g} ms",
            f"health p99 {health.p99_ms:.2f} ms = {ratio(page.p99_ms, health.p99_ms)}",
            verdict(checks["page p99"], binding),
        ),
        (
            f"mixed, 1 in {WRITE_EVERY} a POST need",
            f"{mixed.requests_per_second:,.0f} req/s",
            "",
            f"health = {ratio(mixed.requests_per_second, health.requests_per_second)}",
            "",
        ),
        (
            "  the same: p50 / p99",
            f"{mixed.p50_ms:.1f} / {mixed.p99_ms:.1f} ms",
            "",
            f"writes {mixed.statuses.get(201, 0) / mixed.seconds:.0f}/s",
            "",
        ),
    ]
    writes = run.writes
    failed = sum(r.failed for r in (health, page, mixed)) + sum(
        n for s in (single, health_single) for status, n in s.statuses.items() if status != 200
    )
    correct = writes.lost == 0 and 0 <= writes.unacknowledged <= connections and failed == 0
    rows += [
        (
            "writes: 201s / rows added",
            f"{writes.acknowledged} / {writes.rows_added}",
            "0 lost",
            f"lost {writes.lost}, in flight at stop {writes.unacknowledged}",
            "PASS" if writes.lost == 0 and 0 <= writes.unacknowledged <= connections else "FAIL",
        ),
        ("errors (non-2xx + socket)", str(failed), "0", "", "PASS" if failed == 0 else "FAIL"),
    ]
    print(
        f"\n== {run.database}: one uvicorn worker, {run.suggestions_total} suggestions, "
        f"{run.seconds:.0f} s; before: {run.uptime_before}; after: {run.uptime_after}"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    header = ("figure", "value", "target", "baseline (same run)", "verdict")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("  machine during each phase:")
    phases = (
        ("GET need, sequential", single.machine, single.requests),
        ("GET health, sequential", health_single.machine, health_single.requests),
        ("wrk health", health.machine, health.requests),
        ("wrk suggestions", page.machine, page.requests),
        ("wrk mixed", mixed.machine, mixed.requests),
    )
    for label, measured, requests in phases:
        print(f"    {label:24} {machine(measured, requests)}")
    return correct, all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        action="append",
        choices=["sqlite", "postgresql"],
        help="repeatable; default both",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a PostgreSQL target is missed"
    )
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2

    targets = Targets()
    correct = met = True
    for database in arguments.database or ["sqlite", "postgresql"]:
        if database == "postgresql" and (reason := postgres_reachable()) is not None:
            print(f"[postgresql] skipped: unreachable at {POSTGRES_URL}: {reason}")
            continue
        run = run_database(database, arguments)
        run_correct, run_met = print_run(run, targets, arguments.connections)
        correct = correct and run_correct
        met = met and (run_met or database != "postgresql")
    if not correct:
        return 1
    return 1 if arguments.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
