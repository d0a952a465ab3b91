//! On-disk cache entries shared by the kernel cache and the TensorRT engine cache: a magic, the
//! entry's key, a sha256 of the payload, then the payload. An entry whose key or checksum does
//! not match (truncated, corrupt, or written for something else) is reported as unusable, so
//! the caller rebuilds it. Entries are written to a temporary name and renamed into place.

use std::path::Path;

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"ESCACH1\n";
const HEADER: usize = MAGIC.len() + 64 + 64;

/// sha256 (hex) over `parts`, each length-prefixed so that no two lists collide.
pub fn key_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Reads the entry at `path` written for `key`: `Ok(None)` when there is none (or it cannot be
/// read at all), `Err(why)` when it is there but unusable.
pub fn read(path: &Path, key: &str) -> Result<Option<Vec<u8>>, String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format!("not a cache entry ({} bytes)", bytes.len()));
    }
    if &bytes[MAGIC.len()..MAGIC.len() + 64] != key.as_bytes() {
        return Err("written for another key".into());
    }
    let payload = &bytes[HEADER..];
    let sum = format!("{:x}", Sha256::digest(payload));
    if &bytes[MAGIC.len() + 64..HEADER] != sum.as_bytes() {
        return Err("checksum mismatch (truncated or corrupt)".into());
    }
    Ok(Some(payload.to_vec()))
}

/// Writes `payload` as the entry for `key` (a 64-character hex key) at `path`, atomically.
pub fn write(path: &Path, key: &str, payload: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(format!("{:x}", Sha256::digest(payload)).as_bytes());
    bytes.extend_from_slice(payload);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}
