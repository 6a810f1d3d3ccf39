"""Writes the 12-row LiteLLM SpendLogs sample in JSON (/spend/logs), JSON lines, psql CSV and
/spend/logs/v2 pages (run from the repository root). Columns and defaults from litellm/proxy/schema.prisma
(model LiteLLM_SpendLogs); metadata as spend_tracking_utils._get_spend_logs_metadata writes it."""
import csv
import io
import json

COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "request_duration_ms", "completionStartTime", "model", "model_id", "model_group",
           "custom_llm_provider", "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags",
           "team_id", "organization_id", "end_user", "requester_ip_address", "messages", "response",
           "session_id", "status", "mcp_namespaced_tool_name", "agent_id", "proxy_server_request"]
KEY1 = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
KEY2 = "3f2a9b1c7e5d4f60a8b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f"

def meta(status="success", usage=None, error=None, team="platform", user="alice"):
    m = {"user_api_key": KEY1, "user_api_key_alias": "ci-key", "user_api_key_team_id": team,
         "user_api_key_org_id": None, "user_api_key_user_id": user, "user_api_key_team_alias": team,
         "spend_logs_metadata": None, "requester_ip_address": "10.0.4.17", "additional_usage_values": {},
         "applied_guardrails": [], "status": status, "error_information": error, "batch_models": None,
         "mcp_tool_call_metadata": None, "vector_store_request_metadata": None, "guardrail_information": None,
         "usage_object": usage, "model_map_information": None, "cold_storage_object_key": None,
         "litellm_overhead_time_ms": 4.1, "cost_breakdown": None}
    return m

def later(start, ms):
    from datetime import datetime, timedelta
    t = datetime.fromisoformat(start) + timedelta(milliseconds=ms)
    return t.isoformat(timespec="milliseconds") + "Z"

def row(n, start, model, provider, prompt, completion, spend, *, status="success", usage=None, error=None,
        call_type="acompletion", cache_hit="False", group=None, api_base="https://api.openai.com/v1", user="alice",
        team="platform", key=KEY1, tags=("prod",)):
    return {
        "request_id": f"chatcmpl-7b3e{n:02d}a1-5c2d-4e8f-9a0b-1c2d3e4f5a{n:02d}", "call_type": call_type,
        "api_key": key, "spend": spend, "total_tokens": prompt + completion, "prompt_tokens": prompt,
        "completion_tokens": completion, "startTime": start + "Z", "endTime": later(start, 1850),
        "request_duration_ms": 1850, "completionStartTime": later(start, 640), "model": model,
        "model_id": "e6a3c1d2" if provider else "", "model_group": group or model.split("/")[-1],
        "custom_llm_provider": provider, "api_base": api_base if provider else "", "user": user,
        "metadata": meta(status, usage, error, team, user), "cache_hit": cache_hit,
        "cache_key": "Cache OFF", "request_tags": list(tags), "team_id": team, "organization_id": "",
        "end_user": "", "requester_ip_address": "10.0.4.17", "messages": {}, "response": {},
        "session_id": f"5f0e8c2a-{n:04d}-4b1d-9c3e-7a6b5c4d3e2f", "status": status,
        "mcp_namespaced_tool_name": None, "agent_id": None, "proxy_server_request": {},
    }

ANTHROPIC = "https://api.anthropic.com/v1/messages"
rows = [
    row(1, "2026-11-20T09:00:01.000", "gpt-4o", "openai", 1200, 300, 0.006),
    row(2, "2026-11-20T09:05:02.000", "claude-sonnet-4-5", "anthropic", 2500, 400, 0.0087, api_base=ANTHROPIC,
        usage={"prompt_tokens": 2500, "completion_tokens": 400, "total_tokens": 2900,
               "prompt_tokens_details": {"cached_tokens": 2000}, "cache_read_input_tokens": 2000,
               "cache_creation_input_tokens": 0}),
    # written by an older proxy: no custom_llm_provider, no provider/ prefix
    row(3, "2026-11-20T09:10:03.000", "gpt-4o-mini", "", 1000, 200, 0.00027),
    row(4, "2026-11-20T09:15:04.000", "anthropic/claude-haiku-4-5", "", 1500, 120, 0.0022, group="claude-haiku"),
    # refused before routing: the model group is not configured; no provider, no tokens
    row(5, "2026-11-20T09:20:05.000", "team-b-default", "", 0, 0, 0.0, status="failure", user="bob",
        error={"error_code": "400", "error_class": "BadRequestError", "llm_provider": "",
               "error_message": "litellm.BadRequestError: Invalid model name passed in model=team-b-default"}),
    # LiteLLM could not price it: spend 0.0 on a success with tokens
    row(6, "2026-11-20T09:25:06.000", "gpt-4o", "openai", 1000, 200, 0.0),
    row(7, "2026-11-20T09:30:07.000", "claude-sonnet-4-5", "anthropic", 0, 0, 0.0, status="failure",
        api_base=ANTHROPIC, error={"error_code": "429", "error_class": "RateLimitError", "llm_provider": "anthropic",
                                   "error_message": "litellm.RateLimitError: AnthropicException - rate_limit_error"}),
    # answered from LiteLLM's own cache: free, spend 0.0 with tokens
    row(8, "2026-11-20T09:35:08.000", "gpt-4o-mini", "openai", 500, 100, 0.0, cache_hit="True"),
    # unpriced by LiteLLM, with Anthropic cache reads and writes inside prompt_tokens
    row(9, "2026-11-20T09:40:09.000", "claude-sonnet-4-5", "anthropic", 5000, 200, 0.0, api_base=ANTHROPIC,
        usage={"prompt_tokens": 5000, "completion_tokens": 200, "total_tokens": 5200,
               "prompt_tokens_details": {"cached_tokens": 3000}, "cache_read_input_tokens": 3000,
               "cache_creation_input_tokens": 1000}),
    # a failure whose error code is no HTTP status
    row(10, "2026-11-20T09:45:10.000", "gpt-4o", "openai", 0, 0, 0.0, status="failure",
        error={"error_code": None, "error_class": "APIConnectionError", "llm_provider": "openai",
               "error_message": "litellm.APIConnectionError: Connection error."}),
    row(11, "2026-11-20T09:50:11.000", "text-embedding-3-small", "openai", 800, 0, 0.000016, call_type="aembedding"),
    row(12, "2026-11-20T09:55:12.000", "azure/gpt-4o", "azure", 2000, 550, 0.0105, user="carol", team="research",
        key=KEY2, api_base="https://acme.openai.azure.com/", tags=()),
]
open("tests/data/litellm_12_rows.json", "w").write(json.dumps(rows, indent=2) + "\n")
open("tests/data/litellm_12_rows.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows))
# psql: \copy (SELECT * FROM "LiteLLM_SpendLogs" ORDER BY "startTime") TO 'x.csv' WITH CSV HEADER
out = io.StringIO()
w = csv.writer(out, lineterminator="\n")
w.writerow(COLUMNS)
def cell(name, v):
    if v is None:
        return ""
    if name in ("startTime", "endTime", "completionStartTime"):
        return v.replace("T", " ").rstrip("Z")   # timestamp(3) without time zone
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return v
for r in rows:
    w.writerow([cell(c, r[c]) for c in COLUMNS])
open("tests/data/litellm_12_rows.csv", "w").write(out.getvalue())
# /spend/logs/v2?page=N&page_size=5: the three pages, one per line
pages = [{"data": rows[i:i + 5], "total": 12, "page": i // 5 + 1, "page_size": 5, "total_pages": 3}
         for i in range(0, 12, 5)]
open("tests/data/litellm_spend_logs_v2_pages.jsonl", "w").write("".join(json.dumps(p) + "\n" for p in pages))
open("tests/data/litellm_spend_logs_ui_page.json", "w").write(json.dumps(
    {"data": rows[:5], "total": 12, "page": 1, "page_size": 5, "total_pages": 3}, indent=2) + "\n")
