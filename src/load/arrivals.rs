//! The open model's arrival schedule: planned arrival times from rate stages that ramp linearly.

use crate::gate::Stage;

/// Planned arrival times, in seconds from the start, from a list of stages.
pub struct Schedule {
    stages: Vec<Stage>,
    stage: usize,
    /// Start of the current stage, s.
    stage_start: f64,
    /// Arrivals (a real number) planned before the current stage.
    before: f64,
    /// Index of the next arrival.
    next: u64,
}

impl Schedule {
    /// A schedule over these stages; the first arrival is at time 0 when the rate there is above 0.
    pub fn new(stages: &[Stage]) -> Schedule {
        Schedule {
            stages: stages.to_vec(),
            stage: 0,
            stage_start: 0.0,
            before: 0.0,
            next: 0,
        }
    }

    /// Arrivals the whole schedule plans (the area under the rate).
    pub fn planned(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| (s.from + s.to) / 2.0 * s.duration.as_secs_f64())
            .sum()
    }
}

impl Iterator for Schedule {
    type Item = f64;

    /// The next planned arrival time, s; None after the last stage.
    fn next(&mut self) -> Option<f64> {
        while let Some(s) = self.stages.get(self.stage) {
            let d = s.duration.as_secs_f64();
            // Arrivals within the stage by time t: n(t) = from·t + (to - from)·t²/(2d).
            let want = self.next as f64 - self.before;
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
                self.next += 1;
                return Some(self.stage_start + t);
            }
            self.before += (s.from + s.to) / 2.0 * d;
            self.stage_start += d;
            self.stage += 1;
        }
        None
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
}
