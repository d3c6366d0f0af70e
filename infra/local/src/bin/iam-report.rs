//! `make iam-report`: per function, what template.yaml grants it on the
//! table and what the last `make test` saw it use (the IAM checker's record
//! in target/iam-usage.jsonl), so a grant nobody uses stands out.

use std::collections::BTreeSet;
use std::process::ExitCode;

use local_stack::iam::policy::{Policies, glob};
use local_stack::iam::usage::{self, Used};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("iam-report: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let usage_path = std::env::var("IAM_USAGE_FILE").unwrap_or_else(|_| "target/iam-usage.jsonl".into());
    let used = usage::read(std::path::Path::new(&usage_path))?;
    if used.is_empty() {
        return Err(format!("{usage_path} records nothing: run `make test` first"));
    }
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "lessons".into());
    let yaml = std::fs::read_to_string("template.yaml").map_err(|e| format!("template.yaml: {e}"))?;
    let policies = Policies::from_template(&yaml, &table)?;
    let arn = local_stack::iam::policy::table_arn(&table);
    let short = |resource: &str| resource.strip_prefix(&arn).map_or_else(|| resource.to_owned(), |rest| format!("table{rest}"));
    let mut unused_total = 0;
    for (function, statements) in &policies.functions {
        let mine: Vec<&Used> = used.iter().filter(|u| &u.function == function).collect();
        println!("\n{function}");
        for statement in statements.iter().filter(|s| s.allow) {
            let keys = statement.conditions.iter().find(|(_, key, _)| key == "dynamodb:LeadingKeys").map(|(_, _, patterns)| patterns.clone());
            let line = |label: &str, granted: &[String], is_used: &dyn Fn(&str) -> bool| {
                let shown: Vec<String> = granted.iter().map(|g| if is_used(g) { short(g) } else { format!("{} (UNUSED)", short(g)) }).collect();
                println!("  {label:<10} {}", shown.join(", "));
                granted.iter().filter(|g| !is_used(g)).count()
            };
            let allowed = |u: &&&Used| !u.denied;
            unused_total += line("actions", &statement.actions, &|a| mine.iter().filter(allowed).any(|u| glob(a, &u.action)));
            unused_total += line("resources", &statement.resources, &|r| mine.iter().filter(allowed).any(|u| glob(r, &u.resource)));
            match keys {
                Some(patterns) => unused_total += line("keys", &patterns, &|p| mine.iter().filter(allowed).any(|u| glob(p, &u.key))),
                None => println!("  {:<10} any (no dynamodb:LeadingKeys condition)", "keys"),
            }
        }
        let seen: BTreeSet<String> = mine.iter().map(|u| format!("{} {} {}{}", u.action.trim_start_matches("dynamodb:"), short(&u.resource), u.key, if u.denied { " DENIED" } else { "" })).collect();
        println!("  used       {}", if seen.is_empty() { "nothing (no test called it)".to_owned() } else { seen.into_iter().collect::<Vec<_>>().join("; ") });
    }
    println!("\n{unused_total} granted actions, resources or key patterns no test used (marked UNUSED).");
    Ok(())
}
