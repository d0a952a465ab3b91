//! The rules engine of one camera; the policy is in the docs of [`crate::rules`].

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{ChangeKind, EventChange, LineDirection};
use crate::track::{Track, TrackState};

use super::MAX_OBJECTS;
use super::config::{Anchor, RulesConfig, label_listed};
use super::geometry::Point;
use super::object::{Object, Observed, apply_zone, check_loitering, push_crossing};
use super::stats::{LineStats, RulesStats, ZoneStats, bump};

/// Tolerance on `best_score_step`, so a step of 0.05 from 0.80 to 0.85 counts despite rounding.
const SCORE_EPSILON: f32 = 1e-6;

/// Zones, lines, dwell, counters and events for one camera.
#[derive(Clone, Debug)]
pub struct Rules {
    camera: String,
    config: RulesConfig,
    /// Followed objects by track id.
    objects: BTreeMap<u64, Object>,
    /// `(track id, first_seen_ms)` of objects ended by [`Rules::finish`] while their track may
    /// still be fed; they are ignored until their track disappears.
    finished: BTreeSet<(u64, u64)>,
    /// Zone entries so far, by zone index then label.
    entries: Vec<BTreeMap<String, u64>>,
    /// Line crossings so far, by line index.
    crossings: Vec<LineStats>,
    events_started: u64,
    events_ended: u64,
    ignored_objects: u64,
}

impl Rules {
    /// Rules for the camera named `camera` (it goes into every event and its id).
    pub fn new(camera: impl Into<String>, config: RulesConfig) -> Self {
        Self {
            camera: camera.into(),
            entries: vec![BTreeMap::new(); config.zones.len()],
            crossings: vec![LineStats::default(); config.lines.len()],
            config,
            objects: BTreeMap::new(),
            finished: BTreeSet::new(),
            events_started: 0,
            events_ended: 0,
            ignored_objects: 0,
        }
    }

    /// The settings these rules run with.
    pub fn config(&self) -> &RulesConfig {
        &self.config
    }

    /// Feeds one tracker update: all its tracks, the source frame's size in pixels (the space
    /// of the boxes) and the update's time. Returns this update's event changes.
    pub fn update(
        &mut self,
        tracks: &[Track],
        frame_width: u32,
        frame_height: u32,
        t_ms: u64,
    ) -> Vec<EventChange> {
        let mut order: Vec<&Track> = tracks.iter().collect();
        order.sort_by_key(|t| t.id);
        // A tracker never repeats an id; should a caller, the first occurrence counts.
        order.dedup_by_key(|t| t.id);
        let present: BTreeSet<u64> = order.iter().map(|t| t.id).collect();
        self.finished.retain(|(id, _)| present.contains(id));

        let mut changes = Vec::new();
        let gone: Vec<u64> = self
            .objects
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(obj) = self.objects.remove(&id)
                && let Some(change) = self.end(obj)
            {
                changes.push(change);
            }
        }
        for track in order {
            if let Some(change) = self.follow(track, (frame_width, frame_height), t_ms) {
                changes.push(change);
            }
        }
        changes
    }

    /// Ends every announced event (shutdown, or the end of a replayed file) and forgets every
    /// object. Tracks fed before this are ignored afterwards (until they disappear), so an
    /// event never restarts; feed tracks from a fresh tracker to start anew. `_t_ms` is the
    /// time of the stop: events keep the time the object was last seen.
    pub fn finish(&mut self, _t_ms: u64) -> Vec<EventChange> {
        let objects = std::mem::take(&mut self.objects);
        let mut changes = Vec::new();
        for (id, obj) in objects {
            self.finished.insert((id, obj.first_seen_ms));
            if let Some(change) = self.end(obj) {
                changes.push(change);
            }
        }
        changes
    }

    /// Counters now: occupancy per zone and label, entries, crossings, event counts.
    pub fn stats(&self) -> RulesStats {
        let mut zones: BTreeMap<String, ZoneStats> = self
            .config
            .zones
            .iter()
            .zip(&self.entries)
            .map(|(z, entries)| {
                let stats = ZoneStats {
                    occupancy: BTreeMap::new(),
                    entries: entries.clone(),
                };
                (z.name.clone(), stats)
            })
            .collect();
        let mut open = 0;
        for obj in self.objects.values() {
            let Some(event) = &obj.event else { continue };
            open += u64::from(obj.announced);
            for i in obj.inside_zones() {
                let occupancy = &mut zones
                    .get_mut(&self.config.zones[i].name)
                    .expect("every configured zone has an entry")
                    .occupancy;
                *occupancy.entry(event.label.clone()).or_insert(0) += 1;
            }
        }
        RulesStats {
            zones,
            lines: self
                .config
                .lines
                .iter()
                .zip(&self.crossings)
                .map(|(l, c)| (l.name.clone(), c.clone()))
                .collect(),
            open_events: open,
            events_started: self.events_started,
            events_ended: self.events_ended,
            ignored_objects: self.ignored_objects,
        }
    }

    /// The `end` change of an object leaving the engine, if its event was announced.
    fn end(&mut self, obj: Object) -> Option<EventChange> {
        let mut event = obj.event.filter(|_| obj.announced)?;
        event.ended = true;
        self.events_ended += 1;
        Some(EventChange {
            kind: ChangeKind::End,
            event,
            best_improved: false,
        })
    }

    /// One track at one update: observe, qualify, record, decide what to emit.
    fn follow(&mut self, track: &Track, frame: (u32, u32), t_ms: u64) -> Option<EventChange> {
        let cfg = &self.config;
        if !label_listed(&cfg.labels, &track.label)
            || self.finished.contains(&(track.id, track.first_seen_ms))
        {
            return None;
        }
        if !self.objects.contains_key(&track.id) && self.objects.len() >= MAX_OBJECTS {
            self.ignored_objects += 1;
            return None;
        }
        let obj = self
            .objects
            .entry(track.id)
            .or_insert_with(|| Object::new(cfg, track));

        let observed = track.matched() && frame.0 > 0 && frame.1 > 0;
        let seen = if observed {
            obj.observe(
                cfg,
                anchor(cfg.anchor, track, frame),
                (track.bbox.y2 - track.bbox.y1).max(0.0) / frame.1 as f32,
                t_ms,
            )
        } else {
            Observed::default()
        };
        let qualified_now = obj.event.is_none()
            && observed
            && track.state == TrackState::Confirmed
            && cfg
                .filters
                .get(&track.label)
                .is_none_or(|f| f.passes(track.score, area_fraction(track, frame)));
        if qualified_now {
            obj.event = Some(obj.start_event(cfg, &self.camera, track, frame));
            for i in obj.inside_zones() {
                bump(&mut self.entries[i], &track.label);
            }
        }
        let inside_now = obj.zone_names(cfg);
        let Object {
            zones,
            event,
            announced,
            last_emit_ms,
            ..
        } = obj;
        let event = event.as_mut()?;

        let mut meaningful = false;
        if observed {
            event.score = track.score;
            event.bbox = track.bbox.into();
            event.last_seen_ms = track.last_seen_ms;
            (event.frame_width, event.frame_height) = frame;
        }
        // At qualification the event was built from the zone states, this update's included.
        if !qualified_now {
            for (i, t, stay_since) in &seen.zones {
                apply_zone(event, cfg, *i, t, inside_now.clone(), *stay_since);
                if t.to {
                    bump(&mut self.entries[*i], &track.label);
                }
                meaningful = true;
            }
        }
        for &(i, direction, at_ms) in &seen.crossings {
            push_crossing(event, &cfg.lines[i].name, direction, at_ms);
            let counts = match direction {
                LineDirection::LeftToRight => &mut self.crossings[i].left_to_right,
                LineDirection::RightToLeft => &mut self.crossings[i].right_to_left,
            };
            bump(counts, &track.label);
            meaningful = true;
        }
        if observed {
            meaningful |= check_loitering(zones, event, cfg, t_ms);
        }

        let kind = if !*announced {
            let required = cfg.required_zones.is_empty()
                || event
                    .entered_zones
                    .iter()
                    .any(|z| cfg.required_zones.contains(z));
            if !(observed && required) {
                return None;
            }
            *announced = true;
            self.events_started += 1;
            event.best_score = event.score;
            ChangeKind::New
        } else {
            let better = observed
                && event.score > event.best_score
                && event.score + SCORE_EPSILON >= event.best_score + cfg.best_score_step;
            let interval_ms = (f64::from(cfg.update_interval_s) * 1000.0) as u64;
            let due = observed && t_ms.saturating_sub(*last_emit_ms) >= interval_ms;
            if !(meaningful || better || due) {
                return None;
            }
            ChangeKind::Update
        };
        let best_improved = kind == ChangeKind::New || (observed && event.score > event.best_score);
        if best_improved {
            event.best_score = event.score;
        }
        *last_emit_ms = t_ms;
        Some(EventChange {
            kind,
            event: event.clone(),
            best_improved,
        })
    }
}

/// The anchor point of a track's box, normalised to the frame.
fn anchor(anchor: Anchor, track: &Track, frame: (u32, u32)) -> Point {
    let b = &track.bbox;
    let x = (b.x1 + b.x2) / 2.0;
    let y = match anchor {
        Anchor::Bottom => b.y2,
        Anchor::Center => (b.y1 + b.y2) / 2.0,
    };
    [x / frame.0 as f32, y / frame.1 as f32]
}

/// The track's box area as a fraction of the frame's.
fn area_fraction(track: &Track, frame: (u32, u32)) -> f32 {
    let b = &track.bbox;
    let area = (b.x2 - b.x1).max(0.0) * (b.y2 - b.y1).max(0.0);
    area / (frame.0 as f32 * frame.1 as f32)
}
