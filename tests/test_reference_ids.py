"""Id-for-id equality with real tokenizers on > 1 MB of real text."""

from __future__ import annotations

import json

import pytest

from tokenlab.io import read_tekken, to_hf_json_str


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def assert_same_ids(ours, ref, label):
    if ours != ref:
        i = _first_difference(ours, ref)
        pytest.fail(f"{label}: ids differ at {i}: ours {ours[i:i + 6]} vs reference {ref[i:i + 6]} "
                    f"(lengths {len(ours)} / {len(ref)})")


def test_cl100k_equals_tiktoken_on_real_text(cl100k, cl100k_ref, real_docs, real_text):
    assert len(real_text.encode()) > 1_000_000
    assert_same_ids(cl100k.encode(real_text), cl100k_ref.encode(real_text), "whole text")
    for k, doc in enumerate(real_docs[::7]):
        assert_same_ids(cl100k.encode(doc), cl100k_ref.encode(doc), f"doc {k}")


def test_cl100k_decode_equals_tiktoken(cl100k, cl100k_ref, real_text):
    ids = cl100k_ref.encode(real_text)
    assert cl100k.decode(ids) == cl100k_ref.decode(ids) == real_text
    assert cl100k.decode_bytes(ids[:1000]) == cl100k_ref.decode_bytes(ids[:1000])


def test_cl100k_special_tokens_like_tiktoken(cl100k, cl100k_ref):
    text = "hello <|endoftext|> world<|fim_prefix|>x"
    assert cl100k.encode(text, allowed_special="all") == cl100k_ref.encode(text, allowed_special="all")
    assert cl100k.encode(text, allowed_special={"<|endoftext|>"}, disallowed_special=()) == cl100k_ref.encode(
        text, allowed_special={"<|endoftext|>"}, disallowed_special=())
    assert cl100k.encode(text, disallowed_special=()) == cl100k_ref.encode(text, disallowed_special=())
    with pytest.raises(ValueError):
        cl100k_ref.encode(text)
    from tokenlab import SpecialTokenError

    with pytest.raises(SpecialTokenError, match="endoftext"):
        cl100k.encode(text)


def test_cl100k_edge_cases(cl100k, cl100k_ref):
    cases = ["", " ", "\n\n\n", "   \n  x", "a" * 5000, " " * 4000 + "x", "1234567890", "don't I'LL we've",
             "\u00e9\u0301", "🤖" * 50, "\t\t\r\n", "x\u2028y", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬁ ﬂ", "\x00\x01\x7f"]
    for s in cases:
        assert cl100k.encode(s) == cl100k_ref.encode(s), repr(s)


@pytest.fixture(scope="module")
def hf_cl100k(cl100k):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_str(to_hf_json_str(cl100k))


def test_exported_cl100k_in_hf_tokenizers_equals_tiktoken(hf_cl100k, cl100k_ref, real_docs):
    for k, doc in enumerate(real_docs):
        assert_same_ids(hf_cl100k.encode(doc, add_special_tokens=False).ids, cl100k_ref.encode(doc), f"doc {k}")


def test_exported_trained_tokenizer_in_hf_tokenizers(trained, real_docs):
    import tokenizers

    hf = tokenizers.Tokenizer.from_str(to_hf_json_str(trained))
    for k, doc in enumerate(real_docs):
        assert_same_ids(trained.encode(doc), hf.encode(doc, add_special_tokens=False).ids, f"doc {k}")
    text = "a<|endoftext|>b<|pad|>"
    assert trained.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids
    ids = trained.encode(real_docs[3])
    assert hf.decode(ids) == trained.decode(ids)


def test_exported_tokenizer_in_transformers(trained, tmp_path, real_docs):
    transformers = pytest.importorskip("transformers")
    from tokenlab.io import write_hf_json

    path = tmp_path / "tokenizer.json"
    write_hf_json(trained, path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    for doc in real_docs[::5]:
        assert fast.encode(doc, add_special_tokens=False) == trained.encode(doc)
    assert fast.convert_tokens_to_ids("<|endoftext|>") == trained.special_tokens["<|endoftext|>"]


def test_hf_json_round_trip_keeps_ids(trained, cl100k, tmp_path, real_docs):
    from tokenlab.io import load_tokenizer, write_hf_json

    for tok in (trained, cl100k):
        path = tmp_path / "t.json"
        write_hf_json(tok, path)
        back = load_tokenizer(path)
        assert back.vocab == tok.vocab and back.merges == tok.merges
        assert back.special_tokens == tok.special_tokens
        assert back.encode(real_docs[1]) == tok.encode(real_docs[1])


def test_reads_real_hf_tokenizer_json_from_hf_trainer(real_docs):
    """A tokenizer.json written by HF itself (GPT-2 style ByteLevel) loads with equal ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from tokenlab.io.hf_json import from_hf_dict

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator(real_docs[:60], trainers.BpeTrainer(
        vocab_size=1500, special_tokens=["<s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    ours = from_hf_dict(json.loads(hf.to_str()))
    assert ours.special_tokens == {"<s>": 0}
    for doc in real_docs[::9]:
        assert_same_ids(ours.encode(doc), hf.encode(doc).ids, "doc")


@pytest.fixture(scope="module")
def tekken_path():
    import os

    mistral_common = pytest.importorskip("mistral_common")
    return os.path.join(os.path.dirname(mistral_common.__file__), "data", "tekken_240911.json")


def test_tekken_equals_mistral_common(tekken_path, real_docs):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    ref = Tekkenizer.from_file(tekken_path)
    ours = read_tekken(tekken_path)
    assert len(ours) == ref.n_words
    assert ours.special_tokens["<s>"] == ref.bos_id and ours.special_tokens["</s>"] == ref.eos_id
    for k, doc in enumerate(real_docs[::3]):
        assert_same_ids(ours.encode(doc, disallowed_special=()), ref.encode(doc, bos=False, eos=False), f"doc {k}")
    ids = ref.encode(real_docs[0], bos=False, eos=False)
    assert ours.decode(ids) == ref.decode(ids)


def test_known_tiktoken_file_loads_with_its_pattern_and_specials(cl100k_path, cl100k_ref):
    from tokenlab.io import load_tokenizer

    tok = load_tokenizer(cl100k_path)
    assert tok.name == "cl100k_base" and tok.pretokenizer.pattern == "cl100k"
    assert tok.special_tokens == cl100k_ref._special_tokens
    text = "x <|endoftext|> 12345 don't"
    assert tok.encode(text, allowed_special="all") == cl100k_ref.encode(text, allowed_special="all")
