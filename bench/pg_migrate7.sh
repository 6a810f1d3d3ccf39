#!/bin/bash
# PostgreSQL: a store at schema 7 written by schema-7 code, migrated in place by this checkout
# (issue 28: time and client RSS of the migration at 1M records). Set-up, from the checkout:
#   git archive a047dcc~1 usage_tui | tar -x -C /tmp/s7      # the last schema-7 code
#   python bench/run.py --shape realistic --records 1000000 --phases generate   # the records
#   cp bench/data/directory-realistic.json /tmp/dir.json
# Then run this from outside the checkout (cd /tmp). Prints the import, the migration (seconds,
# peak KB), the versions and counts before and after, and a spend summary read after it.
set -e
BASE=postgresql://root@127.0.0.1:5432/test
SCHEMA=usage_tui_mig7
DSN="$BASE?options=-csearch_path%3D$SCHEMA"
CHECKOUT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$(command -v python)}"
SP="${SP:-$($PY -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")}"
psql -h 127.0.0.1 -U root -d test -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA"
cd /tmp
PYTHONPATH=/tmp/s7:$SP $PY -S -c "
import json, sys
from usage_tui.store.postgres import PostgresStore
s = PostgresStore(sys.argv[1]); s.load_directory(json.load(open('/tmp/dir.json'))); s.close()" "$DSN"
date
PYTHONPATH=/tmp/s7:$SP /usr/bin/time -f "schema-7 import %e s %M KB" $PY -S -m usage_tui import $CHECKOUT/bench/data/records-realistic-1000000.jsonl --db "$DSN"
psql -h 127.0.0.1 -U root -d test -tAc "SELECT value FROM $SCHEMA.meta WHERE key='schema_version'; SELECT count(*) FROM $SCHEMA.records"
date
PYTHONPATH=$CHECKOUT:$SP /usr/bin/time -f "migration %e s %M KB" $PY -S -c "
import sys
from usage_tui.store.postgres import PostgresStore
PostgresStore(sys.argv[1], on_upgrade=lambda line: print(line, file=sys.stderr)).close()" "$DSN"
psql -h 127.0.0.1 -U root -d test -tAc "SELECT value FROM $SCHEMA.meta WHERE key='schema_version'; SELECT count(*), count(id_hash) FROM $SCHEMA.records"
PYTHONPATH=$CHECKOUT:$SP $PY -S -m usage_tui spend summary --db "$DSN" --as u000 --scope org --since 2026-08-27 --until 2026-11-24 --format json | head -c 300; echo
psql -h 127.0.0.1 -U root -d test -qc "DROP SCHEMA $SCHEMA CASCADE"
