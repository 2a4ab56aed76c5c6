"""SentencePiece Unigram ids equal sentencepiece's where paths tie (issue 11, finding 2): sentencepiece keeps
best-path scores as float32 (re-based past +-100000) and keeps the first best candidate; user-defined symbols score
0.1 * (UTF-8 length - 1). HF's Unigram sums in float64 and each of our paths follows its own reference."""

from __future__ import annotations

import io
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenlab.io.sentencepiece import parse_sentencepiece

from adversarial_text import adversarial_document, multilingual_lines

spm = pytest.importorskip("sentencepiece")

CONFIGS = {
    "bytes": {"byte_fallback": True},
    "nfkc_cf": {"normalization_rule_name": "nmt_nfkc_cf"},
    "identity-user": {"normalization_rule_name": "identity",
                      "user_defined_symbols": ["<sep>", "<cls>", "[MASK]", "ab"]},
    "default": {},
}


@pytest.fixture(scope="module")
def corpus(real_docs):
    lines = [line for doc in real_docs[::3] for line in doc.split("\n") if line.strip()]
    rng = random.Random(5)
    extra = [adversarial_document(rng, 200) for _ in range(60)]
    return lines[:12000] + real_docs[-26:] + extra


@pytest.fixture(scope="module")
def models(corpus):
    out = _Models()
    for name, config in CONFIGS.items():
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=buf, vocab_size=4000,
                                       model_type="unigram", character_coverage=0.995, minloglevel=2,
                                       num_threads=1, hard_vocab_limit=False, **config)
        out[name] = buf.getvalue()
    return out


@pytest.fixture(scope="module")
def documents(real_docs):
    """600 documents never seen in training: adversarial text, real prose/code and x-runs that tie."""
    rng = random.Random(2026)
    lines = multilingual_lines()
    docs = [adversarial_document(rng, rng.randrange(20, 400), lines) for _ in range(400)]
    docs += [doc[:600] for doc in real_docs[1::3][:150]]
    docs += ["Z" + "x" * n for n in range(1, 12)] + ["x" * n for n in range(1, 30)] + ["Zxxx", "Zxxx Zxxxx xxZ"]
    docs += [f"{a}<sep>{b}[MASK] <cls>" for a, b in zip(docs[:40], docs[40:80])]
    return docs


@pytest.mark.parametrize("name", list(CONFIGS))
def test_trained_unigram_equals_sentencepiece(models, documents, name):
    ours = parse_sentencepiece(models[name])
    ref = spm.SentencePieceProcessor(model_proto=models[name])
    assert ours.model_type == "unigram"
    bad = [d for d in documents if ours.encode_ordinary(d) != ref.encode(d)]
    assert len(documents) >= 500 and not bad, (len(bad), [(d[:40], ours.pieces_of(ours.encode_ordinary(d))[:12],
                                                          ref.encode(d, out_type=str)[:12]) for d in bad[:3]])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["x", "xx", "Z", "Zx", " ", "a", "b", "ab", "<sep>", "[MASK]", "é", "😀", "\u3000"]),
                max_size=16).map("".join)
       | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_hypothesis_unigram_equals_sentencepiece(models, text):
    for name in CONFIGS:
        ours, ref = _cached(models, name)
        assert ours.encode_ordinary(text) == ref.encode(text), name


class _Models(dict):
    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"<{len(self)} sentencepiece models>"


_MODELS: dict = {}


def _cached(models, name):
    if name not in _MODELS:
        _MODELS[name] = (parse_sentencepiece(models[name]), spm.SentencePieceProcessor(model_proto=models[name]))
    return _MODELS[name]


def test_user_defined_symbol_ties(corpus):
    """User-defined symbols score 0.1 * (UTF-8 length - 1) in float32 (sentencepiece 0.2.3, whatever the file
    says); a symbol ('xx') competes with normal pieces ('x' twice): 'Zxxxxxxxxx' -> '▁Z', 'xx' * 4, 'x'."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=buf, vocab_size=4000,
                                   model_type="unigram", character_coverage=0.995, minloglevel=2, num_threads=1,
                                   hard_vocab_limit=False, normalization_rule_name="identity",
                                   user_defined_symbols=["xx", "▁Z"])
    ours = parse_sentencepiece(buf.getvalue())
    ref = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    texts = ["Z" + "x" * k for k in range(30)] + ["x" * k + "▁Z" * (k % 3) for k in range(30)]
    assert [ours.encode_ordinary(t) for t in texts] == [ref.encode(t) for t in texts]


def test_long_text_rebases_path_scores(models, real_docs):
    """Past |score| 100000 sentencepiece re-bases the float32 path scores; a 200 KB document crosses it often."""
    text = max(real_docs[:200], key=len)
    assert len(text) > 100_000
    for name in ("default", "bytes"):
        ours, ref = _cached(models, name)
        assert ours.encode_ordinary(text) == ref.encode(text), name


@pytest.mark.parametrize("name", ["default", "bytes"])
def test_hf_unigram_keeps_float64_ties(models, documents, name):
    """The HF Unigram path (tokenizer.json) equals HF tokenizers, which sums in float64 (and fuses the unknown
    piece's own text, "<unk>" in the input, into a run of unknown characters)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io import load_tokenizer

    sp = parse_sentencepiece(models[name])
    vocab = [(piece, score) for piece, score, _ in sp.pieces]
    hf = tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, unk_id=sp.unk_id, byte_fallback=sp.byte_fallback))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
    hf.decoder = tokenizers.decoders.Metaspace()
    path = _tmp_json(hf)
    ours = load_tokenizer(path)
    for doc in documents + ["a<unk>b", "\U00013000<unk>", "<unk>"]:
        assert ours.encode(doc) == hf.encode(doc, add_special_tokens=False).ids, doc[:60]


def _tmp_json(hf) -> str:
    import tempfile

    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8")
    json.dump(json.loads(hf.to_str()), f, ensure_ascii=False)
    f.close()
    return f.name


def test_tokenlab_unigram_export_ties_like_hf(documents, tmp_path):
    """tokenlab's own Unigram (encode/lattice.py, doubles, longer last token on ties) exported as tokenizer.json:
    HF tokenizers gives the same ids on adversarial and tie-heavy text."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.demo import demo_corpus
    from tokenlab.train.unigram import train_unigram

    model = train_unigram([demo_corpus()], vocab_size=800, pretokenizer="gpt2", special_tokens=["<|endoftext|>"],
                          progress=False)
    path = tmp_path / "u.json"
    model.save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    runs = [c * n for c in "xae 1." for n in range(1, 40)] + ["ab" * n + "a" for n in range(30)]
    for doc in documents[:300] + runs:
        assert hf.encode(doc, add_special_tokens=False).ids == model.encode(doc, allowed_special="all"), doc[:60]
