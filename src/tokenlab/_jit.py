"""The one place numba is imported and configured; every compiled module takes ``njit`` from here.

* ``TOKENLAB_NO_NUMBA=1``: numba is never imported; ``HAVE_NUMBA`` is False and ``njit`` leaves functions
  as plain Python (callers take their pure-Python paths).
* Caching (``cache=True``) needs a writable directory. numba's default is ``__pycache__`` beside the
  sources, then a user cache under ``$HOME``; a read-only install run by a user without a writable home
  (containers, ``nobody``) has neither, and numba raises "cannot cache function ...: no locator
  available". So before numba is imported we pick a cache directory we can write (``NUMBA_CACHE_DIR`` if
  set, the package's own ``__pycache__``, ``$XDG_CACHE_HOME``/``~/.cache``, else a private 0700 temp
  directory), or turn caching off, and say so in one ``note:`` line on stderr.
* A damaged cache file (a truncated index or data file from a killed process) is treated as a cache miss:
  the function is compiled again and the entry rewritten, instead of an UnpicklingError traceback.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile

NO_NUMBA = os.environ.get("TOKENLAB_NO_NUMBA", "") not in ("", "0")
CACHE_DIR: str | None = None  # where compiled code is cached; None with caching off
_notes: list[str] = []


def _usable_dir(path: str, private: bool = False) -> bool:
    """``path`` exists or can be made, is writable by us and (``private``) only by us."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return False
    if private and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return False  # someone else's directory in a shared temp dir could feed us pickles
    return os.access(path, os.W_OK | os.X_OK)


def _choose_cache_dir() -> str | None:
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        if _usable_dir(given):
            return given
        _notes.append(f"NUMBA_CACHE_DIR={given} is not writable")
    elif _usable_dir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")):
        return ""  # numba's own default (beside the sources) works: leave it alone
    candidates = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        candidates.append(os.path.join(xdg, "tokenlab", "numba"))
    home = os.environ.get("HOME")
    if home:
        candidates.append(os.path.join(home, ".cache", "tokenlab", "numba"))
    for path in candidates:
        if _usable_dir(path):
            return path
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"tokenlab-numba-{uid}")
    if _usable_dir(path, private=True):
        _notes.append(f"compiled code is cached in {path} (no writable cache directory; set NUMBA_CACHE_DIR)")
        return path
    _notes.append("numba caching is off (no writable cache directory; set NUMBA_CACHE_DIR): "
                  "each run compiles again")
    return None


def _tolerate_damaged_cache(caching) -> None:
    """A cache index or data file that does not unpickle is a miss (recompile), not a crash."""
    cls = caching.IndexDataCacheFile
    if getattr(cls, "_tokenlab_tolerant", False):
        return
    load_index, load = cls._load_index, cls.load

    def _load_index(self):
        try:
            return load_index(self)
        except Exception:  # truncated or garbled pickle: start a fresh index
            return {}

    def _load(self, key):
        try:
            return load(self, key)
        except Exception:
            return None

    cls._load_index, cls.load, cls._tokenlab_tolerant = _load_index, _load, True


def _setup():
    global CACHE_DIR
    if NO_NUMBA:
        return None
    chosen = _choose_cache_dir()
    if chosen:
        os.environ["NUMBA_CACHE_DIR"] = chosen
    try:
        import numba
        from numba.core import caching, config
    except ImportError:
        return None
    if chosen:
        config.CACHE_DIR = chosen  # numba may have been imported (and configured) before us
    CACHE_DIR = chosen if chosen else (None if chosen is None else "__pycache__")
    _tolerate_damaged_cache(caching)
    for note in _notes:
        sys.stderr.write(f"note: {note}\n")
    return numba


_numba = _setup()
HAVE_NUMBA = _numba is not None


def njit(*args, **kwargs):
    """numba's ``njit`` with ``cache`` dropped when caching is off; without numba, functions stay Python."""
    if not HAVE_NUMBA:
        def keep(fn):
            return fn

        return keep(args[0]) if args and callable(args[0]) else keep
    if CACHE_DIR is None:
        kwargs.pop("cache", None)
    return _numba.njit(*args, **kwargs)


def require_numba():
    """numba itself, for modules that only work compiled; ImportError (the callers' fallback) otherwise."""
    if not HAVE_NUMBA:
        raise ImportError("numba is not available (not installed, or TOKENLAB_NO_NUMBA=1)")
    return _numba
