"""What the model classes beyond plain byte-level BPE share: the one tokenizer contract
(`tokenlab.base.TokenizerBase`, also `tokenlab.Tokenizer`'s base; ``ModelBase`` is its old name) and
`WrappedBPE`, models built around an ordinary byte-level BPE.

They save to their own JSON format, registered in `tokenlab.io.JSON_FORMATS`, so `load_tokenizer` finds
them by path and `save_tokenizer(..., format="hf")` refuses them instead of writing something lossy.
"""

from __future__ import annotations

import base64
import binascii

from ..base import Components, TokenizerBase
from ..errors import FormatError
from ..specials import split_special, utf8  # noqa: F401 - re-exported for the model modules

__all__ = ["Components", "ModelBase", "TokenizerBase", "WrappedBPE", "b64", "unb64", "utf8"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise FormatError(f"corrupt base64 token {text!r}") from None


ModelBase = TokenizerBase  # the name model modules (and users) know


class WrappedBPE(ModelBase):
    """A model built around an ordinary byte-level BPE ``self.base`` (a `tokenlab.Tokenizer`),
    exposing its tables so tools that read ``vocab``/``merges`` work unchanged."""

    base = None  # set by subclasses

    @property
    def vocab(self) -> dict[bytes, int]:
        return self.base.vocab

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        return self.base.merges

    @property
    def pretokenizer(self):
        return self.base.pretokenizer

    def _research_pipeline(self, encode, pretokenizer=None):
        """The base BPE's components with this model's ``encode(piece bytes) -> ids`` as the model (and
        ``pretokenizer``'s Split regexes + ByteLevel instead of the base's, if given)."""
        from ..pipeline import PipelineTokenizer
        from ..pipeline.byte_pieces import BytePieces

        bpe = self.base.to_pipeline()
        pre = bpe.pre_tokenizer
        if pretokenizer is not None:
            from ..io.hf_json import byte_level_pre_tokenizer

            pre = byte_level_pre_tokenizer(pretokenizer)
        return PipelineTokenizer(BytePieces(type(self).__name__, encode, self.vocab), normalizer=bpe.normalizer,
                                 pre_tokenizer=pre, post_processor=bpe.post_processor, decoder=bpe.decoder,
                                 added_tokens=bpe.added.tokens, name=self.name)

    def _bpe_dict(self) -> dict:
        """The JSON fields every wrapped-BPE format shares (`tokenlab.io.tokenlab_json`); subclasses add their own."""
        from ..io.tokenlab_json import bpe_to_dict

        return bpe_to_dict(self.base, self.format_name, self.name)

    @classmethod
    def _bpe_fields(cls, d: dict) -> tuple[dict, dict]:
        """Constructor keywords read (and checked) from :meth:`_bpe_dict`'s fields, and the id -> bytes map."""
        from ..io.tokenlab_json import bpe_fields

        return bpe_fields(d, "", cls.format_name)
