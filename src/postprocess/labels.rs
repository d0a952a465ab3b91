//! Class ids → label names, and the labelled detection that leaves the detector.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::Detection;

/// A label map: `label` per line (id = 0-based line number among non-empty lines) or
/// `ID  label` (explicit id, as in the 90-id COCO map).
#[derive(Clone, Debug, Default)]
pub struct Labels {
    by_id: HashMap<u32, String>,
}

impl Labels {
    /// Parses the text of a labels file.
    pub fn parse(text: &str) -> Self {
        let mut by_id = HashMap::new();
        for (line_no, line) in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let explicit = line
                .split_once(char::is_whitespace)
                .and_then(|(id, rest)| Some((id.parse::<u32>().ok()?, rest.trim())));
            match explicit {
                Some((id, name)) if !name.is_empty() => by_id.insert(id, name.to_string()),
                _ => by_id.insert(line_no as u32, line.to_string()),
            };
        }
        Self { by_id }
    }

    /// Reads a labels file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read labels file {}: {e}", path.display()))?;
        let labels = Self::parse(&text);
        if labels.by_id.is_empty() {
            return Err(format!("labels file {} has no labels", path.display()));
        }
        Ok(labels)
    }

    /// The name of class `id`, or `class-ID` when the map has none.
    pub fn name(&self, id: u32) -> String {
        self.by_id
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("class-{id}"))
    }

    /// Every class id with a name, ascending.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.by_id.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The id of `name`, if the map has it.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.by_id
            .iter()
            .find_map(|(id, n)| (n == name).then_some(*id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A box in source-frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BoundingBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// A detection with its label, as the API, the JSON lines and the console show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabeledDetection {
    pub label: String,
    pub class_id: u32,
    pub score: f32,
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
}

impl LabeledDetection {
    /// Names `d`'s class; coordinates rounded to 0.1 px and the score to 0.001 for output.
    pub fn new(d: &Detection, labels: &Labels) -> Self {
        let r1 = |v: f32| (v * 10.0).round() / 10.0;
        Self {
            label: labels.name(d.class_id),
            class_id: d.class_id,
            score: (d.score * 1000.0).round() / 1000.0,
            bbox: BoundingBox {
                x1: r1(d.bbox[0]),
                y1: r1(d.bbox[1]),
                x2: r1(d.bbox[2]),
                y2: r1(d.bbox[3]),
            },
        }
    }
}

impl LabeledDetection {
    /// Scales the box by (sx, sy): from the analysed frame's pixels to the source stream's.
    pub fn scale(&mut self, sx: f32, sy: f32) {
        let r1 = |v: f32| (v * 10.0).round() / 10.0;
        let b = &mut self.bbox;
        (b.x1, b.x2) = (r1(b.x1 * sx), r1(b.x2 * sx));
        (b.y1, b.y2) = (r1(b.y1 * sy), r1(b.y2 * sy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_label_file_forms_parse() {
        let coco90 = Labels::parse("0  person\n2  car\n16  cat\n");
        assert_eq!(coco90.name(16), "cat");
        assert_eq!(coco90.name(1), "class-1");
        assert_eq!(coco90.id_of("car"), Some(2));
        let plain = Labels::parse("person\nbicycle\ncar\n\ntraffic light\n");
        assert_eq!(plain.name(2), "car");
        assert_eq!(plain.name(3), "traffic light");
        assert_eq!(plain.len(), 4);
    }
}
