"""``tokenlab serve``: a local web playground showing how several tokenizers cut the same text.

Needs the ``serve`` extra (bottle). The server binds to 127.0.0.1 only: it is a tool for one user's machine.
"""

from .app import DEFAULT_MAX_CHARS, Playground, make_app, make_server_for

__all__ = ["DEFAULT_MAX_CHARS", "Playground", "make_app", "make_server_for"]
