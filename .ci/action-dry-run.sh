#!/usr/bin/env bash
# Runs the composite action (action.yml) locally, without GitHub, the way the runner would: each
# step's `run:` script under `bash --noprofile --norc -eo pipefail`, with exactly the env its `env:`
# mapping evaluates to (a small evaluator of the `${{ }}` expressions action.yml uses), its own
# GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH / GITHUB_STEP_SUMMARY files, GITHUB_ACTIONS=true,
# GITHUB_ACTION_PATH at this checkout, and step outputs fed to later steps and to the action's
# outputs; a step's `if:` is evaluated, and a `uses:` step (actions/cache) is recorded with its
# inputs, not run, its outputs taken from the scenario. Nothing reaches GitHub: GITHUB_SERVER_URL
# points at a local release server and GITHUB_API_URL at a closed port.
#
# Scenarios (each asserted, the script fails on the first miss):
#   install-path      perfgate on PATH with the wanted version: the install step uses it
#   install-download  a release archive from a local server in the release.yml layout, SHA-256
#                     verified against SHA256SUMS, extracted and put on PATH
#   install-tag       used at a moving tag (@v0): downloads the release its Cargo.toml names
#   install-provenance  gh on PATH (a stand-in): `gh attestation verify ARCHIVE --repo REPO` runs
#                     after the SHA-256; one that cannot confirm is refused with verify-provenance:
#                     require
#   install-pinned    used at a commit SHA: the build cache is keyed by it; a build from source is
#                     saved (actions/cache steps are recorded, not run), a cached one reused
#   install-mismatch  a tampered archive: refused with ::error, no fallback
#   install-source    no such release: falls back to `cargo install --locked --path <action>` (a
#                     stand-in cargo records the arguments)
#   failing gate      gates/prismq.yaml for 5 s against `perfgate serve-demo`: exit 1, summary,
#                     outputs, (with the GitHub publisher) ::error file= annotations
#   passing gate      a lenient gate: exit 0; then the same with baseline:, then with base-host:
#   hostile input     shell syntax in inputs stays literal text: nothing runs, perfgate says exit 2
#   bad input         baseline and base-host together: exit 2 before perfgate runs
#   comment-upper     comment: TRUE passes the token like true; comment-key and accept-label reach
#                     perfgate
#   serve-host-env    a job-level PERFGATE_HOST with the serve input is not an error
#   baseline-fetch    baseline-commit with no baseline: perfgate fetch-baseline runs (the API is a
#                     closed port: a notice) and the gate goes on without a baseline
#   untrusted-warn    retries: 1 and untrusted: warn against an unreachable host: two attempts,
#                     exit-code 3, the step passes with a warning
#   comment-from      a fork's workflow_run: `perfgate comment --pr-file` from an artifact directory,
#                     the token passed, the verdict not failing the step; an empty one is a notice
# The GitHub publisher (perfgate's own outputs, annotations, --comment) is checked only when
# `perfgate run --help` lists --comment; otherwise the action's own fallback outputs are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

PYYAML_VERSION=6.0.3
venv="$root/target/ci/tools/venv"

echo "== build perfgate"
cargo build --locked --quiet --bin perfgate
perfgate="$root/target/debug/perfgate"
version="$("$perfgate" --version | awk '{ print $2 }')"
echo "perfgate $version"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import yaml' 2>/dev/null \
  || "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pyyaml==$PYYAML_VERSION"

work="$(mktemp -d)"
pids=()
cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${pids[@]+"${pids[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

publisher=no
if "$perfgate" run --help | grep -q -- '--comment'; then publisher=yes; fi
echo "GitHub publisher in perfgate (run --help lists --comment): $publisher"

fail() {
  echo "DRY RUN FAILED: $*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# The runner: runs action.yml's steps for one scenario described by a JSON file.
cat > "$work/runner.py" <<'PY'
import json, os, re, subprocess, sys, tempfile
import yaml

cfg = json.load(open(sys.argv[1]))
action = yaml.safe_load(open(cfg["action"]))
out_dir = cfg["out_dir"]
os.makedirs(out_dir, exist_ok=True)

# ---- expressions: literals, contexts with dotted/dashed names, ! == != && || and parentheses
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|\.)"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")

def tokenize(src):
    pos, out = 0, []
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = TOKEN.match(src, pos)
        if not m:
            raise ValueError(f"cannot parse expression at {src[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out

def truthy(v):
    return not (v is None or v is False or v == "" or v == 0)

def as_text(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)

def evaluate(src, ctx):
    toks = tokenize(src)
    i = 0
    def peek():
        return toks[i] if i < len(toks) else (None, None)
    def take():
        nonlocal i
        i += 1
        return toks[i - 1]
    def p_or():
        v = p_and()
        while peek() == ("op", "||"):
            take(); r = p_and(); v = v if truthy(v) else r
        return v
    def p_and():
        v = p_eq()
        while peek() == ("op", "&&"):
            take(); r = p_eq(); v = r if truthy(v) else v
        return v
    def p_eq():
        v = p_not()
        while peek() in (("op", "=="), ("op", "!=")):
            op = take()[1]; r = p_not()
            a, b = as_text(v).lower(), as_text(r).lower()
            v = (a == b) if op == "==" else (a != b)
        return v
    def p_not():
        if peek() == ("op", "!"):
            take(); return not truthy(p_not())
        return p_primary()
    def p_primary():
        kind, val = take()
        if kind == "str":
            return val[1:-1].replace("''", "'")
        if kind == "num":
            return float(val)
        if (kind, val) == ("op", "("):
            v = p_or()
            if take() != ("op", ")"):
                raise ValueError("missing )")
            return v
        if kind == "name":
            if val in ("true", "false"):
                return val == "true"
            if val == "null":
                return None
            cur = ctx.get(val)
            while peek() == ("op", "."):
                take()
                _, key = take()
                cur = cur.get(key) if isinstance(cur, dict) else None
            return cur
        raise ValueError(f"unexpected {val!r} in {src!r}")
    v = p_or()
    if i != len(toks):
        raise ValueError(f"trailing tokens in {src!r}")
    return v

def interpolate(value, ctx):
    if not isinstance(value, str):
        return as_text(value)
    whole = re.fullmatch(r"\s*\$\{\{(.*?)\}\}\s*", value, re.S)
    if whole:
        return as_text(evaluate(whole.group(1), ctx))
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_text(evaluate(m.group(1), ctx)), value, flags=re.S)

def read_outputs(path):
    """name=value and name<<DELIM ... DELIM, as the runner reads GITHUB_OUTPUT and GITHUB_ENV."""
    result = {}
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]; i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i]); i += 1
            if i >= len(lines):
                raise ValueError(f"{path}: no closing delimiter {delim!r}")
            i += 1
            result[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            result[name] = value
        else:
            raise ValueError(f"{path}: invalid line {line!r}")
    return result

# ---- inputs: the action's defaults, then the scenario's values (unknown names are an error)
github = dict(cfg["github"])
ctx = {"github": github, "runner": cfg["runner"], "env": {}, "steps": {}, "inputs": {}}
declared = action.get("inputs", {})
for name in cfg["inputs"]:
    if name not in declared:
        raise SystemExit(f"scenario gives input {name!r}, which action.yml does not declare")
for name, spec in declared.items():
    if name in cfg["inputs"]:
        ctx["inputs"][name] = cfg["inputs"][name]
    else:
        if spec.get("required") and "default" not in spec:
            raise SystemExit(f"required input {name!r} missing")
        ctx["inputs"][name] = interpolate(spec.get("default", ""), ctx)

# ---- the process environment every step starts from: the machine's, less anything of GitHub's
base_env = {k: v for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "ACTIONS_")) and k not in ("CI", "PERFGATE_BIN", "PERFGATE_HOST")}
base_env.update(cfg["env"])
base_env.update({
    "CI": "true",
    "GITHUB_ACTIONS": "true",
    "GITHUB_ACTION_PATH": cfg["action_path"],
    "GITHUB_WORKSPACE": cfg["workspace"],
    "GITHUB_REPOSITORY": github["repository"],
    "GITHUB_SERVER_URL": github["server_url"],
    "GITHUB_API_URL": github["api_url"],
    "GITHUB_EVENT_NAME": github["event_name"],
    "GITHUB_EVENT_PATH": github["event_path"],
    "GITHUB_SHA": github["sha"],
    "GITHUB_REF": github["ref"],
    "GITHUB_RUN_ID": "1",
    "GITHUB_JOB": "dry-run",
    "RUNNER_OS": cfg["runner"]["os"],
    "RUNNER_ARCH": cfg["runner"]["arch"],
    "RUNNER_TEMP": cfg["runner"]["temp"],
})
path_prefix = []
env_additions = {}
report = {"steps": [], "outputs": {}}
failed = False
log = open(os.path.join(out_dir, "stdout.log"), "w", encoding="utf-8")

for n, step in enumerate(action["runs"]["steps"]):
    sid = step.get("id", f"__step{n}")
    cond = step.get("if", "success()")
    cond = re.sub(r"^\s*\$\{\{(.*)\}\}\s*$", r"\1", str(cond))
    if cond.strip() == "always()":
        run_it = True
    elif cond.strip() in ("success()", ""):
        run_it = not failed
    else:
        # Any other condition is an expression with an implied success().
        run_it = not failed and truthy(evaluate(cond, ctx))
    if not run_it:
        report["steps"].append({"id": sid, "skipped": True})
        ctx["steps"][sid] = {"outputs": {}, "outcome": "skipped"}
        continue
    if "uses" in step:
        # Another action (actions/cache): not run here; its outputs come from the scenario.
        outputs = cfg.get("uses_outputs", {}).get(sid, {})
        with_ = {k: interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}
        print(f"== step {sid}: uses {step['uses']} (not run in the dry run) with {with_}", flush=True)
        log.write(f"== step {sid}: uses {step['uses']} with {json.dumps(with_)}\n")
        ctx["steps"][sid] = {"outputs": outputs, "outcome": "success"}
        report["steps"].append({"id": sid, "uses": step["uses"], "with": with_, "outputs": outputs})
        continue
    assert "run" in step, "a step runs a script or uses an action"
    assert step.get("shell") == "bash", f"step {sid}: shell must be bash"
    files = {}
    for kind in ("output", "env", "path", "step_summary"):
        fd, p = tempfile.mkstemp(prefix=f"{n}-{kind}-", dir=out_dir)
        os.close(fd)
        files[kind] = p
    env = dict(base_env)
    env.update(env_additions)
    if path_prefix:
        env["PATH"] = os.pathsep.join(path_prefix[::-1]) + os.pathsep + env["PATH"]
    ctx["env"] = env_additions
    step_env = {k: interpolate(v, ctx) for k, v in (step.get("env") or {}).items()}
    env.update(step_env)
    env.update({"GITHUB_OUTPUT": files["output"], "GITHUB_ENV": files["env"], "GITHUB_PATH": files["path"],
                "GITHUB_STEP_SUMMARY": files["step_summary"], "GITHUB_ACTION": sid})
    script = os.path.join(out_dir, f"{n}-{sid}.sh")
    with open(script, "w", encoding="utf-8") as f:
        f.write(step["run"])
    header = f"== step {sid} ({step.get('name', '')})"
    print(header, flush=True); log.write(header + "\n"); log.flush()
    proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], cwd=cfg["workspace"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        sys.stdout.write("   | " + line); sys.stdout.flush()
        log.write(line); log.flush()
    rc = proc.wait(timeout=cfg.get("step_timeout", 600))
    outputs = read_outputs(files["output"])
    env_additions.update(read_outputs(files["env"]))
    path_prefix += [p for p in open(files["path"], encoding="utf-8").read().split("\n") if p]
    ctx["steps"][sid] = {"outputs": outputs, "outcome": "success" if rc == 0 else "failure"}
    report["steps"].append({"id": sid, "rc": rc, "env": {k: ("***" if k == "GITHUB_TOKEN" and v else v) for k, v in step_env.items()},
                            "outputs": outputs, "files": files})
    if rc != 0:
        failed = True

for name, spec in (action.get("outputs") or {}).items():
    report["outputs"][name] = interpolate(spec.get("value", ""), ctx)
report["failed"] = failed
report["path"] = path_prefix
json.dump(report, open(os.path.join(out_dir, "report.json"), "w"), indent=2)
PY

# ---------------------------------------------------------------------------------------------
# Scenario helpers.
printf '{"ref": "refs/heads/main", "repository": {"full_name": "example/perfgate"}}\n' > "$work/event.json"

# run_action NAME PATH_DIRS INPUTS_JSON [ENV_JSON] [GITHUB_JSON] [USES_OUTPUTS_JSON]
# Runs the action; leaves $work/NAME/report.json and stdout.log. Returns the action's failure as 1.
# USES_OUTPUTS_JSON gives the outputs of `uses:` steps (not run here) by step id.
run_action() {
  local name="$1" path_dirs="$2" inputs="$3" env_json="${4:-}" github_json="${5:-}" uses_json="${6:-}"
  [ -n "$env_json" ] || env_json='{}'
  [ -n "$github_json" ] || github_json='{}'
  [ -n "$uses_json" ] || uses_json='{}'
  local dir="$work/$name"
  mkdir -p "$dir/temp"
  "$venv/bin/python" - "$dir/config.json" "$root" "$ws" "$dir" "$path_dirs" "$inputs" "$env_json" \
    "$github_json" "$work/event.json" "$release_url" "$uses_json" <<'PY'
import json, sys
out, root, ws, d, path_dirs, inputs, env_json, github_json, event, release_url, uses_json = sys.argv[1:]
github = {"token": "dry-run-token", "action_ref": "", "action_repository": "", "action_path": root,
          "repository": "example/perfgate", "server_url": release_url, "api_url": "http://127.0.0.1:9",
          "event_name": "push", "event_path": event, "sha": "0" * 40, "ref": "refs/heads/main"}
github.update(json.loads(github_json))
json.dump({"action": f"{root}/action.yml", "action_path": root, "workspace": ws, "out_dir": d,
           "inputs": json.loads(inputs), "env": dict(json.loads(env_json), PATH=path_dirs),
           "github": github, "runner": {"os": "Linux", "arch": "X64", "temp": f"{d}/temp"},
           "uses_outputs": json.loads(uses_json)},
          open(out, "w"))
PY
  echo
  echo "======== scenario: $name"
  timeout 300 "$venv/bin/python" "$work/runner.py" "$dir/config.json" || fail "$name: the runner failed"
  [ "$(report "$name" "r['failed']")" = "False" ]
}

# report NAME PYTHON_EXPR_ON_r: prints a value from the scenario's report.json
report() {
  "$venv/bin/python" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$work/$1/report.json" "$2"
}

step_rc() { report "$1" "[s for s in r['steps'] if s['id'] == '$2'][0].get('rc', 'skipped')"; }
output() { report "$1" "r['outputs']['$2']"; }
step_file() { report "$1" "[s for s in r['steps'] if s['id'] == '$2'][0]['files']['$3']"; }

# ---------------------------------------------------------------------------------------------
# The workspace, a service, a release server.
ws="$work/ws"
mkdir -p "$ws/gates"
cp gates/prismq.yaml "$ws/gates/prismq.yaml"
cat > "$ws/gates/lenient.yaml" <<'EOF'
version: 1
name: dry-run
host: http://127.0.0.1:8000
load: {users: 4, spawn_rate: 4, run_time: 3s, grace: 1s}
scenarios:
  Poller:
    think_time: 50ms..100ms
    tasks:
      - {weight: 1, request: GET /api/health}
verdict:
  include_ramp_up: true
targets:
  - select: total
    error_rate: < 50%
    requests: 1
regression:
  budgets:
    - select: total
      error_rate: +50pp
EOF

# start_logged LOG CMD...: runs CMD in the background, its output in LOG, its pid in pids.
start_logged() {
  local log="$1"; shift
  "$@" > "$log" 2>&1 &
  pids+=("$!")
}

# wait_for_line LOG REGEX: waits up to 30 s for a line in LOG; prints the first match.
wait_for_line() {
  local i
  for i in $(seq 1 300); do
    if grep -Eo "$2" "$1" 2>/dev/null | head -n 1 | grep .; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for /$2/ in $1:"; cat "$1"; return 1
}

echo "== start the demo service (perfgate serve-demo --port 0)"
start_logged "$work/service.log" "$perfgate" serve-demo --port 0
host="$(wait_for_line "$work/service.log" 'http://127\.0\.0\.1:[0-9]+')" || fail "the demo service did not start"
for i in $(seq 1 50); do
  curl --silent --fail --max-time 2 --output /dev/null "$host/api/health" && break
  [ "$i" -lt 50 ] || fail "the demo service at $host does not answer"
  sleep 0.1
done
echo "service: $host"

# A release in release.yml's layout: releases/download/vX.Y.Z/{perfgate-vX.Y.Z-TARGET.tar.gz,SHA256SUMS}.
# The archived "binary" is a small script that runs the debug build (keeps the archive tiny).
echo "== start a local release server"
rel="$work/releases/example/perfgate/releases/download/v$version"
mkdir -p "$rel" "$work/stage"
printf '#!/bin/sh\nexec %q "$@"\n' "$perfgate" > "$work/stage/perfgate"
chmod +x "$work/stage/perfgate"
cp README.md "$work/stage/"
archive="perfgate-v$version-x86_64-unknown-linux-gnu.tar.gz"
tar -czf "$rel/$archive" -C "$work/stage" perfgate README.md
(cd "$rel" && sha256sum "$archive" > SHA256SUMS)
# a second release whose archive does not match its checksum
bad="$work/releases/example/perfgate/releases/download/v9.9.9"
mkdir -p "$bad"
printf '#!/bin/sh\necho perfgate 9.9.9\n' > "$work/stage/perfgate"
tar -czf "$bad/perfgate-v9.9.9-x86_64-unknown-linux-gnu.tar.gz" -C "$work/stage" perfgate README.md
printf '%064d  perfgate-v9.9.9-x86_64-unknown-linux-gnu.tar.gz\n' 0 > "$bad/SHA256SUMS"
start_logged "$work/release-server.log" "$venv/bin/python" -u -m http.server --bind 127.0.0.1 \
  --directory "$work/releases" 0
release_port="$(wait_for_line "$work/release-server.log" 'port [0-9]+' | awk '{ print $2 }')" \
  || fail "the release server did not start"
release_url="http://127.0.0.1:$release_port"
echo "release server: $release_url"

# PATH without any perfgate and without cargo; a bin dir with perfgate; a stand-in cargo.
sys_path="/usr/local/bin:/usr/bin:/bin"
mkdir -p "$work/bin-perfgate" "$work/bin-cargo"
# perfgate on PATH: records whether `perfgate run` got a GITHUB_TOKEN, then runs the debug build.
cat > "$work/bin-perfgate/perfgate" <<EOF
#!/bin/sh
if [ "\$1" = run ] || [ "\$1" = comment ]; then echo "\${GITHUB_TOKEN-<unset>}" > $(printf '%q' "$work/token-seen"); fi
exec $(printf '%q' "$perfgate") "\$@"
EOF
chmod +x "$work/bin-perfgate/perfgate"
cat > "$work/bin-cargo/cargo" <<EOF
#!/usr/bin/env bash
# stand-in for cargo install: records its arguments, installs a perfgate that runs the debug build
set -euo pipefail
printf '%s\n' "\$*" > $(printf '%q' "$work/cargo-args")
root=""
while [ \$# -gt 0 ]; do
  if [ "\$1" = "--root" ]; then root="\$2"; fi
  shift
done
mkdir -p "\$root/bin"
ln -sf $(printf '%q' "$perfgate") "\$root/bin/perfgate"
EOF
chmod +x "$work/bin-cargo/cargo"

# ---------------------------------------------------------------------------------------------
echo "== install step"
# perfgate on PATH, version matches Cargo.toml (a local `uses: ./`): used as it is.
run_action install-path "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s"}' \
  || fail "install-path: the action failed"
grep -q "perfgate $version is already installed" "$work/install-path/stdout.log" || fail "install-path: not taken from PATH"
[ "$(output install-path perfgate-version)" = "$version" ] || fail "install-path: perfgate-version output"

# version input set, no perfgate on PATH: download, verify, extract.
run_action install-download "$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s", "version": "v'"$version"'"}' \
  '{}' '{"action_repository": "example/perfgate"}' || fail "install-download: the action failed"
grep -q "SHA-256 verified: .*$archive" "$work/install-download/stdout.log" || fail "install-download: no verification"
case "$(report install-download "[s for s in r['steps'] if s['id'] == 'install'][0]['outputs']['bin']")" in
  "$work/install-download/temp/perfgate-v$version-x86_64-unknown-linux-gnu/perfgate") ;;
  *) fail "install-download: bin is not the extracted archive" ;;
esac
report install-download "r['path']" | grep -q "perfgate-v$version-x86_64-unknown-linux-gnu" \
  || fail "install-download: the binary's directory was not added to GITHUB_PATH"

# used at a moving tag (owner/perfgate@v0), no version input: the release its Cargo.toml names.
run_action install-tag "$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s"}' \
  '{}' '{"action_repository": "example/perfgate", "action_ref": "v0"}' || fail "install-tag: the action failed"
grep -q "SHA-256 verified: .*$archive" "$work/install-tag/stdout.log" || fail "install-tag: not downloaded"

# gh on PATH: the build provenance is checked after the SHA-256 (a stand-in gh records its call).
mkdir -p "$work/bin-gh-ok" "$work/bin-gh-fail"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" > %q\nexit 0\n' "$work/gh-args" > "$work/bin-gh-ok/gh"
printf '#!/bin/sh\necho "no attestations found"\nexit 1\n' > "$work/bin-gh-fail/gh"
chmod +x "$work/bin-gh-ok/gh" "$work/bin-gh-fail/gh"
run_action install-provenance "$work/bin-gh-ok:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s", "version": "v'"$version"'"}' \
  '{}' '{"action_repository": "example/perfgate"}' || fail "install-provenance: the action failed"
grep -q "build provenance verified: $archive" "$work/install-provenance/stdout.log" \
  || fail "install-provenance: not verified"
case "$(cat "$work/gh-args")" in
  "attestation verify $work/install-provenance/temp/perfgate-v$version-x86_64-unknown-linux-gnu/$archive --repo example/perfgate") ;;
  *) fail "install-provenance: gh was called as: $(cat "$work/gh-args")" ;;
esac
if run_action install-provenance-required "$work/bin-gh-fail:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "version": "v'"$version"'", "verify-provenance": "require"}' \
  '{}' '{"action_repository": "example/perfgate"}'; then
  fail "install-provenance-required: an archive without provenance was accepted"
fi
grep -q '^::error::gh attestation verify could not confirm' "$work/install-provenance-required/stdout.log" \
  || fail "install-provenance-required: no ::error"
[ "$(step_rc install-provenance-required run)" = "skipped" ] || fail "install-provenance-required: the gate ran anyway"

# Used at a commit SHA: the build is cached under a key of that commit and the runner's OS/arch.
pinned_sha=0123456789abcdef0123456789abcdef01234567
rm -f "$work/cargo-args"
run_action install-pinned "$work/bin-cargo:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s"}' \
  '{}' '{"action_repository": "example/perfgate", "action_ref": "'"$pinned_sha"'"}' || fail "install-pinned: the action failed"
[ "$(report install-pinned "[s for s in r['steps'] if s['id'] == 'cache-plan'][0]['outputs']['key']")" = "perfgate-bin-Linux-X64-$pinned_sha" ] \
  || fail "install-pinned: cache key"
[ -s "$work/cargo-args" ] || fail "install-pinned: not built from source"
[ "$(report install-pinned "[s for s in r['steps'] if s['id'] == 'install'][0]['outputs']['built']")" = yes ] \
  || fail "install-pinned: built output"
report install-pinned "[s.get('uses', '') for s in r['steps']]" | grep -q 'actions/cache/save@' \
  || fail "install-pinned: the build was not saved to the cache"
# The same commit again with the cache restored: no cargo on PATH, the cached binary is used.
mkdir -p "$work/install-cached/temp/perfgate-source/bin"
ln -sf "$perfgate" "$work/install-cached/temp/perfgate-source/bin/perfgate"
run_action install-cached "$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s"}' \
  '{}' '{"action_repository": "example/perfgate", "action_ref": "'"$pinned_sha"'"}' \
  '{"cache-restore": {"cache-hit": "true"}}' || fail "install-cached: the action failed"
grep -q "using the cached build of this action's commit" "$work/install-cached/stdout.log" \
  || fail "install-cached: the cached build was not used"
report install-cached "[s.get('uses', '') for s in r['steps'] if not s.get('skipped')]" | grep -q 'cache/save' \
  && fail "install-cached: a cached build was saved again"
rm -f "$work/cargo-args"

# a tampered archive: refused, no fallback to building.
if run_action install-mismatch "$work/bin-cargo:$sys_path" \
  '{"gate": "gates/lenient.yaml", "version": "9.9.9"}' '{}' '{"action_repository": "example/perfgate"}'; then
  fail "install-mismatch: a tampered archive was accepted"
fi
grep -q '^::error::SHA-256 of perfgate-v9.9.9-x86_64-unknown-linux-gnu.tar.gz' "$work/install-mismatch/stdout.log" \
  || fail "install-mismatch: no ::error about the checksum"
[ ! -e "$work/cargo-args" ] || fail "install-mismatch: fell back to cargo install"
[ "$(step_rc install-mismatch run)" = "skipped" ] || fail "install-mismatch: the gate ran anyway"

# a version without a release: cargo install from the action's checkout.
run_action install-source "$work/bin-cargo:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "args": "--run-time 1s", "version": "0.0.1"}' \
  '{}' '{"action_repository": "example/perfgate"}' || fail "install-source: the action failed"
grep -q 'building from source' "$work/install-source/stdout.log" || fail "install-source: no fallback"
[ "$(cat "$work/cargo-args")" = "install --locked --path $root --root $work/install-source/temp/perfgate-source" ] \
  || fail "install-source: cargo was called as: $(cat "$work/cargo-args")"
echo "cargo stand-in called as: cargo $(cat "$work/cargo-args")"

# ---------------------------------------------------------------------------------------------
echo "== a failing gate: gates/prismq.yaml for 5 s (rps > 100 cannot hold with 20 users)"
comment=false
if [ "$publisher" = yes ]; then comment=true; fi
if run_action failing "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/prismq.yaml", "host": "'"$host"'", "comment": "'"$comment"'",
    "args": "--run-time 5s\n--users 20   --spawn-rate 20\t--seed 7"}' \
  '{"GITHUB_TOKEN": "job-level-token-must-not-leak"}'; then
  fail "failing: the gate passed"
fi
[ "$(step_rc failing run)" = 1 ] || fail "failing: perfgate exited $(step_rc failing run), not 1"
grep -qF -- "--run-time 5s --users 20 --spawn-rate 20 --seed 7" "$work/failing/stdout.log" \
  || fail "failing: extra arguments were not split on whitespace"
out_file="$(step_file failing run output)"
summary_file="$(step_file failing run step_summary)"
# shellcheck disable=SC2016 # backticks of markdown, not a command
grep -q 'perfgate `prismq`' "$summary_file" || fail "failing: no markdown in GITHUB_STEP_SUMMARY"
for key in verdict results summary junit; do
  grep -Eq "^$key(=|<<)" "$out_file" || fail "failing: no $key= in GITHUB_OUTPUT"
done
for key in results summary junit html; do
  f="$(output failing "$key")"
  [ -s "$f" ] || fail "failing: output $key ($f) is not a file"
done
[ "$(output failing exit-code)" = 1 ] || fail "failing: exit-code output"
[ "$(output failing results)" = "$ws/perfgate-report/results.json" ] || fail "failing: results path"
grep -q '^::group::' "$work/failing/stdout.log" || fail "failing: no ::group:: on stdout"
token_seen="$(cat "$work/token-seen")"
if [ "$comment" = true ]; then
  [ "$token_seen" = "dry-run-token" ] || fail "failing: comment is on but perfgate got GITHUB_TOKEN=$token_seen"
  grep -q '^::error file=' "$work/failing/stdout.log" || fail "failing: no ::error file= annotation"
  grep -q 'perfgate set no step outputs' "$work/failing/stdout.log" && fail "failing: perfgate wrote no outputs itself"
  grep -q -- ' --comment' "$work/failing/stdout.log" || fail "failing: --comment not passed"
else
  [ "$token_seen" = "<unset>" ] || fail "failing: comment is off but perfgate got GITHUB_TOKEN=$token_seen"
  echo "(perfgate has no --comment yet: annotation and comment checks skipped; outputs from the action's fallback)"
fi

echo "== a passing gate, then against its results (baseline:), then duet (base-host:)"
run_action passing "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "pass"}' \
  '{"GITHUB_TOKEN": "job-level-token-must-not-leak"}' || fail "passing: the gate failed"
[ "$(cat "$work/token-seen")" = "<unset>" ] || fail "passing: comment is off but perfgate got a GITHUB_TOKEN"
[ "$(output passing exit-code)" = 0 ] || fail "passing: exit-code output"
[ "$(output passing verdict)" != "" ] || fail "passing: empty verdict"
cp "$ws/pass/results.json" "$ws/base.json"
run_action baseline "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "seq", "baseline": "base.json"}' \
  || fail "baseline: the gate failed"
grep -qF -- "--baseline base.json" "$work/baseline/stdout.log" || fail "baseline: --baseline not passed"
run_action duet "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "duet", "base-host": "'"$host"'"}' \
  || fail "duet: the gate failed"
[ -s "$ws/duet/base-results.json" ] || fail "duet: no base-results.json"

echo "== hostile input stays text"
# shellcheck disable=SC2016 # the shell syntax must reach the action unexpanded
if run_action hostile "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "x\"; touch PWNED1; \"",
    "args": "--run-time 1s $(touch${IFS}PWNED2) `touch PWNED3` ;touch PWNED4"}'; then
  fail "hostile: perfgate accepted shell syntax as arguments"
fi
[ "$(step_rc hostile run)" = 2 ] || fail "hostile: perfgate exited $(step_rc hostile run), not 2"
[ "$(output hostile verdict)" = invalid ] || fail "hostile: verdict is not invalid"
[ "$(output hostile results)" = "" ] || fail "hostile: a results output without a results file"
if compgen -G "$ws/PWNED*" >/dev/null || compgen -G "$root/PWNED*" >/dev/null; then
  fail "hostile: an input was executed"
fi

echo "== invalid input: baseline and base-host together"
if run_action both "$work/bin-perfgate:$sys_path" \
  '{"gate": "gates/lenient.yaml", "baseline": "base.json", "base-host": "'"$host"'"}'; then
  fail "both: accepted"
fi
[ "$(step_rc both run)" = 2 ] || fail "both: exit $(step_rc both run), not 2"

echo "== the comment inputs, a job-level PERFGATE_HOST with serve, comment-from"
if [ "$publisher" = yes ]; then
  # comment: TRUE is true (GitHub's own == is case-insensitive and already passed the token).
  run_action comment-upper "$work/bin-perfgate:$sys_path" \
    '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "upper", "comment": "TRUE",
      "comment-key": "linux", "accept-label": "perf-ok"}' '{"PERFGATE_GITHUB_BACKOFF_MS": "10"}' \
    || fail "comment-upper: the action failed"
  grep -qF -- "--accept-label perf-ok" "$work/comment-upper/stdout.log" || fail "comment-upper: no --accept-label"
  [ "$(cat "$work/token-seen")" = "dry-run-token" ] || fail "comment-upper: comment TRUE did not pass the token"
  grep -qF -- "--comment --comment-key linux" "$work/comment-upper/stdout.log" || fail "comment-upper: no --comment-key"

  # The job sets PERFGATE_HOST for other steps; the serve input still starts the service.
  run_action serve-host-env "$work/bin-perfgate:$sys_path" \
    '{"gate": "gates/lenient.yaml", "serve": "perfgate serve-demo --port {port}", "output-dir": "served"}' \
    '{"PERFGATE_HOST": "http://127.0.0.1:9"}' || fail "serve-host-env: a job-level PERFGATE_HOST broke serve"
  grep -q 'starting the service' "$work/serve-host-env/stdout.log" || fail "serve-host-env: no service started"

  # A cache miss with baseline-commit: the artifact is looked for, not found here, and the run goes on.
  run_action baseline-fetch "$work/bin-perfgate:$sys_path" \
    '{"gate": "gates/lenient.yaml", "host": "'"$host"'", "output-dir": "fetch", "baseline-commit": "b45e",
      "baseline-workflow": "perf.yml"}' '{"PERFGATE_GITHUB_BACKOFF_MS": "10"}' || fail "baseline-fetch: the action failed"
  grep -qF -- "perfgate fetch-baseline --commit b45e --artifact perfgate-b45e --out $ws/fetch/fetched-baseline.json --workflow perf.yml" \
    "$work/baseline-fetch/stdout.log" || fail "baseline-fetch: fetch-baseline was not called as expected"
  grep -q 'baseline artifact not fetched' "$work/baseline-fetch/stdout.log" || fail "baseline-fetch: no notice"
  grep -qF -- "--baseline " "$work/baseline-fetch/stdout.log" && fail "baseline-fetch: a baseline that was not fetched"
  [ "$(output baseline-fetch exit-code)" = 0 ] || fail "baseline-fetch: exit-code output"

  # A run that stays untrusted, retried once, with untrusted: warn.
  run_action untrusted-warn "$work/bin-perfgate:$sys_path" \
    '{"gate": "gates/lenient.yaml", "host": "http://127.0.0.1:9", "output-dir": "untrusted",
      "retries": "1", "untrusted": "warn"}' '{"PERFGATE_RETRY_PAUSE_MS": "50"}' \
    || fail "untrusted-warn: the step failed"
  grep -qF -- "--retries 1" "$work/untrusted-warn/stdout.log" || fail "untrusted-warn: no --retries"
  grep -q 'attempt 2 of 2 was untrusted too' "$work/untrusted-warn/stdout.log" || fail "untrusted-warn: no second attempt"
  [ "$(output untrusted-warn exit-code)" = 3 ] || fail "untrusted-warn: exit-code output"
  grep -q '^::warning title=perfgate::the run could not be trusted' "$work/untrusted-warn/stdout.log" \
    || fail "untrusted-warn: no warning"

  # A fork's workflow_run: the artifact directory of the gate job, an event without pull_requests.
  mkdir -p "$ws/from" "$ws/empty"
  cp "$ws/pass/results.json" "$ws/from/results.json"
  cp "$ws/gates/lenient.yaml" "$ws/from/gate.yaml"
  printf '{"number": 7, "head_sha": "f0f0f0"}\n' > "$ws/from/pr.json"
  printf '{"workflow_run": {"event": "pull_request", "head_sha": "f0f0f0", "pull_requests": []}}\n' \
    > "$work/event-fork.json"
  rm -f "$work/token-seen"
  run_action comment-from "$work/bin-perfgate:$sys_path" '{"comment-from": "from"}' \
    '{"PERFGATE_GITHUB_BACKOFF_MS": "10"}' \
    '{"event_name": "workflow_run", "event_path": "'"$work/event-fork.json"'"}' || fail "comment-from: the action failed"
  grep -qF -- "perfgate comment from/results.json --pr-file from/pr.json --gate from/gate.yaml" \
    "$work/comment-from/stdout.log" || fail "comment-from: perfgate comment was not called as expected"
  [ "$(cat "$work/token-seen")" = "dry-run-token" ] || fail "comment-from: the token did not reach perfgate comment"
  # The API is a closed port here: a notice, and the step still succeeds.
  grep -q 'PR comment skipped' "$work/comment-from/stdout.log" || fail "comment-from: no notice"
  run_action comment-empty "$work/bin-perfgate:$sys_path" '{"comment-from": "empty"}' \
    || fail "comment-empty: the action failed"
  grep -q 'nothing to comment on' "$work/comment-empty/stdout.log" || fail "comment-empty: no notice"
else
  echo "(perfgate has no --comment yet: comment inputs skipped)"
fi

# ---------------------------------------------------------------------------------------------
echo
echo "======== what the failing gate left"
echo "--- GITHUB_STEP_SUMMARY (head)"
head -n 12 "$summary_file"
echo "--- GITHUB_OUTPUT of the run step"
cat "$out_file"
echo "--- action outputs"
report failing "'\n'.join(f'{k}={v}' for k, v in r['outputs'].items())"
echo "--- workflow commands on stdout"
grep -E '^::' "$work/failing/stdout.log" | head -n 20 || true
echo
echo "action dry run: all 21 scenarios behaved as expected"
