//! The bad-input catalogue, run through the binary: every case exits 2 with exactly one stderr
//! line naming the file, flag, shape or value at fault, panics nowhere, and leaves every file
//! in its folder as it was (hashed before and after): nothing created, nothing overwritten.

mod cli_fixtures;

use cli_fixtures::*;
use std::path::Path;

/// Trains on `data` and saves a model and a checkpoint; returns (model, checkpoint).
fn fixtures(dir: &Path, data: &str, gates_file: Option<&str>, tag: &str) -> (String, String) {
    let model = dir.join(format!("{tag}.safetensors")).display().to_string();
    let ck = dir
        .join(format!("{tag}.ck.safetensors"))
        .display()
        .to_string();
    let mut a = args(&[
        "train",
        "--data",
        data,
        "--device",
        "cpu",
        "--max-iters",
        "6",
        "--quiet",
        "--checkpoint",
        &ck,
        "--checkpoint-every",
        "3",
        "--out",
        &model,
    ]);
    match gates_file {
        Some(g) => a.extend(args(&["--gates-file", g])),
        None => a.extend(args(&["--gates", "8"])),
    }
    let out = bin().args(&a).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (model, ck)
}

#[test]
fn the_catalogue_of_bad_inputs_is_refused_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |name: &str| d.join(name).display().to_string();
    let csv = write(d, "small.csv", small_csv(40, 0).as_bytes());
    let csv2 = write(d, "other.csv", small_csv(40, 0).as_bytes());
    let gates = |seed: u64| {
        let v: Vec<f64> = (0..3 * 8)
            .map(|k| ((k as u64 * 31 + seed * 17) % 23) as f64 / 7.0 - 1.5)
            .collect();
        cvxnn::data::npy::to_npy_bytes(&[3, 8], &v)
    };
    let g1 = write(d, "g1.npy", &gates(1));
    let g2 = write(d, "g2.npy", &gates(2));
    let (model, ck) = fixtures(d, &csv, None, "m");
    let (_, ck_other) = fixtures(d, &csv2, None, "o");
    let (_, ck_g1) = fixtures(d, &csv, Some(&g1), "g");
    // The data behind `ck_other` changes after its checkpoint (same path, same shape).
    std::fs::write(&csv2, small_csv(40, 5)).unwrap();
    let relu_model = p("relu.safetensors");
    let out = bin()
        .args([
            "train", "--data", &csv, "--device", "cpu", "--model", "relu", "--gates", "3",
        ])
        .args(["--max-iters", "30", "--quiet", "--out", &relu_model])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let edit_ck = |name: &str, meta: &dyn Fn(&mut serde_json::Value), nan_u: bool| {
        let to = d.join(name);
        rewrite_safetensors(Path::new(&ck), &to, "cvxnn-checkpoint", meta, |n, v| {
            if nan_u && n == "u" {
                v[0] = f64::NAN;
            }
        });
        to.display().to_string()
    };
    let ck_nan = edit_ck("ck-nan.safetensors", &|_| {}, true);
    let ck_step = edit_ck("ck-step.safetensors", &|m| m["eta"] = (-1.0).into(), false);
    let ck_t = edit_ck("ck-t.safetensors", &|m| m["t"] = 0.5.into(), false);
    let ck_iter = edit_ck(
        "ck-iter.safetensors",
        &|m| m["iteration"] = 1_000_000_000_000_000_000u64.into(),
        false,
    );
    let edit_model = |from: &str, name: &str, meta: &dyn Fn(&mut serde_json::Value), nan: bool| {
        let to = d.join(name);
        rewrite_safetensors(Path::new(from), &to, "cvxnn", meta, |_, v| {
            if nan {
                v[0] = f64::NAN;
            }
        });
        to.display().to_string()
    };
    let relu_fewer = edit_model(
        &relu_model,
        "relu-fewer.safetensors",
        &|m| {
            m["task"] = serde_json::json!({"kind": "regression", "outputs": 3});
        },
        false,
    );
    let model_nan = edit_model(&model, "m-nan.safetensors", &|_| {}, true);
    let model_outputs = edit_model(
        &model,
        "m-outputs.safetensors",
        &|m| {
            m["task"] = serde_json::json!({"kind": "regression", "outputs": 4});
        },
        false,
    );
    // A CSV named like a model, and one named like the model's metadata sidecar.
    let csv_st = write(d, "data.safetensors", small_csv(40, 1).as_bytes());
    let csv_json = write(d, "side.json", small_csv(40, 2).as_bytes());
    let csv_svg = write(d, "data.svg", small_csv(40, 3).as_bytes());
    let link = d.join("link.csv");
    std::os::unix::fs::symlink(&csv, &link).unwrap();
    let link = link.display().to_string();
    let hard = d.join("hard.jsonl");
    std::fs::hard_link(&csv, &hard).unwrap();
    let hard = hard.display().to_string();
    let huge = write(d, "huge.csv", b"1.7e308,1\n1.7e308,0\n1.7e308,1\n1.0,0\n");
    let zero_gates = write(
        d,
        "zero.npy",
        &cvxnn::data::npy::to_npy_bytes(&[3, 4], &[0.0; 12]),
    );
    let npy =
        |name: &str, descr: &str, shape: &str| write(d, name, &npy_raw(descr, shape, &[0u8; 64]));
    let c16 = npy("c16.npy", "<c16", "(2, 2)");
    let s12 = npy("s12.npy", "|S12", "(2, 2)");
    let u12 = npy("u12.npy", "<U12", "(1, 1)");
    let f16 = npy("f16.npy", "<f16", "(2, 2)");
    let empty_descr = npy("empty.npy", "", "(2, 2)");
    let overflow = npy("overflow.npy", "<f8", "(4294967296, 4294967296)");
    let truncated = npy("trunc.npy", "<f8", "(100, 3)");
    let g_u12 = npy("gu12.npy", "<U12", "(3, 8)");
    let npz_c16 = {
        let path = d.join("c16.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("X.npy", o).unwrap();
        std::io::Write::write_all(&mut z, &npy_raw("<c16", "(2, 2)", &[0u8; 64])).unwrap();
        z.finish().unwrap();
        path.display().to_string()
    };
    let idx_dir = d.join("idx");
    std::fs::create_dir(&idx_dir).unwrap();
    let idx_big = idx_dir.join("train-images-idx3-ubyte");
    std::fs::write(&idx_big, idx_raw(&[65536, 65536, 65536, 65536], &[0; 16])).unwrap();
    std::fs::write(
        idx_dir.join("train-labels-idx1-ubyte"),
        idx_raw(&[2], &[0, 1]),
    )
    .unwrap();
    let idx_short = idx_dir.join("t-images-idx3-ubyte");
    std::fs::write(&idx_short, idx_raw(&[2, 2, 2], &[0; 5])).unwrap();
    std::fs::write(idx_dir.join("t-labels-idx1-ubyte"), idx_raw(&[2], &[0, 1])).unwrap();
    let (idx_big, idx_short) = (
        idx_big.display().to_string(),
        idx_short.display().to_string(),
    );
    let cifar = write(d, "batch.bin", &[0u8; 3000]);
    let garbage = write(d, "garbage.safetensors", b"not a safetensors file at all");
    let not_zip = write(d, "bad.npz", b"PK but not really");
    let not_gz = write(d, "bad.csv.gz", b"not gzip");
    let bad_line1 = write(d, "line1.csv", b"1,oops,0\n2,3,1\n4,5,0\n");
    let o = p("new.safetensors");
    let train = |extra: &[&str]| {
        let mut a = args(&["train"]);
        if !extra.contains(&"--device") {
            a.extend(args(&["--device", "cpu"]));
        }
        if !extra.contains(&"--max-iters") {
            a.extend(args(&["--max-iters", "5"]));
        }
        if !extra.contains(&"--out") {
            a.extend(args(&["--out", &o]));
        }
        a.extend(args(extra));
        a
    };
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        // Panics and aborts, now refusals.
        (train(&["--data", &c16]), vec!["c16.npy", "<c16"]),
        (train(&["--data", &s12]), vec!["s12.npy", "|S12"]),
        (train(&["--data", &u12]), vec!["u12.npy", "<U12"]),
        (train(&["--data", &f16]), vec!["f16.npy", "<f16"]),
        (train(&["--data", &empty_descr]), vec!["empty.npy", "dtype"]),
        (
            train(&["--data", &overflow]),
            vec!["overflow.npy", "4294967296"],
        ),
        (
            train(&["--data", &truncated]),
            vec!["trunc.npy", "truncated"],
        ),
        (train(&["--data", &npz_c16]), vec!["c16.npz", "<c16"]),
        (
            train(&["--data", &csv, "--gates-file", &g_u12]),
            vec!["gu12.npy", "<U12"],
        ),
        (args(&["verify", "--data", &c16]), vec!["c16.npy", "<c16"]),
        (
            train(&["--data", &idx_big]),
            vec!["train-images-idx3-ubyte", "overflow"],
        ),
        (
            train(&["--data", &idx_short]),
            vec!["t-images-idx3-ubyte", "need 8"],
        ),
        (
            train(&["--data", &cifar]),
            vec!["batch.bin", "CIFAR-10 records"],
        ),
        (
            train(&["--gates", "1000000000"]),
            vec!["--gates", "1000000000"],
        ),
        (train(&["--gates", "200000000000000000"]), vec!["--gates"]),
        (
            args(&[
                "path",
                "--device",
                "cpu",
                "--lambda-max",
                "1e-2",
                "--lambda-min",
                "1e-4",
                "--steps",
                "1000000000000",
            ]),
            vec!["--steps", "1000000000000"],
        ),
        (
            args(&["bench", "--n", "100000000", "--d", "100000"]),
            vec!["--n", "MB"],
        ),
        (
            args(&["predict", "--model", &relu_fewer, "--data", &csv]),
            vec!["relu-fewer.safetensors", "outputs"],
        ),
        (
            args(&["predict", "--model", &model_nan, "--data", &csv]),
            vec!["m-nan.safetensors", "non-finite"],
        ),
        (
            args(&["predict", "--model", &model_outputs, "--data", &csv]),
            vec!["m-outputs.safetensors", "4"],
        ),
        (
            args(&["predict", "--model", &garbage]),
            vec!["garbage.safetensors", "safetensors"],
        ),
        // Outputs that are inputs: refused before anything is read or written.
        (
            train(&["--data", &csv_st, "--out", &csv_st]),
            vec!["--out", "data.safetensors", "--data"],
        ),
        (
            train(&["--data", &csv, "--metrics-out", &csv]),
            vec!["--metrics-out", "--data"],
        ),
        (
            train(&["--data", &csv, "--checkpoint", &csv]),
            vec!["--checkpoint", "--data"],
        ),
        (
            train(&["--data", &csv, "--test-data", &csv_st, "--out", &csv_st]),
            vec!["--out", "--test-data"],
        ),
        (
            train(&["--data", &csv, "--test-data", &csv2, "--metrics-out", &csv2]),
            vec!["--metrics-out", "--test-data"],
        ),
        (
            train(&["--data", &csv, "--plot", &csv_svg, "--test-data", &csv_svg]),
            vec!["--plot", "--test-data"],
        ),
        (
            train(&["--data", &csv, "--metrics-out", &link]),
            vec!["--metrics-out", "--data"],
        ),
        (
            train(&["--data", &csv, "--metrics-out", &hard]),
            vec!["--metrics-out", "--data"],
        ),
        (
            train(&["--data", &csv, "--gates-file", &g1, "--metrics-out", &g1]),
            vec!["--metrics-out", "--gates-file"],
        ),
        (
            train(&["--data", &csv_json, "--out", &p("side.safetensors")]),
            vec!["--out", "side.json", "--data"],
        ),
        (
            train(&["--data", &csv, "--resume", &ck, "--out", &ck]),
            vec!["--out", "--resume"],
        ),
        (
            train(&["--data", &csv, "--checkpoint", &o]),
            vec!["--checkpoint", "--out"],
        ),
        (
            args(&["predict", "--model", &model, "--data", &csv, "--out", &csv]),
            vec!["--out", "--data"],
        ),
        (
            args(&[
                "predict", "--model", &model, "--data", &csv, "--out", &model,
            ]),
            vec!["--out", "--model"],
        ),
        // Silent acceptances, now refusals.
        (
            train(&["--data", &csv, "--gates", "8", "--resume", &ck_nan]),
            vec!["--resume", "non-finite"],
        ),
        (
            train(&["--data", &csv, "--gates", "8", "--resume", &ck_step]),
            vec!["--resume", "step"],
        ),
        (
            train(&["--data", &csv, "--gates", "8", "--resume", &ck_t]),
            vec!["--resume", "t = 0.5"],
        ),
        (
            train(&[
                "--data",
                &csv,
                "--gates",
                "8",
                "--max-iters",
                "50",
                "--resume",
                &ck_iter,
            ]),
            vec!["--resume", "--max-iters"],
        ),
        (
            train(&["--data", &csv2, "--gates", "8", "--resume", &ck_other]),
            vec!["--resume", "another run"],
        ),
        (
            train(&["--data", &csv, "--gates-file", &g2, "--resume", &ck_g1]),
            vec!["--resume", "another run"],
        ),
        (
            train(&["--data", &csv, "--resume", &garbage]),
            vec!["--resume", "garbage.safetensors"],
        ),
        (train(&["--data", &huge]), vec!["huge.csv", "column 1"]),
        (
            train(&["--data", &bad_line1]),
            vec!["line1.csv", "line 1", "'oops'"],
        ),
        (
            train(&[
                "--data",
                &csv,
                "--gate-type",
                "feature-sparse",
                "--gate-order",
                "9",
            ]),
            vec!["--gate-order", "9"],
        ),
        (
            train(&["--gate-active", "0.3"]),
            vec!["--gate-active", "--gate-bias quantile"],
        ),
        (
            train(&["--adapter", "llvmpipe"]),
            vec!["--adapter", "--device cpu"],
        ),
        (
            args(&["bench", "--device", "cpu", "--adapter", "x"]),
            vec!["--adapter"],
        ),
        (args(&["verify", "--device", "cpu"]), vec!["--device"]),
        (
            train(&["--kernels", "gpu-style"]),
            vec!["--kernels", "--device cpu"],
        ),
        (
            args(&["bench", "--device", "cpu", "--kernels", "cpu-style"]),
            vec!["--kernels"],
        ),
        // Late or unclear errors, now early and clear.
        (
            train(&["--out", "/proc/m.safetensors"]),
            vec!["--out", "/proc"],
        ),
        (
            train(&["--metrics-out", "/proc/m.jsonl"]),
            vec!["--metrics-out", "/proc"],
        ),
        (train(&["--plot", "/proc/t.png"]), vec!["--plot", "/proc"]),
        (
            train(&["--checkpoint", "/proc/c.safetensors"]),
            vec!["--checkpoint", "/proc"],
        ),
        (
            train(&["--decompose", "approx", "--decompose-tol", "-1"]),
            vec!["--decompose-tol", "-1"],
        ),
        (
            train(&["--data", &csv, "--gates-file", &zero_gates]),
            vec!["all-zero", "gates"],
        ),
        (
            train(&["--test-fraction", "0.9999"]),
            vec!["--test-fraction", "none to train"],
        ),
        (train(&["--gates", "-5"]), vec!["--gates", "-5"]),
        (train(&["--max-iters", "-1"]), vec!["--max-iters", "-1"]),
        (train(&["--seed", "-3"]), vec!["--seed", "-3"]),
        (train(&["--bogus-flag"]), vec!["--bogus-flag"]),
        (train(&["--lamda", "1"]), vec!["--lamda", "--lambda"]),
        (
            args(&["path", "--device", "cpu", "--steps", "3"]),
            vec!["--lambda"],
        ),
        (
            train(&["--device", "gpu", "--data", "/no/such/data.csv"]),
            vec!["/no/such/data.csv"],
        ),
        (train(&["--data", &not_zip]), vec!["bad.npz", "zip"]),
        (train(&["--data", &not_gz]), vec!["bad.csv.gz", "gzip"]),
        (
            train(&["--gate-type", "conv", "--image", "3,32,32"]),
            vec!["--image", "3072"],
        ),
        (
            args(&["path", "--device", "cpu", "--lambdas", "1e-3,-1"]),
            vec!["--lambdas", "-1"],
        ),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (a, needles) in &cases {
        expect_refusal(d, a, needles);
    }
}

#[test]
fn a_bom_and_a_text_header_are_read_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let body = small_csv(30, 0);
    let bom = write(d, "bom.csv", format!("\u{feff}{body}").as_bytes());
    let header = write(d, "head.csv", format!("a,b,c,label\n{body}").as_bytes());
    for f in [&bom, &header] {
        let out = bin()
            .args([
                "train",
                "--device",
                "cpu",
                "--gates",
                "4",
                "--max-iters",
                "3",
                "--no-save",
            ])
            .args(["--test-fraction", "0", "--data", f])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // All 30 rows are data rows, with 3 features: neither the BOM nor the header row is.
        assert!(text.contains("30 train rows, 3 features"), "{f}: {text}");
    }
}
