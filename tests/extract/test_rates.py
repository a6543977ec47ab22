"""The dated USD rate table: the newest rate on or before the day, never a guess."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dragnet.settings import DragnetSettings
from extract.prices import extract_price, parse_money
from extract.rates import BUNDLED_RATES, Rate, RatesError, RateTable, rate_table, to_usd, usd_rates

TABLE = "date,currency,usd\n2026-01-01,EUR,1.10\n2026-06-01,EUR,1.20\n2026-06-01,BTC,90000\n"


def _with_table(settings: DragnetSettings, tmp_path: Path, body: str = TABLE) -> DragnetSettings:
    path = tmp_path / "rates.csv"
    path.write_text(body)
    return settings.model_copy(update={"crawl": settings.crawl.model_copy(update={"rates_file": path})})


def test_the_newest_rate_on_or_before_the_day(tmp_path: Path, settings: DragnetSettings) -> None:
    table = rate_table(_with_table(settings, tmp_path))
    assert table.rate("EUR", date(2025, 12, 31)) is None  # before the first date: none
    assert table.rate("EUR", date(2026, 1, 1)) == Rate(1.10, date(2026, 1, 1))
    assert table.rate("EUR", date(2026, 3, 15)) == Rate(1.10, date(2026, 1, 1))  # between: the earlier
    assert table.rate("eur", date(2026, 6, 1)) == Rate(1.20, date(2026, 6, 1))
    assert table.rate("EUR", date(2030, 1, 1)) == Rate(1.20, date(2026, 6, 1))
    assert table.rate("BTC", date(2026, 5, 31)) is None
    assert table.rate("RUB", date(2030, 1, 1)) is None


def test_a_price_records_the_rate_and_its_date(tmp_path: Path, settings: DragnetSettings) -> None:
    custom = _with_table(settings, tmp_path)
    march = usd_rates(date(2026, 3, 15), settings=custom)
    price = parse_money("€100.00", march)
    assert price is not None
    assert (price.usd, price.usd_rate, price.rate_date) == (110.0, 1.10, date(2026, 1, 1))
    july = parse_money("€100.00", usd_rates(date(2026, 7, 1), settings=custom))
    assert july is not None and (july.usd, july.usd_rate, july.rate_date) == (120.0, 1.20, date(2026, 6, 1))
    early = parse_money("€100.00", usd_rates(date(2025, 1, 1), settings=custom))
    assert early is not None and (early.amount, early.currency) == (100.0, "EUR")
    assert (early.usd, early.usd_rate, early.rate_date) == (None, None, None)  # no rate yet: no USD


def test_a_currency_without_a_rate_has_no_usd(tmp_path: Path, settings: DragnetSettings) -> None:
    rates = usd_rates(date(2026, 7, 1), settings=_with_table(settings, tmp_path))
    price = parse_money("CHF 40", rates)
    assert price is not None and (price.amount, price.currency, price.usd, price.usd_rate) == (40.0, "CHF", None, None)
    usd = parse_money("USD 40", rates)  # USD needs no row: it is the unit
    assert usd is not None and (usd.usd, usd.usd_rate) == (40.0, 1.0)


def test_a_site_rate_covers_a_currency_the_table_lacks_from_its_own_date(
    tmp_path: Path, settings: DragnetSettings
) -> None:
    custom = _with_table(settings, tmp_path)
    site = {"RUB": Rate(0.011, date(2026, 11, 30))}
    price = parse_money("1500", usd_rates(date(2026, 12, 1), site, settings=custom), currency="RUB")
    assert price is not None
    assert (price.amount, price.currency, price.usd, price.usd_rate, price.rate_date) == (
        1500.0,
        "RUB",
        16.5,
        0.011,
        date(2026, 11, 30),
    )
    before = parse_money("1500", usd_rates(date(2026, 11, 29), site, settings=custom), currency="RUB")
    assert before is not None and before.usd is None
    # the site's rate beats the table's for that site only
    own = usd_rates(date(2026, 12, 1), {"EUR": Rate(1.5, date(2026, 11, 1))}, settings=custom)
    assert own["EUR"] == Rate(1.5, date(2026, 11, 1))
    assert usd_rates(date(2026, 12, 1), settings=custom)["EUR"] == Rate(1.20, date(2026, 6, 1))


def test_the_deprecated_undated_setting_overrides_the_table(tmp_path: Path, settings: DragnetSettings) -> None:
    custom = _with_table(settings, tmp_path)
    custom = custom.model_copy(update={"crawl": custom.crawl.model_copy(update={"usd_rates": {"EUR": 2.0}})})
    assert usd_rates(date(2026, 7, 1), settings=custom)["EUR"] == Rate(2.0, None)


@pytest.mark.parametrize(
    "body, message",
    [
        ("day,currency,usd\n", "first line must be date,currency,usd"),
        ("date,currency,usd\n2026-13-01,EUR,1.1\n", "line 2: not a date"),
        ("date,currency,usd\n2026-01-01,EUR,1.1\n2026-01-02,€,1.1\n", "line 3: not a currency code"),
        ("date,currency,usd\n2026-01-01,EUR,-1\n", "line 2: a rate must be a positive number"),
        ("date,currency,usd\n2026-01-01,EUR,nan\n", "positive number"),
        ("date,currency,usd\n2026-01-01,EUR\n", "expected date,currency,usd"),
    ],
)
def test_a_bad_table_names_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(RatesError) as info:
        RateTable.load(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_the_bundled_table_has_every_currency_the_markets_use() -> None:
    table = RateTable.load(BUNDLED_RATES)
    assert {"USD", "EUR", "GBP", "BTC", "XMR", "ETH", "LTC"} <= set(table.currencies)
    usd = table.rate("USD", date(2030, 1, 1))
    assert usd is not None and usd.usd == 1.0


def test_free_text_prices_convert_at_todays_table_rate() -> None:
    price = extract_price("40 EUR")
    rate = usd_rates()["EUR"]
    assert price is not None and (price.usd, price.usd_rate, price.rate_date) == (
        round(40 * rate.usd, 2),
        rate.usd,
        rate.day,
    )
    assert to_usd(10.0, "XYZ", usd_rates()) is None
