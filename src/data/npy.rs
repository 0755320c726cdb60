//! A reader for NumPy `.npy` files holding one C-ordered integer or float array — enough for
//! data sets that ship their labels that way (Isaac3D's `labels.npy`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    /// Values in C order, widened to f64 (labels and small floats are exact).
    pub values: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: cannot read: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a .npy file we can read: {message}")]
    Format { path: PathBuf, message: String },
}

pub fn read_npy(path: &Path) -> Result<NpyArray, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    parse_npy(&bytes).map_err(|message| NpyError::Format {
        path: path.to_owned(),
        message,
    })
}

fn field<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let start = header
        .find(&format!("'{key}'"))
        .ok_or(format!("header has no '{key}'"))?;
    let rest = &header[start + key.len() + 2..];
    let colon = rest.find(':').ok_or("malformed header")?;
    Ok(rest[colon + 1..].trim_start())
}

pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported format version {v}")),
    };
    let data_start = header_start + header_len;
    let header = std::str::from_utf8(bytes.get(header_start..data_start).ok_or("truncated header")?)
        .map_err(|_| "header is not text")?;
    let descr = field(header, "descr")?;
    let descr = descr
        .trim_start_matches(['\'', '"'])
        .split(['\'', '"'])
        .next()
        .unwrap_or_default()
        .to_string();
    let fortran = field(header, "fortran_order")?.starts_with("True");
    let shape_text = field(header, "shape")?;
    let shape_text = &shape_text[1..shape_text.find(')').ok_or("malformed shape")?];
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad dimension `{s}`")))
        .collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[data_start..];
    let (width, decode): (usize, fn(&[u8]) -> f64) = match descr.as_str() {
        "|u1" | "<u1" => (1, |b| b[0] as f64),
        "|i1" | "<i1" => (1, |b| b[0] as i8 as f64),
        "<u2" => (2, |b| u16::from_le_bytes([b[0], b[1]]) as f64),
        "<i2" => (2, |b| i16::from_le_bytes([b[0], b[1]]) as f64),
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64),
        "<u4" => (4, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as f64),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64),
        "<u8" => (8, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as f64),
        "<f4" => (4, |b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        other => return Err(format!("unsupported dtype `{other}`")),
    };
    if data.len() < count * width {
        return Err(format!("{} data bytes for {count} values of {width} bytes", data.len()));
    }
    let values: Vec<f64> = data[..count * width].chunks_exact(width).map(decode).collect();
    let values = if fortran { fortran_to_c(&values, &shape) } else { values };
    Ok(NpyArray { shape, values })
}

/// Reorders column-major (Fortran) values into row-major (C) order.
fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    let mut index = vec![0usize; shape.len()];
    for slot in out.iter_mut() {
        // `index` runs through C order; its Fortran offset has the first axis fastest.
        let mut offset = 0;
        for d in (0..shape.len()).rev() {
            offset = offset * shape[d] + index[d];
        }
        *slot = values[offset];
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// A C-ordered `<f8` array as `.npy` bytes.
pub fn npy_bytes_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let mut bytes = npy_header("<f8", shape);
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    bytes
}

/// The `.npy` magic, version 1.0 and a header padded so that the data starts on a 64-byte
/// boundary, ending with a newline.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes
}

/// Writes a C-ordered `<i8` array (for tests and tools that make small fixtures).
pub fn write_npy_i64(path: &Path, shape: &[usize], values: &[i64]) -> std::io::Result<()> {
    let mut bytes = npy_header("<i8", shape);
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    crate::fsutil::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_an_integer_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write_npy_i64(&path, &[2, 3], &[1, 2, 3, 4, 5, -6]).unwrap();
        let a = read_npy(&path).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.0]);
    }

    #[test]
    fn parses_a_numpy_written_uint8_header() {
        // Bytes as numpy 1.x writes np.array([[7, 8]], dtype=np.uint8).
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }".to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        bytes.extend([7u8, 8]);
        assert_eq!(
            parse_npy(&bytes).unwrap(),
            NpyArray {
                shape: vec![1, 2],
                values: vec![7.0, 8.0]
            }
        );
    }

    #[test]
    fn fortran_order_is_reordered_to_c_order() {
        // [[1, 2, 3], [4, 5, 6]] stored column-major is 1 4 2 5 3 6.
        assert_eq!(
            fortran_to_c(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], &[2, 3]),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse_npy(b"not numpy at all").unwrap_err().contains("magic"));
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }\n";
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        assert!(parse_npy(&bytes).unwrap_err().contains("dtype"));
    }
}
