"""The stress run docs/transfer.md states: 20,000 random cuts per pre-tokenizer pattern (gpt2, cl100k, o200k,
whitespace; with and without digit splitting) and no prompt whose kept pieces change when the text goes on."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from tokenlab import PreTokenizer
from tokenlab.transfer.healing import _backoff_start

CUTS = 20_000
TRICKY = ("don't it's HELLOworld I'M we'll x'd 12345 a\n\n b  \t\n\r\n  c ///// http://x.y/z 'quoted' 日本語 "
          "... 3.14159 ")


@pytest.mark.parametrize("split_digits", [None, 3])
@pytest.mark.parametrize("pattern", ["gpt2", "cl100k", "o200k", "whitespace"])
def test_kept_pieces_never_change_20000_cuts(real_text, pattern, split_digits):
    pre = PreTokenizer(pattern, split_digits=split_digits)
    tok = SimpleNamespace(pretokenizer=pre)
    text = real_text[:400_000] + TRICKY * 50
    rng = random.Random(f"{pattern}-{split_digits}")
    for _ in range(CUTS):
        start = rng.randrange(len(text) - 100)
        snippet = text[start:start + rng.randrange(2, 100)]
        cut = rng.randrange(1, len(snippet))
        prompt = snippet[:cut]
        pieces = pre.split(prompt)  # heal_prompt encodes the whole prompt, then drops the tail's tokens
        start, spelled, j = _backoff_start(tok, prompt), 0, 0
        while spelled < start:
            spelled += len(pieces[j].encode("utf-8", "surrogatepass"))
            j += 1
        assert spelled == start  # the tail starts on a piece boundary
        assert pre.split(snippet)[:j] == pieces[:j], (pattern, prompt, snippet[cut:])
