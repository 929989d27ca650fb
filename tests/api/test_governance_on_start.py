"""A server started by uvicorn alone adopts its governing settings, as ``triad serve`` does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import free_port
from triadops.domain.errors import Conflict
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.governance import read_governance

pytestmark = pytest.mark.slow


def uvicorn_alone(settings: Settings, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    """Run ``uvicorn triadops.api.app:app_from_env --factory`` with a 60 s approval timeout."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",
        "TRIAD_MONITOR": "false",
        "TRIAD_APPROVAL_TIMEOUT_S": "60",
    }
    command = [sys.executable, "-m", "uvicorn", "triadops.api.app:app_from_env", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with (cwd / "uvicorn.log").open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


async def test_uvicorn_on_the_factory_adopts_its_governance_before_serving(
    settings: Settings, tmp_path: Path
) -> None:
    rt = await Runtime.open(settings)
    try:
        # A local writer came first, under the defaults (86400 s to approve).
        assert await rt.check_governance(writer="triad ops submit (alice on laptop)") is not None
        port = free_port()
        process = uvicorn_alone(settings, port, tmp_path)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (tmp_path / "uvicorn.log").read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=30)

        async with rt.session(read_only=True) as session:
            row = await read_governance(session)
        assert row is not None
        assert row.settings["approval_timeout_s"] == 60
        assert row.set_by.startswith("triad API on ")
        # The local writer under the old defaults is now the one that differs.
        with pytest.raises(Conflict, match=r"approval_timeout_s is 86400\.0 but the database's"):
            await rt.check_governance(writer="triad ops submit (alice on laptop)")
        log = (tmp_path / "uvicorn.log").read_text()
        assert "governing settings changed (approval_timeout_s)" in log
    finally:
        await rt.close()
