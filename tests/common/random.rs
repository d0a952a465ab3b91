//! Seeded pseudo-random inputs for the preprocessing tests (xorshift64: no crate, same bytes on
//! every run).

use edgesight::preprocess::{PixelFormat, PlaneLayout};

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A `w`×`h` frame of random bytes in `format`, with padded strides and gaps before planes.
pub fn random_frame(
    format: PixelFormat,
    w: u32,
    h: u32,
    rng: &mut Rng,
) -> (Vec<u8>, Vec<PlaneLayout>) {
    let mut data = Vec::new();
    let mut planes = Vec::new();
    for p in 0..format.planes() {
        let (row, rows) = format.plane_size(p, w, h);
        let gap = rng.below(5) as usize;
        data.extend((0..gap).map(|_| rng.next() as u8));
        let stride = row + rng.below(7) as usize;
        planes.push(PlaneLayout {
            offset: data.len(),
            stride,
        });
        data.extend((0..stride * rows).map(|_| (rng.next() >> 24) as u8));
    }
    (data, planes)
}
