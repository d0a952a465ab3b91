//! Rules per camera: tracks → zone presence, line crossings, loitering, counters and the event
//! lifecycle (`new` / `update` / `end`).
//!
//! Inputs: after each tracker update, every track the tracker returned ([`crate::track::Track`],
//! all states: pass the whole slice, a track that disappears from it is taken as removed), the
//! source frame's size and the same `t_ms`. Output: the [`EventChange`]s of that update, ends
//! first, then the others, each group by track id; [`Rules::stats`] for counters.
//!
//! Policy:
//! - An object is followed from its first track update. Only its matched updates are observed
//!   (a lost track's predicted box is not evidence). The anchor point of its box ([`Anchor`]) is
//!   tested against the zones and lines whose labels include the object's.
//! - Anti-flicker: a zone entry or exit counts after `min_frames` consecutive observations
//!   inside (outside). A line crossing counts when the anchor was stably (`min_frames`) on one
//!   side, is now stably on the other, and its latest move across went through the segment (not
//!   around an end). Jitter on a line counts at most once, and not at all unless it settles.
//! - An object qualifies as an event at the first update where its track is confirmed and
//!   matched, its label is in `labels` and it passes the label's [`ObjectFilter`] (score and
//!   area of that frame). From then on it is counted and its event is kept, until its track is
//!   removed. Zones it was already inside count as entered.
//! - `new` is sent once, when it qualifies, or with `required_zones` once it has entered one of
//!   them. `update` is sent at once when it enters or leaves a zone, crosses a line, starts
//!   loitering, or its score beats the event's best by `best_score_step` (a better snapshot);
//!   otherwise at most every `update_interval_s` while it is seen. `end` is sent once, when its
//!   track is removed or at [`Rules::finish`]. One change per event per update at most; nothing
//!   after `end`.
//!
//! Deterministic: outputs depend only on the inputs (ordered maps, no clock, no randomness).
//!
//! Failure: none. A frame size of 0 makes that update observe nothing. The engine follows at
//! most [`MAX_OBJECTS`] objects; further tracks are ignored and counted. `config` should be
//! validated ([`RulesConfig::validate`]); invalid shapes simply never match.

pub mod config;
mod debounce;
mod engine;
pub mod geometry;
mod object;
pub mod stats;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use config::{Anchor, LineConfig, ObjectFilter, RulesConfig, ZoneConfig};
pub use engine::Rules;
pub use stats::{LineStats, RulesStats, ZoneStats};

#[cfg(doc)]
use crate::event::EventChange;

/// At most this many objects are followed at once per camera.
pub const MAX_OBJECTS: usize = 4096;
