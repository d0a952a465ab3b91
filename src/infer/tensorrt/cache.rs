//! The TensorRT engine cache: serialized engines on disk, keyed by everything that makes an
//! engine valid — the model's sha256, the TensorRT version, the GPU (name and `sm_XY`), the
//! batch size and the precision. Building an engine takes seconds to minutes (minutes on a
//! Jetson); a later start with the same key deserializes it instead.
//!
//! Entries use the checked format of [`crate::gpu::cache`]: a truncated or corrupt engine is
//! reported as unusable and rebuilt, never handed to TensorRT.

use std::path::{Path, PathBuf};

use crate::gpu::cache;

/// How the engine's precision was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// FP16 allowed through the builder flag (TensorRT < 10.12).
    Fp16,
    /// FP32 only (TensorRT < 10.12 without the FP16 flag).
    Fp32,
    /// Strongly typed: precision comes from the ONNX graph (TensorRT >= 10.12).
    FromGraph,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp16 => "fp16",
            Precision::Fp32 => "fp32",
            Precision::FromGraph => "graph",
        }
    }
}

/// What an engine was built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineKey {
    /// sha256 (hex) of the ONNX file.
    pub model_sha256: String,
    /// TensorRT library version, e.g. `10.3.0`.
    pub tensorrt: String,
    /// GPU name as the driver reports it.
    pub gpu: String,
    /// e.g. `sm_87`.
    pub arch: String,
    /// Largest batch the engine takes.
    pub max_batch: usize,
    pub precision: Precision,
}

impl EngineKey {
    /// sha256 over every field.
    pub fn key(&self) -> String {
        cache::key_of(&[
            &self.model_sha256,
            &self.tensorrt,
            &self.gpu,
            &self.arch,
            &self.max_batch.to_string(),
            self.precision.name(),
        ])
    }

    /// A readable, unique file name: `<model sha256 prefix>-trt<version>-<gpu>-<arch>-b<batch>-
    /// <precision>-<key prefix>.engine`, with the GPU name reduced to `[a-z0-9-]`.
    pub fn file_name(&self) -> String {
        let gpu: String = self
            .gpu
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let gpu = gpu
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let model = self.model_sha256.get(..12).unwrap_or(&self.model_sha256);
        format!(
            "{model}-trt{}-{gpu}-{}-b{}-{}-{}.engine",
            self.tensorrt,
            self.arch,
            self.max_batch,
            self.precision.name(),
            &self.key()[..8]
        )
    }
}

/// `<cache dir>/engines` (see [`crate::gpu::kernels::default_cache_dir`]).
pub fn default_dir() -> PathBuf {
    crate::gpu::kernels::default_cache_dir().join("engines")
}

/// The cached engine for `key` in `dir`: `Ok(None)` when there is none, `Err(why)` when the
/// entry is unusable (the caller removes it and builds anew).
pub fn load(dir: &Path, key: &EngineKey) -> Result<Option<Vec<u8>>, String> {
    cache::read(&dir.join(key.file_name()), &key.key())
}

/// Stores `plan` for `key` in `dir`.
pub fn store(dir: &Path, key: &EngineKey, plan: &[u8]) -> std::io::Result<()> {
    cache::write(&dir.join(key.file_name()), &key.key(), plan)
}

/// Removes the entry for `key` (after TensorRT refused to deserialize it).
pub fn remove(dir: &Path, key: &EngineKey) {
    let _ = std::fs::remove_file(dir.join(key.file_name()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EngineKey {
        EngineKey {
            model_sha256: "ab".repeat(32),
            tensorrt: "10.3.0".into(),
            gpu: "NVIDIA Jetson AGX Orin (64GB)".into(),
            arch: "sm_87".into(),
            max_batch: 8,
            precision: Precision::Fp16,
        }
    }

    #[test]
    fn every_field_changes_the_key_and_the_name_is_readable() {
        let base = key();
        assert_eq!(
            base.file_name(),
            format!(
                "abababababab-trt10.3.0-nvidia-jetson-agx-orin-64gb-sm_87-b8-fp16-{}.engine",
                &base.key()[..8]
            )
        );
        let variants = [
            EngineKey {
                model_sha256: "cd".repeat(32),
                ..key()
            },
            EngineKey {
                tensorrt: "10.3.1".into(),
                ..key()
            },
            EngineKey {
                gpu: "Orin".into(),
                ..key()
            },
            EngineKey {
                arch: "sm_72".into(),
                ..key()
            },
            EngineKey {
                max_batch: 4,
                ..key()
            },
            EngineKey {
                precision: Precision::FromGraph,
                ..key()
            },
        ];
        for v in &variants {
            assert_ne!(v.key(), base.key(), "{v:?}");
            assert_ne!(v.file_name(), base.file_name(), "{v:?}");
        }
    }

    #[test]
    fn stored_engines_come_back_and_corrupt_ones_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let k = key();
        assert_eq!(load(dir.path(), &k), Ok(None));
        let plan: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        store(dir.path(), &k, &plan).expect("store");
        assert_eq!(load(dir.path(), &k), Ok(Some(plan.clone())));
        let other = EngineKey {
            max_batch: 1,
            ..key()
        };
        assert_eq!(load(dir.path(), &other), Ok(None));

        let path = dir.path().join(k.file_name());
        let mut bytes = std::fs::read(&path).expect("entry");
        bytes.truncate(bytes.len() - 100);
        std::fs::write(&path, &bytes).expect("truncate");
        let err = load(dir.path(), &k).expect_err("truncated");
        assert!(err.contains("checksum"), "{err}");
        remove(dir.path(), &k);
        assert_eq!(load(dir.path(), &k), Ok(None));
    }
}
