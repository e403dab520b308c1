"""The HTML report in a real browser: headless Chromium loads it from a running server with the
demo community and renders the page and its SVG charts.

Chromium is ``/usr/bin/chromium`` (Debian's package). Without it the test skips, except under
``CI=true``, where ``.ci/run`` installs it and the test must run. Timeouts are generous: a cold
Chromium can take a while to start on a small machine.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.db import build_engine, session_scope
from app.main import create_app
from app.migrate import upgrade_to_head
from app.services.demo import load_demo
from app.services.organisations import load_municipalities
from tests.conftest import ADMIN_TOKEN, IN_CI
from tests.test_reports import parse_html

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_TIMEOUT = 180
NEEDS_COLOUR = (0xC2, 0x41, 0x0C)  # app.reports.document.NEEDS_COLOUR


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install chromium); CI installs it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class SignedIn:
    """Adds the admin's bearer token to every request, as a signed-in browser would send it
    (Chromium has no switch for request headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [h for h in scope["headers"] if h[0] != b"authorization"]
            headers.append((b"authorization", f"Bearer {ADMIN_TOKEN}".encode()))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Server:
    base: str
    community_id: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn on a free local port, in a thread, on a new SQLite file with the demo loaded."""
    require_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.sqlite3'}"
    upgrade_to_head(url)
    engine = build_engine(url)
    with session_scope(engine) as session:
        load_municipalities(session)
        community_id = load_demo(session).community_id
    app = create_app(
        Settings(environment="test", database_url=url, admin_token=ADMIN_TOKEN), engine
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(SignedIn(app), log_level="warning", lifespan="off")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(
        target=uvicorn_server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    try:
        yield Server(base=base, community_id=community_id)
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        engine.dispose()


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium once (retried once if it hangs at start-up)."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-proxy-server",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    for attempt in (1, 2):
        try:
            return subprocess.run(
                command, capture_output=True, timeout=CHROMIUM_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> None:
    """Undo one scanline's PNG filter in place (None, Sub, Up, Average, Paeth)."""
    if kind == 1:
        for i in range(step, len(line)):
            line[i] = (line[i] + line[i - step]) & 0xFF
    elif kind == 2:
        for i in range(len(line)):
            line[i] = (line[i] + previous[i]) & 0xFF
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - step] if i >= step else 0
            line[i] = (line[i] + (left + previous[i]) // 2) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            up_left = previous[i - step] if i >= step else 0
            estimate = left + up - up_left
            near_left, near_up = abs(estimate - left), abs(estimate - up)
            near_up_left = abs(estimate - up_left)
            if near_left <= near_up and near_left <= near_up_left:
                line[i] = (line[i] + left) & 0xFF
            elif near_up <= near_up_left:
                line[i] = (line[i] + up) & 0xFF
            else:
                line[i] = (line[i] + up_left) & 0xFF


def has_pixel(row: bytes, colour: bytes) -> bool:
    """Whether an RGB row has a pixel of exactly ``colour``."""
    found = row.find(colour)
    while found != -1:
        if found % 3 == 0:
            return True
        found = row.find(colour, found + 1)
    return False


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG (enough for a screenshot)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length, kind) = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    assert colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(kind, line, previous, channels)
        previous = line
        rgb = bytes(line) if channels == 3 else bytes(b for j, b in enumerate(line) if j % 4 != 3)
        rows.append(rgb)
    return width, height, rows


def test_the_html_report_renders_in_chromium(server: Server, tmp_path: Path) -> None:
    page = f"{server.base}/api/v1/communities/{server.community_id}/report?lang=en"
    with httpx.Client(trust_env=False, timeout=60) as client:
        plan = client.get(page).json()  # the server signs every request in

    dumped = chromium(tmp_path / "dom", "--dump-dom", page)
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")[-2000:]
    dom = parse_html(dumped.stdout.decode())
    assert [attrs["id"] for tag, attrs in dom.tags if tag == "svg"] == [
        "chart-demand",
        "chart-formats",
    ]
    bars = [attrs for tag, attrs in dom.tags if tag == "rect" and attrs.get("class") == "bar"]
    themes = plan["demandSupply"]["themes"]
    assert len(bars) == 2 * len(themes) + len(plan["formatPreferences"]["items"])
    assert [int(b["data-value"] or "") for b in bars if b["data-series"] == "needs"] == [
        t["needs"] for t in themes
    ]
    text = "".join(dom.text)
    assert f"Programme plan {plan['community']['name']}" in text
    assert "7. Knowledge retention" in text

    screenshot = tmp_path / "report.png"
    shot = chromium(
        tmp_path / "shot", f"--screenshot={screenshot}", "--window-size=1200,2400", page
    )
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    width, height, rows = png_pixels(screenshot.read_bytes())
    assert (width, height) == (1200, 2400)
    colours = {row[i : i + 3] for row in rows[::8] for i in range(0, len(row), 24)}
    assert len(colours) > 20, "the page rendered as (nearly) one colour"
    # The demand chart's orange bars are on screen.
    assert any(has_pixel(row, bytes(NEEDS_COLOUR)) for row in rows)
