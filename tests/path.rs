//! Regularization paths: warm starts reach the cold-start objectives with fewer iterations,
//! the objective falls as lam falls, and `cvxnn path --out-dir` writes path.csv and one model
//! per lam.

use cvxnn::path;
use cvxnn::solver::FistaSettings;
use cvxnn::train::{self, Device, Precision, ProblemConfig};
use std::process::Command;

#[test]
fn warm_starts_match_cold_objectives_with_fewer_iterations() {
    let cfg = ProblemConfig {
        gates: 40,
        ..ProblemConfig::default()
    };
    let prep = train::prepare(&cfg).unwrap();
    // Under the 1/(2 n c) scaling a squared subgradient norm of 1e-10 still leaves objective
    // gaps of up to ~1e-3 relative between two starts (measured: 9e-4 at lam 3e-5).
    let base = FistaSettings {
        tol: 1e-10,
        ..FistaSettings::default()
    };
    let lambdas = path::geometric(1e-3, 1e-5, 5).unwrap();
    let dev = Device::Cpu(Default::default());
    let run = |warm| {
        path::run(
            &prep,
            &cfg,
            &base,
            &lambdas,
            warm,
            &dev,
            Precision::F64,
            &|| false,
            |_, _, _| Ok(()),
        )
        .unwrap()
    };
    let (warm, cold) = (run(true), run(false));
    for (w, c) in warm.iter().zip(&cold) {
        assert_eq!(w.status, "Converged");
        assert!(
            (w.objective - c.objective).abs() <= 2e-3 * c.objective,
            "lam {}: warm {} vs cold {}",
            w.lambda,
            w.objective,
            c.objective
        );
    }
    // F_lam(U*) is nondecreasing in lam: the path's objectives fall as lam falls.
    for pair in warm.windows(2) {
        assert!(pair[1].objective <= pair[0].objective * (1.0 + 1e-6));
    }
    let its = |v: &[path::Point]| v.iter().skip(1).map(|p| p.iterations).sum::<usize>();
    assert!(
        its(&warm) < its(&cold),
        "warm {} vs cold {} iterations",
        its(&warm),
        its(&cold)
    );
}

#[test]
fn cli_path_writes_csv_and_models() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let run = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args([
            "path",
            "--device",
            "cpu",
            "--gates",
            "20",
            "--lambdas",
            "1e-5,1e-3,1e-4",
        ])
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("path.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], path::Point::CSV_HEADER);
    assert_eq!(lines.len(), 4);
    let svg = std::fs::read_to_string(out.join("path.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("stroke-width=\"2\"").count() == 4,
        "{svg}"
    );
    let png = tiny_skia::Pixmap::load_png(out.join("path.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1680, 600));
    let lams: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lams, vec![1e-3, 1e-4, 1e-5]);
    for l in &lams {
        let model = out.join(format!("model-lam-{l:.4e}.safetensors"));
        let net = cvxnn::model::Network::load(&model).unwrap();
        assert!((net.meta.lambda - l).abs() < 1e-18);
    }
    // Bad input: a negative lam is refused before any file is written.
    let bad = dir.path().join("q");
    let run = Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(["path", "--device", "cpu", "--lambdas", "1e-3,-1"])
        .arg("--out-dir")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--lambdas"));
    assert!(!bad.exists());
}

#[test]
fn cli_lambda_max_auto_starts_where_the_zero_network_stops_being_optimal() {
    let cvxnn = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cvxnn"))
            .args(["path", "--device", "cpu", "--gates", "20", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let run = cvxnn(&[
        "--lambda-max",
        "auto",
        "--lambda-min-ratio",
        "1e-2",
        "--steps",
        "3",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let points: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(points.len(), 3);
    let lam = |k: usize| points[k]["lambda"].as_f64().unwrap();
    assert!((lam(2) / lam(0) - 1e-2).abs() < 1e-12);
    // At lambda_max the zero network is optimal; one step below it neurons come in.
    assert_eq!(points[0]["active_neurons"], 0);
    assert!(points[1]["active_neurons"].as_u64().unwrap() > 0);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let printed: f64 = stderr
        .split("lambda_max = ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((printed / lam(0) - 1.0).abs() < 1e-6, "{stderr}");
    // Refusals: a penalty the rule is not derived for, and no lower end.
    let run = cvxnn(&[
        "--lambda-max",
        "auto",
        "--lambda-min-ratio",
        "1e-2",
        "--steps",
        "3",
        "--regularizer",
        "l2",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--lambda-max"));
    let run = cvxnn(&["--lambda-max", "auto", "--steps", "3"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--lambda-min"));
}
