"""Tests written for mutants of the readers and writers (io/tekken.py, io/tokenlab_json.py, io/wordpiece_vocab.py,
io/compiled_vocab.py, io/hf_metaspace.py) that the rest of the suite let survive (see docs/testing.md, "Mutation
testing"). Each compares with the reference that reads the same file (mistral-common, HF ``tokenizers``,
transformers) on small hand-made files, or pins an error text to the rule the reader states."""

from __future__ import annotations

import base64
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
