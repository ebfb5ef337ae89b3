//! The per-second series of a run, kept in an unlinked temporary file rather than in memory: a run
//! of any length holds one point in memory, and its series costs disk (about 1.5 KB per second for
//! a gate of five names) until the run ends and the results take it.

use super::results::SeriesPoint;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

/// Points kept in memory when no temporary file could be made or written (one hour at one per
/// second); later points are then dropped, and [`Series::dropped`] counts them.
pub const MAX_IN_MEMORY: usize = 3600;

/// The series so far: JSON lines in a temporary file, with points in memory once the file failed.
pub struct Series {
    file: Option<BufWriter<File>>,
    on_disk: usize,
    memory: Vec<SeriesPoint>,
    dropped: usize,
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

/// A new file in the temporary directory, removed from the directory at once where the system
/// allows it (the open file lives on until it is closed), else when the series is dropped.
fn temp_file() -> std::io::Result<(File, std::path::PathBuf)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!(
        "perfgate-series-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let f = File::options().read(true).write(true).create_new(true).open(&path)?;
    Ok((f, path))
}

impl Series {
    /// An empty series, on disk when a temporary file can be made.
    pub fn new() -> Series {
        let file = temp_file().ok().and_then(|(f, path)| {
            // Unlinked now, so nothing is left behind whatever way the process ends.
            std::fs::remove_file(&path).ok().map(|_| BufWriter::new(f))
        });
        Series {
            file,
            on_disk: 0,
            memory: Vec::new(),
            dropped: 0,
        }
    }

    /// Appends one point (to memory when the file cannot take it).
    pub fn push(&mut self, p: &SeriesPoint) {
        if let Some(w) = &mut self.file {
            let ok = serde_json::to_writer(&mut *w, p).is_ok() && w.write_all(b"\n").is_ok();
            if ok {
                self.on_disk += 1;
                return;
            }
            // The disk is full or gone: keep what it has (read back whole lines) and go on in memory.
            if let Some(w) = self.file.take() {
                self.memory = read_back(w, self.on_disk).unwrap_or_default();
                self.on_disk = 0;
            }
        }
        if self.memory.len() < MAX_IN_MEMORY {
            self.memory.push(p.clone());
        } else {
            self.dropped += 1;
        }
    }

    /// Points appended so far (kept ones).
    pub fn len(&self) -> usize {
        self.on_disk + self.memory.len()
    }

    /// Whether no point was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Points dropped for lack of a file (none while the file works).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Every point kept, in order.
    pub fn points(&mut self) -> Vec<SeriesPoint> {
        let mut out = Vec::with_capacity(self.len());
        if let Some(w) = &mut self.file {
            match read_lines(w, self.on_disk) {
                Ok(v) => out = v,
                Err(_) => {
                    // Unreadable after all: what is in memory is what there is.
                    self.file = None;
                    self.on_disk = 0;
                }
            }
        }
        out.extend(self.memory.iter().cloned());
        out
    }

    /// Forgets every point.
    pub fn clear(&mut self) {
        if let Some(w) = &mut self.file {
            let ok = w.flush().is_ok() && w.get_mut().set_len(0).is_ok() && w.get_mut().rewind().is_ok();
            if !ok {
                self.file = None;
            }
        }
        self.on_disk = 0;
        self.memory.clear();
        self.dropped = 0;
    }
}

/// Reads the first `n` points of the file, leaving it positioned to append.
fn read_lines(w: &mut BufWriter<File>, n: usize) -> std::io::Result<Vec<SeriesPoint>> {
    w.flush()?;
    let f = w.get_mut();
    f.rewind()?;
    let mut out = Vec::with_capacity(n);
    let mut reader = BufReader::new(&mut *f);
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        match serde_json::from_str(&line) {
            Ok(p) => out.push(p),
            // A line the failed write tore: the points before it are whole.
            Err(_) => break,
        }
    }
    drop(reader);
    f.seek(SeekFrom::End(0))?;
    Ok(out)
}

fn read_back(mut w: BufWriter<File>, n: usize) -> std::io::Result<Vec<SeriesPoint>> {
    read_lines(&mut w, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64) -> SeriesPoint {
        SeriesPoint {
            t,
            dt: 1.0,
            requests: t as u64 * 10,
            p95_ms: t / 3.0,
            ..SeriesPoint::default()
        }
    }

    #[test]
    fn points_go_to_disk_and_come_back_whole_and_in_order() {
        let mut s = Series::new();
        assert!(s.file.is_some(), "the temporary directory takes a file");
        for t in 0..5000 {
            s.push(&point(t as f64 + 0.123));
        }
        assert!(s.memory.is_empty(), "nothing in memory while the file works");
        let back = s.points();
        assert_eq!(back.len(), 5000, "more than an hour is kept");
        assert_eq!(back[4999], point(4999.123));
        // Reading does not disturb appending.
        s.push(&point(9.0));
        assert_eq!(s.points().len(), 5001);
        s.clear();
        assert!(s.is_empty() && s.points().is_empty());
        s.push(&point(1.0));
        assert_eq!(s.points(), vec![point(1.0)]);
    }

    #[test]
    fn without_a_file_the_series_stays_in_memory_up_to_its_bound() {
        let mut s = Series {
            file: None,
            on_disk: 0,
            memory: Vec::new(),
            dropped: 0,
        };
        for t in 0..(MAX_IN_MEMORY + 5) {
            s.push(&point(t as f64));
        }
        assert_eq!((s.len(), s.dropped()), (MAX_IN_MEMORY, 5));
    }
}
