"""Facts a case states in words: the appeal statement, the buyer's statement, the chat.

A ticket system fills the case's fields when it knows them; when it does not, the
words often say it: 「影響二次銷售」 in the merchant's statement, "没收到货" in the
buyer's, 「攔截成功」 in the chat. Each fact below is read from the texts that can
carry it, with the phrase lists of ``lexicon_facts_{zh,en}.txt`` and the same judging
as service attitude (``textscan``: both scripts, negation, quotes, codes). A fact is
``None`` when none of its texts is given, ``False`` when they are and do not say it.

Promises in the chat (seed FAQ 5, 「未履行在商品詳情、聊天、退款留言中對消費者的承諾」)
are broken when, after a merchant line that promises, the buyer says it was not kept
(说好的…呢, you promised), the merchant takes it back (做不到, 不送了), or the case's
own facts show it: a promised gift that ``flags.gift_missing`` says was not shipped, a
promised shipping time that ``shipping.on_time`` says was missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from validator.predict import conditions, textscan
from validator.predict.textscan import Message, PhraseList

LANGS = ("zh", "en")


@cache
def phrases() -> PhraseList:
    """Every fact's phrases, both languages, each tagged with its fact (section)."""
    lines: list[str] = []
    tags: list[str] = []
    for lang in LANGS:
        for section, items in textscan.sections(f"lexicon_facts_{lang}.txt").items():
            lines += items
            tags += [section] * len(items)
    return textscan.build("facts", lines, tags)


def said(message: Message) -> frozenset[str]:
    """The facts (sections) the writer of ``message`` asserts: one scan for all of them."""
    if "facts" in message.said:
        return message.said["facts"]
    lex = phrases()
    found: set[str] = set()
    text = message.cjk_text(lex) if message.has_cjk else ""
    for phrase, start, end in textscan.cjk_uses(text, lex):
        if not phrase.tags <= found and textscan.asserted(text, start, end, phrase.text):
            found |= phrase.tags
    if lex.latin and message.words:
        text = message.latin_text(lex)
        for phrase in lex.latin:
            if phrase.tags <= found or not message.words.may_hold(phrase):
                continue
            for start, end in textscan.latin_uses(text, phrase):
                if textscan.asserted(text, start, end, phrase.text):
                    found |= phrase.tags
                    break
    message.said["facts"] = frozenset(found)
    return message.said["facts"]


def says(message: Message, section: str) -> bool:
    """Whether the writer of ``message`` asserts a phrase of ``section``."""
    return section in said(message)


def _any(messages: Iterable[Message], section: str) -> bool | None:
    seen = False
    for m in messages:
        seen = True
        if says(m, section):
            return True
    return False if seen else None


def transcript_messages(case: Mapping[str, Any]) -> list[tuple[str, Message]] | None:
    """(who, message) for every chat line, read once for every fact (None: no chat)."""
    transcript = conditions.get(case, "service.transcript")
    if not isinstance(transcript, list):
        return None
    return [
        (str(line.get("from")), Message(str(line.get("text") or "")))
        for line in transcript
        if isinstance(line, Mapping)
    ]


def _lines(chat: list[tuple[str, Message]] | None, who: set[str]) -> list[Message]:
    return [m for w, m in chat or [] if w in who]


def _text(case: Mapping[str, Any], path: str) -> list[Message]:
    value = conditions.get(case, path)
    return [Message(value)] if isinstance(value, str) and value.strip() else []


def _chat_promise_broken(
    case: Mapping[str, Any], chat: list[tuple[str, Message]] | None
) -> bool | None:
    if chat is None:
        return None
    gift_missing = conditions.get(case, "flags.gift_missing") is True
    shipped_late = conditions.get(case, "shipping.on_time") is False
    promised = False
    for who, msg in chat:
        if who == "merchant":
            if says(msg, "promise"):
                if (gift_missing and says(msg, "promise_gift")) or (
                    shipped_late and says(msg, "promise_shipping")
                ):
                    return True
                promised = True
            elif promised and says(msg, "promise_withdrawn"):
                return True
        elif who == "buyer" and promised and says(msg, "promise_broken"):
            return True
    return False


def text_facts(
    case: Mapping[str, Any], chat: list[tuple[str, Message]] | None = None
) -> dict[str, bool | None]:
    """The facts the case's texts state (``derived.*`` names without the prefix).

    ``chat``: the transcript already read (``transcript_messages``), to read it once.
    """
    if chat is None:
        chat = transcript_messages(case)
    merchant = _lines(chat, {"merchant"})
    buyer = _lines(chat, {"buyer"})
    everyone = _lines(chat, {"merchant", "buyer", "platform", "system"})
    claim = _text(case, "claim.statement")
    buyer_statement = _text(case, "return.buyer_statement")
    return {
        "resale_refusal_stated": _any([*claim, *merchant], "resale"),
        "quality_problem_stated": _any([*buyer_statement, *buyer], "quality"),
        "not_received_stated": _any([*buyer_statement, *buyer], "not_received"),
        "opened_stated": _any([*buyer_statement, *claim, *everyone], "opened"),
        "delivery_stopped_stated": _any([*claim, *buyer_statement, *everyone], "delivery_stopped"),
        "unshipped_stated": _any([*claim, *buyer_statement, *everyone], "unshipped"),
        "chat_promise_broken": _chat_promise_broken(case, chat),
    }
