//! The table's shape, defined once in `infra/table.json`. The admin CLI and
//! the local stack create it from here; a test checks that `template.yaml`
//! declares the same keys, indexes and TTL.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;

pub const TABLE_JSON: &str = include_str!("../table.json");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub partition_key: String,
    pub sort_key: String,
    pub ttl_attribute: String,
    pub global_secondary_indexes: Vec<IndexSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    pub name: String,
    pub partition_key: String,
    pub sort_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("infra/table.json is invalid: {0}")]
    Spec(#[from] serde_json::Error),
    #[error("{operation} failed: {message}")]
    Aws { operation: &'static str, message: String },
}

impl TableSpec {
    pub fn load() -> Result<Self, TableError> {
        Ok(serde_json::from_str(TABLE_JSON)?)
    }

    /// Every key attribute, each declared once (all keys are strings).
    pub fn key_attributes(&self) -> Vec<&str> {
        let mut names = vec![self.partition_key.as_str(), self.sort_key.as_str()];
        for index in &self.global_secondary_indexes {
            names.extend([index.partition_key.as_str(), index.sort_key.as_str()]);
        }
        names.dedup();
        names
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, TableError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| aws_err("build key", e))
}

fn aws_err(operation: &'static str, err: impl std::fmt::Display) -> TableError {
    TableError::Aws { operation, message: err.to_string() }
}

/// Creates the table with TTL on; an existing table is left as it is.
pub async fn create_table(client: &Client, table_name: &str, spec: &TableSpec) -> Result<bool, TableError> {
    let mut request = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&spec.partition_key, KeyType::Hash)?)
        .key_schema(key(&spec.sort_key, KeyType::Range)?);
    for name in spec.key_attributes() {
        let attribute = AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| aws_err("build attribute", e))?;
        request = request.attribute_definitions(attribute);
    }
    for index in &spec.global_secondary_indexes {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .key_schema(key(&index.partition_key, KeyType::Hash)?)
            .key_schema(key(&index.sort_key, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| aws_err("build index", e))?;
        request = request.global_secondary_indexes(gsi);
    }
    match request.send().await {
        Ok(_) => {}
        Err(err) if err.code() == Some("ResourceInUseException") => return Ok(false),
        Err(err) => return Err(aws_err("CreateTable", aws_sdk_dynamodb::error::DisplayErrorContext(err))),
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(&spec.ttl_attribute)
        .build()
        .map_err(|e| aws_err("build ttl", e))?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| aws_err("UpdateTimeToLive", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    Ok(true)
}
