"""The safe query parser: analysts type text, never engine DSL.

One small grammar for every backend, so a query means the same thing on SQLite FTS5 and on
OpenSearch/Elasticsearch:

* words are ANDed: ``fentanyl pressed``
* ``"exact phrase"``
* ``-word`` or ``-"phrase"`` excludes
* ``a OR b`` (upper-case OR between two terms)
* ``word*`` prefix match (at least two characters before the star)

Anything else (field syntax ``title:x``, ranges, regexes, fuzziness, boosts, brackets, JSON)
is not syntax here: its punctuation is dropped and its words are searched as text.  A query that
is plainly engine DSL (a JSON object or array) is refused with :class:`QueryError`, because
silently searching for its words would mislead the analyst.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from index.folding import fold_keep_case, search_fold
from index.store import MAX_QUERY_CHARS, QueryError

MAX_TERMS = 32
_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Sentinels the backends put around matches; they cannot occur in stored text because
# :func:`strip_sentinels` removes them before indexing.  Private-use characters, not control
# characters: the engine trims characters <= U+0020 off fragment ends (Java's String.trim), which
# would eat a closing tag at the end of a title.
HL_PRE = "\ue000"
HL_POST = "\ue001"


@dataclass(frozen=True)
class Term:
    """A word (``prefix``: match words starting with it) or a phrase (several words in order)."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass
class ParsedQuery:
    """A conjunction of clauses; each clause is a disjunction of terms (``a OR b``)."""

    must: list[list[Term]] = field(default_factory=list)
    must_not: list[Term] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.must and not self.must_not

    def positive_terms(self) -> list[Term]:
        return [term for clause in self.must for term in clause]


def _looks_like_dsl(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        value = json.loads(stripped)
    except RecursionError:  # nested deeper than the parser goes: no analyst writes that
        return True
    except ValueError:
        return stripped.startswith("{") and ('":' in stripped or "':" in stripped)
    return isinstance(value, (dict, list))


def parse_user_query(text: str) -> ParsedQuery:
    """Parse analyst text; raise :class:`QueryError` (with a message fit for the analyst) for
    engine DSL or an over-long query."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long ({len(text)} characters; at most {MAX_QUERY_CHARS})")
    if _looks_like_dsl(text):
        raise QueryError(
            "queries are plain text: engine query DSL (JSON) is not accepted; "
            'type words, "phrases", -exclusions, OR and prefix*'
        )
    parsed = ParsedQuery()
    pending_or = False
    count = 0
    # folded as the backends fold the indexed text (index.folding): full-width letters, combining
    # marks and invisible characters cannot make a query miss; case is folded per word below, so
    # an upper-case OR stays an operator
    for raw in _TOKEN.findall(fold_keep_case(text.replace(HL_PRE, " ").replace(HL_POST, " "))):
        if raw == "OR":
            pending_or = bool(parsed.must)
            continue
        negate = raw.startswith("-") and len(raw) > 1
        body = raw[1:] if negate else raw
        if body.startswith('"'):
            words = tuple(search_fold(w) for w in _WORD.findall(body))
            terms = [Term(words)] if words else []
        else:
            prefix = body.endswith("*")
            terms = [Term((search_fold(w),)) for w in _WORD.findall(body)]
            if prefix and terms and len(terms[-1].words[0]) >= 2:
                terms[-1] = Term(terms[-1].words, prefix=True)
        if not terms:
            continue
        count += len(terms)
        if count > MAX_TERMS:
            raise QueryError(f"too many search terms (at most {MAX_TERMS})")
        if negate:
            parsed.must_not.extend(terms)
            pending_or = False
            continue
        if pending_or:
            parsed.must[-1].append(terms[0])
            parsed.must.extend([t] for t in terms[1:])
        else:
            parsed.must.extend([t] for t in terms)
        pending_or = False
    if parsed.empty and text.strip():
        raise QueryError("the query has no words to search for (operators and punctuation are not syntax here)")
    if parsed.must_not and not parsed.must:
        raise QueryError("a query cannot only exclude words; add a word to search for")
    return parsed


def _fts5_term(term: Term) -> str:
    quoted = '"' + " ".join(term.words) + '"'
    return quoted + ("*" if term.prefix else "")


def to_fts5(parsed: ParsedQuery) -> str:
    """An FTS5 MATCH expression built only from quoted strings (no column filters, no NEAR)."""
    clauses = []
    for clause in parsed.must:
        inner = " OR ".join(_fts5_term(t) for t in clause)
        clauses.append(f"({inner})" if len(clause) > 1 else inner)
    expr = " AND ".join(clauses)
    for term in parsed.must_not:
        expr += f" NOT {_fts5_term(term)}"
    return expr


def _sqs_term(term: Term) -> str:
    if term.is_phrase:
        return '"' + " ".join(term.words) + '"'
    return term.words[0] + ("*" if term.prefix else "")


def to_simple_query_string(parsed: ParsedQuery) -> str:
    """Text for ``simple_query_string`` rebuilt from the parsed terms (already stripped of any
    operator the user typed), run with ``default_operator: and`` and a fixed set of flags."""
    parts = []
    for clause in parsed.must:
        inner = " | ".join(_sqs_term(t) for t in clause)
        parts.append(f"({inner})" if len(clause) > 1 else inner)
    parts.extend(f"-{_sqs_term(t)}" for t in parsed.must_not)
    return " ".join(parts)


def strip_sentinels(value: str) -> str:
    return value.replace(HL_PRE, "").replace(HL_POST, "")


def safe_highlight(fragment: str) -> str:
    """Escape a fragment whose matches are wrapped in sentinels, then turn the sentinels into
    ``<mark>``: the scraped text can never become markup."""
    out: list[str] = []
    open_mark = False
    for piece in re.split(f"([{HL_PRE}{HL_POST}])", fragment):
        if piece == HL_PRE:
            if not open_mark:
                out.append("<mark>")
                open_mark = True
        elif piece == HL_POST:
            if open_mark:
                out.append("</mark>")
                open_mark = False
        else:
            out.append(html.escape(piece, quote=True))
    if open_mark:
        out.append("</mark>")  # always balanced, whatever the engine returned
    return "".join(out)
