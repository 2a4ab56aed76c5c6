"""Real evaluation text that ships with installable packages (no network).

* ``parallel``: Django's gettext catalogues (PyPI ``Django``, BSD-3-Clause). Every translated
  UI string of ``django/conf/locale`` and ``django/contrib/*/locale`` is a human translation of
  the same English ``msgid``; we keep the entries translated (and not fuzzy) in *all* chosen
  languages, so each language gets the same sentences in the same order.
* ``code``: Python standard-library sources of the running interpreter (PSF licence).
* ``prose``: the Python documentation topics shipped in ``pydoc_data`` (PSF licence).
"""

from __future__ import annotations

import ast
import glob
import os
import sysconfig
from collections.abc import Iterable
from pathlib import Path

import regex

from ..errors import InvalidInputError

# 24 languages in 11 scripts, all well translated in Django (about 400 shared entries).
DEFAULT_LANGUAGES = ["en", "de", "fr", "es", "it", "pt_BR", "nl", "pl", "cs", "tr", "vi", "id",
                     "ru", "uk", "el", "ar", "fa", "he", "hi", "bn", "ja", "ko", "zh_Hans", "ka"]
DJANGO_DOMAINS = ("conf", "admin", "auth", "contenttypes", "sessions", "sites", "flatpages", "redirects",
                  "humanize", "gis", "postgres", "admindocs")

_PLACEHOLDER = regex.compile(r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[sdifrx]|%[-#0 +]*\d*(?:\.\d+)?[sdifrx]"
                             r"|\{[\w.]*\}|<[^<>]+>")
_PLACEHOLDER_BEFORE_PUNCT = regex.compile(r"[ \t]*(?:" + _PLACEHOLDER.pattern + r")+(?=[.,;:!?)\]»」。，、])")
_SPACES = regex.compile(r"[ \t]+")


def _unquote(token: str) -> str:
    try:
        return ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return token.strip('"')


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a gettext .po file: translated, non-fuzzy, non-obsolete, singular form.

    Plural entries keep ``msgid`` -> ``msgstr[0]``; entries with a ``msgctxt`` are keyed
    ``context\\x04msgid`` (gettext's own convention) so homonyms stay apart.
    """
    out: dict[str, str] = {}
    entry: dict[str, str] = {}
    fuzzy = False
    field = None

    def flush():
        nonlocal entry, fuzzy
        msgid, msgstr = entry.get("msgid", ""), entry.get("msgstr", entry.get("msgstr[0]", ""))
        if msgid and msgstr and not fuzzy:
            key = entry["msgctxt"] + "\x04" + msgid if "msgctxt" in entry else msgid
            out[key] = msgstr
        entry, fuzzy = {}, False

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            field = None
        elif line.startswith("#~"):
            continue
        elif line.startswith("#,"):
            if field is not None and "msgstr" in (field or ""):
                flush()
            fuzzy = fuzzy or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if field is not None:
                entry[field] = entry.get(field, "") + _unquote(line)
        else:
            name, _, rest = line.partition(" ")
            if name in ("msgctxt", "msgid") and field is not None and field.startswith("msgstr"):
                flush()
            field = name
            entry[name] = _unquote(rest.strip())
    flush()
    return out


def normalise_message(text: str) -> str:
    """Drop printf/format placeholders and HTML tags (they are not language), collapse spaces.

    A placeholder right before punctuation takes its leading space with it ("at %(site)s." -> "at.").
    """
    text = _PLACEHOLDER.sub("", _PLACEHOLDER_BEFORE_PUNCT.sub("", text))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def _django_root() -> Path:
    try:
        import django
    except ImportError:
        raise InvalidInputError("the parallel corpus needs Django's translation files: pip install 'tokenlab[eval]'"
                                " (or pip install Django)") from None
    return Path(django.__file__).parent


def _catalogue_paths(root: Path, domain: str) -> Path:
    return root / "conf" / "locale" if domain == "conf" else root / "contrib" / domain / "locale"


def available_languages() -> list[str]:
    root = _django_root()
    return sorted(p.name for p in (root / "conf" / "locale").iterdir() if (p / "LC_MESSAGES" / "django.po").is_file())


def django_parallel(languages: Iterable[str] | None = None, domains: Iterable[str] = DJANGO_DOMAINS,
                    min_chars: int = 1) -> dict[str, list[str]]:
    """Aligned sentences: ``{lang: [s_0, s_1, ...]}``, the i-th string of every language translates the same msgid.

    ``"en"`` is the msgid itself. Entries whose normalised text is shorter than ``min_chars`` in
    English are dropped, and duplicates of an English string keep their first translation.
    """
    root = _django_root()
    langs = list(DEFAULT_LANGUAGES if languages is None else languages)
    if not langs:
        raise InvalidInputError("no languages given")
    have = set(available_languages()) | {"en"}
    unknown = [lang for lang in langs if lang not in have]
    if unknown:
        raise InvalidInputError(f"no Django translations for {unknown}; available: {', '.join(sorted(have))}")
    others = [lang for lang in langs if lang != "en"]
    keys: list[str] = []
    table: dict[str, dict[str, str]] = {lang: {} for lang in others}
    for domain in domains:
        base = _catalogue_paths(root, domain)
        per_lang = {}
        for lang in others:
            path = base / lang / "LC_MESSAGES" / "django.po"
            per_lang[lang] = parse_po(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not others:
            path = base / "en" / "LC_MESSAGES" / "django.po"
            common = list(parse_po(path.read_text(encoding="utf-8"))) if path.is_file() else []
        else:
            common = [k for k in per_lang[others[0]] if all(k in per_lang[lang] for lang in others[1:])]
        for k in common:
            keys.append(k)
            for lang in others:
                table[lang][k] = per_lang[lang][k]
    out: dict[str, list[str]] = {lang: [] for lang in langs}
    seen = set()
    for k in keys:
        english = normalise_message(k.split("\x04")[-1])
        if len(english) < min_chars or english in seen:
            continue
        row = {lang: normalise_message(table[lang][k]) for lang in others}
        if not all(row.values()):
            continue
        seen.add(english)
        row["en"] = english
        for lang in langs:
            out[lang].append(row[lang])
    if not out[langs[0]]:
        raise InvalidInputError(f"no entry is translated in all of {langs}")
    return out


def stdlib_code(limit_bytes: int = 400_000) -> list[str]:
    """Python standard-library modules (sorted by name) up to ``limit_bytes`` of UTF-8."""
    root = sysconfig.get_paths()["stdlib"]
    docs, size = [], 0
    for path in sorted(glob.glob(os.path.join(root, "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        docs.append(text)
        size += len(text.encode("utf-8"))
        if size >= limit_bytes:
            break
    return docs


def python_prose(limit_bytes: int = 400_000) -> list[str]:
    """English technical prose: the help topics of the Python docs (``pydoc_data``)."""
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    docs, size = [], 0
    for key in sorted(topics):
        docs.append(topics[key])
        size += len(topics[key].encode("utf-8"))
        if size >= limit_bytes:
            break
    return docs


CORPORA = {"parallel": "Django UI translations (aligned; see DEFAULT_LANGUAGES)",
           "code": "Python standard-library sources", "prose": "Python documentation topics (pydoc_data)"}


def load_corpus(spec: str, limit_bytes: int = 400_000, languages: Iterable[str] | None = None) -> list[str]:
    """Documents for a corpus name (``parallel``, ``code``, ``prose``) or a UTF-8 text file path."""
    if spec == "parallel":
        par = django_parallel(languages)
        return ["\n".join(lines) for lines in par.values()]
    if spec == "code":
        return stdlib_code(limit_bytes)
    if spec == "prose":
        return python_prose(limit_bytes)
    path = Path(spec)
    if not path.exists():
        raise InvalidInputError(f"{spec}: not a corpus name ({', '.join(CORPORA)}) nor a file")
    from ..corpus_io import current_options, detect_format, iter_documents

    if detect_format(path) == "text" and current_options().sample_bytes is None:
        return ["".join(iter_documents([path]))]  # a text file is one document, as before
    return list(iter_documents([path]))
