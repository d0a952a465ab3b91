//! Counters of one camera's rules, for the API and the metrics.
//!
//! Occupancy is a gauge (objects inside now); entries, crossings and event counts are
//! cumulative since the rules were created. All maps are ordered (BTreeMap), so the JSON is
//! stable. Only objects that qualified (confirmed, label and filter passed) are counted;
//! `required_zones` does not affect counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters of one zone, by label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStats {
    /// Objects inside now, by label (lost objects count until their track is removed).
    pub occupancy: BTreeMap<String, u32>,
    /// Entries so far, by label.
    pub entries: BTreeMap<String, u64>,
}

/// Crossings of one line so far, by label, per direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineStats {
    /// Crossings from the left-hand side of `from → to` to its right-hand side.
    pub left_to_right: BTreeMap<String, u64>,
    /// Crossings the other way.
    pub right_to_left: BTreeMap<String, u64>,
}

/// Everything one camera's rules count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesStats {
    /// Per configured zone, by name.
    pub zones: BTreeMap<String, ZoneStats>,
    /// Per configured line, by name.
    pub lines: BTreeMap<String, LineStats>,
    /// Events announced (`new` sent) and not ended.
    pub open_events: u64,
    /// `new` changes sent so far.
    pub events_started: u64,
    /// `end` changes sent so far.
    pub events_ended: u64,
    /// Tracks ignored because the engine already followed its maximum of objects.
    pub ignored_objects: u64,
}

/// Adds one to `map[label]`.
pub(super) fn bump(map: &mut BTreeMap<String, u64>, label: &str) {
    match map.get_mut(label) {
        Some(n) => *n = n.saturating_add(1),
        None => {
            map.insert(label.to_string(), 1);
        }
    }
}
