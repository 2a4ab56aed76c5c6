"""Tests written for mutants of models/metaspace_bpe.py (the Llama / T5 style models HF tokenizer.json files
build) that the rest of the suite let survive (see docs/testing.md, "Mutation testing"). Each compares with HF
``tokenizers`` on small hand-made files, or with a definition written out here."""

from __future__ import annotations

import json

import pytest
from test_mutation_kills_readers import _meta_cases, _meta_json, _meta_texts, _metaspace

from tokenlab.errors import InvalidInputError

tokenizers = pytest.importorskip("tokenizers")


def _hf(d: dict):
    return tokenizers.Tokenizer.from_str(json.dumps(d))


def _same_as_hf(ours, hf, texts, *, ordinary: bool = False):
    for text in texts:
        ids = hf.encode(text, add_special_tokens=False).ids
        got = ours.encode_ordinary(text) if ordinary else ours.encode(text, allowed_special="all")
        assert list(got) == ids, text
        assert ours.decode(ids) == hf.decode(ids, skip_special_tokens=False), text


def _unigram_hf(byte_fallback: bool, unk_id=0):
    from tokenizers import decoders, models, pre_tokenizers

    pieces = [("<unk>", 0.0), ("<s>", 0.0), ("▁", -2.0), ("a", -3.0), ("b", -3.5), ("h", -4.0), ("e", -4.0),
              ("l", -4.0), ("o", -4.0), ("▁a", -2.5), ("▁hello", -3.0), ("hell", -3.2), ("he", -3.1),
              ("ll", -3.3), ("▁he", -3.4), ("lo", -3.3), ("c", -5.0)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", -10.0) for b in range(256)]
    hf = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=unk_id, byte_fallback=byte_fallback))
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()]) if byte_fallback else (
        decoders.Metaspace())
    hf.add_tokens([tokenizers.AddedToken("<x>", normalized=False)])
    return hf


@pytest.mark.parametrize("case", ["llama", "added tokens", "no fuse, no byte fallback", "ignore merges",
                                  "no byte decoder", "replacement _", "metaspace first True", "t5"])
def test_saved_models_load_back_with_every_field(case, tmp_path):
    """The tokenlab JSON format keeps every field: the file loads back (by its format name, as every command
    loads it) into a model with HF's ids and decodes, and the same fields."""
    from tokenlab.io import load_tokenizer
    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE, load_metaspace_bpe

    d = _meta_cases()[case]
    hf, ours = _hf(d), from_hf_dict(d, name="m")
    path = tmp_path / "m.json"
    ours.save(path)
    for back in (load_tokenizer(path), load_metaspace_bpe(path), MetaspaceBPE.from_dict(json.loads(path.read_text()))):
        assert type(back) is MetaspaceBPE and back.name == "m"
        assert back.to_dict() == ours.to_dict()
        _same_as_hf(back, hf, _meta_texts(3, 80))
        for field in ("byte_fallback", "fuse_unk", "ignore_merges", "byte_decoder", "added_tokens", "metaspace",
                      "strip_decoded", "special_tokens", "unk_token"):
            assert getattr(back, field) == getattr(ours, field), field


@pytest.mark.parametrize("byte_fallback", [False, True])
def test_saved_unigram_models_load_back(byte_fallback, tmp_path):
    from tokenlab.io import load_tokenizer
    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceUnigram, load_metaspace_unigram

    hf = _unigram_hf(byte_fallback)
    ours = from_hf_dict(json.loads(hf.to_str()), name="u")
    path = tmp_path / "u.json"
    ours.save(path)
    for back in (load_tokenizer(path), load_metaspace_unigram(path)):
        assert type(back) is MetaspaceUnigram and back.name == "u"
        assert back.to_dict() == ours.to_dict() and back.scores == ours.scores
        _same_as_hf(back, hf, _meta_texts(4, 80) + ["hello <x> abc", "日本 hello"])


def test_module_functions_read_and_write_hf_files():
    """metaspace_bpe's own from_hf_dict / to_hf_dict / is_metaspace_bpe are the reader's."""
    from tokenlab.io import hf_metaspace
    from tokenlab.io.hf_json import from_hf_dict as read_any
    from tokenlab.models import metaspace_bpe

    d = _meta_cases()["added tokens"]
    assert metaspace_bpe.is_metaspace_bpe(d) and not metaspace_bpe.is_metaspace_bpe({"model": {"type": "WordPiece"}})
    ours = metaspace_bpe.from_hf_dict(d, name="n")
    assert ours.name == "n" and metaspace_bpe.from_hf_dict(d).name == ""
    _same_as_hf(ours, _hf(d), _meta_texts(5, 60))
    exported = metaspace_bpe.to_hf_dict(ours)
    assert exported == hf_metaspace.to_hf_dict(ours) == ours.to_hf_dict()
    _same_as_hf(ours, _hf(exported), _meta_texts(6, 60))
    # read through hf_json, the model keeps the file it came from
    assert read_any(d).to_hf_dict() is d


@pytest.mark.parametrize("case", ["metaspace first True", "metaspace first False", "metaspace always True",
                                  "llama", "added tokens"])
def test_encode_ordinary_is_the_start_of_the_input(case):
    """encode_ordinary encodes text at the very start of the input: the "first" scheme prepends its "▁"."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()[case]
    d["added_tokens"] = [a for a in d["added_tokens"] if a["special"]]
    texts = ["hello", "a b", "hello hello", "ab", "h"]
    _same_as_hf(from_hf_dict(d), _hf(d), texts, ordinary=True)


def _model_ids(hf, text: str) -> list[int]:
    return [t.id for t in hf.model.tokenize(text)]


@pytest.mark.parametrize("case", ["llama", "replacement _", "ignore merges", "no fuse, no byte fallback"])
def test_encode_token_text_is_the_model_alone(case):
    """A token's own text runs through the BPE model alone (HF's ``model.tokenize``), spaces as the
    replacement character."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()[case]
    hf, ours = _hf(d), from_hf_dict(d)
    replacement = (ours.metaspace or {}).get("replacement", "▁")
    texts = [t for t in d["model"]["vocab"] if not t.startswith("<")] + ["hello", " hello", "a b", "x y", "é🤖"]
    for text in texts:
        assert ours.encode_token_text(text) == _model_ids(hf, text.replace(" ", replacement)), text


def _last_word_bytes(spelled: str) -> int:
    """Bytes before the last word: a word is a run of spaces and the characters up to the next space."""
    starts = [k for k, ch in enumerate(spelled) if ch == " " and (k == 0 or spelled[k - 1] != " ")]
    if not starts and spelled:
        return 0
    return len(spelled[:starts[-1]].encode()) if starts else 0


def test_healing_start_is_where_the_last_word_starts():
    """Bytes before the prompt's last word, counted in the text its tokens spell (the prepended "▁" a space);
    None where words are not encoded apart (a piece spans a word start, normalizers that move text, added
    tokens, a special token in the prompt)."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    from reliability_util import metaspace_json

    prompts = ["hello", "hello a", "a  b", "ab hell", "", "é 🤖 x", " a", "a ", "hello\nab"]
    plain = from_hf_dict(metaspace_json())  # no piece spans a word start
    metaspace = from_hf_dict(_meta_json(normalizer=None, pre_tokenizer=_metaspace("always", True),
                                        decoder={"type": "Metaspace", "replacement": "▁"}))  # "o▁" is a piece
    first = from_hf_dict(_meta_json(normalizer=None, pre_tokenizer=_metaspace("first", True, "_"),
                                    decoder={"type": "Metaspace", "replacement": "_"}))
    for prompt in prompts:
        with_space = " " + prompt if prompt else prompt
        assert plain.healing_start(prompt) == _last_word_bytes(with_space), prompt
        assert metaspace.healing_start(prompt) == _last_word_bytes(
            prompt if prompt.startswith(" ") else with_space), prompt
        assert first.healing_start(prompt) == _last_word_bytes(
            prompt.replace("_", " ") if prompt.startswith(" ") else with_space.replace("_", " ")), prompt
        # a token boundary of the prompt's own ids (counted in the bytes the tokens spell)
        for tok in (plain, metaspace):
            ends, at = {0}, 0
            for i in tok.encode(prompt):
                at += len(tok.id_to_bytes[i])
                ends.add(at)
            assert tok.healing_start(prompt) in ends, prompt
    cases = _meta_cases()
    unsure = [from_hf_dict(cases["llama"]),  # "o▁" spans a word start and nothing splits the words
              from_hf_dict(cases["added tokens"]),
              from_hf_dict(cases["lowercase nfkc"]),
              from_hf_dict(cases["replace a dot"]),  # a two-character Replace
              from_hf_dict(cases["metaspace always False"])]  # no split and "o▁"
    for tok in unsure:
        assert tok.healing_start("hello a") is None
    assert plain.healing_start("hello <s> a") is None and plain.healing_start("hello a") == 6
    replace = metaspace_json()
    replace["normalizer"]["normalizers"].insert(0, {"type": "Replace", "pattern": {"String": "x"}, "content": "a"})
    assert from_hf_dict(replace).healing_start("hello xa") == 6  # a one-character Replace keeps words in place


def test_regex_replacements_are_literal_and_time_limited(monkeypatch):
    """A ReplaceRegex step inserts its content as it is (HF does not expand groups), under the pre-tokenizer's
    time limit: a runaway pattern is an error naming the pattern's first 80 characters."""
    from tokenlab import pretokenize
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_json(normalizer={"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"Regex": "(l+)"}, "content": "\\1$1h"},
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})
    _same_as_hf(from_hf_dict(d), _hf(d), ["hello", "all lll", "l"])
    runaway = "(a|aa)+$" + "|x" * 40
    d = _meta_json(normalizer={"type": "Replace", "pattern": {"Regex": runaway}, "content": "b"})
    ours = from_hf_dict(d)
    calls = []

    def tiny(n):
        calls.append(n)
        return 0.01

    monkeypatch.setattr(pretokenize, "regex_timeout", tiny)
    text = "a" * 60 + "c"
    with pytest.raises(InvalidInputError) as err:
        ours.encode(text)
    assert str(err.value) == (f"normalizer pattern {runaway[:80]!r} timed out (catastrophic backtracking)")
    assert calls == [len(text)]


def test_added_tokens_split_the_text_where_they_occur():
    """Text around added tokens (at the start, the end, back to back, alone) is encoded as HF does."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()["added tokens"]
    texts = ["<x>", "<x><x>", "a<x>", "<x>a", "hel", "helhel", "Ca", "aCa", "a<x>hel b", "<x> hel<x>"]
    _same_as_hf(from_hf_dict(d), _hf(d), texts)


@pytest.mark.parametrize("byte_fallback", [False, True])
def test_unigram_unknowns_and_scores_like_hf(byte_fallback):
    """Unknown characters score the lowest score minus 10 and a run of them is one unknown token; byte fallback
    spells an unknown piece in bytes only when the model has it."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    hf = _unigram_hf(byte_fallback)
    ours = from_hf_dict(json.loads(hf.to_str()))
    texts = ["zz", "hello", "<unk>a", "a<unk>", "zz<unk>zz", "hézzo", "日本 hello", "a z b", "ab", "hellozhello",
             "<unk><unk>", "z"]
    _same_as_hf(ours, hf, texts)


@pytest.mark.parametrize("case", ["metaspace always False", "metaspace always True", "metaspace never True",
                                  "metaspace first False", "llama", "t5"])
def test_no_empty_word_reaches_the_model(case):
    """A vocabulary may hold the empty string, and with ignore_merges a word that is in the vocabulary is one
    token: HF never hands the model an empty word (empty text, a word cut before its first character)."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()[case]
    d["model"]["vocab"][""] = len(d["model"]["vocab"])
    d["model"]["ignore_merges"] = True
    texts = ["", " ", "a", " a", "▁a", "▁", "a b", "a  b ", "\t", "hello▁▁a"]
    _same_as_hf(from_hf_dict(d), _hf(d), texts + _meta_texts(7, 40))


def test_ids_past_the_vocabulary_are_refused():
    """Decoding knows exactly the file's ids: one past the highest is unknown, and an empty vocabulary has none."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_json()
    ours = from_hf_dict(d)
    top = max(d["model"]["vocab"].values())
    assert ours.decode([top]) == _hf(d).decode([top])
    for bad in (top + 1, top + 2, -1):
        with pytest.raises(InvalidInputError, match=rf"unknown token id\(s\): \[{bad}\]"):
            ours.decode([bad])
    d["model"].update(vocab={}, merges=[], unk_token=None, byte_fallback=False)
    d["added_tokens"] = []
    empty, hf = from_hf_dict(d), _hf(d)
    assert empty.encode("ab c") == hf.encode("ab c").ids == [] and empty.decode([]) == hf.decode([]) == ""
    with pytest.raises(InvalidInputError, match=r"unknown token id\(s\): \[0\]"):
        empty.decode([0])


def test_text_that_is_not_a_string_is_refused_with_its_type():
    from tokenlab.io.hf_metaspace import from_hf_dict

    for case in ("llama", "added tokens"):
        ours = from_hf_dict(_meta_cases()[case])
        for bad, kind in ((b"ab", "bytes"), (None, "NoneType"), (3, "int")):
            with pytest.raises(InvalidInputError, match=rf"^text must be str, got {kind}$"):
                ours.encode_ordinary(bad)


@pytest.mark.parametrize("normalized", [True, False])
def test_added_tokens_of_one_kind_only(normalized):
    """Files whose added tokens are all matched in the normalized text, or all in the raw text."""
    from test_mutation_kills_readers import _added

    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE

    n = len(_meta_json()["model"]["vocab"])
    specials = [_added("<unk>", 0, True), _added("<s>", 1, True), _added("</s>", 2, True)]
    d = _meta_json(added_tokens=[*specials, _added("hel", n, False, normalized=normalized),
                                 _added("ab", n + 1, False, normalized=normalized)],
                   normalizer={"type": "Lowercase"}, pre_tokenizer=_metaspace(),
                   decoder={"type": "Sequence", "decoders": [{"type": "ByteFallback"}, _metaspace()]})
    texts = ["hello", "ab", "hel hel", "xabx", "<s>hel", "h el", "a b", "habel", "HEL", "AB"]
    ours = from_hf_dict(d)
    assert type(ours) is MetaspaceBPE and set(ours.added_tokens) == {"hel", "ab"}
    _same_as_hf(ours, _hf(d), texts + _meta_texts(8, 40))


def test_added_tokens_the_normalizer_changes_go_to_the_pipeline():
    """HF matches a normalized added token by its normalized content ("hel" becomes "▁hel" after a Prepend):
    such a file is read onto the pipeline, with HF's ids; the Metaspace reader refuses it."""
    from test_mutation_kills_readers import _added

    from tokenlab.errors import FormatError
    from tokenlab.io.hf_json import from_hf_dict as read_any
    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.pipeline import PipelineTokenizer

    n = len(_meta_json()["model"]["vocab"])
    specials = [_added("<unk>", 0, True), _added("<s>", 1, True), _added("</s>", 2, True)]
    for extra in ([_added("hel", n, False, normalized=True)],
                  [_added("Ab", n, False, normalized=True), _added("<x>", n + 1, False)]):
        for normalizer in (None, {"type": "Lowercase"}):
            d = _meta_json(added_tokens=[*specials, *extra])
            if normalizer:
                d["normalizer"]["normalizers"].insert(0, normalizer)
            with pytest.raises(FormatError, match="is matched after the normalizer as '▁"):
                from_hf_dict(d)
            ours = read_any(d)
            assert isinstance(ours, PipelineTokenizer)
            _same_as_hf(ours, _hf(d), ["hello", "hel hel", "Ab ab", "xabx <x>", "a hel"] + _meta_texts(9, 60))
    hf = _unigram_hf(False)
    hf.normalizer = tokenizers.normalizers.Prepend("▁")
    hf.add_tokens([tokenizers.AddedToken("hel", normalized=True)])
    d = json.loads(hf.to_str())
    with pytest.raises(FormatError, match="is matched after the normalizer"):
        from_hf_dict(d)
    _same_as_hf(read_any(d), hf, ["hello", "a hel", "hel"])


@pytest.mark.parametrize("split", [True, False])
def test_first_scheme_prepends_only_at_the_start_around_added_tokens(split):
    """With the "first" scheme, only text at the very start of the input gets the "▁": not the text after an
    added token matched in the raw text, nor after one matched in the normalized text."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()["added tokens"]
    d["pre_tokenizer"] = _metaspace("first", split)
    d["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, _metaspace("first", split)]}
    texts = ["a", "<x>a", "a<x>a", "hel a", "a hel a", "helhel a", "Ca a", "a Ca a", "<x>hel a", "hel<x>a",
             "Cahel a", "<s>a", "a<s>a", "<x>", "hel"]
    ours = from_hf_dict(d)
    _same_as_hf(ours, _hf(d), texts + _meta_texts(10, 80))
    _same_as_hf(ours, _hf(d), [t for t in texts if "<s>" not in t], ordinary=True)  # no special: ordinary


@pytest.mark.parametrize("pattern", ["^", "x*", "$"])
def test_no_empty_text_around_added_tokens_is_normalized(pattern):
    """HF normalizes only the non-empty text between added tokens: a normalizer whose regex matches the empty
    string would otherwise add text where an added token starts or ends the input, or two touch."""
    from test_mutation_kills_readers import _added

    from tokenlab.io.hf_metaspace import from_hf_dict

    n = len(_meta_json()["model"]["vocab"])
    d = _meta_cases()["added tokens"]
    d["added_tokens"] = [_added("<unk>", 0, True), _added("<s>", 1, True), _added("</s>", 2, True),
                         _added("<x>", n, False), _added("Ca", n + 1, False)]
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Lowercase"}, {"type": "Replace", "pattern": {"Regex": pattern}, "content": "e"}]}
    texts = ["", "a", "<x>", "a<x>", "<x>a", "<x><x>", "Ca", "aCa", "Ca<x>", "<x>Ca b", "<s><x>", "a<x>b<x>"]
    _same_as_hf(from_hf_dict(d), _hf(d), texts)


def _unigram_from_pieces(pieces, unk_id=0, byte_fallback=False, scheme="always"):
    from tokenizers import decoders, models, pre_tokenizers

    hf = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=unk_id, byte_fallback=byte_fallback))
    hf.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme)
    hf.decoder = decoders.Metaspace(prepend_scheme=scheme)
    return hf


@pytest.mark.parametrize("score", [9.5, 9.9, 10.1, 10.5, 10.9, 11.1])
def test_unigram_unknown_score_is_the_lowest_minus_10(score):
    """"ac" as one piece (the lowest score) or "a" and an unknown "c" (score of "a" + the lowest - 10): which
    path wins moves with "a"'s score around 10, as in HF."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    hf = _unigram_from_pieces([("<unk>", 0.0), ("▁", -1.0), ("a", score), ("ac", -3.0), ("b", 1.0)],
                              scheme="never")
    ours = from_hf_dict(json.loads(hf.to_str()))
    _same_as_hf(ours, hf, ["ac", "acac", "bac", "ac b", "acc"])


@pytest.mark.parametrize("scheme", ["never", "always"])
def test_unigram_words_that_start_with_unknown_characters(scheme):
    """A word whose first characters are unknown: the run is one unknown token, as in HF; with byte pieces but
    no byte fallback the unknown characters are still the unknown token."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    pieces = [("<unk>", 0.0), ("▁", -2.0), ("a", -3.0), ("b", -3.5), ("ab", -4.0)]
    bytes_ = [(f"<0x{b:02X}>", -10.0) for b in range(256)]
    for extra, fallback in (([], False), (bytes_, False), (bytes_, True)):
        hf = _unigram_from_pieces(pieces + extra, byte_fallback=fallback, scheme=scheme)
        ours = from_hf_dict(json.loads(hf.to_str()))
        _same_as_hf(ours, hf, ["zz", "zab", "z a", "éz", "zz b", "日本", "a z", "<unk>z"])


def test_an_empty_unigram_file_loads_like_hf():
    """HF writes and reads a Unigram model without pieces; it encodes empty text to nothing."""
    from tokenizers import models

    from tokenlab.io.hf_metaspace import from_hf_dict

    hf = tokenizers.Tokenizer(models.Unigram([], unk_id=None))
    ours = from_hf_dict(json.loads(hf.to_str()))
    assert ours.encode("") == hf.encode("").ids == [] and ours.decode([]) == hf.decode([]) == ""


def test_built_by_hand_with_the_defaults_is_the_plain_hf_file():
    """A model built with only a vocabulary and merges is the plain HF BPE file: no byte fallback (byte tokens
    are text), no fused unknowns, merges not skipped, nothing stripped in decode, no name."""
    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE

    d = _meta_json(byte_fallback=False, fuse_unk=False, ignore_merges=False, normalizer=None, pre_tokenizer=None,
                   decoder={"type": "Sequence", "decoders": [
                       {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "Fuse"}]},
                   added_tokens=[])
    d["model"]["vocab"]["▁ab"] = len(d["model"]["vocab"])
    vocab, merges = d["model"]["vocab"], [tuple(m.split(" ")) for m in d["model"]["merges"]]
    by_hand = MetaspaceBPE(vocab, merges, unk_token="<unk>")
    assert by_hand.to_dict() == from_hf_dict(d).to_dict()
    texts = ["▁ab", "zz▁a", "▁hello▁ab", "▁<0x41>", "日本", "a"]
    _same_as_hf(by_hand, _hf(d), texts)
    assert by_hand.pretokenizer.split("a b\nc") == ["a b\nc"]  # no pre-tokenizer of its own: one piece
    # byte fallback given without a decoder setting: the byte tokens decode to their bytes (HF's ByteFallback)
    d = _meta_json(normalizer=None, pre_tokenizer=None, decoder={"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]},
        added_tokens=[])
    by_hand = MetaspaceBPE(d["model"]["vocab"], [tuple(m.split(" ")) for m in d["model"]["merges"]],
                           unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    assert by_hand.byte_decoder
    _same_as_hf(by_hand, _hf(d), ["日本▁a", "é", "zz"])


def test_bad_models_say_what_is_wrong():
    from tokenlab.errors import FormatError
    from tokenlab.models.metaspace_bpe import MetaspaceBPE

    bytes_ = {f"<0x{b:02X}>": b + 3 for b in range(256)}
    for args, kwargs, message in [
            (({"a": -1}, []), {}, "vocab['a']: -1 is negative"),
            (({"a": 0, "b": 0}, []), {}, "vocab: id 0 is used by two tokens ('a' and 'b')"),
            (({"a": 0}, []), {"unk_token": "<u>"}, "unk_token '<u>' is not in the vocabulary"),
            (({"a": 0, "<0x41>": 1}, []), {"byte_fallback": True},
             "model.byte_fallback needs all 256 <0xNN> tokens, found 1"),
            (({"a": 0, "b": 1}, [("a", "b")]), {}, "merge 'a' + 'b' refers to a token missing from the vocabulary"),
            (({"b": 1, "ab": 2}, [("a", "b")]), {}, "merge 'a' + 'b' refers to a token missing from the vocabulary"),
            (({"a": 0, "ab": 2}, [("a", "b")]), {}, "merge 'a' + 'b' refers to a token missing from the vocabulary"),
            (({"a": 0}, []), {"normalizers": [{"type": "NFKX"}]}, "normalizer 'NFKX' is not supported")]:
        with pytest.raises(FormatError) as err:
            MetaspaceBPE(*args, **kwargs)
        assert str(err.value) == message
    # byte fallback with no byte token at all, or all 256: accepted (HF gives the unknown token / the bytes)
    for vocab in ({"<unk>": 0, "a": 1}, {"<unk>": 0, "a": 1, "<x>": 2, **bytes_}):
        from tokenizers import models

        hf = tokenizers.Tokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True))
        ours = MetaspaceBPE(vocab, [], unk_token="<unk>", byte_fallback=True)
        for text in ("a", "é", "aza"):
            assert ours.encode(text) == hf.encode(text).ids, (len(vocab), text)


def test_whitespace_split_with_the_first_scheme_like_hf():
    from tokenlab.io.hf_metaspace import from_hf_dict

    d = _meta_cases()["t5"]
    d["pre_tokenizer"]["pretokenizers"][1] = _metaspace("first", True)
    d["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, _metaspace("first", True)]}
    _same_as_hf(from_hf_dict(d), _hf(d), ["a b", "hello hello a", " a  b", "ab", "a\tb\nc"] + _meta_texts(11, 60))


def test_saved_unigram_keeps_normalizer_specials_and_byte_decoder(tmp_path):
    """A Unigram file with a normalizer, a special token and byte pieces shown as text (no ByteFallback decoder)
    saves and loads back with HF's ids and decodes; a saved file without a name loads without one."""
    from tokenizers import decoders, normalizers

    from tokenlab.io.hf_metaspace import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE, MetaspaceUnigram

    hf = _unigram_hf(True)
    hf.normalizer = normalizers.Lowercase()
    hf.decoder = decoders.Metaspace()
    hf.add_special_tokens(["<s>"])
    ours = from_hf_dict(json.loads(hf.to_str()))
    assert not ours.byte_decoder and ours.special_tokens
    d = ours.to_dict()
    back = MetaspaceUnigram.from_dict(json.loads(json.dumps(d)))
    _same_as_hf(back, hf, ["Hello <s>日本", "HELL a", "<s>", "zz"] + _meta_texts(12, 60))
    for cls, model in ((MetaspaceUnigram, d), (MetaspaceBPE, from_hf_dict(_meta_json()).to_dict())):
        del model["name"]
        assert cls.from_dict(model).name == from_hf_dict(_meta_json()).name


def test_healing_gives_up_on_normalizers_that_move_text():
    """Lowercase or a Replace of more than one character can change where words start: no healing start."""
    from tokenlab.io.hf_metaspace import from_hf_dict

    from reliability_util import metaspace_json

    for step in ({"type": "Lowercase"}, {"type": "NFKC"},
                 {"type": "Replace", "pattern": {"String": "ab"}, "content": "c"}):
        d = metaspace_json()
        d["normalizer"]["normalizers"].insert(0, step)
        assert from_hf_dict(d).healing_start("hello a") is None, step
    assert from_hf_dict(metaspace_json()).healing_start("hello a") == 6


def test_the_longest_added_token_wins_where_two_start():
    from test_mutation_kills_readers import _added

    from tokenlab.io.hf_metaspace import from_hf_dict

    n = len(_meta_json()["model"]["vocab"])
    contents = ["<a", "<abc", "<ab"]
    for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2)):
        d = _meta_json(added_tokens=[_added("<unk>", 0, True), *(
            _added(contents[k], n + i, False) for i, k in enumerate(order))])
        _same_as_hf(from_hf_dict(d), _hf(d), ["<abcd", "<ab", "<a<abc", "a <ab c", "<abc<a"])
