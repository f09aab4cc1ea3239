#!/bin/bash
# evaluate the demo run with the likelihood re-rank locally and through serve-model; compare.
set -e
cd /work/main
RUN=/tmp/demo60/demo_out/runs/decision
DATA=/tmp/demo60/demo_out/data/test.jsonl
COMMON="--samples $DATA --balanced --max-samples 100 --stop-probs --no-references --likelihood-weight 0.5"
rm -rf /tmp/s40/eval-local /tmp/s40/eval-served /tmp/s40/eval-vote
/usr/bin/time -f "local %e s" .venv/bin/learn2ask evaluate --model $RUN --out /tmp/s40/eval-local $COMMON > /tmp/s40/eval-local.log 2>&1
/usr/bin/time -f "vote %e s" .venv/bin/learn2ask evaluate --model $RUN --out /tmp/s40/eval-vote --samples $DATA --balanced --max-samples 100 --stop-probs --no-references > /tmp/s40/eval-vote.log 2>&1
.venv/bin/learn2ask serve-model $RUN --port 8765 > /tmp/s40/serve.log 2>&1 &
PID=$!
for i in $(seq 120); do curl -sf http://127.0.0.1:8765/v1/models > /dev/null && break; sleep 1; done
/usr/bin/time -f "served %e s" .venv/bin/learn2ask evaluate --model $RUN --base-url http://127.0.0.1:8765/v1 --out /tmp/s40/eval-served $COMMON > /tmp/s40/eval-served.log 2>&1
kill $PID
