//! Merging the results files of a sharded run into one, exactly: HdrHistograms and counts add
//! without loss, the per-second series add by wall-clock second, and each shard's generator health is
//! kept. The merged file is an ordinary results file (report, compare, comment and `--baseline` take
//! it as it is).

use super::coarse::Coarse;
use super::results::{Cumulative, NamePoint, Results, SeriesPoint, ShardSummary, StageInfo, LOCUST_PERCENTILES};
use std::collections::BTreeMap;

/// Why shard files cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {why}")]
pub struct MergeError {
    /// The file at fault.
    pub file: String,
    /// What is wrong, and what to do.
    pub why: String,
}

/// Merges the shard files of one run (any order) into one results document.
pub fn merge(files: Vec<(String, Results)>) -> Result<Results, MergeError> {
    let err = |file: &str, why: String| MergeError {
        file: file.to_string(),
        why,
    };
    let Some((first_file, first)) = files.first() else {
        return Err(err("perfgate merge", "no shard files given".into()));
    };
    let Some(info) = first.load.shard.clone() else {
        return Err(err(
            first_file,
            "not a shard's results (no `load.shard`): merge the files of `perfgate run --shard I/N`".into(),
        ));
    };
    let mut by_index: BTreeMap<u32, (&str, &Results)> = BTreeMap::new();
    for (file, r) in &files {
        let Some(s) = &r.load.shard else {
            return Err(err(file, "not a shard's results (no `load.shard`)".into()));
        };
        let differs = |what: &str, a: &str, b: &str| {
            err(
                file,
                format!("a shard of another run: its {what} is `{b}`, {first_file}'s is `{a}`"),
            )
        };
        if s.run_id != info.run_id {
            return Err(differs("run id", &info.run_id, &s.run_id));
        }
        if s.count != info.count {
            return Err(differs("shard count", &info.count.to_string(), &s.count.to_string()));
        }
        if r.gate.sha256 != first.gate.sha256 {
            return Err(differs("gate (sha256)", &first.gate.sha256, &r.gate.sha256));
        }
        if r.tool.version != first.tool.version {
            return Err(differs("perfgate version", &first.tool.version, &r.tool.version));
        }
        if r.target != first.target {
            return Err(differs("target", &first.target, &r.target));
        }
        if s.run_seed != info.run_seed {
            return Err(differs("run seed", &info.run_seed.to_string(), &s.run_seed.to_string()));
        }
        let none = || "none".to_string();
        if s.start_at != info.start_at {
            return Err(differs(
                "--start-at",
                &info.start_at.clone().unwrap_or_else(none),
                &s.start_at.clone().unwrap_or_else(none),
            ));
        }
        if r.load.run_time_s != first.load.run_time_s {
            return Err(differs(
                "run time",
                &format!("{}s", first.load.run_time_s),
                &format!("{}s", r.load.run_time_s),
            ));
        }
        if !overlap(first, r) {
            return Err(err(
                file,
                format!(
                    "ran from {} to {}, and {first_file} from {} to {}: the shards of one run load the target at the same time (give every shard one --start-at; if they did run together, the machines' clocks disagree)",
                    r.started_at, r.finished_at, first.started_at, first.finished_at
                ),
            ));
        }
        if let Some((other, _)) = by_index.insert(s.index, (file, r)) {
            return Err(err(
                file,
                format!("shard {}/{} is given twice (also {other})", s.index, s.count),
            ));
        }
    }
    // Shards of one run are dealt users round-robin: their counts differ by at most one.
    let by_users = |a: &&(String, Results), b: &&(String, Results)| a.1.load.users.cmp(&b.1.load.users);
    if let (Some(few), Some(many)) = (files.iter().min_by(by_users), files.iter().max_by(by_users)) {
        if many.1.load.users - few.1.load.users > 1 {
            return Err(err(
                &many.0,
                format!(
                    "a shard of another run: its users is `{}`, {}'s is `{}` (the shards of one run differ by at most one)",
                    many.1.load.users, few.0, few.1.load.users
                ),
            ));
        }
    }
    let missing: Vec<String> = (1..=info.count)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{}", info.count))
        .collect();
    if !missing.is_empty() {
        return Err(err(
            first_file,
            format!(
                "run {} has {} shards; missing: {}",
                info.run_id,
                info.count,
                missing.join(", ")
            ),
        ));
    }
    let shards: Vec<&Results> = by_index.values().map(|(_, r)| *r).collect();
    Ok(merge_checked(&shards, info.run_seed))
}

/// Whether two runs' windows share any moment (unreadable times are taken to overlap).
fn overlap(a: &Results, b: &Results) -> bool {
    let t = |s: &str| humantime::parse_rfc3339_weak(s).ok();
    match (t(&a.started_at), t(&a.finished_at), t(&b.started_at), t(&b.finished_at)) {
        (Some(a0), Some(a1), Some(b0), Some(b1)) => a0 <= b1 && b0 <= a1,
        _ => true,
    }
}

/// Merges shards already checked to be one run's, in index order.
fn merge_checked(shards: &[&Results], run_seed: u64) -> Results {
    let mut out = shards[0].clone();
    out.verdict = None;
    out.server = None;
    if let (Some(why), Some(s)) = (&out.load.generator.untrusted, &out.load.shard) {
        out.load.generator.untrusted = Some(format!("shard {}: {why}", s.index));
    }
    out.load.shard = None;
    out.load.seed = run_seed;
    out.load.shards = shards
        .iter()
        .map(|r| ShardSummary {
            index: r.load.shard.as_ref().map_or(0, |s| s.index),
            started_at: r.started_at.clone(),
            environment: r.environment.clone(),
            generator: r.load.generator.clone(),
            users: r.load.users,
            requests: r.total(true).requests,
        })
        .collect();
    for r in &shards[1..] {
        add_run(&mut out, r);
    }
    shared_machines(&mut out, shards);
    out.series = merge_series(shards);
    out
}

/// Shards that ran on one machine (the same boot id) shared its cores: the cores they used add up,
/// over the machine's online CPUs, and together they can saturate a machine none of them saturates
/// alone. (Each shard's own share is of the CPUs it could use, which quotas and affinity narrow.)
fn shared_machines(out: &mut Results, shards: &[&Results]) {
    let mut machines: BTreeMap<&str, (f64, Vec<u32>)> = BTreeMap::new();
    for r in shards {
        let e = &r.environment;
        if let (Some(id), Some(host), Some(p), Some(s)) =
            (&e.boot_id, e.host_cpus, r.load.generator.cpu_pct, &r.load.shard)
        {
            let m = machines.entry(id.as_str()).or_default();
            m.0 += p * e.cpus as f64 / host.max(1) as f64;
            m.1.push(s.index);
        }
    }
    for (pct, indexes) in machines.values().filter(|(_, ix)| ix.len() > 1) {
        let g = &mut out.load.generator;
        g.cpu_pct = Some(g.cpu_pct.map_or(*pct, |p| p.max(*pct)));
        if *pct >= crate::metrics::health::MAX_CPU_SHARE * 100.0 {
            let list: Vec<String> = indexes.iter().map(u32::to_string).collect();
            let why = format!(
                "shards {} shared one machine and used {pct:.0}% of its cores together: it was saturated, so latencies include the generators' own queueing; run fewer shards per machine",
                list.join(", ")
            );
            g.untrusted = Some(match g.untrusted.take() {
                Some(prev) => format!("{prev}; {why}"),
                None => why,
            });
        }
    }
}

/// Adds one more shard's totals to the merged document (everything but the series).
fn add_run(out: &mut Results, r: &Results) {
    for q in &r.requests {
        match out
            .requests
            .iter_mut()
            .find(|o| o.name == q.name && o.method == q.method)
        {
            Some(o) => {
                o.phases.ramp_up.merge(&q.phases.ramp_up);
                o.phases.steady.merge(&q.phases.steady);
            }
            None => out.requests.push(q.clone()),
        }
    }
    for t in &r.tasks {
        match out
            .tasks
            .iter_mut()
            .find(|o| o.scenario == t.scenario && o.task == t.task)
        {
            Some(o) => {
                o.runs = o.runs.saturating_add(t.runs);
                o.skipped = o.skipped.saturating_add(t.skipped);
            }
            None => out.tasks.push(t.clone()),
        }
    }
    let (l, m) = (&mut out.load, &r.load);
    l.users = l.users.saturating_add(m.users);
    l.spawn_rate = match (l.spawn_rate, m.spawn_rate) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    for (k, v) in &m.users_per_scenario {
        let e = l.users_per_scenario.entry(k.clone()).or_default();
        *e = e.saturating_add(*v);
    }
    l.ramp_up_s = l.ramp_up_s.max(m.ramp_up_s);
    l.duration_s = l.duration_s.max(m.duration_s);
    l.peak_users = l.peak_users.saturating_add(m.peak_users);
    l.abandoned_requests = l.abandoned_requests.saturating_add(m.abandoned_requests);
    l.redirects_followed = l.redirects_followed.saturating_add(m.redirects_followed);
    l.stages = l
        .stages
        .iter()
        .zip(&m.stages)
        .map(|(a, b)| StageInfo {
            duration_s: a.duration_s,
            from_rate: a.from_rate + b.from_rate,
            to_rate: a.to_rate + b.to_rate,
        })
        .collect();
    let (g, h) = (&mut l.generator, &m.generator);
    let sends = g.planned_sends.saturating_add(h.planned_sends);
    if sends > 0 {
        g.mean_lag_ms =
            (g.mean_lag_ms * g.planned_sends as f64 + h.mean_lag_ms * h.planned_sends as f64) / sends as f64;
    }
    g.planned_sends = g.planned_sends.saturating_add(h.planned_sends);
    g.late_sends = g.late_sends.saturating_add(h.late_sends);
    g.local_faults = g.local_faults.saturating_add(h.local_faults);
    g.after_unanswered = g.after_unanswered.saturating_add(h.after_unanswered);
    g.late_after_unanswered = g.late_after_unanswered.saturating_add(h.late_after_unanswered);
    g.max_lag_ms = g.max_lag_ms.max(h.max_lag_ms);
    g.arrivals = g.arrivals.saturating_add(h.arrivals);
    g.dropped = g.dropped.saturating_add(h.dropped);
    g.queued = g.queued.saturating_add(h.queued);
    g.cpu_s = match (g.cpu_s, h.cpu_s) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    // Each shard's share of its own machine: the busiest one is what says whether a runner kept up.
    g.cpu_pct = match (g.cpu_pct, h.cpu_pct) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let Some(why) = &h.untrusted {
        let index = m.shard.as_ref().map_or(0, |s| s.index);
        let line = format!("shard {index}: {why}");
        g.untrusted = Some(match g.untrusted.take() {
            Some(prev) => format!("{prev}; {line}"),
            None => line,
        });
    }
    if out.started_at > r.started_at {
        out.started_at = r.started_at.clone();
    }
    if out.finished_at < r.finished_at {
        out.finished_at = r.finished_at.clone();
    }
    out.interrupted |= r.interrupted;
}

/// The shards' per-second series added up by second: with a common start (`--start-at`) every
/// shard's `t` counts from the same wall-clock instant, so the n-th second of each is the same second.
fn merge_series(shards: &[&Results]) -> Vec<SeriesPoint> {
    struct Acc {
        point: SeriesPoint,
        total: Coarse,
        names: BTreeMap<String, (NamePoint, Coarse)>,
    }
    let index_of = |s: &Results| s.load.shard.as_ref().map_or(0, |s| s.index);
    let mut by_second: BTreeMap<i64, Acc> = BTreeMap::new();
    // The last cumulative totals of each shard, carried into seconds it has no point for.
    let mut last: BTreeMap<u32, Cumulative> = BTreeMap::new();
    let mut keyed: Vec<(i64, u32, &SeriesPoint)> = shards
        .iter()
        .flat_map(|r| {
            r.series
                .iter()
                .map(move |p| ((p.t - 0.5).round() as i64, index_of(r), p))
        })
        .collect();
    keyed.sort_by_key(|(k, i, _)| (*k, *i));
    for (key, shard, p) in keyed {
        last.insert(shard, p.cumulative.clone());
        let acc = by_second.entry(key).or_insert_with(|| Acc {
            point: SeriesPoint {
                names: Vec::new(),
                requests: 0,
                failures: 0,
                bytes: 0,
                users: 0,
                ramp_up: false,
                total_pct_ms: Vec::new(),
                cumulative: Cumulative::default(),
                ..p.clone()
            },
            total: Coarse::default(),
            names: BTreeMap::new(),
        });
        let a = &mut acc.point;
        a.t = a.t.max(p.t);
        a.dt = a.dt.max(p.dt);
        a.users = a.users.saturating_add(p.users);
        a.ramp_up |= p.ramp_up;
        a.requests = a.requests.saturating_add(p.requests);
        a.failures = a.failures.saturating_add(p.failures);
        a.bytes = a.bytes.saturating_add(p.bytes);
        for n in &p.names {
            let h = Coarse::decode(&n.hist).unwrap_or_default();
            acc.total.add(&h);
            let e = acc.names.entry(n.name.clone()).or_insert_with(|| {
                (
                    NamePoint {
                        requests: 0,
                        failures: 0,
                        sum_us: 0,
                        hist: String::new(),
                        ..n.clone()
                    },
                    Coarse::default(),
                )
            });
            e.0.requests = e.0.requests.saturating_add(n.requests);
            e.0.failures = e.0.failures.saturating_add(n.failures);
            e.0.sum_us = e.0.sum_us.saturating_add(n.sum_us);
            e.1.add(&h);
        }
        // Running totals: the sum of every shard's latest.
        let mut c = Cumulative::default();
        let mut weighted_avg = 0.0;
        for s in last.values() {
            if c.requests == 0 || s.min_ms < c.min_ms {
                c.min_ms = s.min_ms;
            }
            c.max_ms = c.max_ms.max(s.max_ms);
            c.requests = c.requests.saturating_add(s.requests);
            c.failures = c.failures.saturating_add(s.failures);
            c.bytes = c.bytes.saturating_add(s.bytes);
            weighted_avg += s.avg_ms * s.requests as f64;
        }
        c.avg_ms = if c.requests > 0 {
            weighted_avg / c.requests as f64
        } else {
            0.0
        };
        c.p50_ms = acc.point.cumulative.p50_ms.max(p.cumulative.p50_ms);
        acc.point.cumulative = c;
    }
    let ms = |c: &Coarse, q: f64| c.quantile_us(q).map_or(0.0, |us| (us / 10.0).round() / 100.0);
    by_second
        .into_values()
        .map(|mut acc| {
            let (total, names) = (acc.total, acc.names);
            let p = &mut acc.point;
            if !total.is_empty() {
                p.p50_ms = ms(&total, 0.5);
                p.p95_ms = ms(&total, 0.95);
                p.p99_ms = ms(&total, 0.99);
                p.total_pct_ms = LOCUST_PERCENTILES.iter().map(|&q| ms(&total, q)).collect();
            }
            p.names = names
                .into_values()
                .map(|(mut n, h)| {
                    if !h.is_empty() {
                        n.p50_ms = ms(&h, 0.5);
                        n.p95_ms = ms(&h, 0.95);
                        n.p99_ms = ms(&h, 0.99);
                        n.hist = h.encode();
                    }
                    n
                })
                .collect();
            acc.point
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::ShardInfo;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A shard file of a run of `count` shards whose requests of `GET /x` took `latencies` µs, one
    /// second each `per_second` of them.
    fn shard(index: u32, count: u32, latencies: &[u64], per_second: usize) -> Results {
        let mut r: Results = serde_json::from_str(include_str!("../../tests/data/minimal-results.json"))
            .expect("the test fixture parses");
        let mut stats = crate::metrics::results::Stats::default();
        for &us in latencies {
            stats.histogram.record(us);
            stats.requests += 1;
            stats.sum_us += us;
            stats.min_us = if stats.requests == 1 { us } else { stats.min_us.min(us) };
            stats.max_us = stats.max_us.max(us);
        }
        r.requests = vec![crate::metrics::results::RequestStats {
            name: "GET /x".into(),
            method: crate::http::Method::Get,
            lifecycle: false,
            phases: crate::metrics::results::Phases {
                ramp_up: Default::default(),
                steady: stats,
            },
        }];
        r.series = latencies
            .chunks(per_second)
            .enumerate()
            .map(|(t, chunk)| {
                let mut h = Coarse::default();
                chunk.iter().for_each(|&us| h.record(us));
                SeriesPoint {
                    t: t as f64 + 1.0,
                    dt: 1.0,
                    users: 1,
                    ramp_up: false,
                    requests: chunk.len() as u64,
                    failures: 0,
                    p50_ms: 0.0,
                    p95_ms: 0.0,
                    p99_ms: 0.0,
                    total_pct_ms: vec![],
                    bytes: 0,
                    cumulative: Default::default(),
                    names: vec![NamePoint {
                        name: "GET /x".into(),
                        requests: chunk.len() as u64,
                        failures: 0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        p99_ms: 0.0,
                        sum_us: chunk.iter().sum(),
                        hist: h.encode(),
                    }],
                    round: 0,
                }
            })
            .collect();
        r.load.users = 1;
        r.load.shard = Some(ShardInfo {
            index,
            count,
            run_id: "run-1".into(),
            run_seed: 42,
            start_at: None,
        });
        r
    }

    #[test]
    fn merged_percentiles_are_those_of_one_histogram_of_every_sample() {
        let mut rng = SmallRng::seed_from_u64(3);
        let all: Vec<Vec<u64>> = (0..4)
            .map(|_| (0..3_000).map(|_| rng.random_range(1_000..200_000)).collect())
            .collect();
        let files: Vec<(String, Results)> = all
            .iter()
            .enumerate()
            .rev()
            .map(|(i, l)| (format!("s{i}.json"), shard(i as u32 + 1, 4, l, 300)))
            .collect();
        let merged = merge(files).unwrap();
        let mut one = crate::metrics::results::Stats::default();
        for &us in all.iter().flatten() {
            one.histogram.record(us);
            one.requests += 1;
            one.sum_us += us;
        }
        let m = &merged.requests[0].phases.steady;
        assert_eq!((m.requests, m.sum_us), (one.requests, one.sum_us));
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            assert_eq!(m.quantile_ms(q), one.quantile_ms(q), "q {q}");
        }
        assert_eq!(merged.load.users, 4);
        assert_eq!(merged.load.seed, 42);
        assert_eq!(
            merged.load.shards.iter().map(|s| s.index).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert!(merged.load.shard.is_none());
        // The series add up by second: 10 seconds of 4 x 300 requests.
        assert_eq!(merged.series.len(), 10);
        assert!(merged.series.iter().all(|p| p.requests == 1_200 && p.users == 4));
        let second: u64 = merged.series.iter().map(|p| p.names[0].requests).sum();
        assert_eq!(second, 12_000);
    }

    #[test]
    fn missing_duplicate_and_foreign_shards_are_refused_naming_the_file() {
        let l = [1_000u64; 10];
        let e = merge(vec![
            ("a.json".into(), shard(1, 3, &l, 5)),
            ("b.json".into(), shard(2, 3, &l, 5)),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("missing: 3/3"), "{e}");
        let e = merge(vec![
            ("a.json".into(), shard(1, 2, &l, 5)),
            ("b.json".into(), shard(1, 2, &l, 5)),
        ])
        .unwrap_err();
        assert_eq!(e.file, "b.json");
        assert!(e.why.contains("given twice (also a.json)"), "{e}");
        let mut foreign = shard(2, 2, &l, 5);
        foreign.load.shard.as_mut().unwrap().run_id = "run-2".into();
        let e = merge(vec![("a.json".into(), shard(1, 2, &l, 5)), ("c.json".into(), foreign)]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.json: a shard of another run: its run id is `run-2`"),
            "{e}"
        );
        let mut plain = shard(1, 1, &l, 5);
        plain.load.shard = None;
        assert!(merge(vec![("p.json".into(), plain)])
            .unwrap_err()
            .why
            .contains("not a shard"));
    }

    /// Shards that share a run id but not a run (another target, load, seed, start, or a window that
    /// never met the others') are refused, naming what differs.
    #[test]
    fn shards_of_one_id_but_not_one_run_are_refused() {
        let l = [1_000u64; 10];
        let refuse = |change: &dyn Fn(&mut Results), why: &str| {
            let mut b = shard(2, 2, &l, 5);
            change(&mut b);
            let e = merge(vec![("a.json".into(), shard(1, 2, &l, 5)), ("b.json".into(), b)]).unwrap_err();
            assert_eq!(e.file, "b.json");
            assert!(e.why.contains(why), "{why}: {e}");
        };
        refuse(
            &|r| r.target = "http://127.0.0.1:18777".into(),
            "its target is `http://127.0.0.1:18777`",
        );
        refuse(&|r| r.load.users = 100, "its users is `100`");
        refuse(&|r| r.load.run_time_s = 6.0, "its run time is `6s`");
        refuse(&|r| r.load.shard.as_mut().unwrap().run_seed = 5, "its run seed is `5`");
        refuse(
            &|r| r.load.shard.as_mut().unwrap().start_at = Some("2026-12-03T10:00:00.000Z".into()),
            "its --start-at is `2026-12-03T10:00:00.000Z`, a.json's is `none`",
        );
        refuse(
            &|r| {
                r.started_at = "2099-01-01T00:00:00Z".into();
                r.finished_at = "2099-01-01T00:00:10Z".into();
            },
            "load the target at the same time",
        );
    }

    #[test]
    fn shards_on_one_machine_add_their_cpu_and_can_saturate_it_together() {
        let l = [1_000u64; 10];
        let on = |i: u32, machine: &str, pct: f64| {
            let mut r = shard(i, 3, &l, 5);
            r.environment.boot_id = Some(machine.into());
            r.environment.cpus = 4;
            r.environment.host_cpus = Some(4);
            r.load.generator.cpu_pct = Some(pct);
            (format!("s{i}.json"), r)
        };
        // Two on machine a (50 + 45 = 95 %), one alone on b: a was saturated, though no shard was.
        let m = merge(vec![on(1, "a", 50.0), on(2, "b", 60.0), on(3, "a", 45.0)]).unwrap();
        let g = &m.load.generator;
        assert_eq!(g.cpu_pct, Some(95.0));
        let why = g.untrusted.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("shards 1, 3 shared one machine and used 95% of its cores"),
            "{why}"
        );
        // Each on its own machine: the busiest one's share, trusted.
        let m = merge(vec![on(1, "a", 50.0), on(2, "b", 60.0), on(3, "c", 45.0)]).unwrap();
        assert_eq!(m.load.generator.cpu_pct, Some(60.0));
        assert!(m.load.generator.untrusted.is_none());
        // Two containers of one host, each held to 1 of its 16 CPUs (a quota) and busy 60 % of
        // that: 1.2 of 16 CPUs, not 120 %.
        let boxed = |i: u32| {
            let (f, mut r) = on(i, "node", 60.0);
            r.environment.cpus = 1;
            r.environment.host_cpus = Some(16);
            (f, r)
        };
        let m = merge(vec![boxed(1), boxed(2), on(3, "c", 10.0)]).unwrap();
        assert!(m.load.generator.untrusted.is_none(), "{:?}", m.load.generator.untrusted);
        assert_eq!(m.load.generator.cpu_pct, Some(60.0), "the busiest shard's own share");
    }

    #[test]
    fn every_shards_generator_counts_add_up() {
        let l = [1_000u64; 10];
        let mut files = Vec::new();
        for i in 1..=2 {
            let mut r = shard(i, 2, &l, 5);
            r.load.generator.after_unanswered = 9;
            r.load.generator.late_after_unanswered = 2;
            r.load.generator.local_faults = i as u64;
            files.push((format!("s{i}.json"), r));
        }
        let g = merge(files).unwrap().load.generator;
        assert_eq!(
            (g.after_unanswered, g.late_after_unanswered, g.local_faults),
            (18, 4, 3)
        );
    }

    #[test]
    fn an_untrusted_shard_makes_the_merged_run_untrusted_and_says_which() {
        let l = [1_000u64; 10];
        let mut late = shard(2, 2, &l, 5);
        late.load.generator.untrusted = Some("late sends".into());
        let merged = merge(vec![("a.json".into(), shard(1, 2, &l, 5)), ("b.json".into(), late)]).unwrap();
        assert_eq!(merged.load.generator.untrusted.as_deref(), Some("shard 2: late sends"));
    }
}
