"""LiteLLM's StandardLoggingPayload: what its generic API logger (`callbacks: ["generic_api"]`)
POSTs for each request, one object per request, as a JSON array (its default `json_array`),
JSON lines (`ndjson`) or one object per POST (`single`). `serve` takes it on POST /v1/usage.

The shape is LiteLLM's own (litellm/types/utils.py, StandardLoggingPayload and
StandardLoggingMetadata; litellm/integrations/generic_api/generic_api_callback.py sends it as
is): `id`, `status` ("success"/"failure") with `error_information.error_code` (the HTTP status,
as text), `model`, `custom_llm_provider`, `model_group`, `prompt_tokens`, `completion_tokens`,
`response_cost`, `cache_hit`, `startTime` (epoch seconds as a float; a string where the payload
went through a JSON round trip with datetimes, as LiteLLM's own test fixtures show), `end_user`,
`request_tags`, `call_type`, and in `metadata`: `user_api_key_hash` (SHA-256 hex of the virtual
key), `user_api_key_user_id`, `user_api_key_team_id`, and `usage_object` (the provider's usage,
with cached and cache-creation tokens; older LiteLLMs keep it in `hidden_params.usage_object`).

A payload is mapped to the row of LiteLLM's SpendLogs table that the same request would have
written (spend_tracking_utils.get_logging_payload: request_id = id, spend = response_cost, user
= user_api_key_user_id, api_key = user_api_key_hash, team_id = user_api_key_team_id), and that
row is read by the LiteLLM importer (ingest/litellm.py): provider inference, failures, cost,
cache tokens and bounds are the same whichever way a request arrives.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from ..model import Record
from ._common import present, source_names
from .litellm import _record as spend_log_record  # the importer's own row → record mapping
from .native import BadRecord, shown

NAME = "litellm"
# Fields that only a StandardLoggingPayload has beside `id` and `startTime` (a SpendLogs row has
# `request_id`, a native record `ts`): any one of them tells the payload apart.
_PAYLOAD_FIELDS = ("call_type", "response_cost", "model_map_information", "hidden_params", "status")
# The importer's messages name SpendLogs columns: a reject names the payload's own fields.
_PAYLOAD_NAMES = {"request_id": "id", "spend": "response_cost", "api_key": "metadata.user_api_key_hash",
                  "team_id": "metadata.user_api_key_team_id", "user": "metadata.user_api_key_user_id"}
_META_COPIED = ("end_user", "request_tags", "call_type", "model_group", "model", "custom_llm_provider",
                "prompt_tokens", "completion_tokens", "cache_hit", "status")


def is_payload(value: Any) -> bool:
    """Whether a JSON value is a StandardLoggingPayload (not a SpendLogs row, not a native record)."""
    return (isinstance(value, dict) and "id" in value and "startTime" in value and "request_id" not in value
            and any(name in value for name in _PAYLOAD_FIELDS))


class KeyIds:
    """The directory key a payload's `user_api_key_hash` names: the key id itself when the
    directory keeps hashes, else the key whose SHA-256 hex digest it is (directories that list
    the virtual keys themselves), as /v1/budget/auth matches keys. Built once per directory."""

    def __init__(self) -> None:
        self._keys: Any = None
        self._by_hash: dict[str, str] = {}

    def resolve(self, keys: Collection[str], hashed: str) -> str:
        """`keys`: the directory's key ids (its `keys` dict, or a frozenset of them)."""
        if hashed in keys:
            return hashed
        # the store hands out the same dict until the directory changes (a parsing process is
        # handed an equal frozenset each time)
        if keys is not self._keys and keys != self._keys:
            self._by_hash = {hashlib.sha256(k.encode("utf-8", "surrogatepass")).hexdigest(): k for k in keys}
            self._keys = keys
        return self._by_hash.get(hashed.lower(), hashed)


def _start_time(value: Any) -> Any:
    """`startTime` as the importer reads it: epoch seconds (LiteLLM's float) become ISO 8601 UTC;
    a string is passed on as written (parse_ts checks it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value) or value < 0:
        raise BadRecord(f"`startTime` must be epoch seconds >= 0 or an ISO 8601 timestamp, got {shown(value)}")
    try:
        return datetime.fromtimestamp(value, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"`startTime` is after 9999-12-31T23:59:59Z: {shown(value)}") from None


def _usage_object(payload: dict[str, Any], metadata: dict[str, Any]) -> Any:
    usage = metadata.get("usage_object")
    if usage is None:
        hidden = payload.get("hidden_params")
        usage = hidden.get("usage_object") if isinstance(hidden, dict) else None
    return usage


def to_spend_row(payload: Any, keys: Collection[str], key_ids: KeyIds) -> dict[str, Any]:
    """The SpendLogs row LiteLLM would have written for this payload (see the module docstring)."""
    if not isinstance(payload, dict):
        raise BadRecord("not a JSON object")
    metadata = payload.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRecord(f"`metadata` must be an object, got {shown(metadata)}")
    hashed = present(metadata.get("user_api_key_hash"))
    if hashed is not None and not isinstance(hashed, str):
        raise BadRecord(f"`metadata.user_api_key_hash` must be a string, got {shown(hashed)}")
    row = {name: payload.get(name) for name in _META_COPIED}
    row.update(
        request_id=payload.get("id"), startTime=_start_time(present(payload.get("startTime"))),
        spend=payload.get("response_cost"), user=present(metadata.get("user_api_key_user_id")),
        team_id=present(metadata.get("user_api_key_team_id")),
        api_key=key_ids.resolve(keys, hashed) if hashed else None,
        metadata={"usage_object": _usage_object(payload, metadata),
                  "error_information": payload.get("error_information"), "status": payload.get("status")},
    )
    return row


def payload_record(payload: Any, keys: Collection[str], key_ids: KeyIds) -> Record:
    """One StandardLoggingPayload → a record (BadRecord: why it is a reject). `keys`: the
    directory's keys by id (directory.keys), to name the key as the directory does."""
    try:
        return spend_log_record(to_spend_row(payload, keys, key_ids))
    except BadRecord as exc:
        raise source_names(exc, _PAYLOAD_NAMES) from None
