"""Writes tests/data/store-v4.db with schema 4's own code (the store as main had it before
schema 5), for the migration test. Run from a checkout of that version:

    git archive <schema-4 commit> usage_tui | tar -x -C /tmp/v4
    PYTHONPATH=/tmp/v4:<site-packages> python -S tests/data/make_store_v4.py tests/data/store-v4.db

Records: three users, a key, an agent, unattributed traffic, unpriced requests, times on and
off the quarter-hour grid over three days, one record replaced (its rollups adjusted).
"""

import sys
from pathlib import Path

from usage_tui.ingest.native import to_record
from usage_tui.store import SCHEMA_VERSION, Store

assert SCHEMA_VERSION == 4, "run with schema 4's code"
DIRECTORY = {
    "org": {"id": "acme", "name": "Acme", "timezone": "Europe/Berlin"},
    "teams": [{"id": "platform", "admins": ["carol"]}, {"id": "research", "admins": []}],
    "users": [{"id": "alice", "login": "alice", "role": "org_admin", "teams": ["platform"]},
              {"id": "bob", "login": "bob", "role": "member", "teams": ["platform"]},
              {"id": "carol", "login": "carol", "role": "member", "teams": ["research", "platform"]}],
    "keys": [{"id": "k_bob", "owner": "bob"}],
    "agents": [{"id": "bot", "manager": "carol"}],
}
path = Path(sys.argv[1])
path.unlink(missing_ok=True)
store = Store(path)
store.load_directory(DIRECTORY)
who = [{"user": "alice"}, {"key": "k_bob"}, {"agent": "bot"}, {}, {"user": "carol", "team": "research"}]
records = []
for i in range(60):
    minute = (i * 37) % (24 * 60)
    records.append({"id": f"r{i}", "ts": f"2026-11-{20 + i % 3:02d}T{minute // 60:02d}:{minute % 60:02d}:{i % 60:02d}Z",
                    "provider": "openai" if i % 2 else "anthropic", "model": ["gpt-4o", "m-unpriced", "claude-x"][i % 3],
                    "prompt_tokens": 100 + i, "completion_tokens": 10 * i, **who[i % 5],
                    **({"cost_usd": 0.25 * i} if i % 3 == 2 else {}), "verdict": ["allow", "block"][i % 2]})
store.write_batch([to_record(r) for r in records], None)
store.write_batch([to_record({**records[7], "prompt_tokens": 5_000})], None)  # a replacement
store.close()
