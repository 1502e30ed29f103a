"""Takes what looks like patient data out of free text a destination sent back, before the engine
keeps it as a delivery's reason or a sync-log row (both shown on the admin API and the console).

A destination's error message may quote the values it was sent ("client email
jane.roe@example.org already exists"). :func:`redact` keeps the words and replaces values:
e-mail addresses, URLs, quoted strings, anything with three digits or more (identifiers, dates,
phone numbers, times), names after words such as "client" or "patient", capitalised words
inside a sentence and upper-case words that are not common acronyms.

Hand-written: the PII detectors on PyPI (Presidio, scrubadub) find names with language models,
which is a heavy dependency for one line of text. It leans towards replacing too much. What it
cannot see is a lower-case name with no cue before it, or a capitalised one that opens a
sentence; that is why :mod:`connectors.outbound.http_answers` builds a reason from an answer's
structure first (status, code, field names), and hands this function the values it sent, which
are replaced wherever the text quotes them.

Example::

    >>> redact("client email jane.roe@example.org already exists")
    'client email <email> already exists'
"""

from __future__ import annotations

import re
from typing import Iterable

#: Longest piece of free text kept after redaction (characters); the rest is cut with an ellipsis.
MAX_TEXT = 300
#: Longest text looked at: a destination's answer may be any size, the patterns need not see it all.
MAX_INPUT = 2000
#: Most known values looked for in one text (the longest first).
MAX_KNOWN = 500

#: Upper-case words that are vocabulary, not names: kept as they are.
ACRONYMS = frozenset({
    "API", "CDA", "CSV", "DELETE", "DOB", "ERROR", "FATAL", "FHIR", "GET", "GUID", "HTML", "HTTP", "HTTPS", "ID",
    "IDS", "INFO", "ISO", "JSON", "JWT", "MIME", "MRN", "NOT", "NULL", "OK", "PATCH", "PDF", "POST", "PUT", "SSN",
    "TLS", "URI", "URL", "UTC", "UTF", "UUID", "WARNING", "XML",
})

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")
#: A quoted value: the quotes must stand apart from words, so an apostrophe ("can't", "O'Brien") opens none.
_QUOTED = re.compile(r"(?<!\w)(?:\"[^\"]*\"|'[^']*'|`[^`]*`|“[^”]*”|‘[^’]*’)(?!\w)")
#: A token holding a digit, with the next ones when only a space parts them ("+61 412 345 678").
_DIGITS = re.compile(r"[\w+#/.:-]*\d[\w+#/.:-]*(?: [\w+#/.:-]*\d[\w+#/.:-]*)*")
_UPPER = "A-ZÀ-ÖØ-Þ"
#: A word after which a name is expected ("client", "patient", "named", "Mrs"), then up to four capitalised words.
_CUE = re.compile(
    r"(\b(?i:clients?|patients?|persons?|practitioners?|members?|contacts?|users?|customers?|names?|named|called"
    rf"|mr|mrs|ms|miss|dr)\.?\s*[:=]?\s+)[{_UPPER}][\w'’^-]*(?:,?\s+[{_UPPER}][\w'’^-]*){{0,3}}")
#: "named" and "called" are followed by a name whatever its case: the next two words.
_NAMED = re.compile(r"(\b(?i:named|called)\s+)[^\W\d_][\w'’^-]*(?:\s+[^\W\d_][\w'’^-]*)?")
#: A word, or a dotted or slashed identifier (``Patient.birthDate``), starting with a letter.
_WORD = re.compile(r"[^\W\d_][\w'’^-]*(?:[./][^\W\d_][\w'’^-]*)*")
#: A lower-case letter straight before a capital: ``birthDate``, an identifier rather than a name.
_CAMEL = re.compile(rf"[a-zß-öø-ÿ][{_UPPER}]")
_REPEATS = re.compile(r"(<(?:name|number|value|email|url)>)(?:[\s,]+\1)+")


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with what may be patient data replaced by ``<email>``, ``<url>``, ``<value>``, ``<number>``
    or ``<name>``, on one line and at most :data:`MAX_TEXT` characters.

    ``known`` are values the text may quote (what was sent to the destination): each is replaced
    wherever it stands as a word, in any case, before the patterns look.
    """
    text = " ".join(str(text)[:MAX_INPUT].split())
    words = sorted({w for w in known if len(w) >= 2}, key=len, reverse=True)[:MAX_KNOWN]
    if words:
        text = re.sub(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", "<value>", text,
                      flags=re.IGNORECASE)
    text = _EMAIL.sub("<email>", text)
    text = _URL.sub("<url>", text)
    text = _QUOTED.sub("<value>", text)
    text = _DIGITS.sub(_number, text)
    # "client Not Found": the words after a cue may be vocabulary; replacing them is the safe side.
    text = _CUE.sub(lambda m: f"{m.group(1)}<name>", text)
    text = _NAMED.sub(lambda m: f"{m.group(1)}<name>", text)
    text = _names(text)
    text = _REPEATS.sub(r"\1", text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1].rstrip() + "…"


def _number(match: re.Match) -> str:
    """Three digits or more: an identifier, a date, a time or a phone number. What ends a sentence stays."""
    token = match.group()
    kept = token.rstrip(".:/-")
    return "<number>" + token[len(kept):] if sum(c.isdigit() for c in kept) >= 3 else token


def _names(text: str) -> str:
    """Capitalised words inside a sentence (or two in a row anywhere), and upper-case words that are not
    acronyms, become ``<name>``."""
    words = [m for m in _WORD.finditer(text) if not (m.start() and text[m.start() - 1] == "<")]  # not placeholders
    out, last = [], 0
    for n, match in enumerate(words):
        start = match.start()
        before = text[:start].rstrip()
        opens = not before or before[-1] in ".!?"
        # "Jane Roe already exists": a capitalised word opening a sentence is a name when another follows it.
        followed = (n + 1 < len(words) and text[match.end():words[n + 1].start()] == " "
                    and _is_name(words[n + 1].group(), sentence_start=False))
        if _is_name(match.group(), sentence_start=opens and not followed):
            out.append(text[last:start] + "<name>")
            last = match.end()
    out.append(text[last:])
    return "".join(out)


def _is_name(word: str, *, sentence_start: bool) -> bool:
    if any(c in word for c in "./_") or any(c.isdigit() for c in word):
        return False  # an identifier, a field path
    letters = "".join(c for c in word if c.isalpha())
    if len(letters) < 2:
        return False
    if letters.isupper():
        return letters not in ACRONYMS
    # Title case only, and not at the start of a sentence: "birthDate" and "OperationOutcome" are identifiers.
    return word[0].isupper() and not sentence_start and _CAMEL.search(word) is None
