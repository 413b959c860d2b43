"""The retrieval's index: what :class:`faq.retrieval.Retriever` derives from the entries' texts,
built once and kept between processes.

Building it normalises and tokenises every example, title, answer and keyword (some 4,000
texts), chooses the spelling vocabularies, filters the foreign terms and lays out the n-gram
columns: most of a warm ``certdesk ask``. With a ``cache_dir`` the index is kept there as one
``.npz`` file (no pickled objects: a JSON document and four numeric arrays), named by a
SHA-256 digest of everything it is built from (the examples, domain terms, foreign terms,
spelled texts, the ranking parameters, :data:`INDEX_FORMAT` and the source of the code that
builds it), so a changed entry, ``faq teach`` or a reload never reads a stale index. A missing
file is built and written; a damaged one is rebuilt and rewritten with a warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from common import language
from faq import scoring, text
from faq.scoring import NgramColumns, NgramCosine

if TYPE_CHECKING:
    from faq.retrieval import RankingParams

log = logging.getLogger(__name__)

# Bump when the build changes in a way the digest of the building code would miss (the file's
# layout, a dependency's behaviour other than those below).
INDEX_FORMAT = "certdesk-faq-index-1"
# The code an index depends on, hashed into its name: this module, the text handling (with the
# Chinese character ranges it takes from common.language and its Snowball stemmer), and the
# n-gram columns' layout; the Unicode tables behind NFKC go in as their version.
_BUILDERS = tuple(
    Path(module.__file__ or "")
    for module in (
        sys.modules[__name__],
        text,
        language,
        scoring,
        sys.modules[type(text._stemmer).__module__],
    )
)

SPELLED_IN_EXAMPLES = 3  # an example word seen in this many examples is taken as spelled right

Labelled = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class DomainTerm:
    """A word or phrase that makes a question about certificates ("certificate", "参考号")."""

    stems: frozenset[str]
    han: tuple[str, ...]

    @classmethod
    def of(cls, term: str) -> DomainTerm:
        normalized = text.normalize(term)
        stems = frozenset(text.stem(word) for word in text.latin_words(normalized))
        if not stems and not text.han_runs(normalized):
            raise ValueError(f"domain term {term!r} has no word to match")
        return cls(stems, text.han_runs(normalized))

    def found_in(self, normalized: str, stems: set[str]) -> bool:
        return self.stems <= stems and all(run in normalized for run in self.han)


class Speller:
    """Puts a misspelt English word right: the ``vocabulary`` word nearest it (edit distance 1,
    or 2 for long words, same first letter), or the word itself; answers are remembered."""

    def __init__(self, vocabulary: frozenset[str]) -> None:
        self.vocabulary = vocabulary
        by_initial: defaultdict[str, list[str]] = defaultdict(list)
        for word in sorted(vocabulary):
            by_initial[word[0]].append(word)
        self._by_initial = {initial: tuple(words) for initial, words in by_initial.items()}
        self.correct: Callable[[str], str] = lru_cache(maxsize=8192)(self._nearest)

    def _nearest(self, word: str) -> str:
        if word in self.vocabulary or len(word) < 4 or not word.isalpha():
            return word
        limit = 1 if len(word) < 8 else 2
        same_start = self._by_initial.get(word[0], ())
        match = process.extractOne(word, same_start, scorer=OSA.distance, score_cutoff=limit)
        return word if match is None else match[0]


class Index:
    """The built index: domain and foreign terms, the spelling vocabularies (``speller``,
    ``han_vocabulary``), each example's owner, word tokens and n-grams (``labelled``), and the
    n-gram scorer over them (its columns built here unless handed in)."""

    def __init__(
        self,
        *,
        domain_terms: tuple[DomainTerm, ...],
        foreign_terms: tuple[DomainTerm, ...],
        speller: Speller,
        han_vocabulary: dict[str, int],
        labelled: Labelled,
        columns: NgramColumns | None = None,
    ) -> None:
        if not labelled:
            raise ValueError("an index needs at least one example")
        self.domain_terms = domain_terms
        self.foreign_terms = foreign_terms
        self.speller = speller
        self.han_vocabulary = han_vocabulary
        self.labelled = labelled
        self.ngrams = NgramCosine(
            [(entry_id, Counter(grams)) for entry_id, _, grams in labelled], columns=columns
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """What an index is built from, and what names its file: ``(entry_id, text)`` examples, the
    domain and foreign terms, the texts whose words count as spelled right (None: the
    examples'), and the ranking parameters the index is kept for."""

    examples: tuple[tuple[str, str], ...]
    domain_terms: tuple[str, ...] = ()
    foreign_terms: tuple[str, ...] = ()
    spelled: tuple[str, ...] | None = None
    params: RankingParams


def build(sources: Sources) -> Index:
    """The index from the texts (blocking: about a second for the shipped entries)."""
    spelled = sources.spelled
    normalized_examples = [
        (entry_id, text.normalize(example)) for entry_id, example in sources.examples
    ]
    speller = Speller(_spelling_vocabulary(normalized_examples, spelled))
    han_vocabulary = _han_vocabulary(normalized_examples, spelled)
    normalized_examples = [
        (entry_id, text.correct_han(normalized, han_vocabulary))
        for entry_id, normalized in normalized_examples
    ]
    example_stems = [
        (normalized, {text.stem(word) for word in text.latin_words(normalized)})
        for _, normalized in normalized_examples
    ]
    return Index(
        domain_terms=tuple(DomainTerm.of(term) for term in sources.domain_terms),
        foreign_terms=tuple(
            term
            for term in map(DomainTerm.of, sources.foreign_terms)
            if not any(term.found_in(normalized, stems) for normalized, stems in example_stems)
        ),
        speller=speller,
        han_vocabulary=dict(han_vocabulary),
        # Examples are corrected like questions, so "certifcate" in an example and in a
        # question both become "certificate".
        labelled=tuple(
            (
                entry_id,
                tuple(text.word_tokens(normalized, correct=speller.correct)),
                tuple(text.char_ngrams(normalized)),
            )
            for entry_id, normalized in normalized_examples
        ),
    )


def digest(sources: Sources) -> str:
    """The name of the index built from ``sources``, by the building modules as they are."""
    hasher = hashlib.sha256(f"{INDEX_FORMAT} {unicodedata.unidata_version}".encode())
    for module in _BUILDERS:
        hasher.update(module.read_bytes())
    inputs = [
        [list(pair) for pair in sources.examples],
        list(sources.domain_terms),
        list(sources.foreign_terms),
        None if sources.spelled is None else list(sources.spelled),
        dataclasses.astuple(sources.params),
    ]
    hasher.update(json.dumps(inputs, ensure_ascii=False).encode())
    return hasher.hexdigest()[:32]


def built(sources: Sources, *, cache_dir: Path | None) -> Index:
    """The index for ``sources``: read from ``cache_dir`` when it holds it, else built (and
    written there, atomically, when ``cache_dir`` is given)."""
    if cache_dir is None:
        return build(sources)
    name = digest(sources)
    path = cache_dir / f"faq-index-{name}.npz"
    try:
        return load(path, name=name)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as error:
        log.warning("rebuilding the knowledge index: %s is unusable (%s)", path, error)
    index = build(sources)
    try:
        save(index, path, name=name)
    except OSError as error:
        log.warning("could not keep the knowledge index in %s: %s", path, error)
    return index


def save(index: Index, path: Path, *, name: str) -> None:
    """Write ``index`` to ``path`` (``.npz``, no pickled objects), atomically."""
    import numpy as np

    from faq import npz

    document = {
        "format": INDEX_FORMAT,
        "digest": name,
        "domain_terms": [_term_json(term) for term in index.domain_terms],
        "foreign_terms": [_term_json(term) for term in index.foreign_terms],
        "vocabulary": sorted(index.speller.vocabulary),
        "han_vocabulary": index.han_vocabulary,
        "labelled": index.labelled,
        "grams": index.ngrams.columns.grams,
    }
    columns = index.ngrams.columns
    npz.save(
        path,
        {
            "document": np.frombuffer(
                json.dumps(document, ensure_ascii=False).encode(), dtype=np.uint8
            ),
            "idf": columns.idf,
            "starts": columns.starts.astype(np.int64),
            "indices": columns.indices.astype(np.int64),
            "values": columns.values,
        },
    )


def load(path: Path, *, name: str) -> Index:
    """The index :func:`save` wrote under ``name``; ``OSError`` / ``ValueError`` for a missing,
    damaged or foreign file."""
    import numpy as np

    from faq import npz

    with npz.opened(path) as arrays:
        document = json.loads(arrays["document"].tobytes())
        raw = {key: arrays[key] for key in ("idf", "starts", "indices", "values")}
    try:
        if document["format"] != INDEX_FORMAT or document["digest"] != name:
            raise ValueError(f"it holds {document['format']} {document['digest']}, not {name}")
        columns = NgramColumns(
            grams=tuple(_strings(document["grams"])),
            idf=np.asarray(raw["idf"], dtype=np.float64),
            starts=np.asarray(raw["starts"], dtype=np.intp),
            indices=np.asarray(raw["indices"], dtype=np.intp),
            values=np.asarray(raw["values"], dtype=np.float64),
        )
        labelled = tuple(
            (str(entry_id), tuple(_strings(tokens)), tuple(_strings(grams)))
            for entry_id, tokens, grams in document["labelled"]
        )
        return Index(
            domain_terms=tuple(_term(item) for item in document["domain_terms"]),
            foreign_terms=tuple(_term(item) for item in document["foreign_terms"]),
            speller=Speller(frozenset(_strings(document["vocabulary"]))),
            han_vocabulary={str(key): int(n) for key, n in document["han_vocabulary"].items()},
            labelled=labelled,
            columns=columns,
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None


def _term_json(term: DomainTerm) -> list[list[str]]:
    return [sorted(term.stems), list(term.han)]


def _term(item: Any) -> DomainTerm:
    stems, han = item
    return DomainTerm(frozenset(_strings(stems)), tuple(_strings(han)))


def _strings(items: Any) -> list[str]:
    if not isinstance(items, list) or not set(map(type, items)) <= {str}:
        raise TypeError("expected a list of strings")
    return items


def _spelling_vocabulary(
    examples: Sequence[tuple[str, str]], spelled: Iterable[str] | None
) -> frozenset[str]:
    """The words misspellings are corrected to.

    Without ``spelled`` texts, every example word. With them (titles, answers and keywords,
    which are edited with care), their words plus the example words common enough not to be
    typos: examples deliberately contain misspellings ("refrence numbr lost"), and a misspelling
    in the vocabulary would never be corrected, in questions or in examples.
    """

    def words(normalized: str) -> set[str]:
        return {word for word in text.latin_words(normalized) if word.isalpha()}

    if spelled is None:
        return frozenset(word for _, example in examples for word in words(example))
    seen: Counter[str] = Counter()
    for _, example in examples:
        seen.update(words(example))
    common = {word for word, count in seen.items() if count >= SPELLED_IN_EXAMPLES}
    return frozenset(common.union(*(words(text.normalize(item)) for item in spelled)))


def _han_vocabulary(
    examples: Sequence[tuple[str, str]], spelled: Iterable[str] | None
) -> Counter[str]:
    """The Chinese bigrams pinyin slips are corrected to, with how often each occurs.

    Chosen like :func:`_spelling_vocabulary`: the bigrams of the titles, answers and keywords,
    and those of the examples seen in at least :data:`SPELLED_IN_EXAMPLES` of them ("下再" in
    one example is a slip, not a word); without ``spelled``, every example bigram.
    """
    in_examples: Counter[str] = Counter()
    for _, example in examples:
        in_examples.update(set(text.han_bigrams(example)))
    if spelled is None:
        return in_examples
    known: Counter[str] = Counter()
    for item in spelled:
        known.update(text.han_bigrams(text.normalize(item)))
    known.update(
        {
            bigram: n
            for bigram, n in in_examples.items()
            if n >= SPELLED_IN_EXAMPLES or bigram in known
        }
    )
    return known
