"""Tests written for mutants of the pipeline's pre-tokenizers (pipeline/pre_tokenizers.py) that the rest of the
suite let survive (see docs/testing.md, "Mutation testing"). Each component is built from the JSON HF ``tokenizers``
writes for it and compared with HF running that same component: pieces and offsets (``pre_tokenize_str``), the
JSON written back, the defaults HF's constructors use for a missing field, and the errors for damaged fields."""

from __future__ import annotations

import json
import random

import pytest
from hf_pipeline_helpers import ATOMS, sample_texts
from test_unicode_pinning import pairs  # noqa: F401 - the fixture (tokenlab and tiktoken on the same patterns)

from tokenlab.errors import FormatError
from tokenlab.pipeline import pre_tokenizers as ours_pt

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, Tokenizer, models  # noqa: E402
from tokenizers import pre_tokenizers as pt  # noqa: E402

BEHAVIORS = ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")
# characters each component treats specially: spaces of every kind, the Metaspace mark, digits of several scripts,
# punctuation and symbols, Han / Hiragana / Katakana / U+30FC (one script for UnicodeScripts), combining marks
EXTRA_ATOMS = [" ", "  ", "   ", "\u2581", "\u2581\u2581", "e", "ee", "1", "12", "٣٤", "½", "!", ".", ",", "-",
               "'", "a.b", "日", "ひ", "カ", "ー", "ｰ", "\u0301", "\u3000", "\t\t", "x y", "\x85", "\u2029", "_"]


def _texts() -> list[str]:
    rng = random.Random(15)
    atoms = ATOMS + EXTRA_ATOMS
    made = ["".join(rng.choice(atoms) for _ in range(rng.randrange(1, 7))) for _ in range(150)]
    edges = ["", " ", "  ", "\u2581", " a", "a ", " a ", "a  b", "\u2581a b", "ab\u2581 c", "1 22 333", "e.e,e",
             "ée 日本語カタカナーabc ひらがな", "  leading and trailing  ", "x", "\U0010ffff a", "aé日\U0001f916"]
    return sample_texts(seed=15, n_adversarial=60)[::2] + made + edges


TEXTS = _texts()


def hf_json(pre) -> dict:
    """The pre_tokenizer object HF writes into tokenizer.json for ``pre``."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    return json.loads(tok.to_str())["pre_tokenizer"]


def hf_from_json(d: dict):
    """HF's pre-tokenizer read from tokenizer.json holding ``d``."""
    tok = Tokenizer(models.BPE())
    base = json.loads(tok.to_str())
    base["pre_tokenizer"] = d
    return Tokenizer.from_str(json.dumps(base)).pre_tokenizer


def assert_pieces_equal(ours, hf, texts=TEXTS) -> None:
    for text in texts:
        assert ours.pre_tokenize_str(text) == hf.pre_tokenize_str(text), text


COMPONENTS = {
    **{f"Split-{b}": pt.Split(Regex(r"\p{L}+|\d| ?[^\s\p{L}\p{N}]+"), behavior=b) for b in BEHAVIORS},
    **{f"Split-{b}-invert": pt.Split(Regex(r"\s+|\d"), behavior=b, invert=True) for b in BEHAVIORS},
    **{f"SplitString-{b}": pt.Split(".", behavior=b) for b in BEHAVIORS},  # a literal dot, not "any character"
    **{f"SplitEmpty-{b}": pt.Split("", behavior=b) for b in BEHAVIORS},
    **{f"SplitEmptyRegex-{b}": pt.Split(Regex(""), behavior=b, invert=True) for b in BEHAVIORS},
    "SplitSpaceStar": pt.Split(Regex(r"\s*"), behavior="merged_with_next"),
    "SplitOptional": pt.Split(Regex(r"x?"), behavior="merged_with_previous", invert=True),
    **{f"ByteLevel-{a}-{r}-{t}": pt.ByteLevel(add_prefix_space=a, use_regex=r, trim_offsets=t)
       for a in (False, True) for r in (False, True) for t in (False, True)},
    **{f"Metaspace-{s}-{sp}": pt.Metaspace(prepend_scheme=s, split=sp)
       for s in ("always", "first", "never") for sp in (False, True)},
    "MetaspaceUnderscore": pt.Metaspace(replacement="_", prepend_scheme="first"),
    "Whitespace": pt.Whitespace(), "WhitespaceSplit": pt.WhitespaceSplit(),
    **{f"Punctuation-{b}": pt.Punctuation(b) for b in BEHAVIORS},
    "Digits": pt.Digits(individual_digits=False), "DigitsOne": pt.Digits(individual_digits=True),
    "Bert": pt.BertPreTokenizer(), "UnicodeScripts": pt.UnicodeScripts(),
    "CharDelimiterSplit": pt.CharDelimiterSplit("e"), "CharDelimiterSpace": pt.CharDelimiterSplit(" "),
    **{f"FixedLength-{k}": pt.FixedLength(k) for k in (1, 2, 3, 5, 7)},
    # "first" after a split: only the piece at the start of the text gets the mark
    "Sequence-first": pt.Sequence([pt.Split(" ", "isolated"), pt.Metaspace(prepend_scheme="first")]),
    "Sequence-first-merged": pt.Sequence([pt.Split(Regex(r"\d+"), "merged_with_next"),
                                          pt.Metaspace(prepend_scheme="first", split=False)]),
    "Sequence-mixed": pt.Sequence([pt.WhitespaceSplit(), pt.Digits(True), pt.Punctuation("contiguous"),
                                   pt.ByteLevel(add_prefix_space=False, use_regex=False)]),
}


@pytest.mark.parametrize("name", list(COMPONENTS))
def test_components_read_from_hf_json_split_like_hf(name):
    """Pieces and offsets of every component equal HF's, and the JSON we write back is HF's."""
    hf = COMPONENTS[name]
    d = hf_json(hf)
    ours = ours_pt.pre_tokenizer_from_dict(d)
    assert type(ours).__name__ == d["type"]
    assert ours.to_dict() == d
    assert_pieces_equal(ours, hf)


def test_empty_split_pattern_cuts_every_character_like_hf():
    """HF compiles a Split pattern as a regex (a String escaped first): an empty pattern matches the empty string
    at every position, so each character is a piece (an earlier reading kept the text whole)."""
    for kind in ("String", "Regex"):
        for behavior in ("Isolated", "Removed", "MergedWithNext", "MergedWithPrevious", "Contiguous"):
            for invert in (False, True):
                d = {"type": "Split", "pattern": {kind: ""}, "behavior": behavior, "invert": invert}
                assert_pieces_equal(ours_pt.pre_tokenizer_from_dict(d), hf_from_json(d), TEXTS[::3])


def test_split_patterns_that_match_empty_follow_onigurumas_iteration():
    """Oniguruma (HF) skips an empty match where the previous match ends; Python's regex does not."""
    for pattern in (r"a*", r"\s*", r"x?", r"\d*"):
        for behavior in ("Isolated", "MergedWithNext", "MergedWithPrevious", "Contiguous", "Removed"):
            for invert in (False, True):
                d = {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": invert}
                texts = ["baac", "aaa", "  x  ", "a1 22", *TEXTS[::5]]
                assert_pieces_equal(ours_pt.pre_tokenizer_from_dict(d), hf_from_json(d), texts)


@pytest.mark.parametrize("missing, hf", [
    ({"type": "ByteLevel"}, pt.ByteLevel()),
    ({"type": "ByteLevel", "add_prefix_space": False}, pt.ByteLevel(add_prefix_space=False)),
    ({"type": "ByteLevel", "use_regex": False}, pt.ByteLevel(use_regex=False)),
    ({"type": "ByteLevel", "trim_offsets": False}, pt.ByteLevel(trim_offsets=False)),
    ({"type": "Metaspace"}, pt.Metaspace()),
    ({"type": "Metaspace", "replacement": "_"}, pt.Metaspace(replacement="_")),
    ({"type": "Metaspace", "split": False}, pt.Metaspace(split=False)),
    ({"type": "Metaspace", "prepend_scheme": "first"}, pt.Metaspace(prepend_scheme="first")),
    ({"type": "Punctuation"}, pt.Punctuation()),
    ({"type": "Digits"}, pt.Digits()),
    ({"type": "FixedLength"}, pt.FixedLength()),
    ({"type": "Split", "pattern": {"Regex": r"\d"}}, pt.Split(Regex(r"\d"), "isolated")),
    ({"type": "Split", "pattern": {"String": " "}, "behavior": "Removed"}, pt.Split(" ", "removed")),
])
def test_missing_fields_take_hfs_constructor_defaults(missing, hf):
    """HF's file parser requires most fields; we read a missing one as HF's Python constructor's default (a Split
    without a behaviour as Isolated, the default of HF's Punctuation)."""
    ours = ours_pt.pre_tokenizer_from_dict(missing)
    assert ours.to_dict() == hf_json(hf)
    assert_pieces_equal(ours, hf, TEXTS[::2])


@pytest.mark.parametrize("ours, hf", [
    (lambda: ours_pt.ByteLevel(), lambda: pt.ByteLevel()),
    (lambda: ours_pt.Metaspace(), lambda: pt.Metaspace()),
    (lambda: ours_pt.Split({"Regex": r"\d|\s"}), lambda: pt.Split(Regex(r"\d|\s"), "isolated")),
    (lambda: ours_pt.Punctuation(), lambda: pt.Punctuation()),
    (lambda: ours_pt.Digits(), lambda: pt.Digits()),
    (lambda: ours_pt.FixedLength(), lambda: pt.FixedLength()),
])
def test_constructor_defaults_are_hfs(ours, hf):
    """Our constructors' defaults are HF's (a Split's behaviour: Isolated, as Punctuation's)."""
    ours, hf = ours(), hf()
    assert ours.to_dict() == hf_json(hf)
    assert_pieces_equal(ours, hf, TEXTS[::2])


@pytest.mark.parametrize("legacy, scheme", [(True, "always"), (False, "never"), (None, "always")])
def test_metaspace_files_before_prepend_scheme_read_like_hf(legacy, scheme):
    """Files written before tokenizers 0.19 hold ``add_prefix_space`` instead of ``prepend_scheme`` (false:
    "never", as those versions read it; tokenizers 0.23 refuses that file); a file with neither reads as
    "always"."""
    d = {"type": "Metaspace", "replacement": "\u2581"}
    if legacy is not None:
        d["add_prefix_space"] = legacy
    if legacy is not False:
        assert hf_from_json(d).prepend_scheme == scheme
    ours = ours_pt.pre_tokenizer_from_dict(d)
    assert ours.to_dict() == hf_json(pt.Metaspace(prepend_scheme=scheme))
    assert_pieces_equal(ours, pt.Metaspace(prepend_scheme=scheme))


def test_both_behavior_spellings_are_read_and_written_as_hfs():
    for behavior in BEHAVIORS:
        json_name = hf_json(pt.Punctuation(behavior))["behavior"]
        for spelling in (behavior, json_name):
            assert ours_pt.Punctuation(spelling).to_dict()["behavior"] == json_name
            split = ours_pt.Split({"String": "e"}, spelling)
            assert split.to_dict() == hf_json(pt.Split("e", behavior))
            assert_pieces_equal(split, pt.Split("e", behavior), TEXTS[::4])


def test_added_token_pieces_are_left_alone():
    """A piece already made a token (an added token) is neither split nor mapped to byte-level characters."""
    from tokenlab.pipeline.normalized import NormalizedString

    for pre in (ours_pt.ByteLevel(add_prefix_space=True), ours_pt.Metaspace(), ours_pt.Whitespace(),
                ours_pt.FixedLength(1), ours_pt.Sequence([ours_pt.Digits(True), ours_pt.ByteLevel(False)])):
        added = ours_pt.Piece(NormalizedString("é 12 x", origin=3), token_id=7)
        plain = ours_pt.Piece(NormalizedString("a é1", origin=9))
        pts = ours_pt.PreTokenizedString([ours_pt.Piece(NormalizedString("")), added, plain])
        pre.pre_tokenize(pts)
        assert pts.pieces[0] is added and added.normalized.text == "é 12 x" and added.token_id == 7
        assert added.normalized.spans == [(i, i + 1) for i in range(3, 9)]
        want = [(text, (a + 9, b + 9)) for text, (a, b) in pre.pre_tokenize_str("a é1")]
        assert [(p.normalized.text, p.normalized.original_span()) for p in pts.pieces[1:]] == want
        assert all(p.token_id is None and p.normalized.text for p in pts.pieces[1:])


def test_byte_level_characters_keep_the_span_of_their_character():
    """Every UTF-8 byte of a character becomes one byte-level character with that character's span (HF's
    transform), on all-ASCII text (a fast path) and mixed text."""
    from tokenlab.pipeline.byte_map import bytes_to_unicode
    from tokenlab.pipeline.normalized import NormalizedString

    table = bytes_to_unicode()
    for text in ("plain ascii ~\x7f", "aé日\U0001f916z", "\x00\x80", ""):
        n = NormalizedString(text, origin=0)
        ours_pt.to_byte_level(n)
        want_text = "".join(table[b] for b in text.encode("utf-8"))
        want_spans = [(i, i + 1) for i, ch in enumerate(text) for _ in ch.encode("utf-8")]
        assert (n.text, n.spans) == (want_text, want_spans)
    hf = pt.ByteLevel(add_prefix_space=False, use_regex=False)
    assert_pieces_equal(ours_pt.ByteLevel(add_prefix_space=False, use_regex=False), hf)


def test_pre_tokenizer_errors_say_what_is_wrong():
    cases = [
        (lambda: ours_pt.pre_tokenizer_from_dict([]), "pre_tokenizer must be an object, got list"),
        (lambda: ours_pt.pre_tokenizer_from_dict({"type": "Haiku"}), "pre-tokenizer 'Haiku' is not supported"),
        (lambda: ours_pt.pre_tokenizer_from_dict({}), "pre-tokenizer None is not supported"),
        (lambda: ours_pt.pre_tokenizer_from_dict({"type": "Split"}), "pre-tokenizer 'Split' lacks field 'pattern'"),
        (lambda: ours_pt.pre_tokenizer_from_dict({"type": "CharDelimiterSplit"}),
         "pre-tokenizer 'CharDelimiterSplit' lacks field 'delimiter'"),
        (lambda: ours_pt.pre_tokenizer_from_dict({"type": "Sequence"}),
         "pre-tokenizer 'Sequence' lacks field 'pretokenizers'"),
        (lambda: ours_pt.Punctuation("Sideways"), "unknown split behavior 'Sideways'"),
        (lambda: ours_pt.Split({"Regex": "("}, "Isolated"), "Split regex '(' does not compile: "),
        (lambda: ours_pt.Metaspace("__"), "Metaspace replacement must be one character, got '__'"),
        (lambda: ours_pt.Metaspace("", "always"), "Metaspace replacement must be one character, got ''"),
        (lambda: ours_pt.Metaspace("_", "sometimes"), "Metaspace prepend_scheme 'sometimes' is not supported"),
        (lambda: ours_pt.CharDelimiterSplit("ab"), "CharDelimiterSplit delimiter must be one character, got 'ab'"),
        (lambda: ours_pt.FixedLength(0), "FixedLength length must be >= 1, got 0"),
    ]
    for pattern in ("a", {"Regex": "a", "String": "a"}, {"Glob": "a"}, {"Regex": None}, {"String": 3}, {}):
        cases.append((lambda p=pattern: ours_pt.Split(p, "Isolated"),
                      f"Split pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}"))
    for make, message in cases:
        with pytest.raises(FormatError) as info:
            make()
        assert str(info.value).startswith(message), (str(info.value), message)
    assert ours_pt.pre_tokenizer_from_dict(None) is None
    assert ours_pt.FixedLength(1).length == 1
    with pytest.raises(NotImplementedError):
        ours_pt.PreTokenizer().pre_tokenize(ours_pt.PreTokenizedString([]))
    assert ours_pt.PreTokenizer().to_dict() == {"type": ""}


# ---------------------------------------------------------------------------------------------- normalizers
def _charsmap(rule: str) -> str:
    """The base64 character map sentencepiece builds for a normalization rule (from a tiny training run)."""
    import base64
    import io

    spm = pytest.importorskip("sentencepiece")
    from tokenlab.io.sentencepiece import parse_sentencepiece

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["hello world ab abc"] * 20), model_writer=buf,
                                   vocab_size=30, minloglevel=2, hard_vocab_limit=False,
                                   normalization_rule_name=rule, num_threads=1)
    return base64.b64encode(parse_sentencepiece(buf.getvalue()).precompiled_charsmap).decode("ascii")


def hf_norm_json(norm) -> dict:
    tok = Tokenizer(models.BPE())
    tok.normalizer = norm
    return json.loads(tok.to_str())["normalizer"]


# text that every normalizer changes somewhere: case, accents and compatibility forms, CJK, controls, spaces
NORM_EXTRA = ["ÅÉÎ ÕÜ", "ﬁ ｶﾞ ① ½ Ǆǅ", "İstanbul ΣΑΣ ß", "a\x00b\x01c\x7f\x85\u200b\ufeff", "\t x \n\r\u3000\u00a0",
              "e\u0301\u0301 a\u0308", "日本語 中文 한국어", "\U0001f916\u200d", "  both ends  ", "\u2581x", "abc",
              "a\u0323\u0302", "ǰ\u0301"]
NORM_TEXTS = TEXTS[::2] + NORM_EXTRA


def _hf_normalizers():
    from tokenizers import normalizers as hn

    comps = {name: getattr(hn, name)() for name in ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents",
                                                   "Nmt", "ByteLevel")}
    comps.update({f"Strip-{a}-{b}": hn.Strip(left=a, right=b) for a in (False, True) for b in (False, True)})
    comps.update({f"Bert-{c}-{h}-{s}-{low}": hn.BertNormalizer(clean_text=c, handle_chinese_chars=h,
                                                               strip_accents=s, lowercase=low)
                  for c in (False, True) for h in (False, True) for s in (None, False, True) for low in (False, True)})
    comps.update({
        "ReplaceString": hn.Replace(".", "<dot>"), "ReplaceRegex": hn.Replace(Regex(r"\s+"), "_"),
        "ReplaceDelete": hn.Replace(Regex(r"[aeiou]"), ""), "ReplaceLonger": hn.Replace("a", "aaa"),
        "ReplaceEmptyString": hn.Replace("", "-"), "ReplaceEmptyRegex": hn.Replace(Regex(""), "+"),
        "ReplaceStar": hn.Replace(Regex(r"a*"), "-"),
        "Prepend": hn.Prepend("\u2581"), "PrependLong": hn.Prepend("ab"),
        "Sequence": hn.Sequence([hn.NFKD(), hn.StripAccents(), hn.Lowercase(), hn.Replace(" ", "\u2581")]),
    })
    return comps


NORMALIZERS = _hf_normalizers()


def _offsets_tokenizer(norm):
    """An HF tokenizer whose every normalized character is an unknown token of its own: its offsets are the
    original span of each normalized character."""
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.normalizer = norm
    tok.pre_tokenizer = pt.Split(Regex(r"[\s\S]"), "isolated")
    return tok


def _assert_normalizer_equals_hf(ours, hf, texts=NORM_TEXTS) -> None:
    from tokenlab.pipeline import PipelineTokenizer

    for text in texts:
        assert ours.normalize_str(text) == hf.normalize_str(text), text
    ref = _offsets_tokenizer(hf)
    pipe = PipelineTokenizer.from_hf_dict(json.loads(ref.to_str()))
    assert type(pipe.normalizer) is type(ours)
    for text in texts:
        assert pipe.encode_full(text).offsets == ref.encode(text).offsets, text


@pytest.mark.parametrize("name", list(NORMALIZERS))
def test_normalizers_read_from_hf_json_normalize_like_hf(name):
    """Text and the original span of every normalized character equal HF's; the JSON we write back is HF's."""
    from tokenlab.pipeline.normalizers import normalizer_from_dict

    hf = NORMALIZERS[name]
    d = hf_norm_json(hf)
    ours = normalizer_from_dict(d)
    assert ours.to_dict() == d
    _assert_normalizer_equals_hf(ours, hf)


@pytest.mark.parametrize("rule", ["nmt_nfkc", "nmt_nfkc_cf", "nfkc_cf"])
def test_precompiled_normalizer_equals_hf(rule):
    from tokenizers import normalizers as hn

    from tokenlab.pipeline.normalizers import normalizer_from_dict

    charsmap = _charsmap(rule)
    d = {"type": "Precompiled", "precompiled_charsmap": charsmap}
    ours = normalizer_from_dict(d)
    assert ours.to_dict() == d
    # "ｶﾞ" alone: one 6-byte cluster, mapped character by character, with nothing else in the text that changes
    texts = NORM_TEXTS + ["ｶﾞｷﾞ ﾊﾟ", "ｶﾞ", "ﾊﾟﾊﾟ", "\u1100\u1161\u11a8", "ﬀ\u0301", "A\u030a\u0323" * 3, "①②③④⑤⑥"]
    _assert_normalizer_equals_hf(ours, hn.Precompiled(base64_decode(charsmap)), texts)


def base64_decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


@pytest.mark.parametrize("missing, make", [
    ({"type": "Strip"}, lambda hn: hn.Strip()),
    ({"type": "Strip", "strip_left": False}, lambda hn: hn.Strip(left=False)),
    ({"type": "Strip", "strip_right": False}, lambda hn: hn.Strip(right=False)),
    ({"type": "BertNormalizer"}, lambda hn: hn.BertNormalizer()),
    ({"type": "BertNormalizer", "clean_text": False}, lambda hn: hn.BertNormalizer(clean_text=False)),
    ({"type": "BertNormalizer", "handle_chinese_chars": False},
     lambda hn: hn.BertNormalizer(handle_chinese_chars=False)),
    ({"type": "BertNormalizer", "lowercase": False}, lambda hn: hn.BertNormalizer(lowercase=False)),
])
def test_missing_normalizer_fields_take_hfs_constructor_defaults(missing, make):
    from tokenizers import normalizers as hn

    from tokenlab.pipeline.normalizers import normalizer_from_dict

    hf = make(hn)
    ours = normalizer_from_dict(missing)
    assert ours.to_dict() == hf_norm_json(hf)
    _assert_normalizer_equals_hf(ours, hf, NORM_TEXTS[::2])


def test_an_empty_charsmap_normalizes_nothing():
    from tokenlab.pipeline.normalizers import normalizer_from_dict

    for d in ({"type": "Precompiled", "precompiled_charsmap": ""}, {"type": "Precompiled"},
              {"type": "Precompiled", "precompiled_charsmap": None}):
        ours = normalizer_from_dict(d)
        assert ours.to_dict() == {"type": "Precompiled", "precompiled_charsmap": ""}
        for text in NORM_TEXTS:
            assert ours.normalize_str(text) == text


def test_normalizer_errors_say_what_is_wrong():
    from tokenlab.pipeline import normalizers as ours_n

    cases = [
        (lambda: ours_n.normalizer_from_dict([]), "normalizer must be an object, got list"),
        (lambda: ours_n.normalizer_from_dict({"type": "Frob"}), "normalizer 'Frob' is not supported"),
        (lambda: ours_n.normalizer_from_dict({}), "normalizer None is not supported"),
        (lambda: ours_n.normalizer_from_dict({"type": "Replace", "pattern": {"String": "a"}}),
         "normalizer 'Replace' lacks field 'content'"),
        (lambda: ours_n.normalizer_from_dict({"type": "Replace", "content": "a"}),
         "normalizer 'Replace' lacks field 'pattern'"),
        (lambda: ours_n.normalizer_from_dict({"type": "Prepend"}), "normalizer 'Prepend' lacks field 'prepend'"),
        (lambda: ours_n.normalizer_from_dict({"type": "Sequence"}),
         "normalizer 'Sequence' lacks field 'normalizers'"),
        (lambda: ours_n.Replace({"String": "a"}, 3), "Replace content and pattern must be strings, got 3, "),
        (lambda: ours_n.Replace({"Regex": None}, "x"), "Replace content and pattern must be strings, got 'x', "),
        (lambda: ours_n.Precompiled("not base64!"), "Precompiled normalizer: precompiled_charsmap is not base64"),
    ]
    for pattern in ("a", {"Regex": "a", "String": "a"}, {"Glob": "a"}, {}):
        cases.append((lambda p=pattern: ours_n.Replace(p, "x"),
                      f"Replace pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}"))
    for make, message in cases:
        with pytest.raises(FormatError) as info:
            make()
        assert str(info.value).startswith(message), (str(info.value), message)
    assert ours_n.normalizer_from_dict(None) is None
    with pytest.raises(NotImplementedError):
        ours_n.Normalizer().normalize(None)
    assert ours_n.Normalizer().to_dict() == {"type": ""}


# ---------------------------------------------------------------------------------------------- decoders
# token strings each decoder treats specially: the Metaspace mark, WordPiece's prefix, BPE's suffix, byte tokens
# (complete, split and invalid UTF-8, and look-alikes), byte-level characters and ones outside that alphabet,
# CTC's pad and delimiter, the cleanup's punctuation and contractions, the strip character
DECODER_TOKENS = ["\u2581", "\u2581a", "a\u2581b", "\u2581\u2581", "ab", "##ab", "##", "#", "</w>", "x</w>",
                  "a</w>b", "<0x41>", "<0xE6>", "<0x97>", "<0xA5>", "<0xC3>", "<0xFF>", "<0x0A>", "<0xZZ>", "<0x4>",
                  "<0x41", "<0X41>", "<0x41><0x42>", "\u0120", "\u010a", "\u00c3\u00a9", "\u0120\u00e6\u0139\u00a5",
                  "é", "日", " ", "  ", "e", "ee", "<pad>", "|", "a|b", " .", ".", " n't", "'s", " 's", " do not",
                  " ?", " !", " ,", " ' ", "x ", " x", "", "a a", "\U0001f916", " 'm", "'m", " 've", "'ve", " 're",
                  "'re", "a.b", "a+", ".*"]


def _token_lists(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    out = [[], [""], ["a"], ["\u2581"], ["<0xE6>", "<0x97>", "<0xA5>"], ["<0xE6>", "<0x97>"], ["a", "a", "b"],
           ["<pad>", "a", "a", "<pad>", "a", "|", "b"], [" ", " ", "x", " "], ["##a", "b"]]
    out += [[rng.choice(DECODER_TOKENS) for _ in range(rng.randrange(1, 9))] for _ in range(n)]
    return out


TOKEN_LISTS = _token_lists(300, 15)


def _hf_decoders():
    from tokenizers import decoders as hd

    comps = {
        "ByteLevel": hd.ByteLevel(), "ByteFallback": hd.ByteFallback(), "Fuse": hd.Fuse(),
        "WordPiece": hd.WordPiece(), "WordPieceNoCleanup": hd.WordPiece(cleanup=False),
        "WordPiecePrefix": hd.WordPiece(prefix="e", cleanup=True),
        "BPEDecoder": hd.BPEDecoder(), "BPEDecoderE": hd.BPEDecoder(suffix="e"),
        "CTC": hd.CTC(), "CTCNoCleanup": hd.CTC(cleanup=False), "CTCCustom": hd.CTC("a", "e"),
        "ReplaceString": hd.Replace("\u2581", " "), "ReplaceRegex": hd.Replace(Regex(r"a+|\s"), "_"),
        "ReplaceStringDot": hd.Replace(".", "<dot>"), "ReplaceStringPlus": hd.Replace("a+", "-"),
        "ReplaceEmpty": hd.Replace("", "-"), "ReplaceEmptyRegex": hd.Replace(Regex(""), "-"),
        "ReplaceStar": hd.Replace(Regex("a*"), "-"), "ReplaceDelete": hd.Replace("a", ""),
        "Sequence": hd.Sequence([hd.Replace("\u2581", " "), hd.ByteFallback(), hd.Fuse(), hd.Strip(" ", 1, 0)]),
    }
    comps.update({f"Metaspace-{s}": hd.Metaspace(prepend_scheme=s) for s in ("always", "first", "never")})
    comps["MetaspaceUnderscore"] = hd.Metaspace(replacement="_", prepend_scheme="always", split=False)
    comps.update({f"Strip-{c!r}-{a}-{b}": hd.Strip(c, a, b) for c in (" ", "a") for a in (0, 1, 2, 5)
                  for b in (0, 1, 3)})
    return comps


DECODERS = _hf_decoders()


def assert_decodes_like_hf(ours, hf, token_lists=None) -> None:
    """Our decoder's text equals HF's decoder's (``hf``: a decoder object) for each token list (default: every
    third of TOKEN_LISTS)."""
    for tokens in TOKEN_LISTS[::3] if token_lists is None else token_lists:
        assert ours.decode(tokens) == hf.decode(tokens), tokens


def hf_dec_json(dec) -> dict:
    tok = Tokenizer(models.BPE())
    tok.decoder = dec
    return json.loads(tok.to_str())["decoder"]


@pytest.mark.parametrize("name", list(DECODERS))
def test_decoders_read_from_hf_json_decode_like_hf(name):
    """The text of every token list and the JSON we write back equal HF's."""
    from tokenlab.pipeline.decoders import decoder_from_dict

    hf = DECODERS[name]
    d = hf_dec_json(hf)
    ours = decoder_from_dict(d)
    assert ours.to_dict() == d
    lists = TOKEN_LISTS
    if d["type"] == "Strip" and d["stop"]:
        # HF's Strip panics (index out of bounds) on a token made only of the stripped character, or empty, when
        # stop > 0; we strip up to `start` of them from the left and up to `stop` from the right
        def whole(t):
            return set(t) <= {d["content"]}
        lists = [tokens for tokens in lists if not any(map(whole, tokens))]
        for length in range(8):
            left = d["content"] * max(0, length - d["start"] - d["stop"])
            assert ours.decode_chain([d["content"] * length, "b"]) == [left, "b"]
    assert_decodes_like_hf(ours, hf, lists)


@pytest.mark.parametrize("missing, make", [
    ({"type": "ByteLevel"}, lambda hd: hd.ByteLevel()),
    ({"type": "Metaspace"}, lambda hd: hd.Metaspace()),
    ({"type": "Metaspace", "replacement": "_"}, lambda hd: hd.Metaspace(replacement="_")),
    ({"type": "Metaspace", "add_prefix_space": False}, lambda hd: hd.Metaspace(prepend_scheme="never")),
    ({"type": "Metaspace", "split": False}, lambda hd: hd.Metaspace(split=False)),
    ({"type": "WordPiece"}, lambda hd: hd.WordPiece()),
    ({"type": "WordPiece", "prefix": "e"}, lambda hd: hd.WordPiece(prefix="e")),
    ({"type": "Strip"}, lambda hd: hd.Strip()),
    ({"type": "BPEDecoder"}, lambda hd: hd.BPEDecoder()),
    ({"type": "CTC"}, lambda hd: hd.CTC()),
    ({"type": "CTC", "cleanup": False}, lambda hd: hd.CTC(cleanup=False)),
])
def test_missing_decoder_fields_take_hfs_constructor_defaults(missing, make):
    from tokenizers import decoders as hd

    from tokenlab.pipeline.decoders import decoder_from_dict

    hf = make(hd)
    ours = decoder_from_dict(missing)
    assert ours.to_dict() == hf_dec_json(hf)
    assert_decodes_like_hf(ours, hf)


def test_decoder_errors_say_what_is_wrong():
    from tokenlab.pipeline import decoders as ours_d

    cases = [
        (lambda: ours_d.decoder_from_dict([]), "decoder must be an object, got list"),
        (lambda: ours_d.decoder_from_dict({"type": "Frob"}), "decoder 'Frob' is not supported"),
        (lambda: ours_d.decoder_from_dict({}), "decoder None is not supported"),
        (lambda: ours_d.decoder_from_dict({"type": "Replace", "pattern": {"String": "a"}}),
         "decoder 'Replace' is corrupt (KeyError('content'))"),
        (lambda: ours_d.decoder_from_dict({"type": "Sequence"}),
         "decoder 'Sequence' is corrupt (KeyError('decoders'))"),
        (lambda: ours_d.decoder_from_dict({"type": "Strip", "start": "x"}), "decoder 'Strip' is corrupt (ValueError("),
        (lambda: ours_d.decoder_from_dict({"type": "Strip", "stop": None}), "decoder 'Strip' is corrupt (TypeError("),
        (lambda: ours_d.Replace({"String": "a"}, 3), "Replace content and pattern must be strings, got 3, "),
        (lambda: ours_d.Replace({"Regex": None}, "x"), "Replace content and pattern must be strings, got 'x', "),
    ]
    for pattern in ("a", {"Regex": "a", "String": "a"}, {"Glob": "a"}, {}):
        cases.append((lambda p=pattern: ours_d.Replace(p, "x"),
                      f"Replace pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}"))
    for make, message in cases:
        with pytest.raises(FormatError) as info:
            make()
        assert str(info.value).startswith(message), (str(info.value), message)
    assert ours_d.decoder_from_dict(None) is None
    with pytest.raises(NotImplementedError):
        ours_d.Decoder().decode(["a"])
    assert ours_d.Decoder().to_dict() == {"type": ""}
    seq = ours_d.decoder_from_dict({"type": "Sequence", "decoders": [
        {"type": "Fuse"}, {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]}]})
    assert [type(d).__name__ for d in ours_d.walk(seq)] == ["Sequence", "Fuse", "Sequence", "ByteFallback"]
    assert list(ours_d.walk(None)) == []


def test_normalizer_and_decoder_constructor_defaults_are_hfs():
    from tokenizers import decoders as hd
    from tokenizers import normalizers as hn

    from tokenlab.pipeline import decoders as ours_d
    from tokenlab.pipeline import normalizers as ours_n

    for ours, hf in ((ours_n.Strip(), hn.Strip()), (ours_n.BertNormalizer(), hn.BertNormalizer())):
        assert ours.to_dict() == hf_norm_json(hf)
        _assert_normalizer_equals_hf(ours, hf, NORM_TEXTS[::2])
    for ours, hf in ((ours_d.ByteLevel(), hd.ByteLevel()), (ours_d.Metaspace(), hd.Metaspace()),
                     (ours_d.WordPiece(), hd.WordPiece()), (ours_d.Strip(), hd.Strip()),
                     (ours_d.BPEDecoder(), hd.BPEDecoder()), (ours_d.CTC(), hd.CTC())):
        assert ours.to_dict() == hf_dec_json(hf)
        assert_decodes_like_hf(ours, hf)


# ---------------------------------------------------------------------------------------------- pretokenize.py
def test_regex_time_limit_is_a_base_plus_a_share_per_character():
    """The stated rule (pretokenize.py): REGEX_TIMEOUT_BASE seconds per split call plus REGEX_TIMEOUT_PER_CHAR per
    character, so a long text of a linear custom pattern is never cut short."""
    from tokenlab import pretokenize

    base, per_char = pretokenize.REGEX_TIMEOUT_BASE, pretokenize.REGEX_TIMEOUT_PER_CHAR
    assert base > 0 and per_char > 0
    for n in (0, 1, 1000, 10**6, 10**8):
        assert pretokenize.regex_timeout(n) == pytest.approx(base + n * per_char)


def test_runaway_error_names_the_first_80_characters_of_the_pattern():
    from tokenlab import pretokenize

    pattern = "".join(chr(0x61 + k % 26) for k in range(100))
    message = str(pretokenize._runaway(pattern, 2.25, 7))
    assert message.startswith(f"pre-tokenizer pattern {pattern[:80]!r} took over 2.2 s on a 7-character text")
    assert str(pretokenize._runaway(None, 2.0, 1)).startswith("pre-tokenizer pattern 'None' took over 2.0 s")


def test_a_runaway_after_findall_left_gaps_names_the_pattern(monkeypatch):
    """A custom pattern without groups whose matches leave gaps goes from findall to the match-by-match path;
    if that one runs out of time, the error still names the pattern."""
    from tokenlab import pretokenize
    from tokenlab.errors import InvalidInputError

    calls = []

    def out_of_time(rx, text, timeout=None):
        calls.append(text)
        raise TimeoutError

    monkeypatch.setattr(pretokenize, "_isolate", out_of_time)
    pattern = r"[a-z]+"
    with pytest.raises(InvalidInputError, match=r"^pre-tokenizer pattern '\[a-z\]\+' took over .* 9-character"):
        pretokenize.PreTokenizer(pattern).split("ab, cd ef")
    assert calls == ["ab, cd ef"]


def test_a_runaway_in_a_digit_split_chunk_names_the_pattern(monkeypatch):
    """With split_digits, a custom pattern runs on each chunk between digit runs; a runaway there names the
    pattern too."""
    from tokenlab import pretokenize
    from tokenlab.errors import InvalidInputError

    monkeypatch.setattr(pretokenize, "REGEX_TIMEOUT_BASE", 0.05)
    pattern = r"(?:a|aa)+$"  # minutes of backtracking on 60 a's and a "!" without the limit
    text = "1" + "a" * 60 + "!"
    with pytest.raises(InvalidInputError, match=r"^pre-tokenizer pattern '\(\?:a\|aa\)\+\$' took over .* 61-char"):
        pretokenize.PreTokenizer(pattern, split_digits=1).split(text)


def test_text_whose_highest_code_point_is_the_lowest_with_a_stand_in_is_pinned(pairs):  # noqa: F811
    """The stand-in comparison is strict: a text whose highest code point is exactly the lowest one with a
    stand-in still needs it. Compared with tiktoken on cl100k's ranks (as in test_unicode_pinning.py)."""
    from test_unicode_pinning import PATTERNS

    from tokenlab.pretokenize import pinned_view, stand_ins

    for name, pattern in PATTERNS.items():
        mapping, lowest = stand_ins(pattern)
        assert lowest == min(mapping) > 0x7F
        c = chr(lowest)
        assert pinned_view(pattern, c) == chr(mapping[lowest]) and pinned_view(pattern, "a1 " + c) is not None
        ours, ref = pairs[name]
        for text in (c, c + "'s", "x" + c + "'s", c * 3 + " 12", "'s" + c + "x", " " + c + "\n" + c):
            assert ours.encode_ordinary(text) == ref.encode_ordinary(text), (name, text)


def test_a_pattern_without_unicode_classes_needs_no_stand_ins(monkeypatch):
    """stand_ins' stated result for a pattern with no class regex and tiktoken disagree on (here: no class at all)
    is ({}, 0), computed afresh (the module caches it); such a pattern splits new code points unchanged."""
    from tokenlab import pretokenize

    monkeypatch.setattr(pretokenize, "_STAND_INS", {})
    pattern = r"[a-z]+|[0-9]?y|(?:ab)+|[^a-z]"
    text = "ab\U00019087 c1y"
    assert pretokenize.classes_used(pattern) == []
    assert pretokenize.stand_ins(pattern) == ({}, 0)
    assert pretokenize.pinned_view(pattern, text) is None
    assert pretokenize.PreTokenizer(pattern).split(text) == ["ab", "\U00019087", " ", "c", "1y"]


def test_replace_errors_show_at_most_200_characters():
    """A Replace with a huge non-string field names it in a message cut at 200 characters (normalizer and decoder)."""
    from tokenlab.pipeline import decoders as ours_d
    from tokenlab.pipeline import normalizers as ours_n

    for make in (ours_n.Replace, ours_d.Replace):
        for pattern, content in (({"Regex": None}, "x" * 300), ({"String": 5}, "y" * 150), ({"String": "a"}, None)):
            with pytest.raises(FormatError) as info:
                make(pattern, content)
            want = f"Replace content and pattern must be strings, got {content!r}, {pattern!r}"
            assert str(info.value) == want[:200] and (len(want) > 200) == (len(str(info.value)) < len(want))


def test_a_charsmap_that_is_not_strict_base64_is_refused_like_hf():
    """HF refuses a precompiled_charsmap with a character outside base64's alphabet (it panics); a lenient
    decoder would skip that character and read the map."""
    from tokenlab.pipeline.normalizers import normalizer_from_dict

    charsmap = _charsmap("nmt_nfkc")
    for bad in (charsmap[:8] + "*" + charsmap[8:], " " + charsmap, charsmap[:40] + "\n" + charsmap[40:]):
        d = {"type": "Precompiled", "precompiled_charsmap": bad}
        tok = Tokenizer(models.BPE())
        base = json.loads(tok.to_str())
        base["normalizer"] = d
        try:
            Tokenizer.from_str(json.dumps(base))
        except BaseException as exc:  # noqa: BLE001 - a pyo3 PanicException is not an Exception
            assert "Precompiled" in str(exc)[:200] or "string" in str(exc)[:200]
        else:
            raise AssertionError("HF read a charsmap that is not base64")
        with pytest.raises(FormatError, match="^Precompiled normalizer: precompiled_charsmap is not base64$"):
            normalizer_from_dict(d)


def test_byte_level_decoder_flags_are_read_and_written_like_hf():
    """HF's ByteLevel decoder keeps its three flags from the file (its Python constructor ignores them)."""
    from tokenlab.pipeline.decoders import decoder_from_dict

    for a in (False, True):
        for t in (False, True):
            for r in (False, True):
                d = {"type": "ByteLevel", "add_prefix_space": a, "trim_offsets": t, "use_regex": r}
                tok = Tokenizer(models.BPE())
                base = json.loads(tok.to_str())
                base["decoder"] = d
                hf = Tokenizer.from_str(json.dumps(base))
                ours = decoder_from_dict(d)
                assert ours.to_dict() == json.loads(hf.to_str())["decoder"] == d
                assert_decodes_like_hf(ours, hf.decoder, TOKEN_LISTS[::5])


def test_byte_level_decoder_takes_other_tokens_as_their_utf8_bytes():
    """A token outside the byte-level alphabet stands for its own UTF-8 bytes, a lone surrogate for its three
    (as `PipelineTokenizer._token_bytes_of`); the joined bytes decode with replacement characters."""
    from tokenlab.pipeline.decoders import ByteLevel

    for tokens in (["x\ud800"], ["\u0120a", "\udfff", "\u00c3\u00a9"], ["é\ud83d", "\ude00"]):
        table = _byte_level_table()
        data = b"".join(bytes(table[c] for c in t) if all(c in table for c in t) else t.encode("utf-8", "surrogatepass")
                        for t in tokens)
        assert ByteLevel().decode(tokens) == data.decode("utf-8", "replace"), tokens


def _byte_level_table() -> dict[str, int]:
    from tokenlab.pipeline.byte_map import unicode_to_bytes

    return unicode_to_bytes()
