"""Issue 14, finding 9: kill -9 at random points never leaves a damaged output.

``train``, ``convert``, ``encode -o`` and ``encode-corpus`` are killed (SIGKILL) after a seeded random
delay within one full run's duration, 20 times each. The target must afterwards hold either the old file
or the complete new one (never a prefix), and an encode-corpus run resumed after the kill must give
shards byte-identical to an uninterrupted run. Temp files left by the killed runs are removed by the
next run.
"""

from __future__ import annotations

import filecmp
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliability_util import small_tokenizer

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, "src"))
TRIALS = 20


def _cmd(*args) -> list[str]:
    return [sys.executable, "-m", "tokenlab", *args]


def _env():
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _timed_run(args, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(_cmd(*args), cwd=cwd, env=_env(), check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def _kill_at(args, cwd, delay: float) -> None:
    proc = subprocess.Popen(_cmd(*args), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    words = ["hello", "the", "world", "tokenlab", "crash", "safety", "ünïcode", "数据", "123", "ok"]
    rng = random.Random(9)
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(30000)) + "\n"
    (root / "corpus.txt").write_text(text, encoding="utf-8")
    small_tokenizer().save(root / "tok.json")
    return root


def _old_or_new(target: Path, old: bytes, new: bytes) -> str:
    data = target.read_bytes()
    assert data in (old, new), f"{target.name}: {len(data)} bytes, neither the old ({len(old)}) nor new ({len(new)})"
    return "old" if data == old else "new"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "convert", "encode"])
def test_kill9_leaves_old_or_new_file(work, command):
    target = work / f"out-{command}"
    args = {
        "train": ["train", "corpus.txt", "-o", target.name, "--vocab-size", "400", "--workers", "1", "--no-progress"],
        "convert": ["convert", "tok.json", "-o", target.name, "--format", "hf"],
        "encode": ["encode", "-t", "tok.json", "-i", "corpus.txt", "-o", target.name],
    }[command]
    old = b"the old content of the target\n"
    target.write_bytes(old)
    duration = _timed_run(args, work)
    new = target.read_bytes()
    assert new != old
    rng = random.Random(f"crash-{command}")
    seen = {"old": 0, "new": 0}
    for _ in range(TRIALS):
        target.write_bytes(old)
        _kill_at(args, work, rng.uniform(0.0, duration * 1.1))
        seen[_old_or_new(target, old, new)] += 1
    assert seen["old"] > 0  # the kills did land mid-run
    _timed_run(args, work)  # the next run completes and sweeps the killed runs' temp files
    assert target.read_bytes() == new
    assert not [n for n in os.listdir(work) if ".tokenlab-" in n and n.startswith(f".{target.name}")]


@pytest.mark.slow
def test_kill9_encode_corpus_resumes_byte_identical(work):
    args = ["encode-corpus", "corpus.txt", "-t", "tok.json", "-o", "shards", "--shard-tokens", "20000",
            "--workers", "1", "--no-progress", "--no-append-eos"]
    ref_args = [*args[:5], "reference", *args[6:]]
    duration = _timed_run(ref_args, work)
    reference = work / "reference"
    ref_manifest = json.loads((reference / "manifest.json").read_text())
    rng = random.Random("crash-corpus")
    for trial in range(TRIALS):
        out = work / "shards"
        if trial % 2 == 0 and out.exists():  # half the trials start fresh, half resume a killed run
            subprocess.run(["rm", "-rf", str(out)], check=True)
        _kill_at(args, work, rng.uniform(0.0, duration * 1.1))
        manifest_path = out / "manifest.json"
        if manifest_path.exists():
            json.loads(manifest_path.read_text())  # never a half-written manifest
        _timed_run(args, work)  # resume
        manifest = json.loads(manifest_path.read_text())
        assert manifest["complete"] and manifest["shards"] == ref_manifest["shards"]
        for shard in ref_manifest["shards"]:
            assert filecmp.cmp(out / shard["file"], reference / shard["file"], shallow=False)
        assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
