//! The example workflow's choice of commits (`.github/scripts/perfgate-commits.sh`) on a scripted git
//! history: a pull request's head is compared with its merge base, never with the merge commit
//! actions/checkout makes or with base commits that landed after the fork.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=perfgate", "-c", "user.email=perfgate@example.com"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn commit(dir: &Path, msg: &str) -> String {
    git(dir, &["commit", "--allow-empty", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/scripts/perfgate-commits.sh")
}

/// Runs the script in `dir`; returns what it wrote to GITHUB_OUTPUT.
fn select(dir: &Path, base_ref: &str, head_sha: &str) -> (bool, String, String) {
    let out = dir.join(format!("output-{head_sha}"));
    let o = Command::new("bash")
        .arg(script())
        .current_dir(dir)
        .env("BASE_REF", base_ref)
        .env("HEAD_SHA", head_sha)
        .env("GITHUB_OUTPUT", &out)
        .output()
        .unwrap();
    (
        o.status.success(),
        std::fs::read_to_string(&out).unwrap_or_default(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn value(output: &str, key: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_string()
}

fn restore_keys(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("restore-keys<<"))
        .skip(1)
        .take_while(|l| *l != "PERFGATE_EOF")
        .map(str::to_string)
        .collect()
}

#[test]
fn a_pull_request_head_is_compared_with_its_merge_base() {
    let dir = std::env::temp_dir().join(format!("perfgate-commits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    // main: A - B ........ E - F        (E and F landed after the pull request forked)
    //              \
    // feature:      C - D               (the pull request's head is D)
    // GitHub's merge commit M = merge(F, D), first parent F; actions/checkout checks it out.
    let a = commit(&dir, "A");
    let b = commit(&dir, "B");
    git(&dir, &["checkout", "-q", "-b", "feature"]);
    let _c = commit(&dir, "C");
    let d = commit(&dir, "D");
    git(&dir, &["checkout", "-q", "main"]);
    let e = commit(&dir, "E");
    let f = commit(&dir, "F");
    git(&dir, &["update-ref", "refs/remotes/origin/main", &f]);
    git(&dir, &["checkout", "-q", "--detach", &f]);
    git(&dir, &["merge", "-q", "--no-ff", "--no-edit", &d]);
    let m = git(&dir, &["rev-parse", "HEAD"]);
    assert_eq!(
        git(&dir, &["rev-parse", "HEAD^1"]),
        f,
        "the merge commit's first parent is the base tip"
    );

    // Whatever is checked out (the merge commit, or the head as perf.yml does), the pair is (D, B).
    for checked_out in [&m, &d] {
        git(&dir, &["checkout", "-q", "--detach", checked_out]);
        let (ok, out, err) = select(&dir, "main", &d);
        assert!(ok, "{err}");
        assert_eq!(value(&out, "head"), d, "{out}");
        assert_eq!(
            value(&out, "base"),
            b,
            "the fork point, not the base tip F or the merge commit: {out}"
        );
        assert_ne!(value(&out, "base"), f);
        assert_ne!(value(&out, "head"), m);
        let keys = restore_keys(&out);
        assert_eq!(
            keys,
            [format!("perfgate-results-{b}"), format!("perfgate-results-{a}")],
            "the merge base first, then its first-parent ancestors; never E or F"
        );
        assert!(!out.contains(&e) && !out.contains(&f));
    }

    // A short head SHA is given in full.
    let (ok, out, _) = select(&dir, "main", &d[..10]);
    assert!(ok);
    assert_eq!(value(&out, "head"), d);

    // The pull request merges the base branch in (D2 = merge(D, F)): its merge base moves to F.
    git(&dir, &["checkout", "-q", "feature"]);
    git(&dir, &["merge", "-q", "--no-ff", "--no-edit", &f]);
    let d2 = git(&dir, &["rev-parse", "HEAD"]);
    let (ok, out, err) = select(&dir, "main", &d2);
    assert!(ok, "{err}");
    assert_eq!(value(&out, "base"), f, "{out}");

    // Without the base branch fetched, it says so and fails.
    let (ok, _, err) = select(&dir, "release", &d);
    assert!(!ok);
    assert!(err.contains("origin/release is not in this clone"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_workflows_and_the_readme_use_one_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let perf = std::fs::read_to_string(root.join(".github/workflows/perf.yml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // Both pull-request jobs (gate and duet) select the commits with the script and check out the
    // pull request's head, not the merge commit.
    assert_eq!(
        perf.matches("bash .github/scripts/perfgate-commits.sh").count(),
        2,
        "{perf}"
    );
    assert!(perf.matches("ref: ${{ github.event.pull_request.head.sha").count() >= 2);
    // `cache-hit` is the string 'true', 'false' or '': `cache-hit && 'file'` passes a missed baseline.
    for (name, text) in [("perf.yml", &perf), ("README.md", &readme)] {
        assert!(!text.contains("cache-hit &&"), "{name} tests cache-hit as a boolean");
        assert!(
            !text.contains("merge-base origin/${{"),
            "{name} computes its own merge base"
        );
    }
    assert!(readme.contains("perfgate-commits.sh"), "README names the rule's script");
}

/// The gate job's comment artifact (`.github/scripts/perfgate-comment-artifact.sh`): data only, a
/// pr.json perfgate comment reads, nothing when there are no results, and bad input refused.
#[test]
fn the_comment_artifact_holds_what_perfgate_comment_reads() {
    let dir = std::env::temp_dir().join(format!("perfgate-artifact-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.json"), "{}").unwrap();
    std::fs::write(dir.join("gate.yml"), "version: 1\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/scripts/perfgate-comment-artifact.sh");
    let run = |results: &str, number: &str, labels: &str| {
        Command::new("bash")
            .arg(&script)
            .arg(results)
            .current_dir(&dir)
            .env("PR_NUMBER", number)
            .env("HEAD_SHA", "0123abcd")
            .env("GATE_FILE", "gate.yml")
            .env("BASELINE", "no-such-baseline.json")
            .env("LABELS", labels)
            .output()
            .unwrap()
    };
    let o = run("results.json", "7", "[\n  \"bug\",\n  \"perf-regression-accepted\"\n]");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("perfgate-comment");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["gate.yaml", "pr.json", "results.json"],
        "no baseline when there is none"
    );
    let pr = perfgate::github::event::read_pr_file(&out.join("pr.json")).unwrap();
    assert_eq!((pr.number, pr.head_sha.as_str()), (7, "0123abcd"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("pr.json")).unwrap()).unwrap();
    assert_eq!(v["labels"], serde_json::json!(["bug", "perf-regression-accepted"]));

    std::fs::remove_dir_all(&out).unwrap();
    let o = run("missing.json", "7", "[]");
    assert!(o.status.success());
    assert!(!out.exists(), "nothing to upload without results");
    assert!(!run("results.json", "7; rm -rf /", "[]").status.success());
    assert!(!run("results.json", "7", "not json").status.success());
    std::fs::remove_dir_all(&dir).ok();
}
