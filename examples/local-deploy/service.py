"""A small service to deploy: it answers its version, read from a file when it starts.

``python service.py FOLDER PORT`` serves ``GET /version`` (``{"version": ...}``) and
``GET /health`` on 127.0.0.1:PORT. A version whose name starts with ``broken`` answers
``/health`` with 500, so a deployment of it fails its probe and is rolled back.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    folder, port = Path(sys.argv[1]), int(sys.argv[2])
    version = (folder / "VERSION").read_text(encoding="utf-8").strip()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/version":
                self._answer(200, {"version": version})
            elif self.path == "/health":
                healthy = not version.startswith("broken")
                self._answer(200 if healthy else 500, {"healthy": healthy, "version": version})
            else:
                self._answer(404, {"error": "not found"})

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
