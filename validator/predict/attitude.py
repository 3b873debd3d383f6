"""Service attitude (服务态度): abusive or dismissive replies by the merchant.

Seed FAQ 5 lists 「辱罵消費者」 (abusing the buyer) and 「服務消極或敷衍」 (passive or
perfunctory service) as reasons an appeal fails. The words live in lexicon files
(``lexicon_{abuse,dismissive}_{zh,en}.txt``, format in ``lexicon_abuse_zh.txt``);
every merchant line is matched against both languages, since chats mix them.

Only lines ``from: merchant`` are judged: the buyer's words are not the merchant's.
A quoted word is a mention, not a use (您说的“骗子”是什么意思), and a negated one
does not count (我们没有说您是骗子); negation cues and the filler words allowed
between a cue and the term are in ``lexicon_negation_{zh,en}.txt``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

KINDS: tuple[str, ...] = ("abuse", "dismissive")
LANGS: tuple[str, ...] = ("zh", "en")
MAX_FILLERS = 4

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Clause breaks end a negation's reach (ASCII after NFKC, plus CJK marks NFKC keeps).
_BREAK = re.compile(r"[,.;:!?\n\r。；：、…]")
# Quoted spans are mentions. ASCII single quotes count only when they are not inside a
# word, so the apostrophe in "don't" never opens a quote.
_QUOTES = re.compile(
    r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|「[^」]*」|『[^』]*』|(?<![\w'])'[^'\n]*'(?![\w'])"
)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_EN_TOKEN = re.compile(r"[a-z']+")
_APOSTROPHE = re.compile(r"(?<=[a-z])’(?=[a-z])")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, curly apostrophes inside words to '."""
    return _APOSTROPHE.sub("'", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class Lexicon:
    """One kind of word list in all languages, ready to match."""

    kind: str
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    whole_lines: frozenset[str]
    masks: tuple[str, ...]


@dataclass(frozen=True)
class Negation:
    cues: tuple[str, ...]
    fillers: tuple[str, ...]


def _lines(name: str) -> list[str]:
    text = resources.files("validator.predict").joinpath(name).read_text("utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.lstrip().startswith("#")]


def _pattern(term: str) -> re.Pattern[str]:
    if _CJK.search(term):
        return re.compile(re.escape(term))
    wildcard = term.endswith("*")
    body = r"\s+".join(re.escape(w) for w in term.rstrip("*").split())
    tail = r"[a-z']*" if wildcard else ""
    return re.compile(rf"(?<![a-z0-9']){body}{tail}(?![a-z0-9])")


@cache
def lexicon(kind: str) -> Lexicon:
    """The shipped lexicon of ``kind`` ("abuse" or "dismissive"), both languages."""
    patterns: list[tuple[str, re.Pattern[str]]] = []
    whole: set[str] = set()
    masks: list[str] = []
    for lang in LANGS:
        for line in _lines(f"lexicon_{kind}_{lang}.txt"):
            term = normalise(line[1:] if line[0] in "=-" else line).strip()
            if line.startswith("="):
                whole.add(_NOT_WORD.sub("", term))
            elif line.startswith("-"):
                masks.append(term)
            else:
                patterns.append((term.rstrip("*"), _pattern(term)))
    # Longest first, so a longer phrase claims its span before a shorter term inside it.
    patterns.sort(key=lambda p: -len(p[0]))
    return Lexicon(
        kind, tuple(patterns), frozenset(whole), tuple(sorted(masks, key=len, reverse=True))
    )


@cache
def negation(lang: str) -> Negation:
    section = ""
    found: dict[str, list[str]] = {"cues": [], "fillers": []}
    for line in _lines(f"lexicon_negation_{lang}.txt"):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section in found:
            found[section].append(normalise(line))
    by_len = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in found.items()}
    return Negation(by_len["cues"], by_len["fillers"])


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _mask(text: str, phrases: Iterable[str]) -> str:
    text = _QUOTES.sub(lambda m: " " * len(m.group(0)), text)
    for p in phrases:
        i = text.find(p)
        while i >= 0:
            text = _blank(text, i, i + len(p))
            i = text.find(p, i + len(p))
    return text


def _negated_zh(before: str) -> bool:
    neg = negation("zh")
    s = before.rstrip()
    for _ in range(MAX_FILLERS + 1):
        if any(s.endswith(c) for c in neg.cues):
            return True
        filler = next((f for f in neg.fillers if s.endswith(f)), None)
        if filler is None:
            return False
        s = s[: -len(filler)].rstrip()
    return False


def _negated_en(before: str) -> bool:
    neg = negation("en")
    tokens = _EN_TOKEN.findall(before)
    for _ in range(MAX_FILLERS + 1):
        if not tokens:
            return False
        if tokens[-1] in neg.cues:
            return True
        if tokens[-1] not in neg.fillers:
            return False
        tokens.pop()
    return False


def _negated(text: str, start: int, term: str) -> bool:
    clause = _BREAK.split(text[:start])[-1]
    return _negated_zh(clause) if _CJK.search(term) else _negated_en(clause)


def find_terms(text: str, kind: str) -> list[str]:
    """The ``kind`` lexicon terms used (not quoted, not negated) in one message."""
    lex = lexicon(kind)
    norm = normalise(text)
    hits: list[str] = []
    bare = _NOT_WORD.sub("", norm)
    if bare in lex.whole_lines:
        hits.append(bare)
    masked = _mask(norm, lex.masks)
    for term, pattern in lex.patterns:
        for m in pattern.finditer(masked):
            if not _negated(masked, m.start(), term):
                hits.append(term)
            # Claim the span so a shorter term inside it is not counted again.
            masked = _blank(masked, m.start(), m.end())
    return list(dict.fromkeys(hits))


@dataclass(frozen=True)
class OffendingLine:
    """A merchant message with abusive and/or dismissive words."""

    index: int
    at: str | None
    text: str
    terms: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if self.terms.get(k)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "at": self.at,
            "text": self.text,
            "kinds": self.kinds,
            "terms": {k: v for k, v in self.terms.items() if v},
        }


@dataclass(frozen=True)
class Attitude:
    """The service-attitude findings; counts are None when there is no transcript."""

    lines: tuple[OffendingLine, ...]
    abusive_lines: int | None
    dismissive_lines: int | None
    merchant_lines: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "transcript_known": self.merchant_lines is not None,
            "merchant_lines": self.merchant_lines,
            "abusive_lines": self.abusive_lines,
            "dismissive_lines": self.dismissive_lines,
            "offending_lines": [x.to_dict() for x in self.lines],
        }


def scan(transcript: list[Mapping[str, Any]] | None) -> Attitude:
    """Judge the merchant's lines of a transcript (``service.transcript`` of a case)."""
    if transcript is None:
        return Attitude((), None, None, None)
    out: list[OffendingLine] = []
    merchant = 0
    for i, line in enumerate(transcript):
        if line.get("from") != "merchant":
            continue
        merchant += 1
        text = str(line.get("text") or "")
        terms = {k: find_terms(text, k) for k in KINDS}
        if any(terms.values()):
            out.append(OffendingLine(i, line.get("at"), text, terms))
    return Attitude(
        tuple(out),
        abusive_lines=sum(1 for x in out if x.terms["abuse"]),
        dismissive_lines=sum(1 for x in out if x.terms["dismissive"]),
        merchant_lines=merchant,
    )
