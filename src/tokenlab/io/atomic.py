"""Write files so that a crash or a bad input never leaves a half-written output behind.

Rules (docs/reliability.md):

* the new content goes to a temp file beside the target, renamed over it only when complete;
* only regular files are replaced: a directory, device node, FIFO or socket is refused
  (``-o /dev/full`` must not turn the device into a file);
* a symlink is followed: the file it points to is replaced, the link stays;
* an existing file keeps its permission bits (and, where allowed, its owner);
* a file with other hard links is still replaced atomically, which detaches those other names from the
  new content: a one-line warning says so (breaking atomicity instead would risk half-written files);
* temp files are named ``.NAME.tokenlab-PID-RANDOM.tmp``; SIGTERM removes ours, and the next write into
  a directory removes those whose process is gone (left by ``kill -9``).
"""

from __future__ import annotations

import os
import re
import signal
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidInputError

_TAG = ".tokenlab-"
_STALE = re.compile(r"^\..+\.tokenlab-(\d+)-[^./]+\.tmp$")


def resolve_target(path) -> tuple[Path, os.stat_result | None]:
    """The regular file to replace (symlinks followed) and its stat, or None when it does not exist yet."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return path, None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{path}: is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file")
        raise InvalidInputError(f"{path}: is {kind}; outputs are written to regular files only")
    return path, st


def remove_stale_temps(directory) -> int:
    """Delete temp files of our naming in ``directory`` whose writing process no longer exists."""
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        m = _STALE.match(name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


class _Terminated(SystemExit):
    """SIGTERM while writing: unwinds like an exception so the temp file is removed, then exits 143."""


@contextmanager
def _sigterm_unwinds():
    """In the main thread, turn SIGTERM into an exception for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except (ValueError, OSError):  # pragma: no cover - platforms without SIGTERM
        yield
        return
    if previous not in (signal.SIG_DFL, None):  # someone else handles it: leave theirs
        yield
        return

    def handler(signum, frame):
        raise _Terminated(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_path(path):
    """Yield a temp path beside ``path``; it replaces ``path`` only if the block succeeds."""
    target, st = resolve_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent)
    with _sigterm_unwinds():
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{_TAG}{os.getpid()}-", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            _copy_metadata(tmp, st)
            yield Path(tmp)
            st_now = _recheck(target)
            if st_now is not None and st_now.st_nlink > 1:
                sys.stderr.write(f"warning: {target} had {st_now.st_nlink - 1} other hard link(s); they keep the "
                                 "old content\n")
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def _recheck(target: Path) -> os.stat_result | None:
    """Stat again just before the rename: a directory or device put there meanwhile is still refused."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        resolve_target(target)  # raises with the message
    return st


def _copy_metadata(tmp: str, st: os.stat_result | None) -> None:
    if st is None:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; new outputs look like any other file
        return
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    made = os.stat(tmp)  # its owner: this process's user, and its group or a set-group-ID directory's group
    if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (made.st_uid, made.st_gid):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
