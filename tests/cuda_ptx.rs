//! Compile check without a GPU: every `cuda/*.cu` compiles with NVRTC to PTX (and to a CUBIN)
//! for Jetson Xavier (sm_72), Jetson Orin (sm_87) and Hopper (sm_90), and every file is embedded.
//!
//! NVRTC comes from the PyPI wheel `make setup` installs into `.deps/cuda/nvrtc/`; `make test`
//! puts it on `LD_LIBRARY_PATH`, and this test also loads it from there by absolute path.
//! Without it the test FAILS (setup always installs it), saying to run `make setup`.

use std::path::PathBuf;

use edgesight::gpu::GpuError;
use edgesight::gpu::kernels::{
    self, KernelSource, SOURCES, compile_cubin, compile_ptx, nvrtc_version, preload_nvrtc,
};

const ARCHES: [u32; 3] = [72, 87, 90];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_nvrtc() {
    if kernels::nvrtc_present().is_ok() {
        return;
    }
    let lib = repo().join(".deps/cuda/nvrtc/lib/libnvrtc.so.12");
    assert!(
        lib.is_file(),
        "NVRTC is missing ({} not found and libnvrtc.so.12 not on LD_LIBRARY_PATH): run `make setup`",
        lib.display()
    );
    preload_nvrtc(&lib).expect("load NVRTC");
}

/// Every `.cu` file on disk, with its contents.
fn cu_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(repo().join("cuda"))
        .expect("cuda/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read .cu"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_cuda_kernel_compiles_to_ptx_for_jetson_and_datacenter_archs() {
    require_nvrtc();
    let (major, minor) = nvrtc_version().expect("NVRTC version");
    let files = cu_files();
    assert!(!files.is_empty(), "no .cu files under cuda/");
    for (name, source) in &files {
        let embedded = SOURCES.iter().find(|k| k.file == name);
        let embedded =
            embedded.unwrap_or_else(|| panic!("cuda/{name} is not in gpu::kernels::SOURCES"));
        assert_eq!(embedded.source, source, "embedded copy of {name} is stale");
        let leaked: &'static str = Box::leak(source.clone().into_boxed_str());
        let k = KernelSource {
            file: embedded.file,
            source: leaked,
        };
        for arch in ARCHES {
            let t0 = std::time::Instant::now();
            let ptx = compile_ptx(&k, &format!("compute_{arch}"))
                .unwrap_or_else(|e| panic!("{name} for compute_{arch}: {e}"));
            assert!(ptx.contains(".entry"), "{name}: PTX without a kernel entry");
            assert!(
                ptx.contains(&format!(".target sm_{arch}")),
                "{name}: PTX for the wrong target"
            );
            let cubin = compile_cubin(&k, &format!("sm_{arch}"))
                .unwrap_or_else(|e| panic!("{name} for sm_{arch}: {e}"));
            assert!(
                cubin.starts_with(b"\x7fELF"),
                "{name}: CUBIN is not an ELF image"
            );
            eprintln!(
                "cuda/{name}: sm_{arch} PTX {} bytes, CUBIN {} bytes in {:.0} ms (NVRTC {major}.{minor})",
                ptx.len(),
                cubin.len(),
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    assert!(
        files
            .iter()
            .any(|(n, s)| n == "preprocess.cu" && s.contains("es_preprocess_batch")),
        "the preprocessing kernel is there"
    );
}

#[test]
fn a_syntax_error_fails_the_ptx_check_with_nvrtcs_log() {
    require_nvrtc();
    let broken = KernelSource {
        file: "broken.cu",
        source: "extern \"C\" __global__ void k(float* x) { x[0] = undeclared_name; }\n",
    };
    match compile_ptx(&broken, "compute_87") {
        Err(GpuError::Compile { name, arch, log }) => {
            assert_eq!((name.as_str(), arch.as_str()), ("broken.cu", "compute_87"));
            assert!(log.contains("undeclared_name"), "{log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}
