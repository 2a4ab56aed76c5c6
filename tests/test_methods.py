"""Inference methods over one vocabulary: checked against brute force over every segmentation,
against independent reference definitions, and by exact round trips on real text."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenlab.cli import main
from tokenlab.encode.methods import (
    encode_longest_prefix,
    encode_longest_suffix,
    encode_longest_token,
    encode_pathpiece,
    longest_prefix_piece,
    longest_suffix_piece,
    longest_token_piece,
    pathpiece_piece,
    segmentations,
    vocab_index,
)
from tokenlab.errors import InvalidInputError, SpecialTokenError
from tokenlab.models.unigram import unigram_from_bpe

METHODS = {
    "longest-prefix": encode_longest_prefix,
    "longest-suffix": encode_longest_suffix,
    "longest-token": encode_longest_token,
    "pathpiece": encode_pathpiece,
}


def short_pieces(tok, text, max_bytes=11, limit=250):
    """Distinct real pretokens of 3..max_bytes bytes that the vocabulary can cut in several ways."""
    seen = []
    for p in dict.fromkeys(tok.pretokenizer.split(text)):
        b = p.encode()
        if 3 <= len(b) <= max_bytes:
            seen.append(b)
        if len(seen) >= limit:
            break
    return seen


@pytest.fixture(scope="module")
def sample_text(real_docs):
    # code, prose and 25 languages
    return real_docs[3][:20000] + real_docs[-300][:20000] + "".join(real_docs[-26:])


def lengths(tok, ids):
    return [len(tok.token_bytes(i)) for i in ids]


def test_brute_force_references(trained, sample_text):
    idx = vocab_index(trained)
    pieces = short_pieces(trained, sample_text)
    assert len(pieces) > 100
    several = 0
    for data in pieces:
        segs = list(segmentations(idx, data))
        several += len(segs) > 1
        by_len = {tuple(s): lengths(trained, s) for s in segs}
        # greedy from the left takes the lexicographically longest sequence of token lengths
        assert longest_prefix_piece(idx, data) == list(max(segs, key=lambda s: by_len[tuple(s)]))
        # greedy from the right: the same on reversed lengths
        assert longest_suffix_piece(idx, data) == list(max(segs, key=lambda s: by_len[tuple(s)][::-1]))
        fewest = min(len(s) for s in segs)
        minimal = [s for s in segs if len(s) == fewest]
        assert len(pathpiece_piece(idx, data)) == fewest
        # PathPieceL: among minimal segmentations, longest last token first (then backwards)
        assert pathpiece_piece(idx, data) == max(minimal, key=lambda s: by_len[tuple(s)][::-1])
        assert pathpiece_piece(idx, data, random.Random(0)) in minimal
        assert pathpiece_piece(idx, data, random.Random(0), "uniform") in minimal
    assert several > 50  # the references really had choices to make


def reference_longest_token(vocab: dict[bytes, int], data: bytes) -> list[int]:
    """The recursive definition, written the slow way: longest token anywhere (leftmost), recurse."""
    if not data:
        return []
    for n in range(len(data), 0, -1):
        for i in range(len(data) - n + 1):
            if data[i:i + n] in vocab:
                return (reference_longest_token(vocab, data[:i]) + [vocab[data[i:i + n]]]
                        + reference_longest_token(vocab, data[i + n:]))
    raise AssertionError("unreachable: all bytes are tokens")


def test_longest_token_matches_recursive_definition(trained, sample_text):
    idx = vocab_index(trained)
    pieces = [p.encode() for p in dict.fromkeys(trained.pretokenizer.split(sample_text))][:3000]
    for data in pieces:
        assert longest_token_piece(idx, data) == reference_longest_token(trained.vocab, data)
    # a hand-checked case: "abcd" with tokens "bc", "abc"? -> longest "abc" then "d"
    from tokenlab import Tokenizer

    vocab = {bytes([b]): b for b in range(256)}
    vocab.update({b"ab": 256, b"bcd": 257, b"cd": 258})
    tok = Tokenizer(vocab, [(b"a", b"b"), (b"c", b"d"), (b"b", b"cd")], pretokenizer=None)
    # longest token "bcd" wins over "ab", leaving "a"
    assert longest_token_piece(vocab_index(tok), b"abcd") == [97, 257]
    assert longest_prefix_piece(vocab_index(tok), b"abcd") == [256, 258]
    assert pathpiece_piece(vocab_index(tok), b"abcd") == [97, 257]  # two tokens either way: longest last
    assert encode_longest_suffix(tok, "abcd") == [97, 257]


def _minimal(idx, data):
    segs = [tuple(s) for s in segmentations(idx, data)]
    fewest = min(map(len, segs))
    return [s for s in segs if len(s) == fewest]


def test_pathpiece_random_tie_breaks_match_their_exact_distributions(trained, sample_text):
    """'uniform': every minimal segmentation equally likely. 'random' (the authors' tie-breaker):
    at each step back from the end, every optimal last token equally likely, so a segmentation's
    probability is the product of 1/(number of optimal last tokens) over its steps."""
    idx = vocab_index(trained)
    cases = []
    for data in short_pieces(trained, sample_text, max_bytes=12, limit=2000):
        minimal = _minimal(idx, data)
        if len(minimal) >= 3:
            cases.append((data, minimal))
        if len(cases) == 3:
            break
    assert cases, "no real pretoken with three minimal segmentations"
    n = 3000
    for data, minimal in cases:
        step_probs = {}
        for seg in minimal:
            p, end = 1.0, len(data)
            for tid in reversed(seg):
                options = {m[-1] for m in _minimal(idx, data[:end])}
                p /= len(options)
                end -= len(trained.token_bytes(tid))
            step_probs[seg] = p
        assert sum(step_probs.values()) == pytest.approx(1.0)
        for mode, probs in (("uniform", dict.fromkeys(minimal, 1 / len(minimal))), ("random", step_probs)):
            rng = random.Random(1)
            seen = Counter(tuple(pathpiece_piece(idx, data, rng, mode)) for _ in range(n))
            assert set(seen) <= set(minimal)
            for seg, p in probs.items():  # 5 sigma of a binomial count
                assert abs(seen[seg] - n * p) < 5 * (n * p * (1 - p)) ** 0.5 + 1, (mode, seg)


def test_pathpiece_never_uses_more_tokens_than_any_method(trained, sample_text):
    fewest = len(encode_pathpiece(trained, sample_text))
    for name, fn in METHODS.items():
        assert len(fn(trained, sample_text)) >= fewest, name
    assert len(trained.encode(sample_text)) >= fewest


@pytest.mark.parametrize("name", sorted(METHODS))
def test_round_trip_on_real_text(name, trained, cl100k, real_docs, sample_text):
    fn = METHODS[name]
    ids = fn(trained, sample_text)
    assert trained.decode(ids) == sample_text
    text = real_docs[0][:5000] + "".join(real_docs[-26:])
    assert cl100k.decode(fn(cl100k, text)) == text


def test_methods_differ_from_merge_order_but_agree_on_whole_tokens(trained, sample_text):
    merge = trained.encode(sample_text)
    outputs = {name: fn(trained, sample_text) for name, fn in METHODS.items()}
    assert any(ids != merge for ids in outputs.values())
    # a pretoken that is a single token is that token under every method
    word = next(t for t in trained.vocab if len(t) > 5 and t.isascii() and t.decode().strip().isalpha()
                and trained.pretokenizer.split(t.decode()) == [t.decode()])
    for name, fn in METHODS.items():
        assert fn(trained, word.decode()) == [trained.vocab[word]], name


def test_special_tokens_follow_encode_contract(trained):
    text = "hello<|endoftext|> world<|pad|>"
    for fn in METHODS.values():
        ids = fn(trained, text, allowed_special="all")
        assert ids[len(fn(trained, "hello"))] == trained.special_tokens["<|endoftext|>"]
        assert ids[-1] == trained.special_tokens["<|pad|>"]
        assert trained.decode(ids) == text
        with pytest.raises(SpecialTokenError):
            fn(trained, text)
        with pytest.raises(SpecialTokenError):
            fn(trained, text, allowed_special=["<|nope|>"])


def test_bad_input(trained):
    with pytest.raises(InvalidInputError):
        encode_pathpiece(trained, "x", tie_break="shortest")
    with pytest.raises(InvalidInputError):
        encode_longest_prefix(trained, "lone \ud800 surrogate")
    with pytest.raises(InvalidInputError):
        encode_longest_prefix(trained, b"bytes")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_every_method_decodes_arbitrary_unicode(trained, text):
    for name, fn in METHODS.items():  # special strings as plain text, like encode_ordinary
        assert trained.decode(fn(trained, text, disallowed_special=())) == text, name
    assert trained.decode(encode_pathpiece(trained, text, tie_break="random", seed=3, disallowed_special=())) == text


# ---------------------------------------------------------------- Unigram Viterbi over a BPE vocabulary
def test_viterbi_over_bpe_vocab_is_optimal_and_beats_merge_order(trained, real_docs, sample_text):
    model = unigram_from_bpe(trained, real_docs[:40])
    idx = vocab_index(model)
    for data in short_pieces(trained, sample_text, max_bytes=10, limit=150):
        best = max(model.score(s) for s in segmentations(idx, data))
        assert model.score(model.encode_piece(data)) == pytest.approx(best, abs=1e-9)
    for piece in trained.pretokenizer.split(sample_text[:5000]):
        assert model.score(model.encode(piece)) >= model.score(trained.encode(piece)) - 1e-9
    ids = model.encode(sample_text)
    assert trained.decode(ids) == sample_text  # same ids as the BPE tokenizer
    # add-one smoothing: an unseen token's probability is 1 / (N + V)
    counts = Counter(i for d in real_docs[:40] for i in trained.encode_ordinary(d))
    unseen = next(t for t, i in trained.vocab.items() if counts[i] == 0)
    import math

    total = sum(counts.values()) + len(trained.vocab)
    assert model.scores[unseen] == pytest.approx(math.log(1 / total), abs=2 ** -11)  # scores are quantized


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def bpe_file(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "bpe.json"
    trained.save(path)
    return str(path)


@pytest.mark.parametrize("name,options", [
    ("greedy", []), ("longest-prefix", []), ("longest-suffix", []), ("longest-token", []),
    ("pathpiece", []), ("pathpiece", ["tie_break=random", "seed=2"]), ("pathpiece", ["tie_break=uniform"]),
    ("viterbi", []),
])
def test_cli_methods(name, options, trained, bpe_file):
    text = "Tokenization is more than compression, größer 東京 12345<|endoftext|>"
    args = ["encode", "-t", bpe_file, "--method", name, "--allow-special", text]
    for o in options:
        args += ["--option", o]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ids = [int(x) for x in res.stdout.split()]
    assert trained.decode(ids) == text
    if name in METHODS and not options:
        assert ids == METHODS[name](trained, text, allowed_special="all")


def test_cli_viterbi_with_corpus_file(trained, bpe_file, tmp_path, real_docs):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(real_docs[:40]), encoding="utf-8")
    text = "def tokenize(self, text): return self.encode(text)"
    res = CliRunner().invoke(main, ["encode", "-t", bpe_file, "--method", "viterbi", "--option", f"corpus={corpus}",
                                    text])
    assert res.exit_code == 0, res.output
    assert [int(x) for x in res.stdout.split()] == unigram_from_bpe(trained, real_docs[:40]).encode(text)


@pytest.mark.parametrize("args", [
    ["--method", "pathpiece", "--option", "colour=blue"],
    ["--method", "pathpiece", "--option", "tie_break=shortest"],
    ["--method", "viterbi", "--option", "corpus=/nonexistent/file.txt"],
    ["--method", "longest-token", "<|endoftext|>"],
])
def test_cli_bad_input_is_one_error_line(args, bpe_file):
    if args[-1] != "<|endoftext|>":
        args = args + ["some text"]
    res = CliRunner().invoke(main, ["encode", "-t", bpe_file] + args)
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


# ---------------------------------------------------------------- bound methods and HF export
def test_longest_prefix_exports_to_hf_wordpiece_with_identical_ids(trained, sample_text, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.encode.methods import MethodTokenizer

    path = tmp_path / "greedy.json"
    MethodTokenizer(trained, "longest-prefix").save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    text = sample_text + "\x00 \U0001d11e 東京 " + " " * 300
    ids = encode_longest_prefix(trained, text)
    assert ids != trained.encode(text)
    assert hf.encode(text, add_special_tokens=False).ids == ids
    assert hf.decode(ids) == text


def test_bpe_dropout_hf_export(trained, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.encode.methods import MethodTokenizer

    path = tmp_path / "dropout.json"
    MethodTokenizer(trained, "bpe-dropout", p=0.5).save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    two = next(t for t in trained.merge_ranks if len(t) == 2 and t.isalpha() and t.islower())
    word = two.decode()
    n = 2000
    kept = sum(len(hf.encode(word).ids) == 2 for _ in range(n))
    assert abs(kept - n * 0.5) < 5 * (n * 0.25) ** 0.5  # HF's dropout: same definition on one merge
    text = "Stochastic tokenization, again and again."
    assert all(hf.decode(hf.encode(text).ids) == text for _ in range(20))


@pytest.mark.parametrize("method,options", [
    ("pathpiece", {}), ("longest-suffix", {}), ("longest-token", {}), ("stochastok", {"p": 0.3, "seed": 1}),
    ("bpe-dropout", {"p": 0.2, "seed": 5}), ("viterbi", {}),
])
def test_bound_method_round_trip_through_file(method, options, trained, sample_text, tmp_path):
    from tokenlab.encode.methods import MethodTokenizer, method_registry
    from tokenlab.io import load_tokenizer

    bound = MethodTokenizer(trained, method, **options)
    path = tmp_path / "bound.json"
    bound.save(path)
    again = load_tokenizer(path)
    text = sample_text[:5000]
    fresh = MethodTokenizer(trained, method, **options)
    assert again.encode(text) == fresh.encode(text)
    if "seed" not in options:
        assert again.encode(text) == method_registry()[method](trained, text)
    assert again.decode(again.encode(text)) == text
    assert again.vocab == trained.vocab and len(again) == len(trained)
    if method in ("pathpiece", "longest-suffix", "longest-token", "stochastok"):
        with pytest.raises(Exception, match="cannot express"):
            bound.to_hf_dict()


def test_cli_bind_method(trained, bpe_file, tmp_path, sample_text):
    out = tmp_path / "pp.json"
    res = CliRunner().invoke(main, ["bind-method", "-t", bpe_file, "--method", "pathpiece", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = sample_text[:2000]
    res = CliRunner().invoke(main, ["encode", "-t", str(out), text])
    assert res.exit_code == 0, res.output
    assert [int(x) for x in res.stdout.split()] == encode_pathpiece(trained, text)
    # HF cannot express PathPiece: one clear error, nothing written
    res = CliRunner().invoke(main, ["bind-method", "-t", bpe_file, "--method", "pathpiece", "--format", "hf",
                                    "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "cannot express" in res.stderr
    assert not (tmp_path / "x.json").exists()
    res = CliRunner().invoke(main, ["bind-method", "-t", bpe_file, "--method", "nope", "-o", str(tmp_path / "y.json")])
    assert res.exit_code == 1 and res.stderr.startswith("error: ")


def test_viterbi_over_bpe_with_corpus_exports_to_hf_unigram(trained, real_docs, sample_text, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenlab.encode.methods import MethodTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(real_docs[:40]), encoding="utf-8")
    bound = MethodTokenizer(trained, "viterbi", corpus=str(corpus))
    path = tmp_path / "viterbi.tokenizer.json"
    bound.save_hf(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    ids = bound.encode(sample_text)
    assert ids == unigram_from_bpe(trained, real_docs[:40]).encode(sample_text)
    assert hf.encode(sample_text, add_special_tokens=False).ids == ids
    with pytest.raises(Exception, match="cannot express"):
        MethodTokenizer(trained, "viterbi").to_hf_dict()  # scores would depend on each text
