//! Latency histograms in microseconds (HdrHistogram, 3 significant digits), serialized as V2+deflate base64.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant digits kept by every latency histogram.
pub const SIGFIG: u8 = 3;
/// Significant digits of the timings kept beside the latency ([`Hist::coarse`]).
pub const TIMING_SIGFIG: u8 = 2;
/// Largest latency recorded (one hour); longer ones are recorded as this.
pub const MAX_US: u64 = 3_600_000_000;

/// Values a histogram keeps exactly (sorted, 4 bytes each) before it turns into an HdrHistogram of
/// fixed size (16 KB and up): a request name that is seldom requested costs a few bytes, not 16 KB
/// per phase, shard and second.
pub const SMALL_MAX: usize = 512;

/// A latency histogram in microseconds: exact values while few, an HdrHistogram beyond
/// [`SMALL_MAX`]; every reading (quantiles, mean, deviation, encoding) is the HdrHistogram's at
/// the same precision, whichever form holds the values.
#[derive(Debug, Clone)]
pub struct Hist {
    sigfig: u8,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Sorted values (clamped to 1 µs .. [`MAX_US`], which fits in 32 bits).
    Small(Vec<u32>),
    Dense(Box<Histogram<u64>>),
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

/// An empty HdrHistogram at `sigfig` digits: the arithmetic of buckets (which values are
/// equivalent) for the small form, which has no counts array of its own.
fn template(sigfig: u8) -> &'static Histogram<u64> {
    static T: std::sync::OnceLock<[Histogram<u64>; 2]> = std::sync::OnceLock::new();
    let t = T.get_or_init(|| {
        [
            Histogram::new(TIMING_SIGFIG).expect("2 significant digits is a valid precision"),
            Histogram::new(SIGFIG).expect("3 significant digits is a valid precision"),
        ]
    });
    &t[usize::from(sigfig != TIMING_SIGFIG)]
}

impl Hist {
    /// An empty histogram at 3 significant digits (allocates nothing until a value is recorded).
    pub fn new() -> Hist {
        Hist {
            sigfig: SIGFIG,
            repr: Repr::Small(Vec::new()),
        }
    }

    /// An empty histogram with [`TIMING_SIGFIG`] significant digits, for the timings kept beside
    /// the latency (time to first byte).
    pub fn coarse() -> Hist {
        Hist {
            sigfig: TIMING_SIGFIG,
            repr: Repr::Small(Vec::new()),
        }
    }

    fn dense(sigfig: u8) -> Histogram<u64> {
        // Starts small and grows with the largest value seen; only fails for sigfig > 5.
        Histogram::new(sigfig).expect("2 or 3 significant digits is a valid precision")
    }

    /// Turns the exact values into an HdrHistogram (once there are more than [`SMALL_MAX`]).
    fn promote(&mut self) -> &mut Histogram<u64> {
        if let Repr::Small(v) = &self.repr {
            let mut h = Hist::dense(self.sigfig);
            for &x in v {
                let _ = h.record(u64::from(x));
            }
            self.repr = Repr::Dense(Box::new(h));
        }
        match &mut self.repr {
            Repr::Dense(h) => h,
            Repr::Small(_) => unreachable!("just promoted"),
        }
    }

    /// Records one latency, clamped to 1 µs .. 1 h.
    #[inline]
    pub fn record(&mut self, us: u64) {
        let us = us.clamp(1, MAX_US);
        match &mut self.repr {
            Repr::Small(v) if v.len() < SMALL_MAX => {
                let x = us as u32;
                let at = v.partition_point(|&y| y <= x);
                v.insert(at, x);
            }
            // Auto-resizing: grows to fit; the clamp bounds the growth.
            Repr::Small(_) => {
                let _ = self.promote().record(us);
            }
            Repr::Dense(h) => {
                let _ = h.record(us);
            }
        }
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, other: &Hist) {
        match (&mut self.repr, &other.repr) {
            (_, Repr::Small(o)) if o.is_empty() => {}
            (Repr::Small(v), Repr::Small(o)) if v.len() + o.len() <= SMALL_MAX => {
                let mut merged = Vec::with_capacity(v.len() + o.len());
                let (mut i, mut j) = (0, 0);
                while i < v.len() && j < o.len() {
                    if v[i] <= o[j] {
                        merged.push(v[i]);
                        i += 1;
                    } else {
                        merged.push(o[j]);
                        j += 1;
                    }
                }
                merged.extend_from_slice(&v[i..]);
                merged.extend_from_slice(&o[j..]);
                *v = merged;
            }
            (_, Repr::Small(o)) => {
                let h = self.promote();
                for &x in o {
                    let _ = h.record(u64::from(x));
                }
            }
            (_, Repr::Dense(o)) => {
                // Both are 2 or 3 digits from 1 µs; auto-resize covers the ranges.
                let _ = self.promote().add(&**o);
            }
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Small(v) => v.len() as u64,
            Repr::Dense(h) => h.len(),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Significant digits kept.
    pub fn sigfig(&self) -> u8 {
        self.sigfig
    }

    /// Forgets every value and frees the memory that held them.
    pub fn reset(&mut self) {
        self.repr = Repr::Small(Vec::new());
    }

    /// Value at quantile `q` (0..=1) in microseconds, as an HdrHistogram reads it; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        match &self.repr {
            Repr::Small(v) if v.is_empty() => 0,
            Repr::Small(v) => {
                let q = q.min(1.0);
                let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
                let x = u64::from(v[rank - 1]);
                let t = template(self.sigfig);
                if q == 0.0 {
                    t.lowest_equivalent(x)
                } else {
                    t.highest_equivalent(x)
                }
            }
            Repr::Dense(h) if h.is_empty() => 0,
            Repr::Dense(h) => h.value_at_quantile(q),
        }
    }

    /// The middle of the bucket `us` falls in.
    pub fn median_equivalent(&self, us: u64) -> u64 {
        template(self.sigfig).median_equivalent(us)
    }

    /// The recorded values as (bucket's highest value, count), ascending, as an HdrHistogram
    /// iterates them.
    pub fn recorded(&self) -> Vec<(u64, u64)> {
        match &self.repr {
            Repr::Small(v) => {
                let t = template(self.sigfig);
                let mut out: Vec<(u64, u64)> = Vec::new();
                for &x in v {
                    let top = t.highest_equivalent(u64::from(x));
                    match out.last_mut() {
                        Some((b, n)) if *b == top => *n += 1,
                        _ => out.push((top, 1)),
                    }
                }
                out
            }
            Repr::Dense(h) => h
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// Smallest value recorded (its bucket's lowest), 0 when empty.
    pub fn min(&self) -> u64 {
        match &self.repr {
            Repr::Small(v) => v
                .first()
                .map_or(0, |&x| template(self.sigfig).lowest_equivalent(u64::from(x))),
            Repr::Dense(h) => h.min(),
        }
    }

    /// Largest value recorded (its bucket's highest), 0 when empty.
    pub fn max(&self) -> u64 {
        match &self.repr {
            Repr::Small(v) => v
                .last()
                .map_or(0, |&x| template(self.sigfig).highest_equivalent(u64::from(x))),
            Repr::Dense(h) => h.max(),
        }
    }

    /// Standard deviation of the values (each read as its bucket's middle), µs.
    pub fn stdev(&self) -> f64 {
        match &self.repr {
            Repr::Dense(h) => h.stdev(),
            Repr::Small(_) => {
                let n = self.len();
                if n == 0 {
                    return 0.0;
                }
                let rec = self.recorded();
                let mid = |b: u64| self.median_equivalent(b) as f64;
                let mean = rec.iter().map(|&(b, c)| mid(b) * c as f64 / n as f64).sum::<f64>();
                let dev = rec
                    .iter()
                    .map(|&(b, c)| (mid(b) - mean).powi(2) * c as f64)
                    .sum::<f64>();
                (dev / n as f64).sqrt()
            }
        }
    }

    /// The HdrHistogram of these values (a copy for the small form).
    fn to_dense(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.repr {
            Repr::Dense(h) => std::borrow::Cow::Borrowed(&**h),
            Repr::Small(v) => {
                let mut h = Hist::dense(self.sigfig);
                for &x in v {
                    let _ = h.record(u64::from(x));
                }
                std::borrow::Cow::Owned(h)
            }
        }
    }

    /// Serializes as base64 of the V2+deflate encoding.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let mut buf = Vec::new();
        let _ = V2DeflateSerializer::new().serialize(&*self.to_dense(), &mut buf);
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    /// Decodes what [`Hist::encode`] wrote, refusing sizes and counts a real run cannot have
    /// (a corrupt file must be an error, never an allocation of whatever its header claims).
    pub fn decode(text: &str) -> Result<Hist, String> {
        use base64::Engine;
        use std::io::Read;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("histogram is not valid base64: {e}"))?;
        let word =
            |b: &[u8], at: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?)) };
        // V2 + deflate: cookie, compressed length, zlib stream of a plain V2 histogram.
        const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
        const V2_COOKIE: u32 = 0x1c84_9313;
        if word(&bytes, 0) != Some(V2_DEFLATE_COOKIE) {
            return Err("histogram does not decode: it is not in the V2 + deflate encoding".into());
        }
        let claimed = word(&bytes, 4).unwrap_or(u32::MAX) as usize;
        if claimed != bytes.len().saturating_sub(8) {
            return Err(format!(
                "histogram does not decode: its header claims {claimed} compressed bytes, it has {}",
                bytes.len().saturating_sub(8)
            ));
        }
        let mut inner = Vec::new();
        flate2::read::ZlibDecoder::new(&bytes[8..])
            .take(MAX_DECODED as u64 + 1)
            .read_to_end(&mut inner)
            .map_err(|e| format!("histogram does not decode: it does not decompress: {e}"))?;
        if inner.len() > MAX_DECODED {
            return Err(format!(
                "histogram does not decode: it decompresses past {MAX_DECODED} bytes"
            ));
        }
        let payload = word(&inner, 4).unwrap_or(u32::MAX) as usize;
        if word(&inner, 0) != Some(V2_COOKIE) || payload > inner.len().saturating_sub(40) {
            return Err("histogram does not decode: its payload length does not match its contents".into());
        }
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut inner.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        let mut total: u64 = 0;
        for v in h.iter_recorded() {
            total = total
                .checked_add(v.count_at_value())
                .filter(|t| *t <= MAX_COUNT)
                .ok_or_else(|| format!("histogram does not decode: its counts add up past {MAX_COUNT} requests"))?;
        }
        // Kept at its own precision (3 digits for latencies, 2 for [`Hist::coarse`] timings), so a
        // percentile read from the file is the one the run reported; never finer than 3 digits. A
        // few values go back to the exact form (at their buckets' highest values: the same buckets).
        let sigfig = h.sigfig().clamp(TIMING_SIGFIG, SIGFIG);
        if total as usize <= SMALL_MAX {
            let mut out = Hist {
                sigfig,
                repr: Repr::Small(Vec::with_capacity(total as usize)),
            };
            for v in h.iter_recorded() {
                for _ in 0..v.count_at_value() {
                    out.record(v.value_iterated_to());
                }
            }
            return Ok(out);
        }
        let mut dense = Hist::dense(sigfig);
        dense.add(&h).map_err(|e| format!("histogram does not merge: {e:?}"))?;
        let out = Hist {
            sigfig,
            repr: Repr::Dense(Box::new(dense)),
        };
        Ok(out)
    }
}

/// Largest decompressed histogram accepted (a 1 µs..1 h histogram at 3 digits is about 100 KB).
const MAX_DECODED: usize = 16 << 20;
/// Most requests one histogram may count (far beyond any run; guards arithmetic on corrupt files).
const MAX_COUNT: u64 = 1 << 50;

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hist::decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges_exactly() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        for v in 1..=1000u64 {
            a.record(v * 100);
            b.record(v * 1000);
        }
        let decoded = Hist::decode(&a.encode()).unwrap();
        assert_eq!(decoded.len(), 1000);
        assert_eq!(decoded.quantile_us(0.5), a.quantile_us(0.5));
        let mut m = decoded.clone();
        m.add(&b);
        assert_eq!(m.len(), 2000);
        assert_eq!(m.max(), b.max());
        // A coarse histogram reads back at its own precision: the same percentiles as before.
        let mut c = Hist::coarse();
        (1..=1000u64).for_each(|v| c.record(v * 37));
        let back = Hist::decode(&c.encode()).unwrap();
        assert_eq!(back.sigfig(), TIMING_SIGFIG);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(back.quantile_us(q), c.quantile_us(q), "q {q}");
        }
        assert!(Hist::decode("not base64!").is_err());
        assert!(Hist::decode("aGVsbG8=").is_err());
    }

    /// The small form is an optimisation, never a different answer: every reading of a histogram
    /// with a few values equals the HdrHistogram's of the same values, at both precisions, and the
    /// small one turns dense past [`SMALL_MAX`] without a change in any reading.
    #[test]
    fn the_small_form_reads_as_the_hdr_histogram_does() {
        for sigfig in [SIGFIG, TIMING_SIGFIG] {
            let mut small = if sigfig == SIGFIG { Hist::new() } else { Hist::coarse() };
            let mut hdr = Histogram::<u64>::new(sigfig).unwrap();
            let mut x: u64 = 12345;
            for i in 0..(SMALL_MAX as u64 + 40) {
                // A spread of latencies from 1 µs to minutes, with repeats.
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = if i % 7 == 0 { 1500 } else { (x >> 33) % 5_000_000 };
                small.record(v);
                hdr.record(v.clamp(1, MAX_US)).unwrap();
                if i == 10 || i == SMALL_MAX as u64 - 1 || i == SMALL_MAX as u64 + 39 {
                    assert!(matches!(small.repr, Repr::Small(_)) == (i < SMALL_MAX as u64), "{i}");
                    for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                        assert_eq!(small.quantile_us(q), hdr.value_at_quantile(q), "q {q} at {i} values");
                    }
                    assert_eq!(
                        (small.min(), small.max(), small.len()),
                        (hdr.min(), hdr.max(), hdr.len())
                    );
                    assert!((small.stdev() - hdr.stdev()).abs() < 1e-6 * hdr.stdev().max(1.0));
                    let rec: Vec<(u64, u64)> = hdr
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect();
                    assert_eq!(small.recorded(), rec);
                    let mut buf = Vec::new();
                    V2DeflateSerializer::new().serialize(&hdr, &mut buf).unwrap();
                    use base64::Engine;
                    assert_eq!(small.encode(), base64::engine::general_purpose::STANDARD.encode(buf));
                }
            }
        }
        // Merging: small into small stays small and sorted, past the bound it turns dense.
        let (mut a, mut b) = (Hist::new(), Hist::new());
        (0..300u64).for_each(|v| a.record(v * 7 + 1));
        (0..200u64).for_each(|v| b.record(v * 5 + 2));
        let mut ab = a.clone();
        ab.add(&b);
        assert!(matches!(ab.repr, Repr::Small(_)) && ab.len() == 500);
        let mut reference = Histogram::<u64>::new(SIGFIG).unwrap();
        (0..300u64).for_each(|v| reference.record(v * 7 + 1).unwrap());
        (0..200u64).for_each(|v| reference.record(v * 5 + 2).unwrap());
        assert_eq!(ab.quantile_us(0.5), reference.value_at_quantile(0.5));
        ab.add(&a);
        assert!(matches!(ab.repr, Repr::Dense(_)) && ab.len() == 800);
        // A decoded file with few values comes back small, with the same readings.
        let back = Hist::decode(&a.encode()).unwrap();
        assert!(matches!(back.repr, Repr::Small(_)));
        assert_eq!(back.recorded(), a.recorded());
        // An empty histogram holds no memory; a reset frees what it held.
        assert!(matches!(&Hist::new().repr, Repr::Small(v) if v.capacity() == 0));
        ab.reset();
        assert!(ab.is_empty() && matches!(&ab.repr, Repr::Small(v) if v.capacity() == 0));
    }
}
