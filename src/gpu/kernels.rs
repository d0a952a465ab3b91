//! Kernel sources, NVRTC compilation, and the on-disk cache of compiled kernels.
//!
//! Inputs: the `cuda/*.cu` files, embedded with `include_str!` ([`SOURCES`]), and a target
//! architecture (`sm_XY` for a device's own CUBIN, `compute_XY` for PTX).
//!
//! Output: PTX text or CUBIN bytes. [`KernelCache`] keeps CUBINs on disk under a key made of the
//! source's sha256, the architecture, the NVRTC version, the driver version and the compile
//! options, so a changed kernel, GPU, toolkit or driver never reuses a stale binary. An entry
//! carries a checksum of its payload; an entry that fails it (or that the driver refuses to
//! load, see [`KernelCache::invalidate`]) is rebuilt (entry format: [`super::cache`]). A cache
//! folder that cannot be written only costs a recompile next time.
//!
//! Failure: no NVRTC library → [`GpuError::Unavailable`]; a source NVRTC rejects →
//! [`GpuError::Compile`] with NVRTC's log.

use std::path::{Path, PathBuf};

use super::{GpuError, cache, ffi};

/// One embedded kernel source file.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// File name under `cuda/`.
    pub file: &'static str,
    pub source: &'static str,
}

/// Batch preprocessing (`es_preprocess_batch`).
pub const PREPROCESS: KernelSource = KernelSource {
    file: "preprocess.cu",
    source: include_str!("../../cuda/preprocess.cu"),
};

/// Every embedded kernel source.
pub const SOURCES: &[KernelSource] = &[PREPROCESS];

/// Options every compile uses besides the architecture. No fast math: results must match the
/// CPU reference, and the kernels round explicitly where it matters.
const BASE_OPTIONS: &[&str] = &["--std=c++14", "--fmad=false"];

/// Whether NVRTC can be loaded; `Err` names what to install. Looked for by name (the library
/// path, `LD_LIBRARY_PATH`), then at `$EDGESIGHT_NVRTC`, then in the CUDA toolkit's usual
/// folders (JetPack installs it there without always putting it on the library path).
pub fn nvrtc_present() -> Result<(), GpuError> {
    if ffi::nvrtc_library_present() {
        return Ok(());
    }
    let arch = std::env::consts::ARCH;
    let mut candidates: Vec<PathBuf> = std::env::var_os("EDGESIGHT_NVRTC")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from("/usr/local/cuda/lib64/libnvrtc.so.12"));
    candidates.push(PathBuf::from(format!(
        "/usr/local/cuda/targets/{arch}-linux/lib/libnvrtc.so.12"
    )));
    for c in candidates.iter().filter(|c| c.is_file()) {
        if ffi::preload_library(c).is_ok() && ffi::nvrtc_library_present() {
            return Ok(());
        }
    }
    Err(GpuError::Unavailable(
        "NVRTC (libnvrtc.so.12) not found: install the CUDA toolkit's NVRTC (JetPack ships it), \
         set EDGESIGHT_NVRTC to the library, or run `make setup` and put .deps/cuda/nvrtc/lib \
         on LD_LIBRARY_PATH"
            .into(),
    ))
}

/// Loads NVRTC from `path` (e.g. `.deps/cuda/nvrtc/lib/libnvrtc.so.12`) so that later calls
/// use that copy even when its folder is not on `LD_LIBRARY_PATH`.
pub fn preload_nvrtc(path: &Path) -> Result<(), GpuError> {
    ffi::preload_library(path).map_err(|e| {
        GpuError::Unavailable(format!("cannot load NVRTC from {}: {e}", path.display()))
    })
}

/// NVRTC's version, e.g. `(12, 9)`.
pub fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    nvrtc_present()?;
    ffi::nvrtc_version()
}

fn options(arch: &str) -> Vec<String> {
    let mut o = vec![format!("--gpu-architecture={arch}")];
    o.extend(BASE_OPTIONS.iter().map(|s| s.to_string()));
    o
}

/// Compiles `k` to PTX for `arch` (`compute_XY` or `sm_XY`).
pub fn compile_ptx(k: &KernelSource, arch: &str) -> Result<String, GpuError> {
    nvrtc_present()?;
    let out = ffi::compile(k.source, k.file, &options(arch))?;
    String::from_utf8(out.ptx).map_err(|_| GpuError::Compile {
        name: k.file.into(),
        arch: arch.into(),
        log: "NVRTC returned PTX that is not UTF-8".into(),
    })
}

/// Compiles `k` to a CUBIN for the real architecture `arch` (`sm_XY`).
pub fn compile_cubin(k: &KernelSource, arch: &str) -> Result<Vec<u8>, GpuError> {
    nvrtc_present()?;
    if !arch.starts_with("sm_") {
        return Err(GpuError::Invalid(format!(
            "a CUBIN needs a real architecture (sm_XY), not {arch}"
        )));
    }
    ffi::compile(k.source, k.file, &options(arch))?
        .cubin
        .ok_or_else(|| GpuError::Compile {
            name: k.file.into(),
            arch: arch.into(),
            log: "NVRTC produced no CUBIN".into(),
        })
}

/// How a cache lookup was served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid entry was on disk.
    Hit,
    /// No entry: compiled (and stored, when the folder is writable).
    Built,
    /// An entry was there but unusable (the reason); compiled again and replaced.
    Rebuilt(String),
}

/// Compiled kernels on disk, one file per (kernel, key).
#[derive(Clone, Debug)]
pub struct KernelCache {
    dir: PathBuf,
}

impl KernelCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KernelCache { dir: dir.into() }
    }

    /// `$EDGESIGHT_CACHE_DIR/kernels`, else `$XDG_CACHE_HOME/edgesight/kernels`, else
    /// `~/.cache/edgesight/kernels`, else a folder under the system temp dir.
    pub fn default_dir() -> PathBuf {
        default_cache_dir().join("kernels")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache key: sha256 over the source, the architecture, the toolchain `versions`
    /// (NVRTC and driver) and the compile options.
    pub fn key(k: &KernelSource, arch: &str, versions: &str) -> String {
        cache::key_of(&[k.source, arch, versions, &options(arch).join(" ")])
    }

    /// Where the entry for `k` on `arch` under `key` lives.
    pub fn path(&self, k: &KernelSource, arch: &str, key: &str) -> PathBuf {
        let stem = k.file.trim_end_matches(".cu");
        self.dir.join(format!("{stem}-{arch}-{}.cubin", &key[..16]))
    }

    /// The cached CUBIN for `k` on `arch`, or `build()`'s result, stored for next time.
    pub fn get_or_build(
        &self,
        k: &KernelSource,
        arch: &str,
        versions: &str,
        build: impl FnOnce() -> Result<Vec<u8>, GpuError>,
    ) -> Result<(Vec<u8>, CacheOutcome), GpuError> {
        let key = Self::key(k, arch, versions);
        let path = self.path(k, arch, &key);
        let outcome = match cache::read(&path, &key) {
            Ok(Some(payload)) => return Ok((payload, CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Built,
            Err(why) => {
                tracing::warn!(
                    "kernel cache entry {} unusable, rebuilding: {why}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                CacheOutcome::Rebuilt(format!("{}: {why}", path.display()))
            }
        };
        let payload = build()?;
        if let Err(e) = cache::write(&path, &key, &payload) {
            tracing::warn!(
                "cannot write kernel cache entry {}: {e}; it is compiled again next start",
                path.display()
            );
        }
        Ok((payload, outcome))
    }

    /// Removes the entry for `k` on `arch` (call it when the driver refuses a cached binary).
    pub fn invalidate(&self, k: &KernelSource, arch: &str, versions: &str) {
        let key = Self::key(k, arch, versions);
        let _ = std::fs::remove_file(self.path(k, arch, &key));
    }
}

/// `$EDGESIGHT_CACHE_DIR`, else `$XDG_CACHE_HOME/edgesight`, else `~/.cache/edgesight`, else
/// a folder under the system temp dir.
pub fn default_cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("EDGESIGHT_CACHE_DIR") {
        return d;
    }
    if let Some(d) = env("XDG_CACHE_HOME") {
        return d.join("edgesight");
    }
    if let Some(d) = env("HOME") {
        return d.join(".cache/edgesight");
    }
    std::env::temp_dir().join("edgesight-cache")
}

#[cfg(test)]
mod tests;
