"""Schemathesis against the live app: every check, stateful links, a fixed seed.

Usage: ``python scripts/fuzz.py [--database sqlite|postgresql] [--max-examples N]``
(``make fuzz`` runs it on both databases). It builds a fresh database with the demo community
and a second community, starts the API with uvicorn, and runs schemathesis twice:

1. as the admin, with every check (``--checks all``), all phases including the stateful one
   that follows the OpenAPI links (create → read → update → delete);
2. as two members of different municipalities in different communities, as *peers* that must
   not see each other's objects (schemathesis' object-level authorization check).

Exit code 0 only when both runs report no failure. The numbers of generated cases are printed.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "COPMATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SEED = 20230614  # the kick-off at Seinwezen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prepare_database(database: str, workdir: Path) -> tuple[str, str | None]:
    """A fresh database URL (and the PostgreSQL schema to drop afterwards)."""
    if database == "sqlite":
        return f"sqlite:///{workdir / 'fuzz.sqlite3'}", None
    from sqlalchemy import create_engine, text

    schema = f"copmatch_fuzz_{os.getpid()}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def copmatch(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "copmatch"), *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def member_tokens(api: httpx.Client) -> dict[str, str]:
    """Two members of municipalities in different communities: Haarlem (demo) and Texel."""
    haarlem = api.get("/organisations", params={"cbsCode": "GM0392"}).json()["items"][0]
    texel = api.get("/organisations", params={"cbsCode": "GM0448"}).json()["items"][0]
    island = api.post("/communities", json={"name": "CoP Waddeneilanden"}).json()
    api.post(f"/communities/{island['id']}/members", json={"organisationId": texel["id"]})
    tokens = {}
    for name, organisation in (("haarlem", haarlem), ("texel", texel)):
        person = api.post(
            f"/organisations/{organisation['id']}/people",
            json={"name": f"Fuzz {name}", "email": f"fuzz.{name}@example.org"},
        ).json()
        tokens[name] = api.post(f"/people/{person['id']}/tokens").json()["token"]
    return tokens


def run_schemathesis(config: Path, url: str, *extra: str) -> tuple[int, str]:
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{url}/api/v1/openapi.json",
        "--url",
        f"{url}/api/v1",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--no-color",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def cases(output: str) -> int:
    match = re.search(r"(\d+) generated", output)
    return int(match.group(1)) if match else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=25)
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="copmatch-fuzz-"))
    database_url, schema = prepare_database(arguments.database, workdir)
    admin = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "COPMATCH_DATABASE_URL": database_url,
        "COPMATCH_ENVIRONMENT": "test",
        "COPMATCH_ADMIN_TOKEN": admin,
        "COPMATCH_LOG_LEVEL": "warning",
    }
    server: subprocess.Popen[bytes] | None = None
    try:
        copmatch(env, "migrate")
        copmatch(env, "load-municipalities")
        copmatch(env, "demo")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(BIN / "copmatch"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "server.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                print("the API did not start", file=sys.stderr)
                return 2
            time.sleep(0.2)
        with httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {admin}"}, timeout=30
        ) as api:
            peers = member_tokens(api)

        wfc = workdir / "wfc.json"
        wfc.write_text(
            json.dumps(
                {
                    "auth": [
                        {
                            "name": name,
                            "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}],
                        }
                        for name, token in peers.items()
                    ]
                }
            ),
            encoding="utf-8",
        )
        base = ROOT / "schemathesis.toml"
        admin_config = workdir / "admin.toml"
        admin_config.write_text(
            f'headers = {{ Authorization = "Bearer {admin}" }}\n\n'
            + base.read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        peer_config = workdir / "peers.toml"
        peer_config.write_text(
            base.read_text(encoding="utf-8")
            + f'\n[auth.wfc]\npath = "{wfc}"\npeers = ["haarlem", "texel"]\n',
            encoding="utf-8",
        )
        examples = ["--max-examples", str(arguments.max_examples)]
        # The members go first, before the admin run can erase or deactivate them, and leave
        # out what would end their own access (erasing or deactivating themselves, revoking
        # their token): those operations are fuzzed by the admin run.
        own_access = [
            "--exclude-operation-id=deletePerson",
            "--exclude-operation-id=updatePerson",
            "--exclude-operation-id=revokeToken",
        ]
        runs = (
            ("two members as peers", peer_config, own_access),
            ("admin", admin_config, []),
        )
        results = []
        for label, config, extra in runs:
            code, output = run_schemathesis(config, url, *examples, *extra)
            print(output)
            results.append((label, code, cases(output)))
        print(f"schemathesis on {arguments.database}:")
        for label, code, count in results:
            print(
                f"  {label}: {count} generated cases, {'no failures' if code == 0 else 'FAILURES'}"
            )
        return 0 if all(code == 0 for _, code, _ in results) else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        if schema is not None:
            drop_schema(schema)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
