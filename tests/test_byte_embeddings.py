"""Bit-biased byte embeddings: the folded plain table must reproduce the training-time outputs exactly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tokenlab.byte_embeddings import (  # noqa: E402
    BitBiasedByteEmbedding,
    byte_bits,
    fold_input_embeddings,
    patch_input_embeddings,
)
from tokenlab.byte_tokenizer import ByteTokenizer  # noqa: E402
from tokenlab.errors import InvalidInputError  # noqa: E402


def _trained_module(dim=16, seed=0, steps=5):
    """A module whose bit projection is non-zero because it was actually trained a few steps."""
    torch.manual_seed(seed)
    module = BitBiasedByteEmbedding(dim)
    target = torch.randn(256, dim)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    ids = torch.arange(256)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((module(ids) - target) ** 2).mean()
        loss.backward()
        opt.step()
    assert module.bit_proj.abs().sum() > 0
    return module


def test_bits_are_msb_first_like_the_reference():
    from utf8_tokenizer.byte_embeddings import unpack_bits

    ref = unpack_bits(torch.arange(256, dtype=torch.uint8)).to(torch.float32)
    assert torch.equal(byte_bits(torch.float32), ref)
    # hand-checked rows: 0x80 -> 10000000, 0x05 -> 00000101
    assert byte_bits()[0x80].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert byte_bits()[0x05].tolist() == [0, 0, 0, 0, 0, 1, 0, 1]


def test_starts_equal_to_the_plain_table_and_bit_term_trains():
    torch.manual_seed(1)
    plain = torch.nn.Embedding(256, 8)
    module = BitBiasedByteEmbedding.from_embedding(plain)
    ids = torch.randint(0, 256, (3, 7))
    assert torch.equal(module(ids), plain(ids))  # zero-initialised bit projection
    module(ids).sum().backward()
    assert module.bit_proj.grad is not None and module.bit_proj.grad.abs().sum() > 0
    # d(sum of outputs)/dP[j, k] = sum over looked-up ids of bit k
    expected = byte_bits()[ids.flatten()].sum(0).expand(8, 8)
    assert torch.allclose(module.bit_proj.grad, expected)


def test_same_formula_as_reference_bit_embedding():
    from utf8_tokenizer.byte_embeddings import BitEmbedding

    module = _trained_module()
    ref = BitEmbedding(module.weight.detach())
    with torch.no_grad():
        ref.bit_proj.copy_(module.bit_proj)
    ids = torch.randint(0, 256, (4, 33))
    assert torch.allclose(module(ids), ref(ids), atol=1e-6, rtol=1e-6)
    # and by hand for one byte: W[b] + P @ bits(b)
    b = 0xC3
    by_hand = module.weight[b] + module.bit_proj @ byte_bits()[b]
    assert torch.allclose(module.folded_weight()[b], by_hand, atol=1e-6)


def test_folded_table_gives_identical_outputs():
    module = _trained_module(dim=24)
    plain = module.fold()
    assert isinstance(plain, torch.nn.Embedding) and plain.weight.shape == (256, 24)
    tok = ByteTokenizer()
    ids, _ = tok.encode_batch(["Hello wörld 🤖", "déjà vu", ""])
    ids_t = torch.from_numpy(ids).long()
    with torch.no_grad():
        assert torch.equal(module(ids_t), plain(ids_t))
        assert torch.equal(module(torch.from_numpy(ids)), plain(ids_t))  # uint8 ids accepted
        assert torch.allclose(module(ids_t), plain(ids_t), atol=1e-7)


class _TinyLM(torch.nn.Module):
    """Embedding -> GRU -> head, with the HF-style accessors patch/fold rely on."""

    def __init__(self, dim=16, tied=False):
        super().__init__()
        self.embed = torch.nn.Embedding(256, dim)
        self.rnn = torch.nn.GRU(dim, dim, batch_first=True)
        self.head = torch.nn.Linear(dim, 256, bias=False)
        if tied:
            self.head.weight = self.embed.weight

    def get_input_embeddings(self):
        return self.embed

    def set_input_embeddings(self, module):
        self.embed = module

    def get_output_embeddings(self):
        return self.head

    def forward(self, ids):
        hidden, _ = self.rnn(self.embed(ids))
        return self.head(hidden)


@pytest.mark.parametrize("tied", [False, True])
def test_model_forward_identical_after_fold(tied):
    torch.manual_seed(2)
    model = _TinyLM(tied=tied)
    patched = patch_input_embeddings(model)
    if tied:
        assert patched.weight is model.head.weight
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tok = ByteTokenizer()
    ids, _ = tok.encode_batch(["the quick brown fox", "jumps över 🦊", "x"])
    ids = torch.from_numpy(ids).long()
    for _ in range(5):
        opt.zero_grad()
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
    assert patched.bit_proj.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        before = model(ids)
        plain = fold_input_embeddings(model)
        after = model(ids)
    assert isinstance(model.get_input_embeddings(), torch.nn.Embedding) and plain is model.embed
    assert torch.allclose(before, after, atol=1e-6, rtol=1e-5)
    assert torch.equal(before, after)


def test_bad_inputs():
    with pytest.raises(InvalidInputError):
        BitBiasedByteEmbedding(8, weight=torch.zeros(255, 8))
    with pytest.raises(InvalidInputError):
        BitBiasedByteEmbedding(0)
    with pytest.raises(InvalidInputError):
        BitBiasedByteEmbedding.from_embedding(torch.nn.Linear(2, 2))
    model = _TinyLM()
    with pytest.raises(InvalidInputError):
        fold_input_embeddings(model)  # not patched
    model.embed = torch.nn.Embedding(300, 4)
    with pytest.raises(InvalidInputError):
        patch_input_embeddings(model)
    with pytest.raises(InvalidInputError):
        patch_input_embeddings(object())
