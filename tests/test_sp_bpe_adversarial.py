"""SentencePiece BPE on adversarial text: words of thousands of symbols (no pre-tokenizer splits a 100 KB word,
so the kernel queues the joins of a long word in sorted runs and a radix heap instead of a binary heap),
unknown characters and byte fallback, whitespace, digit and punctuation runs, user-defined symbols inside long
words. Ids equal sentencepiece's, for the ``.model`` files mistral-common ships and for BPE models trained here
by sentencepiece, and the pure-Python path's (the reference of the kernel) for random tiny models."""

from __future__ import annotations

import io
import random

import pytest

from tokenlab import kernels
from tokenlab.io.sentencepiece import parse_sentencepiece, read_sentencepiece

from adversarial import adversarial_text, long_runs, random_code_point
from adversarial_text import multilingual_lines
from conftest import mistral_params, mistral_sentencepiece_models

spm = pytest.importorskip("sentencepiece")
needs_kernel = pytest.mark.skipif(kernels.sp is None, reason="the _sp extension is not built")

RADIX_MIN = 128  # _sp.c: words of more symbols take the long-word queue
PURE_MAX = 12_000  # the pure-Python path is checked on words up to this many characters (it is slow beyond)

TRAINED = {
    "bpe-bytes": {"byte_fallback": True, "remove_extra_whitespaces": False},
    "bpe-unk-user": {"normalization_rule_name": "identity", "remove_extra_whitespaces": False,
                     "user_defined_symbols": ["<sep>", "ab", "99", "\u2581\u2581"]},
    "bpe-nfkc-bytes-user": {"byte_fallback": True, "user_defined_symbols": ["[MASK]", "xx"]},
}


def _long_words(rng: random.Random) -> list[str]:
    """Words without a space (and a few whitespace runs) of 600 to 100 000 characters."""
    words = list(long_runs())  # 100 KB of one letter, "ab" * 50 000, digit, space, newline, emoji runs
    words += ["ab" * 3000 + "c", "abc" * 2000, "0123456789" * 500, "9" * 5000 + "x", "\t" * 3000, " \n" * 2000,
              "-" * 3000 + "=" * 3000, "!?" * 1500, "\u2581" * 2000 + "a", " " * 700 + "x" * 700 + " " * 700,
              "<sep>" * 400 + "ab" * 400, "x" * 999 + "[MASK]" + "x" * 999]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,!?"
    scripts = letters + "абвгдежзийклмнопрстуфхцчшщыэюяαβγδεζηθικλμνξοπρστυφχψωאבגדהוזחטיכלמנ中文字符日本語한국어"
    for n in (600, 2000, 8000):
        words.append("".join(rng.choice(letters) for _ in range(n)))
        words.append("".join(rng.choice(scripts) for _ in range(n)))
        words.append("".join(random_code_point(rng) if rng.random() < 0.2 else rng.choice(scripts)
                             for _ in range(n)))  # unknown characters: byte pieces or one unknown id per run
    words.append(adversarial_text(3, 20_000).replace(" ", "").replace("\u3000", ""))
    return words


def _piece_words(tok, rng: random.Random, count: int = 3, size: int = 1500) -> list[str]:
    """Words glued from the model's own pieces: joins of every score, out of left-to-right order."""
    pieces = [p.replace("\u2581", "") for p, _, kind in tok.pieces if kind == 1]
    pieces = [p for p in pieces if p]
    return ["".join(rng.choice(pieces) for _ in range(size)) for _ in range(count)]


def _check(tok, ref, words: list[str]) -> None:
    assert tok._kernel is not None, "the compiled path is not taken for this model"
    for k, word in enumerate(words):
        want = ref.encode(word)
        assert tok.encode_ordinary(word) == want, f"kernel differs from sentencepiece on word {k}: {word[:40]!r}"
        if len(word) <= PURE_MAX:
            assert tok._encode_python(word) == want, f"pure path differs from sentencepiece on word {k}"
    info = tok._kernel.merge_info()
    assert info["long_words"] > 0 and info["from_first_pairs"] > 0 and info["from_runs"] > 0, info


@pytest.fixture(scope="module")
def words() -> list[str]:
    return _long_words(random.Random(5))


@pytest.fixture(scope="module")
def trained() -> dict[str, bytes]:
    lines = multilingual_lines()
    lines += ["x" * n + " " + "!" * n for n in range(1, 30)] + ["0123456789" * 3, "ab" * 20, "=" * 40]
    out = {}
    for name, config in TRAINED.items():
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, model_type="bpe",
                                       vocab_size=1500, character_coverage=0.995, minloglevel=2, num_threads=1,
                                       hard_vocab_limit=False, **config)
        out[name] = buf.getvalue()
    return out


@needs_kernel
@pytest.mark.parametrize("path", mistral_params(mistral_sentencepiece_models()), ids=lambda p: str(p)[-30:])
def test_mistral_long_words_equal_sentencepiece(path, words):
    tok = read_sentencepiece(path)
    if tok.model_type != "bpe":
        pytest.skip("not a BPE model")
    _check(tok, spm.SentencePieceProcessor(model_file=path), words + _piece_words(tok, random.Random(1)))


@needs_kernel
@pytest.mark.parametrize("name", list(TRAINED))
def test_trained_long_words_equal_sentencepiece(name, trained, words):
    tok = parse_sentencepiece(trained[name])
    _check(tok, spm.SentencePieceProcessor(model_proto=trained[name]), words + _piece_words(tok, random.Random(2)))


@needs_kernel
def test_long_words_in_a_document_equal_sentencepiece(trained):
    """Long words between ordinary ones (the word cache takes the short ones, the long ones never), twice."""
    data = trained["bpe-bytes"]
    tok, ref = parse_sentencepiece(data), spm.SentencePieceProcessor(model_proto=data)
    rng = random.Random(4)
    lines = multilingual_lines()
    docs = [" ".join(rng.choice(lines) if rng.random() < 0.7 else rng.choice("xyz!9") * rng.randrange(1, 3000)
                     for _ in range(40)) for _ in range(5)]
    for _ in range(2):
        assert [tok.encode_ordinary(d) for d in docs] == [ref.encode(d) for d in docs]


def _random_bpe(rng: random.Random):
    """A tiny random BPE model over a few characters: tied and scattered scores, so the joins of a long word
    come out of left-to-right order (runs, the radix heap and its side heap all hold keys)."""
    import struct

    from tokenlab.models.sentencepiece import BYTE, NORMAL, UNKNOWN, USER_DEFINED, SentencePieceTokenizer

    byte_fallback = rng.random() < 0.5
    pieces = [("<unk>", 0.0, UNKNOWN)]
    if byte_fallback:
        pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    seen = set()
    for _ in range(rng.choice([rng.randrange(5, 60), rng.randrange(60, 300)])):
        piece = "".join(rng.choice("abc\u2581\u00e9\u4e2d") for _ in range(rng.randrange(1, 7)))
        if piece in seen:
            continue
        seen.add(piece)
        score = rng.choice([-1.0, -2.0, -0.5, float(rng.randrange(-20, 0)),
                            struct.unpack("<f", struct.pack("<f", rng.uniform(-10, 0)))[0]])
        pieces.append((piece, score, USER_DEFINED if rng.random() < 0.05 else NORMAL))
    return SentencePieceTokenizer(pieces, "bpe", byte_fallback=byte_fallback, add_dummy_prefix=rng.random() < 0.7,
                                  remove_extra_whitespaces=rng.random() < 0.5)


@needs_kernel
def test_random_models_long_words_kernel_equals_pure():
    """Every queue of the long-word path is used, and ids equal the pure-Python path's (its binary heap)."""
    rng = random.Random(17)
    taken = {"long_words": 0, "from_first_pairs": 0, "from_runs": 0, "from_heap": 0, "from_radix_heap": 0}
    for _ in range(120):
        tok = _random_bpe(rng)
        assert tok._kernel is not None
        for _ in range(2):
            n = rng.choice([rng.randrange(25, RADIX_MIN), rng.randrange(RADIX_MIN + 1, 3000)])
            text = "".join(rng.choice(["a", "b", "c", "\u00e9", "\u4e2d", "\u2581", "x"]) for _ in range(n))
            assert tok.encode_ordinary(text) == tok._encode_python(text), (tok.pieces, text)
        for key, value in tok._kernel.merge_info().items():
            taken[key] += value
    assert all(value > 0 for value in taken.values()), taken


@needs_kernel
def test_radix_min_boundary_equals_pure():
    """Words of RADIX_MIN symbols and one more (the binary heap, then the long-word queue) give the same ids."""
    rng = random.Random(23)
    for _ in range(40):
        tok = _random_bpe(rng)
        for n in (RADIX_MIN - 1, RADIX_MIN, RADIX_MIN + 1, RADIX_MIN + 2):
            text = "".join(rng.choice("abc\u2581\u00e9") for _ in range(n))
            assert tok.encode_ordinary(text) == tok._encode_python(text), (tok.pieces, text)


@needs_kernel
def test_merge_info_counts_long_words_only():
    from tokenlab.models.sentencepiece import NORMAL, UNKNOWN, SentencePieceTokenizer

    tok = SentencePieceTokenizer([("<unk>", 0.0, UNKNOWN), ("x", -1.0, NORMAL), ("xx", -2.0, NORMAL),
                                  ("\u2581", -3.0, NORMAL)], "bpe")
    assert tok.encode_ordinary("x" * RADIX_MIN) == tok._encode_python("x" * RADIX_MIN)  # 1 + RADIX_MIN symbols
    assert tok._kernel.merge_info()["long_words"] == 1
    tok.encode_ordinary("x" * (RADIX_MIN - 2))
    info = tok._kernel.merge_info()
    assert info["long_words"] == 1
    assert info["from_first_pairs"] == RADIX_MIN - 1  # every "xx" pair is taken once; "▁x" is no piece
    assert info["from_runs"] == info["from_heap"] == info["from_radix_heap"] == 0  # "xxx" is no piece either
