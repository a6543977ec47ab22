"""The frozen out-of-distribution evaluation set and the written training posts: frozen by
checksum, complete, consistent, and kept out of training."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from classifier.corpus import (
    EVAL_DIR,
    CorpusError,
    evaluation_posts,
    near_duplicates,
    read_posts,
    training_posts,
)
from classifier.data import QUICK_PLAN, build_datasets
from dragnet.documents import INTENTS, SUBSTANCES
from dragnet.settings import DragnetSettings


def test_the_evaluation_set_is_large_multilingual_and_from_several_authors() -> None:
    posts = evaluation_posts()
    assert len(posts) >= 1500
    assert {post.lang for post in posts} == {"en", "es", "de", "fr", "pt", "ru"}
    assert min(Counter(post.lang for post in posts).values()) >= 150
    assert len({post.author for post in posts}) >= 3
    assert len({post.id for post in posts}) == len(posts)
    assert {post.intent for post in posts} == set(INTENTS)
    assert all((post.sale == 1) == (post.intent == "sell") for post in posts)
    assert all(set(post.substances) <= set(SUBSTANCES) for post in posts)
    hard_negatives = [post for post in posts if post.hard and not post.sale]
    assert len(hard_negatives) > sum(1 for post in posts if not post.sale) / 2


def test_a_changed_evaluation_post_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "eval"
    shutil.copytree(EVAL_DIR, copy)
    assert len(evaluation_posts(copy)) == len(evaluation_posts())
    target = next(copy.glob("*.jsonl"))
    lines = target.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["sale"], first["intent"] = 0, "other"  # a relabelled post
    target.write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="frozen checksum"):
        evaluation_posts(copy)


def test_a_malformed_post_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "hi", "sale": 1, "intent": "buy"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="bad.jsonl:1"):
        read_posts(path)


def test_near_duplicates_are_found_across_rewordings() -> None:
    reference = ["fresh blues in stock tap in for the menu dm me on tele plug_uk"]
    candidates = [
        "fresh blues in stock tap in for the menu dm me on tele plug_uk!!",  # the same post
        "blues in stock, tap in for the menu, dm me on tele",  # most of it
        "my grandma's blue hydrangeas are in bloom this week",  # another post
    ]
    assert near_duplicates(candidates, reference) == {0, 1}


def test_training_posts_leave_out_copies_of_evaluation_posts(tmp_path: Path) -> None:
    evaluation = evaluation_posts()
    train_dir = tmp_path / "train"
    train_dir.mkdir()
    source = json.loads(next(EVAL_DIR.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[3])
    own = {**source, "id": "w-1", "text": "selling old bike wheels and a pump, collection only", "author": "t"}
    leaked = {**source, "id": "w-2", "text": source["text"] + " 🙏", "author": "t"}
    (train_dir / "posts.jsonl").write_text(
        "\n".join(json.dumps(row, ensure_ascii=False) for row in (own, leaked)) + "\n", encoding="utf-8"
    )
    kept = training_posts(train_dir, exclude=evaluation)
    assert [post.id for post in kept] == ["w-1"]


def test_no_evaluation_post_reaches_any_split_of_the_training_data(settings: DragnetSettings) -> None:
    evaluation = {post.text for post in evaluation_posts()}
    datasets = build_datasets(settings.training_data_dir, QUICK_PLAN, 13)
    for split, examples in datasets.items():
        assert not evaluation & {ex.text for ex in examples}, split
    written = [ex for ex in datasets["train"] if ex.source.startswith("written:")]
    assert len(written) > 3000 and {ex.intent for ex in written} == set(INTENTS)
