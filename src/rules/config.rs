//! Rules settings for one camera: zones, lines, object filters and event options.
//!
//! Coordinates are normalised to the frame: `[x, y]` with `0 ≤ x, y ≤ 1`, `[0, 0]` the top-left
//! corner and `[1, 1]` the bottom-right one, so a config survives a change of resolution.
//! Every key but names and shapes is optional; unknown keys are refused. [`RulesConfig::validate`]
//! checks values without I/O; its message names the field (relative to this table, e.g.
//! `zones[1].polygon`) and the fix. The field doc comments are the reference for users.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// At most this many zones, and as many lines, per camera.
pub const MAX_SHAPES: usize = 64;
/// At most this many points in a zone's polygon.
pub const MAX_POLYGON_POINTS: usize = 64;
/// Upper bound accepted for `min_frames`.
pub const MIN_FRAMES_LIMIT: u32 = 100;
/// Upper bound accepted for `update_interval_s` and `loiter_s` (one day).
pub const SECONDS_LIMIT: f32 = 86_400.0;

/// A polygon area of the frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Unique among the camera's zones: letters, digits, `-` and `_`.
    pub name: String,
    /// Corners in order (either winding), normalised `[x, y]`; 3 to 64 points. An object is
    /// inside when its anchor point is.
    pub polygon: Vec<[f32; 2]>,
    /// Labels this zone applies to; empty (the default) for every label.
    #[serde(default)]
    pub labels: Vec<String>,
    /// An object inside for longer than this many seconds is loitering (recorded once per
    /// stay); absent (the default) for no loitering rule.
    #[serde(default)]
    pub loiter_s: Option<f32>,
}

/// A counting line (a segment) across the frame.
///
/// Directions are named as seen standing on `from` and facing `to`, in the frame as displayed:
/// moving from the left-hand side to the right-hand side is `left_to_right`, the reverse
/// `right_to_left`. A line drawn from the frame's left edge to its right edge has its left side
/// above it: objects moving down the frame cross it `left_to_right`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Unique among the camera's lines: letters, digits, `-` and `_`.
    pub name: String,
    /// One end of the segment, normalised `[x, y]`.
    pub from: [f32; 2],
    /// The other end; the direction `from → to` names the two ways across.
    pub to: [f32; 2],
    /// Labels this line counts; empty (the default) for every label.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Size and score bounds an object must meet (once) to become an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectFilter {
    /// Smallest detection score, 0..1; default 0.
    pub min_score: f32,
    /// Smallest box area as a fraction of the frame area, 0..1; default 0.
    pub min_area: f32,
    /// Largest box area as a fraction of the frame area, 0..1; default 1.
    pub max_area: f32,
}

impl Default for ObjectFilter {
    fn default() -> Self {
        Self {
            min_score: 0.0,
            min_area: 0.0,
            max_area: 1.0,
        }
    }
}

impl ObjectFilter {
    /// Whether an object with this score and this area fraction passes.
    pub fn passes(&self, score: f32, area_fraction: f32) -> bool {
        score >= self.min_score && area_fraction >= self.min_area && area_fraction <= self.max_area
    }
}

/// Which point of an object's box is tested against zones and lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// The middle of the box's bottom edge: where a person or vehicle touches the ground.
    #[default]
    Bottom,
    /// The centre of the box.
    Center,
}

/// All rules of one camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Zones, at most 64.
    pub zones: Vec<ZoneConfig>,
    /// Counting lines, at most 64.
    pub lines: Vec<LineConfig>,
    /// Per-label bounds an object must meet once to become an event; labels without an entry
    /// are not filtered.
    pub filters: BTreeMap<String, ObjectFilter>,
    /// Labels the rules consider at all (events, counters); empty (the default) for every
    /// label.
    pub labels: Vec<String>,
    /// An object becomes an event only once it has entered one of these zones; empty (the
    /// default) for no such requirement. Counters are not affected.
    pub required_zones: Vec<String>,
    /// Anti-flicker: a zone entry or exit, or a side of a line, counts only after the anchor
    /// point was seen there on this many consecutive analysed frames. 1 to 100, default 3.
    pub min_frames: u32,
    /// Which point of the box is tested: "bottom" (default) or "center".
    pub anchor: Anchor,
    /// Dead band around each line, as a fraction of the object's box height: an anchor point
    /// closer to the line than this is on neither side, so an object walking along a line (its
    /// feet wobbling across it) is not counted again and again. 0 to 2, default 0.25.
    pub line_margin: f32,
    /// While an object is seen and nothing meaningful changes, an `update` is sent at most
    /// this often (seconds); 0 sends one for every analysed frame. Default 5.
    pub update_interval_s: f32,
    /// The best score must rise by at least this much for a better snapshot (an immediate
    /// `update` with `best_improved`); 0 for any rise. 0..1, default 0.05.
    pub best_score_step: f32,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            lines: Vec::new(),
            filters: BTreeMap::new(),
            labels: Vec::new(),
            required_zones: Vec::new(),
            min_frames: 3,
            anchor: Anchor::Bottom,
            line_margin: 0.25,
            update_interval_s: 5.0,
            best_score_step: 0.05,
        }
    }
}

/// Whether `label` passes a label list where empty means every label.
pub(crate) fn label_listed(list: &[String], label: &str) -> bool {
    list.is_empty() || list.iter().any(|l| l == label)
}

impl RulesConfig {
    /// Checks every value; `Err` names the field (relative to this table) and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.zones.len() > MAX_SHAPES {
            return Err(format!(
                "zones: {} zones; use at most {MAX_SHAPES}",
                self.zones.len()
            ));
        }
        if self.lines.len() > MAX_SHAPES {
            return Err(format!(
                "lines: {} lines; use at most {MAX_SHAPES}",
                self.lines.len()
            ));
        }
        let mut names = BTreeSet::new();
        for (i, z) in self.zones.iter().enumerate() {
            let field = format!("zones[{i}]");
            check_name(&field, &z.name)?;
            if !names.insert(z.name.as_str()) {
                return Err(format!(
                    "{field}.name: `{}` is used by another zone; give every zone a unique name",
                    z.name
                ));
            }
            check_zone(&field, z)?;
        }
        let mut names = BTreeSet::new();
        for (i, l) in self.lines.iter().enumerate() {
            let field = format!("lines[{i}]");
            check_name(&field, &l.name)?;
            if !names.insert(l.name.as_str()) {
                return Err(format!(
                    "{field}.name: `{}` is used by another line; give every line a unique name",
                    l.name
                ));
            }
            check_point(&format!("{field}.from"), l.from)?;
            check_point(&format!("{field}.to"), l.to)?;
            let len = ((l.to[0] - l.from[0]).powi(2) + (l.to[1] - l.from[1]).powi(2)).sqrt();
            if len < 1e-3 {
                return Err(format!(
                    "{field}.to: the line has no length; put `to` away from `from`"
                ));
            }
            check_labels(&format!("{field}.labels"), &l.labels)?;
        }
        for (label, f) in &self.filters {
            let field = format!("filters.{label}");
            if label.trim().is_empty() {
                return Err("filters: an empty label; name the label the filter is for".into());
            }
            for (key, v) in [
                ("min_score", f.min_score),
                ("min_area", f.min_area),
                ("max_area", f.max_area),
            ] {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    return Err(format!("{field}.{key}: {v} is out of range; use 0 to 1"));
                }
            }
            if f.min_area > f.max_area {
                return Err(format!(
                    "{field}.min_area: {} is above max_area ({}); lower min_area or raise max_area",
                    f.min_area, f.max_area
                ));
            }
        }
        check_labels("labels", &self.labels)?;
        for (i, name) in self.required_zones.iter().enumerate() {
            if !self.zones.iter().any(|z| &z.name == name) {
                return Err(format!(
                    "required_zones[{i}]: `{name}` is not a zone of this camera; \
                     use a name from `zones` or remove it"
                ));
            }
        }
        if !(1..=MIN_FRAMES_LIMIT).contains(&self.min_frames) {
            return Err(format!(
                "min_frames: {} is out of range; use 1 to {MIN_FRAMES_LIMIT}, e.g. 3",
                self.min_frames
            ));
        }
        let s = self.update_interval_s;
        if !(s.is_finite() && (0.0..=SECONDS_LIMIT).contains(&s)) {
            return Err(format!(
                "update_interval_s: {s} is out of range; use 0 to {SECONDS_LIMIT}, e.g. 5"
            ));
        }
        let step = self.best_score_step;
        if !(step.is_finite() && (0.0..=1.0).contains(&step)) {
            return Err(format!(
                "best_score_step: {step} is out of range; use 0 to 1, e.g. 0.05"
            ));
        }
        let m = self.line_margin;
        if !(m.is_finite() && (0.0..=2.0).contains(&m)) {
            return Err(format!(
                "line_margin: {m} is out of range; use 0 to 2 (box heights), e.g. 0.25"
            ));
        }
        Ok(())
    }
}

fn check_zone(field: &str, z: &ZoneConfig) -> Result<(), String> {
    let n = z.polygon.len();
    if !(3..=MAX_POLYGON_POINTS).contains(&n) {
        return Err(format!(
            "{field}.polygon: {n} points; use 3 to {MAX_POLYGON_POINTS} [x, y] corners"
        ));
    }
    for (j, p) in z.polygon.iter().enumerate() {
        check_point(&format!("{field}.polygon[{j}]"), *p)?;
    }
    if super::geometry::polygon_area(&z.polygon) < 1e-6 {
        return Err(format!(
            "{field}.polygon: the polygon has no area; give corners that enclose a region"
        ));
    }
    check_labels(&format!("{field}.labels"), &z.labels)?;
    if let Some(s) = z.loiter_s
        && !(s.is_finite() && s > 0.0 && s <= SECONDS_LIMIT)
    {
        return Err(format!(
            "{field}.loiter_s: {s} is out of range; use more than 0 up to {SECONDS_LIMIT} \
             seconds, or remove it"
        ));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field}.name: `{name}` is not a valid name; use 1 to 64 letters, digits, `-` or `_`"
        ))
    }
}

fn check_point(field: &str, p: [f32; 2]) -> Result<(), String> {
    if p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        Ok(())
    } else {
        Err(format!(
            "{field}: [{}, {}] is outside the frame; use coordinates from 0 to 1 \
             (fractions of the frame's width and height)",
            p[0], p[1]
        ))
    }
}

fn check_labels(field: &str, labels: &[String]) -> Result<(), String> {
    match labels.iter().position(|l| l.trim().is_empty()) {
        Some(i) => Err(format!(
            "{field}[{i}]: an empty label; remove it or name a label"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_parse_and_errors_name_field_and_fix() {
        let cfg: RulesConfig = toml::from_str(
            r#"
            required_zones = ["yard"]
            [[zones]]
            name = "yard"
            polygon = [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]]
            loiter_s = 30
            [[lines]]
            name = "door"
            from = [0.2, 0.5]
            to = [0.8, 0.5]
            labels = ["person"]
            [filters.person]
            min_score = 0.6
            "#,
        )
        .expect("parses");
        cfg.validate().expect("valid");
        assert_eq!(
            (cfg.min_frames, cfg.anchor, cfg.update_interval_s),
            (3, Anchor::Bottom, 5.0)
        );
        assert_eq!(cfg.filters["person"].max_area, 1.0);
        RulesConfig::default().validate().expect("defaults valid");
        let err =
            toml::from_str::<RulesConfig>("[[zones]]\nname = \"a\"\npolygon = []\nloiter = 3")
                .expect_err("unknown key");
        assert!(err.to_string().contains("loiter"), "{err}");

        let bad = |f: &dyn Fn(&mut RulesConfig)| {
            let mut c = cfg.clone();
            f(&mut c);
            c.validate().expect_err("invalid")
        };
        let cases: Vec<(&str, String)> = vec![
            (
                "zones[0].polygon:",
                bad(&|c| c.zones[0].polygon.truncate(2)),
            ),
            (
                "zones[0].polygon[1]:",
                bad(&|c| c.zones[0].polygon[1] = [1.5, 0.5]),
            ),
            (
                "zones[0].polygon:",
                bad(&|c| c.zones[0].polygon = vec![[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
            ),
            ("zones[0].name:", bad(&|c| c.zones[0].name = "a b".into())),
            ("zones[1].name:", bad(&|c| c.zones.push(c.zones[0].clone()))),
            (
                "zones[0].loiter_s:",
                bad(&|c| c.zones[0].loiter_s = Some(0.0)),
            ),
            ("lines[0].to:", bad(&|c| c.lines[0].to = c.lines[0].from)),
            (
                "lines[0].labels[0]:",
                bad(&|c| c.lines[0].labels = vec![" ".into()]),
            ),
            (
                "filters.person.min_area:",
                bad(&|c| {
                    let f = c.filters.get_mut("person").expect("set");
                    (f.min_area, f.max_area) = (0.5, 0.2);
                }),
            ),
            (
                "required_zones[0]:",
                bad(&|c| c.required_zones = vec!["nowhere".into()]),
            ),
            ("min_frames:", bad(&|c| c.min_frames = 0)),
            (
                "update_interval_s:",
                bad(&|c| c.update_interval_s = f32::NAN),
            ),
            ("best_score_step:", bad(&|c| c.best_score_step = 2.0)),
        ];
        for (field, err) in cases {
            assert!(err.starts_with(field), "expected {field} in: {err}");
            assert!(
                err.contains("use")
                    || err.contains("give")
                    || err.contains("put")
                    || err.contains("remove")
                    || err.contains("lower"),
                "no fix in: {err}"
            );
        }
    }
}
