//! `train --checkpoint` / `--resume` through the binary: a run stopped early and resumed ends
//! with the uninterrupted run's objective and iteration count; a checkpoint of another run is
//! refused.

use std::process::Command;

/// The small digits problem every run here trains.
const BASE: [&str; 5] = ["train", "--device", "cpu", "--gates", "30"];

fn train(args: &[&str]) -> serde_json::Value {
    let mut base = BASE.to_vec();
    base.extend(["--tol", "1e-10"]);
    train_on(&base, args)
}

fn train_on(base: &[&str], args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(base)
        .args(["--no-save", "--json", "--quiet"])
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
        .args(BASE)
        .args(["--no-save", "--lambda", "1e-3", "--resume", ck])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--resume") && err.contains("another run"),
        "{err}"
    );
}

#[test]
fn ctrl_c_saves_the_state_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let child = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(BASE)
        .args([
            "--tol",
            "1e-30",
            "--max-iters",
            "10000000",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    let ck = dir.path().join("m.checkpoint.safetensors");
    assert!(ck.exists() && !out.exists(), "{err}");
    assert!(err.contains("--resume"), "{err}");
    // The saved state resumes: two more iterations.
    let at: u64 = err
        .split("interrupted at iteration ")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no iteration in: {err}"));
    assert!(at > 0);
    let budget = (at + 2).to_string();
    let res = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(BASE)
        .args(["--tol", "1e-30", "--no-save", "--json", "--quiet"])
        .args(["--max-iters", &budget, "--resume"])
        .arg(&ck)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(j["iterations"].as_u64(), Some(at + 2));
}

#[test]
fn augmented_lagrangian_run_resumes_across_outer_steps() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("al.safetensors");
    let ck = ck.to_str().unwrap();
    // A loose tolerance makes short outer steps: 300 iterations take about a dozen.
    let relu = [
        "train",
        "--device",
        "cpu",
        "--model",
        "relu",
        "--gates",
        "4",
        "--tol",
        "1e-5",
        // scnn's scaling: on these columns the budget ends inside an outer step.
        "--scaling",
        "unitize",
    ];
    let run = |extra: &[&str]| train_on(&relu, extra);
    let full = run(&["--max-iters", "300"]);
    let part = run(&[
        "--max-iters",
        "130",
        "--checkpoint",
        ck,
        "--checkpoint-every",
        "25",
    ]);
    assert_eq!(part["iterations"], 130);
    // The budget ends the first run inside some outer step; the resumed run must retrace the
    // rest, multipliers and penalty schedule included.
    let resumed = run(&["--max-iters", "300", "--resume", ck]);
    assert!(
        full["outer_iterations"].as_u64().unwrap() > part["outer_iterations"].as_u64().unwrap()
    );
    for key in ["iterations", "outer_iterations", "status"] {
        assert_eq!(resumed[key], full[key], "{key}: {resumed} vs {full}");
    }
    for key in ["objective", "constraint_violation"] {
        let (a, b) = (resumed[key].as_f64().unwrap(), full[key].as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1e-12),
            "{key}: {a} vs {b}"
        );
    }

    // A ReLU checkpoint does not resume a gated run.
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args([
            "train",
            "--device",
            "cpu",
            "--gates",
            "4",
            "--no-save",
            "--resume",
            ck,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}
