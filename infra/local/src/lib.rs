//! The local stack's own parts, which tests and `make bench` use too: the
//! embedded DynamoDB-compatible server behind the IAM checker, Function URL
//! events and a stand-in for the Lambda Runtime API.

pub mod dynamo;
pub mod events;
pub mod iam;
pub mod mail;
pub mod process;
pub mod runtime_api;
pub mod services;
pub mod web;
