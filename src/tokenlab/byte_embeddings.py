"""Bit-biased byte embeddings: a 256×d table plus a learned projection of each byte's 8 bits.

Training sees ``E[b] = W[b] + bits(b) @ P.T`` (``bits`` MSB first, 0/1; ``P`` is d×8 and starts at zero, so
training starts from the plain table). After training the bit term is folded into a plain 256×d table, so
inference costs nothing extra. This is the formulation of utf8-tokenizer's ``BitEmbedding``. Needs torch
(extra ``tokenlab[torch]``); torch is imported only when this module's classes are first used.
"""

from __future__ import annotations

from functools import cache

from .errors import InvalidInputError

__all__ = ["BitBiasedByteEmbedding", "byte_bits", "patch_input_embeddings", "fold_input_embeddings"]  # noqa: F822 - provided lazily by __getattr__ (torch extra)


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tokenlab.byte_embeddings needs torch: pip install 'tokenlab[torch]'") from exc
    return torch


def byte_bits(dtype=None, device=None):
    """(256, 8) tensor: row b holds the bits of byte b, most significant first, as 0/1."""
    torch = _torch()
    values = torch.arange(256, dtype=torch.int64, device=device)
    shifts = torch.arange(7, -1, -1, dtype=torch.int64, device=device)
    bits = (values[:, None] >> shifts) & 1
    return bits.to(dtype or torch.get_default_dtype())


@cache
def _module_class():
    torch = _torch()
    nn = torch.nn

    class BitBiasedByteEmbedding(nn.Module):
        """Byte embedding for training: plain table ``weight`` plus ``bit_proj`` (d×8) over the byte's bits.

        The forward pass builds the 256×d table once per call and looks ids up in it, so ``fold()`` returns
        exactly what the forward pass uses (bit-identical), and the bit term costs 256·8·d flops per step
        whatever the batch size.
        """

        def __init__(self, embedding_dim: int, *, weight=None, dtype=None, device=None):
            super().__init__()
            if weight is None:
                if not isinstance(embedding_dim, int) or embedding_dim < 1:
                    raise InvalidInputError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
                weight = torch.empty(256, embedding_dim, dtype=dtype, device=device)
                nn.init.normal_(weight)
            else:
                weight = torch.as_tensor(weight)
                if weight.ndim != 2 or weight.shape[0] != 256:
                    raise InvalidInputError(f"a byte embedding table has 256 rows, got shape {tuple(weight.shape)}")
                weight = weight.detach().clone().to(dtype=dtype or weight.dtype, device=device or weight.device)
            self.weight = nn.Parameter(weight)
            self.bit_proj = nn.Parameter(torch.zeros(weight.shape[1], 8, dtype=weight.dtype, device=weight.device))
            self.register_buffer("bits", byte_bits(weight.dtype, weight.device), persistent=False)

        @property
        def embedding_dim(self) -> int:
            return self.weight.shape[1]

        @classmethod
        def from_embedding(cls, embedding) -> BitBiasedByteEmbedding:
            """Start from an existing 256-row ``nn.Embedding`` (its table is copied; the bit term starts at 0)."""
            if not isinstance(embedding, nn.Embedding):
                raise InvalidInputError(f"expected torch.nn.Embedding, got {type(embedding).__name__}")
            return cls(embedding.embedding_dim, weight=embedding.weight)

        def folded_weight(self):
            """The 256×d table ``W + bits @ P.T`` the forward pass uses."""
            bits = self.bits.to(dtype=self.weight.dtype, device=self.weight.device)
            return torch.addmm(self.weight, bits, self.bit_proj.t())

        def forward(self, input_ids):
            if input_ids.dtype == torch.uint8:
                input_ids = input_ids.long()  # embedding lookups need int32/int64 indices
            return nn.functional.embedding(input_ids, self.folded_weight())

        @torch.no_grad()
        def fold(self):
            """A plain ``nn.Embedding(256, d)`` whose lookups equal this module's outputs."""
            table = self.folded_weight().detach().clone()
            plain = nn.Embedding(256, self.embedding_dim, dtype=table.dtype, device=table.device)
            plain.weight.copy_(table)
            return plain

        def extra_repr(self) -> str:
            return f"256, {self.embedding_dim}, bit_proj=8->{self.embedding_dim}"

    return BitBiasedByteEmbedding


def patch_input_embeddings(model):
    """Swap a model's 256-row input ``nn.Embedding`` for a bit-biased one (for training).

    Works for modules with ``get_input_embeddings``/``set_input_embeddings`` (Hugging Face models). A tied
    output head keeps using the plain table ``weight`` (shared, not copied), so it keeps training.
    """
    torch = _torch()
    embedding = _input_embeddings(model)
    if not isinstance(embedding, torch.nn.Embedding) or embedding.num_embeddings != 256:
        raise InvalidInputError("patch_input_embeddings expects a 256-row torch.nn.Embedding as input embeddings")
    patched = _module_class()(embedding.embedding_dim, weight=embedding.weight)
    patched.weight = embedding.weight  # share the Parameter so tied heads keep training the same table
    model.set_input_embeddings(patched)
    return patched


def fold_input_embeddings(model):
    """Replace a patched input embedding by its folded plain table; the model's outputs do not change.

    If the output head was tied to the plain table, it keeps that table (the model becomes untied and
    ``config.tie_word_embeddings`` is set to False), because folding the bit term into the head would
    change the logits.
    """
    patched = _input_embeddings(model)
    if not isinstance(patched, _module_class()):
        raise InvalidInputError("the model's input embeddings are not bit-biased (call patch_input_embeddings first)")
    plain = patched.fold()
    model.set_input_embeddings(plain)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is patched.weight:
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "tie_word_embeddings"):
            config.tie_word_embeddings = False
    return plain


def _input_embeddings(model):
    if not hasattr(model, "get_input_embeddings") or not hasattr(model, "set_input_embeddings"):
        raise InvalidInputError("model must have get_input_embeddings() and set_input_embeddings()")
    return model.get_input_embeddings()


def __getattr__(name):
    if name == "BitBiasedByteEmbedding":
        return _module_class()
    raise AttributeError(name)
