"""Posts written by people outside the project, for judging the classifier and for training it.

``classifier/corpus/eval/`` is the frozen out-of-distribution evaluation set: 1,720 posts written
by four authors with separate briefs (social and Telegram; dark-web markets and forums;
classified ads, spam and person-to-person offers; non-English Telegram and chats) who never saw
the generator, the lexicon, the training data or each other's work.  Its files are checked
against ``SHA256SUMS`` on every load, so a changed post is an error, not a quiet new baseline;
it takes no part in training, thresholds or any other choice (:func:`training_posts` drops
near-duplicates of it).  ``classifier/corpus/train/`` holds posts by fifteen other authors, with
other briefs, for training.  ``README.md`` there says who wrote what and how it was checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dragnet.documents import INTENTS, SUBSTANCES

CORPUS_DIR = Path(__file__).with_name("corpus")
EVAL_DIR = CORPUS_DIR / "eval"
TRAIN_DIR = CORPUS_DIR / "train"
CHECKSUMS = "SHA256SUMS"

LANGS: tuple[str, ...] = ("en", "es", "de", "fr", "pt", "ru")
# a training post this close to an evaluation post (Jaccard of word 3-gram shingles) is dropped
NEAR_DUPLICATE = 0.5


class CorpusError(ValueError):
    """A corpus file is missing, malformed or no longer matches its frozen checksum."""


@dataclass(frozen=True)
class CorpusPost:
    id: str
    text: str
    sale: int
    intent: str
    substances: tuple[str, ...]
    lang: str
    platform: str
    kind: str
    hard: bool
    author: str


def _post(raw: dict[str, Any], where: str) -> CorpusPost:
    try:
        post = CorpusPost(
            id=str(raw["id"]),
            text=str(raw["text"]),
            sale=int(raw["sale"]),
            intent=str(raw["intent"]),
            substances=tuple(str(s) for s in raw["substances"]),
            lang=str(raw["lang"]),
            platform=str(raw["platform"]),
            kind=str(raw["kind"]),
            hard=bool(raw["hard"]),
            author=str(raw["author"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{where}: malformed post ({exc})") from None
    if post.sale not in (0, 1) or post.intent not in INTENTS or (post.sale == 1) != (post.intent == "sell"):
        raise CorpusError(f"{where}: sale {post.sale} and intent {post.intent!r} disagree")
    if not set(post.substances) <= set(SUBSTANCES) or post.lang not in LANGS:
        raise CorpusError(f"{where}: unknown substance or language")
    return post


def read_posts(path: Path) -> list[CorpusPost]:
    """Every post of one JSONL file, validated."""
    posts = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                posts.append(_post(json.loads(line), f"{path.name}:{number}"))
    return posts


def _check_frozen(directory: Path) -> list[Path]:
    """The files ``SHA256SUMS`` lists, each verified."""
    sums = directory / CHECKSUMS
    if not sums.is_file():
        raise CorpusError(f"{sums} is missing: the evaluation set is frozen by its checksums")
    files = []
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = directory / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise CorpusError(f"{path} does not match its frozen checksum: the evaluation set must not change")
        files.append(path)
    return files


def evaluation_posts(directory: Path = EVAL_DIR) -> list[CorpusPost]:
    """The frozen out-of-distribution evaluation set (checked against its checksums)."""
    return [post for path in _check_frozen(directory) for post in read_posts(path)]


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Word n-grams of the case-folded text (single words for texts shorter than n)."""
    words = re.findall(r"\w+", text.casefold())
    if len(words) < n:
        return frozenset(words)
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def near_duplicates(candidates: Sequence[str], reference: Iterable[str], threshold: float = NEAR_DUPLICATE) -> set[int]:
    """Positions of ``candidates`` whose shingle Jaccard similarity with some reference text is
    at least ``threshold`` (an inverted index over the reference shingles keeps this linear in
    the shared shingles, not quadratic in the texts)."""
    ref_sets = [shingles(text) for text in reference]
    index: dict[str, list[int]] = {}
    for position, grams in enumerate(ref_sets):
        for gram in grams:
            index.setdefault(gram, []).append(position)
    found = set()
    for position, text in enumerate(candidates):
        grams = shingles(text)
        shared: dict[int, int] = {}
        for gram in grams:
            for ref in index.get(gram, ()):
                shared[ref] = shared.get(ref, 0) + 1
        for ref, overlap in shared.items():
            if overlap / (len(grams) + len(ref_sets[ref]) - overlap) >= threshold:
                found.add(position)
                break
    return found


def training_posts(directory: Path = TRAIN_DIR, exclude: Iterable[CorpusPost] | None = None) -> list[CorpusPost]:
    """The written training posts, less every near-duplicate of the evaluation set (by default
    the frozen one), so that no evaluation post is learnt in another wording."""
    posts = [post for path in sorted(directory.glob("*.jsonl")) for post in read_posts(path)]
    reference = list(exclude) if exclude is not None else evaluation_posts()
    dropped = near_duplicates([p.text for p in posts], [p.text for p in reference])
    return [post for position, post in enumerate(posts) if position not in dropped]
