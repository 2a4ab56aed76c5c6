"""BPE training (vocab 32k, >= 100 MB of real text) vs HF tokenizers' BpeTrainer; encode-corpus vs HF encode_batch.

Data: every .py/.rst/.txt/.md file under the standard library and this venv's site-packages, walked in
sorted order, valid UTF-8 only, concatenated until 120 MB (cached as benchmarks/out/train_corpus_120mb.txt).
Both trainers get the same documents: the file cut in ~1 MB pieces at line ends (``iter_corpus``, what
``tokenlab train`` feeds), HF through ``train_from_iterator`` with ByteLevel (GPT-2 regex) pre-tokenizer
and ``initial_alphabet=ByteLevel.alphabet()``. Each side runs in a fresh subprocess (peak RSS = its
``VmHWM``); the merge lists are compared and must be identical. Threads: our pre-tokenizing workers
(threads with the compiled counter) = ``threads``; HF's rayon pool = ``RAYON_NUM_THREADS=threads``.
A warm-up call on a tiny input (loading the C kernels; numba's cached code, or compiling it on a cold
cache, only where they are not built) is timed separately and not in our figure.

encode-corpus row: the trained 32k tokenizer writes uint16 shards of the first 20 MB with ``threads``
workers; peer: HF ``encode_batch`` on the same lines (rayon ``threads``) + numpy concatenation, no files.

Run alone: ``python benchmarks/bench_train.py [--threads 1 2] [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
VOCAB = 32_000


def build_corpus(min_mb: float = 120.0) -> Path:
    """The cached real-text corpus file (deterministic for a given environment)."""
    path = OUT / f"train_corpus_{int(min_mb)}mb.txt"
    if path.exists() and path.stat().st_size >= min_mb * 1e6:
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    roots = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]
    size = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    if not name.endswith((".py", ".rst", ".txt", ".md")) or "train_corpus" in name:
                        continue
                    try:
                        data = Path(dirpath, name).read_bytes()
                        data.decode("utf-8")
                    except (OSError, UnicodeDecodeError):
                        continue
                    if not data.endswith(b"\n"):
                        data += b"\n"
                    out.write(data)
                    size += len(data)
                    if size >= min_mb * 1e6:
                        break
                if size >= min_mb * 1e6:
                    break
            if size >= min_mb * 1e6:
                break
    os.replace(tmp, path)
    return path


_OURS = r"""
import json, resource, sys, time, hashlib
def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss would inherit the launching process's across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
from tokenlab.train.bpe import train_bpe, count_pretokens, train_from_counts
from tokenlab.cli.common import iter_corpus
from tokenlab.pretokenize import PreTokenizer
path, vocab, workers, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# warm-up on a tiny input: loads the C kernels (numba's cached code only where they are not built)
t = time.perf_counter(); train_bpe(["warm up the jit " * 20], vocab_size=300, workers=1)
warm = time.perf_counter() - t
t = time.perf_counter()
pre = PreTokenizer("gpt2")
counts = count_pretokens(iter_corpus([path]), pre, workers=workers)
t_count = time.perf_counter() - t
tok = train_from_counts(counts, vocab, pre)
wall = time.perf_counter() - t
merges = [a.hex() + " " + b.hex() for a, b in tok.merges]
json.dump({"wall": wall, "count": t_count, "merge": wall - t_count, "warmup": warm, "words": len(counts),
           "merges": merges, "rss_mb": peak_mb(),
           "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024},
          open(out_path, "w"))
tok.save(out_path + ".tok.json")
"""

_HF = r"""
import json, resource, sys, time
def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss would inherit the launching process's across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from tokenlab.cli.common import iter_corpus
from tokenlab.io.hf_json import from_byte_level
path, vocab, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
hf = Tokenizer(models.BPE())
hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
hf.train_from_iterator(iter_corpus([path]), trainers.BpeTrainer(
    vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
wall = time.perf_counter() - t
model = json.loads(hf.to_str())["model"]
pairs = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
merges = [from_byte_level(a).hex() + " " + from_byte_level(b).hex() for a, b in pairs]
json.dump({"wall": wall, "merges": merges, "rss_mb": peak_mb()},
          open(out_path, "w"))
"""

_ENC_OURS = r"""
import json, resource, sys, time
def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss would inherit the launching process's across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
from tokenlab.corpus import encode_corpus
from tokenlab.io import load_tokenizer
path, tok_path, workers, out_dir, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
tok = load_tokenizer(tok_path); tok.encode("warm up " * 10)
warm = time.perf_counter() - t
t = time.perf_counter()
m = encode_corpus([path], tok_path, out_dir, workers=workers, progress=False, overwrite=True)
wall = time.perf_counter() - t
json.dump({"wall": wall, "warmup": warm, "tokens": m["total_tokens"],
           "rss_mb": peak_mb()}, open(out_path, "w"))
"""

_ENC_HF = r"""
import json, resource, sys, time
def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss would inherit the launching process's across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import numpy as np, tokenizers
from tokenlab.io import load_tokenizer, to_hf_json_str
path, tok_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
tok = load_tokenizer(tok_path)
hf = tokenizers.Tokenizer.from_str(to_hf_json_str(tok))
eos = tok.special_tokens["<|endoftext|>"]
t = time.perf_counter()
lines = [ln for ln in open(path, encoding="utf-8").read().split("\n") if ln]
parts = []
for k in range(0, len(lines), 10000):
    for enc in hf.encode_batch(lines[k:k + 10000], add_special_tokens=False):
        parts.append(np.asarray(enc.ids, dtype=np.uint16)); parts.append(np.asarray([eos], dtype=np.uint16))
ids = np.concatenate(parts)
wall = time.perf_counter() - t
json.dump({"wall": wall, "tokens": int(len(ids)), "rss_mb": peak_mb()},
          open(out_path, "w"))
"""


def _run_child(script: str, args: list[str], threads: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true",
               NUMBA_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run([sys.executable, "-c", script, *args, out], check=True, env=env)
        result = json.load(open(out))
        tok = out + ".tok.json"
        if os.path.exists(tok):
            OUT.mkdir(parents=True, exist_ok=True)
            os.replace(tok, OUT / "bench_train_tokenizer.json")
        return result


def _first_difference(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def run(threads: int = 1, quick: bool = False) -> list[dict]:
    mb = 12.0 if quick else 120.0
    vocab = 8_000 if quick else VOCAB
    corpus = build_corpus(mb)
    size_mb = corpus.stat().st_size / 1e6
    ours = _run_child(_OURS, [str(corpus), str(vocab), str(threads)], threads)
    peer = _run_child(_HF, [str(corpus), str(vocab)], threads)
    same = ours["merges"] == peer["merges"]
    diff = "" if same else f" FIRST DIFFERENCE at merge {_first_difference(ours['merges'], peer['merges'])}"
    rows = [{
        "task": f"train byte-level BPE vocab {vocab} on {size_mb:.0f} MB real text ({threads} thread(s))",
        "ours_mb_s": round(size_mb / ours["wall"], 2),
        "peer": f"HF tokenizers BpeTrainer (RAYON_NUM_THREADS={threads})",
        "peer_mb_s": round(size_mb / peer["wall"], 2),
        "ratio": round(peer["wall"] / ours["wall"], 3),
        "peak_rss_mb": round(ours["rss_mb"], 1),
        "peer_peak_rss_mb": round(peer["rss_mb"], 1),
        "ours_seconds": round(ours["wall"], 2),
        "peer_seconds": round(peer["wall"], 2),
        "notes": (f"merges identical: {same} ({len(ours['merges'])} vs {len(peer['merges'])}){diff}; "
                  f"ours {ours['wall']:.1f}s = pre-tokenize+count {ours['count']:.1f}s ({threads} worker(s)) "
                  f"+ merge loop {ours['merge']:.1f}s; {ours['words']} distinct pretokens; "
                  f"warm-up (not included) {ours['warmup']:.1f}s"
                  + (f"; worker processes peaked at {ours['children_rss_mb']:.0f} MB each"
                     if ours["children_rss_mb"] > 1 else "")),
    }]
    # encode-corpus on the first 20 MB (2 MB in quick mode) with the tokenizer just trained
    enc_mb = 2.0 if quick else 20.0
    sample = OUT / f"encode_sample_{int(enc_mb)}mb.txt"
    if not sample.exists():
        with open(corpus, "rb") as f:
            data = f.read(int(enc_mb * 1e6))
        data = data[: data.rfind(b"\n") + 1]
        sample.write_bytes(data)
    tok_path = OUT / "bench_train_tokenizer_eos.json"
    from tokenlab import Tokenizer
    from tokenlab.io import load_tokenizer

    base = load_tokenizer(OUT / "bench_train_tokenizer.json")
    Tokenizer(vocab=base.vocab, merges=base.merges, pretokenizer=base.pretokenizer,
              special_tokens={"<|endoftext|>": base.n_vocab}).save(tok_path)
    with tempfile.TemporaryDirectory() as shards:
        enc = _run_child(_ENC_OURS, [str(sample), str(tok_path), str(threads), shards], threads)
    enc_peer = _run_child(_ENC_HF, [str(sample), str(tok_path)], threads)
    sample_mb = sample.stat().st_size / 1e6
    rows.append({
        "task": f"encode-corpus {sample_mb:.0f} MB lines -> uint16 .npy shards, vocab {vocab} ({threads} worker(s))",
        "ours_mb_s": round(sample_mb / enc["wall"], 2),
        "peer": f"HF tokenizers encode_batch + numpy, no files (RAYON_NUM_THREADS={threads})",
        "peer_mb_s": round(sample_mb / enc_peer["wall"], 2),
        "ratio": round(enc_peer["wall"] / enc["wall"], 3),
        "peak_rss_mb": round(enc["rss_mb"], 1),
        "peer_peak_rss_mb": round(enc_peer["rss_mb"], 1),
        "ours_seconds": round(enc["wall"], 2),
        "peer_seconds": round(enc_peer["wall"], 2),
        "notes": (f"token counts equal: {enc['tokens'] == enc_peer['tokens']} ({enc['tokens']} vs "
                  f"{enc_peer['tokens']}); ours includes reading, hashing and writing shards + manifest; "
                  f"tokenizer load + warm-up {enc['warmup']:.1f}s not included"),
    })
    return rows


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="12 MB and vocab 8000 instead of 120 MB / 32k")
    args = parser.parse_args(argv)
    rows = []
    for threads in args.threads:
        rows += run(threads, quick=args.quick)
    for row in rows:
        print(json.dumps(row))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("bench_train_quick.json" if args.quick else "bench_train.json")).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
