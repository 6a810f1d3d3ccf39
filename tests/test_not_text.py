"""Text that is not text (issue 27): a lone surrogate, from a JSON escape such as \\ud800 or from
bytes that are not UTF-8 (read with surrogateescape), in any field a record keeps, is one reject
naming the field, in every importer and on both engines; the file's other records import. Before,
an OpenAI page with such a `service_tier` failed the whole write with UnicodeEncodeError: exit
1, 0 of 2 records imported, no reject.

The inputs are each format's own shapes, cut down from the samples in sample_data/ (whose notes
say where each shape came from)."""

from __future__ import annotations

import json

import pytest

from usage_tui.ingest import import_path

BAD = "\ud800"  # json.dumps writes it as the escape \ud800
BYTE = "\udcff"  # the byte 0xff as surrogateescape reads it: written as the raw byte below


def _bytes(text: str) -> bytes:
    """The file's bytes: a BYTE placeholder becomes the raw byte 0xff (not UTF-8)."""
    return text.encode("utf-8", "surrogateescape")


def native_jsonl(field: str, value: str) -> bytes:
    lines = [{"id": "bad", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", field: value},
             {"id": "good", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}]
    return _bytes("".join(json.dumps(x) + "\n" for x in lines))


def native_csv(field: str, value: str) -> bytes:
    return _bytes(f"id,ts,provider,model,{field}\nbad,2026-11-20T10:00:00Z,p,m,{value}\n"
                  "good,2026-11-20T10:00:00Z,p,m,\n")


def litellm_json(field: str, value) -> bytes:
    rows = [{"request_id": rid, "startTime": "2026-11-20T09:15:02Z", "model": "gpt-4o", "custom_llm_provider": "openai",
             "prompt_tokens": 10, "completion_tokens": 5, "spend": 0.001} for rid in ("bad", "good")]
    rows[0][field] = value
    return _bytes(json.dumps(rows, indent=1))  # a JSON document: read whole, not line by line


def litellm_csv(field: str, value: str) -> bytes:
    return _bytes(f"request_id,startTime,model,custom_llm_provider,prompt_tokens,completion_tokens,spend,{field}\n"
                  f"bad,2026-11-20 09:15:02,gpt-4o,openai,10,5,0.001,{value}\n"
                  "good,2026-11-20 09:15:02,gpt-4o,openai,10,5,0.001,\n")


def openai_page(field: str, value) -> bytes:
    results = [{"object": "organization.usage.completions.result", "input_tokens": 100, "output_tokens": 10,
                "num_model_requests": 1, "model": model, "service_tier": "default"} for model in ("bad", "good")]
    results[0][field] = value
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1795132800, "end_time": 1795219200,
                                        "results": results}]}
    return _bytes(json.dumps(page, indent=2))


def claude_code(field: str, value: str) -> bytes:
    def line(n: int) -> dict:
        return {"parentUuid": None, "isSidechain": False, "cwd": "/home/alice/src/shop", "sessionId": "s1",
                "version": "2.0.14", "gitBranch": "main", "type": "assistant", "uuid": f"a-{n}",
                "timestamp": "2026-11-20T09:00:03.000Z", "requestId": f"req_{n}",
                "message": {"id": f"msg_{n}", "type": "message", "role": "assistant",
                            "model": "claude-sonnet-4-5-20250929", "content": [],
                            "usage": {"input_tokens": 4, "output_tokens": 1}}}
    bad = line(1)
    if field == "model":
        bad["message"]["model"] = value
    else:
        bad[field] = value
    return _bytes("".join(json.dumps(x) + "\n" for x in (bad, line(2))))


# (format, file name, its bytes, the reject's reason): in a text field, in metadata (a value,
# nested, or a key), from a JSON escape or from a byte that is not UTF-8. The fields the native
# validation reads itself are named as the source names them; a line of JSON lines or a CSV row
# that is not UTF-8 is refused as such (the character is counted within its cell in a CSV row).
CASES = [
    ("native", "n.jsonl", native_jsonl("service", BAD), "not valid Unicode text in `service`"),
    ("native", "n.jsonl", native_jsonl("tags", {"k": [BAD]}), "not valid Unicode text in `tags`"),
    ("native", "n.jsonl", native_jsonl(BAD, "x"), "not valid Unicode text in a field's name"),
    ("native", "n.jsonl", native_jsonl("user", BAD), "`user` is not valid Unicode text (a lone surrogate)"),
    ("native", "n.csv", native_csv("service", BYTE), "not UTF-8 text (at character 1 of the line)"),
    ("litellm", "l.json", litellm_json("user", BAD), "element 1: `user` is not valid Unicode text (a lone surrogate)"),
    ("litellm", "l.json", litellm_json("team_id", BYTE),
     "element 1: `team_id` is not valid Unicode text (a lone surrogate)"),
    ("litellm", "l.json", litellm_json("request_tags", ["ok", BYTE]), "not valid Unicode text in `request_tags`"),
    ("litellm", "l.json", litellm_json("session_id", BAD), "not valid Unicode text in `session_id`"),
    ("litellm", "l.csv", litellm_csv("user", BYTE), "not UTF-8 text (at character 1 of the line)"),
    ("openai", "o.json", openai_page("service_tier", BAD), "not valid Unicode text in `service_tier`"),
    ("openai", "o.json", openai_page("service_tier", BYTE), "not valid Unicode text in `service_tier`"),
    ("openai", "o.json", openai_page("api_key_id", BAD),
     "page 1: bucket 1, result 1: `api_key_id` is not valid Unicode text (a lone surrogate)"),
    ("claude-code", "c.jsonl", claude_code("cwd", BAD), "not valid Unicode text in `cwd`"),
    ("claude-code", "c.jsonl", claude_code("gitBranch", BAD), "not valid Unicode text in `gitBranch`"),
    ("claude-code", "c.jsonl", claude_code("model", BAD), "`message.model` is not valid Unicode text (a lone surrogate)"),
]


@pytest.mark.parametrize(("fmt", "name", "data", "reason"), CASES,
                         ids=[f"{c[0]}-{c[1].split('.')[1]}-{c[3].split('`')[1] if '`' in c[3] else 'name'}-{i}"
                              for i, c in enumerate(CASES)])
def test_text_that_is_not_unicode_is_one_reject_naming_its_field(engine, new_store, tmp_path, fmt, name, data,
                                                                 reason):
    store = new_store()
    path = tmp_path / name
    path.write_bytes(data)
    seen = []
    summary = import_path(store, str(path), fmt, on_reject=seen.append)
    assert [(r.reason) for r in seen] == [reason]
    assert (summary.imported, summary.rejected) == (1, 1)
    ids = [rid for (rid,) in store.execute("SELECT id FROM records")]
    assert len(ids) == 1 and "bad" not in ids[0] and "msg_1:" not in ids[0]
    assert [r["reason"] for r in store.rejects()] == [reason]


def test_a_nul_character_is_still_named_as_such(store, tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_bytes(openai_page("service_tier", "a\x00b"))
    seen = []
    summary = import_path(store, str(path), "openai", on_reject=seen.append)
    assert [r.reason for r in seen] == ["NUL character in `service_tier` (not text)"]
    assert (summary.imported, summary.rejected) == (1, 1)
