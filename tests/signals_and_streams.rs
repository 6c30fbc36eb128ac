//! Signals, closed streams and failed solves, through the binary: SIGTERM saves like Ctrl-C
//! (exit 143), `path`, `bench` and `data fetch` stop on the first Ctrl-C (exit 130) keeping
//! what they finished and deleting partial files, a closed or full stdout ends quietly with
//! the model saved, and a diverged solve exits 1 without a model.

mod cli_fixtures;

use cli_fixtures::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, limit_s: u64, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed().as_secs() < limit_s,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_saves_the_state_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let (out, ck) = (
        dir.path().join("m.safetensors"),
        dir.path().join("c.safetensors"),
    );
    let child = bin()
        .args([
            "train", "--device", "cpu", "--gates", "50", "--tol", "1e-30",
        ])
        .args([
            "--max-iters",
            "10000000",
            "--quiet",
            "--checkpoint-every",
            "1",
        ])
        .arg("--checkpoint")
        .arg(&ck)
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first checkpoint", 60, || ck.exists());
    signal(&child, "-TERM");
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(143), "{err}");
    assert!(
        err.contains("terminate") && err.contains("--resume"),
        "{err}"
    );
    assert!(ck.exists() && !out.exists(), "{err}");
    // No temporary file of the atomic checkpoint writes is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_path_stops_on_the_first_ctrl_c_and_keeps_what_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("path.csv");
    let lambdas = "1e-2,5e-3,2e-3,1e-3,5e-4,2e-4,1e-4,5e-5,2e-5,1e-5,5e-6,2e-6,1e-6";
    let child = bin()
        .args([
            "path", "--device", "cpu", "--gates", "100", "--tol", "1e-30", "--quiet",
        ])
        .args(["--max-iters", "300", "--lambdas", lambdas, "--out-dir"])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first point of the path", 120, || csv.exists());
    let start = Instant::now();
    signal(&child, "-INT");
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    assert!(
        start.elapsed().as_secs() < 30,
        "the path went on after Ctrl-C: {err}"
    );
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert!((1..13).contains(&rows), "{rows} points kept");
    assert!(err.contains(&format!("after {rows} of 13")), "{err}");
}

#[test]
fn a_fetch_stops_on_the_first_ctrl_c_and_deletes_its_partial_file() {
    // A server that sends a large body slowly, so the download is under way when Ctrl-C comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).map(|k| k > 2).unwrap_or(false) {
                line.clear();
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
            while s.write_all(&[7u8; 16384]).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("train-images-idx3-ubyte.gz.part");
    let child = bin()
        .args(["data", "fetch", "mnist", "--mirror", &base, "--dir"])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the partial file", 60, || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > 0)
    });
    signal(&child, "-INT");
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(130), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{err}");
}

#[test]
fn a_bench_stops_on_the_first_ctrl_c() {
    let child = bin()
        .args([
            "bench", "--n", "4096", "--d", "784", "--p", "200", "--c", "10", "--reps", "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    signal(&child, "-INT");
    let res = child.wait_with_output().unwrap();
    assert_eq!(res.status.code(), Some(130));
    assert!(start.elapsed().as_secs() < 5);
}

fn train_to(out: &Path, stdout: Stdio) -> std::process::Output {
    bin()
        .args([
            "train",
            "--device",
            "cpu",
            "--gates",
            "20",
            "--max-iters",
            "30",
            "--log-every",
            "1",
        ])
        .arg("--out")
        .arg(out)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap()
}

#[test]
fn a_closed_or_full_stdout_ends_quietly_and_keeps_the_model() {
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reader is gone before the first line, as `| head -0` leaves it.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = dir.path().join("a.safetensors");
    let res = train_to(&out, Stdio::from(writer));
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert!(err.trim().is_empty(), "{err}");
    assert!(out.exists());
    let out = dir.path().join("b.safetensors");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let res = train_to(&out, Stdio::from(full));
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked") && err.contains("stdout"), "{err}");
    assert!(out.exists());
}

#[test]
fn a_diverged_solve_exits_1_and_saves_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..30)
        .map(|r| format!("{},{},{:e}\n", r % 7, r % 5, 1e200 * (1.0 + r as f64)))
        .collect();
    let data = write(dir.path(), "big-targets.csv", rows.as_bytes());
    let out = dir.path().join("m.safetensors");
    let res = bin()
        .args([
            "train",
            "--device",
            "cpu",
            "--task",
            "regression",
            "--gates",
            "4",
            "--quiet",
        ])
        .args(["--data", &data, "--metrics-out"])
        .arg(dir.path().join("m.jsonl"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.contains("diverged") && err.contains("no model"),
        "{err}"
    );
    assert!(!out.exists() && !out.with_extension("json").exists());
    // The metrics, which show how it diverged, are kept.
    assert!(dir.path().join("m.jsonl").exists());
}

#[test]
fn shared_flags_are_accepted_where_they_mean_something() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let ok = |a: &[&str]| {
        let res = bin().args(a).output().unwrap();
        assert_eq!(
            res.status.code(),
            Some(0),
            "{a:?}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        res
    };
    let m = model.to_str().unwrap();
    ok(&[
        "train",
        "--device",
        "cpu",
        "--gates",
        "5",
        "--max-iters",
        "5",
        "--quiet",
        "--out",
        m,
    ]);
    let res = ok(&[
        "path",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--gates",
        "5",
        "--lambdas",
        "1e-3,1e-4",
        "--max-iters",
        "5",
        "--quiet",
    ]);
    assert!(res.stdout.is_empty() && res.stderr.is_empty());
    let res = ok(&[
        "path",
        "--device",
        "cpu",
        "--gates",
        "5",
        "--lambdas",
        "1e-3",
        "--max-iters",
        "5",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(j["lambda"].as_f64(), Some(1e-3));
    let res = ok(&["predict", "--model", m, "--quiet"]);
    assert!(res.stdout.is_empty());
    let res = ok(&["predict", "--model", m, "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert!(j["accuracy"].as_f64().is_some());
}
