"""Model classes beyond plain byte-level BPE, each with its own JSON format.

Importing this package registers those formats in `tokenlab.io.JSON_FORMATS`, so that
`tokenlab.load_tokenizer(path)` reads them (the CLI imports it at start-up).
"""

from ..io import JSON_FORMATS

JSON_FORMATS.setdefault("tokenlab-superword", "tokenlab.models.superword:load_superword")
JSON_FORMATS.setdefault("tokenlab-scaffold", "tokenlab.models.scaffold:load_scaffold")
JSON_FORMATS.setdefault("tokenlab-charbpe", "tokenlab.models.char_bpe:load_char_bpe")
JSON_FORMATS.setdefault("tokenlab-wordpiece", "tokenlab.models.wordpiece:load_wordpiece")
