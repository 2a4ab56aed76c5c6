"""The compiled byte-level BPE (`tokenlab.Tokenizer`) and the generic component pipeline read the same
tokenizer.json: their ids must agree on real and adversarial text (fused == generic for every plan the
fast path takes), and the pipeline must agree with HF ``tokenizers`` itself."""

from __future__ import annotations

import json

import pytest
from hf_pipeline_helpers import adversarial, corpus_lines

from tokenlab.io.hf_json import from_hf_dict, to_hf_dict
from tokenlab.pipeline import PipelineTokenizer
from tokenlab.tokenizer import Tokenizer

tokenizers = pytest.importorskip("tokenizers")


def _texts(real_docs) -> list[str]:
    return corpus_lines() + [d[:3000] for d in real_docs[:40]] + adversarial(400, seed=5)


@pytest.mark.parametrize("which", ["cl100k", "trained"])
def test_fast_and_generic_paths_agree(which, request, real_docs):
    tok = request.getfixturevalue(which)
    d = to_hf_dict(tok)
    fast = from_hf_dict(d)
    generic = from_hf_dict(d, pipeline=True)
    assert isinstance(fast, Tokenizer) and isinstance(generic, PipelineTokenizer)
    hf = tokenizers.Tokenizer.from_str(json.dumps(d))
    for text in _texts(real_docs):
        ids = generic.encode_ordinary(text)
        assert ids == hf.encode(text, add_special_tokens=False).ids, text[:60]
        assert fast.encode_ordinary(text) == ids, text[:60]
        assert generic.decode(ids) == fast.decode(ids) == hf.decode(ids, skip_special_tokens=False)


def test_tokenizer_to_pipeline_gives_hf_offsets(trained):
    pipe = trained.to_pipeline()
    hf = tokenizers.Tokenizer.from_str(json.dumps(to_hf_dict(trained)))
    for text in ("Hello wörld 12345 日本", "  x\n\n\ty 👩\u200d👩\u200d👧", *adversarial(100, seed=9)):
        enc, ref = pipe.encode_full(text), hf.encode(text)
        assert enc.ids == trained.encode_ordinary(text) == ref.ids
        assert enc.offsets == ref.offsets, text
