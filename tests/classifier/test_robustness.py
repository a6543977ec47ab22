"""Robustness of the default model on the ways real posts failed it (issue: classifier on
real-world posts).  One or two cases per failure category, written fresh for this test: none is
copied from the frozen evaluation set or from the training text.  Each asserts the verdict, and
for sales the intent and (where the post says it) the substance class."""

from __future__ import annotations

from typing import Any

import pytest

from classifier.engine import ClassifierEngine
from classifier.model_store import ensure_default_model

SALES: list[Any] = [
    # emoji and slang codes with no drug name
    ("emoji_codes", "❄️❄️ + 🍃 ready now 📦 same day, 📲 signal for the list", None),
    ("slang_blues", "blues in stock 💙 30s, 10 for 200, tap in fam", "opioids"),
    ("slang_bars", "got yellow bars and greenies, 2mg, hmu for prices", "benzodiazepines"),
    ("slang_za", "za 🔥 runtz + gelato 3.5s, carts too, pull up", "cannabis"),
    # Telegram shop operations
    (
        "shop_new_bot",
        "⚠️ old bot got banned. new bot: @frostline_orders_bot — same menu, same prices, 10% off today",
        None,
    ),
    ("shop_restock", "RESTOCK ✅ kush, pressies and tina back on the menu. couriers out till 2am, zones 1-4", None),
    ("shop_referral", "bring a friend = free gram 🎁 use code SNOWDAY at checkout in the bot", None),
    # person to person
    (
        "leftover",
        "selling the rest of my adderall prescription, 20mg, 30 left, dm if you need em for finals",
        "stimulants",
    ),
    # spam pharmacy
    pytest.param(
        "spam_pharmacy",
        "Buy oxycodone online without prescription — overnight discreet delivery, pay with crypto",
        "opioids",
        marks=pytest.mark.xfail(
            reason="default model (recipe 4) scores it 0.10 (recipe 3: 0.02) and calls it other illicit goods: "
            "keyword-stuffed pharmacy spam reads to it like the non-drug spam of the training text",
            strict=False,
        ),
    ),
    # classified euphemism
    ("euphemism", "party supplies for the weekend, the white kind 😉 text only, no cops", None),
    # non-English menus and dead drops
    (
        "klad_ru",
        "Магазин работает 24/7. Меф кристалл 1г — 3500₽, шишки 2г — 3000₽. Клады магнит/прикоп, бот в профиле",
        None,
    ),
    (
        "menu_es",
        "Menú de hoy 🍁 flores indoor, perico de calidad, entrega a domicilio en Madrid, escribe por telegram",
        None,
    ),
]

NOT_SALES: list[Any] = [
    ("wtb", "WTB: anyone have percs or blues near Denver? need a new plug asap"),
    ("plug_adapter", "Selling EU to UK plug adapters, 3 for £5, collection only"),
    ("gas_ice", "gas is $4.10 here today, grabbing two bags of ice for the cooler before the bbq"),
    ("grass_seed", "grass seed and weed killer half price at the garden centre this weekend"),
    ("m30_bolts", "M30 bolts and washers, galvanised, box of 50 — $35, pickup only"),
    pytest.param(
        "hemp_seed",
        "organic hulled hemp seeds 1kg, great in smoothies, ships free",
        marks=pytest.mark.xfail(
            reason="default model (recipe 4) scores it 0.86 against a 0.72 threshold (recipe 3: 0.80 against 0.77): "
            "a weight, 'ships free' and hemp are the shape of a cannabis offer",
            strict=False,
        ),
    ),
    ("caffeine_pills", "Selling caffeine pills 200mg, 100 count, unopened, $8"),
    (
        "seizure_news",
        "Police seized 40 kilograms of cocaine and 12,000 fentanyl pills after a traffic stop, court documents say",
    ),
    (
        "court_news",
        "Prosecutors say the vendor shipped vacuum-sealed packages of methamphetamine to buyers in 30 states",
    ),
    ("price_talk", "prices for a gram in Berlin went from 60 to 80 euros in two years, anyone else notice this?"),
    ("harm_reduction", "free fentanyl test strips at the clinic on Main St, please test everything before you use"),
]


@pytest.fixture(scope="module")
def engine() -> ClassifierEngine:
    return ClassifierEngine(ensure_default_model(), device="cpu")


def _id(case: object) -> str:
    return str(case.values[0] if hasattr(case, "values") else case[0])  # type: ignore[index]


@pytest.mark.parametrize(("category", "text", "substance"), SALES, ids=[_id(case) for case in SALES])
def test_sales_written_the_way_sellers_write(
    engine: ClassifierEngine, category: str, text: str, substance: str | None
) -> None:
    [verdict] = engine.classify([text])
    assert verdict.is_drug_sale, f"{category}: score {verdict.score:.3f} < {verdict.threshold:.3f}"
    assert verdict.intent == "sell"
    if substance is not None:
        assert substance in verdict.substances, (category, verdict.substances)


@pytest.mark.parametrize(("category", "text"), NOT_SALES, ids=[_id(case) for case in NOT_SALES])
def test_posts_that_only_share_words_with_sales(engine: ClassifierEngine, category: str, text: str) -> None:
    [verdict] = engine.classify([text])
    assert not verdict.is_drug_sale, f"{category}: score {verdict.score:.3f} >= {verdict.threshold:.3f}"
    assert verdict.intent not in (None, "sell")
