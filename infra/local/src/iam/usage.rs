//! What each function actually asked of DynamoDB, for `make iam-report`:
//! every distinct (function, action, resource, key prefix) the checker saw,
//! appended as JSON lines to `$IAM_USAGE_FILE` when it is set (`make test`
//! sets it; several processes append to one file).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::policy::Access;

/// One distinct use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Used {
    pub function: String,
    pub action: String,
    pub resource: String,
    /// The partition key's kind: `TEACHER#*` for `TEACHER#t_anna`, or the key itself (`WARMUP`).
    pub key: String,
    pub denied: bool,
}

/// `TEACHER#t_anna` -> `TEACHER#*`; a key without `#` as it is.
pub fn key_kind(key: &str) -> String {
    key.split_once('#').map_or_else(|| key.to_owned(), |(prefix, _)| format!("{prefix}#*"))
}

pub struct Usage {
    file: Option<PathBuf>,
    seen: Mutex<BTreeSet<Used>>,
}

impl Usage {
    pub fn from_env() -> Self {
        Self { file: std::env::var_os("IAM_USAGE_FILE").map(PathBuf::from), seen: Mutex::default() }
    }

    /// Each access with whether it was denied.
    pub fn record<'a>(&self, function: &str, accesses: impl Iterator<Item = (&'a Access, bool)>) {
        let mut fresh = Vec::new();
        {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (access, denied) in accesses {
                let keys: Vec<String> = if access.leading_keys.is_empty() { vec![String::new()] } else { access.leading_keys.iter().map(|k| key_kind(k)).collect() };
                for key in keys {
                    let used = Used { function: function.to_owned(), action: access.action.clone(), resource: access.resource.clone(), key, denied };
                    if seen.insert(used.clone()) {
                        fresh.push(used);
                    }
                }
            }
        }
        let Some(path) = &self.file else { return };
        if fresh.is_empty() {
            return;
        }
        let lines: String = fresh.iter().filter_map(|u| serde_json::to_string(u).ok()).map(|l| l + "\n").collect();
        // One write per batch of lines with O_APPEND: processes appending at once do not interleave within it.
        let written = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| f.write_all(lines.as_bytes()));
        if let Err(err) = written {
            tracing::warn!(path = %path.display(), %err, "IAM usage not recorded");
        }
    }
}

/// Every use recorded in `path` (a missing file: none).
pub fn read(path: &std::path::Path) -> Result<BTreeSet<Used>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(err) => return Err(format!("{}: {err}", path.display())),
    };
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reported_by_kind() {
        assert_eq!(key_kind("TEACHER#t_anna"), "TEACHER#*");
        assert_eq!(key_kind("BOOKING#bk#2"), "BOOKING#*");
        assert_eq!(key_kind("WARMUP"), "WARMUP");
    }
}
