"""Errors users can act on; the CLI prints them as one line and exits non-zero."""


class TokenlabError(Exception):
    """Base class for every error tokenlab raises on bad input."""


class SpecialTokenError(TokenlabError, ValueError):
    """A special-token string appeared in text where it was not allowed."""


class FormatError(TokenlabError, ValueError):
    """A tokenizer or data file is corrupt or not in the expected format."""


class InvalidInputError(TokenlabError, ValueError):
    """Input that cannot be tokenized (bad UTF-8, unknown ids, wrong arguments)."""
