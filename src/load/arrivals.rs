//! The open model's arrival schedule: planned arrival times from rate stages that ramp linearly.

use crate::gate::Stage;

/// Planned arrival times, in seconds from the start, from a list of stages: in order (an iterator)
/// or the k-th one directly ([`Schedule::at`]), so users can claim arrivals without a dispatcher.
#[derive(Debug, Clone)]
pub struct Schedule {
    stages: Vec<Stage>,
    /// Start of each stage, s.
    starts: Vec<f64>,
    /// Arrivals (a real number) planned before each stage.
    before: Vec<f64>,
    /// Index of the next arrival the iterator yields.
    next: u64,
}

impl Schedule {
    /// A schedule over these stages; the first arrival is at time 0 when the rate there is above 0.
    pub fn new(stages: &[Stage]) -> Schedule {
        let (mut t, mut n) = (0.0, 0.0);
        let (mut starts, mut before) = (Vec::new(), Vec::new());
        for s in stages {
            starts.push(t);
            before.push(n);
            t += s.duration.as_secs_f64();
            n += area(s);
        }
        Schedule {
            stages: stages.to_vec(),
            starts,
            before,
            next: 0,
        }
    }

    /// The same schedule at `share` of its rate (a scenario's part of the arrivals).
    pub fn scaled(stages: &[Stage], share: f64) -> Schedule {
        let stages: Vec<Stage> = stages
            .iter()
            .map(|s| Stage {
                duration: s.duration,
                from: s.from * share,
                to: s.to * share,
            })
            .collect();
        Schedule::new(&stages)
    }

    /// Arrivals the whole schedule plans (the area under the rate).
    pub fn planned(&self) -> f64 {
        self.stages.iter().map(area).sum()
    }

    /// The planned time of arrival `k` (from 0), s; None if the schedule ends before it.
    pub fn at(&self, k: u64) -> Option<f64> {
        for (i, s) in self.stages.iter().enumerate() {
            let d = s.duration.as_secs_f64();
            // Arrivals within the stage by time t: n(t) = from·t + (to - from)·t²/(2d).
            let want = k as f64 - self.before[i];
            if want < 0.0 {
                // Only a stage planning no arrival at its start (rate 0 there) gets here; its
                // arrival k came in an earlier stage, which the loop would have returned.
                continue;
            }
            let a = if d > 0.0 { (s.to - s.from) / (2.0 * d) } else { 0.0 };
            let b = s.from;
            let t = if a.abs() < 1e-12 {
                if b > 0.0 {
                    want / b
                } else {
                    f64::INFINITY
                }
            } else {
                let disc = b * b + 4.0 * a * want;
                if disc < 0.0 {
                    f64::INFINITY
                } else {
                    (-b + disc.sqrt()) / (2.0 * a)
                }
            };
            if t.is_finite() && t >= 0.0 && t < d {
                return Some(self.starts[i] + t);
            }
        }
        None
    }

    /// How many arrivals are planned at or before `t` seconds from the start.
    pub fn due(&self, t: f64) -> u64 {
        let Some(i) = self.starts.iter().rposition(|&s| s <= t) else {
            return 0;
        };
        let s = &self.stages[i];
        let d = s.duration.as_secs_f64();
        let x = (t - self.starts[i]).min(d);
        let within = if d > 0.0 {
            s.from * x + (s.to - s.from) * x * x / (2.0 * d)
        } else {
            0.0
        };
        // Arrival k is at n(t) = k, so n(t) of them (rounded down), plus the one at k = 0.
        let n = (self.before[i] + within).floor() as u64 + 1;
        // Rounding can be one off either way: settle it on the arrival times themselves.
        let mut n = n;
        while n > 0 && self.at(n - 1).is_none_or(|a| a > t) {
            n -= 1;
        }
        while self.at(n).is_some_and(|a| a <= t) {
            n += 1;
        }
        n
    }
}

/// Arrivals a stage plans: the area under its rate.
fn area(s: &Stage) -> f64 {
    (s.from + s.to) / 2.0 * s.duration.as_secs_f64()
}

impl Iterator for Schedule {
    type Item = f64;

    /// The next planned arrival time, s; None after the last stage.
    fn next(&mut self) -> Option<f64> {
        let t = self.at(self.next)?;
        self.next += 1;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stage(secs: u64, from: f64, to: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            from,
            to,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let times: Vec<f64> = Schedule::new(&[stage(2, 10.0, 10.0)]).collect();
        assert_eq!(times.len(), 20);
        assert!((times[1] - 0.1).abs() < 1e-9 && (times[19] - 1.9).abs() < 1e-9);
    }

    #[test]
    fn ramps_follow_the_area_under_the_rate() {
        let s = [stage(10, 0.0, 100.0), stage(10, 100.0, 100.0)];
        let planned = Schedule::new(&s).planned();
        assert_eq!(planned, 1500.0);
        let times: Vec<f64> = Schedule::new(&s).collect();
        assert!((times.len() as f64 - planned).abs() <= 2.0, "{}", times.len());
        // Half the ramp's arrivals come in its last 30 % (rate grows linearly).
        let in_ramp = times.iter().filter(|t| **t < 10.0).count();
        let late_ramp = times.iter().filter(|t| **t >= 7.07 && **t < 10.0).count();
        assert!((in_ramp as f64 / 2.0 - late_ramp as f64).abs() < 3.0);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn due_counts_the_arrivals_at_or_before_a_time() {
        let stages = [
            stage(2, 0.0, 50.0),
            stage(3, 50.0, 50.0),
            stage(1, 0.0, 0.0),
            stage(2, 20.0, 0.0),
        ];
        let s = Schedule::new(&stages);
        let times: Vec<f64> = s.clone().collect();
        for (k, t) in times.iter().enumerate() {
            assert_eq!(s.at(k as u64), Some(*t));
        }
        assert_eq!(s.at(times.len() as u64), None);
        for i in 0..=90 {
            let t = i as f64 * 0.1 + 0.003;
            let expected = times.iter().filter(|&&a| a <= t).count() as u64;
            assert_eq!(s.due(t), expected, "at {t} s");
        }
        assert_eq!(s.due(-1.0), 0);
    }

    #[test]
    fn scaled_schedules_share_the_arrivals() {
        let stages = [stage(4, 0.0, 100.0), stage(6, 100.0, 100.0)];
        let whole = Schedule::new(&stages).count();
        let parts: usize = [0.25, 0.75].iter().map(|&w| Schedule::scaled(&stages, w).count()).sum();
        assert!(whole.abs_diff(parts) <= 2, "{whole} vs {parts}");
    }
}
