//! Sharded runs: four `perfgate run --shard I/4` processes against one demo with a common start,
//! merged exactly by `perfgate merge`; the merged file goes through `report` and `compare`; missing,
//! duplicate and foreign shards are refused, a shard that starts late is untrusted.

mod common;

use common::{perfgate, DemoChild, TempDir};
use perfgate::metrics::results::Results;
use std::time::Duration;

const GATE: &str = "version: 1
name: shards
load: {users: 8, spawn_rate: 40, run_time: 3s, grace: 1s}
scenarios:
  Reader:
    weight: 3
    think_time: 20ms..40ms
    tasks: [{request: GET /api/modules}]
  Writer:
    weight: 1
    think_time: 20ms..40ms
    tasks: [{request: GET /api/health}]
targets:
  - select: total
    error_rate: < 1%
";

fn requests(r: &Results) -> u64 {
    r.total(true).requests
}

#[test]
fn four_shards_merge_into_one_run_exactly() {
    let demo = DemoChild::start();
    let dir = TempDir::new("shards");
    let gate = dir.write("g.yaml", GATE);
    let g = gate.to_str().unwrap();
    // Every shard waits for the same moment, so their seconds line up.
    let start_at = humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_secs(4)).to_string();
    let shards: Vec<_> = (1..=4)
        .map(|i| {
            let out = dir.join(&format!("s{i}.json"));
            let (g, url, start_at, out_s) = (
                g.to_string(),
                demo.url.clone(),
                start_at.clone(),
                out.to_str().unwrap().to_string(),
            );
            let run = std::thread::spawn(move || {
                perfgate(
                    &[
                        "run",
                        &g,
                        "--host",
                        &url,
                        "--shard",
                        &format!("{i}/4"),
                        "--run-id",
                        "test-run",
                        "--start-at",
                        &start_at,
                        "-q",
                        "--out",
                        &out_s,
                    ],
                    None,
                    Duration::from_secs(60),
                )
            });
            (out, run)
        })
        .collect();
    let mut files = Vec::new();
    for (out, run) in shards {
        let o = run.join().unwrap();
        assert_eq!(o.code(), 0, "{}", o.both());
        files.push(out);
    }
    let parts: Vec<Results> = files.iter().map(|f| Results::read(f).unwrap()).collect();
    assert_eq!(
        parts.iter().map(|r| r.load.users).sum::<u32>(),
        8,
        "the shards add up to the gate's users"
    );
    let seeds: std::collections::BTreeSet<u64> = parts.iter().map(|r| r.load.seed).collect();
    assert_eq!(seeds.len(), 4, "each shard has a seed of its own");

    let merged = dir.join("merged.json");
    let mut args = vec!["merge"];
    let names: Vec<String> = files.iter().rev().map(|f| f.to_str().unwrap().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = perfgate(&args, None, Duration::from_secs(30));
    assert_eq!(o.code(), 0, "{}", o.both());
    let m = Results::read(&merged).unwrap();
    assert_eq!(requests(&m), parts.iter().map(requests).sum::<u64>());
    for (i, q) in m.requests.iter().enumerate() {
        let sum: u64 = parts.iter().map(|r| r.requests[i].phases.all().requests).sum();
        assert_eq!(q.phases.all().requests, sum, "{}", q.name);
        // One histogram of every shard's samples: the same as adding them up here.
        let mut all = perfgate::metrics::Stats::default();
        parts.iter().for_each(|r| all.merge(&r.requests[i].phases.all()));
        for p in [0.5, 0.95, 0.99] {
            assert_eq!(q.phases.all().quantile_ms(p), all.quantile_ms(p), "{} p{p}", q.name);
        }
    }
    let series: u64 = m.series.iter().map(|p| p.requests).sum();
    let parts_series: u64 = parts.iter().flat_map(|r| r.series.iter()).map(|p| p.requests).sum();
    assert_eq!(series, parts_series, "the merged series adds every shard's seconds");
    assert_eq!(m.load.users, 8);
    assert_eq!(m.load.shards.len(), 4);
    assert!(m.load.generator.untrusted.is_none(), "{:?}", m.load.generator.untrusted);

    // The merged file is an ordinary results file.
    let o = perfgate(
        &["report", merged.to_str().unwrap(), "--gate", g],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(o.code(), 0, "{}", o.both());
    // The generator line sums the shards' CPU and names the busiest machine's share.
    assert!(o.both().contains("CPU in 4 shards (at most "), "{}", o.both());
    assert!(
        o.both().contains("8 users (Reader 6, Writer 2), merged from 4 shards"),
        "{}",
        o.both()
    );
    let o = perfgate(
        &[
            "compare",
            merged.to_str().unwrap(),
            merged.to_str().unwrap(),
            "--gate",
            g,
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(o.code(), 0, "{}", o.both());

    // A missing shard, a duplicate, and a shard of another run: exit 2 naming the file.
    let o = perfgate(
        &["merge", &names[0], &names[1], "--out", "/dev/null"],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(o.stderr.contains("missing: "), "{}", o.stderr);
    let o = perfgate(
        &[
            "merge",
            &names[0],
            &names[0],
            &names[1],
            &names[2],
            "--out",
            "/dev/null",
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(o.stderr.contains("given twice"), "{}", o.stderr);
    let foreign = dir.join("foreign.json");
    let mut f = parts[0].clone();
    f.load.shard.as_mut().unwrap().run_id = "another-run".into();
    std::fs::write(&foreign, serde_json::to_vec(&f).unwrap()).unwrap();
    let o = perfgate(
        &["merge", foreign.to_str().unwrap(), &names[0], "--out", "/dev/null"],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(o.stderr.contains("a shard of another run"), "{}", o.stderr);

    // --out reaching a shard file by a link (or another spelling) is refused, the shard kept.
    #[cfg(unix)]
    {
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&names[0], &link).unwrap();
        let before = std::fs::read(&names[0]).unwrap();
        let mut args = vec!["merge".to_string()];
        args.extend(names.iter().cloned());
        args.extend(["--out".to_string(), link.to_str().unwrap().to_string()]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = perfgate(&a, None, Duration::from_secs(30));
        assert_eq!(o.code(), 2, "{}", o.both());
        assert!(o.stderr.contains("is also a shard file"), "{}", o.stderr);
        assert_eq!(std::fs::read(&names[0]).unwrap(), before, "the shard file is untouched");
    }
}

#[test]
fn a_shard_that_starts_after_the_common_start_is_untrusted() {
    let demo = DemoChild::start();
    let dir = TempDir::new("late-shard");
    let gate = dir.write("g.yaml", GATE);
    let past = humantime::format_rfc3339_millis(std::time::SystemTime::now() - Duration::from_secs(30)).to_string();
    // `perfgate run` of this gate against the demo, with these flags after it.
    let shard_run = |flags: &[&str]| {
        let mut args = vec!["run", gate.to_str().unwrap(), "--host", &demo.url];
        args.extend_from_slice(flags);
        args.push("-q");
        perfgate(&args, None, Duration::from_secs(30))
    };
    let o = shard_run(&["--shard", "2/2", "--start-at", &past, "--run-time", "1s"]);
    assert_eq!(o.code(), 3, "{}", o.both());
    assert!(o.stderr.contains("after --start-at"), "{}", o.stderr);
    assert!(o.stderr.contains("perfgate: shard 2/2 of run "), "{}", o.stderr);
    assert!(
        !o.stderr.contains("give the generator its own core"),
        "a late start is not the generator's capacity: {}",
        o.stderr
    );
    // More shards than users: some would send nothing.
    let o = shard_run(&["--shard", "1/4", "--users", "2", "--run-id", "few"]);
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(
        o.stderr.contains("2 users over 4 shards leave some shards none"),
        "{}",
        o.stderr
    );
    // Shards of one run need an id they share (under GitHub Actions the run id is the default).
    if std::env::var_os("GITHUB_RUN_ID").is_some() {
        return;
    }
    let o = shard_run(&["--shard", "1/2"]);
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(o.stderr.contains("--run-id"), "{}", o.stderr);
    // A relative start is each process's own: shards would not start together.
    let o = shard_run(&["--shard", "1/2", "--start-at", "+3s"]);
    assert_eq!(o.code(), 2, "{}", o.both());
    assert!(
        o.stderr
            .contains("--start-at +3s counts from each shard's own start, so the shards would not start together"),
        "{}",
        o.stderr
    );
}
