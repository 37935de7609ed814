//! Obtaining an SRS: a user's params file, or the cached insecure development SRS.

use std::path::{Path, PathBuf};

pub use zkml_circuits::srs::{dev_srs, Srs};
use zkml_circuits::srs::{read_srs, write_srs};

use crate::artifacts::{read_file, write_atomic};
use crate::error::{Error, Result};

/// Where to get the SRS from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SrsSource {
    /// Generate (or reuse from the cache) the insecure development SRS.
    InsecureDev,
    /// Read a halo2 KZG params file; larger params are downsized.
    File(PathBuf),
}

/// The cache directory: `$ZKML_CACHE_DIR`, else `$XDG_CACHE_HOME/zkml`, else `~/.cache/zkml`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZKML_CACHE_DIR") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("zkml")
}

/// Reads a params file at size `k`.
pub fn load_srs(path: &Path, k: u32) -> Result<Srs> {
    let bytes = read_file(path)?;
    read_srs(&mut bytes.as_slice(), k)
        .map_err(|e| Error::Artifact { path: path.to_owned(), reason: e.to_string() })
}

/// Writes params in halo2's format, atomically.
pub fn save_srs(srs: &Srs, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    write_srs(srs, &mut bytes).map_err(Error::io(path))?;
    write_atomic(path, &bytes)
}

/// The insecure development SRS at size `k`, from the cache or freshly generated (and cached).
/// Returns whether it was generated.
pub fn insecure_dev_srs(k: u32) -> Result<(Srs, bool)> {
    let dir = cache_dir();
    let path = dir.join(format!("insecure-dev-bn254-k{k}.srs"));
    if path.exists() {
        if let Ok(srs) = load_srs(&path, k) {
            return Ok((srs, false));
        }
        // A corrupt cache entry is regenerated below.
    }
    let srs = dev_srs(k)?;
    // Caching is best effort: a read-only home must not stop a proof.
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = save_srs(&srs, &path);
    }
    Ok((srs, true))
}

/// Gets the SRS for a circuit of size `k`; also says whether a development SRS had to be
/// generated (rather than read from a file or the cache).
pub fn obtain_srs(source: &SrsSource, k: u32) -> Result<(Srs, bool)> {
    match source {
        SrsSource::InsecureDev => insecure_dev_srs(k),
        SrsSource::File(path) => Ok((load_srs(path, k)?, false)),
    }
}
