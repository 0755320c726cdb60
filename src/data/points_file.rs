//! Reads a researcher's source samples from CSV: a header row naming the sources, then one
//! row per sample, one numeric column per source.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct SourceSamples {
    pub names: Vec<String>,
    /// samples[n][i]: sample n of source i.
    pub samples: Vec<Vec<f64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PointsFileError {
    #[error("{path}: cannot read the file: {source} (fix: check the path and its permissions)")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Malformed { path: PathBuf, line: u64, message: String },
    #[error("{path}: {message}")]
    Shape { path: PathBuf, message: String },
}

pub fn read_source_samples(path: &Path) -> Result<SourceSamples, PointsFileError> {
    let file = std::fs::File::open(path).map_err(|source| PointsFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let malformed = |line: u64, message: String| PointsFileError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(1, format!("cannot read the header row: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if names.is_empty() || names.iter().all(String::is_empty) {
        return Err(PointsFileError::Shape {
            path: path.to_owned(),
            message: "no header row (fix: the first line names the sources, e.g. `s1,s2`)".into(),
        });
    }
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        return Err(PointsFileError::Shape {
            path: path.to_owned(),
            message: format!(
                "the first row ({}) holds numbers, not source names (fix: add a header row naming the sources, e.g. `s1,s2`)",
                names.join(",")
            ),
        });
    }
    let mut samples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            malformed(
                line,
                format!("{e} (fix: every row has one value per source named in the header)"),
            )
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let row = record
            .iter()
            .enumerate()
            .map(|(col, field)| {
                // Squares of the values enter the condition: beyond 1e100 they overflow.
                field.parse::<f64>().ok().filter(|v| v.is_finite() && v.abs() <= 1e100).ok_or_else(|| {
                    malformed(
                        line,
                        format!(
                            "column {} (`{}`): `{field}` is not a finite number of magnitude at most 1e100 (fix: rescale the column; the condition does not depend on scale)",
                            col + 1,
                            names[col]
                        ),
                    )
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        samples.push(row);
    }
    if samples.len() < 2 {
        return Err(PointsFileError::Shape {
            path: path.to_owned(),
            message: format!("{} sample(s); the condition needs at least 2", samples.len()),
        });
    }
    Ok(SourceSamples { names, samples })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_header_and_rows() {
        let f = write("a,b\n0.1,0.2\n0.3, 0.4\n");
        let s = read_source_samples(f.path()).unwrap();
        assert_eq!(s.names, ["a", "b"]);
        assert_eq!(s.samples, vec![vec![0.1, 0.2], vec![0.3, 0.4]]);
    }

    #[test]
    fn a_non_number_names_line_and_column() {
        let f = write("a,b\n0.1,0.2\n0.3,oops\n");
        let e = read_source_samples(f.path()).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("column 2") && e.contains("oops"), "{e}");
    }

    #[test]
    fn a_short_row_is_reported_with_its_line() {
        let f = write("a,b\n0.1,0.2\n0.3\n");
        let e = read_source_samples(f.path()).unwrap_err().to_string();
        assert!(e.contains(":3:"), "{e}");
    }

    #[test]
    fn a_missing_file_says_so() {
        let e = read_source_samples(Path::new("/nonexistent/points.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/points.csv") && e.contains("cannot read"),
            "{e}"
        );
    }
}
