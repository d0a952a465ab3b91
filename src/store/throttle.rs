//! Snapshot throttle: encoding JPEGs is the store writer's main cost, and an object seen better
//! and better (its score creeping up) would be encoded again and again.
//!
//! Policy: an event's first snapshot is written at once; after that, a better view is kept
//! (replacing any kept before) and written when [`SNAPSHOT_INTERVAL`] has passed since the
//! event's last snapshot, or before the event's `end` is stored, whichever comes first. So an
//! event gets at most one snapshot per interval plus its first, and its best view is on disk
//! by the time its `end` goes out. Kept views hold their frames, which stay counted against
//! the writer's frame limit until written; entries are dropped when their event ends. A kept
//! view is a copy of its frame: the decoder's buffer goes back to its pool at once, instead of
//! the pool growing by a buffer for every view held (one 720p frame, 1.4 MB, each).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::apply::Pending;
use crate::event::ChangeKind;

/// Shortest time between two snapshots of one event (after its first).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(2);

/// At most this many events are remembered (when their snapshot was written); older entries
/// are forgotten first, which at worst writes one snapshot early.
const MAX_REMEMBERED: usize = 8192;

#[derive(Default)]
pub(super) struct Throttle {
    /// When each event's last snapshot was written.
    written: HashMap<String, Instant>,
    /// The best view kept for each event whose snapshot is not due yet.
    kept: HashMap<String, Pending>,
}

impl Throttle {
    /// Lets `p`'s frame through when its event's snapshot is due; otherwise keeps it (taking it
    /// off `p`) for later.
    pub(super) fn admit(&mut self, p: &mut Pending, now: Instant) {
        if p.frame.is_none() || p.change.kind == ChangeKind::End {
            return;
        }
        let id = &p.change.event.id;
        let recent = self
            .written
            .get(id)
            .is_some_and(|&at| now.duration_since(at) < SNAPSHOT_INTERVAL);
        if recent {
            // Held up to SNAPSHOT_INTERVAL: a copy, so the decoder's buffer goes back to its
            // pool at once.
            let kept = Pending {
                change: p.change.clone(),
                frame: p.frame.take().map(|mut f| {
                    f.detach();
                    f
                }),
            };
            self.kept.insert(id.clone(), kept);
        } else {
            // Written with this batch: a view kept before is superseded.
            self.kept.remove(id);
        }
    }

    /// Kept views to write now: those whose interval has passed, and those of the events in
    /// `ending`.
    pub(super) fn due(&mut self, now: Instant, ending: &[&str]) -> Vec<Pending> {
        let ready: Vec<String> = self
            .kept
            .keys()
            .filter(|id| {
                ending.contains(&id.as_str())
                    || self
                        .written
                        .get(*id)
                        .is_none_or(|&at| now.duration_since(at) >= SNAPSHOT_INTERVAL)
            })
            .cloned()
            .collect();
        ready
            .into_iter()
            .filter_map(|id| self.kept.remove(&id))
            .collect()
    }

    /// Records that `id`'s snapshot was written at `now`.
    pub(super) fn wrote(&mut self, id: &str, now: Instant) {
        if self.written.len() >= MAX_REMEMBERED && !self.written.contains_key(id) {
            let cutoff = now.checked_sub(SNAPSHOT_INTERVAL).unwrap_or(now);
            self.written.retain(|_, &mut at| at > cutoff);
            if self.written.len() >= MAX_REMEMBERED {
                self.written.clear();
            }
        }
        self.written.insert(id.to_string(), now);
    }

    /// Forgets an event that ended.
    pub(super) fn ended(&mut self, id: &str) {
        self.written.remove(id);
        self.kept.remove(id);
    }

    /// When the next kept view falls due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.kept
            .keys()
            .filter_map(|id| self.written.get(id))
            .map(|&at| at + SNAPSHOT_INTERVAL)
            .min()
    }
}
