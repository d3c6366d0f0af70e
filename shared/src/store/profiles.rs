//! Teacher profiles, stored in the file format operators write (`ProfileDoc`)
//! and validated strictly on every write; read back with only the checks the
//! slot rules need (`Rules::AsStored`), so a later, stricter rule never takes
//! a teacher's pages down; each write's history; the directory index; and
//! the login mapping written with each profile, the one answer to "which
//! teacher is this caller".

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::item::{item, key, s};
use super::keys::{self, LOGIN_SK, PK, PROFILE_SK, STATS_SK};
use super::{Store, StoreError, TeacherStats, TransactError};
use crate::domain::{ProfileDoc, ProfileError, TeacherId, TeacherProfile, UserId};

/// The directory's index: every profile in `gsi1` under one key, by teacher
/// id (which never changes, so pages are stable under concurrent writes).
const DIRECTORY: &str = "TEACHERS";
const HISTORY_PREFIX: &str = "HISTORY#";

#[derive(Serialize, Deserialize)]
struct ProfileItem {
    profile: ProfileDoc,
    /// The login whose mapping item this profile owns; absent on items
    /// written before logins were mapped (they own no mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    /// Bumped by every write, which is conditioned on the one read. It also
    /// keeps two writes of the same document apart in DynamoDB's token
    /// cache (`Store::transact`), so loading A, B, then A again stores A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
}

/// `USER#<user_id>` / `TEACHER`: the account `user_id` is the teacher of
/// this profile. Keyed by the login, so one account is the teacher of at
/// most one profile.
#[derive(Serialize, Deserialize)]
struct LoginItem {
    teacher_id: TeacherId,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileWriteError {
    #[error("teacher {teacher}: user_id {user_id:?} is already the login of teacher {holder}; one account is the teacher of at most one profile")]
    LoginTaken { teacher: TeacherId, user_id: UserId, holder: TeacherId },
    /// The profile is not at the version the writer read (`If-Match`).
    #[error("the profile is at version {current}, not the one this change was made on; read it again")]
    VersionMismatch { current: u64 },
    /// Creating a profile that exists (`If-None-Match: *`).
    #[error("teacher {0} exists already")]
    Exists(TeacherId),
    #[error("no teacher with id {0}")]
    NotFound(TeacherId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A write that lost to a concurrent one is read and tried again this often.
const PUT_ATTEMPTS: usize = 3;

/// A profile as stored: its version (0: written before versions), and what
/// the strict rules say of it if it no longer passes them.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    pub profile: TeacherProfile,
    pub version: u64,
    pub problem: Option<ProfileError>,
}

/// One page of the directory.
#[derive(Debug, Clone)]
pub struct ProfilePage {
    pub profiles: Vec<StoredProfile>,
    /// Profiles that could not be read at all: their ids and why.
    pub unreadable: Vec<(String, String)>,
    /// Where the next page starts (the last teacher id of this one).
    pub next: Option<String>,
}

/// Which version a write expects to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `If-Match: <version>`.
    Version(u64),
    /// `If-None-Match: *`: a new profile.
    Absent,
}

/// One change of a profile, for the operator: `TEACHER#<id>` / `HISTORY#<version>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileChange {
    pub version: u64,
    /// The login (or `seed`) that wrote it.
    pub by: String,
    pub at: Timestamp,
    /// The profile as written, so consecutive versions show what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileDoc>,
}

impl Store {
    /// Creates or replaces a teacher's profile whatever its version (`make
    /// seed`), recording the change as `by`; see [`Store::put_profile_at`].
    pub async fn put_profile(&self, profile: &TeacherProfile) -> Result<(), ProfileWriteError> {
        for _ in 0..PUT_ATTEMPTS {
            let stored = self.get_typed::<ProfileItem>("put profile", keys::teacher_pk(profile.id()), PROFILE_SK).await?;
            let expect = stored.as_ref().map_or(Expect::Absent, |s| Expect::Version(s.version.unwrap_or(0)));
            match self.put_profile_at(profile, expect, "seed", Timestamp::now()).await {
                Err(ProfileWriteError::VersionMismatch { .. } | ProfileWriteError::Exists(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(StoreError::throttled("put profile", "the profile kept changing while it was written").into())
    }

    /// Writes a teacher's profile if it is at `expect`, and in the same
    /// transaction makes its login map to it (and its previous login, if it
    /// changed, to nothing) and records the change. Refused when the login
    /// is another profile's. Busy calendars, bookings and checkouts are
    /// untouched: slots recompute from the new profile at once. Returns the
    /// new version.
    pub async fn put_profile_at(&self, profile: &TeacherProfile, expect: Expect, by: &str, now: Timestamp) -> Result<u64, ProfileWriteError> {
        let user_id = profile.user_id();
        let stored = self.get_typed::<ProfileItem>("put profile", keys::teacher_pk(profile.id()), PROFILE_SK).await?;
        let current = stored.as_ref().map(|s| s.version.unwrap_or(0));
        match (expect, current) {
            (Expect::Absent, Some(_)) => return Err(ProfileWriteError::Exists(profile.id().clone())),
            (Expect::Version(_), None) => return Err(ProfileWriteError::NotFound(profile.id().clone())),
            (Expect::Version(v), Some(c)) if v != c => return Err(ProfileWriteError::VersionMismatch { current: c }),
            _ => {}
        }
        let next = current.map_or(1, |c| c + 1);
        match self.transact(self.profile_write(profile, &user_id, stored.as_ref(), next, by, now)?).await {
            Ok(()) => Ok(next),
            // Item 1 is the login's mapping: it names another teacher.
            Err(TransactError::Conflict { failed }) if failed.contains(&1) => match self.teacher_of(user_id.as_str()).await? {
                Some(holder) if &holder != profile.id() => Err(ProfileWriteError::LoginTaken { teacher: profile.id().clone(), user_id, holder }),
                _ => Err(self.lost_to_another(profile.id(), expect).await),
            },
            // Item 0, the profile: another writer got there first.
            Err(TransactError::Conflict { .. }) => Err(self.lost_to_another(profile.id(), expect).await),
            // Cancelled by a concurrent transaction, or throttled: nobody
            // won; the caller retries (503).
            Err(TransactError::Busy(err) | TransactError::Store(err)) => Err(err.into()),
        }
    }

    /// What a write that lost its condition tells its caller.
    async fn lost_to_another(&self, id: &TeacherId, expect: Expect) -> ProfileWriteError {
        match (self.get_typed::<ProfileItem>("put profile", keys::teacher_pk(id), PROFILE_SK).await, expect) {
            (Ok(Some(_)), Expect::Absent) => ProfileWriteError::Exists(id.clone()),
            (Ok(Some(stored)), Expect::Version(_)) => ProfileWriteError::VersionMismatch { current: stored.version.unwrap_or(0) },
            (Ok(None), _) => ProfileWriteError::NotFound(id.clone()),
            (Err(err), _) => err.into(),
        }
    }

    fn profile_write(&self, profile: &TeacherProfile, user_id: &UserId, stored: Option<&ProfileItem>, next: u64, by: &str, now: Timestamp) -> Result<Vec<TransactWriteItem>, StoreError> {
        let operation = "put profile";
        let read_version = stored.map(|s| s.version);
        let written = ProfileItem { profile: profile.to_doc(), user_id: Some(user_id.to_string()), version: Some(next) };
        let listed = [("gsi1pk", s(DIRECTORY)), ("gsi1sk", s(profile.id().as_str()))];
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item(operation, keys::teacher_pk(profile.id()), PROFILE_SK, &written, &listed)?));
        put = match read_version {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
            // Written before versions: still unversioned.
            Some(None) => put.condition_expression("attribute_exists(#pk) AND attribute_not_exists(#version)").expression_attribute_names("#pk", PK).expression_attribute_names("#version", "version"),
            Some(Some(v)) => put.condition_expression("#version = :version").expression_attribute_names("#version", "version").expression_attribute_values(":version", AttributeValue::N(v.to_string())),
        };
        let ours = "attribute_not_exists(#pk) OR teacher_id = :teacher";
        let login = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item(operation, keys::user_pk(user_id.as_str()), LOGIN_SK, &LoginItem { teacher_id: profile.id().clone() }, &[])?))
            .condition_expression(ours)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":teacher", s(profile.id().as_str()))
            .build()
            .map_err(|e| StoreError::corrupt(operation, e))?;
        let change = ProfileChange { version: next, by: by.to_owned(), at: now, profile: Some(written.profile.clone()) };
        let history = item(operation, keys::teacher_pk(profile.id()), &format!("{HISTORY_PREFIX}{next:010}"), &change, &[])?;
        let mut items = vec![
            TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::corrupt(operation, e))?).build(),
            TransactWriteItem::builder().put(login).build(),
            // Unconditional: the profile's own condition decides; a legacy
            // item (no version) may restart at a version recorded before.
            TransactWriteItem::builder().put(Put::builder().table_name(&self.table).set_item(Some(history)).build().map_err(|e| StoreError::corrupt(operation, e))?).build(),
        ];
        if let Some(old) = stored.and_then(|s| s.user_id.as_deref()).filter(|old| *old != user_id.as_str()) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::user_pk(old), LOGIN_SK)))
                .condition_expression(ours)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":teacher", s(profile.id().as_str()))
                .build()
                .map_err(|e| StoreError::corrupt(operation, e))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        Ok(items)
    }

    /// The profile the slot rules run on. One a later, stricter limit would
    /// refuse is served as stored (reconcile flags it for a person); one
    /// the rules cannot run on at all is treated as absent, never a `500`.
    pub async fn get_profile(&self, id: &TeacherId) -> Result<Option<TeacherProfile>, StoreError> {
        Ok(self.get_stored_profile(id).await?.map(|s| s.profile))
    }

    pub async fn get_stored_profile(&self, id: &TeacherId) -> Result<Option<StoredProfile>, StoreError> {
        let stored = self.get_typed::<ProfileItem>("get profile", keys::teacher_pk(id), PROFILE_SK).await?;
        Ok(stored.and_then(read_stored))
    }

    /// Up to `limit` profiles after `after`, by teacher id: one query of the
    /// directory index. A profile that cannot be read at all is left out of
    /// the page and named in `unreadable` (reconcile flags it).
    pub async fn profile_page(&self, after: Option<&str>, limit: usize) -> Result<ProfilePage, StoreError> {
        let query = self.client.query().table_name(&self.table).index_name("gsi1").expression_attribute_values(":pk", s(DIRECTORY));
        let query = match after {
            Some(after) => query.key_condition_expression("gsi1pk = :pk AND gsi1sk > :after").expression_attribute_values(":after", s(after)),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        // One more than asked tells whether there is a next page.
        let output = query.limit(i32::try_from(limit + 1).unwrap_or(i32::MAX)).send().await.map_err(|e| StoreError::sdk("list profiles", e))?;
        let mut items = output.items().to_vec();
        // A query also stops at 1 MB: then there is more whatever the count.
        let more = items.len() > limit || output.last_evaluated_key().is_some();
        items.truncate(limit);
        let position = |item: &HashMap<String, AttributeValue>| item.get("gsi1sk").and_then(|v| v.as_s().ok()).cloned();
        let next = if more { items.last().and_then(position) } else { None };
        let mut page = ProfilePage { profiles: Vec::new(), unreadable: Vec::new(), next };
        for item in items {
            let id = position(&item).unwrap_or_default();
            match serde_dynamo::from_item::<_, ProfileItem>(item).map_err(|e| e.to_string()).and_then(|stored| read_stored(stored).ok_or_else(|| "the slot rules cannot run on it".to_owned())) {
                Ok(stored) => page.profiles.push(stored),
                Err(why) => {
                    tracing::error!(teacher_id = %id, error = %why, "a stored profile that cannot be read; left out of the directory");
                    page.unreadable.push((id, why));
                }
            }
        }
        Ok(page)
    }

    /// The statistics of several teachers at once (missing: all zero).
    pub async fn teachers_stats(&self, ids: &[TeacherId]) -> Result<HashMap<TeacherId, TeacherStats>, StoreError> {
        let keys: Vec<_> = ids.iter().map(|id| key(keys::teacher_pk(id), STATS_SK)).collect();
        let mut stats = HashMap::new();
        for chunk in keys.chunks(super::MAX_BATCH_GET) {
            for item in self.batch_get("get teacher stats", chunk.to_vec()).await? {
                let teacher = item.get(PK).and_then(|v| v.as_s().ok()).and_then(|pk| pk.strip_prefix("TEACHER#")).and_then(|id| TeacherId::parse(id).ok());
                let value: TeacherStats = serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt("get teacher stats", e))?;
                if let Some(teacher) = teacher {
                    stats.insert(teacher, value);
                }
            }
        }
        Ok(stats)
    }

    /// Every recorded change of a teacher's profile, oldest first.
    pub async fn profile_history(&self, id: &TeacherId) -> Result<Vec<ProfileChange>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :history)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", super::keys::SK)
            .expression_attribute_values(":pk", s(keys::teacher_pk(id)))
            .expression_attribute_values(":history", s(HISTORY_PREFIX))
            .consistent_read(true);
        let items = self.query_all("profile history", query).await?;
        items.into_iter().map(|i| serde_dynamo::from_item(i).map_err(|e| StoreError::corrupt("profile history", e))).collect()
    }

    /// The teacher whose login `user_id` (a token's `sub`) is, if any: every
    /// "is this caller the teacher" goes through this mapping, written with
    /// the profile.
    pub async fn teacher_of(&self, user_id: &str) -> Result<Option<TeacherId>, StoreError> {
        Ok(self.get_typed::<LoginItem>("get login", keys::user_pk(user_id), LOGIN_SK).await?.map(|login| login.teacher_id))
    }
}

fn read_stored(stored: ProfileItem) -> Option<StoredProfile> {
    let id = stored.profile.id.clone();
    match TeacherProfile::from_stored(stored.profile) {
        Ok((profile, problem)) => {
            if let Some(problem) = &problem {
                tracing::warn!(teacher_id = %id, %problem, "a stored profile no longer passes validation; served as stored until it is fixed");
            }
            Some(StoredProfile { profile, version: stored.version.unwrap_or(0), problem })
        }
        Err(err) => {
            tracing::error!(teacher_id = %id, error = %err, "a stored profile the slot rules cannot run on; treated as absent until it is fixed");
            None
        }
    }
}
