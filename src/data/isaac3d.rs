//! A loader for the Isaac3D data set (Nie et al. 2021): 9 discrete factors of variation,
//! 128×128 RGB renderings. It cannot be downloaded here; a user points a spec at a copy.
//!
//! Expected layout of `dir`:
//! - `labels.npy`: an integer array of shape (N, 9), one row of factor indices per image, in
//!   the order of [`FACTORS`];
//! - `images/000000.png` … : image i as a 6-digit zero-padded PNG (RGB or RGBA, 8-bit).

use std::path::{Path, PathBuf};

use super::npy::read_npy;

/// The factors, in label-column order, with their number of values.
pub const FACTORS: [(&str, usize); 9] = [
    ("object_shape", 3),
    ("robot_x", 8),
    ("robot_y", 5),
    ("camera_height", 4),
    ("object_scale", 4),
    ("lighting_intensity", 4),
    ("lighting_y_dir", 6),
    ("object_color", 4),
    ("wall_color", 4),
];

#[derive(Debug, thiserror::Error)]
pub enum Isaac3dError {
    #[error(
        "Isaac3D data missing: {0} not found (fix: put the data set there — `labels.npy` of shape (N, 9) and `images/000000.png`, … — or set `data_dir` in the spec)"
    )]
    Missing(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone)]
pub struct Isaac3d {
    pub dir: PathBuf,
    /// labels[n][f]: value index of factor f in image n.
    pub labels: Vec<[u32; 9]>,
}

/// An RGB image with channels in [0, 1], row-major, `height × width × 3`.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

pub fn labels_path(dir: &Path) -> PathBuf {
    dir.join("labels.npy")
}

pub fn image_path(dir: &Path, index: usize) -> PathBuf {
    dir.join("images").join(format!("{index:06}.png"))
}

impl Isaac3d {
    /// Reads and checks the labels; images are read on demand.
    pub fn open(dir: &Path) -> Result<Self, Isaac3dError> {
        let labels_file = labels_path(dir);
        if !labels_file.is_file() {
            return Err(Isaac3dError::Missing(labels_file));
        }
        let invalid = |message: String| Isaac3dError::Invalid {
            path: labels_file.clone(),
            message,
        };
        let array = read_npy(&labels_file).map_err(|e| invalid(e.to_string()))?;
        if array.shape.len() != 2 || array.shape[1] != FACTORS.len() {
            return Err(invalid(format!("labels have shape {:?}; expected (N, 9)", array.shape)));
        }
        let mut labels = Vec::with_capacity(array.shape[0]);
        for (n, row) in array.values.chunks_exact(FACTORS.len()).enumerate() {
            let mut label = [0u32; 9];
            for (f, (&value, (name, count))) in row.iter().zip(FACTORS).enumerate() {
                if value < 0.0 || value.fract() != 0.0 || value as usize >= count {
                    return Err(invalid(format!(
                        "row {n}: {name} = {value}, expected an integer in 0..{count}"
                    )));
                }
                label[f] = value as u32;
            }
            labels.push(label);
        }
        if !image_path(dir, 0).is_file() {
            return Err(Isaac3dError::Missing(image_path(dir, 0)));
        }
        Ok(Self {
            dir: dir.to_owned(),
            labels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, index: usize) -> Result<Image, Isaac3dError> {
        let path = image_path(&self.dir, index);
        let invalid = |message: String| Isaac3dError::Invalid {
            path: path.clone(),
            message,
        };
        let file = std::fs::File::open(&path).map_err(|e| invalid(format!("cannot read: {e}")))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .map_err(|e| invalid(e.to_string()))?;
        let mut buffer = vec![
            0;
            reader
                .output_buffer_size()
                .ok_or_else(|| invalid("image too large".into()))?
        ];
        let frame = reader.next_frame(&mut buffer).map_err(|e| invalid(e.to_string()))?;
        if frame.bit_depth != png::BitDepth::Eight {
            return Err(invalid(format!(
                "{:?}-bit images are not supported; expected 8-bit",
                frame.bit_depth
            )));
        }
        let channels = match frame.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => return Err(invalid(format!("{other:?} images are not supported; expected RGB"))),
        };
        let (width, height) = (frame.width as usize, frame.height as usize);
        let pixels = buffer[..width * height * channels]
            .chunks_exact(channels)
            .flat_map(|px| px[..3].iter().map(|&c| c as f32 / 255.0))
            .collect();
        Ok(Image { width, height, pixels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::npy::write_npy_i64;

    fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header().unwrap().write_image_data(rgb).unwrap();
    }

    #[test]
    fn reads_a_tiny_data_set_in_the_expected_layout() {
        let dir = tempfile::tempdir().unwrap();
        write_npy_i64(
            &labels_path(dir.path()),
            &[2, 9],
            &[0, 1, 2, 3, 0, 1, 5, 3, 2, 2, 7, 4, 0, 3, 3, 0, 0, 0],
        )
        .unwrap();
        write_png(&image_path(dir.path(), 0), 2, 1, &[255, 0, 0, 0, 0, 255]);
        write_png(&image_path(dir.path(), 1), 2, 1, &[0, 255, 0, 51, 51, 51]);
        let data = Isaac3d::open(dir.path()).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.labels[1], [2, 7, 4, 0, 3, 3, 0, 0, 0]);
        let image = data.image(1).unwrap();
        assert_eq!((image.width, image.height), (2, 1));
        assert_eq!(image.pixels, vec![0.0, 1.0, 0.0, 0.2, 0.2, 0.2]);
    }

    #[test]
    fn missing_data_says_where_to_put_it() {
        let dir = tempfile::tempdir().unwrap();
        let message = Isaac3d::open(&dir.path().join("isaac3d")).unwrap_err().to_string();
        assert!(
            message.contains("data missing") && message.contains("labels.npy"),
            "{message}"
        );
    }

    #[test]
    fn labels_out_of_range_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_npy_i64(&labels_path(dir.path()), &[1, 9], &[3, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let message = Isaac3d::open(dir.path()).unwrap_err().to_string();
        assert!(message.contains("object_shape = 3"), "{message}");
    }
}
