"""Finding phrases in chat lines and statements, judged in their clause, in linear time.

Shared by ``attitude`` (abusive and dismissive replies) and ``casetext`` (facts a case
states in words: a promise, "it cannot be resold", "not received"). One message is read in
three steps:

1. **Normalise**: NFKC (full-width to ASCII), lower case, Traditional to Simplified
   (``hant``), curly apostrophes inside words to ``'``. Word lists get the same folding,
   so a list written in either script matches texts in both.
2. **Mask**: spans that are not the writer's words become a space: quoted text (a
   mention, not a use), URLs, e-mail addresses, codes (letters and digits joined by
   ``- _ / . # :`` with a digit somewhere: ``SB-2000``, ``NMSL-2``), and the list's
   innocent phrases (``-滚动``). A Latin term glued to digits (``NMSL2``) is no word either.
3. **Find and judge**: each phrase's uses are found with ``str.find`` or a regex with a
   literal prefix; each use is judged in its clause (the text between clause breaks):
   negated (a cue such as 不/没/not/no right before it, with at most ``MAX_FILLERS`` filler
   words between), reported (您说…, you said…: the writer repeats another's words),
   or a question whose negation is rhetorical (是不是…, 难道…吗, 不是…吗, "aren't you…?").

Linear time: every regex is bounded or starts on a literal; the context of a use is read
in a window of ``WINDOW_CHARS``; a phrase is judged on at most ``MAX_USES_JUDGED`` uses
per message, and the first use that counts ends its search. So a megabyte of hits costs
a few passes of ``str.find``, not one pass per hit.

Lexicon files (``lexicon_*.txt``) hold one phrase a line; ``#`` starts a comment and
``[name]`` a section (lists in one file). Prefixes::

    term      a word or phrase; Chinese matches anywhere, Latin as a whole word
              (``idiot*``: a trailing * also matches longer words: idiots, idiotic)
    ^term     the term standing alone as a clause, with only the linking words of
              ``STANDALONE_BEFORE``/``STANDALONE_AFTER`` around it (滚, 你滚吧, 自己看)
    @term     the term aimed at a person: right after 你/您/you with only linking words
              between (你这个垃圾, 你就是垃圾), right before a word for the buyer
              (垃圾买家), or standing alone as a clause
    =term     the whole message is just this (哦, ok)
    -phrase   an innocent phrase that contains a term; masked before matching
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from validator.predict.hant import to_simplified

# Filler words allowed between a negation cue and the phrase it negates.
MAX_FILLERS = 5
# Characters of context read before and after a use (a clause in chat is shorter).
WINDOW_CHARS = 80
# Uses of one phrase judged in one message before giving up on that phrase: a message
# that negates a word 64 times and then uses it is not a case worth a quadratic scan.
MAX_USES_JUDGED = 64
# Characters of a long text searched at once for the terms it holds (see cjk_uses).
SCAN_CHUNK_CHARS = 1 << 16
# Longest quoted span taken as a mention: longer "quotes" are unbalanced marks.
MAX_QUOTE_CHARS = 200

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
BREAK_CHARS = ",.;:!?\n\r。、…"
_BREAK = re.compile(r"[,.;:!?\n\r。、…]")
# Quoted spans, one pass per kind of mark. A span may not hold its own opening mark, so
# an unclosed mark fails at the next one: each mark is looked at once whatever the text.
_MARKS = ('""', "“”", "‘’", "「」", "『』", "《》")
_QUOTE_PASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    *(
        (o, re.compile(rf"{o}[^{o}{c}\n]{{0,{MAX_QUOTE_CHARS}}}{c}"))
        for o, c in (tuple(pair) for pair in _MARKS)
    ),
    # An ASCII single quote opens a quote only outside a word (not the one in "don't").
    ("'", re.compile(rf"(?<![\w'])'[^'\n]{{1,{MAX_QUOTE_CHARS}}}'(?![\w'])")),
)
# URLs, e-mail addresses and codes (possessive quantifiers: no backtracking).
_URL = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef]++")
_EMAIL = re.compile(r"[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
_CODE = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:[-_/.#:][a-z0-9]++)++")
_DIGIT = re.compile(r"\d")
_APOSTROPHE = re.compile(r"(?<=[a-z])’(?=[a-z])")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_EN_TOKEN = re.compile(r"[a-z][a-z']*")
_LATIN_BEFORE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789'")

# Linking words allowed around a standalone (^) term: pronouns, "just", "quickly", and
# sentence particles. 你滚吧 / 给我滚 / 滚出去 / 我没空 / 自己看去 are the term alone.
# Possessive repeats (*+): a linking word is taken whole or not at all, no backtracking.
STANDALONE_BEFORE = re.compile(
    r"(?:你们|您们|你|您|我们|我|给我|你给我|快|赶紧|就|都|那就|那你|那|反正|现在|今天|"
    r"just|you|u|go|and|so|then|i'm|im|i am|we're|we are|\s)*+\Z"
)
STANDALONE_AFTER = re.compile(
    r"(?:吧|啊|呀|啦|了|哈|呗|嘛|哦|喔|去|开|出去|远点|远一点|一边去|呢|好吗|行吗|"
    r"then|now|away|off|please|\s)*+\Z"
)
# An aimed (@) term: after 你/您/you with only these linking words between ...
AIMED_BEFORE = re.compile(
    r"(?:你们|您们|你|您|you|u|ur|your|you're|youre)"
    r"(?:是不是|不是|就是|真是|简直是|简直就是|根本就是|才是|也是|都是|还是|真的|简直|"
    r"就|真|才|也|都|是|不|没|这个|那个|这种|"
    r"这样的|这样|个|种|一个|一样|太|好|纯|纯纯|大|死|臭|小|老|are|re|r|such|a|an|so|"
    r"really|total|complete|absolute|a total|a complete|piece of|\s)*+\Z"
)
# ... or right before a word for the buyer (垃圾买家).
AIMED_AFTER = re.compile(r"\s*(?:买家|顾客|客户|客人|玩意|东西你|buyer|customer|person)")


_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")


def fold_width(text: str) -> str:
    """NFKC, lower case, curly apostrophes inside words to ' (the script is kept)."""
    if not unicodedata.is_normalized("NFKC", text):
        # Full-width forms (，？ＳＢ) are what chats carry; replacing the few distinct ones
        # present is C-speed, while NFKC walks every Chinese character (0.8 s a megabyte).
        # One search per distinct form: each replace removes every copy of it.
        m = _FULL_WIDTH.search(text)
        while m is not None:
            ch = m.group(0)
            text = text.replace(ch, " " if ch == "\u3000" else chr(ord(ch) - 0xFEE0))
            m = _FULL_WIDTH.search(text, m.start())
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    return _APOSTROPHE.sub("'", text) if "’" in text else text


def normalise(text: str) -> str:
    """``fold_width`` and Traditional to Simplified: the text words are matched in.

    Folding the script keeps every index, so ``fold_width(text)[i:j]`` is the use
    written as the writer wrote it.
    """
    return to_simplified(fold_width(text))


def bare(text: str) -> str:
    """A normalised text without spaces and punctuation (for whole-message terms)."""
    return _NOT_WORD.sub("", text)


def _blank_codes(match: re.Match[str]) -> str:
    return " " if _DIGIT.search(match.group(0)) else match.group(0)


def mask(norm: str) -> str:
    """Quotes, URLs, e-mail addresses and codes become a space. Each pass runs only
    when its mark is in the text, and each regex starts on a literal or fails at once."""
    text = norm
    for mark, pattern in _QUOTE_PASSES:
        if mark in text:
            text = pattern.sub(" ", text)
    if "www." in text or "://" in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    if _DIGIT.search(text):  # codes hold a digit: skip the pass otherwise
        text = _CODE.sub(_blank_codes, text)
    return text


# --- phrase lists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phrase:
    """One normalised term of a list and how it must stand in a message to count."""

    text: str
    mode: str  # plain | standalone | aimed | whole | mask
    latin: bool
    pattern: re.Pattern[str] | None = None  # Latin terms: whole words, literal prefix
    wildcard: bool = False
    tags: frozenset[str] = frozenset()  # the [sections] a phrase came from


@dataclass(frozen=True)
class PhraseList:
    """A lexicon ready to match.

    Chinese masks (滚动) are blanked first, all at once; Chinese terms form one
    trie-shaped regex searched once per message, longest term first at each place.
    Latin terms are found word by word.
    """

    name: str
    phrases: tuple[Phrase, ...]
    cjk: re.Pattern[str] | None
    cjk_index: dict[str, Phrase]
    latin: tuple[Phrase, ...]
    masks: re.Pattern[str] | None
    latin_masks: tuple[str, ...]
    whole: frozenset[str] = frozenset()  # whole-message terms
    longest: int = 0  # characters of the longest Chinese term


def _latin_pattern(term: str, wildcard: bool) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in term.split())
    tail = r"[a-z']*" if wildcard else ""
    # No lookbehind: it would cost the literal-prefix search; the character before a
    # use is checked in latin_uses().
    return re.compile(rf"{body}{tail}(?![a-z0-9])")


def _phrase(line: str) -> Phrase:
    mode = {"^": "standalone", "@": "aimed", "=": "whole", "-": "mask"}.get(line[0], "plain")
    raw = line[1:] if line[0] in "^@=-" else line
    term = normalise(raw).strip()
    wildcard = term.endswith("*") and mode != "mask"
    term = term.rstrip("*") if wildcard else term
    if mode == "whole":
        return Phrase(bare(term), mode, False)
    latin = not CJK.search(term)
    pattern = _latin_pattern(term, wildcard) if latin and mode != "mask" else None
    return Phrase(term, mode, latin, pattern, wildcard and latin)


def trie_regex(words: list[str]) -> str:
    """A regex matching any of ``words``, shaped as a trie (shared prefixes once), so
    the engine tests one character per branch instead of every word at every place."""
    root: dict[str, dict] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + walk(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return walk(root)


_TOKEN = re.compile(r"[a-z0-9][a-z0-9']*")


class Words:
    """The Latin words of a message, to skip Latin terms it cannot hold with one lookup
    (searching a long text once per term is what would cost)."""

    def __init__(self, text: str) -> None:
        self.tokens = frozenset(_TOKEN.findall(text))

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def may_hold(self, phrase: Phrase) -> bool:
        words = phrase.text.split()
        if phrase.wildcard and len(words) == 1:
            return True  # idiot* may be idiots: its own regex (literal prefix) decides
        return words[0] in self.tokens


def read_lines(name: str) -> list[str]:
    """The non-comment lines of a shipped lexicon file."""
    text = resources.files("validator.predict").joinpath(name).read_text("utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.lstrip().startswith("#")]


def build(name: str, lines: list[str], tags: list[str] | None = None) -> PhraseList:
    """A phrase list from lexicon lines (``tags``: each line's section, kept per phrase)."""
    found: dict[tuple[str, str], Phrase] = {}
    for i, line in enumerate(lines):
        item = _phrase(line)
        if not item.text:
            continue
        tag = frozenset([tags[i]]) if tags else frozenset()
        old = found.get((item.text, item.mode))
        found[(item.text, item.mode)] = replace(
            old or item, tags=(old.tags if old else frozenset()) | tag
        )
    phrases = sorted(found.values(), key=lambda p: -len(p.text))
    cjk = [p for p in phrases if not p.latin and p.mode not in ("whole", "mask")]
    index: dict[str, Phrase] = {}
    for p in cjk:  # a term listed twice (滚 and ^滚): the plain one, it counts anywhere
        if p.text not in index or p.mode == "plain":
            index[p.text] = p
    cjk_masks = [p.text for p in phrases if not p.latin and p.mode == "mask"]
    return PhraseList(
        name,
        tuple(p for p in phrases if p.mode != "mask"),
        re.compile(trie_regex(list(index))) if index else None,
        index,
        tuple(p for p in phrases if p.latin and p.mode not in ("mask", "whole")),
        re.compile(trie_regex(cjk_masks)) if cjk_masks else None,
        tuple(p.text for p in phrases if p.latin and p.mode == "mask"),
        frozenset(p.text for p in phrases if p.mode == "whole"),
        max((len(t) for t in index), default=0),
    )


@cache
def sections(file: str) -> dict[str, list[str]]:
    """The ``[section]`` lists of a lexicon file (lines before any section: ``""``)."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in read_lines(file):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            out.setdefault(current, [])
        else:
            out[current].append(line)
    return out


# --- clauses and negation --------------------------------------------------------------------


@dataclass(frozen=True)
class Negation:
    cues: tuple[str, ...]
    fillers: tuple[str, ...]


@cache
def negation(lang: str) -> Negation:
    found = sections(f"lexicon_negation_{lang}.txt")
    cues = [normalise(c) for c in found.get("cues", [])]
    fillers = [normalise(f) for f in found.get("fillers", [])]
    return Negation(
        tuple(sorted(set(cues), key=len, reverse=True)),
        tuple(sorted(set(fillers), key=len, reverse=True)),
    )


@cache
def cue_words(section: str) -> tuple[str, ...]:
    """A section of ``lexicon_context.txt``, normalised, longest first."""
    words = {normalise(w) for w in sections("lexicon_context.txt").get(section, [])}
    return tuple(sorted(words, key=len, reverse=True))


def clause_before(text: str, start: int) -> str:
    """The text of the clause before ``start`` (at most ``WINDOW_CHARS``)."""
    window = text[max(0, start - WINDOW_CHARS) : start]
    cut = max(window.rfind(c) for c in BREAK_CHARS)
    return window[cut + 1 :]


def clause_after(text: str, end: int) -> tuple[str, str]:
    """(the rest of the clause after ``end``, the break that ends it or "")."""
    window = text[end : end + WINDOW_CHARS]
    m = _BREAK.search(window)
    if m is None:
        return window, ""
    return window[: m.start()], m.group(0)


_ZH_QUESTION_END = re.compile(r"(?:吗|么|嘛)\s*\Z")
# Auxiliaries that open an English yes/no question ("Aren't you…?", "Are you not…?").
_EN_AUX = frozenset(
    [
        "are",
        "is",
        "am",
        "do",
        "does",
        "did",
        "was",
        "were",
        "can",
        "could",
        "will",
        "would",
        "have",
        "has",
        "should",
        "aren't",
        "isn't",
        "don't",
        "doesn't",
        "didn't",
        "wasn't",
        "weren't",
        "can't",
        "couldn't",
        "won't",
        "wouldn't",
        "haven't",
        "hasn't",
        "shouldn't",
    ]
)


def _zh_cue(before: str) -> tuple[bool, int]:
    """(a negation cue governs the end of ``before``, the cue's index in it)."""
    neg = negation("zh")
    s = before.rstrip()
    for _ in range(MAX_FILLERS + 1):
        cue = next((c for c in neg.cues if s.endswith(c)), None)
        if cue is not None:
            return True, len(s) - len(cue)
        filler = next((f for f in neg.fillers if s.endswith(f)), None)
        if filler is None:
            return False, -1
        s = s[: -len(filler)].rstrip()
    return False, -1


def _en_cue(before: str) -> tuple[bool, str]:
    neg = negation("en")
    tokens = _EN_TOKEN.findall(before)
    for _ in range(MAX_FILLERS + 1):
        if not tokens:
            return False, ""
        if tokens[-1] in neg.cues:
            return True, tokens[-1]
        if tokens[-1] not in neg.fillers:
            return False, ""
        tokens.pop()
    return False, ""


def reported(before: str) -> bool:
    """The clause repeats someone else's words (您说我们…, you called us…, 谁说…)."""
    return any(m in before for m in cue_words("reported"))


def asserted(text: str, start: int, end: int, term: str) -> bool:
    """Whether the use ``text[start:end]`` of ``term`` is asserted by the writer.

    Not when negated, unless the negation is a question's (是不是…, 有没有…,
    "不是…吗" and "aren't you…?" are rhetorical: they assert), and 难道…吗 turns the
    clause around. Not when reported (the writer repeats another's words).
    """
    before = clause_before(text, start)
    if reported(before):
        return False
    rest, brk = clause_after(text, end)
    if CJK.search(term):
        negated, at = _zh_cue(before)
        if negated and at > 0:
            # A-not-A (是不是, 有没有, 要不要): the word on both sides of 不/没 is a question.
            tail = before[at:] + term
            if tail[:1] in "不没" and len(tail) > 1 and before[at - 1] == tail[1]:
                negated = False
                question = True
            else:
                question = bool(_ZH_QUESTION_END.search(rest)) or brk == "?"
        else:
            question = bool(_ZH_QUESTION_END.search(rest)) or brk == "?"
        if question and "难道" in before:
            return negated  # 难道你不是骗子吗 asserts it; 难道你是骗子吗 denies it
        if question and negated:
            return True  # 你不是骗子吗？: a rhetorical question asserts
        return not negated
    negated, cue = _en_cue(before)
    if negated and brk == "?":
        first = _EN_TOKEN.match(before.lstrip())
        if cue.endswith("n't") or (first is not None and first.group(0) in _EN_AUX):
            return True  # "Aren't you an idiot?", "are you not stupid?"
    return not negated


def _fits(text: str, phrase: Phrase, start: int, end: int) -> bool:
    """Whether a found term stands the way its mode requires (alone, aimed)."""
    if phrase.mode == "standalone":
        return _standalone(text, start, end)
    if phrase.mode == "aimed":
        return (
            _standalone(text, start, end)
            or AIMED_BEFORE.search(clause_before(text, start)) is not None
            or AIMED_AFTER.match(text, end, end + WINDOW_CHARS) is not None
        )
    return True


def cjk_uses(text: str, phrases: PhraseList) -> Iterator[tuple[Phrase, int, int]]:
    """The Chinese terms of ``phrases`` in ``text``; each term is looked at in at most
    ``MAX_USES_JUDGED`` places and offered where it stands as its mode requires.

    The text is read in chunks: the trie regex lists the terms a chunk holds (one
    C-speed ``findall``), then each term's places are found with ``str.find``. So a
    megabyte of one term costs a scan, not a Python step per use.
    """
    if phrases.cjk is None:
        return
    looked: dict[str, int] = {}
    for at in range(0, len(text), SCAN_CHUNK_CHARS):
        end_at = min(len(text), at + SCAN_CHUNK_CHARS)
        chunk = text[at : end_at + phrases.longest - 1]  # a term may start near the end
        present = set(phrases.cjk.findall(chunk))
        for term in sorted(present, key=lambda t: (-len(t), t)):
            n = looked.get(term, 0)
            phrase = phrases.cjk_index[term]
            i = chunk.find(term)
            while 0 <= i < end_at - at and n < MAX_USES_JUDGED:
                n += 1
                start = at + i
                if _fits(text, phrase, start, start + len(term)):
                    yield phrase, start, start + len(term)
                i = chunk.find(term, i + len(term))
            looked[term] = n


def latin_uses(text: str, phrase: Phrase) -> Iterator[tuple[int, int]]:
    """Where a Latin ``phrase`` stands in ``text`` as a whole word (at most
    ``MAX_USES_JUDGED`` places looked at)."""
    assert phrase.pattern is not None
    for n, m in enumerate(phrase.pattern.finditer(text)):
        if n >= MAX_USES_JUDGED:
            return
        start, end = m.span()
        if start and text[start - 1] in _LATIN_BEFORE:
            continue
        if _fits(text, phrase, start, end):
            yield start, end


def _standalone(text: str, start: int, end: int) -> bool:
    before = clause_before(text, start)
    rest, _ = clause_after(text, end)
    return bool(STANDALONE_BEFORE.match(before)) and bool(STANDALONE_AFTER.match(rest))


# Whole-message terms are one or two words: a longer message is none of them.
MAX_WHOLE_CHARS = 32


def whole_message(norm: str, phrases: PhraseList) -> list[str]:
    """The list's whole-message terms this message is (哦, ok)."""
    if len(norm) > MAX_WHOLE_CHARS:
        return []
    b = bare(norm)
    return [b] if b in phrases.whole else []


class Message:
    """One message read once for every list: folded, masked, its Latin words known.

    ``written`` keeps the writer's script, letter for letter with ``norm``.
    """

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.written = fold_width(text)
        self.norm = to_simplified(self.written)
        self.masked = mask(self.norm)
        # A text without one Chinese character skips the Chinese pass of every list.
        self.has_cjk = CJK.search(self.masked) is not None
        self._words: Words | None = None
        self.said: dict[str, frozenset[str]] = {}  # tags asserted, per phrase list

    @property
    def words(self) -> Words:
        if self._words is None:
            self._words = Words(self.masked)
        return self._words

    def cjk_text(self, phrases: PhraseList) -> str:
        """The masked text with the list's innocent Chinese phrases blanked too."""
        if phrases.masks is None:
            return self.masked
        return phrases.masks.sub(" ", self.masked)

    def latin_text(self, phrases: PhraseList) -> str:
        """The masked text with the list's innocent Latin phrases blanked too."""
        text = self.masked
        for p in phrases.latin_masks:
            if p.split()[0] in self.words.tokens and p in text:
                text = text.replace(p, " ")
        return text

    def as_written(self, term: str) -> str:
        """A Chinese ``term`` as the writer wrote it (騙子 stays Traditional)."""
        i = self.norm.find(term)
        return self.written[i : i + len(term)] if i >= 0 else term
