#!/usr/bin/env bash
# make demo: a broker, a database, the sample articles produced, the worker run until they land,
# and a short SQL summary. Stops whatever it started.
#   BROKER=mock (default): librdkafka's mock cluster hosted by `article-ingest dev-broker`
#   BROKER=tansu:          a real Kafka-protocol broker (built once by `make tansu`)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/article-ingest
work=target/demo
mkdir -p "$work"
topic=articles
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

server_url=$(scripts/ensure-postgres.sh)
PGOPTIONS="-c client_min_messages=warning" psql "$server_url" -qc "DROP DATABASE IF EXISTS article_ingest_demo WITH (FORCE)" -c "CREATE DATABASE article_ingest_demo"
export DATABASE_URL="${server_url%/*}/article_ingest_demo"

case "${BROKER:-mock}" in
  mock)
    rm -f "$work/brokers"
    "$bin" dev-broker --topic "$topic" --partitions 4 --brokers-file "$work/brokers" --log-format text >"$work/broker.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do [ -s "$work/brokers" ] && break; sleep 0.1; done
    brokers=$(cat "$work/brokers")
    ;;
  tansu)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$work/broker.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    "$TANSU_BIN" topic create "$topic" --partitions 4 --broker "tcp://127.0.0.1:$port" >/dev/null
    brokers="127.0.0.1:$port"
    ;;
  *) echo "BROKER must be mock or tansu" >&2; exit 2 ;;
esac
echo "== broker ${BROKER:-mock} at $brokers, database article_ingest_demo"

export ARTICLE_INGEST__KAFKA__BROKERS="$brokers" ARTICLE_INGEST__KAFKA__TOPICS="$topic"
# The demo worker serves /metrics on a free loopback port (a worker may already hold 9464 here).
export ARTICLE_INGEST__OPS__LISTEN="127.0.0.1:0"
"$bin" produce tests/fixtures/articles --log-format text 2>/dev/null
echo "== running the worker until the topic is drained"
"$bin" run --exit-on-idle 3 --log-format text 2>"$work/worker.log"
grep -E "worker stopped" "$work/worker.log" | sed 's/^.*INFO //' || true

echo "== articles"
psql "$DATABASE_URL" -P pager=off -c "
  SELECT id, left(title, 42) AS title, published_date, language AS lang, word_count AS words,
         duplicate_of, jsonb_array_length(removed) AS lines_removed
  FROM articles ORDER BY id"
echo "== boilerplate removed, by reason"
psql "$DATABASE_URL" -P pager=off -c "
  SELECT r->>'reason' AS reason, count(*) FROM articles, jsonb_array_elements(removed) r
  GROUP BY 1 ORDER BY 2 DESC, 1"
echo "== positions stored with the rows (where a restarted worker resumes)"
psql "$DATABASE_URL" -P pager=off -c "SELECT topic, kafka_partition, next_offset FROM kafka_offsets ORDER BY 2"
