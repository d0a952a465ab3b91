//! Batches: frame `i` into slot `i` of one batch tensor, frames (or bands of rows) spread over
//! scoped threads.
//!
//! Work is cut into jobs of whole frames when there are at least as many frames as threads, else
//! each frame into `ceil(threads / frames)` bands of rows; thread `k` takes a contiguous share of
//! the jobs. Threads are scoped (`std::thread::scope`): nothing outlives the call, and with
//! `threads <= 1` everything runs on the caller's thread.

use std::ops::Range;

use super::kernel::{BandOut, Dst, split_bands, write_band};
use super::plan::Geometry;
use super::{
    FrameView, InputSpec, PreprocessError, TensorSlot, Transform, validate_spec, validate_std,
};

/// Preprocesses `frames` into the batch tensor `out` (`frames.len() * spec.elements()`
/// elements of `spec.dtype`): frame `i` into slot `i`, using up to `threads` threads.
///
/// Returns one [`Transform`] per frame. Every frame, the spec and the tensor are checked before
/// anything is written; a bad frame is reported as [`PreprocessError::InBatch`] with its index.
pub fn preprocess_batch(
    frames: &[FrameView<'_>],
    spec: &InputSpec,
    out: TensorSlot<'_>,
    threads: usize,
) -> Result<Vec<Transform>, PreprocessError> {
    for (index, f) in frames.iter().enumerate() {
        f.validate().map_err(|e| PreprocessError::InBatch {
            index,
            error: Box::new(e),
        })?;
    }
    validate_spec(spec, out.dtype())?;
    let expected = frames.len().saturating_mul(spec.elements());
    if out.len() != expected {
        return Err(PreprocessError::WrongBatchLength {
            frames: frames.len(),
            expected,
            got: out.len(),
        });
    }
    validate_std(spec)?;
    Ok(run_validated(frames, spec, out, threads))
}

/// Preprocesses one frame into slot `index` of the batch tensor `batch` (whose length must be a
/// whole number of slots), leaving the other slots as they are.
pub fn preprocess_into_slot<'a>(
    frame: impl Into<FrameView<'a>>,
    spec: &InputSpec,
    batch: TensorSlot<'_>,
    index: usize,
) -> Result<Transform, PreprocessError> {
    let frame = frame.into();
    frame.validate()?;
    validate_spec(spec, batch.dtype())?;
    let n = spec.elements();
    if !batch.len().is_multiple_of(n) {
        return Err(PreprocessError::WrongSlotLength {
            expected: n,
            got: batch.len() % n,
            width: spec.width,
            height: spec.height,
        });
    }
    let slots = batch.len() / n;
    if index >= slots {
        return Err(PreprocessError::SlotOutOfRange { index, slots });
    }
    validate_std(spec)?;
    let range = index * n..(index + 1) * n;
    let slot = match batch {
        TensorSlot::U8(b) => TensorSlot::U8(&mut b[range]),
        TensorSlot::F16(b) => TensorSlot::F16(&mut b[range]),
        TensorSlot::F32(b) => TensorSlot::F32(&mut b[range]),
    };
    let transforms = run_validated(&[frame], spec, slot, 1);
    Ok(transforms[0])
}

/// One unit of work: rows `rows` of frame `frame`.
struct Job<'a, 'f> {
    frame: FrameView<'f>,
    geometry: Geometry,
    rows: Range<usize>,
    out: BandOut<'a>,
}

/// Row ranges cutting `height` rows into `bands` nearly equal bands.
fn band_ranges(height: usize, bands: usize) -> Vec<Range<usize>> {
    let bands = bands.clamp(1, height.max(1));
    (0..bands)
        .map(|b| b * height / bands..(b + 1) * height / bands)
        .collect()
}

fn jobs_of<'a, 'f, T>(
    frames: &[FrameView<'f>],
    geometries: &[Geometry],
    spec: &InputSpec,
    tensor: &'a mut [T],
    bands: &[Range<usize>],
    wrap: fn(Dst<'a, T>) -> BandOut<'a>,
) -> Vec<Job<'a, 'f>> {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let mut jobs = Vec::with_capacity(frames.len() * bands.len());
    let slots = tensor.chunks_exact_mut(spec.elements());
    for ((frame, geometry), slot) in frames.iter().zip(geometries).zip(slots) {
        for (dst, rows) in split_bands(slot, spec.layout, w, h, bands)
            .into_iter()
            .zip(bands)
        {
            jobs.push(Job {
                frame: *frame,
                geometry: *geometry,
                rows: rows.clone(),
                out: wrap(dst),
            });
        }
    }
    jobs
}

/// Runs validated input: `out` holds exactly `frames.len()` slots of `spec.dtype`.
pub(crate) fn run_validated(
    frames: &[FrameView<'_>],
    spec: &InputSpec,
    out: TensorSlot<'_>,
    threads: usize,
) -> Vec<Transform> {
    let geometries: Vec<Geometry> = frames
        .iter()
        .map(|f| Geometry::new(f.width, f.height, spec))
        .collect();
    let threads = threads.max(1);
    let per_frame = if frames.len() >= threads {
        1
    } else {
        threads.div_ceil(frames.len().max(1))
    };
    let bands = band_ranges(spec.height as usize, per_frame);
    let jobs = match out {
        TensorSlot::U8(t) => jobs_of(frames, &geometries, spec, t, &bands, BandOut::U8),
        TensorSlot::F16(t) => jobs_of(frames, &geometries, spec, t, &bands, BandOut::F16),
        TensorSlot::F32(t) => jobs_of(frames, &geometries, spec, t, &bands, BandOut::F32),
    };
    let run = |group: Vec<Job<'_, '_>>| {
        for j in group {
            write_band(j.frame, spec, &j.geometry, j.rows, j.out);
        }
    };
    let workers = threads.min(jobs.len());
    if workers <= 1 {
        run(jobs);
    } else {
        let total = jobs.len();
        let mut groups: Vec<Vec<Job<'_, '_>>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, job) in jobs.into_iter().enumerate() {
            groups[i * workers / total].push(job);
        }
        std::thread::scope(|s| {
            let mut groups = groups.into_iter();
            let mine = groups.next();
            for group in groups {
                std::thread::Builder::new()
                    .name("preprocess".into())
                    .spawn_scoped(s, || run(group))
                    .expect("spawning a preprocessing thread");
            }
            if let Some(group) = mine {
                run(group);
            }
        });
    }
    geometries.iter().map(Geometry::transform).collect()
}
