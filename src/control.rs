//! Changes to the running appliance made through the API: validate → persist → apply.
//!
//! A camera added, changed or removed is checked like a camera in the config file (same errors,
//! naming the field and the fix), written into the config file the appliance was started with
//! (only that camera's table; see [`crate::config::upsert_camera`]), and only then applied, by
//! starting or stopping that camera's supervisor alone. Changes are serialised: one at a time.
//! Started without a config file (the embedded demo, or `--camera` only), changes apply to the
//! running appliance and say that they were not persisted.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::cameras::{CameraSet, CameraView};
use crate::config::{self, CameraSpec, ConfigError, PersistError};
use crate::ingest::fleet::Fleet;

/// Why a change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("a camera named `{0}` exists already; change it with PUT /api/cameras/{0}")]
    Exists(String),
    #[error("no camera named `{0}`")]
    NotFound(String),
    #[error(
        "the body names camera `{body}` but the path names `{path}`; renaming is not supported: add the new name and remove the old one"
    )]
    NameMismatch { path: String, body: String },
    #[error("cannot write the config file: {0}")]
    Persist(#[from] PersistError),
    #[error("cannot start the camera: {0}")]
    Start(String),
}

/// What a successful change did.
#[derive(Serialize)]
pub struct Change {
    /// The camera as it is now (`None` after a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraView>,
    /// The config file the change was written to; `None` when the appliance runs without one.
    pub persisted_to: Option<String>,
}

/// Applies camera changes.
pub struct Control {
    fleet: Fleet,
    config_file: Option<PathBuf>,
    base: PathBuf,
    one_at_a_time: Mutex<()>,
}

impl Control {
    /// `config_file` receives the changes; `base` resolves relative paths in camera URLs.
    pub fn new(fleet: Fleet, config_file: Option<PathBuf>, base: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            fleet,
            config_file,
            base,
            one_at_a_time: Mutex::new(()),
        })
    }

    pub fn cameras(&self) -> &Arc<CameraSet> {
        self.fleet.set()
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Adds a camera that does not exist yet.
    pub fn add(&self, spec: CameraSpec) -> Result<Change, ControlError> {
        let _one = self.lock();
        if self.cameras().get(&spec.name).is_some() {
            return Err(ControlError::Exists(spec.name));
        }
        self.apply(spec)
    }

    /// Replaces the camera `name` with `spec`. A password shown as `***` by the API (in the URL
    /// or the `password` key) keeps the camera's current password, so a client can send back
    /// what it read.
    pub fn replace(&self, name: &str, mut spec: CameraSpec) -> Result<Change, ControlError> {
        let _one = self.lock();
        if spec.name != name {
            return Err(ControlError::NameMismatch {
                path: name.to_string(),
                body: spec.name,
            });
        }
        let current = self
            .cameras()
            .get(name)
            .ok_or_else(|| ControlError::NotFound(name.to_string()))?;
        keep_hidden_secrets(&mut spec, &current.config.spec);
        self.apply(spec)
    }

    /// Removes the camera `name`.
    pub fn remove(&self, name: &str) -> Result<Change, ControlError> {
        let _one = self.lock();
        if self.cameras().get(name).is_none() {
            return Err(ControlError::NotFound(name.to_string()));
        }
        if let Some(file) = &self.config_file {
            config::remove_camera(file, name)?;
        }
        self.fleet.remove(name);
        tracing::info!(camera = name, "removed through the API");
        Ok(Change {
            camera: None,
            persisted_to: self.persisted_to(),
        })
    }

    fn apply(&self, spec: CameraSpec) -> Result<Change, ControlError> {
        let camera = config::validate_camera(&spec, "camera", "request", &self.base)?;
        if let Some(file) = &self.config_file {
            config::upsert_camera(file, &spec)?;
        }
        let record = self
            .fleet
            .start(camera)
            .map_err(|e| ControlError::Start(e.to_string()))?;
        tracing::info!(camera = record.name(), "configured through the API");
        Ok(Change {
            camera: Some(record.view()),
            persisted_to: self.persisted_to(),
        })
    }

    /// The folder relative paths in camera URLs resolve against.
    pub fn base(&self) -> &std::path::Path {
        &self.base
    }

    /// The config file changes are written to.
    pub fn config_file(&self) -> Option<String> {
        self.config_file.as_ref().map(|p| p.display().to_string())
    }

    fn persisted_to(&self) -> Option<String> {
        self.config_file()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.one_at_a_time.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The API shows passwords as `***`; a spec sent back with `***` means "unchanged".
fn keep_hidden_secrets(spec: &mut CameraSpec, current: &CameraSpec) {
    if spec.password.as_deref() == Some("***") {
        spec.password.clone_from(&current.password);
    }
    if let (Ok(mut new), Ok(old)) = (url::Url::parse(&spec.url), url::Url::parse(&current.url))
        && new.password() == Some("***")
    {
        let _ = new.set_password(old.password());
        spec.url = new.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_sent_back_as_shown_keeps_the_old_one() {
        let current = CameraSpec {
            name: "a".into(),
            url: "rtsp://u:secret@h/s".into(),
            password: Some("other".into()),
            ..CameraSpec::default()
        };
        let mut sent = CameraSpec {
            name: "a".into(),
            url: "rtsp://u:***@h/s2".into(),
            password: Some("***".into()),
            ..CameraSpec::default()
        };
        keep_hidden_secrets(&mut sent, &current);
        assert_eq!(sent.url, "rtsp://u:secret@h/s2");
        assert_eq!(sent.password.as_deref(), Some("other"));
        let mut changed = CameraSpec {
            url: "rtsp://u:new@h/s".into(),
            ..sent.clone()
        };
        keep_hidden_secrets(&mut changed, &current);
        assert_eq!(changed.url, "rtsp://u:new@h/s");
    }
}
