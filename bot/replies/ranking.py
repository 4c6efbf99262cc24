"""Which replies fit a customer best: tags first, then the category order, then habit.

The order, and why:

1. **Tag score**: the sum, over the reply's tags that the customer carries, of the tag's
   weight. A weight is idf-like, ``1 + ln((N + 1) / (n + 1))`` with N customers and n of
   them carrying the tag: every customer of a store carries ``城市/上海`` and it says little
   about what they need, while a questionnaire's coded tag ``问卷/D`` (wants to clear acne)
   is carried by few and says a lot. A reply matching two of the customer's tags beats one
   matching one of them.
2. **Category order** as ``_library.yaml`` lists it: headquarters decides what comes first
   when tags do not tell (after-sales before recommendations).
3. **Sends**: how often staff sent the reply (table ``reply_send``). Staff vote with their
   clicks; the library learns which of two equal replies is the better one.
4. The library's own order, so the list never shuffles between two requests.

Search (`query`) filters before ranking: every word must be a tag of the reply (through the
vocabulary, so ``acne`` finds the ``痘痘`` replies) or appear in its title, keywords, text or
category. A query word that is a tag also counts as one of the customer's tags, so
``话术 痘痘`` ranks the replies made for acne above those that only mention it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bot.replies.library import Reply, ReplyLibrary, normalise

UNKNOWN_TAG_SHARE = 0  # a tag nobody carries yet counts as the rarest


@dataclass(frozen=True, slots=True)
class TagStats:
    """How many customers carry each canonical tag word, out of `customers`."""

    customers: int
    carrying: Mapping[str, int]

    def weight(self, word: str) -> float:
        n = self.carrying.get(word, UNKNOWN_TAG_SHARE)
        return 1.0 + math.log((self.customers + 1) / (n + 1))


EMPTY_STATS = TagStats(0, {})


@dataclass(frozen=True, slots=True)
class Ranked:
    reply: Reply
    score: float
    matched: tuple[str, ...]  # the reply's tags the customer (or the query) carries
    sends: int


def rank(library: ReplyLibrary, customer_tags: set[str], sends: Mapping[str, int],
         stats: TagStats = EMPTY_STATS, *, query: str = "",
         category: str | None = None) -> list[Ranked]:
    """The library's replies for one customer, best first (see the module docstring).

    `customer_tags` are canonical tag words (`ReplyLibrary.customer_tag_words`).
    """
    words = [normalise(w) for w in query.split() if w.strip()]
    query_tags = {library.canonical(w) for w in words}
    wanted = customer_tags | {t for t in query_tags if library.knows_tag(t)}
    found: list[Ranked] = []
    for reply in library.replies:
        if category and reply.category != category:
            continue
        if words and not all(_matches(reply, w, library.canonical(w)) for w in words):
            continue
        matched = tuple(t for t in reply.tags if t in wanted)
        score = sum(stats.weight(t) for t in matched)
        found.append(Ranked(reply, score, matched, sends.get(reply.id, 0)))
    found.sort(key=lambda r: (-round(r.score, 9), library.category_rank(r.reply.category), -r.sends,
                              r.reply.order))
    return found


def _matches(reply: Reply, word: str, canonical: str) -> bool:
    return canonical in reply.tags or word in reply.search_text
