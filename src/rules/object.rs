//! One object's state in the rules engine: its zone and line watches and its event.
//!
//! The engine ([`super::Rules`]) feeds each object its track once per update; this file keeps
//! the bookkeeping that belongs to one object: anti-flicker state per zone and line, and the
//! event fields that follow from it (zones now, zones entered, crossings, loitering).

use crate::event::{
    EVENT_VERSION, Event, EventBox, LineCrossing, LineDirection, Loitering, MAX_LINE_CROSSINGS,
    MAX_LOITERING, event_id,
};
use crate::track::Track;

use super::config::{RulesConfig, label_listed};
use super::debounce::{Debounce, LineWatch, Transition};
use super::geometry::{Point, Side, point_in_polygon};

/// One object against one zone.
#[derive(Clone, Debug)]
pub(super) struct ZoneWatch {
    /// The zone's labels include the object's.
    pub applies: bool,
    /// Stably inside (starts outside).
    pub inside: Debounce<bool>,
    /// Loitering was recorded for the current stay.
    pub loitered: bool,
}

/// One object against one line.
#[derive(Clone, Debug)]
pub(super) struct LineSlot {
    /// The line's labels include the object's.
    pub applies: bool,
    pub watch: LineWatch,
}

/// What one observation changed for an object.
#[derive(Debug, Default)]
pub(super) struct Observed {
    /// Zone index, its stable transition (entered: `to == true`) and the time the previous
    /// stable state began (for an exit: the entry time of the stay that ended).
    pub zones: Vec<(usize, Transition<bool>, u64)>,
    /// Line index, direction and time of each counted crossing.
    pub crossings: Vec<(usize, LineDirection, u64)>,
}

/// The rules engine's state for one track.
#[derive(Clone, Debug)]
pub(super) struct Object {
    /// The track's `first_seen_ms` (with the id, it names the object for good).
    pub first_seen_ms: u64,
    pub zones: Vec<ZoneWatch>,
    pub lines: Vec<LineSlot>,
    /// Present once the object qualified as an event (confirmed, label and filter passed).
    pub event: Option<Event>,
    /// `new` was emitted.
    pub announced: bool,
    /// Time of the latest emitted change (ms).
    pub last_emit_ms: u64,
}

impl Object {
    pub fn new(cfg: &RulesConfig, track: &Track) -> Self {
        let label = track.label.as_str();
        Self {
            first_seen_ms: track.first_seen_ms,
            zones: cfg
                .zones
                .iter()
                .map(|z| ZoneWatch {
                    applies: label_listed(&z.labels, label),
                    inside: Debounce::new(Some(false)),
                    loitered: false,
                })
                .collect(),
            lines: cfg
                .lines
                .iter()
                .map(|l| LineSlot {
                    applies: label_listed(&l.labels, label),
                    watch: LineWatch::default(),
                })
                .collect(),
            event: None,
            announced: false,
            last_emit_ms: 0,
        }
    }

    /// Tests the anchor point `p` (normalised) against every zone and line that applies;
    /// `height` is the object's box height (normalised), which sizes the lines' dead band.
    pub fn observe(&mut self, cfg: &RulesConfig, p: Point, height: f32, t_ms: u64) -> Observed {
        let margin = cfg.line_margin * height;
        let mut out = Observed::default();
        for (i, (z, w)) in cfg.zones.iter().zip(&mut self.zones).enumerate() {
            if !w.applies {
                continue;
            }
            let inside = point_in_polygon(&z.polygon, p);
            let previous_since = w.inside.stable_since_ms();
            if let Some(t) = w.inside.observe(inside, t_ms, cfg.min_frames) {
                if t.to {
                    w.loitered = false;
                }
                out.zones.push((i, t, previous_since));
            }
        }
        for (i, (l, s)) in cfg.lines.iter().zip(&mut self.lines).enumerate() {
            if !s.applies {
                continue;
            }
            if let Some(c) = s
                .watch
                .observe((l.from, l.to), p, margin, t_ms, cfg.min_frames)
            {
                let dir = match (c.from, c.to) {
                    (Side::Left, _) => LineDirection::LeftToRight,
                    (Side::Right, _) => LineDirection::RightToLeft,
                };
                out.crossings.push((i, dir, c.at_ms));
            }
        }
        out
    }

    /// Indices of the zones the object is stably inside, in configuration order.
    pub fn inside_zones(&self) -> impl Iterator<Item = usize> + '_ {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, w)| w.inside.stable() == Some(true))
            .map(|(i, _)| i)
    }

    /// The event for a track qualifying now; zones it is already inside count as entered, in
    /// order of entry time.
    pub fn start_event(
        &self,
        cfg: &RulesConfig,
        camera: &str,
        track: &Track,
        frame: (u32, u32),
    ) -> Event {
        let mut entered: Vec<usize> = self.inside_zones().collect();
        entered.sort_by_key(|&i| (self.zones[i].inside.stable_since_ms(), i));
        Event {
            version: EVENT_VERSION,
            id: event_id(camera, track.first_seen_ms, track.id),
            camera: camera.to_string(),
            label: track.label.clone(),
            track_id: track.id,
            score: track.score,
            best_score: track.score,
            bbox: EventBox::from(track.bbox),
            frame_width: frame.0,
            frame_height: frame.1,
            first_seen_ms: track.first_seen_ms,
            last_seen_ms: track.last_seen_ms,
            zones: self.zone_names(cfg),
            entered_zones: entered.iter().map(|&i| cfg.zones[i].name.clone()).collect(),
            lines: Vec::new(),
            loitering: Vec::new(),
            ended: false,
            has_snapshot: false,
        }
    }

    /// Names of the zones the object is stably inside, in configuration order.
    pub fn zone_names(&self, cfg: &RulesConfig) -> Vec<String> {
        self.inside_zones()
            .map(|i| cfg.zones[i].name.clone())
            .collect()
    }
}

/// Records a zone entry or exit in `event`; keeps `zones` in configuration order.
pub(super) fn apply_zone(
    event: &mut Event,
    cfg: &RulesConfig,
    zone: usize,
    t: &Transition<bool>,
    inside_now: Vec<String>,
    entered_since_ms: u64,
) {
    let name = &cfg.zones[zone].name;
    event.zones = inside_now;
    if t.to {
        if !event.entered_zones.contains(name) {
            event.entered_zones.push(name.clone());
        }
    } else if let Some(l) = event
        .loitering
        .iter_mut()
        .rev()
        .find(|l| &l.zone == name && l.since_ms == entered_since_ms)
    {
        l.seconds = seconds(t.since_ms.saturating_sub(l.since_ms));
    }
}

/// Appends a crossing, keeping the most recent [`MAX_LINE_CROSSINGS`].
pub(super) fn push_crossing(event: &mut Event, line: &str, direction: LineDirection, at_ms: u64) {
    if event.lines.len() >= MAX_LINE_CROSSINGS {
        event.lines.remove(0);
    }
    event.lines.push(LineCrossing {
        line: line.to_string(),
        direction,
        at_ms,
    });
}

/// Checks loitering for the zones the object is inside at `t_ms`: records each new one (true
/// when one was recorded) and refreshes the running time of the current stays.
pub(super) fn check_loitering(
    zones: &mut [ZoneWatch],
    event: &mut Event,
    cfg: &RulesConfig,
    t_ms: u64,
) -> bool {
    let mut recorded = false;
    for (i, w) in zones.iter_mut().enumerate() {
        if w.inside.stable() != Some(true) {
            continue;
        }
        let zone = &cfg.zones[i];
        let since = w.inside.stable_since_ms();
        let dwell_ms = t_ms.saturating_sub(since);
        let dwell = seconds(dwell_ms);
        if w.loitered {
            if let Some(l) = event
                .loitering
                .iter_mut()
                .rev()
                .find(|l| l.zone == zone.name && l.since_ms == since)
            {
                l.seconds = dwell;
            }
        } else if let Some(limit) = zone.loiter_s
            && dwell_ms as f64 >= f64::from(limit) * 1000.0
        {
            w.loitered = true;
            recorded = true;
            if event.loitering.len() >= MAX_LOITERING {
                event.loitering.remove(0);
            }
            event.loitering.push(Loitering {
                zone: zone.name.clone(),
                seconds: dwell,
                since_ms: since,
            });
        }
    }
    recorded
}

/// Milliseconds as seconds, rounded to 0.1 s.
fn seconds(ms: u64) -> f32 {
    (ms as f64 / 100.0).round() as f32 / 10.0
}
