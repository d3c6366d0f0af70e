//! The library's layers point one way: `domain/` <- `store/` <- use cases.
//! The plain records and the error enum name no use case, and no store
//! module reaches up into one (it used to import attendance's and rooms'
//! types, and the error enum named four use cases' own error types).

use std::path::Path;

/// Modules that are use cases: the store, the domain and the error enum never import them.
const USE_CASES: [&str; 12] = ["attendance", "rooms", "changes", "checkout", "fulfilment", "webhook", "refunds", "cart", "reconcile", "teacher_profile", "directory", "payments"];

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    found
}

#[test]
fn the_store_the_domain_and_the_error_enum_name_no_use_case() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut lower = sources(&src.join("store"));
    lower.extend(sources(&src.join("domain")));
    lower.push(("error.rs".into(), std::fs::read_to_string(src.join("error.rs")).unwrap()));
    let mut wrong = Vec::new();
    for (file, text) in &lower {
        for case in USE_CASES {
            if text.contains(&format!("crate::{case}::")) || text.contains(&format!("crate::{case}}}")) || text.contains(&format!("use crate::{case};")) {
                wrong.push(format!("{file} names crate::{case}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn no_two_store_modules_import_each_other() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let modules: Vec<(String, String)> = sources(&store).into_iter().map(|(file, text)| (Path::new(&file).file_stem().unwrap().to_string_lossy().into_owned(), text)).collect();
    let imports = |text: &str, other: &str| text.contains(&format!("super::{other}::")) || text.contains(&format!("super::{other}::{{"));
    for (a, text_a) in &modules {
        for (b, text_b) in &modules {
            if a < b && a != "mod" && b != "mod" {
                assert!(!(imports(text_a, b) && imports(text_b, a)), "store/{a}.rs and store/{b}.rs import each other");
            }
        }
    }
}
