"""Unigram LM: Viterbi vs brute force and vs SentencePiece's own decoder, sampling vs the exact
distribution, trainer vs SentencePiece's compression, HF tokenizer.json export id-for-id."""

from __future__ import annotations

import io
import json
import math
import random
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.encode.lattice import nbest
from tokenlab.encode.methods import segmentations, vocab_index
from tokenlab.errors import FormatError, InvalidInputError
from tokenlab.io import load_tokenizer
from tokenlab.models.unigram import UnigramModel
from tokenlab.train.unigram import digamma, train_unigram

VOCAB = 1500


def _topics() -> list[str]:
    import pydoc_data.topics

    return [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]


@pytest.fixture(scope="module")
def train_text(real_docs):
    """~300 KB: Python docs prose (first topics), some stdlib code, 25 languages."""
    return "".join(_topics()[:50])[:220_000] + real_docs[1][:60_000] + "".join(real_docs[-26:]) * 2


@pytest.fixture(scope="module")
def model(train_text):
    return train_unigram([train_text], vocab_size=VOCAB, pretokenizer="gpt2",
                         special_tokens=["<|endoftext|>"], progress=False)


@pytest.fixture(scope="module")
def held_out(real_docs):
    """Text the trainer never saw (other docs topics, other code) plus the 25 languages."""
    return real_docs[2][:20_000] + "".join(_topics()[60:])[:30_000] + "".join(real_docs[-26:])


def short_pieces(model, text, lo=3, hi=10, limit=200):
    out = [p.encode() for p in dict.fromkeys(model.pretokenizer.split(text)) if lo <= len(p.encode()) <= hi]
    return out[:limit]


def test_trained_model_layout(model, train_text):
    assert len(model) == VOCAB
    assert [model.vocab[bytes([b])] for b in range(256)] == list(range(256))
    pieces = sorted(model.vocab.items(), key=lambda kv: kv[1])
    assert [i for _, i in pieces] == list(range(VOCAB - 1))
    assert model.special_tokens == {"<|endoftext|>": VOCAB - 1}
    scores = [model.scores[t] for t, i in pieces[256:]]
    assert scores == sorted(scores, reverse=True)
    assert all(math.isfinite(s) and s < 0 for s in model.scores.values())
    data = train_text.encode()
    assert all(t in data for t, _ in pieces[256:])  # seeds are substrings of the corpus
    for word in (b" the", b" of", b"ing"):
        assert word in model.vocab
    # multi-byte pieces never cut a UTF-8 character
    for t, _ in pieces[256:]:
        t.decode("utf-8")


def test_viterbi_is_the_best_segmentation(model, held_out):
    idx = vocab_index(model)
    several = 0
    for data in short_pieces(model, held_out):
        segs = list(segmentations(idx, data))
        several += len(segs) > 1
        best = max(model.score(s) for s in segs)
        assert model.score(model.encode_piece(data)) == pytest.approx(best, abs=1e-9)
    assert several > 50


def test_viterbi_equals_sentencepiece_on_its_own_model(train_text, held_out):
    """Load SentencePiece's trained pieces and scores into our model: our Viterbi must reproduce
    SentencePiece's encoding exactly (whitespace shown as U+2581, one lattice per line)."""
    spm = pytest.importorskip("sentencepiece")
    lines = [ln for ln in train_text[:120_000].splitlines() if ln.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=1000, model_type="unigram", byte_fallback=True,
        character_coverage=1.0, max_sentencepiece_length=16, split_by_whitespace=False, add_dummy_prefix=False,
        remove_extra_whitespaces=False, normalization_rule_name="identity", minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    vocab, scores = {}, {}
    for i in range(sp.get_piece_size()):
        if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)):
            vocab[sp.id_to_piece(i).encode()] = i
            scores[sp.id_to_piece(i).encode()] = sp.get_score(i)
    for i in range(sp.get_piece_size()):
        if sp.is_byte(i):  # byte fallback pieces: only for characters the model lacks
            b = bytes([int(sp.id_to_piece(i)[3:5], 16)])
            if b not in vocab:
                vocab[b], scores[b] = i, -1e4
    ours = UnigramModel(vocab, scores, pretokenizer=None)
    test_lines = [ln for ln in held_out.splitlines() if ln.strip()]
    assert len(test_lines) > 300
    ties = 0
    for ln in test_lines:
        mine, theirs = ours.encode(ln.replace(" ", "\u2581")), sp.encode(ln)
        if mine != theirs:
            # only exact ties may differ (e.g. a run of '*' cut 6+6+8 or 6+8+6: SentencePiece sums
            # float32 scores, so its rounding picks among equals)
            assert ours.score(mine) == pytest.approx(ours.score(theirs), abs=1e-4), ln
            ties += 1
    assert ties <= len(test_lines) // 50


def test_compression_in_sentencepiece_range(model, train_text, held_out):
    spm = pytest.importorskip("sentencepiece")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([ln for ln in train_text.splitlines() if ln.strip()]), model_writer=buf,
        vocab_size=VOCAB, model_type="unigram", byte_fallback=True, character_coverage=1.0,
        max_sentencepiece_length=16, add_dummy_prefix=False, remove_extra_whitespaces=False,
        normalization_rule_name="identity", minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    lines = [ln for ln in held_out.splitlines() if ln.strip()]
    n_bytes = sum(len(ln.encode()) for ln in lines)
    ours = n_bytes / sum(len(model.encode(ln)) for ln in lines)
    theirs = n_bytes / sum(len(sp.encode(ln)) for ln in lines)
    assert 0.85 * theirs < ours < 1.4 * theirs, (ours, theirs)


def _case_with_segmentations(model, text, lo, hi):
    idx = vocab_index(model)
    for data in short_pieces(model, text, 4, 9, limit=2000):
        segs = [tuple(s) for s in segmentations(idx, data)]
        if lo <= len(segs) <= hi:
            return data, segs
    raise AssertionError("no suitable pretoken")


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_sampling_matches_exact_distribution(model, held_out, alpha):
    data, segs = _case_with_segmentations(model, held_out, 4, 12)
    weights = [math.exp(alpha * model.score(s)) for s in segs]
    z = sum(weights)
    text = data.decode()
    rng = random.Random(9)
    n = 3000
    seen = Counter(tuple(model.sample(text, alpha=alpha, rng=rng)) for _ in range(n))
    assert set(seen) <= set(segs)
    for s, w in zip(segs, weights):
        p = w / z
        assert abs(seen[s] - n * p) <= 5 * (n * p * (1 - p)) ** 0.5 + 2, (s, seen[s], n * p)


def test_nbest_and_nbest_sampling(model, held_out):
    data, segs = _case_with_segmentations(model, held_out, 6, 40)
    ranked = sorted(segs, key=model.score, reverse=True)
    got = nbest(vocab_index(model).lattice(data), model.score_by_id, 4)
    assert [round(s, 9) for s, _ in got] == [round(model.score(s), 9) for s in ranked[:4]]
    assert all(model.score(ids) == pytest.approx(s) for s, ids in got)
    samples = {tuple(model.sample(data.decode(), alpha=0.0, nbest_size=3, seed=k)) for k in range(200)}
    assert samples <= {tuple(ids) for _, ids in got[:3]} and len(samples) > 1
    assert model.sample(data.decode(), nbest_size=1, seed=0) == model.encode(data.decode())


def test_sampling_round_trip_and_seed(model, held_out):
    a = model.sample(held_out, alpha=0.2, seed=1)
    assert model.decode(a) == held_out
    assert a == model.sample(held_out, alpha=0.2, seed=1)
    assert a != model.sample(held_out, alpha=0.2, seed=2)
    assert a != model.encode(held_out)
    with pytest.raises(InvalidInputError):
        model.sample("x", nbest_size=0)
    with pytest.raises(InvalidInputError):
        model.sample("x", alpha=-1)


def test_encode_round_trip_and_specials(model, held_out):
    assert model.decode(model.encode(held_out)) == held_out
    unseen = "Ωμέγα ⚙️ \x00\xff 𝄞 " + "".join(chr(c) for c in range(0x4E00, 0x4E40))
    assert model.decode(model.encode(unseen)) == unseen  # byte fallback
    ids = model.encode("a<|endoftext|>b", allowed_special="all")
    assert ids[1] == VOCAB - 1 and model.decode(ids) == "a<|endoftext|>b"
    with pytest.raises(Exception, match="special token"):
        model.encode("a<|endoftext|>b")


def test_save_load_and_format_registry(model, held_out, tmp_path):
    path = tmp_path / "uni.json"
    model.save(path)
    again = load_tokenizer(path)
    assert isinstance(again, UnigramModel)
    assert again.vocab == model.vocab and again.scores == model.scores
    assert again.encode(held_out) == model.encode(held_out)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "unigram", "pieces": [["!!", 0, 0.0]]}))
    with pytest.raises(FormatError):
        load_tokenizer(bad)
    d = model.to_dict()
    d["pieces"] = [p for p in d["pieces"] if p[1] != 65]  # drop byte "A"
    with pytest.raises(FormatError, match="byte"):
        UnigramModel.from_dict(d)


def test_hf_export_gives_identical_ids(model, held_out, real_docs, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    model.save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    text = held_out + real_docs[7][:20_000] + "\x00\xff 𝄞 東京"
    ids = model.encode(text)
    assert hf.encode(text, add_special_tokens=False).ids == ids
    assert hf.decode(ids) == text
    assert hf.encode("x<|endoftext|>y", add_special_tokens=False).ids == model.encode("x<|endoftext|>y",
                                                                                       allowed_special="all")


def test_digamma_matches_scipy():
    special = pytest.importorskip("scipy.special")
    for x in (0.01, 0.5, 1.0, 2.5, 7.0, 123.4, 1e6):
        assert digamma(x) == pytest.approx(float(special.digamma(x)), rel=1e-10, abs=1e-10)


def test_trainer_bad_input():
    with pytest.raises(InvalidInputError):
        train_unigram(["abc"], vocab_size=256, progress=False)
    with pytest.raises(InvalidInputError):
        train_unigram([], vocab_size=500, progress=False)
    with pytest.raises(InvalidInputError):
        train_unigram(["abc"], vocab_size=500, shrink=1.5, progress=False)


# ---------------------------------------------------------------- CLI
def test_cli_train_encode_export(tmp_path, train_text, held_out):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(train_text[:60_000], encoding="utf-8")
    out = tmp_path / "u.json"
    runner = CliRunner()
    res = runner.invoke(main, ["train", str(corpus), "-o", str(out), "--algorithm", "unigram", "--vocab-size", "600",
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    model = load_tokenizer(out)
    assert isinstance(model, UnigramModel) and len(model) == 600
    text = held_out[:3000]
    for method in ("merge", "viterbi"):
        res = runner.invoke(main, ["encode", "-t", str(out), "--method", method, "-i", "-"], input=text)
        assert res.exit_code == 0, res.output
        assert [int(x) for x in res.stdout.split()] == model.encode(text)
    for method, opt in (("unigram-sample", "alpha=0.1"), ("pathpiece", "seed=0"), ("stochastok", "p=0.3")):
        res = runner.invoke(main, ["encode", "-t", str(out), "--method", method, "--option", opt, "-i", "-"],
                            input=text)
        assert res.exit_code == 0, res.output
        assert model.decode([int(x) for x in res.stdout.split()]) == text
    hf_path = tmp_path / "hf.json"
    res = runner.invoke(main, ["unigram-to-hf", str(out), "-o", str(hf_path)])
    assert res.exit_code == 0, res.output
    import tokenizers

    assert tokenizers.Tokenizer.from_file(str(hf_path)).encode(text).ids == model.encode(text)
    res = runner.invoke(main, ["decode", "-t", str(out)] + [str(i) for i in model.encode(text[:200])])
    assert res.exit_code == 0 and res.stdout.rstrip("\n") == text[:200].rstrip("\n")


@pytest.mark.parametrize("args", [
    ["--vocab-size", "257", "--special", "<s>"],
    ["--vocab-size", "600", "--format", "tiktoken"],
])
def test_cli_train_bad_input(args, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("some words and more words " * 50, encoding="utf-8")
    res = CliRunner().invoke(main, ["train", str(corpus), "-o", str(tmp_path / "o.json"), "--algorithm", "unigram",
                                    "--no-progress"] + args)
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.json").exists()


def test_cli_train_unigram_straight_to_hf(tmp_path):
    import tokenizers

    corpus = tmp_path / "c.txt"
    text = "some words and more words, then tokens " * 50
    corpus.write_text(text, encoding="utf-8")
    out = tmp_path / "tokenizer.json"
    res = CliRunner().invoke(main, ["train", str(corpus), "-o", str(out), "--algorithm", "unigram",
                                    "--vocab-size", "400", "--format", "hf", "--no-progress"])
    assert res.exit_code == 0, res.output
    hf = tokenizers.Tokenizer.from_file(str(out))
    model = train_unigram([text], vocab_size=400, progress=False)
    assert hf.encode(text[:300]).ids == model.encode(text[:300])


def test_cli_unigram_to_hf_rejects_bpe(trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained.save(path)
    res = CliRunner().invoke(main, ["unigram-to-hf", str(path), "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 1 and res.stderr.startswith("error: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=50), st.integers(0, 2**32))
def test_unigram_decodes_arbitrary_unicode(model, s, seed):
    assert model.decode(model.encode(s, disallowed_special=())) == s
    assert model.decode(model.sample(s, alpha=0.5, seed=seed, disallowed_special=())) == s


def test_trainer_respects_pretokenizer_and_split_digits(real_docs):
    text = real_docs[4][:40_000] + " ".join(str(k * 7919) for k in range(3000))
    m = train_unigram([text], vocab_size=500, pretokenizer="cl100k", split_digits=1, progress=False)
    assert m.pretokenizer.pattern == "cl100k" and m.pretokenizer.split_digits == 1
    assert not any(sum(48 <= b <= 57 for b in t) > 1 for t in m.vocab)  # digits never glued
    assert m.decode(m.encode(text)) == text
    # pieces never cross a pretoken boundary
    pieces = set(m.pretokenizer.split(text))
    for t in list(m.vocab)[256:]:
        assert any(t in p.encode() for p in pieces)


@pytest.mark.parametrize("option", ["alpha=abc", "alpha=-1", "nbest_size=0", "nbest_size=2.5", "smoothing=0",
                                    "smoothing=x", "temperature=1"])
def test_cli_unigram_sample_bad_options(option, trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained.save(path)
    res = CliRunner().invoke(main, ["encode", "-t", str(path), "--method", "unigram-sample", "--option", option,
                                    "some text"])
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
