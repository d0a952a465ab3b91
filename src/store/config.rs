//! Store settings: the `[store]` table of the config file.
//!
//! Inputs: TOML (unknown keys refused, every key optional). Output: a [`StoreConfig`] that
//! [`StoreConfig::validate`] checks without I/O; its message names the field and the fix. The
//! field doc comments are the reference for users.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Longest age limit accepted for `retention_days` (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Smallest disk budget accepted for `max_disk_mb`: room for the database and some snapshots.
pub const MIN_DISK_MB: u64 = 16;
/// Largest disk budget accepted for `max_disk_mb` (16 TiB).
pub const MAX_DISK_MB: u64 = 16 * 1024 * 1024;

/// Where and how long events and their snapshots are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Data folder: holds `events.db` and `snapshots/`. Default `"data"`; a relative path is
    /// taken relative to the config file's folder (the caller resolves it before opening).
    pub path: PathBuf,
    /// Ended events whose last sighting is older than this many days are deleted, with their
    /// snapshots. 0 turns the age limit off (only `max_disk_mb` applies). Default 7, at most
    /// 3650.
    pub retention_days: u32,
    /// Disk budget for the database and the snapshots together, in MiB: when it is exceeded the
    /// oldest ended events are deleted until everything fits. Events still in progress are never
    /// deleted. Default 2048, at least 16.
    pub max_disk_mb: u64,
    /// JPEG quality of the snapshots, 1 (smallest) to 100 (best). Default 80.
    pub snapshot_quality: u8,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data"),
            retention_days: 7,
            max_disk_mb: 2048,
            snapshot_quality: 80,
        }
    }
}

impl StoreConfig {
    /// Checks every value; `Err` names the field (relative to this table) and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Err("path: the data folder is empty; give a folder, e.g. \"data\"".into());
        }
        if self.retention_days > MAX_RETENTION_DAYS {
            return Err(format!(
                "retention_days: {} days; use 0 (no age limit) to {MAX_RETENTION_DAYS}",
                self.retention_days
            ));
        }
        if !(MIN_DISK_MB..=MAX_DISK_MB).contains(&self.max_disk_mb) {
            return Err(format!(
                "max_disk_mb: {} MiB; use {MIN_DISK_MB} to {MAX_DISK_MB}",
                self.max_disk_mb
            ));
        }
        if !(1..=100).contains(&self.snapshot_quality) {
            return Err(format!(
                "snapshot_quality: {}; use 1 to 100 (80 is a good default)",
                self.snapshot_quality
            ));
        }
        Ok(())
    }

    /// The disk budget in bytes.
    pub fn max_disk_bytes(&self) -> u64 {
        self.max_disk_mb.saturating_mul(1024 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let c: StoreConfig = toml::from_str("").expect("empty table parses");
        assert_eq!(c, StoreConfig::default());
        assert_eq!(c.path, PathBuf::from("data"));
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.max_disk_mb, 2048);
        assert_eq!(c.snapshot_quality, 80);
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<StoreConfig>("retention = 3").expect_err("unknown key");
        assert!(e.to_string().contains("retention"), "{e}");
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let cases = [
            ("path = \"\"", "path:"),
            ("retention_days = 4000", "retention_days:"),
            ("max_disk_mb = 1", "max_disk_mb:"),
            ("snapshot_quality = 0", "snapshot_quality:"),
            ("snapshot_quality = 101", "snapshot_quality:"),
        ];
        for (text, field) in cases {
            let c: StoreConfig = toml::from_str(text).expect("parses");
            let e = c.validate().expect_err(text);
            assert!(e.starts_with(field), "{text}: {e}");
            assert!(e.contains("; use") || e.contains("; give"), "{text}: {e}");
        }
        let ok: StoreConfig =
            toml::from_str("retention_days = 0\nmax_disk_mb = 16\nsnapshot_quality = 100")
                .expect("parses");
        ok.validate().expect("bounds are inclusive");
    }
}
