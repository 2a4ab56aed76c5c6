"""The playground's web app: one page and a small JSON API over tokenizers loaded once at start.

Bottle keeps the app a single readable file with no compiled dependencies; the page is plain HTML, CSS and
JavaScript from ``static/`` (no build step, nothing fetched from a CDN), so it works offline.
"""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import InvalidInputError, TokenlabError

try:
    import bottle
except ImportError:  # the optional `serve` extra
    raise InvalidInputError("tokenlab serve needs bottle: pip install 'tokenlab[serve]'") from None

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_CHARS = 200_000
REPORT_CORPORA = ("parallel", "code", "prose")  # besides the typed text
KEPT_REPORTS = 8  # rendered reports kept in memory for /report/<id>


class Playground:
    """Named tokenizers plus what the API does with them; the web layer only parses and formats."""

    def __init__(self, tokenizers: dict, max_chars: int = DEFAULT_MAX_CHARS):
        from ..evaluate.metrics import as_encoder

        if not tokenizers:
            raise InvalidInputError("give at least one tokenizer")
        self.tokenizers = dict(tokenizers)
        self.encoders = {name: as_encoder(tok, name) for name, tok in self.tokenizers.items()}
        self.max_chars = max_chars
        # Tokenizers keep per-object caches that are not made for concurrent writers: one user at a time.
        self._lock = threading.Lock()
        self._reports: OrderedDict[str, str] = OrderedDict()

    def describe(self) -> list[dict]:
        return [{"name": name, "vocab_size": len(enc.vocab_ids) if enc.vocab_ids is not None else None}
                for name, enc in self.encoders.items()]

    def check_text(self, text) -> str:
        if not isinstance(text, str):
            raise InvalidInputError("'text' must be a string")
        if len(text) > self.max_chars:
            raise TextTooLong(f"text is {len(text):,} characters; the limit is {self.max_chars:,} (--max-chars)")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"text holds a lone surrogate (U+{ord(text[exc.start]):04X}) at character "
                                    f"{exc.start}; it is not valid Unicode text") from None
        return text

    def tokenize(self, text: str) -> dict:
        """Per tokenizer: ids, readable spans (tokens holding parts of one character grouped), count, bytes/token."""
        from ..evaluate.report import token_spans

        text = self.check_text(text)
        n_bytes = len(text.encode("utf-8"))
        results = []
        with self._lock:
            for name, enc in self.encoders.items():
                spans = token_spans(enc, text)
                ids = [i for _, group in spans for i in group]
                results.append({
                    "name": name,
                    "ids": ids,
                    "pieces": [shown for shown, _ in spans],
                    "piece_ids": [group for _, group in spans],
                    "count": len(ids),
                    "bytes_per_token": n_bytes / len(ids) if ids else None,
                    "chars_per_token": len(text) / len(ids) if ids else None,
                })
        return {"chars": len(text), "bytes": n_bytes, "tokenizers": results}

    def report(self, text: str | None = None, corpus: str | None = None) -> str:
        """Run the compare report on the typed text or a named corpus; returns the id it is served under."""
        from ..evaluate.report import compare, render_html

        if (text is None) == (corpus is None):
            raise InvalidInputError("give either 'text' or 'corpus'")
        with self._lock:
            if corpus is not None:
                if corpus not in REPORT_CORPORA:
                    raise InvalidInputError(f"unknown corpus {corpus!r}; choose one of {', '.join(REPORT_CORPORA)}")
                cmp = compare(self.tokenizers, corpora=(corpus,))
                title = f"Tokenizer comparison on {corpus}"
            else:
                text = self.check_text(text)
                if not text.strip():
                    raise InvalidInputError("type some text first (the report needs non-blank text)")
                with tempfile.TemporaryDirectory(prefix="tokenlab-serve-") as tmp:
                    path = Path(tmp) / "typed-text.txt"
                    path.write_text(text, encoding="utf-8")
                    cmp = compare(self.tokenizers, corpora=(str(path),))
                title = "Tokenizer comparison on the typed text"
            html = render_html(cmp, title=title)
            report_id = uuid.uuid4().hex[:12]
            self._reports[report_id] = html
            while len(self._reports) > KEPT_REPORTS:
                self._reports.popitem(last=False)
        return report_id

    def report_html(self, report_id: str) -> str | None:
        return self._reports.get(report_id)


class TextTooLong(InvalidInputError):
    """Answered with 413 rather than 400."""


def _json_body(max_bytes: int) -> dict:
    length = bottle.request.content_length
    if length > max_bytes:
        _discard_body(length)
        raise bottle.HTTPError(413, f"request body is {length:,} bytes; the limit is {max_bytes:,}")
    raw = bottle.request.body.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise bottle.HTTPError(413, f"request body is over the limit of {max_bytes:,} bytes")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise bottle.HTTPError(400, f"request body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise bottle.HTTPError(400, f"request body is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(payload, dict):
        raise bottle.HTTPError(400, "request body must be a JSON object")
    return payload


def _discard_body(length: int, cap: int = 256 << 20) -> None:
    """Read an oversized body before answering 413: a client still sending would otherwise see a reset
    connection instead of the error. Bodies beyond ``cap`` are cut off (the connection closes)."""
    stream = bottle.request.environ["wsgi.input"]
    left = min(length, cap)
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            break
        left -= len(chunk)


def _api(fn):
    """Library errors become a JSON ``{"error": ...}`` with 400 (413 for oversized text)."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TextTooLong as exc:
            raise bottle.HTTPError(413, str(exc)) from None
        except TokenlabError as exc:
            raise bottle.HTTPError(400, str(exc)) from None

    return run


class _App(bottle.Bottle):
    def default_error_handler(self, res):
        """Every error, 404 and 500 included, is a short JSON object; tracebacks stay in the server log."""
        bottle.response.content_type = "application/json"
        message = res.body if isinstance(res.body, str) and res.status_code != 500 else "internal error"
        if res.status_code == 500 and res.exception is not None:
            message = f"internal error: {type(res.exception).__name__}: {res.exception}"
        return json.dumps({"error": message, "status": res.status_code})


def make_app(playground: Playground) -> bottle.Bottle:
    app = _App()
    max_body = 12 * playground.max_chars + 4096  # room for JSON's \uXXXX escapes of every character

    @app.get("/")
    def index():
        return bottle.static_file("index.html", root=str(STATIC))

    @app.get("/static/<name>")
    def static(name):
        return bottle.static_file(name, root=str(STATIC))

    @app.get("/api/tokenizers")
    def tokenizers():
        return {"tokenizers": playground.describe(), "max_chars": playground.max_chars,
                "report_corpora": list(REPORT_CORPORA)}

    @app.post("/api/tokenize")
    @_api
    def tokenize():
        payload = _json_body(max_body)
        if "text" not in payload:
            raise bottle.HTTPError(400, "missing 'text'")
        return playground.tokenize(payload["text"])

    @app.post("/api/report")
    @_api
    def report():
        payload = _json_body(max_body)
        report_id = playground.report(text=payload.get("text"), corpus=payload.get("corpus"))
        return {"id": report_id, "url": f"/report/{report_id}"}

    @app.get("/report/<report_id>")
    def report_page(report_id):
        html = playground.report_html(report_id)
        if html is None:
            raise bottle.HTTPError(404, f"no report {report_id!r} (reports are kept while the server runs)")
        bottle.response.content_type = "text/html; charset=utf-8"
        return html

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow report never keeps Ctrl+C from stopping the server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def make_server_for(playground: Playground, port: int = 0, host: str = "127.0.0.1", log: bool = False):
    """A threaded WSGI server on ``host:port`` (0 = a free port; read ``server.server_port``)."""
    handler = WSGIRequestHandler if log else _QuietHandler
    return make_server(host, port, make_app(playground), server_class=_ThreadingServer, handler_class=handler)
