#!/usr/bin/env bash
# The commits a pull request's performance gate compares, by one rule: the pull request's HEAD
# commit against its MERGE BASE with the base branch (the fork point), never the merge commit
# actions/checkout makes by default and never the base branch's tip.
#
# Why this pair: it measures exactly the pull request's own changes. Commits that landed on the base
# branch after the fork are not blamed on it (the merge commit would carry them, and comparing it
# with the fork point did). The merge base does not move when the base branch does, so a re-run or
# a later push compares with the same baseline, and it is a commit that was the base branch's tip
# once, so its saved results usually exist. (Measuring the merge commit against its first parent,
# the base tip, answers "what would merging now do", but its baseline moves with every push to the
# base branch, often before that tip's own results are saved, and the merge commit is not a commit
# anyone pushed.) Rebase or merge the base branch into the pull request to measure against a newer
# base.
#
# Input (environment): BASE_REF, the base branch's name (github.event.pull_request.base.ref), which
# must be fetched as origin/BASE_REF (actions/checkout with fetch-depth: 0); HEAD_SHA, the pull
# request's head commit (github.event.pull_request.head.sha).
# Output (to $GITHUB_OUTPUT, else stdout):
#   head=<HEAD_SHA, in full>
#   base=<the merge base>
#   restore-keys=<perfgate-results-SHA for the merge base and its 9 nearest first-parent ancestors,
#                 one a line: a push of several commits saves results for its last one only>
set -euo pipefail

: "${BASE_REF:?BASE_REF (the base branch) is not set}"
: "${HEAD_SHA:?HEAD_SHA (the pull request head commit) is not set}"
prefix="${PERFGATE_CACHE_PREFIX:-perfgate-results-}"

head="$(git rev-parse --verify --quiet "$HEAD_SHA^{commit}")" || {
  echo "::error::the pull request head $HEAD_SHA is not in this clone (check out with fetch-depth: 0)" >&2
  exit 1
}
if ! git rev-parse --verify --quiet "refs/remotes/origin/$BASE_REF" >/dev/null; then
  echo "::error::origin/$BASE_REF is not in this clone (check out with fetch-depth: 0)" >&2
  exit 1
fi
base="$(git merge-base "refs/remotes/origin/$BASE_REF" "$head")" || {
  echo "::error::$head and origin/$BASE_REF have no common ancestor" >&2
  exit 1
}

out="${GITHUB_OUTPUT:-/dev/stdout}"
{
  echo "head=$head"
  echo "base=$base"
  echo "restore-keys<<PERFGATE_EOF"
  git rev-list --first-parent --max-count=10 "$base" | sed "s/^/$prefix/"
  echo "PERFGATE_EOF"
} >> "$out"
echo "pull request head $head against its merge base $base (origin/$BASE_REF)" >&2
