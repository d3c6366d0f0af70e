//! Teacher profiles, stored in the file format operators write (`ProfileDoc`)
//! and validated again on every read, so a hand-edited item cannot put an
//! invalid schedule in front of students.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::keys::{self, PROFILE_SK};
use super::{Store, StoreError};
use crate::domain::{ProfileDoc, TeacherId, TeacherProfile};

#[derive(Serialize, Deserialize)]
struct ProfileItem {
    pk: String,
    sk: String,
    profile: ProfileDoc,
}

impl Store {
    /// Creates or replaces a teacher's profile; busy calendars are untouched.
    pub async fn put_profile(&self, profile: &TeacherProfile) -> Result<(), StoreError> {
        let item = ProfileItem { pk: keys::teacher_pk(profile.id()), sk: PROFILE_SK.into(), profile: profile.to_doc() };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).map_err(|e| StoreError::corrupt("put profile", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::sdk("put profile", e))?;
        Ok(())
    }

    pub async fn get_profile(&self, id: &TeacherId) -> Result<Option<TeacherProfile>, StoreError> {
        let Some(stored) = self.get_typed::<ProfileItem>("get profile", keys::teacher_pk(id), PROFILE_SK).await? else { return Ok(None) };
        TeacherProfile::try_from(stored.profile).map(Some).map_err(|e| StoreError::corrupt("get profile", e))
    }
}
