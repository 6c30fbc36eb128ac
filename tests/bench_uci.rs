//! `cvxnn bench uci` and `cvxnn bench profile` end to end on small data sets in the collection's
//! layout that the test writes: the CSV, resuming, the figures, the accuracy table, and the
//! objective column against the solver's own.

use cvxnn::bench_uci::{self, Grid, Method, csv};
use cvxnn::rng::Rng;
use cvxnn::train::{Device, Precision};
use std::path::Path;
use std::process::Command;

/// A planted two-layer ReLU classification problem written as `root/name/` (with a second
/// file for the test rows when `separate_test`).
fn write_set(
    root: &Path,
    name: &str,
    n: usize,
    d: usize,
    classes: usize,
    seed: u64,
    separate_test: bool,
) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(seed);
    let w: Vec<f64> = (0..d * classes * 3).map(|_| rng.normal()).collect();
    let row = |rng: &mut Rng, k: usize| {
        let x: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let score = |c: usize| -> f64 {
            (0..3)
                .map(|h| {
                    let off = (c * 3 + h) * d;
                    x.iter()
                        .zip(&w[off..off + d])
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        .max(0.0)
                })
                .sum()
        };
        let y = (0..classes)
            .max_by(|&a, &b| score(a).total_cmp(&score(b)))
            .unwrap();
        let cells: Vec<String> = x.iter().map(|v| format!("{v:.5}")).collect();
        format!("{}\t{}\t{y}\n", k + 1, cells.join("\t"))
    };
    let header = format!(
        "\t{}\tclase\n",
        (1..=d)
            .map(|j| format!("f{j}"))
            .collect::<Vec<_>>()
            .join("\t")
    );
    let mut text = header.clone();
    for k in 0..n {
        text.push_str(&row(&mut rng, k));
    }
    std::fs::write(dir.join(format!("{name}_R.dat")), text).unwrap();
    let mut desc =
        format!("n_entradas= {d}\nn_clases= {classes}\nfich1= {name}_R.dat\nn_patrons1= {n}\n");
    if separate_test {
        let mut t = header;
        for k in 0..n / 2 {
            t.push_str(&row(&mut rng, k));
        }
        std::fs::write(dir.join(format!("{name}_test_R.dat")), t).unwrap();
        desc.push_str(&format!(
            "fich2= {name}_test_R.dat\nn_patrons2= {}\n",
            n / 2
        ));
    }
    std::fs::write(dir.join(format!("{name}.txt")), desc).unwrap();
    let half: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    std::fs::write(
        dir.join("conxuntos.dat"),
        format!("{}\n{}\n", half[..n / 2].join(" "), half[n / 2..].join(" ")),
    )
    .unwrap();
}

fn cvxnn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cvxnn"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_grid_writes_resumes_and_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("uci");
    write_set(&root, "alpha", 80, 4, 2, 1, false);
    write_set(&root, "beta", 90, 5, 3, 2, false);
    write_set(&root, "gamma", 60, 3, 2, 3, true);
    let out = tmp.path().join("out");
    let problems = tmp.path().join("problems");
    let args = [
        "bench",
        "uci",
        "--root",
        root.to_str().unwrap(),
        "--lambdas",
        "1e-3,1e-2",
        "--gates",
        "16",
        "--methods",
        "gated,relu-al",
        "--out-dir",
        out.to_str().unwrap(),
        "--problems-out",
        problems.to_str().unwrap(),
    ];
    let o = cvxnn(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let results = out.join("results.csv");
    let rows = csv::read(&results).unwrap();
    assert_eq!(rows.len(), 3 * 2 * 2, "{err}");
    for r in &rows {
        assert!(r.usable(), "{r:?}");
        assert!(r.objective > 0.0 && r.test_accuracy.is_some() && r.val_accuracy.is_some());
        if r.method == "gated" {
            assert_eq!(r.status, "Converged");
            assert!(r.rel_gap.unwrap() <= 1e-6, "{r:?}");
            // The trace falls to the row's own end.
            let end = r.trace.last().expect("a gated row has a trace").1;
            assert!(
                r.trace.len() >= 2 && (end - r.objective).abs() <= 1e-8 * r.objective,
                "{r:?}"
            );
            assert!(
                r.trace
                    .windows(2)
                    .all(|w| w[1].1 <= w[0].1 && w[1].0 >= w[0].0),
                "{r:?}"
            );
        } else {
            assert!(r.violation.is_some() && r.model == "relu");
        }
    }
    // 80 rows, half for training, every 4th of those for validation: 30 fit rows.
    assert!(rows.iter().any(|r| r.dataset == "alpha" && r.n == 30));
    // gamma trains on all 60 rows of its first file (its test rows are the second file).
    assert!(rows.iter().any(|r| r.dataset == "gamma" && r.n == 45));
    for f in [
        "x.npy",
        "y.npy",
        "g.npy",
        "x_val.npy",
        "x_test.npy",
        "problem.json",
    ] {
        assert!(problems.join("beta").join(f).is_file(), "{f}");
    }

    // A rerun finds everything done; a run that lost two rows redoes exactly those.
    let before = std::fs::read_to_string(&results).unwrap();
    let o = cvxnn(&args);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&results).unwrap(), before);
    assert!(String::from_utf8_lossy(&o.stderr).contains("12 already in the file"));
    let lines: Vec<&str> = before.lines().collect();
    // The run was killed inside a write: the second to last row is cut, the last one missing.
    let cut = &lines[lines.len() - 2][..25];
    std::fs::write(
        &results,
        format!("{}\n{cut}", lines[..lines.len() - 2].join("\n")),
    )
    .unwrap();
    let o = cvxnn(&args);
    assert!(o.status.success());
    let again = csv::read(&results).unwrap();
    assert_eq!(again.len(), 12);
    let keys = |rs: &[csv::Row]| {
        let mut k: Vec<_> = rs
            .iter()
            .map(|r| csv::key(&r.dataset, r.lambda, &r.method))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&again), keys(&rows));

    // The figures parse: a PNG of three panels and a closed SVG with the 50 % line.
    let png = tiny_skia::Pixmap::load_png(out.join("profile.png")).unwrap();
    assert_eq!((png.width(), png.height()), (2 * 3 * 420, 2 * 300));
    let svg = std::fs::read_to_string(out.join("profile.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("tolerance 0.1") && svg.contains("relu-al (relu)"));
    let md = std::fs::read_to_string(out.join("accuracy.md")).unwrap();
    for name in ["alpha", "beta", "gamma", "median, binary sets** (2)"] {
        assert!(md.contains(name), "{md}");
    }

    // `bench profile` draws the same from the CSV (and a peer's CSV beside it).
    let peer = tmp.path().join("peer.csv");
    let mut p = format!("{}\n", csv::HEADER);
    for r in rows.iter().filter(|r| r.method == "gated") {
        let mut q = r.clone();
        q.method = "adam".into();
        q.objective *= 1.5;
        q.time_s = 0.5;
        q.trace.clear();
        p.push_str(&format!("{}\n", q.to_csv()));
    }
    std::fs::write(&peer, p).unwrap();
    let o2 = tmp.path().join("o2");
    let o = cvxnn(&[
        "bench",
        "profile",
        results.to_str().unwrap(),
        peer.to_str().unwrap(),
        "--out-dir",
        o2.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // adam is 50 % above the best everywhere: it solves nothing at tolerance 0.1.
    assert!(text.contains("| adam (gated) | 6 | 0 % | 0 % |"), "{text}");
}

#[test]
fn bad_grids_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("uci");
    write_set(&root, "alpha", 40, 3, 2, 1, false);
    let out = tmp.path().join("out");
    let base = [
        "bench",
        "uci",
        "--root",
        root.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ];
    for (extra, needle) in [
        (vec!["--datasets", "alpha,nope"], "nope"),
        (vec!["--methods", "gated,sgd"], "--methods"),
        (vec!["--lambdas", "1e-3,-1"], "--lambdas"),
        (vec!["--max-rows", "10"], "leaves none"),
        (vec!["--tolerances", "-1"], "--tolerances"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let o = cvxnn(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"));
        assert!(!out.join("results.csv").exists(), "{extra:?}");
    }
    // A results file in another format is refused, not appended to.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("results.csv"), "a,b\n").unwrap();
    let o = cvxnn(&base);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap(),
        "a,b\n"
    );
}

/// The objective column of a gated row is computed from the network on the fit rows; it must
/// equal the solver's own objective for the same solve.
#[test]
fn the_objective_column_is_the_solvers_objective() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), "alpha", 120, 5, 3, 7, false);
    let device = Device::Cpu(Default::default());
    let l = bench_uci::load(tmp.path(), "alpha", 24, 0, &device).unwrap();
    let grid = Grid {
        root: tmp.path().into(),
        datasets: vec!["alpha".into()],
        lambdas: vec![1e-3],
        gates: 24,
        methods: vec![Method::Gated],
        time_limit: None,
        max_iters: 10_000,
        gap_tol: 1e-6,
        jobs: 1,
        threads: 0,
        precision: Precision::F64,
        seed: 0,
        problems_dir: None,
    };
    let row = bench_uci::solve(&l, &grid, 1e-3, Method::Gated, &device, &|| false).unwrap();
    let params = cvxnn::solver::FistaSettings {
        lambda: 1e-3,
        gap_tol: Some(1e-6),
        working_set: cvxnn::solver::working_set::WorkingSet::Auto,
        ..Default::default()
    }
    .check()
    .unwrap();
    let sol = cvxnn::train::solve_resumable(
        &l.prep,
        &params,
        &device,
        Precision::F64,
        None,
        None,
        &mut cvxnn::solver::observer::Silent,
    )
    .unwrap();
    let rel = (row.objective - sol.objective).abs() / sol.objective;
    assert!(
        rel < 1e-10,
        "row {} solver {} ({rel:e})",
        row.objective,
        sol.objective
    );
    assert_eq!(row.iterations, Some(sol.iterations));
}
