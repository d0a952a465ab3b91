//! Build script: records the git revision for `--version`; rebuilds when embedded assets change;
//! with feature `tensorrt`, compiles the TensorRT shim (`src/infer/tensorrt/shim.cpp`, `cc`) and
//! generates its Rust bindings from `shim.h` (bindgen). Downloads nothing.
//!
//! TensorRT headers are taken from, in order: `$TENSORRT_ROOT/include` (or `$TENSORRT_ROOT`),
//! the system's (`/usr/include/<arch>-linux-gnu`, `/usr/include`: JetPack, NVIDIA's packages),
//! then `.deps/tensorrt/include` (`make setup`). CUDA runtime headers: `$CUDA_INCLUDE`,
//! `$CUDA_HOME/include`, `/usr/local/cuda/include`, then `.deps/cuda/runtime/include`. The shim
//! must be compiled against the headers of the TensorRT it will load, so installed ones win.

use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown revision".into());
    println!("cargo:rustc-env=EDGESIGHT_GIT={rev}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=web");
    println!("cargo:rerun-if-changed=configs/demo.toml");
    #[cfg(feature = "tensorrt")]
    tensorrt::build();
}

#[cfg(feature = "tensorrt")]
mod tensorrt {
    use std::path::{Path, PathBuf};

    const SHIM: &str = "src/infer/tensorrt";

    /// The first folder of `candidates` holding `file`; panics naming them all and the fix.
    fn find(what: &str, file: &str, candidates: &[PathBuf], fix: &str) -> PathBuf {
        if let Some(dir) = candidates.iter().find(|d| d.join(file).is_file()) {
            return dir.clone();
        }
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        panic!(
            "feature `tensorrt`: {what} not found ({file} in none of: {}); {fix}",
            looked.join(", ")
        );
    }

    fn env_dir(name: &str) -> Option<PathBuf> {
        println!("cargo:rerun-if-env-changed={name}");
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    pub fn build() {
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let mut trt = Vec::new();
        if let Some(r) = env_dir("TENSORRT_ROOT") {
            trt.push(r.join("include"));
            trt.push(r);
        }
        trt.push(PathBuf::from(format!("/usr/include/{arch}-linux-gnu")));
        trt.push(PathBuf::from("/usr/include"));
        trt.push(root.join(".deps/tensorrt/include"));
        let trt = find(
            "TensorRT headers",
            "NvInfer.h",
            &trt,
            "run `make setup` (unpacks them into .deps/tensorrt/include) or set TENSORRT_ROOT",
        );
        let mut cuda = Vec::new();
        if let Some(d) = env_dir("CUDA_INCLUDE") {
            cuda.push(d);
        }
        if let Some(d) = env_dir("CUDA_HOME") {
            cuda.push(d.join("include"));
        }
        cuda.push(PathBuf::from("/usr/local/cuda/include"));
        cuda.push(root.join(".deps/cuda/runtime/include"));
        let cuda = find(
            "CUDA runtime headers",
            "cuda_runtime_api.h",
            &cuda,
            "run `make setup` (unpacks them into .deps/cuda/runtime/include) or set CUDA_INCLUDE",
        );
        println!("cargo:rustc-env=EDGESIGHT_TRT_HEADERS={}", trt.display());
        compile_shim(&root.join(SHIM), &trt, &cuda);
        bindings(&root.join(SHIM).join("shim.h"));
    }

    fn compile_shim(dir: &Path, trt: &Path, cuda: &Path) {
        println!("cargo:rerun-if-changed={}", dir.join("shim.cpp").display());
        println!("cargo:rerun-if-changed={}", dir.join("shim.h").display());
        cc::Build::new()
            .cpp(true)
            .std("c++17")
            .file(dir.join("shim.cpp"))
            .include(dir)
            .include(trt)
            .include(cuda)
            // TensorRT marks much of its API deprecated from one version to the next.
            .flag_if_supported("-Wno-deprecated-declarations")
            .compile("edgesight_trt_shim");
        // dlopen/dlsym (in libc from glibc 2.34; libdl before).
        println!("cargo:rustc-link-lib=dl");
    }

    fn bindings(header: &Path) {
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
        bindgen::Builder::default()
            .header(header.display().to_string())
            .allowlist_function("es_trt_.*")
            .allowlist_type("EsTrt.*")
            .allowlist_var("ES_TRT_.*")
            .generate()
            .unwrap_or_else(|e| {
                panic!(
                    "feature `tensorrt`: bindgen could not read {}: {e} (bindgen needs libclang: \
                     `make setup` installs Debian's libclang1; or set LIBCLANG_PATH)",
                    header.display()
                )
            })
            .write_to_file(out.join("tensorrt_shim.rs"))
            .expect("write the bindings");
    }
}
