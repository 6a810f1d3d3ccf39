"""[[models]] (issue 30): the directory folds model ids into one model, at import, priced as it;
the request's own id is kept (metadata `model_id`) and the history says which it used."""

from __future__ import annotations

import pytest

from usage_tui.directory import DirectoryError, check_known_names, parse_directory
from usage_tui.ingest.native import to_record
from usage_tui.model import QuerySpec
from usage_tui.query import run_query
from usage_tui.store import Store

from .test_tui import make_app, settle

MODELS = [{"id": "claude-sonnet-4-5", "aliases": ["claude-sonnet-4-5-20250929", "sonnet-latest"]}]
# $3 / $15 per million input / output tokens: 1,000 prompt + 100 completion tokens cost
# 1000 × 3 / 1e6 + 100 × 15 / 1e6 = $0.003 + $0.0015 = $0.0045 a request.
PRICE = {"provider": "anthropic", "model": "claude-sonnet-4-5", "input_per_mtok": 3.0, "output_per_mtok": 15.0}


def record(rid: str, model: str, ts: str = "2026-11-23T10:00:00Z") -> dict:
    return {"id": rid, "ts": ts, "provider": "anthropic", "model": model, "user": "alice",
            "prompt_tokens": 1000, "completion_tokens": 100}


@pytest.fixture
def models_db(tmp_path, monkeypatch, directory_doc):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    directory_doc["models"] = MODELS
    directory_doc["prices"].append(PRICE)
    path = tmp_path / "models.db"
    store = Store(path)
    store.load_directory(directory_doc)
    store.write_batch([to_record(record("a1", "claude-sonnet-4-5-20250929")),
                       to_record(record("a2", "claude-sonnet-4-5", "2026-11-23T11:00:00Z")),
                       to_record(record("a3", "sonnet-latest", "2026-11-23T12:00:00Z"))], None)
    store.close()
    return path


def test_the_directory_parses_aliases_and_refuses_ambiguous_ones(directory_doc):
    directory_doc["models"] = MODELS
    check_known_names(directory_doc)
    assert parse_directory(directory_doc).model_ids == {"claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
                                                       "sonnet-latest": "claude-sonnet-4-5"}
    bad = [
        ([*MODELS, {"id": "claude-opus-4-1", "aliases": ["sonnet-latest"]}],
         'models[1] ("claude-opus-4-1"): alias "sonnet-latest" is already an alias of "claude-sonnet-4-5"'),
        ([*MODELS, {"id": "sonnet-latest"}],
         '[[models]]: "sonnet-latest" is a model id and an alias of "claude-sonnet-4-5"'),
        ([{"id": "m", "aliases": "m-1"}], 'models[0] ("m"): `aliases` must be a list of strings'),
        ([{"aliases": ["x"]}], "models[0]: missing `id`"),
    ]
    for models, message in bad:
        directory_doc["models"] = models
        with pytest.raises(DirectoryError) as exc:
            parse_directory(directory_doc)
        assert str(exc.value) == message
    directory_doc["models"] = [{"id": "m", "alias": ["m-1"]}]
    with pytest.raises(DirectoryError, match="unknown key `alias` \\(did you mean `aliases`\\?\\)"):
        check_known_names(directory_doc)


def test_aliases_are_one_row_priced_as_one_model(models_db):
    store = Store(models_db)
    try:
        result = run_query(store, QuerySpec(viewer="alice", group_by="model"))
    finally:
        store.close()
    assert [(r.key, r.totals.requests, r.totals.cost_nano) for r in result.rows] == [
        ("claude-sonnet-4-5", 3, 3 * 4_500_000)]  # 3 × $0.0045 in nano-dollars


async def test_the_history_says_which_model_id_each_request_used(models_db):
    from usage_tui.widgets.record_detail_screen import RecordDetailScreen

    from .test_history_screen import column, settle_history

    app = make_app(models_db, "alice")
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        screen = await settle_history(pilot)
        # the row's model on every line, but its ids differ: the column says which (newest first)
        assert column(screen, "model") == ["sonnet-latest", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RecordDetailScreen)
        rows = dict(app.screen.rows)
        assert rows["Model"] == "anthropic/claude-sonnet-4-5" and rows["meta model_id"] == "sonnet-latest"
