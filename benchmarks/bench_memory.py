"""Peak memory of `train` and `encode -i` on one huge line vs the same bytes with newlines (issue 14).

    python benchmarks/bench_memory.py [--mb 200] [--commands train,encode]

Writes two files of the same words: one single line, one with a newline every ~100 bytes, runs each
command on each in a fresh process and reports the peak RSS (ru_maxrss of the finished child) and the
ratio single-line / with-newlines; the target is <= 2x. Not a test: it takes minutes at 200 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["hello", "world", "tokenizer", "memory", "ünïcode", "数据", "12345", "the", "of", "and", "stream", "lines"]


def write_corpus(path: Path, n_bytes: int, newlines: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    block = " ".join(rng.choice(WORDS) for _ in range(200_000)).encode()
    with open(path, "wb") as f:
        written = 0
        while written < n_bytes:
            chunk = block[: n_bytes - written]
            if newlines:  # same bytes, every ~100th space becomes a newline
                chunk = bytes(b if not (b == 0x20 and i % 100 < 1) else 0x0A for i, b in enumerate(chunk))
            f.write(chunk)
            written += len(chunk)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``python -m tokenlab ARGS`` run in a fresh wrapper process."""
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "subprocess.run([sys.executable, '-m', 'tokenlab', *sys.argv[1:]], check=True, "
            "stdout=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    rss, secs = out.stdout.split()
    return float(rss), float(secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--commands", default="train,encode")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"one line": tmp / "one.txt", "with newlines": tmp / "lines.txt"}
        for name, path in files.items():
            write_corpus(path, opts.mb << 20, newlines=name == "with newlines")
        tok = tmp / "tok.json"
        subprocess.run([sys.executable, "-m", "tokenlab", "train", str(files["with newlines"]), "-o", str(tok),
                        "--vocab-size", "1000", "--no-progress"], check=True, env=dict(
                            os.environ, PYTHONPATH=str(ROOT / "src")))
        print(f"| command | input ({opts.mb} MB) | peak RSS MB | seconds |")
        print("|---|---|---|---|")
        for command in opts.commands.split(","):
            results = {}
            for name, path in files.items():
                if command == "train":
                    args = ["train", str(path), "-o", str(tmp / "t.json"), "--vocab-size", "1000", "--no-progress"]
                else:
                    args = ["encode", "-t", str(tok), "-i", str(path), "-o", str(tmp / "ids.txt")]
                start = time.perf_counter()
                results[name] = peak_rss_mb(args)
                print(f"| {command} | {name} | {results[name][0]:.0f} | {time.perf_counter() - start:.1f} |")
            ratio = results["one line"][0] / results["with newlines"][0]
            print(f"| {command} | ratio one line / newlines | {ratio:.2f} | |")


if __name__ == "__main__":
    main()
