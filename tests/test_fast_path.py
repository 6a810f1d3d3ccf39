"""The compiled fast path (issue 28: ingest/native_fast.py, ingest/claude_code_fast.py) against
the validator it stands in for (native.py, claude_code.py): the same records, field for field
(their line and excerpt too), and the same rejects (line, reason, excerpt), on the bad-input
corpus, random lines, nesting at json's recursion limit, line ends, chunk boundaries and a
generated Claude Code folder. The slow path is the reference: an independent implementation."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.ingest import _head, claude_code, claude_code_fast, import_path, native, native_fast

from .test_bad_input import BAD_LINES
from .test_fuzz_import import JSON, JUNK_BYTES, good_line, json_line

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODULES = {"native": (native, native_fast), "claude-code": (claude_code, claude_code_fast)}


def _items(data: bytes, fmt: str, fast: bool, source: str, **options) -> list:
    slow_module, fast_module = MODULES[fmt]
    raw = io.BufferedReader(io.BytesIO(data), 65_536)
    head = _head(raw)
    if fast:
        return list(fast_module.parse_bytes(raw, source, head=head, **options))
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return list(slow_module.parse(stream, source, head=head, **options))


def _shown(item) -> tuple:
    """What an item says, all of it (a Record's `raw` is not part of its equality)."""
    if isinstance(item, native.Reject):
        return ("reject", item.source, item.line, item.reason, item.raw)
    return ("record", item, item.source_line, item.raw_text)


def same(data: bytes, fmt: str, source: str = "in.jsonl", **options) -> list:
    """Both paths' output, asserted equal; returns it."""
    slow = [_shown(i) for i in _items(data, fmt, False, source, **options)]
    fast = [_shown(i) for i in _items(data, fmt, True, source, **options)]
    assert fast == slow
    return slow


# -- native -----------------------------------------------------------------------------------------

def good(i: int, **extra) -> dict:
    return {"id": f"g{i}", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "user": "alice", "prompt_tokens": 100 + i, "cost_usd": 1.0, **extra}


def _line(item) -> bytes:
    return item if isinstance(item, bytes) else (item if isinstance(item, str) else json.dumps(item)).encode()


@pytest.mark.parametrize("bad", [b for b, _ in BAD_LINES])
def test_native_bad_input_corpus_gives_the_same_records_and_rejects(bad):
    data = b"\n".join([_line(good(1)), _line(bad), _line(good(2))]) + b"\n"
    out = same(data, "native")
    assert [o[0] for o in out] == ["record", "reject", "record"]
    assert out[1][2] == 2  # the bad line's own number


NATIVE_EDGES = [
    good(3, user=""),  # "" is no user
    good(4, requests=0), good(5, status=99), good(6, status=600), good(7, context_tokens=10**6),
    good(8, prompt_tokens=-1), good(9, prompt_tokens=10**12), good(10, prompt_tokens=10**12 + 1),
    good(11, cost_usd=10**6), good(12, cost_usd=10**6 + 1), good(13, cost_usd=True), good(14, cost_usd=3),
    good(15, prompt_tokens=1.0), good(16, prompt_tokens="12"), good(17, ts="2026-11-20"), good(18, ts=5),
    good(19, ts="1969-12-31T23:59:59Z"), good(20, id="x" * 257), good(21, id="x" * 256), good(22, id=""),
    good(23, model=None), good(24, tag="kept as metadata"), good(25, user="Zoë"), good(26, user="a\"b"),
    good(27, team=7), good(28, verdict=None), good(29, ts="2026-11-20T10:00:00+05:45"), {"id": "only"},
    '{"id": "g30", "id": "g31", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}',  # last wins
    '{"id": "g32", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "cost_usd": NaN}',
    '{"id": "g33", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "cost_usd": 1e400}',
    '{"id": "g34", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"} trailing', "[1, 2]", "7", "null",
    good(36, metadata={"route": "/v1/chat/completions", "n": [1, 2.5, None, True]}), good(37, metadata=None),
    good(38, metadata={"usage": {"reasoning_tokens": 5}}), good(39, metadata=json.loads("[" * 63 + "]" * 63)),
    good(40, metadata=json.loads("[" * 64 + "]" * 64)), good(41, metadata="text"), good(42, metadata=1e308),
    json.dumps(good(43))[:-1] + ', "metadata": ' + "9" * 4400 + "}",
    json.dumps(good(44))[:-1] + ', "metadata": {"a": 1, "a": 2}}',
    good(45, input_tokens=5), {k: v for k, v in good(46, output_tokens=7).items() if k != "prompt_tokens"},
    {"id": "g47", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "total_tokens": 9},
    "   ", "\x0c", '  {"id": "g35", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}  ',
]


def test_native_edge_values_give_the_same_records_and_rejects():
    out = same(b"\n".join(map(_line, NATIVE_EDGES)) + b"\n", "native")
    records = [o[1] for o in out if o[0] == "record"]
    assert {r.id for r in records} >= {"g3", "g11", "g14", "x" * 256, "g24", "g25", "g26", "g29", "g31", "g35", "g36", "g37",
                                        "g39", "g41", "g42", "g44"}
    assert next(r for r in records if r.id == "g14").cost_usd == 3.0  # an integer cost is a float cost
    assert next(r for r in records if r.id == "g3").user is None
    assert next(r for r in records if r.id == "g44").metadata == {"metadata": {"a": 2}}


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_native_line_ends_bom_and_a_last_line_without_end(ending):
    lines = [_line(good(i)) for i in range(5)] + [b"", b"{broken"] + [_line(good(9))]
    data = b"\xef\xbb\xbf" + ending.join(lines)  # no line end after the last line
    out = same(data, "native")
    assert [o[2] for o in out] == [1, 2, 3, 4, 5, 7, 8]


@FUZZ
@given(st.lists(st.one_of(st.integers(0, 10**6).map(good_line), JUNK_BYTES, JSON.map(json_line)),
                min_size=1, max_size=12))
def test_native_random_lines_give_the_same_records_and_rejects(items):
    same(b"\n".join([good_line(-1), *items]) + b"\n", "native")


def test_native_chunk_boundaries(monkeypatch):
    """Pieces of 100 bytes: lines cut across them, and one line longer than a piece."""
    monkeypatch.setattr(native_fast, "CHUNK", 100)
    lines = [_line(good(i, note="x" * (i * 37 % 300))) for i in range(40)] + [b'{"id": "\xff"}', _line(good(99))]
    out = same(b"\n".join(lines) + b"\n", "native")
    assert len(out) == 42


# -- Claude Code ------------------------------------------------------------------------------------

def usage(**over) -> dict:
    return {"input_tokens": 10, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 20000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "output_tokens": 400, "service_tier": "standard", **over}


def assistant(n: int, use=None, content="text", **over) -> dict:
    line = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/shop",
            "sessionId": "3c9d2e7a-1b4f-4a8e-9d6c-5e2f1a0b7c8d", "version": "2.0.50", "gitBranch": "main",
            "requestId": f"req_{n}", "type": "assistant", "uuid": f"u-{n}", "timestamp": "2026-11-20T10:00:04.120Z",
            "message": {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                        "content": [{"type": "text", "text": content}], "usage": usage() if use is None else use}}
    line.update(over)
    return line


def progress(n: int, inner, **over) -> dict:
    return {"type": "progress", "sessionId": "s-parent", "cwd": "/p", "uuid": f"p-{n}", "version": "2.0.55",
            "timestamp": "2026-11-21T08:00:00.000Z", "data": {"type": "agent_progress", "message": inner}, **over}


def test_claude_code_one_line_by_hand():
    """The fast path's record of one assistant line, worked out by hand: prompt = input 10 + cache
    writes 3,000 (1,000 five-minute + 2,000 one-hour); cached = the 20,000 cache reads."""
    out = same(_line(assistant(1, content="é → ✓")) + b"\n", "claude-code", user="alice")
    (kind, record, line, raw), = out
    assert (kind, record.id, record.provider, record.user, line) == ("record", "msg_1:req_1", "anthropic", "alice", 1)
    assert (record.prompt_tokens, record.cached_input_tokens, record.completion_tokens) == (3010, 20000, 400)
    assert (record.cache_write_tokens, record.cache_write_1h_tokens) == (3000, 2000)
    assert record.ts_us == 1_795_168_804_120_000  # 2026-11-20T10:00:04.120Z
    assert record.metadata == {"sessionId": "3c9d2e7a-1b4f-4a8e-9d6c-5e2f1a0b7c8d", "cwd": "/home/dev/shop",
                               "gitBranch": "main", "version": "2.0.50"}
    assert raw == json.dumps(assistant(1, content="é → ✓"))


CLAUDE_EDGES = [
    assistant(1), assistant(1, use=usage(output_tokens=450)),  # streamed copies: the last one wins
    assistant(2, use=usage(input_tokens=-1)), assistant(3, use=usage(input_tokens="12")),
    assistant(4, use=usage(input_tokens=True)), assistant(5, use=usage(output_tokens=10**12 + 1)),
    assistant(6, use=usage(cache_creation_input_tokens=10)),  # parts exceed the total: a reject
    assistant(7, use=usage(cache_creation_input_tokens=None)), assistant(8, use=usage(cache_creation=None)),
    assistant(9, use=usage(cache_creation=[1])), assistant(10, use=usage(cache_creation={"other": 1})),
    assistant(11, use=usage(web_tokens=5)),  # a usage field not known to the fast path
    assistant(12, use=None, requestId=None), assistant(13, requestId=""), assistant(14, timestamp="yesterday"),
    assistant(15, timestamp=None), assistant(16, costUSD=0.25), assistant(17, costUSD=True),
    assistant(18, costUSD=-1), assistant(19, cwd={"nested": [1, 2]}), assistant(20, gitBranch=""),
    assistant(21, message={"id": "msg_21", "model": "<synthetic>", "usage": usage()}),
    assistant(22, message={"id": "", "model": "m", "usage": usage()}),
    assistant(23, message={"id": "msg_23", "model": None, "usage": usage()}),
    assistant(24, message={"id": "msg_24", "model": "m", "usage": None}),
    assistant(25, message={"id": "msg_25", "model": "m", "usage": 5}), assistant(26, message="text"),
    assistant(27, message={"id": "i" * 300, "model": "m", "usage": usage()}),
    assistant(28, type="user"), assistant(29, model_note="x", data=7),
    progress(30, assistant(30)), progress(31, {**assistant(31), "timestamp": None, "sessionId": None}),
    progress(32, "not an object"), progress(33, None), progress(34, {**assistant(34), "type": "user"}),
    progress(35, {"type": "assistant"}), {"type": "progress", "data": {"type": "hook_progress"}},
    {"type": "summary", "summary": "s", "leafUuid": "u-1"}, [1, 2], "null", '{"type": "assistant", broken',
    '{"type":"user","message":{"role":"user","content":"a\\ud800b"}}',  # a lone surrogate in content: skipped
    '{"type":"user","message":{"role":"user","content":"x"},"n":NaN}',
    assistant(36, content="\x00"), b'{"type":"user","message":{"content":"\xff\xfe"}}',
]


@pytest.mark.parametrize("user", [None, "alice", ""])
def test_claude_code_edge_lines_give_the_same_records_and_rejects(user):
    out = same(b"\n".join(map(_line, CLAUDE_EDGES)) + b"\n", "claude-code", user=user)
    kinds = [o[0] for o in out]
    assert "record" in kinds and "reject" in kinds


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_claude_code_line_ends_and_bom(ending):
    data = b"\xef\xbb\xbf" + ending.join(_line(assistant(i)) for i in range(4)) + ending
    assert len(same(data, "claude-code")) == 4


def test_claude_code_bytes_not_utf8_in_a_skipped_line_are_still_a_reject():
    data = b"\n".join([_line(assistant(1)), b'{"type":"user","message":{"content":"caf\xe9"}}', _line(assistant(2))])
    out = same(data + b"\n", "claude-code")
    # (a record is passed on when the next id comes: a streamed message's last line wins)
    assert [(o[0], o[2]) for o in out] == [("reject", 2), ("record", 1), ("record", 3)]
    assert out[0][3] == "not UTF-8 text (at character 41 of the line)"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("fmt", ["claude-code", "native"])
def test_nesting_around_jsons_recursion_limit(fmt):
    """Lines nested 900 to 1,100 deep, in content a record skips: wherever json.loads gives up
    (it depends on the stack), the fast path gives the same answer."""
    limit = sys.getrecursionlimit()
    depths = range(limit - 100, limit + 100, 3)
    if fmt == "claude-code":
        lines = [json.dumps(assistant(d))[:-1] + f', "deep": {_nested(d)}}}' for d in depths]
    else:  # an unknown field, and the one a fast line may have (`metadata`), 100,000 deep too
        lines = [json.dumps(good(d))[:-1] + f', "{key}": {_nested(d)}}}' for d in [*depths, 100_000]
                 for key in ("deep", "metadata")]
    out = same("\n".join(lines).encode() + b"\n", fmt)
    kinds = {o[0] for o in out}
    assert kinds == ({"record", "reject"} if fmt == "claude-code" else {"reject"})


def test_claude_code_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(native_fast, "CHUNK", 300)
    lines = [_line(assistant(i // 2, content="y" * (i * 53 % 700))) for i in range(30)]
    out = same(b"\n".join(lines), "claude-code")  # no line end at the end
    assert len(out) == 15


USAGE_VALUES = st.one_of(st.none(), st.integers(-5, 5), st.integers(10**12 - 2, 10**12 + 2), st.booleans(),
                         st.floats(allow_nan=True), st.sampled_from(["7", "", "x"]))


@st.composite
def claude_lines(draw) -> bytes:
    use = {k: draw(USAGE_VALUES) for k in draw(st.sets(st.sampled_from(
        ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"])))}
    if draw(st.booleans()):
        use["cache_creation"] = draw(st.one_of(st.none(), st.just([]), st.fixed_dictionaries(
            {}, optional={"ephemeral_5m_input_tokens": USAGE_VALUES, "ephemeral_1h_input_tokens": USAGE_VALUES})))
    line = assistant(draw(st.integers(0, 3)), use=use)
    for key in draw(st.sets(st.sampled_from(["timestamp", "requestId", "costUSD", "cwd", "type"]))):
        line[key] = draw(JSON)
    if draw(st.booleans()):
        line["message"]["model"] = draw(st.one_of(JSON, st.just("<synthetic>")))
    if draw(st.integers(0, 3)) == 0:
        line = progress(0, line)
    return json_line(line)


@FUZZ
@given(st.lists(st.one_of(claude_lines(), JUNK_BYTES, JSON.map(json_line)), min_size=1, max_size=10),
       st.sampled_from([None, "alice"]))
def test_claude_code_random_lines_give_the_same_records_and_rejects(items, user):
    same(b"\n".join([_line(assistant(99)), *items]) + b"\n", "claude-code", user=user)


def test_claude_code_fixtures_and_a_generated_folder(tmp_path):
    """The Claude Code fixtures (tests/data, sample_data) and a folder of bench's generator."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from claude_code_folder import Folder
    finally:
        sys.path.pop(0)
    Folder(tmp_path, requests=150, seed=3).build()
    files = [*sorted((ROOT / "tests" / "data" / "claude-code").rglob("*.jsonl")),
             *sorted((ROOT / "sample_data" / "claude-code").rglob("*.jsonl")), *sorted(tmp_path.rglob("*.jsonl"))]
    records = 0
    for path in files:
        records += sum(o[0] == "record" for o in same(path.read_bytes(), "claude-code", source=str(path), user="me"))
    assert records >= 150


def test_an_import_goes_through_the_fast_path(store, monkeypatch):
    """The dispatch (ingest/__init__.py): both formats are read by their fast paths."""
    calls = []
    for module in (native_fast, claude_code_fast):
        real = module.parse_bytes
        monkeypatch.setattr(module, "parse_bytes", lambda *a, _real=real, **k: calls.append(_real) or _real(*a, **k))
    import_path(store, str(ROOT / "sample_data" / "example.jsonl"))
    import_path(store, str(ROOT / "tests" / "data" / "claude-code" / "projects"), user="alice")
    assert len(calls) == 4  # 1 native file, 3 Claude Code files


def test_plain_lines_are_decoded_by_the_fast_path_itself():
    """What the speed rests on: a gateway's line with its `metadata` and an assistant line with
    content in it are records of msgspec's decoding, not the validator's."""
    line = json.dumps(good(1, metadata={"route": "/v1/messages"}, team="t1", status=429)).encode()
    record = native_fast._decoded(line)
    assert isinstance(record, native.Record) and record.metadata == {"metadata": {"route": "/v1/messages"}}
    ((_, record, _, _),), lines = claude_code_fast._decode_lines(_line(assistant(1, content="x → y" * 500)), 1, "me")
    assert isinstance(record, native.Record) and record.prompt_tokens == 3010 and lines == 1


@pytest.mark.parametrize("fmt", ["native", "claude-code"])
def test_gzip_cut_short_gives_the_same_lines_before_the_cut(tmp_path, monkeypatch, fmt):
    """A gzip file that ends early: both paths hand on every whole line before the cut, then
    the read's error (ingest/__init__.py makes it one reject)."""
    import gzip

    from usage_tui.ingest.gzip_files import GZIP_ERRORS, open_file

    monkeypatch.setattr(native_fast, "CHUNK", 4096)
    make = (lambda i: good(i, note="n" * (i % 90))) if fmt == "native" else (lambda i: assistant(i))
    data = b"".join(_line(make(i)) + b"\n" for i in range(3000))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(data)[:-3000])
    seen = []
    for fast in (False, True):
        out = []
        raw = open_file(str(path), 65_536)
        with pytest.raises(GZIP_ERRORS):
            head = _head(raw)
            slow_module, fast_module = MODULES[fmt]
            if fast:
                items = fast_module.parse_bytes(raw, "cut", head=head)
            else:
                items = slow_module.parse(io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape",
                                                           newline=""), "cut", head=head)
            for item in items:
                out.append(_shown(item))
        raw.close()
        seen.append(out)
    assert seen[1] == seen[0] and len(seen[0]) > 1000
