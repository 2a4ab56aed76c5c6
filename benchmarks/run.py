"""Run every ``benchmarks/bench_*.py`` and report tokenlab vs its peers.

    python benchmarks/run.py            # full run: writes benchmarks/results.md and results.png
    python benchmarks/run.py --quick    # small inputs, smoke run: writes benchmarks/out/results-quick.*
    python benchmarks/run.py --only encode

A bench module defines ``run(threads)`` (optionally ``run(threads, quick=False)``) returning rows
``{task, ours_mb_s, peer, peer_mb_s, ratio, peak_rss_mb?, notes}``. It is called for 1 and 2
threads unless it sets ``THREADS = (1,)``. Ratios compare against the peer measured in the same
run on the same machine (ours / peer throughput; > 1 means tokenlab is faster).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib
import inspect
import os
import platform
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["task", "threads", "ours_mb_s", "peer", "peer_mb_s", "ratio", "peak_rss_mb", "notes"]


def discover(only: str | None = None) -> list[str]:
    names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "bench_*.py")))
    if only:
        wanted = {w if w.startswith("bench_") else f"bench_{w}" for w in only.split(",")}
        unknown = wanted - set(names)
        if unknown:
            raise SystemExit(f"error: no benchmark module {sorted(unknown)}; have {names}")
        names = [n for n in names if n in wanted]
    return names


def run_module(name: str, quick: bool, threads_wanted: tuple[int, ...]) -> list[dict]:
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    rows: list[dict] = []
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # a broken module must not hide the others' results
        return [{"task": name, "threads": "-", "notes": f"import failed: {exc!r}"}]
    params = inspect.signature(mod.run).parameters
    for threads in getattr(mod, "THREADS", threads_wanted):
        if threads not in threads_wanted:
            continue
        start = time.perf_counter()
        try:
            got = mod.run(threads, quick=quick) if "quick" in params else mod.run(threads)
        except Exception as exc:
            traceback.print_exc()
            got = [{"task": name, "notes": f"failed: {exc!r}"}]
        for row in got:
            row.setdefault("threads", threads)
            row.setdefault("module", name)
            rows.append(row)
        print(f"  {name} (threads={threads}) done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return rows


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _cell(row: dict, col: str) -> str:
    if col == "ratio" and row.get("ratio") is not None:
        return f"{row['ratio']:.2f}x"
    if col == "peak_rss_mb" and row.get("peer_peak_rss_mb") is not None:
        return f"{_fmt(row.get('peak_rss_mb'))} / {_fmt(row['peer_peak_rss_mb'])}"
    return _fmt(row.get(col))


HEADERS = {"task": "task", "threads": "threads", "ours_mb_s": "tokenlab MB/s", "peer": "peer",
           "peer_mb_s": "peer MB/s", "ratio": "ratio", "peak_rss_mb": "peak RSS MB (ours / peer)",
           "notes": "notes"}


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS[c] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, c).replace("|", "\\|") for c in COLUMNS) + " |")
    return "\n".join(lines)


def text_table(rows: list[dict]) -> str:
    cells = [[HEADERS[c] for c in COLUMNS]] + [[_cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)


def machine_info() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for mod in ("tokenlab", "numba", "numpy", "tiktoken", "tokenizers"):
        try:
            versions.append(f"{mod} {importlib.import_module(mod).__version__}")
        except Exception:
            pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average at start {os.getloadavg()[0]:.1f}"
    return (f"{cpu}, {os.cpu_count()} logical CPUs{load}; {parallel_control()}; Python {platform.python_version()}; "
            + ", ".join(versions))


def parallel_control(mb: int = 200) -> str:
    """How much two threads get out of this machine right now, with no tokenizer involved: SHA-256 of 2 x ``mb``
    MB serially vs on two threads (hashlib releases the GIL). On a shared VM this is the ceiling for every
    2-thread row; a value near 1.0x means the second core was busy elsewhere during the run."""
    import hashlib
    import threading
    import time

    data = b"\x5a" * (mb << 20)

    def digest():
        hashlib.sha256(data).digest()

    start = time.perf_counter()
    digest()
    digest()
    serial = time.perf_counter() - start
    start = time.perf_counter()
    threads = [threading.Thread(target=digest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return f"2-thread control (SHA-256, no tokenizer) {serial / (time.perf_counter() - start):.2f}x"


def write_chart(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [r for r in rows if r.get("ratio") is not None]
    if not bars:
        return
    import textwrap

    def label(r):
        peer = str(r["peer"]).split(" (")[0]
        return textwrap.fill(f"{r['task']} vs {peer}, {r['threads']} thread(s)", 60)

    labels = [label(r) for r in bars]
    ratios = [r["ratio"] for r in bars]
    fig, ax = plt.subplots(figsize=(12, 0.62 * len(bars) + 1.5))
    ax.set_xlim(0, max(ratios) * 1.15)
    colors = ["tab:green" if x >= 1 else "tab:red" for x in ratios]
    ax.barh(range(len(bars)), ratios, color=colors)
    ax.set_yticks(range(len(bars)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel("throughput ratio tokenlab / peer (same run; > 1 = tokenlab faster)")
    for i, x in enumerate(ratios):
        ax.text(x, i, f" {x:.2f}x", va="center", fontsize=8)
    ax.set_title("tokenlab vs peers")
    fig.tight_layout()
    from tokenlab.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small inputs (smoke run); results go to benchmarks/out/")
    ap.add_argument("--only", help="comma-separated module names, e.g. encode or bench_encode,bench_train")
    ap.add_argument("--threads", default="1,2", help="thread counts to run (default 1,2)")
    ap.add_argument("--out-dir", help="where results.md / results.png go")
    args = ap.parse_args(argv)
    threads = tuple(int(t) for t in args.threads.split(","))
    out_dir = args.out_dir or (os.path.join(HERE, "out") if args.quick else HERE)
    stem = "results-quick" if args.quick else "results"
    rows: list[dict] = []
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine_info()
    for name in discover(args.only):
        print(f"running {name} ...", file=sys.stderr)
        rows.extend(run_module(name, args.quick, threads))
    table = text_table(rows)
    print(table)
    cmd = ("python benchmarks/run.py" + (" --quick" if args.quick else "")
           + (f" --only {args.only}" if args.only else ""))
    md = (f"# Benchmark results\n\nReproduce: `{cmd}` "
          f"({started:%Y-%m-%d %H:%M} UTC, {(datetime.datetime.now(datetime.timezone.utc) - started).seconds} s)\n\n"
          f"Machine: {info}\n\n{markdown_table(rows)}\n\n"
          "Ratio = tokenlab throughput / peer throughput, measured in the same run. Each measurement runs in its "
          "own process (peak RSS is that process's, corpus included), best of the repeats, after a warm-up call.\n")
    os.makedirs(out_dir, exist_ok=True)
    from tokenlab.io.atomic import atomic_write_text

    atomic_write_text(os.path.join(out_dir, f"{stem}.md"), md)
    try:
        write_chart(rows, os.path.join(out_dir, f"{stem}.png"))
    except ImportError:
        print("matplotlib missing: no chart written", file=sys.stderr)
    print(f"wrote {os.path.join(out_dir, stem)}.md/.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
