"""Time and peak RSS of migrating an SQLite store in place to the current schema (issue 28).

    python bench/migrate.py bench/data/store-realistic-1000000-base.db   # a store an older usage-tui wrote

Copies the store (it is left as it was), opens the copy once with this checkout's code (which
migrates it in one transaction) in a subprocess whose peak RSS is sampled, checks it with
`PRAGMA quick_check`, and prints the schema versions, the seconds, the peak RSS and the bytes
per record before and after (after a checkpoint). Run it with `python -S` and PYTHONPATH=<a
checkout>:<site-packages> from outside a checkout to measure that checkout's code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench_run  # noqa: E402  (peak_rss_while)

OPEN = """
import sys
from usage_tui.store import Store
Store(sys.argv[1], on_upgrade=lambda line: print(line, file=sys.stderr)).close()
"""


def stats(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    size = path.stat().st_size
    return {"schema": version, "records": records, "bytes": size, "bytes_per_record": size / max(records, 1)}


def main() -> None:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.store.parent) as tmp:
        copy = Path(tmp) / args.store.name
        shutil.copyfile(args.store, copy)
        os.chmod(copy, 0o600)
        before = stats(copy)
        start = time.perf_counter()
        proc = psutil.Popen([sys.executable, *(["-S"] if sys.flags.no_site else []), "-c", OPEN, str(copy)],
                            stderr=subprocess.PIPE, text=True)
        peak = bench_run.peak_rss_while(proc)
        seconds = time.perf_counter() - start
        told = proc.stderr.read().strip()
        if proc.returncode:
            sys.exit(f"the migration failed (exit {proc.returncode}):\n{told}")
        conn = sqlite3.connect(copy)
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
        after = stats(copy)
    print(json.dumps({"before": before, "after": after, "seconds": seconds, "peak_rss_mb": peak / 2**20,
                      "told": told, "quick_check": check, "load": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
