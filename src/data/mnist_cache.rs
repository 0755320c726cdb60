//! MNIST loaded once per process and directory, with a content fingerprint for cache keys (a
//! run trained on a user's IDX copy must not share a key with one trained on the pickle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use super::mnist::{Mnist, MnistError, locate};

#[derive(Debug)]
pub struct LoadedMnist {
    pub data: Mnist,
    /// SHA-256 of every split's labels and pixels (as f32 little-endian).
    pub fingerprint: String,
}

static LOADED: OnceLock<Mutex<BTreeMap<PathBuf, Arc<LoadedMnist>>>> = OnceLock::new();

pub fn load(dir: &Path) -> Result<Arc<LoadedMnist>, MnistError> {
    let cache = LOADED.get_or_init(Default::default);
    let mut guard = cache.lock().expect("no panic while loading");
    if let Some(found) = guard.get(dir) {
        return Ok(found.clone());
    }
    let data = locate(dir)?;
    let mut hasher = Sha256::new();
    for split in [&data.train, &data.validation, &data.test] {
        hasher.update(&split.labels);
        for v in &split.images {
            hasher.update(v.to_le_bytes());
        }
    }
    let loaded = Arc::new(LoadedMnist {
        data,
        fingerprint: crate::cache::hex(&hasher.finalize()),
    });
    guard.insert(dir.to_owned(), loaded.clone());
    Ok(loaded)
}
