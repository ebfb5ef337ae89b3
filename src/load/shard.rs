//! Shards: one `perfgate run` doing its share of a gate's profile, so that N processes on N machines
//! (a GitHub Actions matrix, a Kubernetes Indexed Job) add up to the gate's profile exactly, and
//! `perfgate merge` makes their results one.
//!
//! Shards are numbered from 1 (`--shard 1/4` .. `--shard 4/4`), as cargo-nextest's partitions are;
//! Kubernetes' `JOB_COMPLETION_INDEX` (from 0) is the index minus one. The users of each class (in
//! the gate's spawn order) are dealt round-robin over the shards, the count running on from one
//! class to the next, so every shard gets each class's share within one user and the totals differ
//! by at most one (the first shards take the remainders); a shard keeps the spawn order of its users
//! and spawns them at `spawn_rate / N`. Arrival rates and the connection pool are divided by N.

use super::plan::Plan;

/// Which share of the profile this run is: `index` of `count`, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// From 1 to `count`.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
}

/// Most shards a run may be split into.
pub const MAX_SHARDS: u32 = 1_000;

impl Shard {
    /// Parses `I/N` (I from 1 to N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!("`{s}` is not a shard: write I/N with I from 1 to N, e.g. `--shard 1/4` (Kubernetes: --shards N takes I from JOB_COMPLETION_INDEX)")
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        Shard::new(index, count).map_err(|e| format!("`{s}`: {e}"))
    }

    /// Shard `index` (from 1) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("the shard count must be from 1 to {MAX_SHARDS}, not {count}"));
        }
        if index == 0 || index > count {
            return Err(format!("the shard index must be from 1 to {count}, not {index}"));
        }
        Ok(Shard { index, count })
    }

    /// Shard `JOB_COMPLETION_INDEX + 1` of `count` (Kubernetes Indexed Jobs count from 0).
    pub fn from_completion_index(value: &str, count: u32) -> Result<Shard, String> {
        let i: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("JOB_COMPLETION_INDEX `{value}` is not a number"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "--shards {count}: the shard count must be from 1 to {MAX_SHARDS}"
            ));
        }
        if i >= count {
            return Err(format!(
                "JOB_COMPLETION_INDEX is {value}, but an Indexed Job of --shards {count} completions counts from 0 to {}: give the Job `completions: {count}` or --shards the Job's completions",
                count - 1
            ));
        }
        Shard::new(i + 1, count)
    }

    /// This shard's seed: the run's seed mixed with the index (splitmix64), so shards do not repeat
    /// each other's task and think-time sequences.
    pub fn seed(self, seed: u64) -> u64 {
        let mut z = seed ^ u64::from(self.index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Plan {
    /// This shard's share of the plan: every N-th user (by spawn order), the spawn rate, arrival
    /// rates and connection pool divided by N, and a seed of its own.
    pub fn shard(mut self, s: Shard) -> Plan {
        if s.count == 1 {
            return self;
        }
        // Each class's users go round-robin over the shards, the count running on from one class to
        // the next: every shard gets each class's share within one user, and totals within one.
        let n = s.count as usize;
        let mine = (s.index - 1) as usize;
        let classes = self.assignment.iter().copied().max().map_or(0, |m| m + 1);
        let mut shard_of = vec![0usize; self.assignment.len()];
        let mut next = 0usize;
        for class in 0..classes {
            for (k, _) in self.assignment.iter().enumerate().filter(|(_, &c)| c == class) {
                shard_of[k] = next % n;
                next += 1;
            }
        }
        let kept: Vec<usize> = (0..self.assignment.len()).filter(|&k| shard_of[k] == mine).collect();
        self.assignment = kept.iter().map(|&k| self.assignment[k]).collect();
        // Data rows were picked for the whole profile, so shards never share a `unique` row.
        self.rows = kept.iter().filter_map(|&k| self.rows.get(k).copied()).collect();
        self.users = self.assignment.len() as u32;
        if self.spawn_rate.is_finite() {
            self.spawn_rate /= f64::from(s.count);
        }
        if let Some(open) = &mut self.open {
            for st in &mut open.stages {
                st.from /= f64::from(s.count);
                st.to /= f64::from(s.count);
            }
            open.max_connections = open.max_connections.div_ceil(s.count).max(1);
            self.users = open.max_connections;
        }
        self.seed = s.seed(self.seed);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Gate;
    use crate::load::Overrides;

    fn plan(load: &str) -> Plan {
        let gate = Gate::parse(
            "s.yaml",
            &format!(
                "version: 1\nhost: http://127.0.0.1:1\nload: {load}\nscenarios:\n  A:\n    weight: 3\n    tasks: [{{request: GET /a}}]\n  B:\n    weight: 1\n    tasks: [{{request: GET /b}}]\n"
            ),
        )
        .unwrap();
        Plan::new(
            &gate,
            &Overrides {
                seed: Some(7),
                ..Overrides::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn shards_parse_from_one_and_say_what_is_wrong() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert!(Shard::parse("0/4").unwrap_err().contains("from 1 to 4, not 0"));
        assert!(Shard::parse("5/4").unwrap_err().contains("from 1 to 4, not 5"));
        assert!(Shard::parse("4").unwrap_err().contains("write I/N"));
        assert_eq!(Shard::from_completion_index("0", 3), Ok(Shard { index: 1, count: 3 }));
        let e = Shard::from_completion_index("3", 3).unwrap_err();
        assert!(
            e.contains("JOB_COMPLETION_INDEX is 3, but an Indexed Job of --shards 3 completions counts from 0 to 2"),
            "{e}"
        );
    }

    #[test]
    fn the_shards_add_up_to_the_profile_with_every_class_spread() {
        let whole = plan("{users: 10, spawn_rate: 4, run_time: 1s}");
        let shards: Vec<Plan> = (1..=3)
            .map(|i| whole.clone().shard(Shard::new(i, 3).unwrap()))
            .collect();
        assert_eq!(shards.iter().map(|p| p.users).collect::<Vec<_>>(), [4, 3, 3]);
        for class in 0..2 {
            let whole_n = whole.assignment.iter().filter(|&&c| c == class).count();
            let sum: usize = shards
                .iter()
                .map(|p| p.assignment.iter().filter(|&&c| c == class).count())
                .sum();
            assert_eq!(sum, whole_n, "class {class}");
            let per: Vec<usize> = shards
                .iter()
                .map(|p| p.assignment.iter().filter(|&&c| c == class).count())
                .collect();
            let (lo, hi) = (per.iter().min().unwrap(), per.iter().max().unwrap());
            assert!(hi - lo <= 1, "class {class} spread {per:?}");
        }
        let rate: f64 = shards.iter().map(|p| p.spawn_rate).sum();
        assert!((rate - whole.spawn_rate).abs() < 1e-9);
        let seeds: std::collections::BTreeSet<u64> = shards.iter().map(|p| p.seed).collect();
        assert_eq!(seeds.len(), 3, "each shard has a seed of its own");
        assert_eq!(whole.clone().shard(Shard::new(1, 1).unwrap()).seed, whole.seed);
    }

    #[test]
    fn open_model_shards_divide_the_arrival_rate_and_the_pool() {
        let whole = plan("{arrival_rate: 90, max_connections: 10, run_time: 1s}");
        let s = whole.clone().shard(Shard::new(2, 3).unwrap());
        let stage = s.open.as_ref().unwrap().stages[0];
        assert!((stage.from - 30.0).abs() < 1e-9 && (stage.to - 30.0).abs() < 1e-9);
        assert_eq!(s.open.as_ref().unwrap().max_connections, 4);
    }
}
