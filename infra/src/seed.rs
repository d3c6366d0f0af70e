//! Teacher profile files: one profile object or a list of them, in the
//! format documented in the README. Loading a profile again replaces it.

use std::path::Path;

use shared::domain::{ProfileDoc, TeacherProfile};
use shared::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("storing teacher {id}: {source}")]
    Store { id: String, source: shared::store::StoreError },
}

/// Parses and validates every profile in a file; nothing is loaded when any is invalid.
pub fn read_profiles(path: &Path) -> Result<Vec<TeacherProfile>, SeedError> {
    let invalid = |message: String| SeedError::Invalid { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_profile(item).map_err(|e| invalid(format!("[{i}] {e}"))))
            .collect(),
        item => parse_profile(item).map(|p| vec![p]).map_err(invalid),
    }
}

pub async fn load_profiles(store: &Store, profiles: &[TeacherProfile]) -> Result<(), SeedError> {
    for profile in profiles {
        store.put_profile(profile).await.map_err(|source| SeedError::Store { id: profile.id().to_string(), source })?;
    }
    Ok(())
}

fn parse_profile(value: serde_json::Value) -> Result<TeacherProfile, String> {
    let doc: ProfileDoc = serde_json::from_value(value).map_err(|e| e.to_string())?;
    TeacherProfile::try_from(doc).map_err(|e| e.to_string())
}
