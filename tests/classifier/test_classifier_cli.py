"""``dragnet classify`` / ``dragnet evaluate`` command-line contracts, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifier.model_store import ensure_default_model
from dragnet.cli import app
from dragnet.documents import INTENTS, SUBSTANCES


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return ensure_default_model()


LINES = [
    {"id": "a1", "text": "fresh coke ❄️ 3.5g $80, stealth shipping, wickr: snowking"},
    {"id": "a2", "text": "Happy birthday Molly!! 🎉"},
    {"id": "a3"},
    {"id": "a4", "text": ""},
    {"id": "a5", "text": 42},
    {"id": "a6", "text": "Selling xanax bars 2mg, 100 for $150, escrow, DM for menu"},
]


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in LINES) + "\nnot json at all\n"
    path.write_text(body, encoding="utf-8")
    return path


def _check(rows: list[dict]) -> None:
    by_id = {r.get("id"): r for r in rows}
    assert len(rows) == len(LINES) + 1
    for rid in ("a1", "a2", "a6"):
        row = by_id[rid]
        assert set(row) >= {"id", "is_drug_sale", "intent", "score", "substances", "evidence"}
        assert row["intent"] in INTENTS and (row["intent"] == "sell") == row["is_drug_sale"]
        assert isinstance(row["is_drug_sale"], bool) and 0.0 <= row["score"] <= 1.0
        assert all(s in SUBSTANCES for s in row["substances"]) and isinstance(row["evidence"], list)
    assert by_id["a1"]["is_drug_sale"] and "stimulants" in by_id["a1"]["substances"] and by_id["a1"]["evidence"]
    assert by_id["a6"]["is_drug_sale"] and "benzodiazepines" in by_id["a6"]["substances"]
    assert not by_id["a2"]["is_drug_sale"] and by_id["a2"]["substances"] == []
    assert "no text" in by_id["a3"]["error"]
    assert "empty" in by_id["a4"]["error"]
    assert "not a string" in by_id["a5"]["error"]
    assert "not valid JSON" in rows[-1]["error"]
    assert [r.get("id") for r in rows[:-1]] == [line["id"] for line in LINES]  # input order kept


def test_classify_files(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["classify", "--model", str(model_dir), "--input", str(_input(tmp_path)), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    _check([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()])


def test_classify_stdin_to_stdout_with_the_default_model(model_dir: Path, tmp_path: Path) -> None:
    body = _input(tmp_path).read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "--input", "-", "--output", "-"], input=body)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    _check(rows)


def test_classify_refuses_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", "--model", str(tmp_path), "--input", "-"], input="")
    assert result.exit_code == 2
    assert "not a Dragnet model directory" in result.output


def test_hostile_lines_cost_only_themselves_and_a_bom_is_read(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "hostile.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    lines = [
        '\ufeff{"id": "b1", "text": "molly caps 120mg, 10 for $100, ships tracked"}',  # BOM from a Windows editor
        '{"id": "b2", "text": "nice weather for a picnic"}',
        '{"id": "b3", "text": ' + deep + "}",
        deep,
        '{"id": {"nested": 1}, "text": "ok"}',
        '{"id": "b4", "text": "fresh coke 3.5g $80"}',
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["classify", "--model", str(model_dir), "--input", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines)
    assert [r.get("id") for r in rows if "error" not in r] == ["b1", "b2", "b4"]
    assert rows[0]["is_drug_sale"] and rows[5]["is_drug_sale"]
    assert [("error" in r) for r in rows] == [False, False, True, True, True, False]


@pytest.mark.parametrize("body", ["not json\n{broken\n", "", "\n\n"])
def test_input_with_no_valid_line_exits_non_zero_with_a_reason(model_dir: Path, tmp_path: Path, body: str) -> None:
    source = tmp_path / "garbage.jsonl"
    source.write_text(body, encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "--model", str(model_dir), "--input", str(source), "-o", "-"])
    assert result.exit_code == 1
    assert "no valid line" in result.output or "no input lines" in result.output
