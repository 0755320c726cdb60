//! Atomic file writes: write a sibling temporary file, then rename over the target, so an
//! interrupted run leaves either the old file or the new one, never half of one.

use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    // A temporary file is created private (0600); outputs are ordinary files, readable like
    // the PNGs beside them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A temporary path beside `path` with the same extension (for writers that insist on a
/// path, like plotters' bitmap backend), to be renamed over `path` when complete.
pub fn sibling_temp_path(path: &Path) -> std::path::PathBuf {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("tmp");
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{stem}.{}.partial.{ext}", std::process::id()))
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn written_files_are_world_readable_like_any_output() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        super::write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
