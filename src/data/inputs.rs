//! Input data fingerprinted in a step before planning. A kind names the files it reads
//! (`Kind::inputs`); `plan::expand` fingerprints them once per sweep point and hands the digests
//! to `Kind::runs`, which puts them in the recipes (the cache keys) and reads no file itself. So
//! planning is a pure function of the spec and the digests, moving a file keeps its cached runs,
//! and changing its content retrains every run that reads it.

use std::collections::BTreeMap;

/// A data set a kind reads, by where the spec says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataInput {
    /// MNIST in a directory (`mnist.pkl.gz` or the IDX files): fingerprinted by its content as
    /// loaded, so the pickle and an IDX copy of the same images key alike only if equal.
    Mnist(String),
    /// Any file, fingerprinted by the SHA-256 of its bytes.
    File(String),
}

impl DataInput {
    fn path(&self) -> &str {
        match self {
            DataInput::Mnist(path) | DataInput::File(path) => path,
        }
    }

    /// The input's digest; `None` if it cannot be read (the kind then reports it as missing
    /// through `Kind::unavailable` and plans no run on it).
    fn digest(&self) -> Option<String> {
        match self {
            DataInput::Mnist(dir) => crate::data::mnist_cache::load(std::path::Path::new(dir))
                .ok()
                .map(|loaded| loaded.fingerprint.clone()),
            DataInput::File(path) => std::fs::read(path).ok().map(|bytes| crate::cache::sha256_hex(&bytes)),
        }
    }
}

/// The digests of a kind's inputs, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputDigests(BTreeMap<String, String>);

impl InputDigests {
    /// Reads and fingerprints every input that can be read.
    pub fn of(inputs: &[DataInput]) -> InputDigests {
        let mut digests = InputDigests::default();
        digests.read(inputs);
        digests
    }

    /// Adds the digests of the inputs not read yet (sweep points of one spec mostly share
    /// their data: each file is read once).
    pub fn read(&mut self, inputs: &[DataInput]) {
        for input in inputs {
            if !self.0.contains_key(input.path())
                && let Some(digest) = input.digest()
            {
                self.0.insert(input.path().to_string(), digest);
            }
        }
    }

    /// The digest of the input at `path`, if it was read.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    /// Digests given directly (tests).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> InputDigests {
        InputDigests(pairs.into_iter().map(|(p, d)| (p.to_string(), d.to_string())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_fingerprinted_by_its_bytes_and_a_missing_one_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nets.npz");
        std::fs::write(&path, b"abc").unwrap();
        let path = path.to_str().unwrap().to_string();
        let missing = dir.path().join("absent.npz").to_str().unwrap().to_string();
        let digests = InputDigests::of(&[DataInput::File(path.clone()), DataInput::File(missing.clone())]);
        assert_eq!(
            digests.get(&path),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(digests.get(&missing), None);
    }

    #[test]
    fn an_input_read_once_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nets.npz");
        std::fs::write(&path, b"abc").unwrap();
        let input = [DataInput::File(path.to_str().unwrap().to_string())];
        let mut digests = InputDigests::of(&input);
        let first = digests.clone();
        // Gone from disk: a second sweep point still finds the digest the first one read.
        std::fs::remove_file(&path).unwrap();
        digests.read(&input);
        assert_eq!(digests, first);
    }
}
