"""Service attitude (服务态度): abusive or dismissive replies by the merchant.

Seed FAQ 5 lists 「辱罵消費者」 (abusing the buyer) and 「服務消極或敷衍」 (passive or
perfunctory service) as reasons an appeal fails. The words live in lexicon files
(``lexicon_{abuse,dismissive}_{zh,en}.txt``, format in ``textscan``); every merchant
line is matched against both languages and both Chinese scripts, since chats mix them.

A word counts only when the merchant uses it (``textscan.asserted``): not quoted
(您说的“骗子”), not negated (我们没有说您是骗子, we are not scammers, no idiots here),
not reported (您说我们是骗子: the buyer's words), while a question's negation is
rhetorical and does count (你是不是傻逼, 难道你不是骗子吗, aren't you an idiot?).
An insult is abuse of the buyer only when aimed at the buyer: the last person named
before it in its clause (``lexicon_context.txt``) is the buyer, or no one (a reply to
the buyer); an insult aimed at the merchant itself (我们不是骗子) or a courier
(快递员是骗子) is not, nor is a word the buyer just used, repeated without aiming it.

Dismissiveness is graded by how much of the merchant's side it is: one curt line among
helpful ones is listed but is not "passive service"; the service is dismissive when at
least ``DISMISSIVE_SHARE`` of the merchant's lines are curt, or ``DISMISSIVE_REPEATED``
lines are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from validator.predict import textscan
from validator.predict.textscan import PhraseList, normalise

KINDS: tuple[str, ...] = ("abuse", "dismissive")
LANGS: tuple[str, ...] = ("zh", "en")
# Our reading of 「服務消極或敷衍」 (the seed gives no number): the service is passive
# when curt replies are half of what the merchant said, or repeated three times or more
# whatever else was said ("随便" / "爱退不退" / "自己看" over a chat). One curt line among
# helpful ones is neither.
DISMISSIVE_SHARE = 0.5
DISMISSIVE_REPEATED = 3
# Messages longer than this (no chat message is) stop at their first counted term, so a
# megabyte of insults costs one search, not one judgement per insult.
LONG_MESSAGE_CHARS = 4000
# Buyer lines looked back on, and characters of each, to tell a repeated word.
ECHO_LINES = 3
ECHO_CHARS = 2000

# Re-exported: the lexicon-file format and the normaliser live in textscan.
__all__ = ["KINDS", "Attitude", "OffendingLine", "find_terms", "normalise", "scan"]


@cache
def lexicon(kind: str) -> PhraseList:
    """The shipped lexicon of ``kind`` ("abuse" or "dismissive"), both languages."""
    lines: list[str] = []
    for lang in LANGS:
        lines += textscan.read_lines(f"lexicon_{kind}_{lang}.txt")
    return textscan.build(kind, lines)


@cache
def _referents() -> re.Pattern[str]:
    """Every word for the buyer, the merchant itself or a third party, as one regex."""
    words: list[tuple[str, str]] = []
    for role in ("buyer", "self", "third"):
        words += [(w, role) for w in textscan.cue_words(role)]
    words.sort(key=lambda x: -len(x[0]))
    alts: list[str] = []
    for w, role in words:
        body = re.escape(w)
        if not textscan.CJK.search(w):
            body = rf"(?<![a-z']){body}(?![a-z'])"
        alts.append(f"(?P<{role}_{len(alts)}>{body})")
    return re.compile("|".join(alts))


def target(before: str) -> str | None:
    """Who the clause before a word is about: "buyer", "self", "third" or None."""
    last = None
    for m in _referents().finditer(before):
        last = m
    if last is None or last.lastgroup is None:
        return None
    return last.lastgroup.split("_", 1)[0]


def find_terms(text: str, kind: str, heard: str = "") -> list[str]:
    """The ``kind`` lexicon terms the writer of ``text`` uses (see the module docstring).

    ``heard`` is what the other side just said (normalised): an insult repeated from it
    without being aimed at anyone is a repetition, not a use. A message longer than
    ``LONG_MESSAGE_CHARS`` is judged on its first counted term (the line counts either
    way); shorter ones list every term.
    """
    return _terms(textscan.Message(text), kind, heard)


def _terms(msg: textscan.Message, kind: str, heard: str) -> list[str]:
    lex = lexicon(kind)
    hits = textscan.whole_message(msg.norm, lex)
    every = msg.length <= LONG_MESSAGE_CHARS

    def counts(text: str, start: int, end: int, term: str) -> bool:
        if not textscan.asserted(text, start, end, term):
            return False
        if kind == "abuse":
            aimed = target(textscan.clause_before(text, start))
            if aimed in ("self", "third") or (aimed is None and term in heard):
                return False
        return True

    found: set[str] = set()
    text = msg.cjk_text(lex) if msg.has_cjk else ""
    for phrase, start, end in textscan.cjk_uses(text, lex):
        if phrase.text in found or not counts(text, start, end, phrase.text):
            continue
        found.add(phrase.text)
        hits.append(msg.as_written(phrase.text))
        if not every:
            return hits
    candidates = [p for p in lex.latin if msg.words.may_hold(p)] if msg.words else []
    if candidates:
        text = msg.latin_text(lex)
        counted: list[tuple[int, int]] = []  # longer terms come first and claim their span
        for phrase in candidates:
            for start, end in textscan.latin_uses(text, phrase):
                if any(a <= start and end <= b for a, b in counted):
                    continue
                if counts(text, start, end, phrase.text):
                    hits.append(phrase.text)
                    counted.append((start, end))
                    if not every:
                        return hits
                    break
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

    @property
    def dismissive_share(self) -> float | None:
        """Curt lines as a share of the merchant's lines (None: no merchant line)."""
        if not self.merchant_lines or self.dismissive_lines is None:
            return None
        return self.dismissive_lines / self.merchant_lines

    @property
    def service_dismissive(self) -> bool | None:
        """The merchant's side as a whole is passive or perfunctory (None: unknown)."""
        if self.dismissive_lines is None:
            return None
        share = self.dismissive_share
        return self.dismissive_lines >= DISMISSIVE_REPEATED or (
            share is not None and share >= DISMISSIVE_SHARE
        )

    def to_dict(self) -> dict[str, Any]:
        share = self.dismissive_share
        return {
            "transcript_known": self.merchant_lines is not None,
            "merchant_lines": self.merchant_lines,
            "abusive_lines": self.abusive_lines,
            "dismissive_lines": self.dismissive_lines,
            "dismissive_share": None if share is None else round(share, 2),
            "service_dismissive": self.service_dismissive,
            "offending_lines": [x.to_dict() for x in self.lines],
        }


def scan(
    transcript: list[Mapping[str, Any]] | None,
    messages: list[textscan.Message] | None = None,
) -> Attitude:
    """Judge the merchant's lines of a transcript (``service.transcript`` of a case).

    ``messages``: the lines already read (``textscan.Message``), one per line.
    """
    if transcript is None:
        return Attitude((), None, None, None)
    out: list[OffendingLine] = []
    merchant = 0
    heard: list[str] = []
    for i, line in enumerate(transcript):
        who = line.get("from")
        text = str(line.get("text") or "")
        if who == "buyer":
            heard = [*heard[-(ECHO_LINES - 1) :], normalise(text[:ECHO_CHARS])]
            continue
        if who != "merchant":
            continue
        merchant += 1
        recent = "\n".join(heard)
        msg = messages[i] if messages is not None else textscan.Message(text)
        terms = {k: _terms(msg, k, recent if k == "abuse" else "") for k in KINDS}
        if any(terms.values()):
            out.append(OffendingLine(i, line.get("at"), text, terms))
    return Attitude(
        tuple(out),
        abusive_lines=sum(1 for x in out if x.terms["abuse"]),
        dismissive_lines=sum(1 for x in out if x.terms["dismissive"]),
        merchant_lines=merchant,
    )
