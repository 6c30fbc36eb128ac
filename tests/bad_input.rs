//! Bad input: a one-line error naming the problem, exit code 2, no panic, no output file.

use cvxnn::data::npy::to_npy_bytes;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn npz(dir: &Path, name: &str, arrays: &[(&str, &[usize], &[f64])]) -> String {
    let p = dir.join(name);
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, shape, data) in arrays {
        z.start_file(format!("{n}.npy"), opts).unwrap();
        z.write_all(&to_npy_bytes(shape, data)).unwrap();
    }
    z.finish().unwrap();
    p.display().to_string()
}

/// Runs cvxnn with `args`, expects exit 2 and a message containing every `needles` entry, and
/// checks that nothing was written into `out_dir` besides the inputs.
fn expect_error(args: &[&str], needles: &[&str], out_dir: &Path) {
    let before: Vec<_> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    // Found by content, not position: other stderr lines (a driver's, say) are not ours.
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: ") && needles.iter().all(|n| l.contains(n))),
        "{args:?}: no error line with all of {needles:?} in {err}"
    );
    let after: Vec<_> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "{args:?} left files behind");
}

#[test]
fn bad_inputs_give_clear_errors_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("m.safetensors").display().to_string();
    let ragged = write(d, "ragged.csv", b"1,2,0\n3,4,1\n5,6\n");
    let text = write(d, "text.csv", b"1,2,0\n3,abc,1\n");
    let nan = write(d, "nan.csv", b"1,2,0\n3,NaN,1\n");
    let inf = write(d, "inf.csv", b"1,2,0\n3,inf,1\n");
    let short_y = npz(
        d,
        "short.npz",
        &[
            ("X", &[5, 2], &[0.0; 10]),
            ("y", &[4], &[0.0, 1.0, 0.0, 1.0]),
        ],
    );
    let nan_npz = npz(
        d,
        "nan.npz",
        &[
            ("X", &[2, 2], &[0.0, f64::NAN, 1.0, 2.0]),
            ("y", &[2], &[0.0, 1.0]),
        ],
    );
    let gates = write(d, "g.npy", &to_npy_bytes(&[63, 5], &[0.5; 315]));
    let not_npy = write(d, "bad.npy", b"definitely not numpy");
    // 5,000 x 60 features (+ label), 4,000 training rows: too large for the exact decomposition.
    let mut rows = String::new();
    for r in 0..5000 {
        let cells: Vec<String> = (0..60)
            .map(|j| (((r * 7 + j * 13) % 17) as f64 / 3.0).to_string())
            .collect();
        rows.push_str(&format!("{},{}\n", cells.join(","), r % 2));
    }
    let big = write(d, "big.csv", rows.as_bytes());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--data", "/no/such/file.csv"],
            vec!["/no/such/file.csv", "no such file"],
        ),
        (
            vec!["--data", &ragged],
            vec!["ragged.csv", "line 3", "ragged"],
        ),
        (
            vec!["--data", &text],
            vec!["text.csv", "line 2", "'abc' is not a number"],
        ),
        (
            vec!["--data", &nan],
            vec!["nan.csv", "line 2", "non-finite"],
        ),
        (
            vec!["--data", &inf],
            vec!["inf.csv", "line 2", "non-finite"],
        ),
        (vec!["--data", &short_y], vec!["label count", "5", "4"]),
        (vec!["--data", &nan_npz], vec!["non-finite", "row 1"]),
        (vec!["--lambda", "-1"], vec!["--lambda", "-1"]),
        (vec!["--tol", "0"], vec!["--tol"]),
        (vec!["--tol", "-1e-3"], vec!["--tol"]),
        (vec!["--max-iters", "0"], vec!["--max-iters"]),
        (
            vec!["--gates-file", &gates],
            vec!["g.npy", "[64, p]", "[63, 5]"],
        ),
        (vec!["--gates-file", &not_npy], vec!["bad.npy", "magic"]),
        (vec!["--test-fraction", "1.5"], vec!["--test-fraction"]),
        (
            vec!["--label-column", "99"],
            vec!["--label-column", "99", "65 columns"],
        ),
        (vec!["--gates", "0"], vec!["--gates"]),
        (vec!["--regularizer", "bogus"], vec!["bogus"]),
        (
            vec!["--model", "relu", "--decompose", "approx"],
            vec!["--decompose", "--model relu"],
        ),
        (
            vec!["--decompose", "approx", "--rho", "-1"],
            vec!["--rho", "-1"],
        ),
        (vec!["--model", "relu", "--delta0", "0"], vec!["--delta0"]),
        (vec!["--solver", "al"], vec!["--solver", "--model relu"]),
        (
            vec!["--plot", "trace.txt"],
            vec!["--plot", "trace.txt", ".png or .svg"],
        ),
        (
            vec!["--plot", "/no/such/dir/t.png"],
            vec!["--plot", "/no/such/dir"],
        ),
        (
            vec!["--data", &big, "--decompose", "exact"],
            vec!["--decompose", "4000 x 60", "approx"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["train", "--max-iters", "5", "--out", &out];
        args.extend(extra);
        expect_error(&args, &needles, d);
    }
    expect_error(
        &["train", "--out", "/no/such/dir/m.safetensors"],
        &["--out", "/no/such/dir"],
        d,
    );
    let wrong_ext = d.join("m.bin").display().to_string();
    expect_error(
        &["train", "--out", &wrong_ext],
        &["--out", ".safetensors"],
        d,
    );
    expect_error(
        &["predict", "--model", "/no/model.safetensors"],
        &["/no/model.safetensors"],
        d,
    );
    expect_error(
        &["predict", "--model", &gates],
        &["g.npy", "safetensors"],
        d,
    );
}

#[test]
fn a_solve_that_does_not_fit_is_refused_with_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    for model in ["gated", "relu"] {
        let res = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
            .args(["train", "--device", "cpu", "--model", model, "--out"])
            .arg(&out)
            .env("CVXNN_MEMORY_LIMIT_MB", "2")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{err}");
        assert!(
            err.contains("does not fit") && err.contains("2.0 MB available"),
            "{err}"
        );
        assert!(!out.exists());
    }
}
