"""A local command's process group tied to triad: when the process that started it dies, it dies.

On Linux the runner starts a small supervisor (this interpreter, isolated, ``-I -S``) as the
group's leader instead of the command itself. The supervisor asks the kernel for a signal
when its parent dies (``PR_SET_PDEATHSIG``), starts the command as its child in the same
group, and waits: on that signal it kills the whole group, so a SIGKILLed worker leaves no
command, nor any of its children, running as an orphan. Otherwise it lives exactly as long
as the command (it ignores the group's SIGTERM) and exits as the command did, with its exit
code or by the same signal. The program is resolved before the start, as ``exec`` would, so
a missing or non-executable program still fails naming it. Elsewhere the command is started
as it is (no tether). The kernel's signal follows the thread that started the supervisor:
commands start from the event loop's thread, which lives as long as the worker does.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping

__all__ = ["SUPERVISOR", "TETHERED", "resolve", "tethered"]

TETHERED = sys.platform == "linux"
"""Whether commands are tied to the life of the process that starts them here."""

SUPERVISOR = """
import ctypes, os, signal, sys
parent, program, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def end(signum, frame):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGUSR2, end)
if ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGUSR2)) == 0:
    if os.getppid() != parent:
        end(0, None)
pid = os.fork()
if pid == 0:
    for restored in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGUSR2):
        signal.signal(restored, signal.SIG_DFL)
    try:
        os.execv(program, argv)
    except OSError as exc:
        os.write(2, f"triad: cannot run {argv[0]!r}: {exc.strerror}\\n".encode())
    os._exit(127)
for ignored in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(ignored, signal.SIG_IGN)
status = os.waitpid(pid, 0)[1]
if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    if sig != signal.SIGKILL:
        signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def resolve(program: str, env: Mapping[str, str], cwd: str | None) -> str:
    """Return the path ``exec`` would run for `program`, or raise as ``exec`` would.

    A name without a slash is searched in the command's own ``PATH``; a path is taken
    relative to the command's working directory.
    """
    if "/" not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found is None:
            raise FileNotFoundError(program)
        return found
    path = os.path.join(cwd or os.getcwd(), program)
    if not os.path.exists(path):
        raise FileNotFoundError(program)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise PermissionError(program)
    return program


def tethered(argv: tuple[str, ...], env: Mapping[str, str], cwd: str | None) -> tuple[str, ...]:
    """Return what to start for `argv`: the supervisor around it on Linux, else `argv`."""
    if not TETHERED:
        return argv
    program = resolve(argv[0], env, cwd)
    supervisor = (sys.executable, "-I", "-S", "-c", SUPERVISOR, str(os.getpid()))
    return (*supervisor, program, *argv)
