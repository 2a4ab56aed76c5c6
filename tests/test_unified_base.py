"""One tokenizer hierarchy (issue 11, Design): every model kind is a `TokenizerBase`, exposes its five pipeline
components, and encodes/decodes the same through the base class's generic code, through its component view and
through its own (compiled or specialised) methods."""

from __future__ import annotations

import io
import pickle
import pydoc_data.topics

import numpy as np
import pytest

from tokenlab.base import Components, TokenizerBase
from tokenlab.errors import FormatError
from tokenlab.models.base import ModelBase
from tokenlab.pipeline.models import Model

TEXTS = [
    "Hello wörld, it's 12345 tokens — 日本語のテキスト 🤖🤖 end",
    "  double  spaces\n\tand\ttabs; <|endoftext|> after a special",
    "def f(x):\n    return x ** 2  # ünïcödé Ελληνικά русский عربى\u0301",
    "",
    "<|endoftext|>",
]
# kinds whose decode gives back the input exactly (WordPiece lowercases, sentencepiece/wordlevel normalise)
LOSSLESS = {"byte-level BPE", "superword", "scaffold", "char-BPE", "unigram", "sentencepiece BPE",
            "metaspace BPE (tokenizer.json)"}
# kinds whose bytes are the concatenation of their tokens' bytes (sentencepiece's decode drops the dummy prefix)
CONCATENATING = {"byte-level BPE", "superword", "scaffold", "char-BPE", "unigram"}
MODEL_TYPES = {"byte-level BPE": "BPE", "superword": "SuperwordTokenizer", "scaffold": "ScaffoldTokenizer",
               "char-BPE": "BPE",
               "unigram": "Unigram", "wordpiece": "WordPiece", "sentencepiece BPE": "BPE",
               "metaspace BPE (tokenizer.json)": "BPE", "wordlevel pipeline": "WordLevel",
               "pipeline (tokenizer.json)": "BPE"}


@pytest.fixture(scope="module")
def docs():
    topics = pydoc_data.topics.topics
    return [topics[k] for k in sorted(topics)][:40] + TEXTS[:3]


@pytest.fixture(scope="module")
def kinds(docs):
    import sentencepiece as spm

    from tokenlab import train_bpe
    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.io.sentencepiece import parse_sentencepiece
    from tokenlab.models.wordpiece import WordPieceTokenizer, minilm_vocab_path
    from tokenlab.pipeline import PipelineTokenizer
    from tokenlab.pipeline import pre_tokenizers as pt
    from tokenlab.pipeline.models import WordLevel
    from tokenlab.train.char_bpe import train_char_bpe
    from tokenlab.train.scaffold import train_scaffold
    from tokenlab.train.superbpe import train_boundless
    from tokenlab.train.unigram import train_unigram

    special = ["<|endoftext|>"]
    out = {
        "byte-level BPE": train_bpe(docs, 600, pretokenizer="gpt2", special_tokens=special),
        "superword": train_boundless(docs, 600, pretokenizer="gpt2"),
        "scaffold": train_scaffold(docs, 600, pretokenizer="gpt2", special_tokens=special),
        "char-BPE": train_char_bpe(docs, 500, pretokenizer="gpt2", special_tokens=special),
        "unigram": train_unigram(docs[:15], 400, pretokenizer="gpt2", special_tokens=special, progress=False),
        "wordpiece": WordPieceTokenizer.from_vocab_txt(minilm_vocab_path()),
    }
    buf = io.BytesIO()
    lines = [line for d in docs for line in d.split("\n") if line.strip()]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=600, model_type="bpe",
                                   byte_fallback=True, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False, minloglevel=2, num_threads=1)
    sp = out["sentencepiece BPE"] = parse_sentencepiece(buf.getvalue())
    out["metaspace BPE (tokenizer.json)"] = from_hf_dict(sp.to_hf_dict())  # Llama-style file, its fast path
    out["pipeline (tokenizer.json)"] = from_hf_dict(out["byte-level BPE"].to_pipeline().to_hf_dict(), pipeline=True)
    words = sorted({w for t in TEXTS for w in t.split()} | {"[UNK]"})
    out["wordlevel pipeline"] = PipelineTokenizer(WordLevel({w: i for i, w in enumerate(words)}, "[UNK]"),
                                                  pre_tokenizer=pt.WhitespaceSplit())
    return out


@pytest.fixture(params=list(MODEL_TYPES))
def kind(request, kinds):
    return request.param, kinds[request.param]


def test_every_kind_is_the_one_base(kind):
    name, tok = kind
    assert isinstance(tok, TokenizerBase), name
    assert ModelBase is TokenizerBase  # the old name is the same class, so both hierarchies are one


def test_every_kind_exposes_its_five_components(kind):
    name, tok = kind
    comps = tok.components()
    assert isinstance(comps, Components) and len(comps) == 5
    assert comps._fields == ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder")
    assert isinstance(comps.model, Model)
    assert comps.model.type_name == MODEL_TYPES[name]
    assert type(tok.to_pipeline().model) is type(comps.model)


def _ids(x) -> list[int]:
    return x.tolist() if isinstance(x, np.ndarray) else list(x)


def test_base_api_component_view_and_own_methods_agree(kind):
    name, tok = kind
    pipe = tok.to_pipeline()
    for text in TEXTS:
        own = _ids(tok.encode(text, allowed_special="all"))
        # the base class's generic encode (split on specials, encode each segment) = the class's own, e.g. the
        # compiled byte-level path that inlines it
        assert _ids(TokenizerBase.encode(tok, text, allowed_special="all")) == own, (name, text)
        assert _ids(tok.encode(text, allowed_special="all", as_array=True)) == own
        assert pipe.encode(text, allowed_special="all") == own, (name, text)
        assert [_ids(x) for x in tok.encode_batch([text, text], allowed_special="all")] == [own, own]
        skip = {"skip_special_tokens": True} if name == "wordpiece" else {}
        assert tok.decode(own) == pipe.decode(own, **skip), (name, text)
        if name in LOSSLESS:
            assert tok.decode(own) == text, (name, text)
        if name in CONCATENATING:  # the base's generic decode = the class's own (the compiled one for BPE)
            assert TokenizerBase.decode(tok, own) == text
            assert TokenizerBase.decode_bytes(tok, own) == tok.decode_bytes(own) == text.encode()


def test_encode_full_offsets_of_the_research_models(kinds):
    text = "Hello world, it's 12345 tokens and more tokens; naïve café 🤖."
    for name in ("superword", "scaffold"):
        tok = kinds[name]
        enc = tok.encode_full(text)
        assert enc.ids == tok.encode(text), name
        spans = [text[s:e].encode() for s, e in enc.offsets]
        for i, (s, e), got in zip(enc.ids, enc.offsets, spans):
            piece = tok.token_bytes(i)
            if piece.decode("utf-8", "ignore") == piece.decode("utf-8", "replace"):  # whole characters
                assert got == piece, (name, i, s, e)
            else:  # part of a character: HF's byte-level rule gives the whole character
                assert piece in got
        # the spans run through the text in order and cover all of it
        assert enc.offsets[0][0] == 0 and enc.offsets[-1][1] == len(text)
        for (_, end), (start, _) in zip(enc.offsets, enc.offsets[1:]):
            assert start <= end


def test_research_models_have_no_tokenizer_json(kinds):
    for name in ("superword", "scaffold"):
        with pytest.raises(FormatError, match="no tokenizer.json form"):
            kinds[name].to_pipeline().to_hf_dict()


def test_a_kind_without_components_says_so():
    class Plain(TokenizerBase):
        special_tokens: dict = {}

        def encode_ordinary(self, text):
            return list(text.encode())

        def _id_to_bytes_table(self):
            return [bytes([b]) for b in range(256)]

    tok = Plain()
    assert tok.decode(tok.encode("ab<c>")) == "ab<c>"
    assert tok.encode("x", as_array=True).dtype == np.uint32
    with pytest.raises(FormatError, match="Plain has no component form"):
        tok.components()


def test_pickles_skip_derived_views(kinds):
    tok = kinds["byte-level BPE"]
    tok.components()  # caches the component view
    assert "_offsets_pipeline" in tok.__dict__
    copy = pickle.loads(pickle.dumps(tok))
    assert "_offsets_pipeline" not in copy.__dict__ and "_fast" not in copy.__dict__
    assert copy.encode(TEXTS[0]) == tok.encode(TEXTS[0])


def test_tokenizer_read_from_tokenizer_json_keeps_its_post_processor():
    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.tokenizer import Tokenizer

    vocab = {bytes([b]): b for b in range(256)}
    d = from_hf_dict(Tokenizer(vocab, [], pretokenizer="gpt2", special_tokens={"<s>": 256}).to_pipeline().to_hf_dict())
    raw = d.to_pipeline().to_hf_dict()
    raw["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                      {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {"<s>": {"id": "<s>", "ids": [256], "tokens": ["<s>"]}}}
    tok = from_hf_dict(raw)
    assert isinstance(tok, Tokenizer)  # the compiled path
    assert type(tok.components().post_processor).__name__ == "TemplateProcessing"
    assert tok.encode_full("hi").ids == tok.to_pipeline().encode_full("hi").ids == [256, ord("h"), ord("i")]


def test_kinds_without_a_component_form_keep_the_contract(docs):
    from tokenlab.train.frequency import train_huffman
    from tokenlab.train.lib import train_lib

    text = "Hello wörld, it's 12345 tokens — 日本語 🤖 <|endoftext|> end"
    for tok in (train_lib(docs[:10], 600, epochs=20, special_tokens=["<|endoftext|>"], progress=False),
                train_huffman(docs[:10], 600, special_tokens=["<|endoftext|>"])):
        assert isinstance(tok, TokenizerBase)
        ids = tok.encode(text, allowed_special="all")
        assert tok.decode(ids) == text and tok.decode_bytes(ids) == text.encode()
        assert tok.encode_batch([text], allowed_special="all") == [ids]
        with pytest.raises(FormatError, match=f"{type(tok).__name__} has no component form"):
            tok.components()


def test_metaspace_models_loaded_from_their_own_json_have_components(docs):
    """A Metaspace model saved in tokenlab's JSON has no tokenizer.json behind it: its components are rebuilt from
    its fields, and ids and decode through them equal the model's own and HF's."""
    import json

    from tokenizers import SentencePieceBPETokenizer, SentencePieceUnigramTokenizer
    from tokenizers import Tokenizer as HFTokenizer

    from tokenlab.io.hf_json import from_hf_dict
    from tokenlab.models.metaspace_bpe import MetaspaceBPE, MetaspaceUnigram

    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(docs, vocab_size=400, show_progress=False, special_tokens=["<unk>", "<s>"],
                                unk_token="<unk>")
    bpe = SentencePieceBPETokenizer()
    bpe.train_from_iterator(docs, vocab_size=400, show_progress=False, special_tokens=["<unk>"])
    for trained, kind in ((unigram, MetaspaceUnigram), (bpe, MetaspaceBPE)):
        d = json.loads(trained.to_str())
        d["normalizer"] = {"type": "NFKC"}  # (the Unigram trainer's Nmt normalizer takes the generic path)
        hf = HFTokenizer.from_str(json.dumps(d))
        read = from_hf_dict(d)
        assert type(read) is kind
        own = kind.from_dict(json.loads(json.dumps(read.to_dict())))
        assert "_hf_source" not in own.__dict__
        comps = own.components()
        assert type(comps.pre_tokenizer).__name__ == "Metaspace" and comps.model.type_name == kind.__name__[9:]
        pipe = own.to_pipeline()
        for text in [t for t in TEXTS if "<|" not in t] + [" a", "ﬁve  ①"]:
            ids = own.encode(text)
            assert ids == read.encode(text) == pipe.encode(text) == hf.encode(text).ids, (kind, text)
            assert own.decode(ids) == pipe.decode(ids) == hf.decode(ids, skip_special_tokens=False), (kind, text)
