"""Peak memory of the corpus readers on a large generated input: they must stream (bounded RSS).

    python benchmarks/bench_corpus_memory.py --size-mb 1024 --formats jsonl.zst,parquet

Generates SIZE of documents from the shipped text (Python help topics + 25 languages, each document
prefixed with its number so none repeat), writes it in each format, then reads every document in a
fresh process (`tokenlab.corpus_io.iter_documents`, plus a --sample-bytes run) and reports the
process's peak RSS next to the input size. Files go to --dir (default: a temp dir, removed after).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READ = r"""
import sys, time, json
from tokenlab.corpus_io import iter_documents
path, kw = sys.argv[1], json.loads(sys.argv[2])
t = time.perf_counter()
n = size = 0
for doc in iter_documents([path], **kw):
    n += 1
    size += len(doc.encode("utf-8"))
dt = time.perf_counter() - t
# VmHWM is this process's own peak; ru_maxrss would also count the parent's RSS at fork (kept across exec)
with open("/proc/self/status") as f:
    rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"docs": n, "bytes": size, "seconds": dt, "peak_rss_mb": rss_kb / 1024}))
"""


def _documents(size_bytes: int):
    import pydoc_data.topics

    from tokenlab.demo import demo_corpus

    base = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    base += [line for line in demo_corpus().splitlines() if line.strip()][-26:]
    total = k = 0
    while total < size_bytes:
        doc = f"[{k}] {base[k % len(base)]}"
        total += len(doc.encode("utf-8"))
        k += 1
        yield doc


def write(fmt: str, path: Path, size_bytes: int) -> None:
    if fmt == "txt":
        with open(path, "w", encoding="utf-8") as f:
            for d in _documents(size_bytes):
                f.write(d + "\n")
    elif fmt in ("jsonl", "jsonl.gz", "jsonl.zst"):
        import gzip

        if fmt == "jsonl.zst":
            import zstandard

            raw = open(path, "wb")
            f = zstandard.ZstdCompressor(level=3).stream_writer(raw)
        elif fmt == "jsonl.gz":
            f = gzip.open(path, "wb", compresslevel=1)
        else:
            f = open(path, "wb")
        with f:
            for d in _documents(size_bytes):
                f.write((json.dumps({"text": d}, ensure_ascii=False) + "\n").encode("utf-8"))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        batch: list[str] = []
        for d in _documents(size_bytes):
            batch.append(d)
            if len(batch) == 20_000:
                table = pa.table({"text": batch})
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                batch = []
        if batch:
            table = pa.table({"text": batch})
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        writer.close()
    else:
        raise SystemExit(f"unknown format {fmt}")


def read(path: Path, **kw) -> dict:
    out = subprocess.run([sys.executable, "-c", READ, str(path), json.dumps(kw)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="Uncompressed text per input (default 1 GB).")
    ap.add_argument("--formats", default="txt,jsonl.zst,parquet")
    ap.add_argument("--sample-mb", type=int, default=64, help="Budget of the --sample-bytes run.")
    ap.add_argument("--dir", default=None, help="Where to write the inputs (kept); default: a temp dir.")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="tokenlab-corpus-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    size = args.size_mb << 20
    rows = []
    try:
        for fmt in args.formats.split(","):
            path = root / f"corpus.{fmt}"
            t = time.perf_counter()
            if not path.exists():
                write(fmt, path, size)
            gen = time.perf_counter() - t
            full = read(path)
            sampled = read(path, sample_bytes=args.sample_mb << 20, seed=0)
            rows.append((fmt, os.path.getsize(path), gen, full, sampled))
            print(f"{fmt}: {full}  sample: {sampled}", file=sys.stderr)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"| input ({args.size_mb} MB of text) | file MB | docs | read MB/s | peak RSS MB | "
          f"--sample-bytes {args.sample_mb} MB: peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for fmt, disk, _, full, sampled in rows:
        print(f"| {fmt} | {disk / 2**20:.0f} | {full['docs']:,} | {full['bytes'] / 2**20 / full['seconds']:.0f} | "
              f"{full['peak_rss_mb']:.0f} | {sampled['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
