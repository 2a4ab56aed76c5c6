"""The pinned HF Unicode table (src/tokenlab/data/hf_unicode.json) against the installed ``tokenizers``:
a sample of code points every run, all of them in the slow test (the regeneration script itself)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, normalizers, pre_tokenizers  # noqa: E402

from tokenlab.pipeline import hf_unicode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("make_hf_unicode_tables", ROOT / "scripts" /
                                                  "make_hf_unicode_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sample(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    picks = [rng.randrange(0, 0x110000) for _ in range(n)] + [0x1FACA, 0x11BC3, 0x0B55, 0x0C8C, 0x0C84, 0x3000,
                                                               0x1C, 0x85, 0xA0, 0x190F1, 0x3DF32]
    return [chr(c) for c in picks if not 0xD800 <= c < 0xE000]


def test_sampled_code_points_match_installed_tokenizers():
    bert = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True)
    ours_bert = __import__("tokenlab.pipeline.normalizers", fromlist=["BertNormalizer"]).BertNormalizer(
        True, True, True, True)
    ws, punct, digits = pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits()
    letters = pre_tokenizers.Split(Regex(r"\p{L}"), behavior="removed")
    for ch in _sample(4000, seed=3):
        assert ours_bert.normalize_str(ch) == bert.normalize_str(ch), hex(ord(ch))
        assert (ch in hf_unicode.char_class("white_space")) == ([p for p, _ in ws.pre_tokenize_str(f"a{ch}a")]
                                                                == ["a", "a"]), hex(ord(ch))
        assert (ch in hf_unicode.char_class("punctuation")) == (len(punct.pre_tokenize_str(f"a{ch}a")) == 3)
        assert (ch in hf_unicode.char_class("numeric")) == (len(digits.pre_tokenize_str(f"a{ch}a")) == 3)
        assert (ch in _pinned_letter()) == (letters.pre_tokenize_str(ch) == []), hex(ord(ch))
        for form in ("NFC", "NFD", "NFKC", "NFKD"):
            ours = "".join(seg for _, _, seg in hf_unicode.normalize_segments(ch, form))
            assert ours == getattr(normalizers, form)().normalize_str(ch), (form, hex(ord(ch)))


def _pinned_letter():
    return hf_unicode.CharClass(hf_unicode.table()["regex_properties"]["L"])


@pytest.mark.slow
def test_full_reprobe_equals_the_shipped_table():
    """Every code point, every class (about two minutes): regenerate in memory and compare."""
    shipped = json.loads((ROOT / "src" / "tokenlab" / "data" / "hf_unicode.json").read_text(encoding="utf-8"))
    module = _script()
    assert module.probe_classes() == shipped["classes"]
    assert module.probe_maps() == shipped["maps"]
    assert module.probe_regex_properties() == shipped["regex_properties"]
