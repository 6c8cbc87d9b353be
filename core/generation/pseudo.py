"""Pseudo-queries that need no LLM (issue 10): inverse cloze, keyword spans, heading paths.

Each function takes plain chunk dicts (id, document_id, document, text, heading_path) and
returns `Candidate`s, deterministic for a given seed, with at most `per_chunk` per chunk.
- ict: a sentence of the chunk is the query (Lee et al. 2019, inverse cloze task); with
  `remove_from_positive` the positive is the chunk without that sentence, as in the original ICT,
  so the model must match context rather than copy text.
- keywords: the chunk's most salient phrases by TF-IDF against the whole corpus, joined into a
  short keyword query ("insulin resistance adipose tissue").
- heading: a heading path ("Vaccines > Measles") → every chunk under that heading.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence

from core.generation.types import Candidate

# ICT sentences shorter or longer than this (in words) make poor queries.
ICT_MIN_WORDS = 6
ICT_MAX_WORDS = 40
# Words of chunk text per inverse-cloze query by default (bench/bench_domain.py).
ICT_WORDS_PER_QUERY = 50

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"“])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*[A-Za-z0-9]|[A-Za-z]")

STOPWORDS = frozenset(
    """
    a about above after again against all also although am an and any are as at be because
    been before being below between both but by can could did do does doing down during each
    either et few for from further had has have having he her here hers herself him himself his
    how however i if in into is it its itself just may me might more most must my myself no nor
    not of off on once only or other our ours ourselves out over own per same she should since so
    some such than that the their theirs them themselves then there these they this those through
    thus to too under until up upon us very via was we were what when where which while who whom
    why will with within without would you your yours yourself yourselves one two three four five
    using used use based show showed shown found results result study studies data however
    whether well among new first second may many much several including include includes
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def sentences(text: str) -> list[str]:
    """Sentences of a chunk, markdown heading lines and "Source:" lines left out."""
    body = " ".join(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return [s.strip() for s in _SENTENCE_END.split(body) if s.strip()]


def ict_queries_for(n_words: int) -> int:
    """Inverse-cloze queries a chunk of `n_words` words gets by default: one per
    ICT_WORDS_PER_QUERY words, so the count follows the text, not the chunking."""
    return max(1, round(n_words / ICT_WORDS_PER_QUERY))


def ict_candidates(
    chunks: Sequence[dict],
    per_chunk: int | None = None,
    remove_from_positive: bool = False,
    seed: int = 13,
) -> list[Candidate]:
    """Inverse-cloze pairs: `per_chunk` sentences of each chunk as queries (None: by length,
    `ict_queries_for`), content sentences only (see `ict_reject_reason`)."""
    out: list[Candidate] = []
    for chunk in chunks:
        n_words = len(chunk["text"].split())
        sents = [s for s in sentences(chunk["text"]) if ict_reject_reason(s, n_words) is None]
        if not sents:
            continue
        rng = random.Random(f"{seed}:{chunk['id']}")
        wanted = per_chunk if per_chunk is not None else ict_queries_for(n_words)
        chosen = rng.sample(sents, min(wanted, len(sents)))
        for sentence in chosen:
            positive_text = None
            if remove_from_positive:
                rest = chunk["text"].replace(sentence, " ")
                positive_text = " ".join(rest.split())
            out.append(
                Candidate(
                    query=sentence,
                    kind="ict",
                    chunk_id=chunk["id"],
                    positives=[chunk["id"]],
                    origin="pseudo:ict" + (":removed" if remove_from_positive else ""),
                    positive_text=positive_text,
                )
            )
    return out


# Non-content "sentences" that make a query whose only answer is a copy of itself.
_DOT_LEADER = re.compile(r"\.{4,}|(?:\. ){3,}|_{4,}|…{2,}")
_POINTER = re.compile(
    r"^\W*(?:see|refer to|shown in|as in)\b.{0,30}\b(?:listing|figure|fig\.|table|section|"
    r"chapter|page|appendix|example)\s*[\dA-Z]",
    re.I,
)
# A sentence that is most of its chunk: the query would be a copy of its positive.
ICT_MAX_SHARE_OF_CHUNK = 0.6


def ict_reject_reason(sentence: str, chunk_words: int = 0) -> str | None:
    """Why `sentence` makes no inverse-cloze query, or None when it does: a fragment of a
    window cut mid-sentence, too short or long (ICT_MIN_WORDS..ICT_MAX_WORDS words), a
    "Source:" line, a table-of-contents line (dot leaders), a pointer ("see Listing 4-6"),
    mostly numbers and symbols (tables, dates, codes), or most of its chunk."""
    words = sentence.split()
    n = len(words)
    # A window cut mid-sentence leaves fragments at its edges: whole sentences only.
    whole = sentence[-1] in '.!?"”)' and (sentence[0].isupper() or sentence[0] in '"“(0123456789')
    if not whole:
        return "fragment"
    if not ICT_MIN_WORDS <= n <= ICT_MAX_WORDS:
        return f"{n} words"
    if sentence.lower().startswith("source:"):
        return "source line"
    if _DOT_LEADER.search(sentence):
        return "table of contents line"
    if _POINTER.search(sentence):
        return "pointer to another place"
    if sum(bool(_WORD.fullmatch(w.strip(".,;:()\"'“”"))) for w in words) < 0.6 * n:
        return "mostly numbers or symbols"
    if chunk_words and n >= ICT_MAX_SHARE_OF_CHUNK * chunk_words:
        return "most of its chunk"
    return None


def _phrases(text: str, max_n: int = 3) -> list[str]:
    """Candidate phrases: 1-3 word n-grams that neither start nor end with a stopword."""
    words = [w.lower() for w in _WORD.findall(text)]
    out = []
    for n in range(1, max_n + 1):
        for i in range(len(words) - n + 1):
            gram = words[i : i + n]
            if gram[0] in STOPWORDS or gram[-1] in STOPWORDS or len(gram[-1]) < 3:
                continue
            if any(len(w) < 2 for w in gram):
                continue
            out.append(" ".join(gram))
    return out


def keyword_candidates(
    chunks: Sequence[dict],
    per_chunk: int = 1,
    corpus: Sequence[dict] | None = None,
    phrases_per_query: int = 3,
) -> list[Candidate]:
    """Keyword queries: the chunk's top TF-IDF phrases (document frequency over `corpus`,
    default the chunks themselves), `phrases_per_query` per query, no word repeated."""
    corpus = corpus if corpus is not None else chunks
    df: Counter[str] = Counter()
    for c in corpus:
        df.update(set(_phrases(c["text"])))
    n_docs = max(1, len(corpus))
    out: list[Candidate] = []
    for chunk in chunks:
        tf = Counter(_phrases(chunk["text"]))
        scored = sorted(
            tf,
            # Longer phrases are more specific: a mild bonus per extra word.
            key=lambda p: -tf[p] * math.log((1 + n_docs) / (1 + df[p])) * (1 + 0.3 * p.count(" ")),
        )
        picked: list[str] = []
        used: set[str] = set()
        for phrase in scored:
            words = set(phrase.split())
            if words & used:
                continue
            picked.append(phrase)
            used |= words
            if len(picked) >= per_chunk * phrases_per_query:
                break
        for i in range(per_chunk):
            group = picked[i * phrases_per_query : (i + 1) * phrases_per_query]
            if len(group) < min(2, phrases_per_query):
                break
            out.append(
                Candidate(
                    query=" ".join(group),
                    kind="keywords",
                    chunk_id=chunk["id"],
                    positives=[chunk["id"]],
                    origin="pseudo:keywords",
                )
            )
    return out


def heading_candidates(chunks: Sequence[dict], per_chunk: int = 1) -> list[Candidate]:
    """Heading queries: for each (document, heading path), the path's last heading and, when
    `per_chunk` >= 2, the full path, each with every chunk under that path as positives.
    Documents without headings give nothing."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for chunk in chunks:
        path = (chunk.get("heading_path") or "").strip()
        if path:
            groups.setdefault((chunk["document_id"], path), []).append(chunk)
    out: list[Candidate] = []
    for (_, path), members in groups.items():
        parts = [p.strip() for p in path.split(">") if p.strip()]
        variants = [parts[-1]]
        if len(parts) > 1:
            variants.append(" — ".join(parts))
        ids = [c["id"] for c in members]
        for query in variants[: max(1, per_chunk)]:
            if len(query.split()) < 2:
                continue  # one word ("Introduction") retrieves nothing specific
            out.append(
                Candidate(
                    query=query,
                    kind="heading",
                    chunk_id=ids[0],
                    positives=ids,
                    origin="pseudo:heading",
                )
            )
    return out
