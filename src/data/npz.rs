//! NumPy `.npz` archives (zip, stored or deflated) of `.npy` arrays: enough to import trained
//! networks such as the Krause et al. RNNs. Reads the zip central directory, so streamed
//! archives (sizes in data descriptors, zip64 local extras) work too.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::npy::{NpyArray, parse_npy};

#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("{path}: cannot read: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Writes `arrays` (name without `.npy`, shape, C-ordered values) as an uncompressed `.npz`,
/// which NumPy's `np.load` reads: a network trained here, or a fixture a test writes.
pub fn write_npz(path: &Path, arrays: &[(&str, &[usize], &[f64])]) -> std::io::Result<()> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, shape, values) in arrays {
        let data = super::npy::npy_bytes_f64(shape, values);
        let file_name = format!("{name}.npy");
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let offset = out.len() as u32;
        // Local header: version 2.0, no flags, stored, no timestamp.
        let fixed = |signature: u32, buffer: &mut Vec<u8>| {
            buffer.extend(signature.to_le_bytes());
        };
        fixed(0x0403_4b50, &mut out);
        for field in [20u16, 0, 0, 0, 0] {
            out.extend(field.to_le_bytes());
        }
        for field in [crc.sum(), data.len() as u32, data.len() as u32] {
            out.extend(field.to_le_bytes());
        }
        out.extend((file_name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(file_name.as_bytes());
        out.extend(&data);
        // Its central-directory record.
        fixed(0x0201_4b50, &mut central);
        for field in [20u16, 20, 0, 0, 0, 0] {
            central.extend(field.to_le_bytes());
        }
        for field in [crc.sum(), data.len() as u32, data.len() as u32] {
            central.extend(field.to_le_bytes());
        }
        for field in [file_name.len() as u16, 0, 0, 0, 0] {
            central.extend(field.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(file_name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for field in [0u16, 0, arrays.len() as u16, arrays.len() as u16] {
        out.extend(field.to_le_bytes());
    }
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    crate::fsutil::write_atomic(path, &out)
}

/// Every array in the archive, by name (without the `.npy` suffix).
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, NpyArray>, NpzError> {
    let bytes = std::fs::read(path).map_err(|source| NpzError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    parse_npz(&bytes).map_err(|message| NpzError::Format {
        path: path.to_owned(),
        message,
    })
}

pub fn parse_npz(bytes: &[u8]) -> Result<BTreeMap<String, NpyArray>, String> {
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip archive (no end-of-central-directory record)")?;
    let entries = u16_at(bytes, eocd + 10).ok_or("truncated")?;
    let mut at = u32_at(bytes, eocd + 16).ok_or("truncated")?;
    let mut arrays = BTreeMap::new();
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(&[0x50, 0x4b, 0x01, 0x02]) {
            return Err("corrupt central directory".into());
        }
        let method = u16_at(bytes, at + 10).ok_or("truncated")?;
        let compressed = u32_at(bytes, at + 20).ok_or("truncated")?;
        let name_len = u16_at(bytes, at + 28).ok_or("truncated")?;
        let extra_len = u16_at(bytes, at + 30).ok_or("truncated")?;
        let comment_len = u16_at(bytes, at + 32).ok_or("truncated")?;
        let local = u32_at(bytes, at + 42).ok_or("truncated")?;
        let name = String::from_utf8_lossy(bytes.get(at + 46..at + 46 + name_len).ok_or("truncated")?).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if compressed == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
            return Err(format!("{name}: zip64 sizes are not supported"));
        }
        let data_start = local
            + 30
            + u16_at(bytes, local + 26).ok_or("truncated")?
            + u16_at(bytes, local + 28).ok_or("truncated")?;
        let data = bytes
            .get(data_start..data_start + compressed)
            .ok_or_else(|| format!("{name}: truncated data"))?;
        let raw = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{name}: {e}"))?;
                out
            }
            other => return Err(format!("{name}: unsupported compression method {other}")),
        };
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        arrays.insert(key, parse_npy(&raw).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok(arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_archive_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let w = [0.5, -1.25, 3.0, f64::MIN_POSITIVE];
        write_npz(&path, &[("net01_W", &[2, 2], &w), ("net01_b_z", &[1], &[0.0])]).unwrap();
        let arrays = read_npz(&path).unwrap();
        assert_eq!(arrays["net01_W"].shape, vec![2, 2]);
        assert_eq!(arrays["net01_W"].values, w.to_vec());
        assert_eq!(arrays["net01_b_z"].values, vec![0.0]);
    }

    #[test]
    fn reads_the_published_krause_networks_when_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/krause2022/sine_wave_final.npz");
        if !path.is_file() {
            eprintln!("skipped: {} is absent", path.display());
            return;
        }
        let arrays = read_npz(&path).unwrap();
        assert_eq!(arrays.len(), 120);
        assert_eq!(arrays["net01_W"].shape, vec![100, 100]);
        assert_eq!(arrays["net20_B"].shape, vec![100, 1]);
        assert_eq!(arrays["net05_w_out"].shape, vec![1, 100]);
    }

    /// A stored (uncompressed) zip with the given entries, as `np.savez` writes.
    fn stored_zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for (name, data) in entries {
            let offset = out.len() as u32;
            let size = data.len() as u32;
            let mut local = vec![0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            local.extend(size.to_le_bytes());
            local.extend(size.to_le_bytes());
            local.extend((name.len() as u16).to_le_bytes());
            local.extend(0u16.to_le_bytes());
            out.extend(local);
            out.extend(name.as_bytes());
            out.extend(data);
            let mut entry = vec![0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            entry.extend(size.to_le_bytes());
            entry.extend(size.to_le_bytes());
            entry.extend((name.len() as u16).to_le_bytes());
            entry.extend([0u8; 12]);
            entry.extend(offset.to_le_bytes());
            entry.extend(name.as_bytes());
            central.extend(entry);
        }
        let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
        out.extend(central);
        out.extend([0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        out.extend(cd_size.to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_a_stored_archive_the_test_writes() {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("a.npy");
        crate::data::npy::write_npy_i64(&npy, &[2, 2], &[1, 2, 3, 4]).unwrap();
        let zip = stored_zip(&[
            ("net01_W.npy", std::fs::read(&npy).unwrap()),
            ("net01_b_z.npy", std::fs::read(&npy).unwrap()),
        ]);
        let arrays = parse_npz(&zip).unwrap();
        assert_eq!(arrays.keys().collect::<Vec<_>>(), ["net01_W", "net01_b_z"]);
        assert_eq!(arrays["net01_W"].values, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn rejects_non_zip_bytes() {
        assert!(
            parse_npz(b"plainly not a zip archive at all")
                .unwrap_err()
                .contains("not a zip")
        );
    }

    /// Mutation fuzzing (issue 9 §6: the hand-written reader stays, so it is fuzzed): 4,000
    /// seeded mutations of valid archives — bytes flipped, runs overwritten, cut short, bytes
    /// inserted, length fields set to extremes — must each give `Ok` or an error, never a
    /// panic (a panic fails this test; a huge allocation would abort it).
    #[test]
    fn mutated_archives_give_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("w.npz");
        write_npz(
            &written,
            &[
                ("net01_W", &[3, 2], &[0.5, -1.0, 2.0, 0.0, 1e-3, 7.0]),
                ("net01_b_z", &[1], &[1.0]),
            ],
        )
        .unwrap();
        let npy = dir.path().join("a.npy");
        crate::data::npy::write_npy_i64(&npy, &[2, 2], &[1, 2, 3, 4]).unwrap();
        let seeds = [
            std::fs::read(&written).unwrap(),
            stored_zip(&[("net01_W.npy", std::fs::read(&npy).unwrap())]),
            std::fs::read(&npy).unwrap(),
        ];
        let mut rng = crate::rng::SplitMix64::new(2026);
        let mut outcomes = [0usize; 2];
        for round in 0..4000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            let pick = |rng: &mut crate::rng::SplitMix64, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
            for _ in 0..1 + pick(&mut rng, 4) {
                let at = pick(&mut rng, bytes.len());
                match pick(&mut rng, 5) {
                    0 => bytes[at] ^= 1 << pick(&mut rng, 8),
                    1 => bytes[at] = rng.next_u64() as u8,
                    2 => bytes.truncate(at),
                    3 => bytes.insert(at, rng.next_u64() as u8),
                    _ => {
                        // A 16- or 32-bit field set to 0 or its maximum.
                        let value = if rng.next_u64().is_multiple_of(2) { 0u8 } else { 0xff };
                        for b in bytes.iter_mut().skip(at).take(2 + 2 * pick(&mut rng, 2)) {
                            *b = value;
                        }
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let zip = std::panic::catch_unwind(|| parse_npz(&bytes).is_ok());
            let npy = std::panic::catch_unwind(|| crate::data::npy::parse_npy(&bytes).is_ok());
            match (zip, npy) {
                (Ok(a), Ok(b)) => outcomes[usize::from(a || b)] += 1,
                _ => panic!("round {round}: a reader panicked on {} bytes", bytes.len()),
            }
        }
        // Most mutations break the archive; the test is only meaningful if some do not.
        assert!(outcomes[0] > 1000 && outcomes[1] > 10, "{outcomes:?}");
    }
}
