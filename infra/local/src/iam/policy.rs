//! The functions' DynamoDB policies as `template.yaml` writes them, read
//! from the real file, and IAM's evaluation of one access against them:
//! an explicit `Deny` wins, otherwise some `Allow` must match the action,
//! the resource and every condition.

use std::collections::BTreeMap;

use serde_norway::Value;

/// The account and region the local stack's ARNs are written in.
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";

pub fn table_arn(table: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
}

/// One statement, its intrinsic functions resolved.
#[derive(Debug, Clone)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// `(operator, key, patterns)`, e.g. `("ForAllValues:StringLike", "dynamodb:LeadingKeys", ["TEACHER#*"])`.
    pub conditions: Vec<(String, String, Vec<String>)>,
}

/// One request's need: an action on a resource, touching these partition keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    pub action: String,
    pub resource: String,
    pub leading_keys: Vec<String>,
}

/// Every function of the template by its binary (crate) name.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub functions: BTreeMap<String, Vec<Statement>>,
}

impl Policies {
    /// Reads `template.yaml`, resolving `Table.Arn` to the local table `table`.
    pub fn from_template(yaml: &str, table: &str) -> Result<Self, String> {
        let doc: Value = serde_norway::from_str(yaml).map_err(|e| format!("template.yaml: {e}"))?;
        let resources = doc["Resources"].as_mapping().ok_or("template.yaml has no Resources")?;
        let mut functions = BTreeMap::new();
        for (logical, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let logical = logical.as_str().unwrap_or("?");
            let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().ok_or_else(|| format!("{logical}: no Metadata.BuildProperties.Binary"))?;
            let mut statements = Vec::new();
            for policy in resource["Properties"]["Policies"].as_sequence().map(Vec::as_slice).unwrap_or_default() {
                let Some(list) = policy["Statement"].as_sequence() else {
                    return Err(format!("{logical}: a policy the checker does not model (only inline statements): {policy:?}"));
                };
                for statement in list {
                    statements.push(statement_of(statement, table).map_err(|e| format!("{logical}: {e}"))?);
                }
            }
            functions.insert(binary.to_owned(), statements);
        }
        Ok(Self { functions })
    }

    /// Why `function` may not make `access`, or `None` when it may.
    pub fn denies(&self, function: &str, access: &Access) -> Option<String> {
        let Some(statements) = self.functions.get(function) else {
            return Some(format!("no function {function} in template.yaml"));
        };
        let matching = |s: &&Statement| s.actions.iter().any(|a| glob(a, &access.action)) && s.resources.iter().any(|r| glob(r, &access.resource)) && conditions_hold(s, access);
        if statements.iter().filter(|s| !s.allow).any(|s| matching(&s)) {
            return Some(format!("with an explicit deny in an identity-based policy"));
        }
        if statements.iter().filter(|s| s.allow).any(|s| matching(&s)) {
            return None;
        }
        Some(format!("because no identity-based policy allows the {} action", access.action))
    }
}

fn statement_of(statement: &Value, table: &str) -> Result<Statement, String> {
    let allow = match statement["Effect"].as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(format!("Effect {other:?}")),
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        match v {
            Value::Sequence(list) => list.iter().map(|item| resolve(item, table)).collect(),
            Value::Null => Ok(Vec::new()),
            one => Ok(vec![resolve(one, table)?]),
        }
    };
    let mut conditions = Vec::new();
    if let Some(ops) = statement["Condition"].as_mapping() {
        for (op, keys) in ops {
            let op = op.as_str().ok_or("a condition operator that is not a string")?;
            for (key, patterns) in keys.as_mapping().ok_or("a condition that is not a mapping")? {
                let key = key.as_str().ok_or("a condition key that is not a string")?;
                conditions.push((op.to_owned(), key.to_owned(), strings(patterns)?));
            }
        }
    }
    if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
        return Err("NotAction/NotResource are not modelled".into());
    }
    // An operator evaluated as "never holds" would silently disable a Deny.
    if let Some((op, _, _)) = conditions.iter().find(|(op, _, _)| !MODELLED_OPERATORS.contains(&op.as_str())) {
        return Err(format!("the condition operator {op} is not modelled by the checker"));
    }
    Ok(Statement { allow, actions: strings(&statement["Action"])?, resources: strings(&statement["Resource"])?, conditions })
}

/// A string, or `!GetAtt Table.Arn` / `!Sub "${Table.Arn}/index/x"`; any
/// other resource's attribute stays a name that matches no DynamoDB ARN.
fn resolve(value: &Value, table: &str) -> Result<String, String> {
    let sub = |text: &str| {
        text.replace("${Table.Arn}", &table_arn(table)).replace("${AWS::Region}", REGION).replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Partition}", "aws")
    };
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!GetAtt", Value::String(attr)) if attr == "Table.Arn" => Ok(table_arn(table)),
            ("!GetAtt", Value::String(attr)) => Ok(format!("unresolved:{attr}")),
            ("!Sub", Value::String(text)) => Ok(sub(text)),
            ("!Ref", Value::String(name)) => Ok(format!("unresolved:{name}")),
            (tag, v) => Err(format!("an intrinsic the checker does not model: {tag} {v:?}")),
        },
        other => Err(format!("a value the checker does not model: {other:?}")),
    }
}

const MODELLED_OPERATORS: [&str; 4] = ["ForAllValues:StringLike", "ForAllValues:StringEquals", "ForAnyValue:StringLike", "ForAnyValue:StringEquals"];

fn conditions_hold(statement: &Statement, access: &Access) -> bool {
    statement.conditions.iter().all(|(op, key, patterns)| {
        let values: &[String] = match key.as_str() {
            "dynamodb:LeadingKeys" => &access.leading_keys,
            // A key the request does not carry: IAM treats ForAllValues as true and everything else as false.
            _ => &[],
        };
        let like = |v: &String| patterns.iter().any(|p| glob(p, v));
        let equals = |v: &String| patterns.iter().any(|p| p == v);
        match op.as_str() {
            "ForAllValues:StringLike" => values.iter().all(like),
            "ForAllValues:StringEquals" => values.iter().all(equals),
            "ForAnyValue:StringLike" => values.iter().any(like),
            "ForAnyValue:StringEquals" => values.iter().any(equals),
            // Unmodelled operators never grant.
            _ => false,
        }
    })
}

/// IAM's wildcard match: `*` any run of characters, `?` one; case-sensitive
/// (action names are matched as written in the template and in the request).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  CartFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: cart
    Properties:
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:Query]
              Resource:
                - !GetAtt Table.Arn
                - !Sub "${Table.Arn}/index/gsi2"
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["STUDENT#*", "WARMUP"]
            - Effect: Deny
              Action: dynamodb:Query
              Resource: !Sub "${Table.Arn}/index/gsi2"
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["STUDENT#blocked"]
"#;

    fn access(action: &str, resource: &str, keys: &[&str]) -> Access {
        Access { action: action.into(), resource: resource.into(), leading_keys: keys.iter().map(|k| (*k).to_owned()).collect() }
    }

    #[test]
    fn grants_only_the_actions_resources_and_keys_written() {
        let policies = Policies::from_template(TEMPLATE, "lessons").unwrap();
        let table = table_arn("lessons");
        let index = format!("{table}/index/gsi2");
        assert_eq!(policies.denies("cart", &access("dynamodb:GetItem", &table, &["STUDENT#s1"])), None);
        assert_eq!(policies.denies("cart", &access("dynamodb:Query", &index, &["STUDENT#s1"])), None);
        assert!(policies.denies("cart", &access("dynamodb:PutItem", &table, &["STUDENT#s1"])).unwrap().contains("no identity-based policy allows the dynamodb:PutItem"));
        assert!(policies.denies("cart", &access("dynamodb:Query", &format!("{table}/index/gsi1"), &["STUDENT#s1"])).is_some());
        assert!(policies.denies("cart", &access("dynamodb:GetItem", &table, &["CHECKOUT#c1"])).is_some());
        assert!(policies.denies("cart", &access("dynamodb:GetItem", &table, &["STUDENT#s1", "CHECKOUT#c1"])).is_some(), "every key must match");
        assert!(policies.denies("cart", &access("dynamodb:Query", &index, &["STUDENT#blocked"])).unwrap().contains("explicit deny"));
        assert!(policies.denies("get-slots", &access("dynamodb:GetItem", &table, &[])).is_some());
    }

    #[test]
    fn for_all_values_holds_for_a_request_without_keys_as_iam_evaluates_it() {
        let policies = Policies::from_template(TEMPLATE, "lessons").unwrap();
        assert_eq!(policies.denies("cart", &access("dynamodb:GetItem", &table_arn("lessons"), &[])), None);
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob("TEACHER#*", "TEACHER#t_anna"));
        assert!(glob("TEACHER#*", "TEACHER#"));
        assert!(!glob("TEACHER#*", "STUDENT#TEACHER#x"));
        assert!(glob("dynamodb:*", "dynamodb:Query"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*/index/*", "arn:t/index/gsi1") && !glob("*/index/*", "arn:t"));
        assert!(!glob("WARMUP", "WARMUPS"));
    }

    #[test]
    fn the_real_template_names_every_function_crate() {
        let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let policies = Policies::from_template(&yaml, "lessons").unwrap();
        let crates: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../functions")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        for name in crates {
            assert!(policies.functions.contains_key(&name), "{name} has no policy in template.yaml");
        }
    }
}
