//! Teacher profile files: one profile object or a list of them, in the
//! format documented in the README. Loading a profile again replaces it.

use std::collections::HashMap;
use std::path::Path;

use shared::domain::{ProfileDoc, TeacherProfile};
use shared::store::{ProfileWriteError, Store};

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// Found before anything was written.
    #[error("{0}; nothing was loaded")]
    Refused(String),
    #[error("storing teacher {id}: {source}")]
    Store { id: String, source: ProfileWriteError },
}

/// Parses and validates every profile in a file; nothing is loaded when any
/// is invalid, or when two of them claim one login.
pub fn read_profiles(path: &Path) -> Result<Vec<TeacherProfile>, SeedError> {
    let invalid = |message: String| SeedError::Invalid { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let profiles = match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_profile(item).map_err(|e| invalid(format!("[{i}] {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        item => vec![parse_profile(item).map_err(invalid)?],
    };
    if let Some(clash) = shared_login(&profiles) {
        return Err(invalid(clash));
    }
    Ok(profiles)
}

/// Stores the profiles, each with its login's mapping. Every login is
/// checked first, against the others and against the table, so a clash
/// loads nothing; the writes are conditional too, for a clash that appears
/// meanwhile.
pub async fn load_profiles(store: &Store, profiles: &[TeacherProfile]) -> Result<(), SeedError> {
    if let Some(clash) = shared_login(profiles) {
        return Err(SeedError::Refused(clash));
    }
    for profile in profiles {
        let user_id = profile.user_id();
        let holder = store.teacher_of(user_id.as_str()).await.map_err(|e| SeedError::Store { id: profile.id().to_string(), source: e.into() })?;
        if let Some(holder) = holder.filter(|h| h != profile.id()) {
            return Err(SeedError::Refused(format!("teacher {} ({}): that login is already teacher {holder}'s; one account is the teacher of at most one profile", profile.id(), claim(profile))));
        }
    }
    for profile in profiles {
        store.put_profile(profile).await.map_err(|source| SeedError::Store { id: profile.id().to_string(), source })?;
    }
    Ok(())
}

/// The first two profiles (by position) claiming one login, described.
fn shared_login(profiles: &[TeacherProfile]) -> Option<String> {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, profile) in profiles.iter().enumerate() {
        if let Some(&j) = first.get(profile.user_id().as_str()) {
            let earlier = &profiles[j];
            return Some(format!("[{i}] teacher {} ({}) and [{j}] teacher {} ({}) claim one login; one account is the teacher of at most one profile", profile.id(), claim(profile), earlier.id(), claim(earlier)));
        }
        first.insert(profile.user_id().to_string(), i);
    }
    None
}

/// How a profile claims its login: given, or by default.
fn claim(profile: &TeacherProfile) -> String {
    match profile.to_doc().user_id {
        Some(user_id) => format!("user_id {user_id:?}"),
        None => format!("user_id {:?} by default, as it gives none", profile.id().as_str()),
    }
}

fn parse_profile(value: serde_json::Value) -> Result<TeacherProfile, String> {
    let doc: ProfileDoc = serde_json::from_value(value).map_err(|e| e.to_string())?;
    TeacherProfile::try_from(doc).map_err(|e| e.to_string())
}
