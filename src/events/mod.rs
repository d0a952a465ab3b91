//! From detections to published events: each camera's tracker and rules (`camera.rs`), and the
//! bus that hands event changes to the store, the live console and stdout (`bus.rs`).

pub mod bus;
pub mod camera;

pub use bus::{Durable, EventBus};
pub use camera::{CameraEvents, Observation, TrackView};
