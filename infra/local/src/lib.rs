//! The local stack's own parts, which tests use too: the embedded
//! DynamoDB-compatible server and a client pointed at it.

pub mod dynamo;
pub mod process;
