//! Time blocks: the unit of analysis of a regression comparison.
//!
//! Requests are not independent samples: latencies come in bursts (queueing, a neighbour's CPU burst,
//! a pause of the collector, one slow connection), so an interval that counts every request as a
//! sample is far too narrow. The steady phase is cut into blocks of whole seconds instead, each metric
//! is computed per block from the per-second histograms the results keep, and the spread of the
//! blocks gives the standard error (the batch-means method). In duet mode both sides were loaded in
//! the same seconds, so blocks pair up and the interval comes from the paired differences, which
//! cancels the noise both sides shared; in sequential mode the blocks of each side are independent
//! samples (Welch).
//!
//! Blocks (the rule the README states): consecutive seconds, a block closing as soon as it holds
//! enough requests for the metric on each side (both sides of a duet, whose blocks are the same
//! seconds): 10 for the mean, and `max(10, 1 / (1 - q))` for the `q` quantile (20 for p95, 100 for
//! p99), so that the block's quantile lies inside its data. Seconds left after the last full block
//! join it. At a steady rate this is the fewest whole seconds that hold enough; at a low or uneven
//! rate no block is lost for holding a few requests too few (fixed-length blocks sized by the median
//! second dropped about half of them at 4-5 requests per second). At least [`MIN_BLOCKS`] blocks
//! are needed; with fewer, the comparison is inconclusive and says how long a run would give them.

use super::intervals::{self, Estimate, Tail};
use crate::metric::Metric;
use crate::metrics::coarse::Coarse;
use crate::metrics::results::Results;
use std::collections::BTreeMap;

/// Fewest blocks an interval is built from (t with at least 5 degrees of freedom).
pub const MIN_BLOCKS: usize = 6;

/// One side's data per second of the judged phase, for a group of request names.
#[derive(Debug, Clone, Default)]
pub struct Seconds {
    /// Requests, sum of latencies (µs) and histogram per second, keyed by the second's place in the
    /// series (the two sides of a duet are collected at the same ticks, so places pair up).
    by_t: BTreeMap<i64, (u64, u64, Coarse)>,
    /// Failures per second, by the same keys.
    failures: BTreeMap<i64, u64>,
    /// The round of each second (a duet in rounds: each round a fresh pair of processes).
    round: BTreeMap<i64, u32>,
}

impl Seconds {
    /// The seconds of `r` for `names`, over the steady phase (and the ramp-up when included); None when
    /// the file keeps no per-second histograms (written before perfgate kept them).
    pub fn of(r: &Results, names: &[&str], include_ramp_up: bool) -> Option<Seconds> {
        let mut s = Seconds::default();
        let mut any_hist = false;
        for (i, p) in r
            .series
            .iter()
            .enumerate()
            .filter(|(_, p)| (include_ramp_up || !p.ramp_up) && p.dt > 0.5)
        {
            let mut entry = (0u64, 0u64, Coarse::default());
            let mut failed = 0u64;
            for n in p.names.iter().filter(|n| names.contains(&n.name.as_str())) {
                failed = failed.saturating_add(n.failures);
                if n.hist.is_empty() {
                    continue;
                }
                any_hist = true;
                let h = Coarse::decode(&n.hist).ok()?;
                entry.0 = entry.0.saturating_add(n.requests);
                entry.1 = entry.1.saturating_add(n.sum_us);
                entry.2.add(&h);
            }
            s.by_t.insert(i as i64, entry);
            s.failures.insert(i as i64, failed);
            s.round.insert(i as i64, p.round);
        }
        any_hist.then_some(s)
    }

    /// The error rate in percent over these seconds, when they hold at least 10 requests (saturating
    /// sums: a damaged results file must not overflow).
    fn error_rate(&self, keys: &[i64]) -> Option<f64> {
        let n: u64 = keys
            .iter()
            .filter_map(|t| self.by_t.get(t))
            .fold(0, |a, e| a.saturating_add(e.0));
        let f: u64 = keys
            .iter()
            .filter_map(|t| self.failures.get(t))
            .fold(0, |a, f| a.saturating_add(*f));
        (n >= 10).then(|| f as f64 * 100.0 / n as f64)
    }

    /// The distinct rounds these seconds come from.
    fn rounds(&self) -> Vec<u32> {
        let mut r: Vec<u32> = self.round.values().copied().collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Whether both sides come from the same duet rounds, at least two: then the rounds, not time
    /// blocks, are the unit of analysis.
    fn in_rounds(base: &Seconds, head: &Seconds) -> bool {
        let r = base.rounds();
        r.len() >= 2 && r == head.rounds()
    }

    /// The shared seconds of both sides, grouped by round.
    fn by_round(base: &Seconds, head: &Seconds) -> Vec<Vec<i64>> {
        let mut groups: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
        for (t, r) in &base.round {
            if head.by_t.contains_key(t) {
                groups.entry(*r).or_default().push(*t);
            }
        }
        groups.into_values().collect()
    }

    fn median_count(&self) -> f64 {
        let mut c: Vec<u64> = self.by_t.values().map(|e| e.0).collect();
        if c.is_empty() {
            return 0.0;
        }
        c.sort_unstable();
        c[c.len() / 2] as f64
    }
}

/// Requests a block needs for `metric`.
pub fn samples_needed(metric: Metric) -> f64 {
    match metric {
        Metric::Percentile(p) => (1.0 / (1.0 - p / 100.0)).max(10.0),
        _ => 10.0,
    }
}

/// The typical block length in seconds for a metric at the median second's rate of the slower side
/// (what a run with no full block yet would need); `usize::MAX` without requests.
pub fn block_seconds(metric: Metric, base: &Seconds, head: &Seconds) -> usize {
    let per_second = base.median_count().min(head.median_count());
    if per_second <= 0.0 {
        return usize::MAX;
    }
    (samples_needed(metric) / per_second).ceil().max(1.0) as usize
}

/// A metric's value over a block: the mean or a quantile of its latencies, ms; None when the block
/// has too few requests for it.
fn value(metric: Metric, requests: u64, sum_us: u64, hist: &Coarse) -> Option<f64> {
    if (requests as f64) < samples_needed(metric) {
        return None;
    }
    match metric {
        Metric::Avg => Some(sum_us as f64 / requests as f64 / 1000.0),
        Metric::Percentile(p) => hist.quantile_us(p / 100.0).map(|us| us / 1000.0),
        _ => None,
    }
}

/// A metric's value over a group of seconds of one side.
fn group_value(metric: Metric, s: &Seconds, keys: &[i64]) -> Option<f64> {
    let mut acc = (0u64, 0u64, Coarse::default());
    for key in keys {
        if let Some((n, sum, h)) = s.by_t.get(key) {
            acc.0 = acc.0.saturating_add(*n);
            acc.1 = acc.1.saturating_add(*sum);
            acc.2.add(h);
        }
    }
    value(metric, acc.0, acc.1, &acc.2)
}

/// Consecutive seconds (`keys`, in time order) cut into blocks: a block closes as soon as it holds
/// `need` requests on every one of `sides`; seconds left after the last full block join it, and
/// none are returned when no block fills.
fn cut(keys: &[i64], sides: &[&Seconds], need: f64) -> Vec<Vec<i64>> {
    let mut blocks: Vec<Vec<i64>> = Vec::new();
    let mut block = Vec::new();
    let mut counts = vec![0u64; sides.len()];
    for &t in keys {
        block.push(t);
        for (c, s) in counts.iter_mut().zip(sides) {
            *c = c.saturating_add(s.by_t.get(&t).map_or(0, |e| e.0));
        }
        if counts.iter().all(|&c| c as f64 >= need) {
            blocks.push(std::mem::take(&mut block));
            counts.iter_mut().for_each(|c| *c = 0);
        }
    }
    if let Some(last) = blocks.last_mut() {
        last.extend(block);
    }
    blocks
}

/// The blocks of both sides, `(base, head)`, for blocks needing `need` requests each: in duet mode
/// (`paired`) the same seconds on both sides, in sequential mode each side's own.
fn blocks_of(base: &Seconds, head: &Seconds, need: f64, paired: bool) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let keys = |s: &Seconds| -> Vec<i64> { s.by_t.keys().copied().collect() };
    if paired {
        let shared: Vec<i64> = base
            .by_t
            .keys()
            .filter(|t| head.by_t.contains_key(t))
            .copied()
            .collect();
        let blocks = cut(&shared, &[base, head], need);
        (blocks.clone(), blocks)
    } else {
        (cut(&keys(base), &[base], need), cut(&keys(head), &[head], need))
    }
}

/// Mean seconds per block, rounded up (at least 1); None without blocks.
fn mean_seconds(blocks: &[Vec<i64>]) -> Option<usize> {
    let seconds: usize = blocks.iter().map(Vec::len).sum();
    (!blocks.is_empty()).then(|| seconds.div_ceil(blocks.len()).max(1))
}

/// Per-block values of both sides, `(base, head)`, and the mean seconds per block (None without a
/// block). In duet mode a block is the same seconds on both sides and the values pair up; in
/// sequential mode each side's blocks are its own.
pub fn block_values(
    metric: Metric,
    base: &Seconds,
    head: &Seconds,
    paired: bool,
) -> (Vec<f64>, Vec<f64>, Option<usize>) {
    let (bb, hb) = blocks_of(base, head, samples_needed(metric), paired);
    let seconds = match (mean_seconds(&bb), mean_seconds(&hb)) {
        (Some(b), Some(h)) => Some(b.max(h)),
        _ => None,
    };
    let values = |s: &Seconds, blocks: &[Vec<i64>]| -> Vec<Option<f64>> {
        blocks.iter().map(|keys| group_value(metric, s, keys)).collect()
    };
    let (bv, hv) = (values(base, &bb), values(head, &hb));
    let (b, h) = if paired {
        bv.into_iter().zip(hv).filter_map(|(b, h)| Some((b?, h?))).unzip()
    } else {
        (bv.into_iter().flatten().collect(), hv.into_iter().flatten().collect())
    };
    (b, h, seconds)
}

/// The change and its standard error from the blocks, in the scale the budget is judged in: the log
/// of head over base for relative budgets, milliseconds for absolute ones.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEstimate {
    /// Standard error of the change and its degrees of freedom (from the blocks).
    pub estimate: Estimate,
    /// Blocks on each side (paired: the pairs).
    pub blocks: usize,
    /// Seconds per block.
    pub seconds: usize,
    /// Whether the blocks are duet rounds, each a fresh pair of processes (then `seconds` is a
    /// round's length).
    pub rounds: bool,
}

/// Why no interval could be built from blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum NoBlocks {
    /// The files keep no per-second histograms (an older perfgate wrote one of them).
    NoHistograms,
    /// Too few blocks: this many, of [`MIN_BLOCKS`] needed, of this many seconds each.
    TooFew {
        /// Blocks there were.
        blocks: usize,
        /// Seconds per block.
        seconds: usize,
    },
}

/// The standard error of the change in error rate (percentage points) from blocks of at least 10
/// requests, for failures that cluster in time (a burst of errors is not many independent ones);
/// None without per-second data or with fewer than [`MIN_BLOCKS`] blocks.
#[allow(clippy::too_many_arguments)]
pub fn error_rate_estimate(
    base: &Results,
    head: &Results,
    base_names: &[&str],
    head_names: &[&str],
    include_ramp_up: bool,
    paired: bool,
    level: f64,
) -> Option<Estimate> {
    let b = Seconds::of(base, base_names, include_ramp_up)?;
    let h = Seconds::of(head, head_names, include_ramp_up)?;
    if paired && Seconds::in_rounds(&b, &h) {
        let diffs: Vec<f64> = Seconds::by_round(&b, &h)
            .iter()
            .filter_map(|keys| Some(h.error_rate(keys)? - b.error_rate(keys)?))
            .collect();
        return (diffs.len() >= 2)
            .then(|| intervals::paired(&diffs, level, Tail::Both))
            .flatten();
    }
    let (bb, hb) = blocks_of(&b, &h, samples_needed(Metric::Avg), paired);
    let rates =
        |s: &Seconds, blocks: &[Vec<i64>]| -> Vec<Option<f64>> { blocks.iter().map(|k| s.error_rate(k)).collect() };
    let (bv, hv): (Vec<f64>, Vec<f64>) = if paired {
        rates(&b, &bb)
            .into_iter()
            .zip(rates(&h, &hb))
            .filter_map(|(b, h)| Some((b?, h?)))
            .unzip()
    } else {
        (
            rates(&b, &bb).into_iter().flatten().collect(),
            rates(&h, &hb).into_iter().flatten().collect(),
        )
    };
    interval(&bv, &hv, paired, level)
}

/// The t interval of head minus base over blocks: paired differences, or Welch's for unpaired
/// blocks; None with fewer than [`MIN_BLOCKS`] blocks on a side.
fn interval(base: &[f64], head: &[f64], paired: bool, level: f64) -> Option<Estimate> {
    if base.len().min(head.len()) < MIN_BLOCKS {
        return None;
    }
    if paired {
        let diffs: Vec<f64> = head.iter().zip(base).map(|(h, b)| h - b).collect();
        intervals::paired(&diffs, level, Tail::Both)
    } else {
        intervals::welch(head, base, level, Tail::Both)
    }
}

/// The block estimate of a latency metric's change between base and head (duet: `paired`).
#[allow(clippy::too_many_arguments)]
pub fn estimate(
    metric: Metric,
    relative: bool,
    base: &Results,
    head: &Results,
    base_names: &[&str],
    head_names: &[&str],
    include_ramp_up: bool,
    paired: bool,
    level: f64,
) -> Result<BlockEstimate, NoBlocks> {
    let (Some(b), Some(h)) = (
        Seconds::of(base, base_names, include_ramp_up),
        Seconds::of(head, head_names, include_ramp_up),
    ) else {
        return Err(NoBlocks::NoHistograms);
    };
    let f = |v: f64| if relative { v.max(1e-9).ln() } else { v };
    if paired && Seconds::in_rounds(&b, &h) {
        // Rounds are the unit: one value per side per round, so the interval has the rounds' spread
        // (process-to-process noise included) and K - 1 degrees of freedom.
        let groups = Seconds::by_round(&b, &h);
        let seconds = groups.iter().map(Vec::len).max().unwrap_or(0);
        let diffs: Vec<f64> = groups
            .iter()
            .filter_map(|keys| Some(f(group_value(metric, &h, keys)?) - f(group_value(metric, &b, keys)?)))
            .collect();
        let blocks = diffs.len();
        if blocks < 2 {
            return Err(NoBlocks::TooFew { blocks, seconds });
        }
        return intervals::paired(&diffs, level, Tail::Both)
            .map(|estimate| BlockEstimate {
                estimate,
                blocks,
                seconds,
                rounds: true,
            })
            .ok_or(NoBlocks::TooFew { blocks, seconds });
    }
    let (bv, hv, seconds) = block_values(metric, &b, &h, paired);
    // Without a full block, the length one would need at the median second's rate.
    let k = match seconds {
        Some(k) => k,
        None => match block_seconds(metric, &b, &h) {
            usize::MAX => return Err(NoBlocks::TooFew { blocks: 0, seconds: 0 }),
            k => k,
        },
    };
    let blocks = bv.len().min(hv.len());
    if blocks < MIN_BLOCKS {
        return Err(NoBlocks::TooFew { blocks, seconds: k });
    }
    let hl: Vec<f64> = hv.iter().map(|v| f(*v)).collect();
    let bl: Vec<f64> = bv.iter().map(|v| f(*v)).collect();
    interval(&bl, &hl, paired, level)
        .map(|estimate| BlockEstimate {
            estimate,
            blocks,
            seconds: k,
            rounds: false,
        })
        .ok_or(NoBlocks::TooFew { blocks, seconds: k })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::{NamePoint, SeriesPoint};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A results document whose series holds `per_second` requests of `GET /x` in each of `seconds`
    /// seconds, latencies from `latency(second, i)` in µs; no whole-run stats (blocks need none).
    fn results(seconds: usize, per_second: usize, latency: impl FnMut(usize, usize) -> u64) -> Results {
        results_of(&vec![per_second; seconds], latency)
    }

    /// [`results`] with `counts[t]` requests in second `t`.
    fn results_of(counts: &[usize], mut latency: impl FnMut(usize, usize) -> u64) -> Results {
        let mut r: Results = serde_json::from_str(include_str!("../../tests/data/minimal-results.json"))
            .expect("the test fixture parses");
        r.series = (0..counts.len())
            .map(|t| {
                let per_second = counts[t];
                let mut h = Coarse::default();
                let mut sum = 0;
                for i in 0..per_second {
                    let us = latency(t, i);
                    h.record(us);
                    sum += us;
                }
                SeriesPoint {
                    t: t as f64 + 1.0,
                    dt: 1.0,
                    users: 1,
                    ramp_up: false,
                    requests: per_second as u64,
                    failures: 0,
                    p50_ms: 0.0,
                    p95_ms: 0.0,
                    p99_ms: 0.0,
                    total_pct_ms: vec![],
                    bytes: 0,
                    cumulative: Default::default(),
                    names: vec![NamePoint {
                        name: "GET /x".into(),
                        requests: per_second as u64,
                        failures: 0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        p99_ms: 0.0,
                        sum_us: sum,
                        hist: h.encode(),
                    }],
                    round: 0,
                }
            })
            .collect();
        r
    }

    #[test]
    fn the_block_length_gives_each_block_enough_requests_for_the_metric() {
        let r = results(30, 5, |_, _| 10_000);
        let s = Seconds::of(&r, &["GET /x"], false).unwrap();
        assert_eq!(block_seconds(Metric::Avg, &s, &s), 2);
        assert_eq!(block_seconds(Metric::Percentile(95.0), &s, &s), 4);
        assert_eq!(block_seconds(Metric::Percentile(99.0), &s, &s), 20);
        let (b, h, seconds) = block_values(Metric::Percentile(95.0), &s, &s, true);
        // 30 seconds make 7 blocks of 20 requests; the 2 seconds left join the last one.
        assert_eq!((b.len(), h.len(), seconds), (7, 7, Some(5)));
        let (b, h, seconds) = block_values(Metric::Avg, &s, &s, false);
        assert_eq!((b.len(), h.len(), seconds), (15, 15, Some(2)));
    }

    #[test]
    fn uneven_seconds_lose_no_block_for_a_few_requests_too_few() {
        // 3 to 7 requests a second (5 on average and in the median), 60 seconds: 300 requests per side.
        // Blocks of 4 fixed seconds (20 requests at the median rate) hold 18-22 and 6 of their 15 fall
        // under the 20 a p95 needs; blocks that close at 20 keep all they make.
        let counts: Vec<usize> = (0..60).map(|t| (t * 7 % 5) + 3).collect();
        let r = results_of(&counts, |_, _| 10_000);
        let s = Seconds::of(&r, &["GET /x"], false).unwrap();
        assert_eq!(block_seconds(Metric::Percentile(95.0), &s, &s), 4);
        let fixed = counts.chunks(4).filter(|c| c.iter().sum::<usize>() >= 20).count();
        assert_eq!(fixed, 9);
        let (b, _, seconds) = block_values(Metric::Percentile(95.0), &s, &s, true);
        assert_eq!((b.len(), seconds), (12, Some(5)));
        // Duet blocks close when both sides hold enough: here the side with fewer requests decides.
        let sparse: Vec<usize> = counts.iter().map(|c| c / 2).collect();
        let t = Seconds::of(&results_of(&sparse, |_, _| 10_000), &["GET /x"], false).unwrap();
        let (b, h, _) = block_values(Metric::Percentile(95.0), &s, &t, true);
        let (alone, _, _) = block_values(Metric::Percentile(95.0), &t, &t, true);
        assert_eq!((b.len(), h.len()), (alone.len(), alone.len()));
        assert!(alone.len() < 12);
        // Every second is in a block, in time order, each once.
        let (bb, hb) = blocks_of(&s, &t, 20.0, true);
        assert_eq!(bb, hb);
        assert_eq!(bb.concat(), (0..60).collect::<Vec<i64>>());
    }

    #[test]
    fn without_a_full_block_there_are_no_blocks() {
        let r = results(10, 1, |_, _| 10_000);
        let s = Seconds::of(&r, &["GET /x"], false).unwrap();
        assert_eq!(
            block_values(Metric::Percentile(95.0), &s, &s, true),
            (vec![], vec![], None)
        );
        assert_eq!(
            estimate(
                Metric::Percentile(95.0),
                true,
                &r,
                &r,
                &["GET /x"],
                &["GET /x"],
                false,
                true,
                0.95
            ),
            Err(NoBlocks::TooFew { blocks: 0, seconds: 20 })
        );
    }

    #[test]
    fn paired_blocks_cancel_the_noise_both_sides_share() {
        // Both sides see the same per-second runner noise (a factor 0.7..1.6); head is 10 % slower.
        let mut rng = SmallRng::seed_from_u64(7);
        let noise: Vec<f64> = (0..60).map(|_| rng.random_range(0.7..1.6)).collect();
        let side = |factor: f64, seed: u64| {
            let mut jitter = SmallRng::seed_from_u64(seed);
            results(60, 50, |t, _| {
                (20_000.0 * noise[t] * factor * jitter.random_range(0.9..1.1)) as u64
            })
        };
        let (base, head, same) = (side(1.0, 1), side(1.10, 2), side(1.0, 3));
        let level = 0.95;
        let paired = estimate(
            Metric::Avg,
            true,
            &base,
            &head,
            &["GET /x"],
            &["GET /x"],
            false,
            true,
            level,
        )
        .unwrap();
        let change = paired.estimate.point.exp() - 1.0;
        assert!((change - 0.10).abs() < 0.01, "paired change {change}");
        assert!(paired.estimate.lo > 0.05, "{:?}", paired.estimate);
        let aa = estimate(
            Metric::Avg,
            true,
            &base,
            &same,
            &["GET /x"],
            &["GET /x"],
            false,
            true,
            level,
        )
        .unwrap();
        assert!(aa.estimate.lo < 0.0 && aa.estimate.hi > 0.0, "{:?}", aa.estimate);
        // Unpaired (sequential), the shared noise is in the interval: it is several times wider.
        let unpaired = estimate(
            Metric::Avg,
            true,
            &base,
            &head,
            &["GET /x"],
            &["GET /x"],
            false,
            false,
            level,
        )
        .unwrap();
        assert!(
            unpaired.estimate.se > 4.0 * paired.estimate.se,
            "paired se {} vs unpaired {}",
            paired.estimate.se,
            unpaired.estimate.se
        );
        let p95 = estimate(
            Metric::Percentile(95.0),
            true,
            &base,
            &head,
            &["GET /x"],
            &["GET /x"],
            false,
            true,
            level,
        )
        .unwrap();
        assert!(p95.estimate.lo > 0.0, "{:?}", p95.estimate);
    }

    /// An A/A duet in `rounds` rounds of 10 s, 50 requests/s: each side's process in each round is
    /// slower or faster by its own factor (log-normal, `process_sd`), each request varies around it.
    fn aa_in_rounds(rng: &mut SmallRng, rounds: usize, process_sd: f64) -> (Results, Results) {
        let gauss = |rng: &mut SmallRng| {
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let side = |rng: &mut SmallRng| {
            let factors: Vec<f64> = (0..rounds).map(|_| (process_sd * gauss(rng)).exp()).collect();
            let mut r = results(rounds * 10, 50, |t, _| {
                (20_000.0 * factors[t / 10] * (0.3 * gauss(rng)).exp()) as u64
            });
            for (t, p) in r.series.iter_mut().enumerate() {
                p.round = (t / 10) as u32;
            }
            r
        };
        (side(rng), side(rng))
    }

    #[test]
    fn rounds_put_the_noise_between_processes_into_the_interval() {
        // 300 A/A duets of 5 rounds with a 3 % process-to-process spread: the rounds' interval must
        // exclude zero at most as often as its level allows; time blocks that ignore the rounds see
        // only the noise within them and cry wolf.
        let mut rng = SmallRng::seed_from_u64(11);
        let names = ["GET /x"];
        let trials = 300;
        let (mut rounds_out, mut blocks_out) = (0, 0);
        for _ in 0..trials {
            let (base, head) = aa_in_rounds(&mut rng, 5, 0.03);
            let e = estimate(Metric::Avg, true, &base, &head, &names, &names, false, true, 0.95).unwrap();
            assert_eq!((e.blocks, e.seconds, e.rounds, e.estimate.df), (5, 10, true, 4.0));
            rounds_out += usize::from(e.estimate.lo > 0.0 || e.estimate.hi < 0.0);
            let untag = |mut r: Results| {
                r.series.iter_mut().for_each(|p| p.round = 0);
                r
            };
            let (b, h) = (untag(base), untag(head));
            let e = estimate(Metric::Avg, true, &b, &h, &names, &names, false, true, 0.95).unwrap();
            assert!(!e.rounds);
            blocks_out += usize::from(e.estimate.lo > 0.0 || e.estimate.hi < 0.0);
        }
        // 5 % of 300 is 15; three binomial standard deviations (3.8 each) of slack.
        assert!(
            rounds_out <= 26,
            "rounds: {rounds_out} of {trials} A/A intervals excluded zero"
        );
        assert!(
            blocks_out > 60,
            "blocks ignoring rounds: only {blocks_out} of {trials} excluded zero"
        );
    }

    #[test]
    fn rounds_detect_a_change_bigger_than_the_process_noise() {
        // Head 10 % slower, 1 % process-to-process spread, 6 rounds: every trial sees it.
        let mut rng = SmallRng::seed_from_u64(5);
        let names = ["GET /x"];
        for _ in 0..50 {
            let (base, mut head) = aa_in_rounds(&mut rng, 6, 0.01);
            for p in head.series.iter_mut() {
                let n = &mut p.names[0];
                n.sum_us = (n.sum_us as f64 * 1.10) as u64;
            }
            let e = estimate(Metric::Avg, true, &base, &head, &names, &names, false, true, 0.95).unwrap();
            assert!(e.estimate.lo > 0.0, "{:?}", e.estimate);
        }
    }

    #[test]
    fn clustered_failures_widen_the_error_rate_interval() {
        // Head fails half of its requests in 5 of 60 seconds, and none otherwise: 4.2 % in all.
        let base = results(60, 50, |_, _| 10_000);
        let mut head = results(60, 50, |_, _| 10_000);
        for t in [10, 11, 12, 40, 41] {
            head.series[t].names[0].failures = 25;
        }
        let names = ["GET /x"];
        let e = error_rate_estimate(&base, &head, &names, &names, false, true, 0.95).unwrap();
        assert!((e.point - 125.0 / 30.0).abs() < 1e-9, "{e:?}");
        // Independent failures at 4.2 % of 3,000 requests would have a standard error of 0.37 pp.
        let independent = (0.0417f64 * 0.9583 / 3000.0).sqrt() * 100.0;
        assert!(e.se > 3.0 * independent, "block se {} vs {independent}", e.se);
    }

    #[test]
    fn files_without_histograms_and_short_runs_say_why_there_is_no_interval() {
        let mut old = results(30, 50, |_, _| 10_000);
        old.series.iter_mut().for_each(|p| p.names[0].hist.clear());
        let new = results(30, 50, |_, _| 10_000);
        let names = ["GET /x"];
        assert_eq!(
            estimate(Metric::Avg, true, &old, &new, &names, &names, false, true, 0.95),
            Err(NoBlocks::NoHistograms)
        );
        let short = results(4, 50, |_, _| 10_000);
        assert_eq!(
            estimate(Metric::Avg, true, &short, &short, &names, &names, false, true, 0.95),
            Err(NoBlocks::TooFew { blocks: 4, seconds: 1 })
        );
    }
}
