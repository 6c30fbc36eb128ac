//! R-FISTA on the wgpu backend against the CPU f64 path; device patterns against host ones.
//! Runs on whatever adapter exists (lavapipe in CI, with REQUIRE_GPU=1 so it cannot skip).

mod common;

use common::*;
use cvxnn::backend::cpu::CpuOptions;
use cvxnn::backend::wgpu::{GpuOptions, device_patterns};
use cvxnn::gates;
use cvxnn::rng::Rng;
use cvxnn::solver::observer::Silent;
use cvxnn::solver::{FistaSettings, Status, solve};
use cvxnn::train::{self, Precision, ProblemConfig};

#[test]
fn gpu_fista_reaches_the_cpu_objective() {
    for (seed, (n, d, p, c)) in [(31u64, (150, 7, 20, 3)), (32, (97, 5, 40, 1))] {
        let prob = problem(n, d, p, c, seed);
        let params = FistaSettings {
            lambda: 1e-3,
            tol: 1e-8,
            ..Default::default()
        }
        .check()
        .unwrap();
        let cpu = solve(
            &cpu64(&prob, CpuOptions::default()),
            &params,
            None,
            &mut Silent,
        )
        .unwrap();
        assert_eq!(cpu.status, Status::Converged);
        let Some(g32) = gpu32(&prob, true) else {
            return;
        };
        let s32 = solve(&g32, &params, None, &mut Silent).unwrap();
        let rel = (s32.objective - cpu.objective).abs() / cpu.objective;
        assert!(
            rel < 1e-4,
            "seed {seed}: gpu-f32 {} vs cpu {} ({:?})",
            s32.objective,
            cpu.objective,
            s32.status
        );
        if let Some(g64) = gpu64(&prob, true) {
            let s64 = solve(&g64, &params, None, &mut Silent).unwrap();
            let rel = (s64.objective - cpu.objective).abs() / cpu.objective;
            assert!(
                rel < 1e-10,
                "seed {seed}: gpu-f64 {} vs cpu {} ({} and {} iterations)",
                s64.objective,
                cpu.objective,
                s64.iterations,
                cpu.iterations
            );
            assert_eq!(
                s64.iterations, cpu.iterations,
                "f64 on the GPU follows the CPU trajectory"
            );
            assert!(rel_diff(&s64.weights, &cpu.weights) < 1e-8);
        }
    }
}

#[test]
fn device_patterns_match_host_patterns() {
    let Some(ctx) = gpu_ctx() else { return };
    // 3,072 features (CIFAR width): the 32 bits of a word must be split over dispatches.
    for (n, d, p) in [(301, 13, 77), (200, 3072, 40)] {
        check_patterns(&ctx, n, d, p);
    }
}

fn check_patterns(
    ctx: &std::sync::Arc<cvxnn::backend::wgpu::GpuContext>,
    n: usize,
    d: usize,
    p: usize,
) {
    let mut rng = Rng::new(3);
    let x = randn(n, d, &mut rng);
    let g = gates::gaussian(d, p, 4);
    let host = gates::patterns(&x, &g);
    let z = x.dot(&g);
    for (name, dev) in [
        ("f32", device_patterns::<f32>(ctx, &x, &g).unwrap()),
        (
            "f64",
            if ctx.has_f64() {
                device_patterns::<f64>(ctx, &x, &g).unwrap()
            } else {
                host.clone()
            },
        ),
    ] {
        let mut differ = 0;
        for r in 0..n {
            for i in 0..p {
                if dev.get(r, i) != host.get(r, i) {
                    // Only a rounding-level margin may flip in f32.
                    assert!(
                        name == "f32" && z[[r, i]].abs() < 1e-5,
                        "{name}: row {r} gate {i}, x.g = {}",
                        z[[r, i]]
                    );
                    differ += 1;
                }
            }
        }
        assert!(differ <= 2, "{name} {:?}: {differ} bits differ", (n, d, p));
    }
}

#[test]
fn digits_on_the_gpu_matches_the_cpu() {
    let Some(ctx) = gpu_ctx() else { return };
    // scnn's scaling and scnn's stopping rule (the library's default): on these columns both
    // solves stop close enough together for the objectives to agree to 1e-4.
    let cfg = ProblemConfig {
        gates: 40,
        scaling: cvxnn::data::preprocess::Scaling::Unitize,
        ..Default::default()
    };
    let params = FistaSettings::default().check().unwrap();
    let prep = train::prepare(&cfg).unwrap();
    let rep = cvxnn::verify::verify(
        &prep,
        &cfg,
        &params,
        ctx,
        GpuOptions::default(),
        Precision::F32,
        &|| false,
    )
    .unwrap();
    for c in &rep.checks {
        assert!(c.passed(), "{} = {:e} over {:?}", c.what, c.value, c.tol);
    }
    assert!(
        rep.checks
            .iter()
            .any(|c| c.what.starts_with("test accuracy") && c.value == 0.0),
        "same test accuracy"
    );
}
