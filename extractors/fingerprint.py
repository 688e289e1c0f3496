"""Similarity of articles' texts, for finding syndicated and re-published copies.

Two stages, both over the body's 3-word shingles (word order matters, so two
different stories on one topic — which share words but rarely phrases — stay
apart):

* a 64-bit SimHash (trafilatura's Charikar implementation) stored per article
  finds candidates cheaply in SQL: at most ``CANDIDATE_BITS`` bits apart;
* the candidates' shingle sets are then compared exactly: a Jaccard
  resemblance of at least ``COPY_RESEMBLANCE`` makes a copy.

Measured on the golden pages: the same wire story under another site's
boilerplate with one paragraph rewritten is 12 bits and 0.67 resemblance
away; different stories are 25 or more bits and under 0.05 apart.  A 16-bit
filter alone would link random pairs at scale (about one in 10^5 pairs of
unrelated 64-bit hashes); the exact check removes those.
"""

from __future__ import annotations

import re

from trafilatura.deduplication import Simhash

CANDIDATE_BITS = 16
COPY_RESEMBLANCE = 0.5
_SHINGLE = 3
_MIN_WORDS = 20
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[str]:
    """The text's 3-word shingles, case-folded, each as one token."""
    words = _WORD.findall(text.casefold())
    return {"".join(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def body_fingerprint(text: str) -> int | None:
    """64-bit SimHash of the text's shingles; None for a text too short to compare."""
    if len(_WORD.findall(text)) < _MIN_WORDS:
        return None
    # joined without a separator, each shingle is one alphanumeric token for trafilatura's tokenizer
    return Simhash(" ".join(sorted(shingles(text)))).hash


def resemblance(one: str, other: str) -> float:
    """Jaccard resemblance of two texts' shingle sets (1.0: the same phrases)."""
    a, b = shingles(one), shingles(other)
    return len(a & b) / len(a | b) if a and b else 0.0


def distance(one: int, other: int) -> int:
    """Hamming distance of two fingerprints, in bits."""
    return (one ^ other).bit_count()
