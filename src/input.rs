//! Input files read whole (gates, data, results, imports, event files) are read with a size limit:
//! a device (`/dev/zero`), an endless pipe or a file far beyond any real one of its kind ends in a
//! clear error instead of the memory running out.

use std::io::Read;
use std::path::Path;

/// Most bytes of a gate file (one of 100,000 tasks is about 2 MiB).
pub const GATE_MAX: u64 = 16 << 20;
/// Most bytes of a scenario's CSV data file.
pub const DATA_MAX: u64 = 256 << 20;
/// Most bytes of a results file (a two-hour run of 2,000 request names is about 60 MiB).
pub const RESULTS_MAX: u64 = 256 << 20;
/// Most bytes of a file to import (an OpenAPI description, a locustfile, a HAR recording).
pub const IMPORT_MAX: u64 = 256 << 20;
/// Most bytes of a GitHub event or pull-request file.
pub const EVENT_MAX: u64 = 16 << 20;

/// The error for input beyond `max` bytes.
pub fn too_big(max: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "it is larger than {} MiB, far beyond any real one (a device or an endless pipe?)",
            max >> 20
        ),
    )
}

/// Everything `r` gives, or [`too_big`] once it passes `max` bytes.
pub fn read_capped(r: impl Read, max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_big(max));
    }
    Ok(out)
}

/// The file at `path`, at most `max` bytes (a regular file is refused by its size before reading).
pub fn read_file(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    if f.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(too_big(max));
    }
    read_capped(f, max)
}

/// [`read_file`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_file(path, max)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_beyond_it() {
        assert_eq!(read_capped(&b"abcd"[..], 4).unwrap(), b"abcd");
        let e = read_capped(&b"abcde"[..], 4).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        // An endless source stops at the limit.
        let e = read_capped(std::io::repeat(0), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
    }

    #[test]
    fn a_device_and_a_large_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("perfgate-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 2 << 20]).unwrap();
        assert!(read_file(&big, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("larger than 1 MiB"));
        assert_eq!(read_file(&big, 4 << 20).unwrap().len(), 2 << 20);
        if Path::new("/dev/zero").exists() {
            assert!(read_text(Path::new("/dev/zero"), 1 << 20).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
