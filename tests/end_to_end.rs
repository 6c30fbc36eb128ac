//! End to end on the bundled digits: accuracy with the defaults, the saved file recomputed by
//! hand against the convex model, and `cvxnn predict` against the in-memory network.

mod common;

use common::rel_diff;
use cvxnn::backend::cpu::{CpuBackend, CpuOptions};
use cvxnn::data::{self, LoadOptions};
use cvxnn::gates;
use cvxnn::model::Network;
use cvxnn::solver::observer::Silent;
use cvxnn::solver::{FistaSettings, Status};
use cvxnn::train::{self, Precision, ProblemConfig};
use ndarray::Array2;
use safetensors::SafeTensors;
use std::process::Command;

/// Convex-model predictions sum_i D_i X U_i for preprocessed rows x (patterns from the kept gates).
fn convex_predictions(x: &Array2<f64>, g: &Array2<f64>, u: &[f64], c: usize) -> Vec<f64> {
    let mask = gates::patterns(x, g);
    let zeros = Array2::zeros((x.nrows(), c));
    let be = CpuBackend::<f64>::new(x, &zeros, mask, CpuOptions::default());
    common::backend_forward(&be, u)
}

/// Shape and values of an F64 tensor of a safetensors file.
fn read_f64(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}

/// The network computed from the file's tensors alone, with plain loops.
fn forward_from_file(bytes: &[u8], x: &Array2<f64>) -> Vec<f64> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let read = |name: &str| read_f64(&st, name);
    let (gs, gates) = read("gates");
    let (_, w1) = read("w1");
    let (w2s, w2) = read("w2");
    let (h, d, c) = (gs[0], gs[1], w2s[0]);
    // Offsets, present when the preprocessing centers the columns (the default) or adds a bias.
    let offsets = |name: &str| {
        if st.names().contains(&name) {
            read(name).1
        } else {
            vec![0.0; h]
        }
    };
    let (gb, b1) = (offsets("gate_bias"), offsets("b1"));
    let mut out = vec![0.0; x.nrows() * c];
    for r in 0..x.nrows() {
        for k in 0..h {
            let z: f64 = (0..d).map(|j| x[[r, j]] * gates[k * d + j]).sum::<f64>() + gb[k];
            if z > 0.0 {
                let a: f64 = (0..d).map(|j| x[[r, j]] * w1[k * d + j]).sum::<f64>() + b1[k];
                for l in 0..c {
                    out[r * c + l] += w2[l * h + k] * a;
                }
            }
        }
    }
    out
}

/// Prepares and solves `cfg` on the CPU in f64.
fn fit(
    cfg: &ProblemConfig,
    params: &cvxnn::solver::FistaParams,
) -> (train::Prepared, cvxnn::solver::Solution) {
    fit_in(cfg, params, Precision::F64)
}

/// Prepares and solves `cfg` on the CPU in `precision`, as `cvxnn train --device cpu` does.
fn fit_in(
    cfg: &ProblemConfig,
    params: &cvxnn::solver::FistaParams,
    precision: Precision,
) -> (train::Prepared, cvxnn::solver::Solution) {
    let prep = train::prepare(cfg).unwrap();
    let sol = train::solve_cpu(
        &prep,
        params,
        precision,
        CpuOptions::default(),
        None,
        &mut Silent,
    )
    .unwrap();
    (prep, sol)
}

#[test]
fn default_digits_run_is_accurate_and_the_saved_network_is_exact() {
    let cfg = ProblemConfig::default();
    let params = FistaSettings::default().check().unwrap();
    let (prep, sol) = fit(&cfg, &params);
    assert_eq!(sol.status, Status::Converged);
    let c = prep.task.outputs();
    let net = train::network(&prep, &cfg, &params, &sol);
    let scores = train::score(&net, &prep).unwrap();
    let acc = scores.test.unwrap();
    assert!(acc >= 0.95, "default test accuracy {acc}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    net.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for ds in [&prep.train, prep.test.as_ref().unwrap()] {
        let want = convex_predictions(&prep.pre.apply(&ds.x), &prep.kept_gates(), &sol.weights, c);
        let got = forward_from_file(&bytes, &ds.x);
        let e = rel_diff(&got, &want);
        assert!(
            e < 1e-5,
            "{}: file network vs convex model rel diff {e:e}",
            ds.name
        );
    }
    // Reloading through the library gives the same outputs.
    let back = Network::load(&path).unwrap();
    let e = rel_diff(
        back.forward(&prep.train.x).unwrap().as_slice().unwrap(),
        net.forward(&prep.train.x).unwrap().as_slice().unwrap(),
    );
    assert_eq!(e, 0.0);
    assert!(path.with_extension("json").exists());
}

#[test]
fn cli_train_then_predict_matches_in_memory_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let preds = dir.path().join("p.csv");
    let exe = env!("CARGO_BIN_EXE_cvxnn");
    let out = Command::new(exe)
        .args(["train", "--json", "--quiet", "--gates", "60", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "objective",
        "loss",
        "penalty",
        "grad_norm_sq",
        "iterations",
        "status",
        "train_accuracy",
        "test_accuracy",
        "active_neurons",
        "gates",
        "time_s",
    ] {
        assert!(summary.get(key).is_some(), "--json lacks {key}: {summary}");
    }
    let out = Command::new(exe)
        .args(["predict", "--json", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&preds)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same problem through the library.
    let cfg = ProblemConfig {
        gates: 60,
        ..Default::default()
    };
    // The CLI's default stop, the relative duality gap, and the precision that goes with it on
    // the CPU (f32 for gaps >= 1e-4).
    let params = FistaSettings {
        gap_tol: Some(cvxnn::solver::DEFAULT_GAP_TOL),
        ..Default::default()
    }
    .check()
    .unwrap();
    let precision = train::Device::Cpu(CpuOptions::default()).default_precision({
        let s = params.get();
        cvxnn::device::f32_meets_gap(cvxnn::device::gap_stop(
            true,
            s.regularizer,
            s.lambda,
            s.gap_tol,
        ))
    });
    assert_eq!(precision, Precision::F32);
    let (prep, sol) = fit_in(&cfg, &params, precision);
    assert_eq!(
        summary["iterations"].as_u64().unwrap() as usize,
        sol.iterations
    );
    let net = train::network(&prep, &cfg, &params, &sol);
    let (all, _) = data::load("digits", &LoadOptions::default()).unwrap();
    let want = prep.task.decide(&net.forward(&all.x).unwrap());
    let got: Vec<f64> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got, want);
    let test_acc = summary["test_accuracy"].as_f64().unwrap();
    assert!((test_acc - train::score(&net, &prep).unwrap().test.unwrap()).abs() < 1e-12);
}

#[test]
fn train_plot_traces_every_iteration_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_cvxnn");
    for name in ["trace.svg", "trace.png"] {
        let file = dir.path().join(name);
        let out = Command::new(exe)
            .args(["train", "--json", "--quiet", "--no-save", "--device", "cpu"])
            .args(["--gates", "10", "--max-iters", "30", "--plot"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let iters = summary["iterations"].as_u64().unwrap() as usize;
        if name.ends_with(".svg") {
            // Four panels, one trace each; iterations 0..=k are all drawn.
            let svg = std::fs::read_to_string(&file).unwrap();
            let traces: Vec<&str> = svg
                .split("<polyline points=\"")
                .skip(1)
                .filter(|p| p.contains("stroke=\"#1f77b4\""))
                .collect();
            assert_eq!(traces.len(), 4, "{svg}");
            for t in traces {
                let pts = t.split('"').next().unwrap().split(' ').count();
                assert_eq!(pts, iters + 1);
            }
        } else {
            let png = tiny_skia::Pixmap::load_png(&file).unwrap();
            assert_eq!((png.width(), png.height()), (1680, 1200));
        }
    }
}

/// Writes a CSV of generated data (label last) and trains on it through the pipeline; the
/// network must reproduce the convex model's predictions on raw inputs, offsets included.
fn train_csv(
    labels: impl Fn(&[f64], &mut cvxnn::rng::Rng) -> f64,
    scaling: cvxnn::data::preprocess::Scaling,
    bias: bool,
) -> (train::Prepared, Network) {
    let mut rng = cvxnn::rng::Rng::new(5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let mut text = String::from("a,b,c,d,label\n");
    for _ in 0..150 {
        let x: Vec<f64> = (0..4).map(|j| 3.0 + j as f64 * rng.normal()).collect();
        let y = labels(&x, &mut rng);
        text.push_str(&format!("{},{},{},{},{}\n", x[0], x[1], x[2], x[3], y));
    }
    std::fs::write(&path, text).unwrap();
    let cfg = ProblemConfig {
        data: path.display().to_string(),
        gates: 30,
        scaling,
        bias,
        ..Default::default()
    };
    let params = FistaSettings {
        lambda: 1e-4,
        ..Default::default()
    }
    .check()
    .unwrap();
    let (prep, sol) = fit(&cfg, &params);
    let c = prep.task.outputs();
    let net = train::network(&prep, &cfg, &params, &sol);
    let saved = dir.path().join("m.safetensors");
    net.save(&saved).unwrap();
    let net = Network::load(&saved).unwrap();
    for ds in [&prep.train, prep.test.as_ref().unwrap()] {
        let want = convex_predictions(&prep.pre.apply(&ds.x), &prep.kept_gates(), &sol.weights, c);
        let got = net.forward(&ds.x).unwrap();
        let e = rel_diff(got.as_slice().unwrap(), &want);
        assert!(e < 1e-5, "{scaling:?} bias {bias}: rel diff {e:e}");
    }
    (prep, net)
}

#[test]
fn binary_classification_with_standardize_and_bias_folds_offsets() {
    use cvxnn::data::preprocess::Scaling;
    let (prep, net) = train_csv(
        |x, _| if x[1] + x[2] > 7.0 { 7.0 } else { 3.0 },
        Scaling::Standardize,
        true,
    );
    assert_eq!(prep.task.outputs(), 1);
    assert_eq!(prep.x.ncols(), 5, "bias column appended");
    let pred = prep.task.decide(&net.forward(&prep.train.x).unwrap());
    assert!(pred.iter().all(|&v| v == 3.0 || v == 7.0));
    let acc = train::score(&net, &prep).unwrap().train.unwrap();
    assert!(acc > 0.9, "train accuracy {acc}");
}

#[test]
fn regression_targets_give_mse() {
    use cvxnn::data::preprocess::Scaling;
    let (prep, net) = train_csv(
        |x, r| (x[0] - 3.0).max(0.0) + 0.5 * x[3] + 0.01 * r.normal(),
        Scaling::Unitize,
        true,
    );
    assert!(!prep.task.is_classification());
    let mse = train::score(&net, &prep).unwrap().train.unwrap();
    let cvxnn::data::Labels::Column(y) = &prep.train.labels else {
        panic!()
    };
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64;
    assert!(mse < 0.1 * var, "train mse {mse} vs target variance {var}");
}

/// A ReLU file computed with PyTorch's nn.Sequential(Linear, ReLU, Linear) semantics from its
/// state-dict tensors alone: relu(x W0^T + b0) W2^T + b2.
fn relu_from_file(bytes: &[u8], x: &Array2<f64>) -> Vec<f64> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    let read = |name: &str| read_f64(&st, name);
    let (s0, w0) = read("0.weight");
    let (_, b0) = read("0.bias");
    let (s2, w2) = read("2.weight");
    let (_, b2) = read("2.bias");
    let (h, d, c) = (s0[0], s0[1], s2[0]);
    let x0 = Array2::from_shape_vec((h, d), w0).unwrap();
    let hidden = (x.dot(&x0.t()) + &ndarray::Array1::from(b0)).mapv(|v| v.max(0.0));
    let out =
        hidden.dot(&Array2::from_shape_vec((c, h), w2).unwrap().t()) + &ndarray::Array1::from(b2);
    out.iter().copied().collect()
}

#[test]
fn exact_decomposition_saves_a_relu_network_with_the_gated_predictions() {
    let cfg = ProblemConfig {
        gates: 5,
        ..ProblemConfig::default()
    };
    let params = FistaSettings::default().check().unwrap();
    let (prep, sol) = fit(&cfg, &params);
    let gated = train::network(&prep, &cfg, &params, &sol);
    let dev = train::Device::Cpu(CpuOptions::default());
    let dec = train::decompose(
        &prep,
        &sol.weights,
        cvxnn::decompose::Method::Exact,
        0.0,
        params.get(),
        &dev,
        Precision::F64,
    )
    .unwrap();
    assert!(
        dec.constraint_violation <= 1e-7,
        "{}",
        dec.constraint_violation
    );
    let mut meta = train::meta(&prep, &cfg, &params, &sol);
    meta.model = "relu".into();
    let net = Network::from_relu(&dec.weights, prep.task.outputs(), prep.x.ncols(), meta);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relu.safetensors");
    net.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // On the training rows the ReLU network makes the gated network's predictions.
    let from_file = relu_from_file(&bytes, &prep.train.x);
    let want = gated.forward(&prep.train.x).unwrap();
    let diff = rel_diff(&from_file, want.as_slice().unwrap());
    assert!(
        diff < 1e-6,
        "ReLU file vs gated network on training rows: {diff:e}"
    );
    // Anywhere, the file reproduces the loaded model.
    let test = &prep.test.as_ref().unwrap().x;
    let loaded = Network::load(&path).unwrap();
    assert!(loaded.is_relu());
    let got = loaded.forward(test).unwrap();
    assert!(rel_diff(&relu_from_file(&bytes, test), got.as_slice().unwrap()) < 1e-12);
}
