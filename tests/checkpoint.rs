//! `train --checkpoint` / `--resume` through the binary: a run stopped early and resumed ends
//! with the uninterrupted run's objective and iteration count; a checkpoint of another run is
//! refused.

use std::process::Command;

fn train(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args([
            "train",
            "--device",
            "cpu",
            "--gates",
            "30",
            "--tol",
            "1e-10",
            "--no-save",
            "--json",
            "--quiet",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn stopped_and_resumed_run_matches_the_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("state.safetensors");
    let ck = ck.to_str().unwrap();
    let full = train(&["--max-iters", "400"]);
    let its = full["iterations"].as_u64().unwrap();
    assert!(its > 30, "{full}");
    let part = train(&[
        "--max-iters",
        "25",
        "--checkpoint",
        ck,
        "--checkpoint-every",
        "10",
    ]);
    assert_eq!(part["iterations"], 25);
    let resumed = train(&["--max-iters", "400", "--resume", ck]);
    assert_eq!(resumed["iterations"], its);
    let (a, b) = (
        resumed["objective"].as_f64().unwrap(),
        full["objective"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-12 * b, "{a} vs {b}");
    assert_eq!(resumed["status"], full["status"]);

    // Another lambda is another run.
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args([
            "train",
            "--device",
            "cpu",
            "--gates",
            "30",
            "--no-save",
            "--lambda",
            "1e-4",
            "--resume",
            ck,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--resume") && err.contains("another run"),
        "{err}"
    );
}
