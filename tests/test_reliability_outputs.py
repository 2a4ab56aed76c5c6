"""Issue 14, finding 4: output safety of the write-temp-then-rename (tokenlab.io.atomic) and its callers."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from tokenlab.cli import main
from tokenlab.errors import InvalidInputError
from tokenlab.io.atomic import atomic_path, atomic_write_text, remove_stale_temps

from reliability_util import small_tokenizer

SRC = os.path.join(os.path.dirname(__file__), os.pardir, "src")


@pytest.fixture()
def tok_path(tmp_path):
    path = tmp_path / "tok.json"
    small_tokenizer().save(path)
    return str(path)


def _encode_to(tok_path, out):
    result = CliRunner().invoke(main, ["encode", "-t", tok_path, "hello world", "-o", str(out)])
    return result.exit_code, result.output


def test_device_nodes_are_refused_not_replaced(tok_path, tmp_path):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    before = os.stat("/dev/null")
    code, out = _encode_to(tok_path, "/dev/null")
    assert code == 1 and out.startswith("error: ") and "device" in out
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    with pytest.raises(InvalidInputError, match="device"):
        atomic_write_text("/dev/null", "x")
    assert not [n for n in os.listdir("/dev") if ".tokenlab-" in n]


def test_directories_and_fifos_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidInputError, match="directory"):
        atomic_write_text(tmp_path / "d", "x")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInputError, match="FIFO"):
        atomic_write_text(tmp_path / "fifo", "x")


def test_symlink_is_followed_and_kept(tmp_path, tok_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    code, out = _encode_to(tok_path, link)
    assert code == 0, out
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().split() == [str(i) for i in small_tokenizer().encode("hello world")]


def test_existing_mode_is_kept(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    os.chmod(path, 0o600)
    atomic_write_text(path, "new")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text() == "new"
    os.chmod(path, 0o640)
    atomic_write_text(path, "newer")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_hard_link_is_reported(tmp_path, capfd):
    path = tmp_path / "out.txt"
    path.write_text("old")
    os.link(path, tmp_path / "other.txt")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and (tmp_path / "other.txt").read_text() == "old"
    assert "hard link" in capfd.readouterr().err


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.txt.tokenlab-{pid}-abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".out.txt.tokenlab-{os.getppid()}-def456.tmp"  # a running process: kept
    live.write_bytes(b"y")
    other = tmp_path / ".out.txt.abcd.tmp"  # not our naming: kept
    other.write_bytes(b"z")
    atomic_write_text(tmp_path / "out.txt", "new")
    assert not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temps(tmp_path) == 0


def test_failed_block_leaves_nothing(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_sigterm_removes_the_temp_file(tmp_path):
    script = (
        "import sys, time\n"
        "from tokenlab.io.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'x' * 100000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out.bin")], stdout=subprocess.PIPE,
                            env=env, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert any(".tokenlab-" in n for n in os.listdir(tmp_path))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.time() + 5
    while os.listdir(tmp_path) and time.time() < deadline:
        time.sleep(0.05)
    assert os.listdir(tmp_path) == []
