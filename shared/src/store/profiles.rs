//! Teacher profiles, stored in the file format operators write (`ProfileDoc`)
//! and validated again on every read, so a hand-edited item cannot put an
//! invalid schedule in front of students; and the login mapping written
//! with each profile, the one answer to "which teacher is this caller".

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::item::{item, key, s};
use super::keys::{self, LOGIN_SK, PK, PROFILE_SK};
use super::{Store, StoreError, TransactError};
use crate::domain::{ProfileDoc, TeacherId, TeacherProfile, UserId};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A write that lost to a concurrent one is read and tried again this often.
const PUT_ATTEMPTS: usize = 3;

impl Store {
    /// Creates or replaces a teacher's profile and, in the same transaction,
    /// makes its login map to it (and its previous login, if it changed, to
    /// nothing). Refused when the login is another profile's; busy calendars
    /// are untouched.
    pub async fn put_profile(&self, profile: &TeacherProfile) -> Result<(), ProfileWriteError> {
        let user_id = profile.user_id();
        for _ in 0..PUT_ATTEMPTS {
            let stored = self.get_typed::<ProfileItem>("put profile", keys::teacher_pk(profile.id()), PROFILE_SK).await?;
            match self.transact(self.profile_write(profile, &user_id, stored.as_ref())?).await {
                Ok(()) => return Ok(()),
                // Item 1 is the login's mapping: it names another teacher.
                Err(TransactError::Conflict { failed }) if failed.contains(&1) => match self.teacher_of(user_id.as_str()).await? {
                    Some(holder) if &holder != profile.id() => return Err(ProfileWriteError::LoginTaken { teacher: profile.id().clone(), user_id, holder }),
                    _ => continue,
                },
                // The profile changed since it was read: read it again.
                Err(TransactError::Conflict { .. } | TransactError::Busy(_)) => continue,
                Err(TransactError::Store(err)) => return Err(err.into()),
            }
        }
        Err(StoreError::throttled("put profile", "the profile kept changing while it was written").into())
    }

    fn profile_write(&self, profile: &TeacherProfile, user_id: &UserId, stored: Option<&ProfileItem>) -> Result<Vec<TransactWriteItem>, StoreError> {
        let operation = "put profile";
        let read_version = stored.map(|s| s.version);
        let next = ProfileItem { profile: profile.to_doc(), user_id: Some(user_id.to_string()), version: Some(read_version.flatten().map_or(1, |v| v + 1)) };
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item(operation, keys::teacher_pk(profile.id()), PROFILE_SK, &next, &[])?));
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
        let mut items = vec![
            TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::corrupt(operation, e))?).build(),
            TransactWriteItem::builder().put(login).build(),
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

    pub async fn get_profile(&self, id: &TeacherId) -> Result<Option<TeacherProfile>, StoreError> {
        let Some(stored) = self.get_typed::<ProfileItem>("get profile", keys::teacher_pk(id), PROFILE_SK).await? else { return Ok(None) };
        TeacherProfile::try_from(stored.profile).map(Some).map_err(|e| StoreError::corrupt("get profile", e))
    }

    /// The teacher whose login `user_id` (a token's `sub`) is, if any: every
    /// "is this caller the teacher" goes through this mapping, written with
    /// the profile.
    pub async fn teacher_of(&self, user_id: &str) -> Result<Option<TeacherId>, StoreError> {
        Ok(self.get_typed::<LoginItem>("get login", keys::user_pk(user_id), LOGIN_SK).await?.map(|login| login.teacher_id))
    }
}
