//! HdrHistogram of latencies in microseconds (3 significant digits), serialized as V2+deflate base64.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant digits kept by every latency histogram.
pub const SIGFIG: u8 = 3;
/// Significant digits of the timings kept beside the latency ([`Hist::coarse`]).
pub const TIMING_SIGFIG: u8 = 2;
/// Largest latency recorded (one hour); longer ones are recorded as this.
pub const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Hist(pub Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    /// An empty auto-resizing histogram.
    pub fn new() -> Hist {
        // Starts small and grows with the largest value seen; only fails for sigfig > 5.
        Hist(Histogram::new(SIGFIG).expect("3 significant digits is a valid precision"))
    }

    /// An empty auto-resizing histogram with [`TIMING_SIGFIG`] significant digits, for the timings
    /// kept beside the latency (time to first byte): a tenth of the memory per shard and name.
    pub fn coarse() -> Hist {
        Hist(Histogram::new(TIMING_SIGFIG).expect("2 significant digits is a valid precision"))
    }

    /// Records one latency, clamped to 1 µs .. 1 h.
    #[inline]
    pub fn record(&mut self, us: u64) {
        // Auto-resizing: grows to fit; the clamp bounds the growth.
        let _ = self.0.record(us.clamp(1, MAX_US));
    }

    /// Adds another histogram's counts.
    pub fn add(&mut self, other: &Hist) {
        // Both come from `Hist::new`, so their ranges agree; auto-resize covers the rest.
        let _ = self.0.add(&other.0);
    }

    /// Value at quantile `q` (0..=1) in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    /// Serializes as base64 of the V2+deflate encoding.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let mut buf = Vec::new();
        let _ = V2DeflateSerializer::new().serialize(&self.0, &mut buf);
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
        // percentile read from the file is the one the run reported; never finer than 3 digits.
        let sigfig = h.sigfig().clamp(TIMING_SIGFIG, SIGFIG);
        let mut out = Hist(Histogram::new(sigfig).map_err(|e| format!("histogram does not decode: {e:?}"))?);
        out.0.add(&h).map_err(|e| format!("histogram does not merge: {e:?}"))?;
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
        assert_eq!(decoded.0.len(), 1000);
        assert_eq!(decoded.quantile_us(0.5), a.quantile_us(0.5));
        let mut m = decoded.clone();
        m.add(&b);
        assert_eq!(m.0.len(), 2000);
        assert_eq!(m.0.max(), b.0.max());
        // A coarse histogram reads back at its own precision: the same percentiles as before.
        let mut c = Hist::coarse();
        (1..=1000u64).for_each(|v| c.record(v * 37));
        let back = Hist::decode(&c.encode()).unwrap();
        assert_eq!(back.0.sigfig(), TIMING_SIGFIG);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(back.quantile_us(q), c.quantile_us(q), "q {q}");
        }
        assert!(Hist::decode("not base64!").is_err());
        assert!(Hist::decode("aGVsbG8=").is_err());
    }
}
