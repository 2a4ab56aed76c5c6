"""Each tokenizer.json component, built and trained with HF ``tokenizers`` itself: our `PipelineTokenizer`
must give HF's ids, tokens, offsets, masks and decode on multilingual and adversarial text, and the
tokenizer.json we write must load in HF with the same ids."""

from __future__ import annotations

import json

import pytest
from hf_pipeline_helpers import assert_round_trip, assert_same, ours_of, sample_texts, train

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402

from tokenlab.errors import FormatError  # noqa: E402
from tokenlab.pipeline import PipelineTokenizer  # noqa: E402

TEXTS = sample_texts(seed=1)


def bpe_with(pre=None, norm=None, decoder=None, **model_kwargs):
    hf = Tokenizer(models.BPE(unk_token="[UNK]", **model_kwargs))
    hf.normalizer = norm
    hf.pre_tokenizer = pre if pre is not None else pre_tokenizers.Whitespace()
    hf.decoder = decoder
    return train(hf, "BPE")


NORMALIZERS = {
    "NFC": normalizers.NFC(), "NFD": normalizers.NFD(), "NFKC": normalizers.NFKC(), "NFKD": normalizers.NFKD(),
    "Lowercase": normalizers.Lowercase(), "Strip": normalizers.Strip(), "StripLeft": normalizers.Strip(right=False),
    "StripAccents": normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
    "StripAccentsAlone": normalizers.StripAccents(),
    "ReplaceString": normalizers.Replace("e", "EE"), "ReplaceRegex": normalizers.Replace(Regex(r"\s+"), "_"),
    "ReplaceEmpty": normalizers.Replace(Regex(r"[aeiou]"), ""),
    "Prepend": normalizers.Prepend("▁"), "Bert": normalizers.BertNormalizer(),
    "BertCased": normalizers.BertNormalizer(lowercase=False),
    "BertAccents": normalizers.BertNormalizer(lowercase=False, strip_accents=True),
    "BertNoChinese": normalizers.BertNormalizer(handle_chinese_chars=False, clean_text=False),
    "Nmt": normalizers.Nmt(),
    "ByteLevel": normalizers.ByteLevel(),
    "Sequence": normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(" ", "▁")]),
}


@pytest.mark.parametrize("name", list(NORMALIZERS))
def test_normalizer(name):
    norm = NORMALIZERS[name]
    hf = bpe_with(norm=norm, pre=pre_tokenizers.WhitespaceSplit())
    ours = ours_of(hf)
    for text in TEXTS:
        assert ours.normalizer.normalize_str(text) == norm.normalize_str(text), text
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


def test_precompiled_normalizer(real_docs):
    import io

    import sentencepiece as spm

    from tokenlab.io.sentencepiece import parse_sentencepiece

    lines = [line for doc in real_docs[-300:] for line in doc.split("\n") if line.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines[:2000]), model_writer=buf, vocab_size=600,
                                   minloglevel=2, normalization_rule_name="nmt_nfkc_cf", num_threads=1)
    sp = parse_sentencepiece(buf.getvalue())
    hf = Tokenizer(models.Unigram([(p, s) for p, s, _ in sp.pieces], unk_id=sp.unk_id))
    hf.normalizer = normalizers.Precompiled(sp.precompiled_charsmap)
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Metaspace()
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


SPLIT_REGEX = r"\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+"
PRE_TOKENIZERS = {
    **{f"Split-{b}": pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior=b)
       for b in ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")},
    **{f"Split-{b}-invert": pre_tokenizers.Split(Regex(r"\s+|\d"), behavior=b, invert=True)
       for b in ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")},
    "SplitString": pre_tokenizers.Split(" ", behavior="merged_with_next"),
    "ByteLevel": pre_tokenizers.ByteLevel(add_prefix_space=False),
    "ByteLevelPrefix": pre_tokenizers.ByteLevel(add_prefix_space=True),
    "ByteLevelNoRegex": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    "MetaspaceAlways": pre_tokenizers.Metaspace(prepend_scheme="always"),
    "MetaspaceFirst": pre_tokenizers.Metaspace(prepend_scheme="first"),
    "MetaspaceNever": pre_tokenizers.Metaspace(prepend_scheme="never", split=False),
    "Whitespace": pre_tokenizers.Whitespace(), "WhitespaceSplit": pre_tokenizers.WhitespaceSplit(),
    "Punctuation": pre_tokenizers.Punctuation(), "PunctuationContiguous": pre_tokenizers.Punctuation("contiguous"),
    "Digits": pre_tokenizers.Digits(individual_digits=False),
    "DigitsOne": pre_tokenizers.Digits(individual_digits=True),
    "Bert": pre_tokenizers.BertPreTokenizer(), "UnicodeScripts": pre_tokenizers.UnicodeScripts(),
    "CharDelimiterSplit": pre_tokenizers.CharDelimiterSplit("e"),
    "FixedLength": pre_tokenizers.FixedLength(3),
    "Sequence": pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(True),
                                         pre_tokenizers.Punctuation()]),
}


@pytest.mark.parametrize("name", list(PRE_TOKENIZERS))
def test_pre_tokenizer(name):
    pre = PRE_TOKENIZERS[name]
    byte_level = name.startswith("ByteLevel")
    hf = Tokenizer(models.BPE(unk_token=None if byte_level else "[UNK]"))
    hf.pre_tokenizer = pre
    hf.decoder = decoders.ByteLevel() if byte_level else None
    kwargs = {"initial_alphabet": pre_tokenizers.ByteLevel.alphabet()} if byte_level else {}
    train(hf, "BPE", **kwargs)
    ours = ours_of(hf)
    for text in TEXTS:
        assert ours.pre_tokenizer.pre_tokenize_str(text) == pre.pre_tokenize_str(text), text
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


MODELS = {
    "BPE": lambda: (models.BPE(unk_token="[UNK]"), {}),
    "BPE-fuse-unk": lambda: (models.BPE(unk_token="[UNK]", fuse_unk=True), {}),
    "BPE-no-unk": lambda: (models.BPE(), {}),
    "BPE-prefix-suffix": lambda: (models.BPE(unk_token="[UNK]", continuing_subword_prefix="##",
                                             end_of_word_suffix="</w>"),
                                  {"continuing_subword_prefix": "##", "end_of_word_suffix": "</w>"}),
    "BPE-ignore-merges": lambda: (models.BPE(unk_token="[UNK]", ignore_merges=True), {}),
    "BPE-dropout-0": lambda: (models.BPE(unk_token="[UNK]", dropout=0.0), {}),
    "WordPiece": lambda: (models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=12), {}),
    "WordLevel": lambda: (models.WordLevel(unk_token="[UNK]"), {}),
    "Unigram": lambda: (models.Unigram(), {}),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model(name):
    model, kwargs = MODELS[name]()
    hf = Tokenizer(model)
    hf.normalizer = normalizers.NFKC()
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    kind = name.split("-")[0]
    train(hf, kind, vocab_size=900, **kwargs)
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


def _byte_fallback_vocab(hf_model_cls):
    base = Tokenizer(models.BPE(unk_token="[UNK]"))
    base.pre_tokenizer = pre_tokenizers.Metaspace()
    train(base, "BPE", vocab_size=900)
    return base


def test_bpe_byte_fallback():
    base = _byte_fallback_vocab(models.BPE)
    vocab = base.get_vocab()
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    import json

    merges = json.loads(base.to_str())["model"]["merges"]
    hf = Tokenizer(models.BPE(vocab, [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges],
                              byte_fallback=True, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                    decoders.Strip(" ", 1, 0)])
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


def test_unigram_byte_fallback():
    pieces = [("[UNK]", 0.0)] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    base = Tokenizer(models.Unigram())
    base.pre_tokenizer = pre_tokenizers.Metaspace()
    train(base, "Unigram", vocab_size=1200)
    import json

    pieces += [tuple(p) for p in json.loads(base.to_str())["model"]["vocab"] if p[0] != "[UNK]"]
    hf = Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=True))
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Sequence([decoders.Metaspace(), decoders.ByteFallback()])
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


PROCESSORS = {
    "Template": lambda: processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                      special_tokens=[("[CLS]", 1), ("[SEP]", 2)]),
    "Bert": lambda: processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1)),
    "Roberta": lambda: processors.RobertaProcessing(("[SEP]", 2), ("[CLS]", 1)),
    "ByteLevel": lambda: processors.ByteLevel(trim_offsets=True),
    "Sequence": lambda: processors.Sequence([processors.ByteLevel(trim_offsets=True),
                                             processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                                           pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                                           special_tokens=[("[CLS]", 1),
                                                                                           ("[SEP]", 2)])]),
}


@pytest.mark.parametrize("name", list(PROCESSORS))
def test_post_processor(name):
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    hf.decoder = decoders.ByteLevel()
    train(hf, "BPE", initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.post_processor = PROCESSORS[name]()
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS, pairs=True)
    assert_round_trip(hf, ours, TEXTS[:40])


DECODERS = {
    "WordPiece": (decoders.WordPiece(), "WordPiece"), "WordPieceNoCleanup": (decoders.WordPiece(cleanup=False),
                                                                             "WordPiece"),
    "BPEDecoder": (decoders.BPEDecoder(suffix="</w>"), "BPE-suffix"),
    "CTC": (decoders.CTC(pad_token="[PAD]", word_delimiter_token="e"), "WordLevel"),
    "Strip": (decoders.Strip(" ", 1, 1), "WordLevel"), "Replace": (decoders.Replace("e", "3"), "WordLevel"),
    "Fuse": (decoders.Fuse(), "WordLevel"),
    "Metaspace": (decoders.Metaspace(), "Metaspace"),
    "Sequence": (decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)]),
                 "Metaspace"),
}


@pytest.mark.parametrize("name", list(DECODERS))
def test_decoder(name):
    decoder, kind = DECODERS[name]
    if kind == "BPE-suffix":
        hf = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
        hf.pre_tokenizer = pre_tokenizers.Whitespace()
        train(hf, "BPE", end_of_word_suffix="</w>")
    elif kind == "Metaspace":
        hf = Tokenizer(models.BPE(unk_token="[UNK]"))
        hf.pre_tokenizer = pre_tokenizers.Metaspace()
        train(hf, "BPE")
    else:
        hf = Tokenizer(getattr(models, kind)(unk_token="[UNK]"))
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        train(hf, kind)
    hf.decoder = decoder
    ours = ours_of(hf)
    assert_same(hf, ours, TEXTS)
    assert_round_trip(hf, ours, TEXTS[:40])


@pytest.mark.parametrize("scheme", ["always", "first"])
def test_added_tokens(scheme):
    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.normalizer = normalizers.Lowercase()
    hf.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme)
    hf.decoder = decoders.Metaspace(prepend_scheme=scheme)
    train(hf, "BPE")
    hf.add_special_tokens([AddedToken("<S>", lstrip=True, rstrip=True), AddedToken("[MASK]", lstrip=True)])
    hf.add_tokens([AddedToken("hello", single_word=True), AddedToken("WORLD", normalized=True),
                   AddedToken("Raw", normalized=False, rstrip=True), AddedToken("é", normalized=False)])
    ours = ours_of(hf)
    texts = TEXTS + ["a <S> b", "x  [MASK]  y", "hello hellos ahello hello", "world WORLD World", "Raw  x Rawr",
                     "<S><S>[MASK]", "  <S>", "é e\u0301 É", "hello, hello!"]
    assert_same(hf, ours, texts)
    assert_round_trip(hf, ours, texts)
    # tiktoken-style contract: a special token is an error unless allowed
    from tokenlab.errors import SpecialTokenError

    with pytest.raises(SpecialTokenError):
        ours.encode("a <S> b")
    hf.encode_special_tokens = True
    for text in texts:
        assert ours.encode(text, disallowed_special=()) == hf.encode(text, add_special_tokens=False).ids, text


def test_unsupported_component_names_type_and_file(tmp_path):
    import json

    from tokenlab.io import load_tokenizer

    hf = bpe_with()
    d = json.loads(hf.to_str())
    d["pre_tokenizer"] = {"type": "SplitIntoHaiku", "lines": 3}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(d))
    with pytest.raises(FormatError, match=r"tokenizer\.json.*SplitIntoHaiku"):
        load_tokenizer(path)
    d["pre_tokenizer"] = None
    d["normalizer"] = {"type": "Frobnicate"}
    path.write_text(json.dumps(d))
    with pytest.raises(FormatError, match="Frobnicate"):
        load_tokenizer(path)


def test_written_file_reloads_as_the_same_pipeline(tmp_path):
    from tokenlab.io import load_tokenizer

    hf = bpe_with(norm=normalizers.BertNormalizer(), decoder=decoders.WordPiece())
    ours = ours_of(hf)
    ours.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(again, PipelineTokenizer)
    assert again.to_hf_dict() == ours.to_hf_dict()
    for text in TEXTS[:50]:
        assert again.encode_ordinary(text) == ours.encode_ordinary(text)


def test_split_regex_classes_follow_hf_unicode_tables():
    """Python's regex module and HF's Oniguruma disagree on some code points; the pinned classes decide."""
    pre = pre_tokenizers.Split(Regex(r"\p{L}+"), behavior="isolated")
    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.pre_tokenizer = pre
    ours = ours_of(train(hf, "BPE"))
    for text in ("t\U0003df32", " \U000190f1", "a\U00031350b"):
        assert ours.pre_tokenizer.pre_tokenize_str(text) == pre.pre_tokenize_str(text)


def test_bpe_dropout_is_seeded_and_matches_hf_at_the_extremes():
    from tokenlab.pipeline.models import BPE

    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    train(hf, "BPE", vocab_size=900)
    d = json.loads(hf.to_str())
    assert len(d["model"]["merges"]) > 100
    texts = TEXTS[:40]
    for p in (1.0,):  # every merge dropped: characters only, deterministic in HF too
        d["model"]["dropout"] = p
        ref = Tokenizer.from_str(json.dumps(d))
        ours = PipelineTokenizer.from_hf_dict(d)
        for text in texts:
            assert ours.encode_full(text).ids == ref.encode(text).ids, text
    d["model"]["dropout"] = 0.3
    runs = [PipelineTokenizer.from_hf_dict(d, seed=7) for _ in range(2)]
    ids = [[r.encode_ordinary(t) for t in texts] for r in runs]
    assert ids[0] == ids[1]  # same seed, same draws
    plain = [PipelineTokenizer.from_hf_dict({**d, "model": {**d["model"], "dropout": None}}).encode_ordinary(t)
             for t in texts]
    assert ids[0] != plain  # dropout changed some segmentation
    model = BPE.from_dict(d["model"], seed=1)
    assert model.dropout == 0.3


def test_bad_input_is_a_clear_error():
    from tokenlab.errors import InvalidInputError

    ours = ours_of(bpe_with())
    for bad in ("a\ud800", b"x", None):
        with pytest.raises(InvalidInputError):
            ours.encode(bad)
    with pytest.raises(InvalidInputError, match="unknown token id"):
        ours.decode([10**9])
    assert ours.encode("") == [] and ours.decode([]) == ""
