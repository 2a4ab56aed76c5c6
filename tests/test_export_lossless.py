"""Exports that lose nothing (issue 11, finding 6): a ``.tiktoken`` export keeps its pattern and special tokens
(sidecar NAME.tiktoken.json), every format pair round-trips to the same ids, and ``--format hf`` writes a
directory ``transformers.AutoTokenizer`` loads with bos/eos/pad/unk so ``padding=True`` works."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from tokenlab import Tokenizer, train_bpe
from tokenlab.cli import main
from tokenlab.errors import FormatError
from tokenlab.io import load_tokenizer, save_tokenizer
from tokenlab.io.tiktoken_file import read_tiktoken, sidecar_path

from adversarial_text import snippets

SPECIALS = ["<|endoftext|>", "<|pad|>", "<|unk|>"]


@pytest.fixture(scope="module")
def gpt2_tok(real_docs):
    return train_bpe(real_docs[-300:], vocab_size=1500, pretokenizer="gpt2", special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def digits_tok(real_docs):
    return train_bpe(real_docs[-300:], vocab_size=1200, pretokenizer=r"\p{L}+|\p{N}+|[^\p{L}\p{N}]+",
                     split_digits=2, special_tokens=["<|eos|>"])


@pytest.fixture(scope="module")
def texts(real_docs):
    return ["I'm 12345", "I'm 12345 <|endoftext|> x<|pad|>", *snippets(seed=66, count=300, max_len=60),
            *real_docs[-30:]]


def _same_ids(a, b, texts):
    for t in texts:
        assert a.encode(t, allowed_special="all") == b.encode(t, allowed_special="all"), t[:60]


def test_tiktoken_export_keeps_pattern_and_specials(gpt2_tok, texts, tmp_path):
    path = tmp_path / "gpt2ish.tiktoken"
    result = CliRunner().invoke(main, ["convert", _saved(gpt2_tok, tmp_path), "-o", str(path), "--format", "tiktoken"])
    assert result.exit_code == 0, result.output
    assert os.path.isfile(sidecar_path(path))
    again = load_tokenizer(path)
    assert again.pretokenizer.pattern == "gpt2" and again.special_tokens == gpt2_tok.special_tokens
    assert again.encode("I'm 12345") == gpt2_tok.encode("I'm 12345")
    _same_ids(gpt2_tok, again, texts)


def test_tiktoken_export_readable_by_tiktoken(cl100k, tmp_path):
    """The rank file plus the sidecar's pattern and specials is what tiktoken needs for the same ids."""
    tiktoken = pytest.importorskip("tiktoken")
    from tokenlab.io.tiktoken_file import parse_tiktoken_ranks

    path = tmp_path / "cl.tiktoken"
    save_tokenizer(cl100k, path, "tiktoken")
    side = json.loads(open(sidecar_path(path), encoding="utf-8").read())
    assert side["merges"] is None  # tiktoken's own reading of the ranks: nothing extra needed
    ref = tiktoken.Encoding("x", pat_str=cl100k.pretokenizer.regex_str,
                            mergeable_ranks=parse_tiktoken_ranks(path.read_bytes()),
                            special_tokens=side["special_tokens"])
    text = "I'm 12345 héllo <|endoftext|>"
    assert load_tokenizer(path).encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")


def test_every_format_pair_round_trips(gpt2_tok, digits_tok, texts, tmp_path):
    formats = {"tokenlab": "json", "hf": "json", "tiktoken": "tiktoken"}
    for k, tok in enumerate((gpt2_tok, digits_tok)):
        for src, src_ext in formats.items():
            first = tmp_path / f"{k}-a-{src}.{src_ext}"
            save_tokenizer(tok, first, src)
            loaded = load_tokenizer(first)
            for dst, dst_ext in formats.items():
                second = tmp_path / f"{k}-b-{src}-{dst}.{dst_ext}"
                save_tokenizer(loaded, second, dst)
                again = load_tokenizer(second)
                assert isinstance(again, Tokenizer)
                assert again.special_tokens == tok.special_tokens, (src, dst)
                _same_ids(tok, again, texts[:120])


def test_tiktoken_refuses_ids_out_of_merge_order(gpt2_tok, tmp_path):
    vocab = dict(gpt2_tok.vocab)
    a, b = gpt2_tok.merges[0], gpt2_tok.merges[1]
    vocab[a[0] + a[1]], vocab[b[0] + b[1]] = vocab[b[0] + b[1]], vocab[a[0] + a[1]]
    shuffled = Tokenizer(vocab=vocab, merges=gpt2_tok.merges, pretokenizer="gpt2")
    path = tmp_path / "bad.tiktoken"
    with pytest.raises(FormatError, match="merge order"):
        save_tokenizer(shuffled, path, "tiktoken")
    assert not path.exists() and not os.path.exists(sidecar_path(path))


def test_explicit_arguments_override_the_sidecar(gpt2_tok, tmp_path):
    path = tmp_path / "t.tiktoken"
    save_tokenizer(gpt2_tok, path, "tiktoken")
    tok = read_tiktoken(path, pattern="cl100k", special_tokens={})
    assert tok.pretokenizer.pattern == "cl100k" and tok.special_tokens == {}
    # what the rank file alone used to reload as: other ids (the bug the sidecar fixes)
    assert tok.encode("I'm 12345") != gpt2_tok.encode("I'm 12345")
    (tmp_path / "t.tiktoken.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(FormatError, match="corrupt"):
        read_tiktoken(path)


# ---- HF tokenizer directories ----

def _saved(tok, tmp_path) -> str:
    path = tmp_path / f"src-{id(tok)}.json"
    if not path.exists():
        save_tokenizer(tok, path)
    return str(path)


def _auto(directory, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return transformers.AutoTokenizer.from_pretrained(str(directory))


def test_hf_directory_of_trained_tokenizer(gpt2_tok, texts, tmp_path, monkeypatch):
    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}<|endoftext|>{{ m['content'] }}{% endfor %}", encoding="utf-8")
    out = tmp_path / "hfdir"
    result = CliRunner().invoke(main, ["convert", _saved(gpt2_tok, tmp_path), "-o", str(out), "--format", "hf",
                                       "--bos", "<|endoftext|>", "--eos", "<|endoftext|>", "--pad", "<|pad|>",
                                       "--unk", "<|unk|>", "--chat-template", str(template)])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    hf = _auto(out, monkeypatch)
    assert (hf.bos_token, hf.eos_token, hf.pad_token, hf.unk_token) == ("<|endoftext|>", "<|endoftext|>",
                                                                       "<|pad|>", "<|unk|>")
    assert hf.pad_token_id == gpt2_tok.special_tokens["<|pad|>"]
    sample = [t for t in texts if t.strip()][:80]
    for t in sample:
        assert hf(t)["input_ids"] == gpt2_tok.encode(t, allowed_special="all"), t[:60]
        assert hf.decode(hf(t)["input_ids"]) == gpt2_tok.decode(gpt2_tok.encode(t, allowed_special="all"))
    batch = hf(sample[:8], padding=True)
    lengths = {len(ids) for ids in batch["input_ids"]}
    assert len(lengths) == 1
    for t, ids, mask in zip(sample[:8], batch["input_ids"], batch["attention_mask"]):
        own = gpt2_tok.encode(t, allowed_special="all")
        assert [i for i, m in zip(ids, mask) if m] == own
        assert all(i == hf.pad_token_id for i, m in zip(ids, mask) if not m)
    chat = hf.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat == "<|endoftext|>hi"


def test_hf_directory_of_cl100k_with_bos_added(cl100k, tmp_path, monkeypatch):
    from tokenlab.io.hf_dir import write_hf_dir

    out = tmp_path / "cl"
    write_hf_dir(cl100k, out, bos="<|endoftext|>", eos="<|endoftext|>", pad="<|endoftext|>", add_bos=True)
    hf = _auto(out, monkeypatch)
    texts = ["I'm 12345", "héllo wörld 😀 日本語", "def f(x):\n    return x  # ok"]
    for t in texts:
        assert hf(t)["input_ids"] == [cl100k.special_tokens["<|endoftext|>"], *cl100k.encode(t)]
    batch = hf(texts, padding=True)
    assert len({len(ids) for ids in batch["input_ids"]}) == 1


def test_hf_directory_errors(gpt2_tok, tmp_path):
    src = _saved(gpt2_tok, tmp_path)
    out = tmp_path / "nope"
    result = CliRunner().invoke(main, ["convert", src, "-o", str(out), "--format", "hf", "--pad", "<|missing|>"])
    assert result.exit_code != 0 and "error:" in result.output and "<|missing|>" in result.output
    assert "Traceback" not in result.output and not out.exists()
    result = CliRunner().invoke(main, ["convert", src, "-o", str(tmp_path / "x.json"), "--format", "hf",
                                       "--pad", "<|pad|>"])
    assert result.exit_code != 0 and "--pad" in result.output
    result = CliRunner().invoke(main, ["convert", src, "-o", str(tmp_path / "plain.json"), "--format", "hf"])
    assert result.exit_code == 0 and json.loads((tmp_path / "plain.json").read_text())["model"]["type"] == "BPE"


def test_hf_directory_without_role_options(gpt2_tok, tmp_path, monkeypatch):
    """A trailing slash (or an existing directory) asks for the directory; no roles is fine."""
    out = tmp_path / "plain-dir"
    result = CliRunner().invoke(main, ["convert", _saved(gpt2_tok, tmp_path), "-o", f"{out}/", "--format", "hf"])
    assert result.exit_code == 0, result.output
    hf = _auto(out, monkeypatch)
    assert hf("I'm 12345")["input_ids"] == gpt2_tok.encode("I'm 12345") and hf.pad_token is None
