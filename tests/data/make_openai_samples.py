"""Writes the OpenAI cookbook's way of saving usage (run from the repository root): the notebook
"How to use the Usage API and Cost API to monitor your OpenAI usage"
(https://cookbook.openai.com/examples/completions_usage_api) pages through
GET /v1/organization/usage/completions and collects every page's `data` (the bucket objects)
into one list, which is what gets saved. Result fields from the API reference's
UsageCompletionsResult (input_tokens includes input_cached_tokens and input_cache_write_tokens;
batch and service_tier when grouped by them)."""
import json
from datetime import UTC, datetime


def day(d):
    return int(datetime(2026, 11, d, tzinfo=UTC).timestamp())


def result(model, inp, out, requests, cached=0, writes=None, batch=False, tier="default"):
    r = {"object": "organization.usage.completions.result", "input_tokens": inp, "output_tokens": out,
         "input_cached_tokens": cached, "input_audio_tokens": 0, "output_audio_tokens": 0,
         "num_model_requests": requests, "project_id": None, "user_id": None, "api_key_id": None,
         "model": model, "batch": batch, "service_tier": tier}
    if writes is not None:
        r["input_cache_write_tokens"] = writes
    return r


buckets = [
    {"object": "bucket", "start_time": day(19), "end_time": day(20), "results": [
        result("gpt-4o-2024-08-06", 10000, 1000, 10, cached=4000, writes=2000),
        result("gpt-4o-mini-2024-07-18", 20000, 5000, 40, batch=True, tier=None),
        result("gpt-4o-mini-2024-07-18", 0, 0, 0),  # a group with no requests that day
    ]},
    {"object": "bucket", "start_time": day(20), "end_time": day(21), "results": [
        result("gpt-5-mini-2025-08-07", 8000, 3000, 6, cached=2000, tier="flex"),
        result("gpt-4o-2024-08-06", 1000, 500, 2, tier="priority"),
        result("o1-mini-2024-09-12", 4000, 1000, 3, cached=1000, batch=True, tier=None),
        result("gpt-4o-mini-2024-07-18", 1000, 1000, 1, tier="scale"),
    ]},
]
open("tests/data/openai_cookbook_usage_buckets.json", "w").write(json.dumps(buckets, indent=2) + "\n")
