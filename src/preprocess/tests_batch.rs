//! Batches and threads: slot `i` of a batch equals frame `i` preprocessed alone, whatever the
//! thread count; errors name the frame and plane and leave the tensor untouched.

use super::tests_formats::{Rng, random_frame};
use super::*;

fn spec(dtype: ElementType, layout: Layout) -> InputSpec {
    InputSpec {
        width: 37,
        height: 29,
        layout,
        order: ChannelOrder::Bgr,
        dtype,
        resize: Resize::Letterbox {
            pad: 114,
            center: true,
        },
        mean: [1.0, 2.0, 3.0],
        std: [50.0, 60.0, 70.0],
    }
}

#[test]
fn batch_slots_equal_single_frames_for_any_thread_count() {
    let mut rng = Rng(42);
    let sizes = [(61, 33), (17, 45), (101, 77), (8, 8), (3, 1)];
    let buffers: Vec<_> = sizes
        .iter()
        .zip(PixelFormat::ALL.iter().cycle())
        .map(|(&(w, h), &format)| (format, w, h, random_frame(format, w, h, &mut rng)))
        .collect();
    let frames: Vec<FrameView<'_>> = buffers
        .iter()
        .map(|(format, w, h, (data, planes))| FrameView::with_planes(*format, data, *w, *h, planes))
        .collect();
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let s = spec(ElementType::F32, layout);
        let n = s.elements();
        let mut singles = vec![0f32; n * frames.len()];
        let mut single_transforms = Vec::new();
        for (f, slot) in frames.iter().zip(singles.chunks_exact_mut(n)) {
            single_transforms.push(preprocess_into(*f, &s, TensorSlot::F32(slot)).expect("one"));
        }
        for threads in [1, 2, 3, 8, 16] {
            for count in [1, 2, frames.len()] {
                let mut batch = vec![f32::NAN; n * count];
                let t =
                    preprocess_batch(&frames[..count], &s, TensorSlot::F32(&mut batch), threads)
                        .expect("batch");
                assert_eq!(t, single_transforms[..count], "threads {threads}");
                assert_eq!(
                    batch,
                    singles[..n * count],
                    "{layout:?}, {count} frames, {threads} threads"
                );
            }
        }
    }
    // U8 and F16 too, in one combination each.
    for dtype in [ElementType::U8, ElementType::F16] {
        let s = spec(dtype, Layout::Nchw);
        let n = s.elements();
        match dtype {
            ElementType::U8 => {
                let mut a = vec![0u8; n * frames.len()];
                let mut b = vec![1u8; n * frames.len()];
                preprocess_batch(&frames, &s, TensorSlot::U8(&mut a), 1).expect("u8 1");
                preprocess_batch(&frames, &s, TensorSlot::U8(&mut b), 7).expect("u8 7");
                assert_eq!(a, b);
            }
            _ => {
                let mut a = vec![f16::ZERO; n * frames.len()];
                let mut b = vec![f16::ONE; n * frames.len()];
                preprocess_batch(&frames, &s, TensorSlot::F16(&mut a), 1).expect("f16 1");
                preprocess_batch(&frames, &s, TensorSlot::F16(&mut b), 7).expect("f16 7");
                assert_eq!(a, b);
            }
        }
    }
}

#[test]
fn into_slot_writes_only_that_slot() {
    let mut rng = Rng(7);
    let (data, planes) = random_frame(PixelFormat::Nv12, 23, 11, &mut rng);
    let frame = FrameView::with_planes(PixelFormat::Nv12, &data, 23, 11, &planes);
    let s = spec(ElementType::U8, Layout::Nhwc);
    let n = s.elements();
    let mut alone = vec![0u8; n];
    preprocess_into(frame, &s, TensorSlot::U8(&mut alone)).expect("alone");
    let mut batch = vec![9u8; 3 * n];
    preprocess_into_slot(frame, &s, TensorSlot::U8(&mut batch), 1).expect("slot 1");
    assert!(batch[..n].iter().all(|&v| v == 9));
    assert_eq!(batch[n..2 * n], alone[..]);
    assert!(batch[2 * n..].iter().all(|&v| v == 9));
    let err = preprocess_into_slot(frame, &s, TensorSlot::U8(&mut batch), 3).expect_err("slot 3");
    assert_eq!(err, PreprocessError::SlotOutOfRange { index: 3, slots: 3 });
    assert_eq!(
        err.to_string(),
        "slot 3 is past the end of a batch tensor of 3 slots"
    );
}

#[test]
fn batch_errors_name_the_frame_and_plane_and_write_nothing() {
    let w = 10u32;
    let h = 6u32;
    let good = vec![0u8; FrameView::tight_len(PixelFormat::Nv12, w, h)];
    let short = &good[..good.len() - 1];
    let frames = [
        FrameView::tight(PixelFormat::Nv12, &good, w, h),
        FrameView::tight(PixelFormat::Nv12, &good, w, h),
        FrameView::tight(PixelFormat::Nv12, short, w, h),
    ];
    let s = spec(ElementType::F32, Layout::Nchw);
    let mut out = vec![5f32; 3 * s.elements()];
    let err = preprocess_batch(&frames, &s, TensorSlot::F32(&mut out), 2).expect_err("short");
    assert_eq!(
        err.to_string(),
        "frame 2 of the batch: image data holds 89 bytes but the NV12 UV plane of 10x6 at offset 60 \
         with stride 10 needs 90"
    );
    assert!(out.iter().all(|&v| v == 5.0));

    let err = preprocess_batch(&frames[..2], &s, TensorSlot::F32(&mut out), 2).expect_err("len");
    assert_eq!(
        err.to_string(),
        format!(
            "batch tensor holds {} elements but 2 frames need {}",
            3 * s.elements(),
            2 * s.elements()
        )
    );

    let mut planes = [PlaneLayout {
        offset: 0,
        stride: 10,
    }; 3];
    planes[1] = PlaneLayout {
        offset: 60,
        stride: 4,
    };
    let narrow = FrameView::with_planes(PixelFormat::I420, &good, w, h, &planes);
    let err = preprocess_batch(&[narrow], &s, TensorSlot::F32(&mut out[..s.elements()]), 1)
        .expect_err("stride");
    assert_eq!(
        err.to_string(),
        "frame 0 of the batch: I420 U plane: row stride 4 is smaller than 5 bytes (width 10)"
    );
    assert!(out.iter().all(|&v| v == 5.0));

    let mut bad_std = s.clone();
    bad_std.std[2] = f32::INFINITY;
    let err = preprocess_batch(
        &frames[..1],
        &bad_std,
        TensorSlot::F32(&mut out[..s.elements()]),
        1,
    )
    .expect_err("std");
    assert!(matches!(
        err,
        PreprocessError::InvalidStd { channel: 2, .. }
    ));
}
