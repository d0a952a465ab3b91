//! Writing camera changes made at run time back into the config file.
//!
//! Only the changed `[[cameras]]` table is touched; every other line of the file (comments,
//! other sections, other cameras) stays as the user wrote it. The edited text is validated as a
//! whole before it replaces the file, and the file is replaced atomically (a temporary file in
//! the same folder, synced, then renamed), so a crash leaves the old or the new file, never half
//! of one.

use std::io::Write;
use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::{CameraSpec, Config};

/// Why the config file could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: the edited file would not be valid ({problem}); nothing was written")]
    Invalid { path: String, problem: String },
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> PersistError {
    PersistError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Adds the camera `spec` to the file, or updates the table of the camera with its name.
pub fn upsert_camera(path: &Path, spec: &CameraSpec) -> Result<(), PersistError> {
    edit_cameras(path, |cameras| {
        let new = spec_table(spec).map_err(|e| file_error(path, e))?;
        match find(cameras, &spec.name) {
            Some(i) => {
                let table = cameras
                    .get_mut(i)
                    .expect("find returned an index of this array");
                update_in_place(table, &new);
            }
            None => {
                cameras.push(new);
            }
        }
        Ok(())
    })
}

/// Removes the camera named `name` from the file; `false` when the file has no such camera
/// (it came from the command line), in which case the file is left alone.
pub fn remove_camera(path: &Path, name: &str) -> Result<bool, PersistError> {
    let mut removed = false;
    edit_cameras(path, |cameras| {
        if let Some(i) = find(cameras, name) {
            cameras.remove(i);
            removed = true;
        }
        Ok(())
    })?;
    Ok(removed)
}

fn edit_cameras(
    path: &Path,
    edit: impl FnOnce(&mut ArrayOfTables) -> Result<(), PersistError>,
) -> Result<(), PersistError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| file_error(path, format!("cannot parse: {e}")))?;
    let item = doc
        .entry("cameras")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let cameras = item.as_array_of_tables_mut().ok_or_else(|| {
        file_error(
            path,
            "`cameras` is not written as [[cameras]] tables; rewrite it that way to let the API change cameras",
        )
    })?;
    edit(cameras)?;
    if cameras.is_empty() {
        doc.remove("cameras");
    }
    let edited = doc.to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    Config::from_toml(&edited, &path.display().to_string(), base).map_err(|e| {
        PersistError::Invalid {
            path: path.display().to_string(),
            problem: e.to_string(),
        }
    })?;
    write_atomically(path, edited.as_bytes()).map_err(|e| file_error(path, e))
}

fn find(cameras: &ArrayOfTables, name: &str) -> Option<usize> {
    cameras
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

/// The spec as a TOML table, through its serde form (so every key is written as documented).
fn spec_table(spec: &CameraSpec) -> Result<Table, String> {
    let text = toml::to_string(spec).map_err(|e| format!("cannot write camera: {e}"))?;
    let doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot write camera: {e}"))?;
    let mut table = doc.as_table().clone();
    unpositioned(&mut table);
    Ok(table)
}

/// Forgets where nested tables (`[cameras.rules]`, `[[cameras.rules.lines]]`) stood in the
/// document they were parsed from, so they are written right after their camera's table in
/// the config file, not at their old positions (which could put `[cameras.rules]` before
/// `[[cameras]]`: a duplicate key).
fn unpositioned(table: &mut Table) {
    table.set_position(None);
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => unpositioned(t),
            Item::ArrayOfTables(array) => array.iter_mut().for_each(unpositioned),
            _ => {}
        }
    }
}

/// Sets the keys of `new` on `table` and removes the keys `new` lacks; keys whose value does not
/// change keep their comments.
fn update_in_place(table: &mut Table, new: &Table) {
    let gone: Vec<String> = table
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !new.contains_key(k))
        .collect();
    for key in gone {
        table.remove(&key);
    }
    for (key, value) in new.iter() {
        let same = match (table.get(key), value) {
            (Some(Item::Value(old)), Item::Value(v)) => bare(old) == bare(v),
            _ => false,
        };
        if !same {
            table.insert(key, value.clone());
        }
    }
}

/// A value as TOML text without its comments and spacing.
fn bare(value: &toml_edit::Value) -> String {
    let mut v = value.clone();
    v.decor_mut().clear();
    v.to_string()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my cameras\n[model]\npath = \"m.onnx\"\nfamily = \"ssd\"\nlabels = \"l.txt\"\n\n[[cameras]]\n# the door\nname = \"door\"\nurl = \"test://ball\" # keep\ndetect_fps = 2\n";

    fn spec(name: &str, url: &str) -> CameraSpec {
        CameraSpec {
            name: name.into(),
            url: url.into(),
            ..CameraSpec::default()
        }
    }

    fn file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, FILE).expect("write");
        (dir, path)
    }

    #[test]
    fn adding_a_camera_keeps_the_rest_of_the_file() {
        let (_dir, path) = file();
        let mut yard = spec("yard", "rtsp://u:${HOME}@h/s");
        yard.detect_fps = Some(4.0);
        upsert_camera(&path, &yard).expect("added");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(FILE), "{text}");
        assert!(text.contains("name = \"yard\""), "{text}");
        // Written as given: the variable is not substituted into the file.
        assert!(text.contains("${HOME}"), "{text}");
    }

    #[test]
    fn updating_a_camera_keeps_comments_of_unchanged_keys_and_drops_removed_keys() {
        let (_dir, path) = file();
        upsert_camera(&path, &spec("door", "test://ball")).expect("updated");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("# the door"), "{text}");
        assert!(text.contains("url = \"test://ball\" # keep"), "{text}");
        assert!(!text.contains("detect_fps"), "{text}");
    }

    #[test]
    fn removing_a_camera_and_one_that_is_not_in_the_file() {
        let (_dir, path) = file();
        assert!(!remove_camera(&path, "from-cli").expect("no-op"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
        assert!(remove_camera(&path, "door").expect("removed"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("door"), "{text}");
        assert!(text.contains("# my cameras"), "{text}");
    }

    #[test]
    fn a_camera_with_zones_and_lines_is_written_under_its_own_table() {
        let (_dir, path) = file();
        let with_store = format!("{FILE}\n[store]\nretention_days = 3\n");
        std::fs::write(&path, &with_store).expect("write");
        let rules: crate::rules::RulesConfig = toml::from_str(
            "[[zones]]\nname = \"yard\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]\n\
             [[lines]]\nname = \"middle\"\nfrom = [0.5, 0.1]\nto = [0.5, 0.95]\n\
             [[lines]]\nname = \"gate\"\nfrom = [0.1, 0.5]\nto = [0.9, 0.5]\n",
        )
        .expect("rules");
        for name in ["door", "yard"] {
            let mut camera = spec(name, "test://ball");
            camera.rules = Some(rules.clone());
            upsert_camera(&path, &camera).expect("written");
        }
        let config = Config::load(&path).expect("the file stays valid");
        assert_eq!(config.cameras.len(), 2);
        for camera in &config.cameras {
            assert_eq!(camera.rules, rules, "{}", camera.name);
        }
        assert_eq!(config.store.retention_days, 3);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("# the door"), "{text}");
        // Writing the same again changes nothing.
        let mut door = spec("door", "test://ball");
        door.rules = Some(rules);
        upsert_camera(&path, &door).expect("again");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }

    #[test]
    fn an_edit_that_would_break_the_file_writes_nothing() {
        let (_dir, path) = file();
        let err = upsert_camera(&path, &spec("bad name", "test://ball")).expect_err("invalid");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
    }
}
