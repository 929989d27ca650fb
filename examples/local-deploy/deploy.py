"""Deploy a version of ``service.py``, or roll back to the one before.

``python deploy.py FOLDER PORT VERSION`` keeps the current version as ``PREVIOUS``, writes
``VERSION``, restarts the service and waits until it answers. ``python deploy.py FOLDER PORT
--rollback`` puts ``PREVIOUS`` back the same way. Prints what it did as one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 20.0


def _stop(folder: Path) -> None:
    pid_file = folder / "service.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _start(folder: Path, port: int) -> None:
    log = (folder / "service.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "service.py"), str(folder), str(port)],
        stdout=log,
        stderr=log,
        start_new_session=True,  # outlives this script, as a service does
    )
    (folder / "service.pid").write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the service exited with {process.returncode}") from None
            time.sleep(0.05)
    raise SystemExit(f"the service did not answer on port {port} in {START_TIMEOUT_S:g} s")


def main() -> None:
    folder, port, target = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    folder.mkdir(parents=True, exist_ok=True)
    current_file, previous_file = folder / "VERSION", folder / "PREVIOUS"
    current = current_file.read_text().strip() if current_file.exists() else None
    if target == "--rollback":
        if not previous_file.exists():
            raise SystemExit("nothing to roll back to: no PREVIOUS version")
        version = previous_file.read_text().strip()
    else:
        version = target
        if current is not None:
            previous_file.write_text(current + "\n")
    current_file.write_text(version + "\n")
    _stop(folder)
    _start(folder, port)
    print(json.dumps({"deployed": version, "replaced": current, "port": port}))


if __name__ == "__main__":
    main()
