"""Tests written for mutants of the readers and writers (io/tekken.py, io/tokenlab_json.py, io/wordpiece_vocab.py,
io/compiled_vocab.py, io/hf_metaspace.py) that the rest of the suite let survive (see docs/testing.md, "Mutation
testing"). Each compares with the reference that reads the same file (mistral-common, HF ``tokenizers``,
transformers) on small hand-made files, or pins an error text to the rule the reader states."""

from __future__ import annotations

import base64
import functools
import json
import re

import pytest
from test_mutation_kills import _hand_ranks

from tokenlab.errors import FormatError

# texts for the hand-made rank tables: tokens only tiktoken's "any adjacent pair" rule reaches, a token with no
# split ('xyz'), specials' text as plain text, and adversarial Unicode
HAND_TEXTS = ["abcd abcdx xabcd abc xyz xyzz axyz abab cdab", "ab ab cd abc", " abcd", "zyx  abcd\n\nxy z",
              "abcabcdabcd", "qrs xqrs qrsqrs rs", "<s> [INST] ab</s>", "héllo wörld 🤷🏽‍♀️ x\u0301 12345 \t\n\n  ",
              "𝔘𝔫𝔦 中文 ﬁ \u00a0\u2028end"]


def _raises(exc_type, text: str):
    return pytest.raises(exc_type, match="^" + re.escape(text) + "$")


# ---------------------------------------------------------------------------------------------- io/tekken.py
def _tekken_ranks() -> dict[bytes, int]:
    """The hand ranks plus 'uvw' (264) before its parts 'uv' (265) and 'vw' (266): its merge is ('u', 'vw'), and
    tiktoken forms it in 'xuvw' from 'uv' + 'w' (any split merges); and '12', which the tekken pattern splits."""
    ranks = _hand_ranks()
    for tok in [b"uvw", b"uv", b"vw", b"12"]:
        ranks[tok] = len(ranks)
    return ranks


TEKKEN_TEXTS = ["xuvw uvw xuv vwx", "12 123 x12 2112"]


def _tekken_dict(ranks: dict[bytes, int], n_special: int, specials: list[str] | None, *, total: int | None = None,
                 version: str = "v7") -> dict:
    from tokenlab.pretokenize import PATTERNS

    d = {"config": {"pattern": PATTERNS["tekken"], "num_vocab_tokens": len(ranks),
                    "default_vocab_size": len(ranks) + n_special if total is None else total,
                    "default_num_special_tokens": n_special, "version": version},
         "vocab": [{"rank": r, "token_bytes": base64.b64encode(t).decode(), "token_str": None}
                   for t, r in sorted(ranks.items(), key=lambda kv: kv[1])]}
    if specials is not None:
        d["special_tokens"] = [{"rank": k, "token_str": s, "is_control": True} for k, s in enumerate(specials)]
    return d


def _dump(path, d) -> str:
    path.write_text(json.dumps(d), encoding="utf-8")
    return str(path)


def _assert_same_as_tekkenizer(ours, ref, path):
    """Sizes, every special's id, every ordinary id's bytes, ids and decodes of HAND_TEXTS, the name."""
    assert len(ours) == ref.n_words
    n = ref.num_special_tokens
    assert ours.special_tokens == {ref.id_to_piece(i): i for i in range(n)}
    by_id = {i: t for t, i in ours.vocab.items()}
    assert sorted(by_id) == list(range(n, ref.n_words))
    assert all(by_id[i] == ref.id_to_byte_piece(i) for i in range(n, ref.n_words))
    for text in HAND_TEXTS + TEKKEN_TEXTS:
        ids = ours.encode(text, disallowed_special=())
        assert ids == ref.encode(text, bos=False, eos=False), text
        assert ours.decode(ids) == ref.decode(ids) == text
    assert ours.name == str(path)


@pytest.mark.parametrize("case", ["listed", "legacy", "empty-list", "null", "cut", "many"])
def test_tekken_files_equal_mistral_common(tmp_path, case):
    """Listed specials with fillers, none listed (mistral-common's legacy set, with fillers past it), an empty
    list (fillers only), a file whose default_vocab_size keeps only the first entries, and 1 << 16 specials."""
    pytest.importorskip("mistral_common")
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from tokenlab.io import read_tekken
    from tokenlab.io.tekken import MAX_SPECIALS

    ranks = _tekken_ranks()
    if case == "listed":
        d = _tekken_dict(ranks, 5, ["<unk>", "<s>", "</s>"])
    elif case == "legacy":
        d = _tekken_dict(ranks, 23, None, version="v3")
    elif case == "empty-list":
        d = _tekken_dict(ranks, 4, [])
    elif case == "null":
        d = _tekken_dict(ranks, 21, None)
        d["special_tokens"] = None
    elif case == "cut":
        d = _tekken_dict(ranks, 3, ["<unk>", "<s>", "</s>"], total=len(ranks) + 3 - 4)
    else:
        d = _tekken_dict(ranks, MAX_SPECIALS, ["<unk>", "<s>"])
    path = _dump(tmp_path / "tekken.json", d)
    ours, ref = read_tekken(path), Tekkenizer.from_file(path)
    _assert_same_as_tekkenizer(ours, ref, path)


def test_tekken_vocab_size_argument_equals_mistral_common(tmp_path):
    """``vocab_size`` overrides the file's default_vocab_size, as Tekkenizer's own ``vocab_size`` argument does; only
    256 ordinary tokens (the bytes) are enough."""
    pytest.importorskip("mistral_common")
    from mistral_common.tokens.tokenizers.base import TokenizerVersion
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from tokenlab.io import read_tekken

    ranks = _tekken_ranks()
    d = _tekken_dict(ranks, 4, ["<unk>", "<s>"])
    path = _dump(tmp_path / "tekken.json", d)
    for size in (4 + 256, 4 + 258, 4 + len(ranks) - 1, 4 + len(ranks)):
        ref = Tekkenizer(d["vocab"], d["special_tokens"], pattern=d["config"]["pattern"], vocab_size=size,
                         num_special_tokens=4, version=TokenizerVersion.v7, name="tekken")
        _assert_same_as_tekkenizer(read_tekken(path, vocab_size=size), ref, path)
    # the smallest total the file allows, from the file
    d = _tekken_dict(ranks, 4, ["<unk>", "<s>"], total=4 + 256)
    path = _dump(tmp_path / "small.json", d)
    _assert_same_as_tekkenizer(read_tekken(path), Tekkenizer.from_file(path), path)


def test_tekken_sizes_past_the_file_are_refused_like_mistral_common(tmp_path):
    pytest.importorskip("mistral_common")
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from tokenlab.io import read_tekken

    ranks = _hand_ranks()
    n = len(ranks)
    path = _dump(tmp_path / "big.json", _tekken_dict(ranks, 5, ["<s>"], total=n + 6))
    with pytest.raises(AssertionError):
        Tekkenizer.from_file(path)
    with _raises(FormatError, f"{path}: config.default_vocab_size: {n + 6} is too large (at most {n + 5} for this "
                 "file)"):
        read_tekken(path)
    path = _dump(tmp_path / "ok.json", _tekken_dict(ranks, 5, ["<s>"]))
    with _raises(FormatError, f"{path}: vocab_size: {n + 6} is too large (at most {n + 5} for this file)"):
        read_tekken(path, vocab_size=n + 6)
    with _raises(FormatError, f"{path}: vocab_size: expected an integer, got str '300'"):
        read_tekken(path, vocab_size="300")
    with _raises(FormatError, f"{path}: vocab_size: 260 leaves 255 ordinary tokens after 5 specials (byte-level "
                 "needs at least 256)"):
        read_tekken(path, vocab_size=260)
    path = _dump(tmp_path / "few.json", _tekken_dict(ranks, 5, ["<s>"], total=5 + 255))
    with _raises(FormatError, f"{path}: config.default_vocab_size: 260 leaves 255 ordinary tokens after 5 "
                 "specials (byte-level needs at least 256)"):
        read_tekken(path)


def test_tekken_errors_name_the_file_and_the_field(tmp_path):
    """Every refusal is ``FILE: FIELD: message`` (validate.fail's rule) with the field of the damaged entry."""
    from tokenlab.io import read_tekken
    from tokenlab.io.tekken import MAX_SPECIALS

    ranks = _hand_ranks()
    long = bytes(range(65, 65 + 50))
    ranks[long] = len(ranks)
    n = len(ranks)

    def refused(edit, message, name="bad.json"):
        d = _tekken_dict(ranks, 5, ["<unk>", "<s>", "</s>"])
        out = edit(d)
        d = d if out is None else out
        path = _dump(tmp_path / name, d)
        with _raises(FormatError, f"{path}: {message}"):
            read_tekken(path)

    refused(lambda d: [], "tekken.json: expected an object, got list []")
    refused(lambda d: d.pop("config") and None, "config: expected an object, got NoneType None")
    refused(lambda d: d.update(vocab={}), "vocab: expected a list, got dict {}")
    refused(lambda d: d["config"].update(default_num_special_tokens=MAX_SPECIALS + 1),
            f"config.default_num_special_tokens: {MAX_SPECIALS + 1} is too large (at most {MAX_SPECIALS} for this "
            "file)")
    refused(lambda d: d["config"].update(pattern=""), "config.pattern: must not be empty")
    refused(lambda d: d["config"].update(pattern=3), "config.pattern: expected a string, got int 3")
    refused(lambda d: d["vocab"].__setitem__(3, "x"), "vocab[3]: expected an object {rank, token_bytes}, got str 'x'")
    refused(lambda d: d["vocab"][3].update(rank=n), f"vocab[3].rank: {n} is too large (at most {n - 1} for this "
            "file)")
    refused(lambda d: d["vocab"][3].update(rank=7), f"vocab: ranks of the first {n} entries are not 0..{n - 1}")
    refused(lambda d: d["vocab"][3].update(token_bytes=5), "vocab[3].token_bytes: expected a string, got int 5")
    # not strict base64 ('@' skipped, 'A' + 'Aw==' read as byte 3) would read a valid token
    refused(lambda d: d["vocab"][3].update(token_bytes="A@w=="), "vocab[3].token_bytes: not base64")
    long_b64 = base64.b64encode(long).decode()
    refused(lambda d: d["vocab"][n - 2].update(token_bytes=long_b64),
            f"vocab[{n - 1}]: token {long[:40]!r} appears twice")
    refused(lambda d: d.update(special_tokens={}), "special_tokens: expected a list, got dict {}")
    refused(lambda d: d["special_tokens"].__setitem__(1, "x"), "special_tokens[1]: expected an object, got str 'x'")
    refused(lambda d: d["special_tokens"][1].update(token_str=""), "special_tokens[1].token_str: must not be empty")
    refused(lambda d: d["special_tokens"][1].update(token_str="<unk>"),
            "special_tokens: a special token is listed twice")
    # a listed name equal to a filler's
    refused(lambda d: d["special_tokens"][0].update(token_str="<SPECIAL_4>"),
            "special_tokens: a special token is listed twice")


# ---------------------------------------------------------------------------------------------- io/tokenlab_json.py
def _json_tokenizer(ignore_merges: bool, any_split: bool):
    """A byte-level BPE over the hand ranks (merges as tiktoken derives them) with a digit split and two specials
    around a gap."""
    from tokenlab.io.tiktoken_file import merges_from_ranks
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    ranks = _hand_ranks()
    return Tokenizer(vocab=ranks, merges=merges_from_ranks(ranks), special_tokens={"<|end|>": 300, "<pad>": 270},
                     pretokenizer=PreTokenizer(pattern="cl100k", split_digits=2), ignore_merges=ignore_merges,
                     any_split=any_split, name="hand json")


@pytest.mark.parametrize("switches", [(False, False), (True, True), (True, False), (False, True)])
def test_tokenlab_json_fields_follow_the_format_and_read_back(tmp_path, switches):
    """The fields are what the module docstring defines (vocab as [base64, id] in id order, merges as [id, id],
    the pre-tokenizer's dict, the specials, the merge switches); the file reads back to the same tokenizer."""
    from tokenlab.io import load_tokenizer
    from tokenlab.tokenizer import FORMAT_VERSION

    tok = _json_tokenizer(*switches)
    d = tok.to_dict()
    by_id = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    assert d == {"format": "tokenlab", "version": FORMAT_VERSION, "name": "hand json",
                 "pretokenizer": {"pattern": "cl100k", "split_digits": 2},
                 "ignore_merges": switches[0], "any_split": switches[1],
                 "vocab": [[base64.b64encode(t).decode("ascii"), i] for t, i in by_id],
                 "merges": [[tok.vocab[a], tok.vocab[b]] for a, b in tok.merges],
                 "special_tokens": {"<|end|>": 300, "<pad>": 270}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    back = load_tokenizer(path)
    assert (back.vocab, back.merges, back.special_tokens, back.pretokenizer, back.ignore_merges, back.any_split,
            back.name) == (tok.vocab, tok.merges, tok.special_tokens, tok.pretokenizer, *switches, "hand json")
    for text in [*HAND_TEXTS, "<|end|> 12345 <pad>"]:
        assert back.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all"), text


def test_tokenlab_json_defaults_and_other_format_names():
    """Missing optional fields read as their defaults (version 0, no merges, no specials, no pre-tokenizer pattern,
    merge switches off, no name); the research formats share the fields without the merge switches."""
    from tokenlab.io.tokenlab_json import bpe_fields, bpe_to_dict, tokenizer_from_dict
    from tokenlab.pretokenize import PreTokenizer

    tok = _json_tokenizer(True, True)
    d = tok.to_dict()
    bare = {"format": "tokenlab", "vocab": d["vocab"]}
    got = tokenizer_from_dict(bare)
    assert (got.vocab, got.merges, got.special_tokens, got.pretokenizer, got.ignore_merges, got.any_split,
            got.name) == (tok.vocab, [], {}, PreTokenizer(pattern=None), False, False, "")
    nulls = {**bare, "special_tokens": None, "pretokenizer": None}
    got = tokenizer_from_dict(nulls)
    assert (got.special_tokens, got.pretokenizer) == ({}, PreTokenizer(pattern=None))
    assert bpe_to_dict(tok, name="other")["name"] == "other"
    d["special_tokens"]["<new>"] = 301  # the dict is the tokenizer's content, not its state
    assert tok.special_tokens == {"<|end|>": 300, "<pad>": 270}
    d = tok.to_dict()
    sw = bpe_to_dict(tok, "tokenlab-superword")
    assert sw == {k: v for k, v in d.items() if k not in ("ignore_merges", "any_split")} | {
        "format": "tokenlab-superword"}
    fields, by_id = bpe_fields(sw, "", "tokenlab-superword")
    assert fields == {"vocab": tok.vocab, "merges": tok.merges, "special_tokens": tok.special_tokens,
                      "name": "hand json", "pretokenizer": tok.pretokenizer}
    assert by_id == {i: t for t, i in tok.vocab.items()}
    with _raises(FormatError, 'f.json: format: not a tokenlab-superword tokenizer file (missing "format": '
                 '"tokenlab-superword")'):
        bpe_fields(d, "f.json", "tokenlab-superword")
    with _raises(FormatError, 'format: not a tokenlab tokenizer file (missing "format": "tokenlab")'):
        bpe_fields(sw)  # no file named by default


def test_tokenlab_json_errors_name_the_file_and_the_field(tmp_path):
    from tokenlab.io import load_tokenizer
    from tokenlab.io.tokenlab_json import tokenizer_from_dict
    from tokenlab.tokenizer import FORMAT_VERSION

    tok = _json_tokenizer(True, True)
    n = len(tok.vocab)

    def refused(edit, message):
        d = tok.to_dict()
        out = edit(d)
        d = d if out is None else out
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(d), encoding="utf-8")
        with _raises(FormatError, f"{path}: {message}"):
            load_tokenizer(path, format="tokenlab")
        with _raises(FormatError, message):  # no file name: no prefix
            tokenizer_from_dict(d)
        with _raises(FormatError, f"where.json: {message}"):  # the name given (load_tokenizer adds it anyway)
            tokenizer_from_dict(d, "where.json")

    refused(lambda d: [], 'format: not a tokenlab tokenizer file (missing "format": "tokenlab")')
    refused(lambda d: d.update(format="tokenlab-superword"),
            'format: not a tokenlab tokenizer file (missing "format": "tokenlab")')
    refused(lambda d: d.update(version=FORMAT_VERSION + 1),
            f"version: {FORMAT_VERSION + 1} is newer than this tokenlab supports ({FORMAT_VERSION})")
    refused(lambda d: d.update(version=-1), "version: -1 is negative")
    refused(lambda d: d.update(version="1"), "version: expected an integer, got str '1'")
    refused(lambda d: d.pop("vocab") and None, "vocab: expected a list of [base64, id] pairs, got NoneType None")
    refused(lambda d: d.update(merges={}), "merges: expected a list of [id, id] pairs, got dict {}")
    refused(lambda d: d.update(special_tokens=["<|end|>"]),
            "special_tokens: expected an object {token: id}, got list ['<|end|>']")
    refused(lambda d: d.update(pretokenizer="gpt2"),
            "pretokenizer: expected an object {pattern, split_digits}, got str 'gpt2'")
    refused(lambda d: d.update(pretokenizer={"pattern": 5}),
            "pretokenizer.pattern: expected a string or null, got int")
    refused(lambda d: d.update(pretokenizer={"pattern": "gpt2", "split_digits": 0}),
            "pretokenizer.split_digits: 0 is below 1")
    refused(lambda d: d.update(pretokenizer={"pattern": "gpt2", "split_digits": 33}),
            "pretokenizer.split_digits: 33 is too large (at most 32 for this file)")
    refused(lambda d: d["vocab"].__setitem__(4, ["YQ==", 4, 5]), "vocab[4]: expected a [base64 string, id] pair")
    refused(lambda d: d["vocab"].__setitem__(4, "YQ=="), "vocab[4]: expected a [base64 string, id] pair")
    refused(lambda d: d["vocab"].__setitem__(4, [4, 4]), "vocab[4]: expected a [base64 string, id] pair")
    refused(lambda d: d["vocab"][4].__setitem__(0, "A@Q=" + "x" * 50), f"vocab[4]: {('A@Q=' + 'x' * 36)!r} is not "
            "base64")
    limit = 4 * (n + 2) + (1 << 20)
    refused(lambda d: d["vocab"][4].__setitem__(1, limit), f"vocab[b'\\x04']: {limit} is too large (at most "
            f"{limit - 1} for this file)")
    limit3 = limit + 4  # a third special raises the limit by four
    refused(lambda d: d["special_tokens"].update({"<big>": limit3}),
            f"special_tokens['<big>']: {limit3} is too large (at most {limit3 - 1} for this file)")
    refused(lambda d: d["special_tokens"].update({"<pad>": 4}), "special_tokens: special '<pad>' has the id 4 of "
            "the token b'\\x04'")
    refused(lambda d: d["merges"].__setitem__(1, [1]), "merges[1]: expected an [id, id] pair")
    refused(lambda d: d["merges"].__setitem__(1, (1, 2, 3) and [1, 2, 3]), "merges[1]: expected an [id, id] pair")
    refused(lambda d: d["merges"].__setitem__(1, [True, 98]), "merges[1]: expected an [id, id] pair")
    refused(lambda d: d["merges"].__setitem__(1, [97, 98.0]), "merges[1]: expected an [id, id] pair")
    refused(lambda d: d["merges"].__setitem__(1, "97 98"), "merges[1]: expected an [id, id] pair")
    refused(lambda d: d["merges"].__setitem__(1, [97, 999]), "merges[1]: [97, 999] refers to an id that is not in "
            "vocab")
    refused(lambda d: d["merges"].__setitem__(1, [999, 97]), "merges[1]: [999, 97] refers to an id that is not in "
            "vocab")
    refused(lambda d: d["merges"].append(d["merges"][0]), "merges: a merge is listed twice")
    refused(lambda d: d.update(ignore_merges="yes"), "ignore_merges: expected true or false, got str 'yes'")
    refused(lambda d: d.update(any_split=1), "any_split: expected true or false, got int 1")
    # a check of the Tokenizer itself, reported under "tokenizer"
    refused(lambda d: d["vocab"].pop(7) and None,
            "tokenizer: vocab lacks 1 single-byte tokens (e.g. byte 7); byte-level BPE needs all 256")


# ---------------------------------------------------------------------------------------------- io/compiled_vocab.py
@pytest.fixture
def compiled_cache(tmp_path, monkeypatch):
    """An empty cache directory, and the kernel present (the compiled vocabulary is only made for it)."""
    from tokenlab.kernels import bpe as kernel

    if kernel is None:
        pytest.skip("the compiled vocabulary is only made for the C kernel")
    d = tmp_path / "cache"
    monkeypatch.setenv("TOKENLAB_CACHE_DIR", str(d))
    return d


def _counted(build, calls):
    def run():
        calls.append(1)
        return build()
    return run


def _compiled_texts():
    import random

    from adversarial_text import adversarial_document

    return [*HAND_TEXTS, *TEKKEN_TEXTS, adversarial_document(random.Random(5), 3000), "", "abcd" * 500]


@pytest.mark.parametrize("any_split", [True, False])
def test_compiled_vocabulary_hit_equals_the_built_tokenizer(compiled_cache, any_split):
    """The second load of the same key comes from the file (no build) and equals the built tokenizer: ids, decodes,
    vocab, merges, specials, switches, name; with ``any_split`` off the kernel reads the pair table instead."""
    from tokenlab.io import compiled_vocab as cv
    from tokenlab.io.tiktoken_file import merges_from_ranks
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    ranks = _tekken_ranks()
    pre, specials = PreTokenizer("cl100k", split_digits=2), {"<|end|>": 300, "<pad>": 280}

    def build():
        return Tokenizer(vocab=dict(ranks), merges=merges_from_ranks(ranks), pretokenizer=pre,
                         special_tokens=dict(specials), ignore_merges=True, any_split=any_split, name="hand")

    key = cv.compiled_key("digest", pre, specials, True, any_split)
    calls: list = []
    cold = cv.compiled_tokenizer(key, pre, specials, "hand", _counted(build, calls))
    assert calls == [1] and [p.name for p in compiled_cache.glob("compiled-*")] == [f"compiled-{key[:40]}.bin"]
    hot = cv.compiled_tokenizer(key, pre, specials, "hand", _counted(build, calls))
    assert calls == [1] and "_compiled" in hot.__dict__ and "vocab" not in hot.__dict__
    for text in _compiled_texts():
        ids = hot.encode(text, disallowed_special=())
        assert ids == cold.encode(text, disallowed_special=()), text[:40]
        assert hot.decode(ids) == cold.decode(ids) == text
    assert hot.encode("<pad>x<|end|>", allowed_special="all") == [280, ranks[b"x"], 300]
    assert (hot.vocab, hot.merges, hot.special_tokens, hot.pretokenizer, hot.ignore_merges, hot.any_split,
            hot.name) == (cold.vocab, cold.merges, specials, pre, True, any_split, "hand")


def test_compiled_vocabulary_file_follows_the_layout(compiled_cache):
    """The file is what the module docstring defines: magic, version, CRC-32 of the rest, section count, one u64
    length per section, each section padded to 8 bytes; the metadata names the key and the kernel settings; the
    sections are the kernel's tables (``native_tables``) and the merges as id pairs."""
    import struct
    import zlib

    from tokenlab.encode.native import native_eligible, native_tables
    from tokenlab.io import compiled_vocab as cv
    from tokenlab.io.tiktoken_file import merges_from_ranks
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    ranks = _tekken_ranks()
    pre = PreTokenizer("o200k")
    tok = Tokenizer(vocab=dict(ranks), merges=merges_from_ranks(ranks), pretokenizer=pre, ignore_merges=False,
                    any_split=False)
    key = "k" * 64
    cv.compiled_tokenizer(key, pre, {}, "", lambda: tok)
    data = (compiled_cache / f"compiled-{'k' * 40}.bin").read_bytes()
    magic, version, crc, count = struct.unpack_from("<8sIII", data)
    assert (magic, version, count) == (b"TLCVOCAB", 1, 9) and crc == zlib.crc32(data[20:])
    lengths = struct.unpack_from("<9Q", data, 20)
    sections, pos = [], 20 + 72
    for n in lengths:
        sections.append(data[pos : pos + n])
        assert data[pos + n : pos + n + (-n % 8)] == bytes(-n % 8)
        pos += n + (-n % 8)
    assert pos == len(data)
    pid = native_eligible(tok)
    assert json.loads(sections[0]) == {"key": key, "pattern": pid, "split_digits": 0, "ignore_merges": False,
                                       "any_split": False}
    tables = native_tables(tok, pid)
    for name, got in zip(cv.SECTIONS[1:-1], sections[1:-1]):
        assert got == memoryview(tables[name]).cast("B").tobytes(), name
    flat = struct.unpack(f"<{len(sections[-1]) // 4}I", sections[-1])
    assert list(zip(flat[::2], flat[1::2])) == [(ranks[a], ranks[b]) for a, b in tok.merges]
    compiled = cv.parse_compiled(data, key)
    assert compiled.vocab() == ranks and compiled.merges() == tok.merges
    assert compiled.kernel_tables()["pattern"] == pid and compiled.kernel_tables()["any_split"] is False


def _assemble(meta: bytes, rest: list[bytes], *, magic=b"TLCVOCAB", version=1, count=9, crc=None) -> bytes:
    import struct
    import zlib

    parts = [meta, *rest]
    lengths = struct.pack(f"<{len(parts)}Q", *(len(p) for p in parts))
    body = b"".join(p + bytes(-len(p) % 8) for p in parts)
    crc = zlib.crc32(lengths + body) if crc is None else crc
    return struct.pack("<8sIII", magic, version, crc, count) + lengths + body


def test_compiled_vocabulary_damage_is_never_read():
    """Each check of ``parse_compiled``: a file that fails one (with every other part valid) is None."""
    from tokenlab.io import compiled_vocab as cv

    rest = [b"c" * 9, b"b" * 16, b"o", b"", b"r" * 3, b"y", b"p" * 5, b"m" * 8]
    meta = json.dumps({"key": "K", "pattern": 1}).encode()
    good = _assemble(meta, rest)
    got = cv.parse_compiled(good, "K")
    assert got.meta == {"key": "K", "pattern": 1}
    assert {k: bytes(v) for k, v in got.sections.items()} == dict(zip(cv.SECTIONS[1:], rest))
    assert cv.parse_compiled(good[:20 + 72], "K") is None
    assert cv.parse_compiled(good[:20 + 71], "K") is None
    head_only = _assemble(b"", [b""] * 8)  # every section empty: the header alone, a valid size
    assert len(head_only) == 20 + 72 and cv.parse_compiled(head_only, "K") is None  # meta is not JSON
    bad = {"magic": _assemble(meta, rest, magic=b"TLCVOCAX"), "version": _assemble(meta, rest, version=2),
           "count": _assemble(meta, rest, count=8), "crc": _assemble(meta, rest, crc=1),
           "extra byte": good + b"\0", "one byte short": good[:-1],
           "key": _assemble(json.dumps({"key": "L"}).encode(), rest),
           "no key": _assemble(b"{}", rest), "not an object": _assemble(b'["K"]', rest),
           "not JSON": _assemble(b"{key", rest), "not UTF-8": _assemble(b"\xff", rest)}
    for what, data in bad.items():
        assert cv.parse_compiled(data, "K") is None, what
    one_pad = _assemble(meta, [b"c" * 8, *rest[1:]])  # a section of 8 needs no padding
    assert bytes(cv.parse_compiled(one_pad, "K").sections["blob"]) == rest[1]


def test_compiled_vocabulary_cache_failures_fall_back_to_building(compiled_cache, monkeypatch):
    """An unwritable directory or a failed rename: no file, no temp file left, False; a file the kernel refuses
    is rebuilt; no kernel, or a tokenizer the kernel cannot take (a pattern with no state machine): built, never
    written."""
    from tokenlab.encode import native
    from tokenlab.io import compiled_vocab as cv
    from tokenlab.io.tiktoken_file import merges_from_ranks
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    ranks = _tekken_ranks()
    pre = PreTokenizer("cl100k")

    def build(pattern=pre):
        return Tokenizer(vocab=dict(ranks), merges=merges_from_ranks(ranks), pretokenizer=pattern,
                         ignore_merges=True, any_split=True)

    tables = native.native_tables(build(), native.native_eligible(build()))
    assert cv.write_compiled("a" * 64, tables, [1, 2]) is True
    assert cv.read_compiled("a" * 64).merges() == [(b"\x01", b"\x02")]
    assert cv.read_compiled("b" * 64) is None

    def refuse(*a, **k):
        raise PermissionError("read-only")

    with monkeypatch.context() as mp:
        mp.setattr(cv.os, "replace", refuse)
        assert cv.write_compiled("c" * 64, tables, []) is False
    assert [p.name for p in compiled_cache.glob("compiled-*")] == [f"compiled-{'a' * 40}.bin"]
    blocker = compiled_cache / "file"
    blocker.write_text("not a directory")
    with monkeypatch.context() as mp:
        mp.setenv("TOKENLAB_CACHE_DIR", str(blocker / "sub"))
        assert cv.write_compiled("d" * 64, tables, []) is False
        calls: list = []
        for n in (1, 2):  # nothing could be written: each load builds
            tok = cv.compiled_tokenizer("d" * 64, pre, {}, "", _counted(build, calls))
            assert calls == [1] * n and tok.encode("xuvw 12") == build().encode("xuvw 12")

    # a file whose tables the kernel refuses: built again and rewritten
    calls = []
    key = "e" * 64
    broken = dict(tables, off=tables["off"][:-3])
    assert cv.write_compiled(key, broken, [])
    tok = cv.compiled_tokenizer(key, pre, {}, "", _counted(build, calls))
    assert calls == [1] and tok.encode("abcd xuvw") == build().encode("abcd xuvw")
    assert cv.compiled_tokenizer(key, pre, {}, "", _counted(build, calls)).encode("xuvw") == tok.encode("xuvw")
    assert calls == [1]  # the rewritten file is read

    # a pattern the kernel has no state machine for: built, nothing written
    custom = PreTokenizer(r"\S+|\s+")
    calls = []
    for _ in range(2):
        cv.compiled_tokenizer("f" * 64, custom, {}, "", _counted(lambda: build(custom), calls))
    assert calls == [1, 1] and not (compiled_cache / f"compiled-{'f' * 40}.bin").exists()

    # no kernel: build() as is, nothing written
    import tokenlab.kernels as kernels

    monkeypatch.setattr(kernels, "bpe", None)
    calls = []
    made = cv.compiled_tokenizer("g" * 64, pre, {}, "", _counted(build, calls))
    assert calls == [1] and "_fast" not in made.__dict__
    assert not (compiled_cache / f"compiled-{'g' * 40}.bin").exists()
    assert not list(compiled_cache.glob("*.tmp"))


def test_compiled_key_covers_every_load_argument(compiled_cache):
    """A key per load: any change in the source digest, pre-tokenizer, specials, switches or extra bytes gives
    another key; the same arguments (specials in any order) give the same key, so a second load is a hit."""
    import hashlib
    import os

    from tokenlab.io import compiled_vocab as cv
    from tokenlab.pretokenize import PreTokenizer

    pre = PreTokenizer("cl100k")
    base = ("d", pre, {"<a>": 300, "<b>": 301}, True, True)
    keys = {cv.compiled_key(*base),
            cv.compiled_key("e", *base[1:]),
            cv.compiled_key("d", PreTokenizer("o200k"), *base[2:]),
            cv.compiled_key("d", PreTokenizer("cl100k", split_digits=1), *base[2:]),
            cv.compiled_key("d", pre, {"<a>": 300}, True, True),
            cv.compiled_key("d", pre, {"<a>": 300, "<b>": 302}, True, True),
            cv.compiled_key("d", pre, {"<a>": 300, "<c>": 301}, True, True),
            cv.compiled_key(*base[:3], False, True),
            cv.compiled_key(*base[:4], False),
            cv.compiled_key(*base, extra=b"x")}
    assert len(keys) == 10 and all(re.fullmatch("[0-9a-f]{64}", k) for k in keys)
    assert cv.compiled_key(*base) == cv.compiled_key("d", PreTokenizer("cl100k"), {"<b>": 301, "<a>": 300}, True,
                                                     True)
    assert cv.compiled_key(*base) == cv.compiled_key(*base, extra=b"")
    assert cv.cache_path("0123456789" * 7) == os.path.join(str(compiled_cache), f"compiled-{'0123456789' * 4}.bin")
    classes = os.path.join(os.path.dirname(cv.__file__), "..", "data", "unicode_classes.json")
    with open(classes, "rb") as f:
        assert cv._class_table_digest() == hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------------- io/hf_metaspace.py
META_ATOMS = [" ", "  ", "a", "b", "c", "h", "e", "l", "o", "hello", "hell", "é", "É", "\n", "\t", "<s>", "</s>",
              "▁", "_", "🤖", "ﬁ", "A", "HELLO", "x y", "\u3000", "<x>", "ab", "ca", "Ca", "CA", "\u0301", "Å", "l.",
              "lo", "①", "Ｈ"]


def _meta_texts(seed: int = 0, n: int = 150) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["", " ", "hello", " hello", "hello  a", "a\nb", "<s>hello</s> a<x>b", "ab", "Cab"] + [
        "".join(rng.choice(META_ATOMS) for _ in range(rng.randrange(1, 9))) for _ in range(n)]


def _meta_json(**edits) -> dict:
    from reliability_util import metaspace_json

    d = metaspace_json()
    vocab = d["model"]["vocab"]
    for token in ["_", "▁c", "o▁", "\t", "\t\t"]:
        vocab[token] = len(vocab)
    # "o ▁" first: it joins two words where the Metaspace pre-tokenizer does not split them; "\t \t" has a
    # merge string that only splits at the space
    d["model"]["merges"] = ["o ▁", *d["model"]["merges"], "▁ c", "\t \t"]
    for key, value in edits.items():
        if key in ("fuse_unk", "byte_fallback", "ignore_merges", "unk_token", "merges", "vocab"):
            d["model"][key] = value
        else:
            d[key] = value
    return d


def _added(content: str, i: int, special: bool, normalized: bool = False) -> dict:
    return {"id": i, "content": content, "special": special, "normalized": normalized, "single_word": False,
            "lstrip": False, "rstrip": False}


_META_PREFIX = {"type": "Prepend", "prepend": "▁"}
_META_SPACES = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
_FUSED = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                           {"type": "ByteFallback"}, {"type": "Fuse"},
                                           {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def _metaspace(scheme="always", split=True, replacement="▁", **extra) -> dict:
    return {"type": "Metaspace", "replacement": replacement, "prepend_scheme": scheme, "split": split, **extra}


@functools.lru_cache(maxsize=1)
def _nfkc_charsmap() -> str:
    """sentencepiece's nmt_nfkc character map (base64, as tokenizer.json holds it), from a tiny trained model."""
    import io

    spm = pytest.importorskip("sentencepiece")
    from tokenlab.io.sentencepiece import parse_sentencepiece

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["hello world ① Ｈｅｌｌｏ"] * 20), model_writer=buf,
                                   vocab_size=30, minloglevel=2, normalization_rule_name="nmt_nfkc",
                                   hard_vocab_limit=False)
    return base64.b64encode(parse_sentencepiece(buf.getvalue()).precompiled_charsmap).decode()


def _meta_cases() -> dict[str, dict]:
    seq = {"type": "Sequence", "normalizers": [_META_PREFIX, _META_SPACES]}
    metaspace_decoder = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, _metaspace()]}
    specials = [_added("<unk>", 0, True), _added("<s>", 1, True), _added("</s>", 2, True)]
    n = len(_meta_json()["model"]["vocab"])  # HF numbers added tokens after the vocab
    cases = {
        "llama": _meta_json(),
        # a normalized added token is found in the normalized text (HF also normalizes its content, which the
        # reader does not: "hel" is the same either way), the others in the raw text
        "added tokens": _meta_json(added_tokens=[*specials, _added("<x>", n, False),
                                                 _added("hel", n + 1, False, normalized=True),
                                                 _added("Ca", n + 2, False, normalized=False)],
                                   normalizer={"type": "Lowercase"}, pre_tokenizer=_metaspace(),
                                   decoder=metaspace_decoder),
        "no fuse, no byte fallback": _meta_json(fuse_unk=False, byte_fallback=False),
        "ignore merges": _meta_json(ignore_merges=True, vocab={**_meta_json()["model"]["vocab"], "▁ab": 400}),
        "fuse, no byte fallback": _meta_json(fuse_unk=True, byte_fallback=False),
        "merge lists": _meta_json(merges=[m.split(" ") for m in _meta_json()["model"]["merges"]]),
        "lowercase nfkc": _meta_json(normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"}, _META_PREFIX, _META_SPACES]}),
        "nfd regex": _meta_json(normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Sequence", "normalizers": [_META_PREFIX, _META_SPACES]}]}),
        "nfc nfkd one step": _meta_json(normalizer={"type": "Sequence", "normalizers": [{"type": "NFKD"},
                                                                                       {"type": "NFC"}]}),
        "only prepend": _meta_json(normalizer=_META_PREFIX, decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}]}),
        "strip at start 0": _meta_json(normalizer=seq, decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 0, "stop": 0}]}),
        "strip of another char": _meta_json(normalizer=seq, decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": "h", "start": 1, "stop": 0}]}),
        "legacy add_prefix_space": _meta_json(normalizer=None, pre_tokenizer={
            "type": "Metaspace", "replacement": "▁", "add_prefix_space": True},
            decoder={"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}),
        "t5": _meta_json(normalizer=None, pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, _metaspace()]}, decoder=metaspace_decoder),
        "replacement _": _meta_json(normalizer=None, pre_tokenizer=_metaspace("first", False, "_"),
                                    decoder={"type": "Sequence", "decoders": [
                                        {"type": "ByteFallback"}, _metaspace("first", False, "_")]}),
    }
    cases["precompiled"] = _meta_json(normalizer={"type": "Sequence", "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": _nfkc_charsmap()}, _META_PREFIX, _META_SPACES]})
    cases["replace a dot"] = _meta_json(normalizer={"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": "l."}, "content": "L"}, _META_PREFIX, _META_SPACES]})
    cases["metaspace decoder after a normalizer"] = _meta_json(normalizer=seq, decoder=metaspace_decoder)
    cases["no byte decoder"] = _meta_json(decoder={"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "Fuse"}]})
    cases["metaspace defaults"] = _meta_json(normalizer=None, pre_tokenizer={"type": "Metaspace", "replacement": "▁"},
                                             decoder={"type": "Metaspace", "replacement": "▁"})
    for scheme in ("always", "first", "never"):
        for split in (True, False):
            cases[f"metaspace {scheme} {split}"] = _meta_json(
                normalizer=None, pre_tokenizer=_metaspace(scheme, split),
                decoder={"type": "Sequence", "decoders": [{"type": "ByteFallback"}, _metaspace(scheme, split)]})
    return cases


def _assert_same_as_hf(ours, hf, texts):
    for text in texts:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert ours.encode(text, allowed_special="all") == ids, text
        assert ours.decode(ids) == hf.decode(ids, skip_special_tokens=False), text


@pytest.mark.parametrize("case", list(_meta_cases()))
def test_metaspace_files_equal_hf_and_export_back(case):
    """Llama-style BPE files HF writes or reads (every normalizer, Metaspace setting, decoder and added-token form
    the reader takes): ids and decodes equal HF's; the export loads in HF with the same ids and decodes."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_json import from_hf_dict as read_any
    from tokenlab.io.hf_metaspace import from_hf_dict, is_metaspace_bpe, to_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE

    d = _meta_cases()[case]
    hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    assert is_metaspace_bpe(d)
    ours = from_hf_dict(d, name="meta")
    assert isinstance(ours, MetaspaceBPE) and ours.name == "meta" and from_hf_dict(d).name == ""
    assert ours.strip_decoded in ("none", "fused", "first_token")  # MetaspaceBPE's three decode modes
    assert isinstance(read_any(d), MetaspaceBPE)
    texts = _meta_texts()
    _assert_same_as_hf(ours, hf, texts)
    exported = to_hf_dict(ours)
    again = tokenizers.Tokenizer.from_str(json.dumps(exported))
    assert json.loads(again.to_str()) == exported  # what HF itself writes for the parts it read
    if d.get("normalizer") is None:
        assert exported["normalizer"] is None
    for text in texts:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert again.encode(text, add_special_tokens=False).ids == ids, text
        for skip in (False, True):
            assert again.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip), text
    back = from_hf_dict(exported)
    _assert_same_as_hf(back, hf, texts[:40])
    assert to_hf_dict(back) == exported


@pytest.mark.parametrize("byte_fallback", [False, True])
def test_metaspace_unigram_files_equal_hf_and_export_back(byte_fallback):
    """HF Unigram files (T5 / XLM-R style): scores, unk_id (or none), byte fallback, WhitespaceSplit + Metaspace."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, normalizers, pre_tokenizers

    from tokenlab.io.hf_metaspace import from_hf_dict, to_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceUnigram

    pieces = [("<unk>", 0.0), ("<s>", 0.0), ("▁", -2.0), ("a", -3.0), ("b", -3.5), ("h", -4.0), ("e", -4.0),
              ("l", -4.0), ("o", -4.0), ("▁a", -2.5), ("▁hello", -3.0), ("hell", -3.2), ("he", -3.1),
              ("ll", -3.3), ("▁he", -3.4), ("lo", -3.3), ("c", -5.0)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", -10.0) for b in range(256)]
    for unk_id in (0, 4):
        hf = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=unk_id, byte_fallback=byte_fallback))
        hf.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" ", " ")])
        hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
        hf.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()]) if byte_fallback else (
            decoders.Metaspace())
        hf.add_special_tokens(["<s>"])
        hf.add_tokens([tokenizers.AddedToken("<x>", normalized=False)])
        d = json.loads(hf.to_str())
        ours = from_hf_dict(d, name="u.json")
        assert isinstance(ours, MetaspaceUnigram) and ours.unk_id == unk_id and ours.name == "u.json"
        texts = _meta_texts(1)
        _assert_same_as_hf(ours, hf, texts)
        exported = to_hf_dict(ours)
        again = tokenizers.Tokenizer.from_str(json.dumps(exported))
        assert json.loads(again.to_str()) == exported
        for text in texts:
            assert again.encode(text, add_special_tokens=False).ids == hf.encode(text, add_special_tokens=False).ids
        assert exported["model"] == {"type": "Unigram", "unk_id": unk_id, "byte_fallback": byte_fallback,
                                     "vocab": [list(p) for p in pieces]}
    # byte pieces with no ByteFallback decoder: HF shows them as text
    hf.decoder = decoders.Metaspace()
    _assert_same_as_hf(from_hf_dict(json.loads(hf.to_str())), hf, _meta_texts(2, 60))
    # no unknown piece: texts of known characters only (HF refuses an unknown one)
    hf = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=None, byte_fallback=byte_fallback))
    hf.pre_tokenizer, hf.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    ours = from_hf_dict(json.loads(hf.to_str()))
    assert ours.unk_id is None
    _assert_same_as_hf(ours, hf, ["hello a", "a  b c hell", "ohell", ""])
    # a special numbered after the pieces, first in the ids: the first-token strip looks it up (was a KeyError)
    hf.add_special_tokens(["<mask>"])
    _assert_same_as_hf(from_hf_dict(json.loads(hf.to_str())), hf, ["<mask> a", "<mask>", "a<mask>hell"])
    with _raises(FormatError, "u.json: added_tokens: '<s>' is listed twice"):
        from_hf_dict({**d, "added_tokens": [_added("<s>", 1, True)] * 2}, name="u.json")


def test_metaspace_file_kinds_are_told_apart():
    """Unigram and BPE over "▁" characters (byte fallback, a Metaspace step, "▁" anywhere in the normalizer,
    pre-tokenizer or decoder) are this reader's; byte-level BPE and other models are not."""
    from tokenlab.io.hf_metaspace import is_metaspace_bpe

    plain = {"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": None, "pre_tokenizer": None,
             "decoder": {"type": "ByteLevel"}}
    assert not is_metaspace_bpe(plain)
    assert not is_metaspace_bpe({**plain, "model": {"vocab": {}}})  # no type: BPE
    assert is_metaspace_bpe({**plain, "model": {"vocab": {}, "byte_fallback": True}})
    assert is_metaspace_bpe({"model": {"type": "Unigram"}})
    assert not is_metaspace_bpe({**plain, "model": {"type": "WordPiece", "byte_fallback": True}})
    assert not is_metaspace_bpe({})
    assert not is_metaspace_bpe({"model": None})
    for key, value in [("normalizer", _META_SPACES), ("pre_tokenizer", _metaspace()),
                       ("decoder", {"type": "Metaspace", "replacement": "_"}),
                       ("decoder", {"type": "Strip", "content": "▁"})]:
        assert is_metaspace_bpe({**plain, key: value}), (key, value)
        assert not is_metaspace_bpe({**plain, "model": {"type": "WordLevel"}, key: value})


def test_metaspace_reader_errors_say_what_is_wrong():
    from tokenlab.io.hf_metaspace import from_hf_dict, to_hf_dict

    def refused(message, name="", **edits):
        d = _meta_json()
        for key, value in edits.items():
            if key.startswith("model_"):
                d["model"][key[6:]] = value
            else:
                d[key] = value
        with _raises(FormatError, message):
            from_hf_dict(d, name=name)

    refused("normalizer: expected an object, got str", normalizer="NFKC")
    refused("normalizer.normalizers: expected a list", normalizer={"type": "Sequence", "normalizers": {}})
    refused("pre_tokenizer.pretokenizers: expected a list", pre_tokenizer={"type": "Sequence"})
    refused("decoder.decoders: expected a list", decoder={"type": "Sequence", "decoders": "x"})
    refused("pre_tokenizer: expected an object, got list", pre_tokenizer=[_metaspace()])
    refused("normalizer 'Replace': pattern must be a string, got 5",
            normalizer={"type": "Replace", "pattern": {"String": 5}, "content": "▁"})
    refused("normalizer 'Replace': pattern must be a string, got 5",
            normalizer={"type": "Replace", "pattern": {"Regex": 5}, "content": "▁"})
    refused("normalizer 'Replace': pattern must be a string, got None",
            normalizer={"type": "Replace", "content": "▁"})
    refused("normalizer 'Replace': content must be a string, got None",
            normalizer={"type": "Replace", "pattern": {"String": " "}})
    refused("normalizer 'Prepend': prepend must be a string, got 3", normalizer={"type": "Prepend", "prepend": 3})
    long = "x" * 300
    refused(f"normalizer 'Precompiled': precompiled_charsmap must be a string, got {[long]!r}"[:160],
            normalizer={"type": "Precompiled", "precompiled_charsmap": [long]})
    refused("normalizer 'Strip' is not supported", normalizer={"type": "Strip", "strip_left": True})
    refused("normalizer None is not supported", normalizer={"normalizers": []})
    refused("pre-tokenizer ['Whitespace'] is not supported with a Metaspace model",
            pre_tokenizer={"type": "Whitespace"})
    refused("pre-tokenizer ['WhitespaceSplit', 'Metaspace', 'Metaspace'] is not supported with a Metaspace model",
            pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, _metaspace(),
                                                                 _metaspace()]})
    refused("pre-tokenizer ['Metaspace', 'WhitespaceSplit'] is not supported with a Metaspace model",
            pre_tokenizer={"type": "Sequence", "pretokenizers": [_metaspace(), {"type": "WhitespaceSplit"}]})
    refused("pre-tokenizer ['Metaspace', 'Metaspace'] is not supported with a Metaspace model",
            pre_tokenizer={"type": "Sequence", "pretokenizers": [_metaspace(), _metaspace()]})
    refused("Metaspace prepend_scheme 'sometimes' is not supported", pre_tokenizer=_metaspace("sometimes"))
    refused(f"pre_tokenizer: Metaspace replacement must be one character, got {'x' * 200!r}"[:160],
            pre_tokenizer=_metaspace(replacement="x" * 200))
    refused("pre_tokenizer: Metaspace replacement must be one character, got '__'",
            pre_tokenizer=_metaspace(replacement="__"))
    refused("pre_tokenizer: Metaspace replacement must be one character, got ''",
            pre_tokenizer=_metaspace(replacement=""))
    refused("pre_tokenizer: Metaspace replacement must be one character, got 5",
            pre_tokenizer=_metaspace(replacement=5))
    refused("BPE dropout in tokenizer.json is not supported (use tokenlab's bpe-dropout method)", model_dropout=0.1)
    refused("BPE with subword prefix/suffix is not supported", model_continuing_subword_prefix="##")
    refused("BPE with subword prefix/suffix is not supported", model_end_of_word_suffix="</w>")
    for merges in (["▁ a b"], [["▁"]], [["▁", 1]], [("▁", "a", "b")]):
        refused("model.merges: expected 'left right' or [left, right] entries", model_merges=merges)
    refused("f.json: added_tokens: expected a list, got dict {'a': 1}", name="f.json", added_tokens={"a": 1})
    refused("f.json: added_tokens[1]: expected an object, got str 'x'", name="f.json",
            added_tokens=[_added("<unk>", 0, True), "x"])
    refused("f.json: added_tokens: '<s>' is listed twice", name="f.json",
            added_tokens=[_added("<s>", 1, True), _added("<s>", 1, True)])
    refused("f.json: model.vocab: expected an object {token: id}, got list []", name="f.json", model_vocab=[])
    refused("added_tokens: special '<z>' has the id 5 of the token '<0x02>'", added_tokens=[_added("<z>", 5, True)])
    d = _meta_json()
    n = len(d["model"]["vocab"])
    refused(f"f.json: model.vocab['a']: {4 * (n + 3) + (1 << 20)} is too large (at most "
            f"{4 * (n + 3) + (1 << 20) - 1} for this file)", name="f.json",
            model_vocab={**d["model"]["vocab"], "a": 4 * (n + 3) + (1 << 20)})
    refused("f.json: added_tokens: special '<z>' has the id 5 of the token '<0x02>'", name="f.json",
            added_tokens=[_added("<z>", 5, True)])
    big = 4 * (n + 4) + (1 << 20)  # id_limit of the vocab and the four added tokens
    refused(f"added_tokens['<z>']: {big} is too large (at most {big - 1} for this file)",
            added_tokens=[*d["added_tokens"], _added("<z>", big, True)])

    unigram = {"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["▁", -1.0], ["a", -2.0]], "unk_id": 0},
               "pre_tokenizer": _metaspace()}
    for bad in (True, "0", -1, 3, 1.0):
        with _raises(FormatError, f"model.unk_id: {bad!r} is not the index of a piece"):
            from_hf_dict({**unigram, "model": {**unigram["model"], "unk_id": bad}})
    assert from_hf_dict({**unigram, "model": {**unigram["model"], "unk_id": 2}}).unk_id == 2
    tok = from_hf_dict(unigram)
    tok.token_to_id["b"] = 4  # a gap at 3
    with _raises(FormatError, "HF Unigram needs piece ids 0..n-1 without gaps"):
        to_hf_dict(tok)


# ---------------------------------------------------------------------------------------------- io/wordpiece_vocab.py
def test_vocab_txt_is_read_as_utf8_under_any_locale(tmp_path):
    """vocab.txt is UTF-8 whatever the locale says (a process under LC_CTYPE=C reads the same ids), with the line
    endings transformers' ``load_vocab`` (BERT's reference reader) takes: \\r\\n, \\n and a lone \\r."""
    import locale

    from transformers.models.bert.tokenization_bert import load_vocab

    from tokenlab.io.wordpiece_vocab import read_vocab_txt

    path = tmp_path / "vocab.txt"
    path.write_bytes("[UNK]\r\nnaïve\n##ß\rcafé\n中\n".encode())
    want = dict(load_vocab(str(path)))
    assert len(want) == 5
    old = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")
        got = read_vocab_txt(path)
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
    assert got == want


def test_compiled_tokenizers_run_on_the_kernel_of_their_tables(compiled_cache, monkeypatch):
    """A cold load builds the kernel's tables once (the file is written from them, and the tokenizer keeps that
    kernel); a hit builds the kernel from the file's buffers and never calls ``native_tables``."""
    from tokenlab.encode import native
    from tokenlab.io import compiled_vocab as cv
    from tokenlab.io.tiktoken_file import merges_from_ranks
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer

    calls: list = []
    real = native.native_tables
    monkeypatch.setattr(native, "native_tables", lambda *a, **k: calls.append(1) or real(*a, **k))
    ranks = _tekken_ranks()
    pre = PreTokenizer("cl100k")

    def build():
        return Tokenizer(vocab=dict(ranks), merges=merges_from_ranks(ranks), pretokenizer=pre, ignore_merges=True,
                         any_split=True)

    want = build()._encode_ordinary_python("xuvw abcd 12")
    for n in range(2):  # cold, then hot
        tok = cv.compiled_tokenizer("h" * 64, pre, {}, "", build)
        assert isinstance(tok.__dict__.get("_fast"), native.NativeBPE), n
        assert tok.encode_ordinary("xuvw abcd 12") == want
        assert calls == [1], n


def test_builder_stamp_follows_the_table_builder_and_the_kernel(monkeypatch, tmp_path):
    """The stamp changes when the table builder's source (compiled_vocab.py, encode/native.py) or the kernel
    binary's size or mtime changes; an unreadable source is named instead, and no kernel is no error."""
    import builtins
    import io
    import os

    import tokenlab.kernels as kernels
    from tokenlab.io import compiled_vocab as cv

    base = cv._builder_stamp()
    assert base == cv._builder_stamp() and re.fullmatch("[0-9a-f]{64}", base)
    real_open = builtins.open
    here = os.path.dirname(os.path.dirname(os.path.abspath(cv.__file__)))
    sources = [os.path.abspath(cv.__file__), os.path.join(here, "encode", "native.py")]

    def opened(changed, fail=False):
        def fake(path, *a, **k):
            if os.path.abspath(str(path)) == changed:
                if fail:
                    raise PermissionError(path)
                with real_open(path, *a, **k) as f:
                    return io.BytesIO(f.read() + b"\n# changed\n")
            return real_open(path, *a, **k)
        return fake

    stamps = {base}
    for source in sources:
        for fail in (False, True):
            with monkeypatch.context() as mp:
                mp.setattr(builtins, "open", opened(source, fail))
                stamps.add(cv._builder_stamp())
    assert len(stamps) == 5
    fake_kernel = tmp_path / "bpe.so"
    fake_kernel.write_bytes(b"k" * 10)
    os.utime(fake_kernel, ns=(10**18, 10**18))
    with monkeypatch.context() as mp:
        mp.setattr(kernels.bpe, "__file__", str(fake_kernel))
        first = cv._builder_stamp()
        os.utime(fake_kernel, ns=(10**18, 10**18 + 1))
        later = cv._builder_stamp()
        fake_kernel.write_bytes(b"k" * 11)
        os.utime(fake_kernel, ns=(10**18, 10**18 + 1))
        bigger = cv._builder_stamp()
    assert len({first, later, bigger} | stamps) == 8
    with monkeypatch.context() as mp:
        mp.setattr(kernels, "bpe", None)
        assert re.fullmatch("[0-9a-f]{64}", cv._builder_stamp())


# ---------------------------------------------------------------------------------------------- io/hf_dir.py
HF_ROLES = ["<s>", "</s>", "<pad>", "<unk>"]


def _roles_tokenizer():
    from reliability_util import small_tokenizer

    base = small_tokenizer()
    n = len(base.vocab)
    return small_tokenizer(specials={t: n + k for k, t in enumerate(HF_ROLES)})


def _auto_tokenizer(directory, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return transformers.AutoTokenizer.from_pretrained(str(directory))


@pytest.mark.parametrize("add", [(True, True), (True, False), (False, True)])
def test_hf_dir_loads_in_transformers_with_roles_and_template(tmp_path, monkeypatch, add):
    """transformers' AutoTokenizer reads the directory: the four roles and their ids, bos/eos added to single texts
    and pairs (type ids 0 then 1), the length limit, the chat template, no clean-up of decoded spaces; the
    config's added tokens are tokenizer.json's."""
    from tokenlab.io.hf_dir import write_hf_dir

    tok = _roles_tokenizer()
    add_bos, add_eos = add
    template = "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}"
    out = tmp_path / "dir"
    written = write_hf_dir(tok, out, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", chat_template=template,
                           add_bos=add_bos, add_eos=add_eos, model_max_length=64)
    assert written == [out / "tokenizer.json", out / "tokenizer_config.json", out / "special_tokens_map.json"]
    hf = _auto_tokenizer(out, monkeypatch)
    ids = {t: tok.special_tokens[t] for t in HF_ROLES}
    assert (hf.bos_token, hf.eos_token, hf.pad_token, hf.unk_token) == tuple(HF_ROLES)
    assert (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id, hf.unk_token_id) == tuple(ids.values())
    assert hf.model_max_length == 64
    # the reference: transformers' Llama tokenizer makes its own post-processor from add_bos_token / add_eos_token
    from transformers import LlamaTokenizerFast

    ref = LlamaTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), bos_token="<s>", eos_token="</s>",
                             unk_token="<unk>", pad_token="<pad>", add_bos_token=add_bos, add_eos_token=add_eos)
    head, tail = [ids["<s>"]] * add_bos, [ids["</s>"]] * add_eos
    for a, b in [("hello the world", "hell o"), ("in , the", " , world")]:
        one = hf(a)
        assert one["input_ids"] == [*head, *tok.encode(a), *tail] == ref(a)["input_ids"]
        pair = hf(a, b, return_token_type_ids=True)
        first, second = [*head, *tok.encode(a), *tail], [*head, *tok.encode(b), *tail]
        assert pair["input_ids"] == first + second
        assert pair["token_type_ids"] == [0] * len(first) + [1] * len(second)
        assert pair == ref(a, b, return_token_type_ids=True)
        assert hf.decode(tok.encode(a)) == a  # no clean-up: " ," stays
    assert hf.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "<s>hi</s>"
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    tj = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert config["added_tokens_decoder"] == {str(a["id"]): {k: a[k] for k in ("content", "lstrip", "normalized",
                                                                               "rstrip", "single_word", "special")}
                                              for a in tj["added_tokens"]}
    assert {v["content"] for v in config["added_tokens_decoder"].values()} == set(HF_ROLES)
    import tokenizers

    rewritten = json.loads(tokenizers.Tokenizer.from_file(str(out / "tokenizer.json")).to_str())
    assert rewritten["post_processor"] == tj["post_processor"]  # spelled as HF writes it
    assert (config.get("add_bos_token", False), config.get("add_eos_token", False)) == add
    assert json.loads((out / "special_tokens_map.json").read_text(encoding="utf-8")) == {
        f"{role}_token": t for role, t in zip(("bos", "eos", "pad", "unk"), HF_ROLES)}


def test_hf_dir_without_options_is_the_plain_tokenizer(tmp_path, monkeypatch):
    """No roles: no post-processor, transformers' own default length limit, nothing named; a Metaspace model writes
    its own tokenizer.json."""
    from transformers.tokenization_utils_base import VERY_LARGE_INTEGER

    from tokenlab.io.hf_dir import hf_dir_files, write_hf_dir
    from tokenlab.io.hf_json import to_hf_dict
    from tokenlab.io.hf_metaspace import from_hf_dict

    tok = _roles_tokenizer()
    out = tmp_path / "plain"
    out.mkdir()  # an existing directory is fine
    write_hf_dir(tok, out)
    hf = _auto_tokenizer(out, monkeypatch)
    assert hf("hello the world")["input_ids"] == tok.encode("hello the world")
    assert (hf.bos_token, hf.pad_token, hf.model_max_length) == (None, None, VERY_LARGE_INTEGER)
    files = hf_dir_files(tok)
    assert files["tokenizer.json"] == to_hf_dict(tok) and files["special_tokens_map.json"] == {}
    assert files["tokenizer_config.json"]["clean_up_tokenization_spaces"] is False
    assert files["tokenizer_config.json"]["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert not {"add_bos_token", "add_eos_token", "chat_template"} & set(files["tokenizer_config.json"])
    meta = from_hf_dict(_meta_json())
    assert hf_dir_files(meta)["tokenizer.json"] == meta.to_hf_dict()
    assert hf_dir_files(tok, chat_template="")["tokenizer_config.json"]["chat_template"] == ""


def test_hf_dir_refusals_write_nothing(tmp_path):
    from tokenlab.io.hf_dir import hf_dir_files, write_hf_dir

    from reliability_util import small_tokenizer

    tok = _roles_tokenizer()
    out = tmp_path / "dir"
    with _raises(FormatError, "--pad '<missing>' is not a special token of this tokenizer (its special tokens: "
                 "</s>, <pad>, <s>, <unk>); train or convert it with that special token first"):
        write_hf_dir(tok, out, bos="<s>", pad="<missing>")
    many = small_tokenizer(specials={f"<t{k}>": 300 + k for k in range(10)})
    with _raises(FormatError, "--unk 'x' is not a special token of this tokenizer (its special tokens: <t0>, <t1>, "
                 "<t2>, <t3>, <t4>, <t5>, <t6>, <t7>); train or convert it with that special token first"):
        hf_dir_files(many, unk="x")
    with _raises(FormatError, "--eos 'x' is not a special token of this tokenizer (its special tokens: none); "
                 "train or convert it with that special token first"):
        hf_dir_files(small_tokenizer(specials={}), eos="x")
    with _raises(FormatError, "adding a bos token to every text needs --bos"):
        write_hf_dir(tok, out, eos="</s>", add_bos=True)
    with _raises(FormatError, "adding a eos token to every text needs --eos"):
        write_hf_dir(tok, out, bos="<s>", add_eos=True)
    with _raises(FormatError, "list cannot be written as an HF tokenizer directory"):
        write_hf_dir([], out)
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with _raises(FormatError, f"{blocker} exists and is not a directory"):
        write_hf_dir(tok, blocker)
    assert blocker.read_text() == "x"


# ---------------------------------------------------------------------------------------------- io/atomic.py
def test_atomic_write_new_files_directories_and_errors(tmp_path):
    """A new file gets the mode any new file gets (0o666 less the umask, not mkstemp's 0o600) in a directory made on
    the way; a directory or a FIFO put at the target while writing is still refused at the rename; the texts name
    the path."""
    import os
    import stat

    from tokenlab.errors import InvalidInputError
    from tokenlab.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text, resolve_target

    mask = os.umask(0o027)
    try:
        deep = tmp_path / "a" / "b" / "out.txt"
        atomic_write_text(deep, "naïve ✓")
        assert deep.read_bytes() == "naïve ✓".encode() and stat.S_IMODE(os.stat(deep).st_mode) == 0o640
        os.umask(0o002)
        atomic_write_text(tmp_path / "open.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "open.txt").st_mode) == 0o664
        os.remove(tmp_path / "open.txt")
    finally:
        os.umask(mask)
    assert resolve_target(tmp_path / "none.txt") == (tmp_path / "none.txt", None)
    path, st = resolve_target(deep)
    assert path == deep and st.st_size == len("naïve ✓".encode())
    atomic_write_bytes(deep, b"\x00\xff")
    assert deep.read_bytes() == b"\x00\xff"
    target = tmp_path / "racy.txt"
    with pytest.raises(InvalidInputError, match=f"^{re.escape(str(target))}: is a directory; give a file name$"):
        with atomic_path(target) as tmp:
            tmp.write_text("x")
            target.mkdir()  # appears while writing
    assert sorted(os.listdir(tmp_path)) == ["a", "racy.txt"] and not os.listdir(target)  # no temp file left
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInputError, match=f"^{re.escape(str(fifo))}: is a FIFO; outputs are written to "
                       "regular files only$"):
        atomic_write_text(fifo, "x")
    import socket

    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(sock_path))
        with pytest.raises(InvalidInputError, match=f"^{re.escape(str(sock_path))}: is not a regular file; outputs "
                           "are written to regular files only$"):
            atomic_write_text(sock_path, "x")
    finally:
        sock.close()
        sock_path.unlink()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "a" / "b")
    with pytest.raises(InvalidInputError, match="is a directory"):
        atomic_write_text(link, "x")
    if os.getuid() == 0:  # a device node of our own (root may make one): refused, never replaced
        node = tmp_path / "null"
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with pytest.raises(InvalidInputError, match=f"^{re.escape(str(node))}: is a device; outputs are written "
                           "to regular files only$"):
            atomic_write_text(node, "x")
        assert stat.S_ISCHR(os.stat(node).st_mode)


def test_atomic_sigterm_unwinds_only_where_it_may(tmp_path):
    """SIGTERM inside the block raises (exit status 143), removes the temp file and puts the old handler back; a
    handler someone installed is left alone, and so is SIGTERM outside the main thread."""
    import os
    import signal
    import threading

    from tokenlab.io.atomic import atomic_path

    path = tmp_path / "out.txt"
    path.write_text("old")
    before = signal.getsignal(signal.SIGTERM)
    assert before in (signal.SIG_DFL, None) or callable(before)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signal, "getsignal", lambda s: signal.SIG_DFL)  # as in a CLI process
        with pytest.raises(SystemExit) as info:
            with atomic_path(path) as tmp:
                tmp.write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
        assert info.value.code == 128 + signal.SIGTERM
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    assert signal.getsignal(signal.SIGTERM) == before

    seen = []
    mine = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with atomic_path(path) as tmp:
            tmp.write_text("new")
            os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM] and path.read_text() == "new"
    finally:
        signal.signal(signal.SIGTERM, mine)

    errors = []

    def write():
        try:
            with atomic_path(tmp_path / "thread.txt") as tmp:
                tmp.write_text("t")
        except BaseException as exc:  # signal.signal outside the main thread raises ValueError
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert not errors and (tmp_path / "thread.txt").read_text() == "t"


def test_atomic_stale_temps_and_liveness(tmp_path, monkeypatch):
    import os

    from tokenlab.io import atomic

    # os.kill is always a stand-in here: a mutant must never signal a real process (signal 1 would hang up the
    # test runner); the stand-in records what would be sent
    sent = []
    monkeypatch.setattr(atomic.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    assert atomic._alive(os.getpid()) and sent == []  # this process: no signal at all
    assert atomic._alive(4321) and sent == [(4321, 0)]  # signal 0 only asks whether the process exists

    def raising(exc):
        def kill(pid, sig):
            raise exc
        return kill

    for exc, alive in ((PermissionError(), True), (OverflowError(), True), (ValueError(), True),
                       (ProcessLookupError(), False)):
        monkeypatch.setattr(atomic.os, "kill", raising(exc))
        assert atomic._alive(12345) is alive, exc
    dead = {12345, 99}

    def kill(pid, sig):  # only the pids in `dead` are gone
        if pid in dead:
            raise ProcessLookupError(pid)

    monkeypatch.setattr(atomic.os, "kill", kill)
    for name in (".a.txt.tokenlab-12345-x.tmp", ".b.tokenlab-99-yz.tmp", "c.tokenlab-1-x.tmp", ".d.tokenlab-x-1.tmp",
                 ".e.tokenlab-7-a.b.tmp", ".g.tokenlab-4242-q.tmp"):
        (tmp_path / name).write_text("x")
    assert atomic.remove_stale_temps(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == [".d.tokenlab-x-1.tmp", ".e.tokenlab-7-a.b.tmp", ".g.tokenlab-4242-q.tmp",
                                            "c.tokenlab-1-x.tmp"]
    assert atomic.remove_stale_temps(tmp_path / "missing") == 0
    dead.add(5)
    (tmp_path / ".f.tokenlab-5-q.tmp").mkdir()  # cannot be unlinked: skipped, not counted
    assert atomic.remove_stale_temps(tmp_path) == 0


def test_atomic_keeps_owner_and_warns_about_hard_links(tmp_path, capfd):
    """An existing file keeps its owner where the process may set it (root), and a file with other names is
    replaced with a one-line warning that counts them."""
    import os

    from tokenlab.io.atomic import atomic_write_text

    path = tmp_path / "out.txt"
    path.write_text("old")
    os.link(path, tmp_path / "b.txt")
    os.link(path, tmp_path / "c.txt")
    atomic_write_text(path, "new")
    assert capfd.readouterr().err == f"warning: {path} had 2 other hard link(s); they keep the old content\n"
    atomic_write_text(path, "newer")  # now the only name: no warning
    assert capfd.readouterr().err == "" and path.read_text() == "newer"
    if os.getuid() != 0:  # setting another owner needs root; the rest above is checked everywhere
        return
    os.chown(path, 4321, 8765)
    atomic_write_text(path, "owned")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (4321, 8765) and path.read_text() == "owned"
    # a set-group-ID directory of another group gives new files its group: a file of this process's own group keeps
    # that group (it was given the directory's)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 0, 4444)
    os.chmod(shared, 0o2775)
    mine = shared / "mine.txt"
    mine.write_text("old")
    os.chown(mine, os.getuid(), os.getgid())
    atomic_write_text(mine, "new")
    st = os.stat(mine)
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()) and mine.read_text() == "new"


def test_metaspace_precompiled_step_without_a_map_normalizes_nothing():
    """A Precompiled step with no character map (null or empty) is read as no step: the ids are HF's for the same
    file without it (HF itself refuses such a step)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_metaspace import from_hf_dict

    plain = _meta_json()
    hf = tokenizers.Tokenizer.from_str(json.dumps(plain))
    for charsmap in (None, ""):
        steps = [{"type": "Precompiled", "precompiled_charsmap": charsmap}, *plain["normalizer"]["normalizers"]]
        ours = from_hf_dict(_meta_json(normalizer={"type": "Sequence", "normalizers": steps}))
        assert ours.normalizers == from_hf_dict(plain).normalizers
        _assert_same_as_hf(ours, hf, _meta_texts(3, 40))


def test_metaspace_fields_hf_fills_or_used_to_write_read_as_hf_reads_them():
    """Spellings HF no longer reads or always fills in, each read as the file HF writes today: a legacy
    ``add_prefix_space`` (false is prepend_scheme "never"), a Metaspace without ``replacement`` ("▁"), a Strip
    decoder without ``start`` (0) or ``content`` (" "), and added tokens without their flags (special, not
    normalized, as the reader's docstring says)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.hf_metaspace import from_hf_dict

    def legacy(flag):
        return {"type": "Metaspace", "replacement": "▁", "add_prefix_space": flag}

    strip = {"type": "Strip", "content": " ", "start": 1, "stop": 0}
    replace = {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}
    specials = [_added("<unk>", 0, True), _added("<s>", 1, True), _added("</s>", 2, True)]
    bare = [{k: v for k, v in a.items() if k not in ("special", "normalized")} for a in specials]
    pairs = [
        (dict(normalizer=None, pre_tokenizer=legacy(False), decoder=legacy(False)),
         dict(normalizer=None, pre_tokenizer=_metaspace("never"), decoder=_metaspace("never"))),
        (dict(normalizer=None, pre_tokenizer=legacy(True), decoder=legacy(True)),
         dict(normalizer=None, pre_tokenizer=_metaspace(), decoder=_metaspace())),
        (dict(normalizer=None, pre_tokenizer={"type": "Metaspace", "prepend_scheme": "first"}),
         dict(normalizer=None, pre_tokenizer=_metaspace("first"))),
        (dict(decoder={"type": "Sequence", "decoders": [replace, {"type": "ByteFallback"}, {"type": "Fuse"},
                                                       {k: v for k, v in strip.items() if k != "start"}]}),
         dict(decoder={"type": "Sequence", "decoders": [replace, {"type": "ByteFallback"}, {"type": "Fuse"},
                                                       {**strip, "start": 0}]})),
        (dict(decoder={"type": "Sequence", "decoders": [replace, {"type": "ByteFallback"}, {"type": "Fuse"},
                                                       {k: v for k, v in strip.items() if k != "content"}]}),
         dict(decoder={"type": "Sequence", "decoders": [replace, {"type": "ByteFallback"}, {"type": "Fuse"},
                                                       strip]})),
        (dict(added_tokens=bare), dict(added_tokens=specials)),
    ]
    n = len(_meta_json()["model"]["vocab"])
    lower = dict(normalizer={"type": "Lowercase"}, pre_tokenizer=_metaspace(), decoder=_metaspace())
    no_flag = {k: v for k, v in _added("ca", n, False).items() if k != "normalized"}
    pairs.append(({**lower, "added_tokens": [*specials, no_flag]},
                  {**lower, "added_tokens": [*specials, _added("ca", n, False, normalized=False)]}))
    for ours_edits, hf_edits in pairs:
        ours = from_hf_dict(_meta_json(**ours_edits))
        hf = tokenizers.Tokenizer.from_str(json.dumps(_meta_json(**hf_edits)))
        _assert_same_as_hf(ours, hf, _meta_texts(4, 60))
        added = hf.get_added_tokens_decoder()
        assert ours.special_tokens == {a.content: i for i, a in added.items() if a.special}
        assert ours.added_tokens == {a.content: (i, a.normalized) for i, a in added.items() if not a.special}


def test_hf_dir_adds_one_role_without_naming_the_other(tmp_path, monkeypatch):
    """add_eos with only --eos (no bos named), add_bos with only --bos; a tokenizer.json without added tokens has no
    special tokens to name."""
    from tokenlab.io.hf_dir import hf_dir_files, write_hf_dir

    tok = _roles_tokenizer()
    text = "hello the world"
    for role, token, flag in (("eos", "</s>", "add_eos"), ("bos", "<s>", "add_bos")):
        out = tmp_path / role
        write_hf_dir(tok, out, **{role: token, flag: True})
        hf = _auto_tokenizer(out, monkeypatch)
        ids = tok.encode(text)
        want = [*ids, tok.special_tokens[token]] if role == "eos" else [tok.special_tokens[token], *ids]
        assert hf(text)["input_ids"] == want
        config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert config[f"{role}_token"] == token and config[f"{flag}_token"] is True

    class Bare:  # a model whose tokenizer.json lists no added tokens at all
        def to_hf_dict(self):
            return {"model": {"type": "BPE", "vocab": {}, "merges": []}}

    files = hf_dir_files(Bare())
    assert files["tokenizer_config.json"]["added_tokens_decoder"] == {}
    with _raises(FormatError, "--pad '<pad>' is not a special token of this tokenizer (its special tokens: none); "
                 "train or convert it with that special token first"):
        hf_dir_files(Bare(), pad="<pad>")
