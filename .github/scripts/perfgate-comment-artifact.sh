#!/usr/bin/env bash
# Collects what perf-comment.yml needs to post a pull request's comment, as data only, into
# perfgate-comment/: results.json (argument 1), gate.yaml ($GATE_FILE), baseline.json ($BASELINE,
# when that file exists) and pr.json ({"number": $PR_NUMBER, "head_sha": "$HEAD_SHA", "labels":
# $LABELS}, LABELS a JSON list of label names, default []). Nothing when the gate wrote no results.
# perfgate comment checks the number and head against GitHub before it uses them.
set -euo pipefail

results="${1:?usage: perfgate-comment-artifact.sh RESULTS_JSON}"
: "${PR_NUMBER:?PR_NUMBER is not set}"
: "${HEAD_SHA:?HEAD_SHA is not set}"
out="${PERFGATE_COMMENT_DIR:-perfgate-comment}"

case "$PR_NUMBER" in '' | *[!0-9]*) echo "::error::PR_NUMBER is not a number: $PR_NUMBER" >&2; exit 1 ;; esac
case "$HEAD_SHA" in '' | *[!0-9a-f]*) echo "::error::HEAD_SHA is not a commit: $HEAD_SHA" >&2; exit 1 ;; esac
if [ ! -f "$results" ]; then
  echo "no $results: the gate wrote no results, nothing to comment on"
  exit 0
fi
mkdir -p "$out"
cp "$results" "$out/results.json"
if [ -n "${GATE_FILE:-}" ]; then cp "$GATE_FILE" "$out/gate.yaml"; fi
if [ -n "${BASELINE:-}" ] && [ -f "$BASELINE" ]; then cp "$BASELINE" "$out/baseline.json"; fi
labels="${LABELS:-[]}"
case "$labels" in '['*']') ;; *) echo "::error::LABELS is not a JSON list: $labels" >&2; exit 1 ;; esac
printf '{"number": %s, "head_sha": "%s", "labels": %s}\n' "$PR_NUMBER" "$HEAD_SHA" "$labels" > "$out/pr.json"
echo "comment artifact: $(cd "$out" && echo *)"
