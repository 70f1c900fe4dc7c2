#!/bin/sh
# Create the two collections sharded and replicated, with the layout the service expects
# (retrieval/client_store.py: "dense" 384-d cosine + "sparse" with IDF; patients tenant-indexed).
# Idempotent: an existing collection is left alone; the service adds its payload indexes itself.
set -eu
: "${QDRANT_URL:?}" "${SHARDS:=6}" "${REPLICAS:=2}"
create() {
  name=$1 hnsw=$2
  if curl -fs -H "api-key: ${QDRANT_API_KEY:-}" "$QDRANT_URL/collections/$name" >/dev/null; then
    echo "$name exists"; return 0
  fi
  curl -fsS -X PUT -H "api-key: ${QDRANT_API_KEY:-}" -H 'Content-Type: application/json' "$QDRANT_URL/collections/$name" -d "{
    \"vectors\": {\"dense\": {\"size\": 384, \"distance\": \"Cosine\"}},
    \"sparse_vectors\": {\"sparse\": {\"modifier\": \"idf\"}},
    \"shard_number\": $SHARDS, \"replication_factor\": $REPLICAS, \"write_consistency_factor\": 1
    $hnsw
  }"
  echo " created $name ($SHARDS shards x $REPLICAS replicas)"
}
create guidelines ""
create patients ", \"hnsw_config\": {\"m\": 0, \"payload_m\": 16}"
