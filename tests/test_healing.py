"""Token healing: known answers on cl100k (checked against tiktoken's vocabulary) and a
property test that the original tokenization stays reachable under the constraints."""

from __future__ import annotations

import random

import pytest

from tokenlab import InvalidInputError
from tokenlab.transfer import heal_prompt

from conftest import check_healing_reaches_original


def brute_force_allowed(ref, remaining: bytes) -> set[int]:
    """Every ordinary cl100k token (from tiktoken itself) consistent with the owed bytes."""
    out = set()
    for i in range(ref.n_vocab):
        try:
            b = ref.decode_single_token_bytes(i)
        except KeyError:
            continue
        if i in ref._special_tokens.values():
            continue
        if b.startswith(remaining) or remaining.startswith(b):
            out.add(i)
    return out


@pytest.fixture(scope="module")
def cl100k_by_bytes(cl100k_ref):
    return {cl100k_ref.decode_single_token_bytes(i): i for i in range(100256)}


def test_url_prompt_heals_colon(cl100k, cl100k_ref):
    plan = heal_prompt(cl100k, "The url is https:")
    assert plan.prompt_ids == cl100k_ref.encode("The url is https")
    assert plan.removed == b":"
    allowed = set(plan.allowed_ids().tolist())
    assert allowed == brute_force_allowed(cl100k_ref, b":")
    assert cl100k_ref.encode_single_token(b"://") in allowed
    # after generating "://" nothing is owed any more
    assert plan.allowed_ids([cl100k_ref.encode_single_token(b"://")]) is None


def test_mid_word_prompt(cl100k, cl100k_ref):
    plan = heal_prompt(cl100k, "Visit http")
    assert plan.removed == b" http"
    assert plan.prompt_ids == cl100k_ref.encode("Visit")
    allowed = set(plan.allowed_ids().tolist())
    assert allowed == brute_force_allowed(cl100k_ref, b" http")
    names = {cl100k_ref.decode_single_token_bytes(i) for i in allowed}
    assert {b" https", b" http", b" h", b" ht"} <= names
    # choosing the shorter " ht" leaves "tp" owed
    step2 = plan.allowed_ids([cl100k_ref.encode_single_token(b" ht")])
    assert set(step2.tolist()) == brute_force_allowed(cl100k_ref, b"tp")
    assert plan.remaining([cl100k_ref.encode_single_token(b" ht")]) == b"tp"
    with pytest.raises(InvalidInputError, match="does not match"):
        plan.remaining([cl100k_ref.encode_single_token(b" the")])


def test_fixed_backoff_and_specials(cl100k, cl100k_ref):
    plan = heal_prompt(cl100k, "hello world", backoff=2)
    assert plan.removed == b"hello world" and plan.prompt_ids == []
    plan = heal_prompt(cl100k, "a<|endoftext|>", allowed_special="all", backoff=3)
    assert plan.prompt_ids == cl100k_ref.encode("a<|endoftext|>", allowed_special="all")
    assert plan.removed == b""
    assert plan.allowed_ids() is None
    mask = heal_prompt(cl100k, "x http").allowed_mask()
    assert mask.dtype == bool and mask.sum() == len(brute_force_allowed(cl100k_ref, b" http"))
    with pytest.raises(InvalidInputError):
        heal_prompt(cl100k, "abc", backoff=-1)


def test_trailing_whitespace_backs_off_whole_run(cl100k, cl100k_ref):
    # "\n " then "\n" regroups into one "\n \n" pre-token; both whitespace pieces must go
    plan = heal_prompt(cl100k, "x\n ")
    assert plan.removed == b"\n "
    full = cl100k_ref.encode("x\n \ny")
    assert full[: len(plan.prompt_ids)] == plan.prompt_ids


def _check_reachable(tok, text, rng, trials):
    check_healing_reaches_original(tok, text, rng, trials)


def test_original_tokenization_reachable_cl100k(cl100k, real_text):
    _check_reachable(cl100k, real_text, random.Random(0), 400)


@pytest.fixture(scope="module")
def small_gpt2(real_docs):
    """A small BPE with the GPT-2 pre-tokenizer (the cl100k one is covered by the test above)."""
    from tokenlab import train_bpe

    return train_bpe(real_docs[:40] + real_docs[-30:], vocab_size=1200, pretokenizer="gpt2",
                     special_tokens=["<|endoftext|>"], progress=False)


TRICKY = "don't it's HELLOworld I'M we'll x'd 12345 a\n\n b  \t\n\r\n  c ///// http://x.y/z 'quoted' 日本語 ..." * 4


def test_original_tokenization_reachable_gpt2_pattern(small_gpt2, real_text):
    _check_reachable(small_gpt2, real_text, random.Random(1), 300)
    _check_reachable(small_gpt2, TRICKY, random.Random(2), 300)


def test_original_tokenization_reachable_o200k_pattern(small_gpt2, real_text):
    from tokenlab import PreTokenizer, Tokenizer

    tok = Tokenizer(vocab=small_gpt2.vocab, merges=small_gpt2.merges, pretokenizer=PreTokenizer("o200k"))
    _check_reachable(tok, real_text, random.Random(3), 200)
    _check_reachable(tok, TRICKY, random.Random(4), 300)


def test_apostrophe_regrouping(small_gpt2):
    from tokenlab import PreTokenizer, Tokenizer

    # GPT-2 splits "we'l" as " we" "'" "l" but "we'll" as " we" "'ll": the "'" piece must go too
    # (and, by the same rule that o200k needs, the word before it)
    plan = heal_prompt(small_gpt2, "so we'l")
    assert plan.removed == b" we'l" and plan.prompt_ids == small_gpt2.encode("so")
    # o200k glues contractions to the word: "don'" + "t" is the single piece "don't"
    o200k = Tokenizer(vocab=small_gpt2.vocab, merges=small_gpt2.merges, pretokenizer=PreTokenizer("o200k"))
    plan = heal_prompt(o200k, "I don'")
    assert plan.removed == b" don'" and plan.prompt_ids == o200k.encode("I")


def test_logits_processor_masks_scores(cl100k, cl100k_ref):
    torch = pytest.importorskip("torch")
    from tokenlab.transfer.hf_logits import TokenHealingLogitsProcessor

    plan = heal_prompt(cl100k, "Visit http")
    proc = TokenHealingLogitsProcessor(plan)
    n = cl100k.n_vocab + 5  # models often pad the vocabulary
    ht = cl100k_ref.encode_single_token(b" ht")
    scores = torch.zeros(2, n)
    input_ids = torch.tensor([plan.prompt_ids + [ht], plan.prompt_ids + [ht]])
    input_ids[1, -1] = cl100k_ref.encode_single_token(b" https")  # second row is done
    out = proc(input_ids, scores)
    finite0 = set(torch.isfinite(out[0]).nonzero().flatten().tolist())
    assert finite0 == brute_force_allowed(cl100k_ref, b"tp")
    assert torch.isfinite(out[1]).all()
    first = proc(torch.tensor([plan.prompt_ids]), torch.zeros(1, n))
    assert set(torch.isfinite(first[0]).nonzero().flatten().tolist()) == brute_force_allowed(cl100k_ref, b" http")


def test_logits_processor_one_plan_per_row(cl100k, cl100k_ref):
    torch = pytest.importorskip("torch")
    from tokenlab.transfer.hf_logits import TokenHealingLogitsProcessor

    plans = [heal_prompt(cl100k, "Visit http"), heal_prompt(cl100k, "The url is https:")]
    width = max(len(p.prompt_ids) for p in plans)
    pad = cl100k_ref.encode_single_token(b"!")
    rows = [[pad] * (width - len(p.prompt_ids)) + p.prompt_ids for p in plans]  # left padding
    proc = TokenHealingLogitsProcessor(plans)
    out = proc(torch.tensor(rows), torch.zeros(2, cl100k.n_vocab))
    for row, owed in enumerate([b" http", b":"]):
        assert set(torch.isfinite(out[row]).nonzero().flatten().tolist()) == brute_force_allowed(cl100k_ref, owed)
    with pytest.raises(InvalidInputError):
        proc(torch.tensor(rows * 2), torch.zeros(4, cl100k.n_vocab))


def test_logits_processor_in_generate(small_gpt2):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenlab.transfer.hf_logits import TokenHealingLogitsProcessor

    trained = small_gpt2
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=trained.n_vocab, n_positions=64, n_embd=16, n_layer=1, n_head=2)
    model = transformers.GPT2LMHeadModel(config).eval()
    plan = heal_prompt(trained, "The value of sel")
    assert plan.removed == b" sel"
    proc = TokenHealingLogitsProcessor(plan)
    out = model.generate(torch.tensor([plan.prompt_ids]), max_new_tokens=6, do_sample=False,
                         logits_processor=transformers.LogitsProcessorList([proc]), pad_token_id=0)
    new = out[0, len(plan.prompt_ids):].tolist()
    text = trained.decode_bytes(new)
    assert text.startswith(b" sel") or b" sel".startswith(text)
    unconstrained = model.generate(torch.tensor([plan.prompt_ids]), max_new_tokens=6, do_sample=False,
                                   pad_token_id=0)
    assert not trained.decode_bytes(unconstrained[0, len(plan.prompt_ids):].tolist()).startswith(b" sel")
