"""Checks written for mutants that survived `scripts/mutation.sh` on the Unigram and SentencePiece modules and the
BPE trainer (see docs/testing.md, "Mutation testing"). Each compares with a definition computed here by brute
force, or with the sentencepiece library itself, never with constants taken from the implementation."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import numpy as np
import pytest

from tokenlab.errors import FormatError, InvalidInputError
from tokenlab.models.unigram import (
    UnigramModel,
    encode_unigram_sample,
    encode_viterbi,
    load_unigram,
    quantize,
    unigram_for,
    unigram_from_bpe,
)

# ---------------------------------------------------------------------------------------------- Unigram model
# A hand vocabulary over all 256 bytes plus a few longer pieces; scores are not dyadic, so no two segmentations
# of the texts below tie.
EXTRA = {b"ab": -2.1, b"abc": -3.3, b"bc": -1.7, b"cd": -2.9, b"bcd": -3.9, b"abcd": -6.1, b" a": -1.3, b"dd": -2.2}
BYTE_SCORE = -4.05


def hand_model(pretokenizer=None, specials=None, name="hand") -> UnigramModel:
    vocab = {bytes([b]): b for b in range(256)}
    scores = {bytes([b]): BYTE_SCORE - b / 1000 for b in range(256)}
    for k, (piece, score) in enumerate(EXTRA.items()):
        vocab[piece] = 256 + k
        scores[piece] = score
    return UnigramModel(vocab, scores, pretokenizer, special_tokens=specials, name=name)


def all_segmentations(model: UnigramModel, data: bytes):
    """Every split of ``data`` into pieces of ``model`` (brute force)."""
    if not data:
        yield []
        return
    for k in range(1, len(data) + 1):
        head = data[:k]
        if head in model.vocab:
            for rest in all_segmentations(model, data[k:]):
                yield [model.vocab[head], *rest]


def segmentation_score(model: UnigramModel, ids) -> float:
    by_id = {i: model.scores[t] for t, i in model.vocab.items()}
    return sum(by_id[i] for i in ids)


def best_by_brute_force(model, data: bytes) -> list[int]:
    return max(all_segmentations(model, data), key=lambda ids: segmentation_score(model, ids))


TEXTS = ["abcd", "abc abcd", "bcdd ab", "xabcdab", "dddd", "a", "cab bcd abcdabcd", "é漢"]


def test_quantize_is_the_nearest_multiple_of_the_quantum():
    quantum = 2.0 ** -10
    rng = random.Random(3)
    for x in [rng.uniform(-30, 0) for _ in range(200)] + [0.0, -quantum * 0.49, -quantum * 0.51]:
        q = quantize(x)
        assert (q / quantum).is_integer()
        assert abs(q - x) <= quantum / 2 + 1e-15


def test_viterbi_is_the_brute_force_best_segmentation():
    model = hand_model()
    for text in TEXTS:
        want = best_by_brute_force(model, text.encode())
        assert model.encode(text) == want, text
        assert model.encode_ordinary(text) == want, text
        assert model.encode_piece(text.encode()) == want  # second call: from the cache
        assert model.score(want) == pytest.approx(segmentation_score(model, want))
    arr = model.encode("abcd", as_array=True)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint32 and arr.tolist() == model.encode("abcd")


def test_pretokenizer_splits_before_the_lattice():
    model = hand_model("gpt2")
    pre = model.pretokenizer.split("ab abcd")
    assert pre == ["ab", " abcd"]
    assert model.encode("ab abcd") == [i for p in pre for i in best_by_brute_force(model, p.encode())]


def test_tables_follow_the_vocab_and_specials():
    model = hand_model(specials={"<s>": 300})
    assert model.n_vocab == 301 and len(model) == 256 + len(EXTRA) + 1
    assert model.byte_ids == [model.vocab[bytes([b])] for b in range(256)]
    table = model.score_by_id
    assert len(table) == 301
    for t, i in model.vocab.items():
        assert table[i] == model.scores[t]
    assert table[300] == -math.inf and table[270] == -math.inf  # the special and the unused id
    assert repr(model) == ("UnigramModel(name='hand', pieces=264, specials=1, pretokenizer="
                           f"{model.pretokenizer.name})")
    # specials: an error in text unless allowed; encode_ordinary reads them as text
    assert model.encode("ab<s>", allowed_special="all") == best_by_brute_force(model, b"ab") + [300]
    assert model.encode("ab<s>", disallowed_special=()) == best_by_brute_force(model, b"ab<s>")
    assert model.encode_ordinary("ab<s>") == best_by_brute_force(model, b"ab<s>")
    with pytest.raises(Exception, match="special token"):
        model.encode("ab<s>")
    assert hand_model().special_tokens == {} and hand_model().name == "hand"
    # scores for pieces outside the vocab are dropped
    vocab = {bytes([b]): b for b in range(256)}
    scores = {bytes([b]): -1.0 for b in range(256)} | {b"zz": -1.0}
    assert b"zz" not in UnigramModel(vocab, scores, None).scores


def test_constructor_refuses_broken_vocabularies():
    vocab = {bytes([b]): b for b in range(256)}
    scores = {t: -1.0 for t in vocab}
    with pytest.raises(FormatError, match="^vocab has two pieces with the same id$"):
        UnigramModel(vocab | {b"ab": 3}, scores | {b"ab": -1.0}, None)
    with pytest.raises(FormatError, match="^special token ids collide with piece ids$"):
        UnigramModel(vocab, scores, None, special_tokens={"<s>": 7})
    short = {t: i for t, i in vocab.items() if t not in (b"A", b"B")}
    with pytest.raises(FormatError, match=r"^unigram vocab lacks 2 single-byte pieces \(e\.g\. byte 65\); "
                                          "byte fallback needs all 256$"):
        UnigramModel(short, scores, None)
    for bad in (math.inf, math.nan, -math.inf):
        with pytest.raises(FormatError, match=r"^1 pieces have no finite score \(e\.g\. b'ab'\)$"):
            UnigramModel(vocab | {b"ab": 300}, scores | {b"ab": bad}, None)
    with pytest.raises(FormatError, match=r"^1 pieces have no finite score \(e\.g\. b'ab'\)$"):
        UnigramModel(vocab | {b"ab": 300}, scores, None)  # no score at all


def exact_law(model, data: bytes, alpha: float, nbest_size: int) -> dict[tuple, float]:
    """P(seg) proportional to exp(alpha * score(seg)) over all segmentations or the nbest_size best."""
    segs = sorted((tuple(s) for s in all_segmentations(model, data)), key=lambda s: -segmentation_score(model, s))
    if nbest_size > 0:
        segs = segs[:nbest_size]
    weights = [math.exp(alpha * segmentation_score(model, s)) for s in segs]
    z = sum(weights)
    return {s: w / z for s, w in zip(segs, weights)}


@pytest.mark.parametrize("alpha,nbest_size", [(0.5, 3), (1.3, 4), (0.0, 2), (0.7, -1), (2.0, -1)])
def test_sampling_follows_the_law(alpha, nbest_size):
    model = hand_model()
    data = b"abcd"
    law = exact_law(model, data, alpha, nbest_size)
    rng = random.Random(11)
    n = 4000
    seen = Counter(tuple(model.sample(data.decode(), alpha=alpha, nbest_size=nbest_size, rng=rng)) for _ in range(n))
    assert set(seen) <= set(law)
    for s, p in law.items():
        assert abs(seen[s] - n * p) <= 5 * (n * p * (1 - p)) ** 0.5 + 3, (s, seen[s], n * p)


def test_sampling_tables_are_kept_apart_per_setting():
    """The same model samples with several settings in turn; each keeps its own law."""
    model = hand_model()
    data = b"abcd"
    for alpha, nbest_size in [(0.0, 3), (3.0, 3), (0.0, -1), (3.0, -1), (0.0, 3)]:
        law = exact_law(model, data, alpha, nbest_size)
        seen = Counter(tuple(model.sample("abcd", alpha=alpha, nbest_size=nbest_size, seed=k)) for k in range(1500))
        assert set(seen) <= set(law)
        top = max(law, key=law.get)
        assert abs(seen[top] / 1500 - law[top]) < 0.06, (alpha, nbest_size)


def test_sample_arguments():
    model = hand_model(specials={"<s>": 300})
    assert model.sample("abcd abc", nbest_size=1, seed=5) == model.encode("abcd abc")
    assert model.sample("abcd", seed=4) == model.sample("abcd", rng=random.Random(4))
    assert model.sample("ab<s>", allowed_special="all", seed=1)[-1] == 300
    assert model.sample("ab<s>", disallowed_special=(), nbest_size=1) == best_by_brute_force(model, b"ab<s>")
    with pytest.raises(Exception, match="special token"):
        model.sample("ab<s>")
    for kwargs, message in [({"alpha": -0.5}, "^alpha must be >= 0, got -0.5$"),
                            ({"alpha": math.nan}, "^alpha must be >= 0, got nan$"),
                            ({"alpha": "x"}, "^alpha must be a number, got 'x'$"),
                            ({"alpha": None}, "^alpha must be a number, got None$"),
                            ({"nbest_size": 0}, r"^nbest_size must be -1 \(all\) or >= 1, got 0$"),
                            ({"nbest_size": -2}, r"^nbest_size must be -1 \(all\) or >= 1, got -2$"),
                            ({"nbest_size": 2.5}, "^nbest_size must be an integer, got 2.5$"),
                            ({"nbest_size": [1]}, r"^nbest_size must be a number, got \[1\]$")]:
        with pytest.raises(InvalidInputError, match=message):
            model.sample("ab", **kwargs)
    # integral floats and numeric strings are accepted as their value
    assert model.sample("abcd", nbest_size=2.0, seed=3) == model.sample("abcd", nbest_size=2, seed=3)
    assert model.sample("abcd", nbest_size="2", alpha="0.5", seed=3) == model.sample("abcd", nbest_size=2, alpha=0.5,
                                                                                      seed=3)


def test_file_round_trip_and_errors(tmp_path):
    model = hand_model("gpt2", specials={"<s>": 300}, name="uni")
    d = model.to_dict()
    assert d["format"] == "unigram" and d["name"] == "uni" and d["special_tokens"] == {"<s>": 300}
    assert [p[1] for p in d["pieces"]] == sorted(model.vocab.values())
    path = tmp_path / "u.json"
    path.write_text(json.dumps(d))
    again = load_unigram(path)
    assert again.vocab == model.vocab and again.scores == model.scores and again.name == "uni"
    assert again.special_tokens == {"<s>": 300} and again.pretokenizer.to_dict() == model.pretokenizer.to_dict()
    assert UnigramModel.load(path).encode("abcd ab") == model.encode("abcd ab")
    assert again.encode("x <s>", allowed_special="all") == model.encode("x <s>", allowed_special="all")
    bare = {k: v for k, v in d.items() if k not in ("name", "special_tokens", "pretokenizer", "version")}
    plain = UnigramModel.from_dict(bare)
    assert plain.name == "" and plain.special_tokens == {} and plain.pretokenizer.split("ab cd") == ["ab cd"]
    with pytest.raises(FormatError, match='^not a tokenlab unigram file \\(missing "format": "unigram"\\)$'):
        UnigramModel.from_dict({"format": "bpe"})
    with pytest.raises(FormatError, match="^not a tokenlab unigram file"):
        UnigramModel.from_dict([])
    with pytest.raises(FormatError, match="^unigram file version 2 is newer than this tokenlab supports$"):
        UnigramModel.from_dict(d | {"version": 2})
    assert UnigramModel.from_dict(d | {"version": 1}).vocab == model.vocab
    for broken in ({"pieces": [["QQ==", 0]]}, {"pieces": [["!!", 0, 0.0]]}, {"pieces": [["QQ==", "x", 0.0]]},
                   {"pieces": None}, {}):
        with pytest.raises(FormatError, match="^corrupt unigram file: "):
            UnigramModel.from_dict({"format": "unigram", **broken})
    with pytest.raises(FormatError, match="byte fallback needs all 256"):
        UnigramModel.from_dict({"format": "unigram", "pieces": [["QQ==", 0, 0.0]]})
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{\xff")
    with pytest.raises(FormatError, match=f"^{bad}: corrupt JSON"):
        load_unigram(bad)
    bad.write_text("{")
    with pytest.raises(FormatError, match=f"^{bad}: corrupt JSON"):
        load_unigram(bad)


def test_unigram_files_are_a_registered_format(tmp_path):
    from tokenlab.io import JSON_FORMATS, load_tokenizer

    assert JSON_FORMATS["unigram"] == "tokenlab.models.unigram:load_unigram"
    path = tmp_path / "u.json"
    path.write_text(json.dumps(hand_model().to_dict()))
    assert isinstance(load_tokenizer(path), UnigramModel)


@pytest.fixture(scope="module")
def small_bpe():
    from tokenlab.train.bpe import train_bpe

    corpus = ["the cat sat on the mat, the end. " * 5, "a bat and a hat: that is that. " * 4]
    return train_bpe(corpus, vocab_size=280, special_tokens=["<|end|>"], name="tiny")


def test_unigram_from_bpe_is_add_smoothing_frequencies(small_bpe):
    docs = ["the cat and the hat", "that mat", "ünïcode"]
    for smoothing in (1.0, 0.25):
        model = unigram_from_bpe(small_bpe, docs, smoothing)
        counts = Counter(i for doc in docs for i in small_bpe.encode_ordinary(doc))
        total = sum(counts.values()) + smoothing * len(small_bpe.vocab)
        for t, i in small_bpe.vocab.items():
            want = math.log((counts[i] + smoothing) / total)
            assert abs(model.scores[t] - want) <= 2.0 ** -11
        assert model.vocab == small_bpe.vocab and model.special_tokens == small_bpe.special_tokens
        assert model.name == "tiny+unigram"
        assert model.pretokenizer.to_dict() == small_bpe.pretokenizer.to_dict()
    with pytest.raises(InvalidInputError, match="^smoothing must be > 0, got 0.0$"):
        unigram_from_bpe(small_bpe, docs, 0)
    with pytest.raises(InvalidInputError, match="^smoothing must be > 0, got nan$"):
        unigram_from_bpe(small_bpe, docs, math.nan)
    with pytest.raises(InvalidInputError, match="^corpus items must be str, got bytes$"):
        unigram_from_bpe(small_bpe, [b"x"])


def test_unigram_for_and_the_encode_methods(small_bpe, tmp_path):
    model = hand_model()
    assert unigram_for(model, "x") is model
    with pytest.raises(InvalidInputError, match="^a Unigram model has its own scores; drop the corpus option$"):
        unigram_for(model, "x", corpus="c.txt")
    text = "the cat sat"
    own = unigram_for(small_bpe, text)
    assert own.scores == unigram_from_bpe(small_bpe, [text]).scores
    assert unigram_for(small_bpe, text, smoothing=0.5).scores == unigram_from_bpe(small_bpe, [text], 0.5).scores
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("the hat that\n", encoding="utf-8")
    b.write_text("on the mat\n", encoding="utf-8")
    from_a = unigram_for(small_bpe, text, corpus=a)
    assert from_a.scores == unigram_from_bpe(small_bpe, ["the hat that\n"]).scores
    assert unigram_for(small_bpe, "other", corpus=str(a)) is from_a  # cached per corpus and smoothing
    assert unigram_for(small_bpe, text, corpus=a, smoothing=2.0) is not from_a
    assert unigram_for(small_bpe, text, corpus=a, smoothing=2.0).scores == unigram_from_bpe(
        small_bpe, ["the hat that\n"], 2.0).scores
    both = unigram_for(small_bpe, text, corpus=[a, b])
    assert both.scores == unigram_from_bpe(small_bpe, ["the hat that\n", "on the mat\n"]).scores
    # the method functions pass every option on
    special = "the<|end|>cat"
    want = unigram_from_bpe(small_bpe, ["the hat that\n"], 2.0).encode(special, allowed_special="all")
    assert encode_viterbi(small_bpe, special, allowed_special="all", corpus=a, smoothing=2.0) == want
    assert encode_viterbi(small_bpe, special, disallowed_special=()) == unigram_from_bpe(
        small_bpe, [special]).encode(special, disallowed_special=())
    with pytest.raises(Exception, match="special token"):
        encode_viterbi(small_bpe, special)
    ref = unigram_from_bpe(small_bpe, ["the hat that\n"], 2.0)
    got = encode_unigram_sample(small_bpe, special, allowed_special="all", alpha=0.3, nbest_size=3, seed=7,
                                corpus=a, smoothing=2.0)
    assert got == ref.sample(special, alpha=0.3, nbest_size=3, seed=7, allowed_special="all")
    assert encode_unigram_sample(small_bpe, special, rng=random.Random(2), disallowed_special=()) == unigram_from_bpe(
        small_bpe, [special]).sample(special, rng=random.Random(2), disallowed_special=())
    with pytest.raises(Exception, match="special token"):
        encode_unigram_sample(small_bpe, special)
    for k in range(5):
        assert encode_unigram_sample(small_bpe, text, seed=k) == own.sample(text, seed=k)
        assert encode_unigram_sample(small_bpe, text, seed=k, alpha=0.1, nbest_size=-1) == own.sample(
            text, alpha=0.1, nbest_size=-1, seed=k)


def test_module_defaults_match_the_documented_ones():
    """sample's documented defaults (alpha 0.1, all segmentations) hold for the function and the method."""
    model = hand_model()
    for k in range(5):
        assert model.sample("abcd ab", seed=k) == model.sample("abcd ab", alpha=0.1, nbest_size=-1, seed=k)


def _flip_tokenizer():
    """A BPE vocabulary where "abc" splits as ab|c or a|bc depending on the corpus counts and the smoothing."""
    from tokenlab.tokenizer import Tokenizer

    vocab = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257}
    return Tokenizer(vocab, [(b"a", b"b"), (b"b", b"c")], pretokenizer=None, special_tokens={"<e>": 258}, name="flip")


FLIP_CORPUS = "ab " * 10 + "bc " * 5 + "a"  # ab: 10, bc: 5, a: 1, c: 0


def _viterbi_by_definition(tok, corpus: str, smoothing: float, text: str) -> list[int]:
    """Add-smoothing log-probabilities of the corpus's BPE token counts, best segmentation by brute force."""
    counts = Counter(tok.encode_ordinary(corpus))
    total = sum(counts.values()) + smoothing * len(tok.vocab)
    score = {i: math.log((counts[i] + smoothing) / total) for i in tok.vocab.values()}

    def segs(data: bytes):
        if not data:
            yield []
        for k in range(1, len(data) + 1):
            if data[:k] in tok.vocab:
                for rest in segs(data[k:]):
                    yield [tok.vocab[data[:k]], *rest]
    return max(segs(text.encode()), key=lambda ids: sum(score[i] for i in ids))


def test_viterbi_methods_use_the_corpus_and_smoothing_they_are_given(tmp_path):
    tok = _flip_tokenizer()
    corpus = tmp_path / "c.txt"
    corpus.write_text(FLIP_CORPUS, encoding="utf-8")
    # (10 + s)(0 + s) against (1 + s)(5 + s): a|bc for s = 1, ab|c for s = 2 and s = 10
    by_s = {s: _viterbi_by_definition(tok, FLIP_CORPUS, s, "abc") for s in (1.0, 2.0, 10.0)}
    assert by_s[1.0] == [97, 257] and by_s[2.0] == by_s[10.0] == [256, 99]
    for s in (1.0, 2.0, 10.0):
        assert encode_viterbi(tok, "abc", corpus=corpus, smoothing=s) == by_s[s]
        assert encode_unigram_sample(tok, "abc", corpus=corpus, smoothing=s, nbest_size=1, seed=0) == by_s[s]
        # a large alpha concentrates the law on the best segmentation
        assert encode_unigram_sample(tok, "abc", corpus=corpus, smoothing=s, alpha=800.0, seed=1) == by_s[s]
    assert encode_viterbi(tok, "abc", corpus=corpus) == by_s[1.0]  # the documented default smoothing: add-one
    assert encode_unigram_sample(tok, "abc", corpus=corpus, nbest_size=1) == by_s[1.0]
    # without a corpus the text itself is counted
    text = FLIP_CORPUS + " abc"
    want = _viterbi_by_definition(tok, text, 10.0, text)
    assert encode_viterbi(tok, text, smoothing=10.0) == want
    assert encode_unigram_sample(tok, text, smoothing=10.0, nbest_size=1) == want
    # nbest_size and alpha are passed on: nbest_size=1 and a huge alpha always give Viterbi; alpha 0 does not
    for k in range(20):
        assert encode_unigram_sample(tok, "abc", corpus=corpus, nbest_size=1, alpha=0.0, seed=k) == by_s[1.0]
    drawn = {tuple(encode_unigram_sample(tok, "abc", corpus=corpus, alpha=0.0, nbest_size=2, seed=k))
             for k in range(40)}
    assert drawn == {(97, 257), (256, 99)}  # uniform over the two best
    with pytest.raises(InvalidInputError, match="^smoothing must be a number, got 'x'$"):
        unigram_from_bpe(tok, ["abc"], "x")


def test_high_alpha_sampling_stays_finite_on_long_pieces():
    """P(seg) ~ P^alpha with a large alpha on a long, improbable piece: the weights are taken relative to the
    best segmentation, so none underflows and the draw is the Viterbi one."""
    model = hand_model()
    text = "zqxjzqxjzqxjzqxj"  # 16 byte pieces, score about -65
    best = model.encode(text)
    for nbest_size in (2, 5, -1):
        for k in range(5):
            assert model.sample(text, alpha=60.0, nbest_size=nbest_size, seed=k) == best
    # a pretoken with one segmentation: every nbest_size gives it
    for nbest_size in (1, 2, 7, -1):
        assert model.sample("z", nbest_size=nbest_size, seed=3) == model.encode("z") == [ord("z")]


def test_hf_export_of_a_hand_model_gives_the_same_ids(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    model = hand_model("gpt2", specials={"<s>": 256 + len(EXTRA)})  # contiguous ids, as HF's Unigram needs
    path = tmp_path / "tokenizer.json"
    model.save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(model.to_hf_dict()))
    for text in TEXTS + ["abcd<s>ab cd", " a a abcd\n\tdd"]:
        ids = model.encode(text, allowed_special="all")
        assert hf.encode(text, add_special_tokens=False).ids == ids, text
        assert hf.decode(ids, skip_special_tokens=False) == text


# ------------------------------------------------------------------------------------ SentencePiece .model reader
def _proto(pieces=None, model_type=1, trainer=None, normalizer=None) -> bytes:
    """A ModelProto made with sentencepiece's own protobuf module."""
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    m = pb.ModelProto()
    for piece, score, kind in pieces or SMALL_PIECES:
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, kind
    m.trainer_spec.model_type = model_type
    for k, v in (trainer or {}).items():
        setattr(m.trainer_spec, k, v)
    for k, v in (normalizer or {}).items():
        setattr(m.normalizer_spec, k, v)
    return m.SerializeToString()


SMALL_PIECES = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("\u2581", -1.5, 1), ("a", -1.0, 1), ("b", -1.25, 1),
                ("ab", -0.75, 1), ("\u2581ab", -0.5, 1), ("c", -2.5, 1), ("bc", -1.75, 1), ("<sep>", 0.0, 4)]


def _spm(data: bytes):
    spm = pytest.importorskip("sentencepiece")
    return spm.SentencePieceProcessor(model_proto=data)


SP_TEXTS = ["ab", "abc ab", "  ab  c ", "cab<sep>ab", "xyz ab", "a b c", "", " ", "abab\u2581ab", "bc\tab\nab"]


@pytest.mark.parametrize("model_type", [1, 2])
@pytest.mark.parametrize("trainer,normalizer", [
    ({}, {}),
    ({"treat_whitespace_as_suffix": True}, {}),
    ({}, {"add_dummy_prefix": False}),
    ({}, {"remove_extra_whitespaces": False}),
    ({}, {"escape_whitespaces": False}),
    ({"unk_surface": "<?>"}, {"name": "identity"}),
])
def test_reader_follows_the_proto_fields_like_sentencepiece(model_type, trainer, normalizer):
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    data = _proto(model_type=model_type, trainer=trainer, normalizer=normalizer)
    ref, proto = _spm(data), pb.ModelProto.FromString(data)
    ours = parse_sentencepiece(data, name="m")
    assert ours.model_type == {1: "unigram", 2: "bpe"}[model_type] and ours.name == "m"
    assert ours.treat_whitespace_as_suffix == proto.trainer_spec.treat_whitespace_as_suffix
    assert ours.add_dummy_prefix == proto.normalizer_spec.add_dummy_prefix
    assert ours.remove_extra_whitespaces == proto.normalizer_spec.remove_extra_whitespaces
    assert ours.escape_whitespaces == proto.normalizer_spec.escape_whitespaces
    assert ours.unk_surface == proto.trainer_spec.unk_surface and ours.byte_fallback is False
    assert ours.normalizer_name == proto.normalizer_spec.name
    assert [(p, s, t) for p, s, t in ours.pieces] == [(p.piece, p.score, p.type) for p in proto.pieces]
    for text in SP_TEXTS:
        ids = ref.encode(text)
        assert ours.encode_ordinary(text) == ids, text
        assert ours.decode(ids) == ref.decode(ids), text


def test_reader_takes_byte_fallback_and_the_character_map():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    spm = pytest.importorskip("sentencepiece")
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    import io

    buf = io.BytesIO()
    lines = ["ｆｕｌｌ width ① text", "abc abd abe", "Ünïcödé text here"] * 20
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=300,
                                   byte_fallback=True, minloglevel=2, num_threads=1, hard_vocab_limit=False)
    data = buf.getvalue()
    proto = pb.ModelProto.FromString(data)
    ours = parse_sentencepiece(data)
    assert ours.byte_fallback is True and len(ours.byte_to_id) == 256
    assert ours.precompiled_charsmap == proto.normalizer_spec.precompiled_charsmap != b""
    assert ours.normalizer_name == proto.normalizer_spec.name == "nmt_nfkc"
    ref = spm.SentencePieceProcessor(model_proto=data)
    for text in ["ｆｕｌｌ ①", "漢字 and ﬁ", "Ünïcödé", "x\u3000y"]:
        assert ours.encode_ordinary(text) == ref.encode(text), text


def _key(number: int, wire: int) -> bytes:
    key, out = number << 3 | wire, bytearray()
    while True:
        out.append((key & 0x7F) | (0x80 if key > 0x7F else 0))
        key >>= 7
        if not key:
            return bytes(out)


def _sentencepiece_refuses(data: bytes) -> bool:
    spm = pytest.importorskip("sentencepiece")
    try:
        spm.SentencePieceProcessor(model_proto=data)
    except Exception:  # sentencepiece raises RuntimeError (or OSError) for a model it cannot parse
        return True
    return False


def test_reader_skips_unknown_fields_of_every_wire_type_like_sentencepiece():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    base = _proto()
    ref = _spm(base)
    extras = [_key(99, 0) + b"\xff\xff\x03",  # a three-byte varint
              _key(98, 1) + bytes(range(8)),  # fixed64
              _key(97, 5) + b"\x01\x02\x03\x04",  # fixed32
              _key(96, 2) + b"\x03xyz",
              _key(2, 2) + b"\x00",  # an empty trainer spec after the real one: fields merge, nothing changes
              ]
    for extra in extras:
        data = base + extra
        assert not _sentencepiece_refuses(data)
        ours = parse_sentencepiece(data)
        for text in SP_TEXTS:
            assert ours.encode_ordinary(text) == ref.encode(text)
    # unknown fields inside a piece, the trainer spec and the normalizer spec are skipped too
    pieces = bytearray(base)
    inner = (_key(1, 2) + b"\x03abc" + _key(2, 5) + b"\x00\x00\x80\xbf" + _key(3, 0) + b"\x01" + _key(50, 0) + b"\x07"
             + _key(51, 2) + b"\x02zz" + _key(52, 5) + b"\x00\x00\x00\x40")
    data = _key(1, 2) + bytes([len(inner)]) + inner + bytes(pieces)
    assert not _sentencepiece_refuses(data)
    ours = parse_sentencepiece(data)
    assert ours.pieces[0] == ("abc", -1.0, 1)
    trainer = _key(3, 0) + b"\x02" + _key(60, 5) + b"\x00\x00\x00\x00" + _key(35, 0) + b"\x00"
    data = base + _key(2, 2) + bytes([len(trainer)]) + trainer
    assert parse_sentencepiece(data).model_type == "bpe"


def test_piece_defaults_and_the_last_value_of_a_repeated_field_win_as_in_protobuf():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    base = _proto()
    no_score = _key(1, 2) + b"\x02xy"  # a piece with only its text: score 0, type NORMAL
    twice = _key(1, 2) + b"\x02zz" + _key(1, 2) + b"\x02zw" + _key(3, 0) + b"\x01" + _key(3, 0) + b"\x04"
    data = base + _key(1, 2) + bytes([len(no_score)]) + no_score + _key(1, 2) + bytes([len(twice)]) + twice
    proto = pb.ModelProto.FromString(data)
    ours = parse_sentencepiece(data)
    assert ours.pieces == [(p.piece, p.score, p.type) for p in proto.pieces]
    assert ours.pieces[-2:] == [("xy", 0.0, 1), ("zw", 0.0, 4)]
    # no trainer spec: the proto's default model type (unigram); no normalizer spec: its defaults
    pieces_only = b"".join(chunk for chunk in _split_top(base) if chunk[0] == 0x0A)
    proto = pb.ModelProto.FromString(pieces_only)
    ours = parse_sentencepiece(pieces_only)
    assert ours.model_type == "unigram" == {1: "unigram"}[proto.trainer_spec.model_type]
    assert ours.add_dummy_prefix and ours.remove_extra_whitespaces and ours.escape_whitespaces
    assert ours.unk_surface == proto.trainer_spec.unk_surface and ours.precompiled_charsmap == b""
    assert not ours.byte_fallback and not ours.treat_whitespace_as_suffix and ours.normalizer_name == ""
    ref = _spm(pieces_only)
    for text in SP_TEXTS:
        assert ours.encode_ordinary(text) == ref.encode(text)
    assert ours.decode([0]) == ref.decode([0])


def _split_top(data: bytes) -> list[bytes]:
    """The top-level fields of a message, each as its own bytes (all length-delimited here)."""
    from tokenlab.io.sentencepiece import _varint

    out, i = [], 0
    while i < len(data):
        start = i
        _, i = _varint(data, i)
        size, i = _varint(data, i)
        i += size
        out.append(data[start:i])
    return out


def test_damaged_protos_are_refused_like_sentencepiece():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    base = _proto()
    cases = [
        (base + _key(1, 0) + b"\x01", "^model: field 1 has wire type 0, expected 2$"),
        (base + _key(3, 5) + b"\x00\x00\x00\x00", "^model: field 3 has wire type 5, expected 2$"),
        (base + _key(1, 2) + b"\x02" + _key(2, 0) + b"\x01", r"^pieces\[10\]: field 2 has wire type 0, expected 5$"),
        (base + _key(2, 2) + b"\x02" + _key(3, 2) + b"\x00", "^trainer_spec: field 3 has wire type 2, expected 0$"),
        (base + _key(3, 2) + b"\x02" + _key(1, 0) + b"\x00", "^normalizer_spec: field 1 has wire type 0, expected 2$"),
        (base + b"\x00\x00", "^model: field number 0 is invalid$"),
        (base + _key(1, 2) + b"\x02" + b"\x00\x00", r"^pieces\[10\]: field number 0 is invalid$"),
        (base + _key(5, 3), "^unsupported protobuf wire type 3$"),
        (base + _key(5, 4), "^unsupported protobuf wire type 4$"),
        (base + _key(5, 6), "^unsupported protobuf wire type 6$"),
        (base + _key(5, 0) + b"\x80", "^truncated varint$"),
        (base + _key(5, 0) + b"\xff" * 10 + b"\x01", "^truncated varint$"),  # 11 bytes: more than 64 bits
        (base + _key(5, 1) + b"\x00" * 7, "^truncated protobuf field$"),
        (base + _key(5, 5) + b"\x00" * 3, "^truncated protobuf field$"),
        (base + _key(5, 2) + b"\x05abcd", "^truncated protobuf field$"),
        (base + _key(1, 2) + b"\x01" + _key(2, 5), "^truncated protobuf field$"),
        (base + _key(1, 2) + b"\x03" + _key(1, 2) + b"\x01", "^truncated protobuf field$"),
        (base + _key(1, 2) + b"\x02" + _key(3, 0) + b"\x01", r"^piece 10 has no text$"),
        (base + _key(1, 2) + b"\x04" + _key(1, 2) + b"\x02\xc3\x28", "^sentencepiece model has a piece that is not "
                                                                          "UTF-8$"),
        (_key(2, 2) + b"\x02" + _key(3, 0) + b"\x01", r"^not a sentencepiece model \(no pieces\)$"),
        (b"", r"^not a sentencepiece model \(no pieces\)$"),
    ]
    refused = []
    for data, message in cases:
        with pytest.raises(FormatError, match=message):
            parse_sentencepiece(data)
        refused.append(_sentencepiece_refuses(data))
    # sentencepiece (protobuf-lite) refuses the same damage, except that it skips a known field with the wrong
    # wire type at the top level, the trainer or normalizer spec (this reader is stricter there), and loads a
    # piece without text or a file without pieces (then fails at encode time)
    assert refused == [False, False, True, False, False] + [True] * 13 + [False, True, False]
    # a varint of exactly ten bytes (64 bits) is still read
    ours = parse_sentencepiece(base + _key(5, 0) + b"\xff" * 9 + b"\x01")
    assert ours.pieces == parse_sentencepiece(base).pieces


def test_unknown_model_types_are_refused():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pieces = b"".join(chunk for chunk in _split_top(_proto()) if chunk[0] == 0x0A)
    for model_type, name in [(3, "'word'"), (4, "'char'"), (9, "'unknown'")]:
        data = pieces + _key(2, 2) + b"\x02" + _key(3, 0) + bytes([model_type])
        with pytest.raises(FormatError, match=f"^sentencepiece model type {name} is not supported"):
            parse_sentencepiece(data)


def test_varint_reads_what_protobuf_writes():
    from tokenlab.io.sentencepiece import _varint

    rng = random.Random(5)
    for value in [0, 1, 127, 128, 300, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1] + [rng.getrandbits(64) for _ in range(50)]:
        n, out = value, bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                break
        encoded = b"zz" + bytes(out) + b"tail"
        assert _varint(encoded, 2) == (value, 2 + len(out))


def test_sniffing_model_files():
    from tokenlab.io.sentencepiece import looks_like_sentencepiece

    data = _proto()
    assert looks_like_sentencepiece(data[:16]) and looks_like_sentencepiece(data[:4])
    assert looks_like_sentencepiece(b"\x0a\x03\x0a\x01a")  # smallest: a piece holding a text field
    for head in (b"", b"\x0a\x03\x0a", data[:3], b"\x0b" + data[1:16], b"\x0a\x02\x0a\x00",
                 b"\x0a\x05\x12\x01a\x00", b"\x0a\x80", b"\x0a\x05", b'{"a": 1}', b"\x0a\xff\xff\xff",
                 b"\x0a\x80\x80\x01"):  # the size's varint fills the head: nothing follows it
        assert not looks_like_sentencepiece(head), head


def test_read_sentencepiece_names_the_file(tmp_path):
    from tokenlab.io.sentencepiece import read_sentencepiece

    path = tmp_path / "m.model"
    path.write_bytes(_proto())
    tok = read_sentencepiece(str(path))
    assert tok.name == "m.model" and tok.encode_ordinary("abc ab") == _spm(_proto()).encode("abc ab")
    with pytest.raises(FormatError, match=f"^{tmp_path / 'none.model'}: no such file$"):
        read_sentencepiece(tmp_path / "none.model")
    path.write_bytes(_proto() + _key(5, 3))
    with pytest.raises(FormatError, match=f"^{path}: unsupported protobuf wire type 3$"):
        read_sentencepiece(path)


def test_damaged_names_load_with_replacement_like_sentencepiece():
    """A trainer spec's unk_surface and a normalizer name that are not UTF-8: sentencepiece loads the model and
    decodes the unknown piece to those bytes; here they read with U+FFFD for each bad byte."""
    from tokenlab.io.sentencepiece import parse_sentencepiece
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    pieces = b"".join(chunk for chunk in _split_top(_proto()) if chunk[0] == 0x0A)
    trainer = _key(3, 0) + b"\x01" + _key(44, 2) + b"\x03\xffa\xfe"
    normalizer = _key(1, 2) + b"\x03n\xffm"
    data = pieces + _key(2, 2) + bytes([len(trainer)]) + trainer + _key(3, 2) + bytes([len(normalizer)]) + normalizer
    ref = _spm(data)
    ours = parse_sentencepiece(data)
    assert ours.decode([0]) == ref.decode([0], out_type=bytes).decode("utf-8", "replace") == "\ufffda\ufffd"
    assert ours.normalizer_name == b"n\xffm".decode("utf-8", "replace")
    assert ours.encode_ordinary("xab c") == ref.encode("xab c")
    # without a file name the reader leaves the name empty, as the model's constructor does
    assert parse_sentencepiece(data).name == SentencePieceTokenizer(SMALL_PIECES, "unigram").name


# ------------------------------------------------------------------- SentencePiece model: the pure-Python path
BASES = {
    "unigram-nfkc-bytes": {"model_type": "unigram", "byte_fallback": True},
    "bpe-nfkc": {"model_type": "bpe"},
    "unigram-identity-user": {"model_type": "unigram", "normalization_rule_name": "identity",
                              "user_defined_symbols": ["<sep>", "ab", "\u2581the", "x\u2581y"]},
    "bpe-identity-user-bytes": {"model_type": "bpe", "normalization_rule_name": "identity", "byte_fallback": True,
                                "user_defined_symbols": ["<sep>", "[M]", "ab"]},
    "bpe-nfkc-cf-suffix": {"model_type": "bpe", "normalization_rule_name": "nmt_nfkc_cf",
                           "treat_whitespace_as_suffix": True},
}
# normalizer and trainer flags flipped after training: sentencepiece encodes with them as set
FLAGS = [{}, {"add_dummy_prefix": False}, {"remove_extra_whitespaces": False}, {"escape_whitespaces": False},
         {"add_dummy_prefix": False, "remove_extra_whitespaces": False}, {"treat_whitespace_as_suffix": True},
         {"treat_whitespace_as_suffix": True, "remove_extra_whitespaces": False}]


@pytest.fixture(scope="module")
def sp_protos():
    spm = pytest.importorskip("sentencepiece")
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    import io

    from adversarial_text import adversarial_document, multilingual_lines

    rng = random.Random(2)
    lines = multilingual_lines() + [adversarial_document(rng, 150) for _ in range(4)]
    lines += ["the cat sat on the mat, the end", "Größe ｆｕｌｌ ① 東京 ﬁne ＡＢＣ", "x y xy x  y ab<sep>ab"] * 10
    out = {}
    for name, config in BASES.items():
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=900,
                                       character_coverage=0.98, minloglevel=2, num_threads=1,
                                       hard_vocab_limit=False, **config)
        for k, flags in enumerate(FLAGS if name in ("unigram-nfkc-bytes", "bpe-identity-user-bytes") else FLAGS[:2]):
            m = pb.ModelProto.FromString(buf.getvalue())
            for flag, value in flags.items():
                setattr(m.trainer_spec if flag == "treat_whitespace_as_suffix" else m.normalizer_spec, flag, value)
            out[f"{name}/{k}"] = m.SerializeToString()
    return out


@pytest.fixture(scope="module")
def sp_texts():
    from adversarial_text import adversarial_document, multilingual_lines

    rng = random.Random(8)
    docs = [adversarial_document(rng, rng.randrange(5, 120)) for _ in range(16)]
    docs += multilingual_lines()[:6]
    docs += ["", " ", "   ", "a", " a", "a ", "  a  b  ", "\u2581", "a\u2581b", "\u2581\u2581x ", "x y", "x\u2581y",
             "ab<sep>ab", "<sep>", " <sep> ", "the  the\tthe\n", "[M]x[M]", "ＡＢＣ ① ﬁ", "Größe", "\u3000a\u3000",
             "e\u0301 \U0001F600\u200d\U0001F600", "xyz" * 20, "a" * 30 + " " * 5 + "b", "\ufeff\u00a0 x"]
    return docs


def test_pure_path_normalizes_encodes_and_decodes_like_sentencepiece(sp_protos, sp_texts):
    from tokenlab.io.sentencepiece import parse_sentencepiece

    for name, data in sp_protos.items():
        ref, ours = _spm(data), parse_sentencepiece(data)
        for text in sp_texts:
            want = ref.encode(text)
            assert ours.normalize(text) == ref.normalize(text), (name, text)
            assert ours._encode_python(text) == want, (name, text)
            assert ours.decode(want) == ref.decode(want), (name, text)
            assert ours.pieces_of(want) == [ref.id_to_piece(i) for i in want]


def test_token_bytes_and_vocab_follow_the_pieces(sp_protos):
    from tokenlab.io.sentencepiece import parse_sentencepiece

    for name in ("unigram-nfkc-bytes/0", "bpe-identity-user-bytes/0", "bpe-nfkc/0"):
        data = sp_protos[name]
        ref, ours = _spm(data), parse_sentencepiece(data)
        vocab = ours.vocab
        for i in range(ref.get_piece_size()):
            piece = ref.id_to_piece(i)
            if ref.is_byte(i):
                byte = int(piece[3:5], 16)
                assert ours.token_bytes(i) == bytes([byte])
                assert vocab.get(bytes([byte])) in (i, ours.piece_to_id.get(chr(byte).replace(" ", "\u2581")))
            elif ref.is_unknown(i):
                assert ours.token_bytes(i) == ours.unk_surface.encode() and ours.unk_id == i
            elif ref.is_control(i):
                assert ours.special_tokens[piece] == i
            else:
                assert ours.token_bytes(i) == piece.replace("\u2581", " ").encode()
                assert vocab[piece.replace("\u2581", " ").encode()] == i
        assert ours.n_vocab == ref.get_piece_size()
        assert all(ours.token_bytes(i) == b for b, i in vocab.items())
        assert not any(ref.is_control(i) or ref.is_unknown(i) for i in vocab.values())


def test_json_round_trip_keeps_every_setting(sp_protos, sp_texts, tmp_path):
    from tokenlab.io import load_tokenizer, save_tokenizer
    from tokenlab.io.sentencepiece import parse_sentencepiece
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    for name in ("unigram-nfkc-bytes/3", "bpe-identity-user-bytes/4", "bpe-nfkc-cf-suffix/1", "unigram-nfkc-bytes/6"):
        ours = parse_sentencepiece(sp_protos[name], name=name)
        path = tmp_path / "sp.json"
        save_tokenizer(ours, path)
        again = load_tokenizer(path)
        assert isinstance(again, SentencePieceTokenizer) and again.to_dict() == ours.to_dict()
        assert again.name == name and again.precompiled_charsmap == ours.precompiled_charsmap
        for attr in ("model_type", "byte_fallback", "add_dummy_prefix", "remove_extra_whitespaces",
                     "escape_whitespaces", "treat_whitespace_as_suffix", "normalizer_name", "unk_surface", "pieces"):
            assert getattr(again, attr) == getattr(ours, attr), attr
        ref = _spm(sp_protos[name])
        for text in sp_texts[:30]:
            assert again._encode_python(text) == ref.encode(text)
    d = parse_sentencepiece(sp_protos["bpe-nfkc/0"]).to_dict()
    for key in ("normalizer_name", "precompiled_charsmap", "unk_surface", "name"):
        d.pop(key)
    bare = SentencePieceTokenizer.from_dict(d)
    assert bare.normalizer_name == "" and bare.precompiled_charsmap == b"" and bare.name == ""
    assert bare.unk_surface == _spm(_proto()).decode([0])  # sentencepiece's default " ⁇ "


def test_constructor_refuses_what_sentencepiece_refuses():
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    ok = list(SMALL_PIECES)
    cases = [
        (ok + [("", 0.0, 1)], r"^piece 10 is empty$"),
        (ok + [("q", math.inf, 1)], r"^pieces\[10\]\.score: inf is NaN or infinite$"),
        (ok + [("q", math.nan, 1)], r"^pieces\[10\]\.score: nan is NaN or infinite$"),
        (ok + [("ab", 0.0, 3)], r"^pieces\[10\]: 'ab' is also piece 5$"),
        (ok + [("<0xZZ>", 0.0, 6)], r"^byte piece '<0xZZ>' is not of the form <0xNN>$"),
        (ok + [("<0x0a>", 0.0, 6)], r"^byte piece '<0x0a>' is not of the form <0xNN>$"),
        (ok + [("<u2>", 0.0, 2)], r"^pieces\[10\]: a second unknown piece \(the first is 0\)$"),
        (ok + [("q", 0.0, 7)], r"^piece 10 has unknown type 7$"),
        (ok[1:], r"^sentencepiece model has no unknown piece$"),
        ([ok[0], ("<0x41>", 0.0, 6), ("a", 0.0, 1)], r"^trainer_spec\.byte_fallback: byte pieces are present but "
                                                     r"byte_fallback is off \(truncated file\?\)$"),
        ([ok[0], ok[1]], r"^pieces: no normal pieces \(truncated file\?\)$"),
    ]
    for pieces, message in cases:
        with pytest.raises(FormatError, match=message):
            SentencePieceTokenizer(pieces, "bpe")
        proto_pieces = [(p, s, t) for p, s, t in pieces if math.isfinite(s) and t in (1, 2, 3, 4, 5, 6)]
        if message.startswith(("^piece 10 is empty", "^pieces\\[10\\]:", "^sentencepiece model has no")):
            assert _sentencepiece_refuses(_proto(pieces=proto_pieces, model_type=2)), message
    with pytest.raises(FormatError, match=r"^byte_fallback needs 256 <0xNN> pieces, found 1$"):
        SentencePieceTokenizer([ok[0], ("<0x41>", 0.0, 6), ("a", 0.0, 1)], "bpe", byte_fallback=True)
    with pytest.raises(FormatError, match=r"^sentencepiece model type 'word' is not supported \(bpe, unigram\)$"):
        SentencePieceTokenizer(ok, "word")
    # user-defined, unused and normal pieces are what the encoder may produce; control pieces are specials
    tok = SentencePieceTokenizer(ok + [("zz", -9.0, 5)], "unigram", name="n")
    assert tok.user_defined == ["<sep>"] and tok.special_tokens == {"<s>": 1} and tok.unk_id == 0
    assert tok.piece_to_id == {p: i for i, (p, _, t) in enumerate(ok + [("zz", -9.0, 5)]) if t in (1, 4, 5)}
    assert tok.name == "n" and tok.merges == ()
    assert repr(tok) == "SentencePieceTokenizer(unigram, pieces=11, byte_fallback=False, normalizer='identity')"


def test_hand_models_with_unused_pieces_and_ties_equal_sentencepiece():
    """Unused pieces (BPE resegments them, Unigram never uses them), tied scores, user symbols inside words."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    rng = random.Random(4)
    alphabet = ["a", "b", "c", "\u2581", "é"]
    texts = ["".join(rng.choice(["a", "b", "c", " ", "  ", "é", "x", "<u>", "ab"]) for _ in range(rng.randrange(0, 25)))
             for _ in range(60)]
    for trial in range(40):
        pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("<u>", 0.0, 4)]
        seen = {p for p, _, _ in pieces}
        for ch in alphabet[:rng.randrange(2, 6)]:
            pieces.append((ch, -float(rng.randrange(1, 6)), 1))
            seen.add(ch)
        for _ in range(rng.randrange(2, 14)):
            p = "".join(rng.choice(alphabet) for _ in range(rng.randrange(2, 5)))
            if p not in seen:
                seen.add(p)
                pieces.append((p, -float(rng.randrange(0, 8)) / 2, 5 if rng.random() < 0.25 else 1))
        model_type = 1 + trial % 2
        data = _proto(pieces=pieces, model_type=model_type,
                      normalizer={"name": "identity", "add_dummy_prefix": rng.random() < 0.7,
                                  "remove_extra_whitespaces": rng.random() < 0.5})
        ref, ours = _spm(data), parse_sentencepiece(data)
        for text in texts:
            want = ref.encode(text)
            assert ours._encode_python(text) == want, (pieces, model_type, text)
            assert ours.encode_ordinary(text) == want, (pieces, model_type, text)
            assert ours.decode(want) == ref.decode(want), (pieces, text)


def test_encode_token_text_and_healing_start():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    plain = SMALL_PIECES[:-1]  # no user-defined symbol: those can move text, and healing_start gives up
    data = _proto(pieces=plain, model_type=2, normalizer={"name": "identity", "remove_extra_whitespaces": False})
    ours = parse_sentencepiece(data)
    ref = _spm(data)
    # a token's own text inside a normalized text: no dummy prefix, spaces as "▁"
    for text in ["ab", " ab", "abc", "c ab", "b"]:
        assert ours.encode_token_text(text) == ref.encode("x" + text)[2:], text
    uni = parse_sentencepiece(_proto(model_type=1, normalizer={"name": "identity"}))
    assert uni.encode_token_text(" ab") == [uni.piece_to_id["\u2581ab"]]
    # healing: the bytes before the last word (its spaces included), counted with the dummy "▁" as a space
    for prompt in ["ab ab", "ab  abc", "c", "ab ", "", "a b\nc"]:
        start = ours.healing_start(prompt)
        spelled = (" " + prompt if prompt else prompt).encode()
        words = [k for k in range(len(spelled)) if spelled[k:k + 1] == b" " and (k == 0 or spelled[k - 1:k] != b" ")]
        assert start == (words[-1] if words else 0), prompt
    no_prefix = parse_sentencepiece(_proto(pieces=plain, model_type=2, normalizer={
        "name": "identity", "add_dummy_prefix": False, "remove_extra_whitespaces": False}))
    assert no_prefix.healing_start("ab abc") == 2
    assert no_prefix.healing_start("abc") == 0
    assert ours.healing_start("ab <s> c") is None  # a special token in the prompt
    keep = {"name": "identity", "remove_extra_whitespaces": False}
    for model_type, trainer, normalizer, pieces in [
            (2, {}, {"name": "identity"}, plain),  # extra spaces removed
            (1, {}, keep, plain),  # unigram: no word boundary
            (2, {"treat_whitespace_as_suffix": True}, keep, plain),
            (2, {}, keep | {"escape_whitespaces": False}, plain),
            (2, {}, keep, SMALL_PIECES)]:  # a user-defined symbol
        tok = parse_sentencepiece(_proto(pieces=pieces, model_type=model_type, trainer=trainer,
                                         normalizer=normalizer))
        assert tok.healing_start("ab c") is None, (model_type, trainer, normalizer)


def test_pieces_of_refuses_unknown_ids():
    from tokenlab.io.sentencepiece import parse_sentencepiece

    ours = parse_sentencepiece(_proto())
    assert ours.pieces_of([0, np.int64(3), 9]) == ["<unk>", "a", "<sep>"]
    for bad in (10, -1, 2.0, "1"):
        with pytest.raises(InvalidInputError, match=f"^unknown token id {bad!r}$"):
            ours.pieces_of([bad])
    with pytest.raises(InvalidInputError, match="^text must be str, got bytes$"):
        ours.normalize(b"ab")


def test_charsmap_graphemes_follow_hf_precompiled(sp_protos, sp_texts):
    """CharsMap.normalize_graphemes is HF's Precompiled normalizer on the same map."""
    from tokenizers import normalizers

    from tokenlab.io.sentencepiece import parse_sentencepiece

    for name in ("unigram-nfkc-bytes/0", "bpe-nfkc-cf-suffix/0"):
        ours = parse_sentencepiece(sp_protos[name])
        hf = normalizers.Precompiled(ours.precompiled_charsmap)
        for text in sp_texts + ["ｶﾞ ﾊﾟ ①②", "e\u0301\u0301\u0301 x", "\u1100\u1161\u11a8 Å Å", "ﬀ\u0301", "ǅ"]:
            assert ours._trie.normalize_graphemes(text) == hf.normalize_str(text), (name, text)


def test_unigram_token_text_is_its_viterbi_segmentation():
    """encode_token_text on a Unigram model is the lattice's best path (BPE joins bc first: a|bc)."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pieces = [("<unk>", 0.0, 2), ("\u2581", -3.0, 1), ("a", -3.0, 1), ("b", -3.0, 1), ("c", -0.1, 1),
              ("ab", -0.5, 1), ("bc", -0.4, 1)]
    normalizer = {"name": "identity", "add_dummy_prefix": False}
    uni = parse_sentencepiece(_proto(pieces=pieces, model_type=1, normalizer=normalizer))
    bpe = parse_sentencepiece(_proto(pieces=pieces, model_type=2, normalizer=normalizer))
    for tok, model_type in ((uni, 1), (bpe, 2)):
        ref = _spm(_proto(pieces=pieces, model_type=model_type, normalizer=normalizer))
        for text in ("abc", "ab c", "cab", "bcab"):
            assert tok.encode_token_text(text) == ref.encode(text), (model_type, text)
    assert uni.encode_token_text("abc") != bpe.encode_token_text("abc")


def test_a_fresh_tokenizer_pickles():
    import pickle

    from tokenlab.io.sentencepiece import parse_sentencepiece

    tok = parse_sentencepiece(_proto())  # nothing encoded yet: no compiled tables to drop
    again = pickle.loads(pickle.dumps(tok))
    assert again.encode_ordinary("abc ab") == _spm(_proto()).encode("abc ab")
    tok.encode_ordinary("warm")
    assert pickle.loads(pickle.dumps(tok)).encode_ordinary("ab cab") == _spm(_proto()).encode("ab cab")


def test_hf_export_of_hand_bpe_models_equals_sentencepiece(tmp_path):
    """tokenizer.json of a SentencePiece BPE model: HF tokenizers gives sentencepiece's ids and decodes, with
    unknown runs fused into one unknown id (no byte fallback) and with byte fallback."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.io.sentencepiece import parse_sentencepiece

    keep = {"name": "identity", "remove_extra_whitespaces": False}
    plain = SMALL_PIECES[:-1]
    with_bytes = plain + [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]
    texts = ["abc ab", "xyz ab", "ab  xq c", "  abab c", "日本 ab", "a\u2581b", ""]
    for pieces, trainer, normalizer in [(plain, {}, keep), (plain, {}, keep | {"add_dummy_prefix": False}),
                                        (with_bytes, {"byte_fallback": True}, keep)]:
        data = _proto(pieces=pieces, model_type=2, trainer=trainer, normalizer=normalizer)
        ref, ours = _spm(data), parse_sentencepiece(data)
        path = tmp_path / "tokenizer.json"
        ours.save_hf(path)
        hf = tokenizers.Tokenizer.from_file(str(path))
        for text in texts:
            want = ref.encode(text)
            assert hf.encode(text, add_special_tokens=False).ids == want, (trainer, normalizer, text)
            if ours.unk_id not in want:  # HF skips the unknown token (special) on decode; sentencepiece shows " ⁇ "
                assert hf.decode(want) == ref.decode(want), (trainer, normalizer, text)
    for normalizer in ({"name": "identity"}, keep | {"escape_whitespaces": False}):
        tok = parse_sentencepiece(_proto(pieces=plain, model_type=2, normalizer=normalizer))
        with pytest.raises(FormatError, match="^only SentencePiece BPE models with the identity normalizer and kept "
                                              "extra spaces can be written as tokenizer.json$"):
            tok.to_hf_dict()
    with pytest.raises(FormatError, match="^only SentencePiece BPE models"):
        parse_sentencepiece(_proto(pieces=plain, model_type=1, normalizer=keep)).to_hf_dict()


def test_constructor_defaults_are_sentencepiece_defaults():
    pb = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    from tokenlab.models.sentencepiece import SentencePieceTokenizer

    spec, trainer = pb.NormalizerSpec(), pb.TrainerSpec()
    tok = SentencePieceTokenizer(SMALL_PIECES)
    assert tok.add_dummy_prefix == spec.add_dummy_prefix
    assert tok.remove_extra_whitespaces == spec.remove_extra_whitespaces
    assert tok.escape_whitespaces == spec.escape_whitespaces
    assert tok.byte_fallback == trainer.byte_fallback
    assert tok.treat_whitespace_as_suffix == trainer.treat_whitespace_as_suffix
    assert tok.unk_surface == trainer.unk_surface


def test_long_texts_rebase_path_scores_like_sentencepiece(sp_protos):
    """Past a path score of 100000 sentencepiece re-bases its float32 path scores; the pure path does the same,
    also across unknown characters (a model without byte fallback)."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    from adversarial_text import multilingual_lines

    lines = multilingual_lines()
    text = " ".join(lines) * 10 + " ⸘⸘ ꙮ ".join(lines[:5])
    for name in ("unigram-nfkc-bytes/2", "unigram-identity-user/0"):
        ref, ours = _spm(sp_protos[name]), parse_sentencepiece(sp_protos[name])
        want = ref.encode(text)
        assert -sum(ref.get_score(i) for i in want) > 100_000
        assert ours._encode_python(text) == want, name


def test_lattice_keeps_a_path_better_by_less_than_a_millionth():
    """a + b beats ab by 2**-20 (about 1e-6, exact in float32): sentencepiece takes a|b, and so must the lattice,
    though a|b arrives after ab for the same end."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pieces = [("<unk>", 0.0, 2), ("\u2581", -9.0, 1), ("a", -1.0, 1), ("b", -1.0 + 2.0 ** -20, 1), ("ab", -2.0, 1)]
    data = _proto(pieces=pieces, model_type=1, normalizer={"name": "identity", "add_dummy_prefix": False})
    ref, ours = _spm(data), parse_sentencepiece(data)
    assert ref.encode("ab") == [2, 3]
    for text in ("ab", "abab", "aab"):
        assert ours._encode_python(text) == ref.encode(text), text


def test_rebase_early_in_the_text_with_huge_scores():
    """Scores of tens of thousands pass the 100000 re-base after two characters: every stored score up to the
    frontier is re-based, also those of nodes that start at position 1."""
    from tokenlab.io.sentencepiece import parse_sentencepiece

    pieces = [("<unk>", 0.0, 2), ("\u2581", -70000.0, 1), ("a", -30000.0, 1), ("b", -90000.0, 1),
              ("c", -90000.0, 1), ("cc", -7.0, 1), ("aab", -150007.0, 1), ("ba", -80002.0, 1), ("bb", -80001.0, 1),
              ("bc", -110005.0, 1)]
    data = _proto(pieces=pieces, model_type=1, normalizer={"name": "identity", "add_dummy_prefix": False})
    ref, ours = _spm(data), parse_sentencepiece(data)
    for text in ("cbccc", "abcbc", "ccbaab", "bbcc"):
        assert ours._encode_python(text) == ref.encode(text), text


def _charsmap(sp_protos) -> bytes:
    from tokenlab.io.sentencepiece import parse_sentencepiece

    return parse_sentencepiece(sp_protos["unigram-nfkc-bytes/0"]).precompiled_charsmap


def test_damaged_character_maps_are_refused(sp_protos):
    import struct as st

    from tokenlab.models.sentencepiece import CharsMap

    blob = _charsmap(sp_protos)
    size = st.unpack("<I", blob[:4])[0]
    units = list(st.unpack(f"<{size // 4}I", blob[4:4 + size]))
    strings = blob[4 + size:]
    cases = [(blob[:3], r"^precompiled_charsmap is truncated$"),
             (st.pack("<I", size + 1) + blob[4:], r"^precompiled_charsmap has a corrupt trie size$"),
             (st.pack("<I", len(blob)) + blob[4:], r"^precompiled_charsmap has a corrupt trie size$"),
             (blob[:4 + size], r"^precompiled_charsmap is invalid \(empty trie or unterminated strings\)$"),
             (blob[:-1] + b"x", r"^precompiled_charsmap is invalid \(empty trie or unterminated strings\)$"),
             (st.pack("<I", 0) + strings, r"^precompiled_charsmap is invalid \(empty trie or unterminated strings\)$")]
    # the root's offset pointing past the end of the trie
    far = list(units)
    far[0] = (far[0] & 0x3FF) | (len(units) + 7) << 10
    cases.append((blob[:4] + st.pack(f"<{len(far)}I", *far) + strings,
                  r"^precompiled_charsmap is invalid \(a node points outside the trie\)$"))
    # a leaf's value past the strings: find a key with a value, and move its value out of range
    trie = CharsMap(blob)
    length, value = trie._walk("①".encode(), 0, shortest=False)
    assert length and trie._string(value) == "1"
    value_units = [k for k, u in enumerate(units) if u == (1 << 31) | value]  # a value unit has bit 31 set
    assert value_units
    for k in value_units:
        bad = list(units)
        bad[k] = (1 << 31) | (len(strings) + 5)
        try:
            CharsMap(blob[:4] + st.pack(f"<{len(bad)}I", *bad) + strings)
        except Exception as exc:
            if "a value lies outside the strings" in str(exc):
                break
    else:
        pytest.fail("no damaged value was refused")
    # a value exactly one past the strings (an odd count of string bytes)
    odd = strings + (b"\x00" if len(strings) % 2 == 0 else b"")
    bad = list(units)
    bad[value_units[0]] = (1 << 31) | len(odd)
    cases.append((blob[:4] + st.pack(f"<{len(bad)}I", *bad) + odd,
                  r"^precompiled_charsmap is invalid \(a value lies outside the strings\)$"))
    for data, message in cases:
        with pytest.raises(FormatError, match=message):
            CharsMap(data)
    # a replacement that is not UTF-8 is refused when it is used
    bad_strings = bytearray(strings)
    bad_strings[value] = 0xFF
    broken = CharsMap(blob[:4 + size] + bytes(bad_strings))
    message = rf"^precompiled_charsmap is invalid \(replacement at {value} is not UTF-8\)$"
    with pytest.raises(FormatError, match=message):
        broken.longest_match("①".encode(), 0)


# ------------------------------------------------------------------------------------------------ BPE trainer
def _hf_merges(docs, vocab_size, specials=(), min_frequency=0, pattern=None):
    """HF tokenizers' BpeTrainer merges (as byte pairs) with a byte-level pre-tokenizer."""
    pytest.importorskip("tokenizers")
    from test_train import hf_merges

    from tokenlab.io.hf_json import from_byte_level

    return [tuple(from_byte_level(x) for x in m) for m in hf_merges(docs, vocab_size, pattern, specials, min_frequency)]

TRAIN_DOCS = ["the cat sat on the mat; the hat is that.\n" * 3, "aaabdaaabac " * 4, "x" * 40 + " yyy zz zz",
              "Größe ｆｕｌｌ 東京 東京 🤖🤖 ab ab ab", "def f(a, b):\n    return a + b\n" * 2, "12345 123 12 1"]


def test_hf_byte_order_is_the_sorted_byte_level_alphabet():
    pytest.importorskip("tokenizers")
    from tokenizers import pre_tokenizers

    from tokenlab.io.hf_json import bytes_to_unicode
    from tokenlab.train.bpe import _hf_byte_order

    table = bytes_to_unicode()
    by_char = {c: b for b, c in table.items()}
    order = [by_char[c] for c in sorted(pre_tokenizers.ByteLevel.alphabet())]
    pos = _hf_byte_order()
    assert sorted(range(256), key=pos.__getitem__) == order


def test_reference_trainer_takes_the_most_frequent_pair_with_hf_ties():
    """BPETrainer, step by step: the pair it merges has the highest count of a full recount, the smallest HF keys
    among equals, and the merged words are the left-to-right, non-overlapping replacement."""
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import BPETrainer, _hf_byte_order, count_pretokens

    counts = count_pretokens(TRAIN_DOCS, PreTokenizer("gpt2"), workers=1)
    trainer = BPETrainer(counts)
    key = _hf_byte_order()
    merged = 0
    while True:
        recount = Counter()
        for w, c in zip(trainer.words, trainer.counts):
            for p in zip(w, w[1:]):
                recount[p] += c
        live = {p: c for p, c in trainer.pair_counts.items() if c}
        assert live == dict(recount)
        got = trainer.best_pair()
        if not recount:
            assert got is None
            break
        pair, count = got
        top = max(recount.values())
        assert count == recount[pair] == top
        assert (key[pair[0]], key[pair[1]]) == min((key[a], key[b]) for (a, b), c in recount.items() if c == top)
        before = [list(w) for w in trainer.words]
        new = trainer.merge(pair)
        key.append(new)
        assert new == 256 + merged and trainer.token_bytes[new] == trainer.token_bytes[pair[0]] + \
            trainer.token_bytes[pair[1]]
        for old, w in zip(before, trainer.words):
            want, i = [], 0
            while i < len(old):
                if old[i:i + 2] == list(pair):
                    want.append(new)
                    i += 2
                else:
                    want.append(old[i])
                    i += 1
            assert w == want
        merged += 1
    assert trainer.merges and len(trainer.merges) == merged


def test_small_trainings_equal_hf():
    from tokenlab.pretokenize import PATTERNS
    from tokenlab.train.bpe import train_bpe

    for vocab_size, specials, min_frequency, pattern in [(300, (), 0, None), (290, ("<s>", "</s>"), 2, None),
                                                         (10 ** 6, (), 0, None), (320, ("<s>",), 0, "cl100k")]:
        tok = train_bpe(TRAIN_DOCS, vocab_size, pretokenizer=pattern or "gpt2", special_tokens=specials,
                        min_frequency=min_frequency, workers=1)
        want = _hf_merges(TRAIN_DOCS, vocab_size, specials, min_frequency, PATTERNS.get(pattern))
        assert tok.merges == want, (vocab_size, specials, min_frequency)
        assert [tok.special_tokens[s] for s in specials] == list(range(256 + len(want), 256 + len(want)
                                                                       + len(specials)))
        assert len(tok) == min(vocab_size, 256 + len(want) + len(specials))
        assert all(tok.vocab[a + b] == 256 + k for k, (a, b) in enumerate(want))


def test_counting_paths_equal_a_plain_count():
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import CountTask, count_pretokens

    docs = TRAIN_DOCS * 3
    for pattern in ("gpt2", "cl100k", r"\w+|\W+"):
        pre = PreTokenizer(pattern)
        want = Counter()
        for doc in docs:
            want.update(p.encode("utf-8") for p in pre.split(doc))
        assert count_pretokens(docs, pre, workers=1) == want
        assert count_pretokens(docs, pre, workers=1, native=False) == want
        assert count_pretokens(docs, pre, workers=2, batch_chars=100) == want
        assert count_pretokens(docs, pre, workers=2, batch_chars=100, native=False) == want
        batches: list[int] = []

        def map_fn(fn, parts, batches=batches):
            for part in parts:
                batches.append(len(part))
                yield fn(part)
        assert count_pretokens(docs, pre, batch_chars=150, map_fn=map_fn) == want
        assert len(batches) > 3 and sum(batches) == len(docs)
        assert CountTask(pre)(docs) == want
    assert count_pretokens([], PreTokenizer("gpt2"), workers=2) == Counter()
    assert count_pretokens(["", ""], PreTokenizer("gpt2"), workers=2) == Counter()


def test_training_arguments_are_checked():
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens, train_bpe, train_from_counts

    with pytest.raises(InvalidInputError, match=r"^vocab_size 257 is below 256 bytes \+ 2 specials$"):
        train_bpe(["ab"], 257, special_tokens=["<a>", "<b>"])
    with pytest.raises(InvalidInputError, match=r"^vocab_size 257 is below 256 bytes \+ 2 specials$"):
        train_from_counts({b"ab": 1}, 257, PreTokenizer(None), ["<a>", "<b>", "<a>"])
    assert len(train_bpe(["ab"], 258, special_tokens=["<a>", "<b>", "<a>"])) == 258  # repeats count once
    for bad in ("", None, 3):
        with pytest.raises(InvalidInputError, match=f"^special token {bad!r} must be a non-empty string$"):
            train_bpe(["ab"], 300, special_tokens=["<a>", bad])
    with pytest.raises(InvalidInputError, match=r"^vocab_size 2147483649 is too large \(ids must fit in 31 bits: "
                                                r"at most 2147483648\)$"):
        train_bpe(["ab"], 2 ** 31 + 1)
    with pytest.raises(InvalidInputError, match="^corpus items must be str, got bytes$"):
        count_pretokens(["ok", b"x"], PreTokenizer("gpt2"), workers=1)
    with pytest.raises(InvalidInputError, match=r"^corpus contains text that is not valid Unicode \(lone "
                                                r"surrogates\)$"):
        count_pretokens(["bad \ud800"], PreTokenizer(r"\w+|\W+"), workers=1)
    with pytest.raises(InvalidInputError, match=r"^corpus contains text that is not valid Unicode \(lone "
                                                r"surrogates\)$"):
        count_pretokens(["bad \ud800"], PreTokenizer("gpt2"), workers=1)
    with pytest.raises(InvalidInputError, match=r"^no native pre-tokenizer for '.+' \(needs the C kernel or numba, "
                                                r"and a named pattern\)$"):
        count_pretokens(["abc"], PreTokenizer(r"\w+|\W+"), workers=1, native=True)


def _plain_count(docs, pre) -> Counter:
    want = Counter()
    for doc in docs:
        want.update(p.encode("utf-8") for p in pre.split(doc))
    return want


def test_counting_falls_back_to_the_regex(monkeypatch):
    """A compiled counter that fails to build, or that gives up on a batch (returns None), leaves the regex."""
    import tokenlab.train.bpe as bpe
    from tokenlab.pretokenize import PreTokenizer

    pre = PreTokenizer("gpt2", split_digits=2)
    docs = TRAIN_DOCS
    want = _plain_count(docs, pre)

    def broken(_pre):
        raise RuntimeError("kernel changed shape")
    import sys
    import types

    monkeypatch.setattr(bpe, "c_counter", broken)
    # the numba counter, replaced without importing numba (its thread pool must not outlive the test)
    monkeypatch.setitem(sys.modules, "tokenlab.train._count", types.SimpleNamespace(native_counter=broken))
    assert bpe._make_counter(pre)(docs) == want
    monkeypatch.undo()
    compiled = bpe.c_counter(pre)
    assert compiled is not None and compiled(docs) == want
    probe_only = lambda batch: compiled(batch) if batch == [bpe._PROBE] else None  # noqa: E731
    monkeypatch.setattr(bpe, "c_counter", lambda _pre: probe_only)
    assert bpe._make_counter(pre)(docs) == want


def test_compiled_counting_without_the_count_kernel(monkeypatch):
    """Without _count.c the encoder's split is counted by _train.c: same table."""
    import tokenlab.kernels
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import c_counter

    if tokenlab.kernels.train is None:
        pytest.skip("the C kernels are not built")
    monkeypatch.setattr(tokenlab.kernels, "count", None)
    for pattern in ("gpt2", "o200k"):
        pre = PreTokenizer(pattern)
        counter = c_counter(pre)
        assert counter is not None
        docs = TRAIN_DOCS + ["", "x"]
        assert counter(docs) == _plain_count(docs, pre)


def test_count_task_builds_its_counter_once_per_setting():
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import _TASK_COUNTERS, CountTask

    pattern = rf"\w+|[^\w{random.Random().randrange(10**9)}]+|\d"  # a setting no other test used
    pre = PreTokenizer(pattern)
    task = CountTask(pre)
    assert task(["ab cd ab"]) == {b"ab": 2, b" ": 2, b"cd": 1}
    assert sum(1 for key in _TASK_COUNTERS if key[0] == pattern) == 1
    assert task(["x y"]) == {b"x": 1, b" ": 1, b"y": 1}


def test_counting_progress_is_shown_in_characters(capsys, monkeypatch):
    from tqdm.std import tqdm

    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train.bpe import count_pretokens

    # no tqdm monitor thread: a thread left running makes a later fork (process pools, mutmut) hang on its lock
    monkeypatch.setattr(tqdm, "monitor_interval", 0)

    docs = ["abc def " * 300] * 4  # 9600 characters
    pre = PreTokenizer("gpt2")
    for kwargs in ({"workers": 1}, {"workers": 2, "batch_chars": 3000}, {"map_fn": lambda fn, parts: map(fn, parts)}):
        assert count_pretokens(docs, pre, progress=True, **kwargs) == _plain_count(docs, pre)
        err = capsys.readouterr().err
        assert "pre-tokenizing: 9.60kchar" in err, (kwargs, err)
        assert count_pretokens(docs, pre, progress=False, **kwargs) == _plain_count(docs, pre)
        assert capsys.readouterr().err == ""


def _count_threads(monkeypatch) -> list[int]:
    """The thread of each `_count_batch` call from now on, in order; starting a process pool fails the test."""
    import threading

    import tokenlab.train.bpe as bpe

    threads: list[int] = []
    count_batch = bpe._count_batch

    def recording(batch):
        threads.append(threading.get_ident())
        return count_batch(batch)
    monkeypatch.setattr(bpe, "_count_batch", recording)
    monkeypatch.setattr(bpe, "_pool", lambda *a, **k: pytest.fail("a process pool was started"))
    return threads


def test_compiled_counting_runs_in_threads_not_processes(monkeypatch):
    import threading

    import tokenlab.train.bpe as bpe
    from tokenlab.pretokenize import PreTokenizer

    pre = PreTokenizer("gpt2")
    if bpe.c_counter(pre) is None:
        pytest.skip("the C kernels are not built")
    threads = _count_threads(monkeypatch)
    docs = ["abc def " * 50] * 8
    assert bpe.count_pretokens(docs, pre, workers=2, batch_chars=400) == _plain_count(docs, pre)
    assert set(threads) - {threading.get_ident()}  # batches were counted in worker threads


def test_default_workers_are_the_cores(monkeypatch):
    import os

    from tokenlab.train.bpe import default_workers

    for cores, want in ((1, 1), (2, 2), (8, 8), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert default_workers() == want


def test_merge_progress_bar_follows_the_loop(monkeypatch):
    import numpy as np

    import tokenlab.train.bpe as bpe

    bars = []

    class Bar:
        def __init__(self, total=None, desc=None, unit=None, **kwargs):
            self.total, self.desc, self.unit, self.n, self.seen = total, desc, unit, 0, []
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k):
            self.n += k
            self.seen.append(self.n)

    monkeypatch.setattr(bpe, "tqdm", Bar)

    def kernel(steps, counter):
        assert counter.dtype == np.int64
        for _ in range(steps):
            counter[0] += 1
        return "done"
    assert bpe._run_with_progress(kernel, (7,), 7, progress=True) == "done"
    assert [(b.total, b.desc, b.unit, b.n) for b in bars] == [(7, "merging", "merge", 7)]
    assert bpe._run_with_progress(kernel, (3,), 3, progress=False) == "done" and len(bars) == 1

    def slow(steps, counter):  # the bar is polled while the loop runs
        import time

        for _ in range(steps):
            counter[0] += 1
            time.sleep(0.06)
        return "slow"
    assert bpe._run_with_progress(slow, (6,), 6, progress=True) == "slow" and bars[-1].n == 6
    assert len(bars[-1].seen) > 2 and bars[-1].seen == sorted(bars[-1].seen) and max(bars[-1].seen) == 6
    bars.clear()

    def failing(counter):
        raise ValueError("bad table")
    with pytest.raises(ValueError, match="^bad table$"):
        bpe._run_with_progress(failing, (), 1, progress=True)
    bars.clear()
    # the real merge loop moves the bar to the number of merges
    bars.clear()
    tok = bpe.train_bpe(TRAIN_DOCS, 300, workers=1, progress=True)
    merging = [b for b in bars if b.desc == "merging"]
    assert len(merging) == 1 and merging[0].n == len(tok.merges) == 300 - 256 and merging[0].total == 44


def test_train_bpe_passes_its_settings_on():
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.tokenizer import Tokenizer
    from tokenlab.train.bpe import train_bpe

    docs = ["12345 67890 112233 " * 20, "abc 123 abc"]
    tok = train_bpe(docs, 320, workers=1, split_digits=1)
    pre = PreTokenizer("gpt2", split_digits=1)
    assert tok.pretokenizer.split("a 12345") == pre.split("a 12345")
    assert not any(sum(48 <= c <= 57 for c in t) > 1 for t in tok.vocab)  # digits stay apart
    assert train_bpe(docs, 300, workers=1).name == Tokenizer({bytes([b]): b for b in range(256)}, []).name
    assert train_bpe(docs, 300, workers=1, name="mine").name == "mine"


def test_pure_python_merge_loop_without_c_or_numba(monkeypatch):
    import tokenlab.kernels
    from tokenlab.pretokenize import PreTokenizer
    from tokenlab.train import _native
    from tokenlab.train.bpe import count_pretokens, train_from_counts

    pre = PreTokenizer("gpt2")
    counts = count_pretokens(TRAIN_DOCS, pre, workers=1)
    want = train_from_counts(counts, 300, pre)
    monkeypatch.setattr(tokenlab.kernels, "train", None)
    monkeypatch.setattr(_native, "HAVE_NUMBA", False)
    got = train_from_counts(counts, 300, pre)
    assert got.merges == want.merges == _hf_merges(TRAIN_DOCS, 300)


def test_hf_export_refuses_special_ids_hf_would_renumber(tmp_path):
    """HF's Unigram numbers added tokens right after the pieces: a special token with a gap before its id would get
    another id from HF (264 where ours is 300), so the export refuses it instead of writing a file that disagrees."""
    tokenizers = pytest.importorskip("tokenizers")
    n = 256 + len(EXTRA)
    with pytest.raises(FormatError, match=rf"ids right after its {n} pieces \({n}..{n}\); this tokenizer's are "
                                          rf"\[{n + 36}\]"):
        hand_model("gpt2", specials={"<s>": n + 36}).save_hf(tmp_path / "gap.json")
    assert not (tmp_path / "gap.json").exists()
    model = hand_model("gpt2", specials={"<s>": n, "</s>": n + 1})
    model.save_hf(tmp_path / "ok.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "ok.json"))
    for text in ["abcd<s>ab</s>cd", "</s><s>"]:
        assert hf.encode(text, add_special_tokens=False).ids == model.encode(text, allowed_special="all")
