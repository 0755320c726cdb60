//! A content-addressed store of run results.
//!
//! Key: SHA-256 of the run's canonical JSON (every default filled in), the numerics version and
//! the backend. Entry: a directory `<root>/<key[..2]>/<key>/` holding `run.json` (what was
//! run), `result.json` (what came out) and `result.sha256` (the digest of `result.json`).
//! Writes go to a private temporary directory first and are moved into place with one
//! `rename`, so a reader never sees half an entry; an entry whose digest does not match is
//! reported, removed and recomputed, never used. Two writers of the same key both produce the
//! same bytes, so whichever rename lands first wins and the other is discarded.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

/// The hex SHA-256 of a fully resolved run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunKey(String);

impl RunKey {
    pub fn of<T: Serialize>(run: &T, numerics_version: u32, backend: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(canonical_json(run));
        hasher.update(b"\0numerics=");
        hasher.update(numerics_version.to_string());
        hasher.update(b"\0backend=");
        hasher.update(backend);
        Self(hex(&hasher.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// Struct fields serialise in declaration order and every map in this crate is a BTreeMap, so
/// serde_json's output is canonical for our types.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("run descriptions are plain data")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup<T> {
    Hit(T),
    Miss,
    /// The entry existed but failed its digest or could not be parsed; it has been removed.
    Corrupt {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn entry_dir(&self, key: &RunKey) -> PathBuf {
        self.root.join(&key.0[..2]).join(&key.0)
    }

    pub fn lookup<T: DeserializeOwned>(&self, key: &RunKey) -> Lookup<T> {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Lookup::Miss;
        }
        match read_verified(&dir) {
            Ok(value) => Lookup::Hit(value),
            Err(reason) => {
                // Never use it; remove it so that the recomputed entry can take its place.
                let _ = fs::remove_dir_all(&dir);
                Lookup::Corrupt { reason }
            }
        }
    }

    /// Stores a result atomically. Returns the entry's directory.
    pub fn store<R: Serialize, T: Serialize>(&self, key: &RunKey, run: &R, result: &T) -> std::io::Result<PathBuf> {
        let dest = self.entry_dir(key);
        let parent = dest.parent().expect("entry dirs have a parent");
        fs::create_dir_all(parent)?;
        let tmp_root = self.root.join("tmp");
        fs::create_dir_all(&tmp_root)?;
        let tmp = tempfile::Builder::new().prefix(key.short()).tempdir_in(&tmp_root)?;
        let result_bytes = serde_json::to_vec_pretty(result).map_err(std::io::Error::other)?;
        fs::write(
            tmp.path().join("run.json"),
            serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?,
        )?;
        fs::write(tmp.path().join("result.json"), &result_bytes)?;
        fs::write(tmp.path().join("result.sha256"), sha256_hex(&result_bytes))?;
        let tmp_path = tmp.keep();
        match fs::rename(&tmp_path, &dest) {
            Ok(()) => Ok(dest),
            // Another writer got there first with the same content; ours is redundant.
            Err(_) if dest.exists() => {
                let _ = fs::remove_dir_all(&tmp_path);
                Ok(dest)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp_path);
                Err(e)
            }
        }
    }

    /// Every entry key in the store.
    pub fn keys(&self) -> Vec<RunKey> {
        let mut keys = Vec::new();
        let Ok(shards) = fs::read_dir(&self.root) else {
            return keys;
        };
        for shard in shards.flatten() {
            let name = shard.file_name().to_string_lossy().into_owned();
            if name.len() != 2 {
                continue;
            }
            for entry in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                let key = entry.file_name().to_string_lossy().into_owned();
                if key.len() == 64 && key.starts_with(&name) {
                    keys.push(RunKey(key));
                }
            }
        }
        keys.sort();
        keys
    }

    pub fn remove(&self, key: &RunKey) -> std::io::Result<()> {
        fs::remove_dir_all(self.entry_dir(key))
    }
}

fn read_verified<T: DeserializeOwned>(dir: &Path) -> Result<T, String> {
    let bytes = fs::read(dir.join("result.json")).map_err(|e| format!("result.json unreadable: {e}"))?;
    let digest = fs::read_to_string(dir.join("result.sha256")).map_err(|e| format!("digest unreadable: {e}"))?;
    if digest.trim() != sha256_hex(&bytes) {
        return Err("result.json does not match its digest".into());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("result.json does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&("run", 1), 1, "flex");
        assert!(matches!(cache.lookup::<Vec<f64>>(&key), Lookup::Miss));
        cache.store(&key, &("run", 1), &vec![1.5, 2.5]).unwrap();
        match cache.lookup::<Vec<f64>>(&key) {
            Lookup::Hit(v) => assert_eq!(v, vec![1.5, 2.5]),
            other => panic!("{other:?}"),
        }
        assert_eq!(cache.keys(), vec![key]);
    }

    #[test]
    fn a_tampered_entry_is_reported_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&"x", 1, "flex");
        let entry = cache.store(&key, &"x", &vec![1.0]).unwrap();
        fs::write(entry.join("result.json"), b"[2.0]").unwrap();
        assert!(matches!(cache.lookup::<Vec<f64>>(&key), Lookup::Corrupt { .. }));
        assert!(!entry.exists());
        assert!(matches!(cache.lookup::<Vec<f64>>(&key), Lookup::Miss));
    }

    #[test]
    fn a_half_written_entry_is_never_valid() {
        // An entry with its result but no digest (a writer killed between two writes of a
        // non-atomic scheme) must not be read as valid.
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&"y", 1, "flex");
        let entry = cache.entry_dir(&key);
        fs::create_dir_all(&entry).unwrap();
        fs::write(entry.join("result.json"), b"[1.0]").unwrap();
        assert!(matches!(cache.lookup::<Vec<f64>>(&key), Lookup::Corrupt { .. }));
    }

    #[test]
    fn keys_depend_on_run_numerics_and_backend() {
        let a = RunKey::of(&1, 1, "flex");
        assert_eq!(a, RunKey::of(&1, 1, "flex"));
        assert_ne!(a, RunKey::of(&2, 1, "flex"));
        assert_ne!(a, RunKey::of(&1, 2, "flex"));
        assert_ne!(a, RunKey::of(&1, 1, "wgpu"));
    }
}
