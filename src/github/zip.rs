//! Just enough of the ZIP format to take one file out of a GitHub Actions artifact: the central
//! directory (artifacts are written with data descriptors, so the local headers carry no sizes),
//! stored or deflated entries, CRC-32 checked.

use std::io::Read;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The names of the archive's entries, in order.
pub fn names(zip: &[u8]) -> Result<Vec<String>, String> {
    Ok(entries(zip)?.into_iter().map(|e| e.name).collect())
}

/// The bytes of the entry called `name` (at the archive's root or in any folder: the last path
/// component is compared), or None when there is none.
pub fn extract(zip: &[u8], name: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(e) = entries(zip)?
        .into_iter()
        .find(|e| e.name == name || e.name.rsplit('/').next() == Some(name))
    else {
        return Ok(None);
    };
    let bad = |what: &str| format!("the artifact's zip is damaged: {what} of {}", e.name);
    let local = e.local_offset as usize;
    if u32_at(zip, local) != Some(0x0403_4b50) {
        return Err(bad("no local header"));
    }
    let name_len = u16_at(zip, local + 26).ok_or_else(|| bad("a short local header"))? as usize;
    let extra_len = u16_at(zip, local + 28).ok_or_else(|| bad("a short local header"))? as usize;
    let start = local + 30 + name_len + extra_len;
    let data = zip
        .get(start..start + e.compressed as usize)
        .ok_or_else(|| bad("data past the end"))?;
    let out = match e.method {
        0 => data.to_vec(),
        8 => {
            // The header's size is the archive's claim: no more is reserved up front than 64 MiB.
            let mut out = Vec::with_capacity((e.size as usize).min(64 << 20));
            flate2::read::DeflateDecoder::new(data)
                .take(e.size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|err| bad(&format!("deflate ({err})")))?;
            out
        }
        m => {
            return Err(format!(
                "{} is compressed with method {m}, which perfgate cannot read",
                e.name
            ))
        }
    };
    if out.len() != e.size as usize {
        return Err(bad("the size"));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != e.crc {
        return Err(bad("the CRC-32"));
    }
    Ok(Some(out))
}

struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    local_offset: u32,
}

fn entries(zip: &[u8]) -> Result<Vec<Entry>, String> {
    // The end-of-central-directory record: the last signature within 64 KiB + 22 bytes of the end.
    let min = zip.len().saturating_sub(22 + 65_535);
    let eocd = (min..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(zip, i) == Some(0x0605_4b50))
        .ok_or("not a zip file (no end of central directory)")?;
    let count = u16_at(zip, eocd + 10).ok_or("a short zip directory")? as usize;
    let mut at = u32_at(zip, eocd + 16).ok_or("a short zip directory")? as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(zip, at) != Some(0x0201_4b50) {
            return Err("the zip's central directory is damaged".into());
        }
        let field = |off: usize| u32_at(zip, at + off).ok_or("a short zip directory entry");
        let short = |off: usize| u16_at(zip, at + off).ok_or("a short zip directory entry");
        let (name_len, extra_len, comment_len) = (short(28)? as usize, short(30)? as usize, short(32)? as usize);
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .ok_or("a short zip directory entry")?;
        out.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            method: short(10)?,
            crc: field(16)?,
            compressed: field(20)?,
            size: field(24)?,
            local_offset: field(42)?,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// A zip archive of `files`, deflated, with data descriptors like GitHub's artifacts (for tests).
pub fn write(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).expect("in memory");
        let packed = enc.finish().expect("in memory");
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let n = name.len() as u16;
        // Local header with flag bit 3: sizes and CRC follow the data.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 8, 0, 8, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 8, 0, 8, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.sum().to_le_bytes());
        central.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let cd_len = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_wrote_and_checks_the_crc() {
        let results = br#"{"schema": "perfgate.results"}"#.repeat(50);
        let zip = write(&[("junit.xml", b"<x/>"), ("results.json", &results)]);
        assert_eq!(names(&zip).unwrap(), ["junit.xml", "results.json"]);
        assert_eq!(extract(&zip, "results.json").unwrap().unwrap(), results);
        assert_eq!(extract(&zip, "nope.json").unwrap(), None);
        assert!(names(b"not a zip at all").is_err());
        // A flipped byte inside the deflated data of results.json fails the CRC or the inflate.
        let mut flipped = zip.clone();
        let local = flipped.windows(12).position(|w| w == b"results.json").unwrap();
        flipped[local + 12 + 5] ^= 0x55;
        assert!(extract(&flipped, "results.json").is_err());
    }
}
