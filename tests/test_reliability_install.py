"""Issue 14, finding 5: a read-only install run by a user without a writable HOME.

The package is copied, made read-only (chmod -R a-w) and run as ``nobody`` with HOME unset: numba's
``cache=True`` used to raise "cannot cache function ...: no locator available". Also: a damaged
cache file recompiles instead of an UnpicklingError traceback, and TOKENLAB_NO_NUMBA=1 never imports
numba. CI runs as root, so the test drops to ``nobody`` with setpriv.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from reliability_util import small_tokenizer

SRC = Path(__file__).resolve().parent.parent / "src" / "tokenlab"
NOBODY = 65534

SCRIPT = r"""
import sys
import tokenlab
from tokenlab.io import load_tokenizer
assert tokenlab.__file__.startswith(sys.argv[2]), tokenlab.__file__  # the read-only copy, not the checkout
import tokenlab._byte_batch, tokenlab.train._native  # cache=True decorations: the old "no locator" error
try:
    import tokenlab.train._count
except ImportError:
    pass  # without numba (TOKENLAB_NO_NUMBA=1) the trainer counts with the regex
tok = load_tokenizer(sys.argv[1])
ids = tok.encode("hello the world, hello!")
assert tok.decode(ids) == "hello the world, hello!"
print(" ".join(map(str, ids)), "numba" in sys.modules)
"""


def _readonly_copy(root: Path) -> Path:
    site = root / "site"
    shutil.copytree(SRC, site / "tokenlab", ignore=shutil.ignore_patterns("__pycache__"))
    small_tokenizer().save(site / "tok.json")
    for dirpath, _dirs, filenames in os.walk(site):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)
    return site


def _open_path_for_others(path: Path, changed: list):
    """Let ``nobody`` traverse to the interpreter's files (CI's clone may sit under a 0700 directory)."""
    for parent in [path, *path.parents]:
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        if not mode & stat.S_IXOTH:
            changed.append((parent, mode))
            os.chmod(parent, mode | stat.S_IXOTH)


@pytest.fixture(scope="module")
def sandbox():
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as another user")
    root = Path(tempfile.mkdtemp(prefix="tokenlab-ro-"))
    os.chmod(root, 0o755)
    changed: list = []
    try:
        site = _readonly_copy(root)
        for p in {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent,
                  Path(np_path()).parent}:
            _open_path_for_others(p, changed)
        tmp = root / "tmp"
        tmp.mkdir()
        os.chown(tmp, NOBODY, NOBODY)
        yield site, tmp
    finally:
        for parent, mode in reversed(changed):
            os.chmod(parent, mode)
        for dirpath, _dirs, _files in os.walk(root):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(root, ignore_errors=True)


def np_path() -> str:
    import numpy

    return os.path.dirname(numpy.__file__)


def _run_as_nobody(site: Path, tmp: Path, **env_extra):
    # the numba path is what caches compiled code: the C kernel (checked on its own below) is turned off
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(site), "TMPDIR": str(tmp),
           "PYTHONDONTWRITEBYTECODE": "1", "TOKENLAB_NO_NATIVE": "1", **env_extra}
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", SCRIPT,
           str(site / "tok.json"), str(site)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(tmp), timeout=600)


@pytest.mark.slow
def test_readonly_install_without_home_runs_and_caches_in_a_private_temp_dir(sandbox):
    site, tmp = sandbox
    want = " ".join(map(str, small_tokenizer().encode("hello the world, hello!")))
    first = _run_as_nobody(site, tmp)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.split()[:-1] == want.split() and first.stdout.split()[-1] == "True"
    notes = [line for line in first.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: ") and "cache" in notes[0], first.stderr
    cache = tmp / f"tokenlab-numba-{NOBODY}"
    files = [p for p in cache.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert files and stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    index = sorted(p for p in files if p.suffix == ".nbi")
    data = sorted(p for p in files if p.suffix == ".nbc")
    for p in (index[0], data[-1]):  # a killed process's half-written cache: recompiled, no UnpicklingError
        content = p.read_bytes()
        p.write_bytes(content[: len(content) // 3])
    again = _run_as_nobody(site, tmp)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert again.stdout == first.stdout


@pytest.mark.slow
def test_no_numba_env_never_imports_numba(sandbox):
    site, tmp = sandbox
    result = _run_as_nobody(site, tmp, TOKENLAB_NO_NUMBA="1")
    assert result.returncode == 0, result.stderr[-2000:]
    want = " ".join(map(str, small_tokenizer().encode("hello the world, hello!")))
    assert result.stdout.split()[:-1] == want.split() and result.stdout.split()[-1] == "False"
    assert result.stderr.strip() == ""


@pytest.mark.slow
def test_c_kernel_runs_on_a_readonly_install(sandbox):
    from tokenlab.kernels import bpe

    if bpe is None:
        pytest.skip("the C kernel was not built")
    site, tmp = sandbox
    result = _run_as_nobody(site, tmp, TOKENLAB_NO_NATIVE="0", TOKENLAB_NO_NUMBA="1")
    assert result.returncode == 0, result.stderr[-2000:]
    want = " ".join(map(str, small_tokenizer().encode("hello the world, hello!")))
    assert result.stdout.split()[:-1] == want.split() and result.stdout.split()[-1] == "False"
