//! The few raw CUDA driver and NVRTC calls that cudarc's safe API does not wrap: library
//! presence checks (cudarc panics when a library it needs cannot be loaded, so these run
//! first), the driver and NVRTC versions, and fetching a CUBIN from an NVRTC program.
//!
//! Every function returns a `Result` or a plain value; nothing here panics.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};

use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};

use super::GpuError;

/// Whether `libcuda` can be loaded by the names cudarc tries.
pub(super) fn driver_library_present() -> bool {
    // SAFETY: only attempts to dlopen the library by name; no symbol is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether `libnvrtc` can be loaded by the names cudarc tries (`LD_LIBRARY_PATH` is honoured,
/// and a copy already loaded by absolute path is found by its soname).
pub(super) fn nvrtc_library_present() -> bool {
    // SAFETY: only attempts to dlopen the library by name; no symbol is called.
    unsafe { nvrtc_sys::is_culib_present() }
}

/// CUDA driver version, e.g. 12020. The driver library must be present.
pub(super) fn driver_version() -> Result<i32, GpuError> {
    let mut v: c_int = 0;
    // SAFETY: the library is loaded (checked by the caller); the out-pointer is a live local.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
        .result()
        .map_err(GpuError::from)?;
    Ok(v)
}

/// NVRTC version `(major, minor)`. The NVRTC library must be present.
pub(super) fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: the library is loaded (checked by the caller); both out-pointers are live locals.
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| GpuError::Unavailable(format!("nvrtcVersion failed: {e:?}")))?;
    Ok((major, minor))
}

/// What NVRTC produced.
pub(super) struct Compiled {
    pub ptx: Vec<u8>,
    /// Present when the target was a real architecture (`sm_XY`).
    pub cubin: Option<Vec<u8>>,
}

/// Compiles `source` (named `name` in messages) with `options`. The NVRTC library must be
/// present.
pub(super) fn compile(source: &str, name: &str, options: &[String]) -> Result<Compiled, GpuError> {
    let arch = options
        .iter()
        .find_map(|o| o.strip_prefix("--gpu-architecture="))
        .unwrap_or("default")
        .to_string();
    let invalid = |what: &str| GpuError::Invalid(format!("{what} contains a NUL byte"));
    let src = CString::new(source).map_err(|_| invalid("kernel source"))?;
    let cname = CString::new(name).map_err(|_| invalid("kernel name"))?;
    let prog = nvrtc::create_program(&src, Some(&cname)).map_err(|e| GpuError::Compile {
        name: name.into(),
        arch: arch.clone(),
        log: format!("{e:?}"),
    })?;
    let result = compile_program(prog, name, &arch, options);
    // SAFETY: `prog` came from create_program and is destroyed exactly once, here.
    let _ = unsafe { nvrtc::destroy_program(prog) };
    // `src` and `cname` outlive the program, as NVRTC requires.
    drop((src, cname));
    result
}

fn compile_program(
    prog: nvrtc_sys::nvrtcProgram,
    name: &str,
    arch: &str,
    options: &[String],
) -> Result<Compiled, GpuError> {
    if options.iter().any(|o| o.contains('\0')) {
        return Err(GpuError::Invalid(
            "an NVRTC option contains a NUL byte".into(),
        ));
    }
    // SAFETY: `prog` is a live program from create_program; options hold no NUL bytes.
    if let Err(e) = unsafe { nvrtc::compile_program(prog, options) } {
        // SAFETY: `prog` is live; the log is a NUL-terminated buffer NVRTC filled.
        let log = unsafe { nvrtc::get_program_log(prog) }
            .ok()
            .map(|raw| {
                // SAFETY: NVRTC NUL-terminates the log it writes into the buffer it sized.
                unsafe { CStr::from_ptr(raw.as_ptr()) }
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        return Err(GpuError::Compile {
            name: name.into(),
            arch: arch.into(),
            log: format!("{e:?}: {}", log.trim()),
        });
    }
    // SAFETY: `prog` is live and compiled.
    let ptx = unsafe { nvrtc::get_ptx(prog) }.map_err(|e| GpuError::Compile {
        name: name.into(),
        arch: arch.into(),
        log: format!("nvrtcGetPTX: {e:?}"),
    })?;
    let mut ptx: Vec<u8> = ptx.into_iter().map(|c: c_char| c as u8).collect();
    if ptx.last() == Some(&0) {
        ptx.pop();
    }
    let cubin = if arch.starts_with("sm_") {
        let mut size = 0usize;
        // SAFETY: `prog` is live and compiled; `size` is a live local.
        unsafe { nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size) }
            .result()
            .map_err(|e| GpuError::Compile {
                name: name.into(),
                arch: arch.into(),
                log: format!("nvrtcGetCUBINSize: {e:?}"),
            })?;
        let mut bytes = vec![0u8; size];
        // SAFETY: `bytes` has the `size` bytes NVRTC asked for.
        unsafe { nvrtc_sys::nvrtcGetCUBIN(prog, bytes.as_mut_ptr().cast::<c_char>()) }
            .result()
            .map_err(|e| GpuError::Compile {
                name: name.into(),
                arch: arch.into(),
                log: format!("nvrtcGetCUBIN: {e:?}"),
            })?;
        Some(bytes)
    } else {
        None
    };
    Ok(Compiled { ptx, cubin })
}

/// Loads the NVRTC library at `path` and keeps it loaded for the life of the process, so that
/// cudarc's by-name lookup (`libnvrtc.so.12`) finds this copy by its soname.
pub(super) fn preload_library(path: &std::path::Path) -> Result<(), String> {
    // SAFETY: loading runs the library's initialisers; NVRTC's have no preconditions. The
    // handle is leaked on purpose: the library must stay loaded while cudarc uses it.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    std::mem::forget(lib);
    Ok(())
}
