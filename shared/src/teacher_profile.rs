//! teacher-profile as a use case: a teacher reads and replaces their own
//! profile (the one whose `user_id` is their login), an admin any, with
//! optimistic concurrency by version (`ETag` / `If-Match`). The same
//! validator as `make seed` decides; bookings, holds and checkouts in
//! flight are never touched (they keep their times, prices and policy), and
//! slots follow the new profile at once.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{Principal, Role};
use crate::domain::{ProfileDoc, TeacherId, TeacherProfile};
use crate::error::ApiError;
use crate::http::if_match_version;
use crate::store::{Expect, ProfileWriteError, Store};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A profile as `make seed` takes it, plus its version (also the `ETag`).
#[derive(Debug, Serialize)]
pub struct VersionedProfile {
    #[serde(flatten)]
    pub profile: ProfileDoc,
    pub version: u64,
}

/// What a write expects, from the request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    IfMatch(u64),
    IfNoneMatchAny,
    Missing,
}

impl Precondition {
    /// `If-Match: "3"` (or `3`), `If-None-Match: *`.
    pub fn parse(if_match: Option<&str>, if_none_match: Option<&str>) -> Result<Self, ApiError> {
        match (if_match.map(str::trim), if_none_match.map(str::trim)) {
            (Some(_), Some(_)) => Err(ApiError::invalid("If-Match", "send If-Match to replace or If-None-Match: * to create, not both")),
            (Some(raw), None) => if_match_version(raw, "profile").map(Self::IfMatch),
            (None, Some("*")) => Ok(Self::IfNoneMatchAny),
            (None, Some(_)) => Err(ApiError::invalid("If-None-Match", "only * (create) is supported")),
            (None, None) => Ok(Self::Missing),
        }
    }
}

pub struct ProfileEditing {
    pub store: Store,
}

impl ProfileEditing {
    /// The caller's own profile, or, for an admin, `teacher_id`'s.
    pub async fn read(&self, who: &Principal, teacher_id: Option<&str>) -> Result<VersionedProfile, ApiError> {
        let id = whose(&self.store, who, teacher_id).await?;
        let stored = self.store.get_stored_profile(&id).await?.ok_or_else(|| ApiError::TeacherNotFound(id.clone()))?;
        Ok(VersionedProfile { profile: stored.profile.to_doc(), version: stored.version })
    }

    /// Replaces (or, for an admin with `If-None-Match: *`, creates) a
    /// profile. Returns it as stored, and whether it was created.
    pub async fn write(&self, who: &Principal, teacher_id: Option<&str>, precondition: Precondition, body: &[u8], now: Timestamp) -> Result<(VersionedProfile, bool), ApiError> {
        let id = whose(&self.store, who, teacher_id).await?;
        let admin = who.role == Some(Role::Admin);
        let expect = match precondition {
            Precondition::IfMatch(version) => Expect::Version(version),
            Precondition::IfNoneMatchAny if admin => Expect::Absent,
            Precondition::IfNoneMatchAny => return Err(ApiError::Forbidden),
            Precondition::Missing => return Err(ApiError::PreconditionRequired),
        };
        let mut doc = parse_doc(body)?;
        if doc.id != id.as_str() {
            // A teacher naming another profile learns nothing of it.
            return Err(if admin { ApiError::invalid("id", format!("is {:?}, not the teacher_id {id} of the request; a profile's id never changes", doc.id)) } else { ApiError::NoProfile });
        }
        if !admin {
            // The caller's login is what made this profile theirs: it stays.
            match &doc.user_id {
                None => doc.user_id = Some(who.user_id.clone()),
                Some(given) if *given == who.user_id => {}
                Some(_) => return Err(ApiError::invalid("user_id", "cannot be changed here; an operator changes a teacher's login")),
            }
        }
        if expect == Expect::Absent && doc.email.is_none() {
            // Older profiles may lack it; a new one says where its notices go.
            return Err(ApiError::invalid("email", "is required: where booking notices reach the teacher (never shown to students)"));
        }
        let profile = TeacherProfile::try_from(doc).map_err(|e| ApiError::invalid(e.field(), e.problem()))?;
        let by = if admin { format!("admin:{}", who.user_id) } else { who.user_id.clone() };
        let version = self.store.put_profile_at(&profile, expect, &by, now).await.map_err(|err| match err {
            ProfileWriteError::VersionMismatch { current } => ApiError::VersionMismatch { what: "profile", current },
            ProfileWriteError::Exists(id) => ApiError::TeacherExists(id),
            ProfileWriteError::NotFound(id) => ApiError::TeacherNotFound(id),
            ProfileWriteError::LoginTaken { user_id, .. } => ApiError::invalid("user_id", format!("{user_id} is already another teacher's login")),
            ProfileWriteError::Store(err) => err.into(),
        })?;
        tracing::info!(teacher_id = %id, version, by = %by, "profile written");
        Ok((VersionedProfile { profile: profile.to_doc(), version }, expect == Expect::Absent))
    }
}

/// Whose teacher account a request is about: an admin names it
/// (`teacher_id`); a teacher's is their login's, and naming one is
/// forbidden; a student has none. (teacher-profile, teacher-payouts.)
pub async fn whose(store: &Store, who: &Principal, teacher_id: Option<&str>) -> Result<TeacherId, ApiError> {
    match (who.role, teacher_id) {
        (Some(Role::Admin), Some(raw)) => TeacherId::parse(raw).map_err(|e| ApiError::invalid("teacher_id", e)),
        (Some(Role::Admin), None) => Err(ApiError::invalid("teacher_id", "is required for an admin")),
        (_, Some(_)) | (Some(Role::Student), None) => Err(ApiError::Forbidden),
        (_, None) => store.teacher_of(&who.user_id).await?.ok_or(ApiError::NoProfile),
    }
}

/// The document as `make seed` reads it; a `version` sent back from a read
/// is ignored (the precondition says which version this replaces).
fn parse_doc(body: &[u8]) -> Result<ProfileDoc, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("is not valid JSON ({e})")))?;
    let Some(object) = value.as_object_mut() else { return Err(ApiError::invalid("body", "must be a JSON object")) };
    object.remove("version");
    serde_json::from_value(value).map_err(|e| ApiError::invalid("body", e))
}
