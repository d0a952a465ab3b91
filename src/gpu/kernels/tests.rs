//! The kernel cache with the real NVRTC (installed by `make setup`; these tests fail, naming the
//! fix, when it is missing), and the descriptor layout shared with `cuda/preprocess.cu`.

use std::path::PathBuf;

use super::*;

/// Loads NVRTC from `.deps/` unless it is already loadable; fails when it is nowhere.
pub(crate) fn require_nvrtc() {
    if nvrtc_present().is_ok() {
        return;
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/cuda/nvrtc/lib/libnvrtc.so.12");
    assert!(
        lib.is_file(),
        "NVRTC is missing at {}: run `make setup` (it installs the nvidia-cuda-nvrtc-cu12 wheel)",
        lib.display()
    );
    preload_nvrtc(&lib).expect("load NVRTC");
    nvrtc_present().expect("NVRTC loadable after preloading it");
}

#[test]
fn cache_builds_then_hits_then_rebuilds_corrupt_entries() {
    require_nvrtc();
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = KernelCache::new(dir.path().join("kernels"));
    let arch = "sm_87";
    let versions = "nvrtc 12.9; driver test";
    let compile = || compile_cubin(&PREPROCESS, arch);

    let (first, outcome) = cache
        .get_or_build(&PREPROCESS, arch, versions, compile)
        .expect("build");
    assert_eq!(outcome, CacheOutcome::Built);
    assert!(first.starts_with(b"\x7fELF"), "a CUBIN is an ELF image");
    let path = cache.path(
        &PREPROCESS,
        arch,
        &KernelCache::key(&PREPROCESS, arch, versions),
    );
    assert!(path.is_file(), "{} stored", path.display());

    let never = || -> Result<Vec<u8>, GpuError> { panic!("a hit must not compile") };
    let (again, outcome) = cache
        .get_or_build(&PREPROCESS, arch, versions, never)
        .expect("hit");
    assert_eq!((outcome, &again), (CacheOutcome::Hit, &first));

    // One flipped payload byte: checksum mismatch, rebuilt and replaced.
    let mut bytes = std::fs::read(&path).expect("entry");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).expect("corrupt");
    let (rebuilt, outcome) = cache
        .get_or_build(&PREPROCESS, arch, versions, compile)
        .expect("rb");
    assert!(
        matches!(&outcome, CacheOutcome::Rebuilt(why) if why.contains("checksum")),
        "{outcome:?}"
    );
    assert_eq!(rebuilt, first);
    let (_, outcome) = cache
        .get_or_build(&PREPROCESS, arch, versions, never)
        .expect("hit 2");
    assert_eq!(outcome, CacheOutcome::Hit);

    // Truncated to a few bytes, and garbage: both rebuilt.
    for junk in [
        &b"ESK"[..],
        &b"not a cache entry at all, just some bytes"[..],
    ] {
        std::fs::write(&path, junk).expect("junk");
        let (_, outcome) = cache
            .get_or_build(&PREPROCESS, arch, versions, compile)
            .expect("rebuild");
        assert!(matches!(outcome, CacheOutcome::Rebuilt(_)), "{outcome:?}");
    }

    // Another architecture or toolchain: another key, another entry.
    let other = KernelCache::key(&PREPROCESS, arch, "nvrtc 12.2; driver test");
    assert_ne!(other, KernelCache::key(&PREPROCESS, arch, versions));
    assert_ne!(
        KernelCache::key(&PREPROCESS, "sm_72", versions),
        KernelCache::key(&PREPROCESS, arch, versions)
    );
    let (_, outcome) = cache
        .get_or_build(&PREPROCESS, "sm_72", versions, || {
            compile_cubin(&PREPROCESS, "sm_72")
        })
        .expect("sm_72");
    assert_eq!(outcome, CacheOutcome::Built);

    // invalidate() removes the entry.
    cache.invalidate(&PREPROCESS, arch, versions);
    assert!(!path.exists());
}

#[test]
fn unwritable_cache_still_serves_the_kernel() {
    require_nvrtc();
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"a file where the cache folder should be").expect("file");
    let cache = KernelCache::new(blocker.join("kernels"));
    let (bytes, outcome) = cache
        .get_or_build(&PREPROCESS, "sm_90", "v", || {
            compile_cubin(&PREPROCESS, "sm_90")
        })
        .expect("compiled even though it cannot be stored");
    assert_eq!(outcome, CacheOutcome::Built);
    assert!(!bytes.is_empty());
}

#[test]
fn descriptor_layout_matches_the_kernel_source() {
    let src = PREPROCESS.source;
    let body = &src[src
        .find("enum DescWord")
        .expect("enum DescWord in preprocess.cu")..];
    let body = &body[..body.find("};").expect("end of enum")];
    let mut found = Vec::new();
    for line in body.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if let Some((name, value)) = line.trim_end_matches(',').split_once('=') {
            let value: usize = value.trim().parse().expect("enum value");
            found.push((name.trim().to_string(), value));
        }
    }
    let want: Vec<(String, usize)> = crate::gpu::preprocess::DESC_LAYOUT
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    assert_eq!(found, want);
}
