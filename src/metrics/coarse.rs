//! A small, mergeable latency histogram kept per request name and second, so that the verdict can
//! compute any percentile over any block of seconds after the run (and from a saved baseline).
//!
//! Buckets are logarithmic, [`PER_DOUBLING`] per doubling of the latency, so a bucket spans about
//! 2.2 % and a percentile read from it (interpolated within its bucket) is within about 1 % of the
//! exact one. Only non-empty buckets are kept; the text form is base64 of varint pairs (bucket
//! delta, count), about 3 bytes per non-empty bucket.

use super::hist::Hist;
use std::collections::BTreeMap;

/// Buckets per doubling of the latency.
pub const PER_DOUBLING: f64 = 32.0;

/// Most buckets a histogram may claim when decoded (1 µs .. 1 h is about 1,020).
const MAX_BUCKET: u64 = 2_048;

/// Latency counts in logarithmic buckets (µs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coarse {
    counts: BTreeMap<u16, u64>,
}

fn bucket(us: u64) -> u16 {
    ((us.max(1) as f64).log2() * PER_DOUBLING).floor() as u16
}

fn lower_edge(b: u16) -> f64 {
    (b as f64 / PER_DOUBLING).exp2()
}

impl Coarse {
    /// The buckets of an HdrHistogram's recorded values.
    pub fn of(h: &Hist) -> Coarse {
        let mut c = Coarse::default();
        for (v, n) in h.recorded() {
            *c.counts.entry(bucket(v)).or_default() += n;
        }
        c
    }

    /// Adds one latency.
    pub fn record(&mut self, us: u64) {
        *self.counts.entry(bucket(us)).or_default() += 1;
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, other: &Coarse) {
        for (b, n) in &other.counts {
            let e = self.counts.entry(*b).or_default();
            *e = e.saturating_add(*n);
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.counts.values().fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The `q` quantile (0..=1) in µs, interpolated geometrically within its bucket; None when empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        // The rank of the quantile among n values, as a position 0..n within the cumulative counts.
        let rank = (q.clamp(0.0, 1.0) * n as f64).max(0.5).min(n as f64 - 0.5);
        let mut below = 0u64;
        for (b, c) in &self.counts {
            if (below + c) as f64 > rank {
                let within = (rank - below as f64) / *c as f64;
                let (lo, hi) = (lower_edge(*b), lower_edge(b + 1));
                return Some(lo * (hi / lo).powf(within));
            }
            below += c;
        }
        self.counts.keys().next_back().map(|b| lower_edge(b + 1))
    }

    /// The text form: base64 of varint pairs (bucket delta, count).
    pub fn encode(&self) -> String {
        use base64::Engine;
        let mut out = Vec::with_capacity(self.counts.len() * 3);
        let mut prev = 0u16;
        for (b, c) in &self.counts {
            varint(u64::from(b - prev), &mut out);
            varint(*c, &mut out);
            prev = *b;
        }
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
    }

    /// Reads what [`Coarse::encode`] wrote.
    pub fn decode(text: &str) -> Result<Coarse, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| format!("block histogram is not valid base64: {e}"))?;
        let mut c = Coarse::default();
        let mut at = 0usize;
        let mut b = 0u64;
        while at < bytes.len() {
            let delta = read_varint(&bytes, &mut at).ok_or("block histogram ends inside a number")?;
            let count = read_varint(&bytes, &mut at).ok_or("block histogram ends inside a number")?;
            b = b.saturating_add(delta);
            if b > MAX_BUCKET {
                return Err(format!("block histogram claims bucket {b}, beyond any latency"));
            }
            let e = c.counts.entry(b as u16).or_default();
            *e = e.saturating_add(count);
        }
        Ok(c)
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_about_one_percent_of_the_exact_ones() {
        let mut h = Hist::new();
        let mut c = Coarse::default();
        // 1 ms .. 100 ms, geometric.
        let values: Vec<u64> = (0..10_000)
            .map(|i| (1000.0 * 100f64.powf(i as f64 / 10_000.0)) as u64)
            .collect();
        for &v in &values {
            h.record(v);
            c.record(v);
        }
        assert_eq!(Coarse::of(&h).len(), 10_000);
        for q in [0.01, 0.5, 0.9, 0.95, 0.99, 0.999] {
            let exact = values[((q * 10_000.0) as usize).min(9_999)] as f64;
            for from in [&c, &Coarse::of(&h)] {
                let got = from.quantile_us(q).unwrap();
                assert!((got / exact - 1.0).abs() < 0.012, "q {q}: {got} vs {exact}");
            }
        }
        assert_eq!(Coarse::default().quantile_us(0.5), None);
    }

    #[test]
    fn merging_and_the_text_form_keep_every_count() {
        let mut a = Coarse::default();
        let mut b = Coarse::default();
        for v in [1u64, 5, 900, 901, 70_000, 3_600_000_000] {
            a.record(v);
            b.record(v * 2);
        }
        let mut ab = a.clone();
        ab.add(&b);
        assert_eq!(ab.len(), 12);
        let text = ab.encode();
        assert_eq!(Coarse::decode(&text).unwrap(), ab);
        assert!(text.len() < 40, "{text}");
        assert_eq!(Coarse::decode("").unwrap(), Coarse::default());
        assert!(Coarse::decode("////").is_err());
        assert!(Coarse::decode("!").is_err());
    }

    #[test]
    fn a_single_value_is_its_own_quantile() {
        let mut c = Coarse::default();
        c.record(20_000);
        let q = c.quantile_us(0.95).unwrap();
        assert!((q / 20_000.0 - 1.0).abs() < 0.025, "{q}");
    }
}
