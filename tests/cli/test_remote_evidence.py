"""``triad evidence`` against a real server: a viewer's export, the same bundle as locally.

The server is a real ``triad serve`` holding the checkpoint key; the local CLI works on the
same database with the same key.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import data, one_error_line
from tests.cli.test_remote import _run
from tests.cli.test_remote_crown import KEY
from triadops.cli.main import app
from triadops.constitution.ledger import checkpoints

pytestmark = pytest.mark.slow

Both = tuple[CliRunner, dict[str, str], dict[str, str]]


@pytest.fixture
def server_env() -> dict[str, str]:
    """The server signs checkpoints with `KEY`."""
    return {"TRIAD_CHECKPOINT_KEY": KEY}


def viewer_token(runner: CliRunner, local: dict[str, str]) -> str:
    made = _run(runner, local, "token", "create", "--name", "auditor", "--role", "viewer", "--json")
    token: str = data(made)["token"]
    return token


def without_export_time(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    document.pop("exported_at")
    return document


def test_a_viewer_exports_remotely_the_bundle_a_local_export_writes(
    both: Both, tmp_path: Path
) -> None:
    runner, local, remote = both
    local = local | {"TRIAD_CHECKPOINT_KEY": KEY}
    viewer = remote | {"TRIAD_TOKEN": viewer_token(runner, local)}
    submitted = _run(runner, remote, "ops", "submit", "--step", "noop", "--id", "op-v", "--wait")
    assert submitted.exit_code == 0, submitted.output
    early = _run(runner, viewer, "evidence", "op-v", "--out", str(tmp_path / "early.json"))
    assert "no signed checkpoint covers entry" in one_error_line(early)
    assert _run(runner, local, "audit", "checkpoint").exit_code == 0
    there, here = tmp_path / "there.json", tmp_path / "here.json"

    remotely = _run(runner, viewer, "evidence", "op-v", "--out", str(there))
    locally = _run(runner, local, "evidence", "op-v", "--out", str(here))

    assert remotely.exit_code == locally.exit_code == 0, (remotely.output, locally.output)
    assert remotely.stdout.replace(str(there), "F") == locally.stdout.replace(str(here), "F")
    assert without_export_time(there) == without_export_time(here)
    assert list(tmp_path.glob(".*.partial")) == [], "the temporary files are gone"
    public = tmp_path / "checkpoint.pub"
    private = checkpoints.parse_private_key(KEY.encode(), source="test")
    public.write_text(checkpoints.public_key_text(private.public_key()))
    verified = _run(runner, {}, "evidence", "verify", str(there), "--public-key", str(public))
    assert verified.exit_code == 0, verified.output
    missing = _run(runner, viewer, "evidence", "op-nosuch", "--out", str(tmp_path / "x.json"))
    assert "op-nosuch" in one_error_line(missing) and missing.exit_code == 1


@pytest.mark.parametrize("server_env", [{}], ids=["no-key"])
def test_a_server_without_a_key_says_so(both: Both, tmp_path: Path) -> None:
    runner, _, remote = both
    _run(runner, remote, "ops", "submit", "--step", "noop", "--id", "op-n", "--wait")

    refused = _run(runner, remote, "evidence", "op-n", "--out", str(tmp_path / "n.json"))

    assert refused.exit_code == 1
    assert one_error_line(refused) == (
        "error: the server: evidence needs signed checkpoints and no checkpoint key is "
        "configured (checkpoint_public_key_file, checkpoint_key_file or checkpoint_key)"
    )


class _Liar(BaseHTTPRequestHandler):
    """A server that answers any evidence request with a summary lacking most fields."""

    def do_GET(self) -> None:
        body = b'{"format": "triadops-evidence-v1", "entries": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Triad-Evidence-Summary", json.dumps({"operation_id": "op-x"}))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_summary_lacking_fields_is_one_line_and_no_file(tmp_path: Path) -> None:
    """A server (or a proxy) whose summary header lacks fields: refused, nothing written."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "TRIAD_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "TRIAD_TOKEN": "triad_anything",
            "TRIAD_HOME": str(tmp_path / "home"),
        }
        out = tmp_path / "bundle.json"
        result = CliRunner().invoke(
            app, ["evidence", "op-x", "--out", str(out)], env=env, catch_exceptions=False
        )
    finally:
        server.shutdown()
        server.server_close()
    assert "summary lacks" in one_error_line(result) and "checkpoint_seq" in result.stderr
    assert list(tmp_path.glob("bundle*")) == [] and not list(tmp_path.glob(".bundle*"))
