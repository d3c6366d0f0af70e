//! The Stripe emulator against Stripe's official Python library (pinned in
//! the project venv): `tests/conformance/stripe_python.py` drives every
//! endpoint this project uses, the error classes, idempotency, refunds and
//! `stripe.Webhook.construct_event`. Run by `make test`, which installs it.


#[tokio::test]
#[ignore = "needs .venv with stripe-python; `make test` runs it"]
async fn stripe_python_agrees_with_the_emulator() {
    let stripe = tests::start_stripe().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/conformance/stripe_python.py"))
        .env("EMULATOR_BASE", stripe.base_url())
        .env("EMULATOR_KEY", tests::STRIPE_KEY)
        .env("EMULATOR_WEBHOOK_SECRET", tests::WEBHOOK_SECRET)
        .output()
        .await
        .expect("the project venv's python (make test creates it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "stripe-python disagrees with the emulator:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
