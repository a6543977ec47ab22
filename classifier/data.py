"""Training and evaluation data: the real listings (split by vendor), legitimate pharmacy and
shop text as negatives, posts written by outside authors (``classifier.corpus``, split by
post), and generated social posts (``classifier.synth``) where they add coverage.  Every example
carries an intent (sell, buy, discussion, news, harm reduction, legitimate commerce, other
illicit goods, other): the sale verdict is the sell intent.

Why split by vendor: the same vendor posts near-identical titles many times; a row split would
let the model memorise vendors and report scores that do not hold on new vendors.  A vendor's
split is a hash of its name, so the split is stable across runs and machines.
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from classifier.corpus import CorpusPost, evaluation_posts, near_duplicates, training_posts
from classifier.synth import SocialPostGenerator, Split
from dragnet.documents import INTENTS, SUBSTANCES

SPLITS = ("train", "validation", "test")


@dataclass
class Example:
    text: str
    label: int
    substances: list[str] = field(default_factory=list)
    source: str = "listing"  # listing:<market>, pharmacy, ecommerce, written:<author>, generated:<kind>
    lang: str = "en"
    group: str = ""  # the vendor (listings): the unit of the split
    intent: str = ""  # one of dragnet.documents.INTENTS; "" takes the default of the label

    def __post_init__(self) -> None:
        if not self.intent:
            self.intent = "sell" if self.label else "other"
        if self.intent not in INTENTS or (self.intent == "sell") != bool(self.label):
            raise ValueError(f"intent {self.intent!r} does not fit label {self.label}")


# The generator's kinds as intents (a generated offer is a sale; "innocent" posts are everyday
# talk that happens to use drug words).
GENERATED_INTENT = {
    "offer": "sell",
    "listing": "sell",
    "news": "news",
    "harm_reduction": "harm_reduction",
    "recovery": "harm_reduction",
    "buyer": "buy",
    "rx_talk": "discussion",
    "pharmacy": "legit_commerce",
    "innocent": "other",
    "vendor_other": "other_illicit",
}


def vendor_split(vendor: str, market: str) -> str:
    """80/10/10 train/validation/test by a hash of (market, vendor)."""
    bucket = int(hashlib.sha256(f"{market}\x00{vendor}".encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def _bucket(key: str) -> str:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def load_listings(data_dir: Path) -> dict[str, list[Example]]:
    """Real dark-web listing titles by vendor split."""
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    with open(data_dir / "darknet_listings.csv", newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            title = (row.get("title") or "").strip()
            if not title:
                continue
            label = int(row["is_drug_sale"])
            substance = (row.get("substance") or "").strip()
            subs = [substance] if label and substance in SUBSTANCES else []
            split = vendor_split(row.get("vendor") or "", row["market"])
            intent = "sell" if label else "other_illicit"  # a market's other goods: fraud, fakes, weapons
            out[split].append(
                Example(title, label, subs, f"listing:{row['market']}", "en", row.get("vendor") or "", intent)
            )
    return out


def load_pharmacy(data_dir: Path) -> dict[str, list[Example]]:
    """Legitimate pharmacy product pages: they name drugs without offering them illicitly."""
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    with open(data_dir / "pharmacy_catalog.csv", newline="", encoding="utf-8", errors="replace") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            name = (row.get("name") or "").strip()
            parts = [name, f"Composition: {row.get('composition', '').strip()}", f"Uses: {row.get('uses', '').strip()}"]
            if i % 2:
                parts.append(f"Side effects: {row.get('side_effects', '').strip()}")
                parts.append(f"Manufacturer: {row.get('manufacturer', '').strip()}")
            out[_bucket("pharmacy" + name)].append(
                Example(". ".join(parts), 0, [], "pharmacy", "en", name, "legit_commerce")
            )
    return out


def load_ecommerce(data_dir: Path) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    with open(data_dir / "ecommerce_products.csv", newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("text") or "").strip()
            if text:
                out[_bucket("shop" + text)].append(Example(text, 0, [], "ecommerce", "en", "", "legit_commerce"))
    return out


def generated(n: int, seed: int, split: Split) -> list[Example]:
    gen = SocialPostGenerator(seed=seed, split=split)
    return [
        Example(p.text, p.label, p.substances, f"generated:{p.kind}", p.lang, "", GENERATED_INTENT[p.kind])
        for p in gen.generate(n)
    ]


def load_written(posts: list[CorpusPost] | None = None) -> dict[str, list[Example]]:
    """The written training posts (less near-duplicates of the frozen evaluation set), 80/10/10
    by a hash of the post id: their validation part joins the threshold choice, so the
    precision target is chosen on posts written the way the world writes them."""
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for post in training_posts() if posts is None else posts:
        example = Example(
            post.text, post.sale, list(post.substances), f"written:{post.author}", post.lang, post.id, post.intent
        )
        out[_bucket("written" + post.id)].append(example)
    return out


@dataclass
class DataPlan:
    """How much of each source a training run uses (quick mode subsamples)."""

    listings_train: int | None = None  # None: all
    pharmacy_train: int | None = None
    generated_train: int = 12000
    generated_validation: int = 1500
    generated_test: int = 2000
    written: bool = True  # the written training posts (classifier.corpus): all of them when on
    # passes over the written posts per epoch: they are the few examples written the way the
    # world writes, against many listing titles and generated posts
    written_repeat: int = 3
    eval_cap: int | None = None  # per-source cap of validation/test rows (None: all)


QUICK_PLAN = DataPlan(
    listings_train=8000,
    pharmacy_train=1000,
    generated_train=9000,
    generated_validation=1200,
    generated_test=2000,
    eval_cap=None,
)
# The default model's data (the model ``dragnet classify`` and ``dragnet demo`` build on first
# use): the written posts twice over, fewer generated posts (they add coverage of shapes, not
# of how people write), all the listing titles the quick plan takes.
DEFAULT_PLAN = DataPlan(
    listings_train=8000,
    pharmacy_train=1000,
    generated_train=4000,
    generated_validation=1200,
    generated_test=2000,
    written_repeat=2,
)
FULL_PLAN = DataPlan(
    listings_train=None, pharmacy_train=None, generated_train=30000, generated_validation=3000, generated_test=3000
)


def feedback_examples(posts: list[CorpusPost]) -> list[Example]:
    """Analyst and platform decisions (``takedown.feedback``) as training examples, less any
    near-duplicate of the frozen evaluation set: feedback never reaches the evaluation."""
    evaluation = evaluation_posts()
    dropped = near_duplicates([post.text for post in posts], [post.text for post in evaluation])
    return [
        Example(post.text, post.sale, list(post.substances), "feedback", post.lang, post.id, post.intent)
        for position, post in enumerate(posts)
        if position not in dropped
    ]


def build_datasets(
    data_dir: Path, plan: DataPlan, seed: int, feedback: list[CorpusPost] | None = None
) -> dict[str, list[Example]]:
    """train / validation / test: real listings by vendor, negatives, and generated posts whose
    validation and test parts use their own held-out templates (``synth`` docstring) and seeds."""
    rng = random.Random(seed)
    listings = load_listings(data_dir)
    pharmacy = load_pharmacy(data_dir)
    shop = load_ecommerce(data_dir)
    out: dict[str, list[Example]] = {}
    train = list(listings["train"])
    if plan.listings_train is not None and len(train) > plan.listings_train:
        train = rng.sample(train, plan.listings_train)
    pharm = list(pharmacy["train"])
    if plan.pharmacy_train is not None and len(pharm) > plan.pharmacy_train:
        pharm = rng.sample(pharm, plan.pharmacy_train)
    gen_train = generated(plan.generated_train, seed, "train")
    written = load_written() if plan.written else {s: [] for s in SPLITS}
    written_train = (written["train"] + feedback_examples(feedback or [])) * max(1, plan.written_repeat)
    train += pharm + shop["train"] + gen_train + written_train
    rng.shuffle(train)
    out["train"] = train
    # the n-gram heads are cheap to fit: they see every training row
    out["train_lexical"] = listings["train"] + pharmacy["train"] + shop["train"] + gen_train + written_train
    out["validation"] = (
        listings["validation"]
        + pharmacy["validation"]
        + shop["validation"]
        + written["validation"]
        + generated(plan.generated_validation, seed + 1, "validation")
    )
    out["test"] = (
        listings["test"]
        + pharmacy["test"]
        + shop["test"]
        + written["test"]
        + generated(plan.generated_test, seed + 2, "test")
    )
    if plan.eval_cap is not None:
        for split in ("validation", "test"):
            by_source: dict[str, list[Example]] = {}
            for ex in out[split]:
                by_source.setdefault(ex.source.split(":")[0], []).append(ex)
            capped = []
            for items in by_source.values():
                capped += items if len(items) <= plan.eval_cap else random.Random(seed).sample(items, plan.eval_cap)
            out[split] = capped
    return out


def describe(datasets: dict[str, list[Example]]) -> dict[str, dict[str, dict[str, int]]]:
    """Counts per split and source (positives / total): goes into the model card."""
    table: dict[str, dict[str, dict[str, int]]] = {}
    for split, items in datasets.items():
        if split == "train_lexical":
            split = "train (n-gram heads)"
        rows: dict[str, dict[str, int]] = {}
        for ex in items:
            key = ex.source if not ex.source.startswith("generated") else "generated"
            row = rows.setdefault(key, {"total": 0, "positive": 0})
            row["total"] += 1
            row["positive"] += ex.label
        table[split] = rows
    return table
