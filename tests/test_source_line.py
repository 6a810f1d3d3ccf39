"""Each record remembers the 1-based line of its source file it was read from (schema 4's
`source_line`), so a request can be traced back to "FILE line N"; NULL where no line is known
(an element of a JSON document, a demo record)."""

from __future__ import annotations

import json

from usage_tui.ingest import import_path


def lines_of(store) -> dict[str, int | None]:
    return dict(store.conn.execute("SELECT id, source_line FROM records"))


NATIVE = {"ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o"}


def test_native_json_lines_count_blank_and_rejected_lines(store, tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_text("\n".join([
        json.dumps({**NATIVE, "id": "a"}),   # line 1
        "",                                  # line 2: blank, skipped
        "{not json",                         # line 3: a reject
        json.dumps({**NATIVE, "id": "b"}),   # line 4
    ]) + "\n")
    assert import_path(store, str(path)).imported == 2
    assert lines_of(store) == {"a": 1, "b": 4}


def test_native_csv_lines_count_the_header(store, tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,ts,provider,model\na,2026-11-20T10:00:00Z,openai,gpt-4o\n\nb,2026-11-20T11:00:00Z,openai,gpt-4o\n")
    import_path(store, str(path))
    assert lines_of(store) == {"a": 2, "b": 4}


def test_litellm_csv_row_with_a_multi_line_cell_is_its_first_line(store, tmp_path):
    path = tmp_path / "spend.csv"
    path.write_text(
        "request_id,startTime,model,custom_llm_provider,prompt_tokens,completion_tokens,spend,messages\n"
        'r1,2026-11-20 10:00:00,gpt-4o,openai,10,5,0.001,"[{""role"": ""user"",\n""content"": ""hi""}]"\n'
        "r2,2026-11-20 11:00:00,gpt-4o,openai,10,5,0.001,[]\n")
    import_path(store, str(path))
    assert lines_of(store) == {"r1": 2, "r2": 4}  # r1 spans lines 2-3


def test_a_json_document_element_has_no_known_line(store, tmp_path):
    rows = [{"request_id": f"r{i}", "startTime": "2026-11-20T10:00:00", "model": "gpt-4o",
             "custom_llm_provider": "openai", "spend": 0.001} for i in (1, 2)]
    path = tmp_path / "spend.json"
    path.write_text(json.dumps(rows, indent=2))
    import_path(store, str(path))
    assert lines_of(store) == {"r1": None, "r2": None}


def test_claude_code_and_openai_json_lines(store, tmp_path):
    session = tmp_path / "s.jsonl"
    base = {"sessionId": "s", "uuid": "u", "timestamp": "2026-11-20T10:00:00Z"}
    session.write_text("\n".join([
        json.dumps({**base, "type": "user", "message": {"role": "user", "content": "hi"}}),
        json.dumps({**base, "type": "assistant", "requestId": "req_1", "message": {
            "id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3, "output_tokens": 4}}}),
    ]) + "\n")
    import_path(store, str(session), viewer="alice")
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1763596800, "end_time": 1763683200,
                                        "results": [{"object": "organization.usage.completions.result",
                                                     "num_model_requests": 1, "input_tokens": 5,
                                                     "output_tokens": 1, "model": "gpt-4o"}]}]}
    usage = tmp_path / "usage.jsonl"
    usage.write_text("\n" + json.dumps(page) + "\n")  # the page is on line 2
    import_path(store, str(usage))
    found = lines_of(store)
    assert found.pop("msg_1:req_1") == 2
    assert list(found.values()) == [2]
