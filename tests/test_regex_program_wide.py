"""The general regex VM (issue 10 item 2): realistic pre-tokenizer patterns outside the item subset compile.

`regex_program.compile_vm` takes nested and quantified groups (greedy, lazy, possessive), alternation at any depth,
atomic groups, lookahead and fixed-width lookbehind of any body, ``^ $ \\A \\z \\b \\B``, ``(?i)`` groups and nested
classes with set operations; the kernel runs it with fancy-regex's leftmost-first backtracking. Oracles: tiktoken
built with the same pattern on cl100k's ranks (ids) and the pinned ``regex`` module split (pieces), on adversarial
text (every Unicode block, newly assigned code points, combining marks, emoji ZWJ, digit and space runs).
Patterns still outside (backreferences, variable-width lookbehind, ...) fall back and keep tiktoken's ids.
"""

from __future__ import annotations

import random

import pytest

from tokenlab import Tokenizer
from tokenlab.encode import native
from tokenlab.encode.patterns import DEEPSEEK_PATTERN
from tokenlab.encode.regex_program import compile_program, compile_vm
from tokenlab.io.tiktoken_file import QWEN3_5_PATTERN, QWEN_PATTERN
from tokenlab.pretokenize import CL100K_PATTERN, O200K_PATTERN, PATTERNS, TEKKEN_PATTERN, PreTokenizer

from adversarial_text import NEW_CODE_POINTS, adversarial_document, snippets

tiktoken = pytest.importorskip("tiktoken")
pytestmark = pytest.mark.skipif(native._kernel is None, reason="the C kernel is not built")

LLAMA3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
          r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
GPT_OSS = "(?:" + O200K_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}{1,3}+") + ")"
# Kimi-K2's tiktoken pattern (set intersections in classes)
KIMI = "|".join([
    r"""[\p{Han}]+""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+"""])
BLOOM = r""" ?[^(\s|[.,!?…。，、।۔،])]+|[\s\S]"""  # BLOOM's Split regex (a nested class), gaps kept as pieces
CUSTOM = r"""\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}{1,4}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+|[\s\S]"""  # bench_patterns
OUTSIDE = r"""(?:\p{Lu}\p{Ll})+|\p{Lu}?\p{Ll}+|\p{Lu}+|\p{N}{1,4}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+|[\s\S]"""

REAL = {"gpt2": PATTERNS["gpt2"], "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN, "tekken": TEKKEN_PATTERN,
        "qwen2": QWEN_PATTERN, "qwen3.5": QWEN3_5_PATTERN, "llama3": LLAMA3, "gpt-oss": GPT_OSS,
        "deepseek": DEEPSEEK_PATTERN, "kimi-k2": KIMI, "bench-custom": CUSTOM, "bench-outside": OUTSIDE}
# user-style patterns that need the VM, each valid for fancy-regex and meaning the same to ``regex``
WIDE = {
    "camel": r"""\p{Lu}?\p{Ll}+|\p{Lu}+(?!\p{Ll})|\p{N}+|\s+|[\s\S]""",
    "lazy": r"""\p{L}+?(?=\p{Lu}|\s|$)|\p{L}+|\d{1,3}?|\s+|[\s\S]""",
    "words-with-apostrophes": r"""\p{L}+(?:['’]\p{L}+)*|\p{N}+(?:[.,]\p{N}+)*|\s+|[\s\S]""",
    "boundaries": r"""\b\w+\b|\B\W+?|\s+|[\s\S]""",
    "lookbehind": r"""(?<=\d)\p{L}+|(?<![\p{L}\p{N}])\p{N}{1,3}|(?<=\s\S)\S+|\s+|[\s\S]""",
    "lookahead-2": r"""\s+(?=\s\S)|\s(?!\p{L}{2})|\p{L}+|[\s\S]""",
    "atomic": r"""(?>\p{L}+)'?|(?:\p{N}{2})++|\p{N}|\s++|[\s\S]""",
    "url": r"""(?i:https?)://[^\s]+|(?i:www)\.\S+|\w+|[^\w\s]+|\s+|[\s\S]""",
    "nested-alt": r"""(?:(?:\p{Lu}|\p{Lt})(?:\p{Ll}|\p{M})*)+|(?:'(?:s|t|ll|ve)|\p{L})+|\p{N}{2,4}?\p{N}|\s+|[\s\S]""",
    "anchors": r"""^\s+|\A\p{L}+|\s+\z|\s+$|\S+|\s+|[\s\S]""",
    "counted-groups": r"""(?:\p{L}\p{M}*){2,5}|(?:\d[,.]?){1,3}|(?:  ){1,}|[\s\S]""",
    "leading-flag": r"""(?i)(?:'s|'t|'re)|[a-z]+|[\s\S]""",
    "named": r"""(?P<word>\p{L}+)|(?<num>\p{N}+)|[\s\S]""",
    "class-ops": r"""[\p{L}--[a-z]]+|[\w&&\p{N}]+|[[a-z][0-9]]+|[\s\S]""",
}
# tiktoken (fancy-regex) accepts these; the compiler leaves them to the regex module split
STILL_OUTSIDE = {
    "backreference": r"""(\p{L})\1+|\p{L}+|\s+|[\s\S]""",
    "variable-lookbehind": r"""(?<=\p{L}+)\p{N}+|\p{L}+|\s+|[\s\S]""",
    "lookbehind-of-two-widths": r"""(?<=\p{Lu}|\p{N}\p{N})\p{Ll}+|\p{L}+|\s+|[\s\S]""",
}


@pytest.fixture(scope="module")
def texts():
    rng = random.Random(20)
    docs = [adversarial_document(rng, 1500) for _ in range(12)] + snippets(21, 300)
    new = [chr(c) for c in NEW_CODE_POINTS]
    alphabet = new + ["'s", "’", " ", "  ", "a", "A", "Ab", "1", "12", "\n", "\r\n", "!", "é", "中", "\u0301", "ー",
                      "http://x.y", "www.", ",", ".", "\u200d", "👨\u200d👩", "\t"]
    docs += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))) for _ in range(200)]
    return docs + ["", "a", " ", "\n", "ab  \n", "  x", "x\u0301\u0301 ", "12345678", "A1b2 C3", "'S'LL", "x\n"]


@pytest.fixture(scope="module")
def kernel(cl100k):
    tok = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(r"\w+|\W"),
                    ignore_merges=True, any_split=True)
    return tok._fast.kernel


def _reference(cl100k, pattern: str, name: str = "ref"):
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=dict(cl100k.vocab), special_tokens={})


def _python_spelling(pattern: str) -> str:
    """The same pattern for the ``regex`` module: Rust's end of text ``$``/``\\z`` is its ``\\Z``."""
    out, i, depth = [], 0, 0  # depth: inside a class
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(r"\Z" if pattern[i + 1] == "z" and not depth else pattern[i:i + 2])
            i += 2
            continue
        depth += (c == "[") - (c == "]" and depth > 0)
        out.append(r"\Z" if c == "$" and not depth else c)
        i += 1
    return "".join(out)


def _regex_ends(pattern: str, text: str) -> list[int]:
    ends, pos = [], 0
    for piece in PreTokenizer(_python_spelling(pattern)).split(text):
        pos += len(piece.encode("utf-8"))
        ends.append(pos)
    return ends


def _check(kernel, cl100k, pattern: str, texts, split_oracle: bool = True, name: str = "p") -> None:
    prog = compile_vm(pattern)
    assert prog is not None and prog.prog[0] == -1, pattern
    ref = _reference(cl100k, pattern, name)
    for t in texts:
        ids = kernel.encode_regex(t, prog.cid, prog.masks, prog.prog, True)
        if ids is None:  # past the step budget (backtracking): the tokenizer splits this text with ``regex``
            assert kernel.split_regex(t, prog.cid, prog.masks, prog.prog) is None
            continue
        assert ids == ref.encode_ordinary(t), (pattern, t[:80])
        if split_oracle:
            assert list(kernel.split_regex(t, prog.cid, prog.masks, prog.prog)) == _regex_ends(pattern, t), (
                pattern, t[:80])


@pytest.mark.parametrize("name", list(REAL))
def test_real_patterns_run_on_the_vm_with_tiktokens_ids(name, kernel, cl100k, texts):
    """Every real pattern through the general VM too (a cross-check of the VM, the item matcher, the state
    machines and tiktoken). Kimi's class intersections mean nothing to ``regex`` (no split oracle there)."""
    _check(kernel, cl100k, REAL[name], texts[::2], split_oracle=name != "kimi-k2", name=name)


@pytest.mark.parametrize("name", list(WIDE))
def test_wide_patterns_compile_and_split_as_tiktoken(name, kernel, cl100k, texts):
    pattern = WIDE[name]
    assert compile_program(pattern) is not None
    # ``regex`` folds case fully (U+0130 matches (?i)[a-z]), Rust simply: tiktoken's ids are the oracle there
    _check(kernel, cl100k, pattern, texts, split_oracle=name not in ("class-ops", "leading-flag"), name=name)


def test_case_folding_is_rusts_simple_folding(kernel, cl100k):
    pattern = r"""(?i:[a-z])+|(?i:st)|[\s\S]"""
    prog = compile_vm(pattern)
    for text in ("\u212aelvin", "\u017ftop", "\u0130stanbul", "ABC\u212a\u017f"):
        ends = list(kernel.split_regex(text, prog.cid, prog.masks, prog.prog))
        assert ends == ([2] if text[0] == "\u0130" else []) + [len(text.encode("utf-8"))], text
        assert kernel.encode_regex(text, prog.cid, prog.masks, prog.prog, True) == _reference(
            cl100k, pattern).encode_ordinary(text)


def test_alternation_over_64_alternatives_keeps_guards(kernel, cl100k, texts):
    """An ALT table holds 64 alternatives; a longer alternation is a chain of GUARD/SPLIT instructions."""
    words = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an"
             " they you were her she there been one all we their has would when if so no will more can out up what"
             " about into than them could only other new some time like go see way").split()
    pattern = "|".join(" ?" + w for w in words) + r"""|\p{L}+|\p{N}|\s+|[\s\S]"""
    assert pattern.count("|") + 1 > 64
    prog = compile_vm(pattern)
    assert 3 in prog.prog[4::5].tolist() and 9 not in prog.prog[4::5].tolist()  # GUARD, no ALT
    _check(kernel, cl100k, pattern, texts[::2] + [" the theory of the one", "thereafter there"], name="words")


def test_bloom_nested_class_follows_fancy_regex(kernel, cl100k, texts):
    """``[^(\\s|[.,!?…])]``: a nested class to fancy-regex (``regex`` V0 reads ``[`` as a literal)."""
    _check(kernel, cl100k, BLOOM, texts, split_oracle=False, name="bloom")


def test_outside_pattern_takes_the_vm_through_the_tokenizer(cl100k, texts, monkeypatch):
    """bench_patterns' OUTSIDE row: compiled (no regex module, no Python BPE), ids equal tiktoken's, list, numpy
    and batch APIs."""
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(OUTSIDE),
                     ignore_merges=True, any_split=True)
    ref = _reference(cl100k, OUTSIDE, "outside")
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program.prog[0] == -1
    for t in texts:
        assert ours.encode_ordinary(t) == ref.encode_ordinary(t), t[:80]
    assert ours.encode_batch(texts[:30], num_threads=2) == [ref.encode_ordinary(t) for t in texts[:30]]
    assert list(ours._fast.encode_bytes(texts[0])) == ref.encode_ordinary(texts[0])
    monkeypatch.setattr(Tokenizer, "_encode_piece", lambda self, piece: 1 / 0)
    monkeypatch.setattr(PreTokenizer, "split", lambda self, text: 1 / 0)
    assert ours.encode_ordinary(texts[1]) == ref.encode_ordinary(texts[1])


@pytest.mark.parametrize("name", list(STILL_OUTSIDE))
def test_patterns_still_outside_fall_back_with_tiktokens_ids(name, cl100k, texts):
    pattern = STILL_OUTSIDE[name]
    assert compile_program(pattern) is None
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern),
                     ignore_merges=True, any_split=True)
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program is None
    ref = _reference(cl100k, pattern, name)
    for t in texts[::3]:
        assert ours.encode_ordinary(t) == ref.encode_ordinary(t), t[:80]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"a|", r"x*", r"(?:a?)+b", r"(?:a|)*b", r"(?=a)", r"\b",
                                     r"(?<=a+)b", r"(?<=a|bc)x", r"(?m)^a", r"(?s:.)", r"(?i:\u00e9)",
                                     r"(?i:[\u00e0-\u00e9])", r"\p{Greek}", r"[[:alpha:]]", r"a\Z", r"\G", r"a{2,1}",
                                     r"(?:a)", "(a", "a)",
                                     r"a(?i)b", r"(?=a)*b", r"a{1001}"])
def test_refused(pattern):
    """Nullable patterns or loop bodies, variable-width lookbehind, unknown flags, classes or escapes."""
    assert compile_vm(pattern) is None if pattern != r"(?:a)" else compile_vm(pattern) is not None


def test_budget_and_stack_limits_fall_back(kernel, cl100k):
    pattern = r"(?:\p{L})+\p{L}+x|\p{L}|[\s\S]"  # cubic on a letter run without x
    prog = compile_vm(pattern)
    text = "a" * 300 + " bcx"
    assert kernel.split_regex(text, prog.cid, prog.masks, prog.prog) is None
    assert kernel.split_regex("bcx " * 50, prog.cid, prog.masks, prog.prog) is not None
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern),
                     ignore_merges=True, any_split=True)
    assert ours._fast.program is not None
    assert ours.encode_ordinary(text) == _reference(cl100k, pattern).encode_ordinary(text)
    # a long loop keeps one stack entry per iteration: 2 MB of "ab" is a million entries, still within the cap
    loop = compile_vm(r"(?:ab)+|[\s\S]")
    assert list(kernel.split_regex("ab" * 1_000_000 + "c", loop.cid, loop.masks, loop.prog)) == [2_000_000,
                                                                                                2_000_001]


def test_malformed_programs_are_rejected(kernel):
    import numpy as np

    prog = compile_vm(r"(?:ab)+|c")
    for k, bad in ((5, 99), (6, 1_000), (4, 0), (1, 0), (2, 99)):
        broken = prog.prog.copy()
        broken[k] = bad
        with pytest.raises(ValueError, match="tables do not fit"):
            kernel.split_regex("abc", prog.cid, prog.masks, broken)
    with pytest.raises(ValueError):
        kernel.split_regex("abc", prog.cid, prog.masks, np.asarray([-1], dtype=np.int32))
    at = int(prog.prog[3])  # the ALT tables: a bit for an alternative the ALT does not have, a misplaced table
    assert at > 0
    for k, bad in ((at + 1, -1), (3, at - 1), (3, 0)):
        broken = prog.prog.copy()
        broken[k] = bad
        with pytest.raises(ValueError, match="tables do not fit"):
            kernel.split_regex("abc", prog.cid, prog.masks, broken)


# ---------------------------------------------------------------- random patterns in the widened grammar
_ATOMS = [r"\p{L}", r"\p{Lu}", r"\p{Ll}", r"\p{N}", r"\d", r"\s", r"\S", r"\w", r"\W", r"[^\s\p{L}\p{N}]", r"\p{M}",
          r"\p{P}", r"[a-c]", "a", "b", "'", " ", r"\n", r"[\r\n]", ".", r"\p{Han}", "x", r"[^\p{L}]", r"[\p{L}\p{M}]"]
_QUANTS = ["", "", "", "?", "*", "+", "{1,3}", "{2}", "{0,2}", "{2,}"]
_MODES = ["", "", "?", "+"]


def _atom(rng):
    return rng.choice(_ATOMS) + rng.choice(_QUANTS) + (rng.choice(_MODES) if rng.random() < 0.5 else "")


def _node(rng, depth: int) -> str:
    r = rng.random()
    if depth <= 0 or r < 0.45:
        return _atom(rng)
    if r < 0.65:
        body = "|".join(_seq(rng, depth - 1) for _ in range(rng.randrange(1, 4)))
        q = rng.choice(["", "?", "*", "+", "{1,2}", "{2,3}"])
        return "(?:" + body + ")" + q + (rng.choice(_MODES) if q else "")
    if r < 0.73:
        return rng.choice(["(?=", "(?!"]) + _seq(rng, depth - 1) + ")"
    if r < 0.81:  # fixed width: alternatives of one class each, or a short sequence of classes
        body = rng.choice(["|".join(rng.sample(_ATOMS, rng.randrange(1, 3))),
                           "".join(rng.choice(_ATOMS) for _ in range(rng.randrange(1, 3)))])
        return rng.choice(["(?<=", "(?<!"]) + body + ")"
    if r < 0.87:
        return rng.choice([r"\b", r"\B", "^", r"\A", r"\z", "$"])
    if r < 0.93:
        return "(?>" + _seq(rng, depth - 1) + ")"
    return "(?i:" + "|".join(rng.sample(["'s", "'t", "ab", "x", "re", "[a-c]"], rng.randrange(1, 4))) + ")"


def _seq(rng, depth: int) -> str:
    return "".join(_node(rng, depth) for _ in range(rng.randrange(1, 4)))


def random_wide_pattern(rng: random.Random) -> str:
    """A pattern the VM compiles (redrawn until it does), ending in ``[\\s\\S]`` so every char is matched."""
    while True:
        pattern = "|".join(_seq(rng, 2) for _ in range(rng.randrange(2, 6))) + r"|[\s\S]"
        if compile_vm(pattern) is not None:
            return pattern


def _fuzz(seeds, kernel, cl100k, texts) -> None:
    for seed in seeds:
        pattern = random_wide_pattern(random.Random(seed))
        _check(kernel, cl100k, pattern, texts, name=f"fuzz-{seed}")


@pytest.mark.parametrize("block", range(3))
def test_random_wide_patterns_quick(block, kernel, cl100k, texts):
    _fuzz(range(1000 + 5 * block, 1005 + 5 * block), kernel, cl100k, texts[::6])


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_wide_patterns_fuzz(block, kernel, cl100k, texts):
    _fuzz(range(2000 + 30 * block, 2030 + 30 * block), kernel, cl100k, texts[::2])
