"""tokenlab: train, encode, evaluate, compare and transfer tokenizers for language models."""

from .base import Components, TokenizerBase
from .errors import FormatError, InvalidInputError, SpecialTokenError, TokenlabError
from .io import load_tokenizer, save_tokenizer
from .pretokenize import PATTERNS, PreTokenizer
from .tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "Tokenizer", "PreTokenizer", "PATTERNS", "load_tokenizer", "save_tokenizer", "train_bpe",
    "DecodeStream", "batch_encode",
    "TokenlabError", "FormatError", "InvalidInputError", "SpecialTokenError", "__version__",
]
__all__ += ["TokenizerBase", "Components"]  # the one tokenizer contract every model kind keeps (tokenlab.base)


def __getattr__(name):
    # keep `import tokenlab` light: trainers load on first use
    if name == "train_bpe":
        from .train.bpe import train_bpe

        return train_bpe
    if name == "DecodeStream":  # the generator is tokenlab.decode_stream.decode_stream
        import importlib

        return importlib.import_module(".decode_stream", __name__).DecodeStream
    if name == "batch_encode":  # padding, truncation, templates, tensors (tokenlab.batch)
        from .batch import batch_encode

        return batch_encode
    raise AttributeError(name)
