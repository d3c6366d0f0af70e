//! The 100ms emulator against 100ms's official Node server SDK (pinned in
//! `tests/conformance/hms`): rooms, room codes, disabling, and the SDK's
//! own management tokens. Run by `make test`, which installs the SDK.

#[tokio::test]
#[ignore = "needs node and tests/conformance/hms/node_modules; `make test` runs it"]
async fn the_official_100ms_sdk_agrees_with_the_emulator() {
    let hms = tests::start_hms().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/hms");
    let output = tokio::process::Command::new("node")
        .arg("conformance.js")
        .current_dir(&dir)
        .env("HMS_EMULATOR_BASE", hms.base_url())
        .env("HMS_EMULATOR_CONTROL", hms.control_url())
        .env("HMS_ACCESS_KEY", tests::HMS_ACCESS_KEY)
        .env("HMS_SECRET", tests::HMS_SECRET)
        .env("HMS_TEMPLATE_ID", tests::HMS_TEMPLATE)
        .output()
        .await
        .expect("node on PATH");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "the 100ms SDK disagrees with the emulator:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
