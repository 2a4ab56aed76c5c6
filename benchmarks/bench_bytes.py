"""Byte tokenizer: batch encode real text lines to padded uint8 + attention mask, vs utf8-tokenizer.

Data: >= 20 MB of real lines (standard-library sources, Python docs prose, the 25-language demo corpus),
in batches of 256 lines padded to the longest line, BOS/EOS added. Both sides run in this process on the
same batches, interleaved, best of a few repeats; every batch's ids and mask are checked equal first.

Peers (utf8-tokenizer with numba installed, its fastest configuration):
- ``UTF8Tokenizer.torch(texts, padding=True)``: its public fast path (its docs: "optimized tensor creation").
  On torch builds whose embeddings reject uint8 indices it returns int64 ids; that cast is part of the call.
- ``pad_bytearrays_to_tensor(tok._encode(texts, True))`` + ``ids.ne(0)``: its internal uint8 path (numba fill),
  the same output as ours without the int64 cast.
Run alone: ``python benchmarks/bench_bytes.py [--threads N] [--mb 20]``.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import sysconfig
import time

BATCH_SIZE = 256
REPEATS = 3
_WARM_UP_S = None  # first call in this process: import + JIT compile or cache load
_RSS = None  # peak RSS per side, measured once per process


def real_lines(min_mb: float = 20.0) -> list[str]:
    """Real text lines: stdlib sources (sorted, recursive) until min_mb, then docs prose and 25 languages."""
    from tokenlab.demo import demo_corpus

    root = sysconfig.get_paths()["stdlib"]
    lines: list[str] = []
    size = 0
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8", errors="replace") as f:
            file_lines = f.read().split("\n")
        lines += file_lines
        size += sum(map(len, file_lines))
        if size >= min_mb * 1e6:
            break
    try:
        import pydoc_data.topics

        for key in sorted(pydoc_data.topics.topics):
            lines += pydoc_data.topics.topics[key].split("\n")
    except ImportError:  # pragma: no cover
        pass
    lines += demo_corpus().split("\n") * 10
    return lines


def _peak_rss_child(side: str, min_mb: float) -> float:
    """Peak RSS of a fresh process that loads the lines and encodes every batch once with one side."""
    lines = real_lines(min_mb)
    batches = [lines[i:i + BATCH_SIZE] for i in range(0, len(lines), BATCH_SIZE)]
    if side == "ours":
        from tokenlab.byte_tokenizer import ByteTokenizer

        fn = ByteTokenizer().encode_batch
    else:
        from utf8_tokenizer import UTF8Tokenizer

        ref = UTF8Tokenizer()

        def fn(batch):
            return ref.torch(batch, padding=True)
    for batch in batches:
        fn(batch)
    from bench_encode import peak_rss_mb

    return peak_rss_mb()


def _peak_rss(min_mb: float) -> dict[str, float | None]:
    """{side: peak RSS MB}, each side in its own process (imports and the lines included, as in bench_encode)."""
    global _RSS
    if _RSS is None:
        _RSS = {}
        for side in ("ours", "peer"):
            cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", side, "--mb", str(min_mb)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            _RSS[side] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    return _RSS


def _timed(fn, batches, clock) -> float:
    start = clock()
    for batch in batches:
        fn(batch)
    return clock() - start


def run(threads: int = 1, quick: bool = False, min_mb: float | None = None) -> list[dict]:
    """Rows comparing ours with utf8-tokenizer; ``quick`` uses ~3 MB instead of >= 20 MB (smoke runs only)."""
    import numpy as np

    if min_mb is None:
        min_mb = 3.0 if quick else 20.0

    from tokenlab.byte_tokenizer import ByteTokenizer

    global _WARM_UP_S
    if _WARM_UP_S is None:  # numba kernel: compiled once, then loaded from numba's cache
        start = time.perf_counter()
        ByteTokenizer().encode_batch(["warm-up"])
        _WARM_UP_S = time.perf_counter() - start
    lines = real_lines(min_mb)
    batches = [lines[i:i + BATCH_SIZE] for i in range(0, len(lines), BATCH_SIZE)]
    total_mb = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    ours = ByteTokenizer()

    def ours_fn(batch):
        return ours.encode_batch(batch)

    try:
        import torch
        from utf8_tokenizer import UTF8Tokenizer
        from utf8_tokenizer.utils import pad_bytearrays_to_tensor
    except ImportError as exc:
        seconds = min(_timed(ours_fn, batches, time.perf_counter) for _ in range(REPEATS))
        return [{"task": "bytes: batch encode to padded uint8 + mask", "ours_mb_s": round(total_mb / seconds, 1),
                 "peer": "utf8-tokenizer (not installed)", "peer_mb_s": None, "ratio": None,
                 "notes": f"peer unavailable: {exc}"}]

    torch.set_num_threads(max(1, int(threads)))
    ref = UTF8Tokenizer()

    def public_fn(batch):
        return ref.torch(batch, padding=True)

    def internal_fn(batch):
        ids = pad_bytearrays_to_tensor(ref._encode(batch, True), torch.uint8, 0)
        return ids, ids.ne(0)

    # correctness first (also warms numba's JIT and torch)
    padded_bytes = 0
    for batch in batches:
        ids, mask = ours_fn(batch)
        ref_ids, ref_mask = internal_fn(batch)
        pub = public_fn(batch)
        if not (np.array_equal(ids, ref_ids.numpy()) and np.array_equal(ids, pub.input_ids.numpy())):
            raise AssertionError("byte ids differ from utf8-tokenizer")
        if not np.array_equal(mask, ref_mask.numpy()) and "\x00" not in "".join(batch):
            raise AssertionError("attention mask differs from utf8-tokenizer")
        padded_bytes += ids.size

    # With one thread, CPU time of this process: robust when other jobs share the machine. With more
    # threads (the peer's torch ops may use them), wall time.
    clock = time.process_time if threads <= 1 else time.perf_counter
    times = {"ours": [], "public": [], "internal": []}
    for _ in range(REPEATS):  # interleaved, so load changes hit every side alike
        times["ours"].append(_timed(ours_fn, batches, clock))
        times["public"].append(_timed(public_fn, batches, clock))
        times["internal"].append(_timed(internal_fn, batches, clock))
    ours_s = min(times["ours"])
    ours_mb_s = total_mb / ours_s
    common = (f"{total_mb:.1f} MB, {len(lines)} lines, batches of {BATCH_SIZE} padded to longest "
              f"({padded_bytes / 1e6:.0f} MB padded), BOS/EOS, ids+mask checked equal; best of {REPEATS}; "
              f"{'CPU' if clock is time.process_time else 'wall'} time; ours one numba call per batch "
              f"(first call incl. import + JIT/cache load {_WARM_UP_S:.2f} s, not included), "
              f"peer torch threads={threads}, numba fill")
    rss = _peak_rss(min_mb)
    rows = []
    for key, peer in (("public", "utf8-tokenizer UTF8Tokenizer.torch(padding=True)"),
                      ("internal", "utf8-tokenizer _encode+pad_bytearrays_to_tensor+ne (uint8)")):
        peer_s = min(times[key])
        rows.append({
            "task": "bytes: batch encode to padded uint8 + mask",
            "ours_mb_s": round(ours_mb_s, 1),
            "peer": peer,
            "peer_mb_s": round(total_mb / peer_s, 1),
            "ratio": round(peer_s / ours_s, 2),
            "peak_rss_mb": rss["ours"], "peer_peak_rss_mb": rss["peer"] if key == "public" else None,
            "notes": common + ("; peer returns int64 ids on this torch" if key == "public"
                               and pub.input_ids.dtype != torch.uint8 else ""),
        })
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mb", type=float, default=20.0, help="Minimum MB of source lines.")
    parser.add_argument("--rss-child", choices=("ours", "peer"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        print(json.dumps(round(_peak_rss_child(args.rss_child, args.mb), 1)))
        sys.exit(0)
    for row in run(args.threads, min_mb=args.mb):
        print(row)
