"""``triad serve`` (API and worker in one process) and ``triad worker`` (a worker alone)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
from pathlib import Path
from typing import Annotated

import structlog
import typer

from triadops.cli.context import BadInput, load_settings, run
from triadops.cli.output import console
from triadops.logconfig import configure_logging
from triadops.runtime import Runtime
from triadops.settings.logs import secret_values
from triadops.worker import worker_name


def serve(
    host: Annotated[str | None, typer.Option(help="Default: api_host (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Default: api_port.")] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="Serve https: this PEM certificate."
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="The certificate's PEM private key."
        ),
    ] = None,
) -> None:
    """Serve the API with a worker in the same process until SIGINT/SIGTERM.

    With --ssl-certfile and --ssl-keyfile it serves https (the console's session cookie is
    then ``__Host-triad_console``, Secure, on any host name).
    """
    import uvicorn

    _check_tls(ssl_certfile, ssl_keyfile)

    # Imported here, for real: only ``triad serve`` pays for the API's imports (the one
    # place the CLI composes the API, as the import contract's exception says).
    from triadops.api.app import app_from_env

    settings = load_settings()  # a bad setting is one line here, before the server starts

    async def reachable(rt: Runtime) -> str | None:
        """Open the runtime (and migrate), and make this server's settings the governing ones.

        A failure is one line, exit 1. The server owns the governing settings: every other
        writer of the database (workers, a local CLI) must then apply the same.
        """
        said = await rt.check_governance(
            writer=f"triad serve on {socket.gethostname()}", adopt=True
        )
        return said

    said = run(reachable, creates=True, serves=True)
    configure_logging(
        files=settings.logs.open_files(settings.log_dir), secrets=secret_values(settings)
    )
    if said:
        # The server's output is its structured log: one JSON event a line.
        structlog.stdlib.get_logger(__name__).info("governance", said=said)
    uvicorn.run(
        app_from_env,
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        # None: uvicorn keeps the logging configured above instead of installing its own.
        log_config=None,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Refuse (one line, exit 2) half a TLS pair, or a pair that does not load, before serving."""
    if (certfile is None) != (keyfile is None):
        raise BadInput("--ssl-certfile and --ssl-keyfile go together: give both or neither")
    if certfile is None or keyfile is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, ValueError) as exc:
        raise BadInput(
            f"--ssl-certfile/--ssl-keyfile: {certfile} and {keyfile} do not load as a PEM "
            f"certificate and its key ({exc.__class__.__name__})"
        ) from None


def worker() -> None:
    """Drive operations until SIGINT/SIGTERM, then stop cleanly (exit 0)."""
    owner = worker_name()

    async def work(rt: Runtime) -> None:
        await rt.check_governance(writer=f"triad worker {owner}")
        # What startup built (modules, the registries, the settings) lives as long as the
        # process: out of the collector's sight, a full collection walks only what the
        # operations allocate, not the whole program again each time.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        console(stderr=True).print(f"worker {owner} started; Ctrl-C to stop")
        try:
            await rt.work(stop=stop, owner=owner)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    run(work, creates=True, serves=True, log_level=logging.INFO, log_files=True)
    console(stderr=True).print(f"worker {owner} stopped")
