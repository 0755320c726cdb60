//! A content-addressed store of run results.
//!
//! Key: SHA-256 of the run's canonical JSON (every default filled in), the numerics version and
//! the backend. Entry: a directory `<root>/<key[..2]>/<key>/` holding `run.json` (what was
//! run), `result.json` (what came out) and `result.sha256`: `v2 ` and the digest of the key,
//! `run.json` and `result.json` together, so an entry is bound to its run — a `result.json`
//! and digest copied in from another entry, or a changed `run.json`, fail the check. A lookup
//! also checks that `run.json` is the run being looked up. (Entries written before v2 hold the
//! digest of `result.json` alone; they are checked that way and their `run.json` against the
//! run, then upgraded to v2 in place.)
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

    /// The entry of `key`, checked against `run` (the recipe the key was computed from).
    pub fn lookup<R: Serialize, T: DeserializeOwned>(&self, key: &RunKey, run: &R) -> Lookup<T> {
        let dir = self.entry_dir(key);
        // A file where the prefix directory or the entry belongs (a copy gone wrong): remove it
        // so that the entry can be written, and say so.
        for path in [dir.parent().expect("entry dirs have a parent"), dir.as_path()] {
            if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
                return match fs::remove_file(path) {
                    Ok(()) => Lookup::Corrupt {
                        reason: format!("{} was a file, not a directory; removed", path.display()),
                    },
                    Err(e) => Lookup::Corrupt {
                        reason: format!(
                            "{} is a file, not a directory, and removing it failed: {e} (fix: delete it)",
                            path.display()
                        ),
                    },
                };
            }
        }
        if !dir.exists() {
            return Lookup::Miss;
        }
        match read_verified(key, &dir, run) {
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
        let run_bytes = serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?;
        fs::write(tmp.path().join("run.json"), &run_bytes)?;
        fs::write(tmp.path().join("result.json"), &result_bytes)?;
        fs::write(
            tmp.path().join("result.sha256"),
            entry_digest(key, &run_bytes, &result_bytes),
        )?;
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

    /// Tries to take the advisory lock of `key`'s run (a `flock` on `<root>/locks/<key>`), so
    /// that of several processes sharing this cache — two terminals, the tasks of a job array —
    /// one trains the run and the others wait for its entry. `Ok(None)`: another process holds
    /// it. The lock is released when the returned file is dropped, or when its process dies
    /// (the kernel drops it), so a killed trainer never blocks the next one. Lock files are
    /// never deleted: deleting one while another process waits on it would let two hold "the"
    /// lock.
    pub fn try_lock_run(&self, key: &RunKey) -> std::io::Result<Option<RunLock>> {
        let file = self.lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Waits for the lock of `key`'s run (see [`Cache::try_lock_run`]).
    pub fn lock_run(&self, key: &RunKey) -> std::io::Result<RunLock> {
        let file = self.lock_file(key)?;
        file.lock()?;
        Ok(RunLock(file))
    }

    fn lock_file(&self, key: &RunKey) -> std::io::Result<fs::File> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(|e| io_context(e, "creating", &dir))?;
        let path = dir.join(&key.0);
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_context(e, "opening the lock file", &path))
    }

    /// Every entry key in the store.
    pub fn keys(&self) -> Vec<RunKey> {
        let mut keys = Vec::new();
        let Ok(shards) = fs::read_dir(&self.root) else {
            return keys;
        };
        // Symbolic links are never followed: an entry is a real directory inside the cache.
        let is_dir = |e: &fs::DirEntry| e.file_type().is_ok_and(|t| t.is_dir());
        for shard in shards.flatten().filter(is_dir) {
            let name = shard.file_name().to_string_lossy().into_owned();
            if name.len() != 2 {
                continue;
            }
            for entry in fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(is_dir)
            {
                let key = entry.file_name().to_string_lossy().into_owned();
                if key.len() == 64 && key.starts_with(&name) {
                    keys.push(RunKey(key));
                }
            }
        }
        keys.sort();
        keys
    }

    /// Deletes an entry; refuses one that is, or sits under, a symbolic link.
    pub fn remove(&self, key: &RunKey) -> std::io::Result<()> {
        let dir = self.entry_dir(key);
        let parent = dir.parent().expect("entry dirs have a parent");
        for path in [parent, dir.as_path()] {
            if fs::symlink_metadata(path)?.file_type().is_symlink() {
                return Err(std::io::Error::other(format!(
                    "{} is a symbolic link; cache entries are never deleted through one",
                    path.display()
                )));
            }
        }
        fs::remove_dir_all(dir)
    }
}

/// Whether `value` reads back from JSON equal to itself: false if it holds a NaN or an
/// infinity (JSON has neither), so that nothing is cached that would read back changed or not
/// at all.
pub fn survives_json<T: Serialize + DeserializeOwned + PartialEq>(value: &T) -> bool {
    serde_json::to_vec(value)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<T>(&bytes).ok())
        .is_some_and(|back| &back == value)
}

/// A held run lock (released on drop).
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] fs::File);

fn io_context(e: std::io::Error, operation: &str, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{operation} {}: {e}", path.display()))
}

/// The v2 digest: key, run and result together.
fn entry_digest(key: &RunKey, run: &[u8], result: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [key.as_str().as_bytes(), run, result] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("v2 {}", hex(&hasher.finalize()))
}

fn read_verified<R: Serialize, T: DeserializeOwned>(key: &RunKey, dir: &Path, run: &R) -> Result<T, String> {
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| format!("{name} unreadable: {e}"));
    let result_bytes = read("result.json")?;
    let run_bytes = read("run.json")?;
    let digest = String::from_utf8_lossy(&read("result.sha256")?).trim().to_string();
    let legacy = !digest.starts_with("v2 ");
    if legacy {
        if digest != sha256_hex(&result_bytes) {
            return Err("result.json does not match its digest".into());
        }
    } else if digest != entry_digest(key, &run_bytes, &result_bytes) {
        return Err("the entry's files do not match its digest (result.json, run.json or the digest was changed or copied from another entry)".into());
    }
    let stored: serde_json::Value =
        serde_json::from_slice(&run_bytes).map_err(|e| format!("run.json does not parse: {e}"))?;
    if stored != serde_json::to_value(run).map_err(|e| e.to_string())? {
        return Err("run.json describes a different run than this entry's key".into());
    }
    let value = serde_json::from_slice(&result_bytes).map_err(|e| format!("result.json does not parse: {e}"))?;
    if legacy {
        // Bind the entry now that its run and result are checked; a failed upgrade only means
        // it is checked the legacy way again next time.
        let _ = crate::fsutil::write_atomic(
            &dir.join("result.sha256"),
            entry_digest(key, &run_bytes, &result_bytes).as_bytes(),
        );
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&("run", 1), 1, "flex");
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&key, &("run", 1)), Lookup::Miss));
        cache.store(&key, &("run", 1), &vec![1.5, 2.5]).unwrap();
        match cache.lookup::<_, Vec<f64>>(&key, &("run", 1)) {
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
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"x"),
            Lookup::Corrupt { .. }
        ));
        assert!(!entry.exists());
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&key, &"x"), Lookup::Miss));
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
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"y"),
            Lookup::Corrupt { .. }
        ));
    }

    #[test]
    fn another_entrys_result_and_digest_copied_in_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let (a, b) = (RunKey::of(&"a", 1, "flex"), RunKey::of(&"b", 1, "flex"));
        let entry_a = cache.store(&a, &"a", &vec![1.0]).unwrap();
        let entry_b = cache.store(&b, &"b", &vec![2.0]).unwrap();
        for file in ["result.json", "result.sha256"] {
            fs::copy(entry_b.join(file), entry_a.join(file)).unwrap();
        }
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&a, &"a"), Lookup::Corrupt { .. }));
        // All three files copied: the digest names b's key.
        cache.store(&a, &"a", &vec![1.0]).unwrap();
        for file in ["run.json", "result.json", "result.sha256"] {
            fs::copy(entry_b.join(file), entry_a.join(file)).unwrap();
        }
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&a, &"a"), Lookup::Corrupt { .. }));
    }

    #[test]
    fn a_deleted_or_garbage_run_json_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&"r", 1, "flex");
        let entry = cache.store(&key, &"r", &vec![1.0]).unwrap();
        fs::remove_file(entry.join("run.json")).unwrap();
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"r"),
            Lookup::Corrupt { .. }
        ));
        let entry = cache.store(&key, &"r", &vec![1.0]).unwrap();
        fs::write(entry.join("run.json"), b"\x00garbage").unwrap();
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"r"),
            Lookup::Corrupt { .. }
        ));
    }

    #[test]
    fn a_legacy_entry_is_checked_against_its_run_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&"old", 1, "flex");
        let entry = cache.store(&key, &"old", &vec![3.0]).unwrap();
        // The pre-v2 format: the digest of result.json alone.
        let result = fs::read(entry.join("result.json")).unwrap();
        fs::write(entry.join("result.sha256"), sha256_hex(&result)).unwrap();
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&key, &"old"), Lookup::Hit(_)));
        let digest = fs::read_to_string(entry.join("result.sha256")).unwrap();
        assert!(digest.starts_with("v2 "), "{digest}");
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&key, &"old"), Lookup::Hit(_)));
        // A legacy entry whose run.json names another run is not used.
        fs::write(entry.join("result.sha256"), sha256_hex(&result)).unwrap();
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"other"),
            Lookup::Corrupt { .. }
        ));
    }

    #[test]
    fn a_file_where_an_entry_or_its_prefix_belongs_is_removed_and_the_entry_then_stored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = RunKey::of(&"f", 1, "flex");
        let entry = cache.entry_dir(&key);
        let prefix = entry.parent().unwrap().to_path_buf();
        fs::write(&prefix, b"not a directory").unwrap();
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"f"),
            Lookup::Corrupt { .. }
        ));
        cache.store(&key, &"f", &vec![1.0]).unwrap();
        fs::remove_dir_all(&entry).unwrap();
        fs::write(&entry, b"not a directory").unwrap();
        assert!(matches!(
            cache.lookup::<_, Vec<f64>>(&key, &"f"),
            Lookup::Corrupt { .. }
        ));
        cache.store(&key, &"f", &vec![1.0]).unwrap();
        assert!(matches!(cache.lookup::<_, Vec<f64>>(&key, &"f"), Lookup::Hit(_)));
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_never_listed_or_followed() {
        let outside = tempfile::tempdir().unwrap();
        let victim_key = RunKey::of(&"v", 1, "flex");
        let victim = outside.path().join(victim_key.as_str());
        fs::create_dir_all(&victim).unwrap();
        fs::write(victim.join("precious"), b"keep me").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        // A prefix directory that links outside, and an entry that does.
        std::os::unix::fs::symlink(outside.path(), dir.path().join(&victim_key.as_str()[..2])).unwrap();
        assert!(cache.keys().is_empty());
        assert!(cache.remove(&victim_key).is_err());
        assert!(victim.join("precious").exists());
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
