//! `cvxnn bench`.

use clap::Args;
use cvxnn::Error;
use cvxnn::backend::Dims;
use cvxnn::backend::wgpu::{AdapterChoice, GpuContext, GpuOptions};
use cvxnn::bench::{HEADER, format_row, run_cpu, run_gpu};
use cvxnn::train::{DeviceChoice, Precision};

/// Problem-size presets of the kernel benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// n 60,000, d 784, p 5,000, c 10 (full MNIST with 5,000 gates).
    Mnist,
    /// n 50,000, d 3,072, p 4,000, c 10 (CIFAR-10 with 4,000 gates).
    Cifar,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<super::bench_uci::BenchCommand>,
    /// A preset size that overrides --n, --d, --p and --c.
    #[arg(long, value_enum)]
    shape: Option<Shape>,
    #[command(flatten)]
    kernels: super::KernelArgs,
    /// gpu-style kernels' workgroup tile: 64 or 128 (0: chosen from the adapter and the size).
    #[arg(long, default_value_t = 0)]
    tile: usize,
    /// Rows.
    #[arg(long, allow_hyphen_values = true, default_value_t = 4096)]
    n: usize,
    /// Features.
    #[arg(long, allow_hyphen_values = true, default_value_t = 784)]
    d: usize,
    /// Gates.
    #[arg(long, allow_hyphen_values = true, default_value_t = 200)]
    p: usize,
    /// Outputs.
    #[arg(long, allow_hyphen_values = true, default_value_t = 10)]
    c: usize,
    /// cpu, or gpu (any adapter, software ones included; auto means gpu when a hardware one exists).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// GPU adapter name substring.
    #[arg(long)]
    adapter: Option<String>,
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// CPU worker threads (0: all cores).
    #[arg(long, allow_hyphen_values = true, default_value_t = 0)]
    threads: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, allow_hyphen_values = true, default_value_t = 5)]
    reps: usize,
    /// gated: the kernel benchmark; relu: the augmented Lagrangian against Clarabel on small
    /// generated problems, then gated / gated + decomposition / AL on the bundled digits with
    /// --p gates (the sizes flags other than --p do not apply).
    #[arg(long, value_enum, default_value = "gated")]
    model: cvxnn::train::ModelKind,
    /// --model relu: regularization strength.
    #[arg(long, allow_hyphen_values = true, default_value_t = 1e-3)]
    lambda: f64,
    /// --model relu: tolerance of the AL against Clarabel (squared violation and squared
    /// subgradient norm).
    #[arg(long, allow_hyphen_values = true, default_value_t = 1e-8)]
    tol: f64,
}

fn run_relu(a: &BenchArgs) -> cvxnn::Result<i32> {
    use cvxnn::bench_relu::{al_vs_clarabel, digits_three_ways};
    if !(a.lambda >= 0.0 && a.tol > 0.0) {
        return Err(Error::param(
            "--lambda/--tol",
            "need lambda >= 0 and tol > 0",
        ));
    }
    let quick = std::env::var("CVXNN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let sizes: &[(usize, usize, usize, usize)] = if quick {
        &[(40, 4, 6, 1)]
    } else {
        &[
            (40, 4, 6, 1),
            (100, 8, 10, 1),
            (200, 10, 20, 2),
            (400, 10, 20, 2),
            (800, 10, 20, 2),
        ]
    };
    let dims: Vec<Dims> = sizes
        .iter()
        .map(|&(n, d, p, c)| Dims { n, d, p, c })
        .collect();
    outln!(
        "augmented Lagrangian (cpu-f64, tol {:.0e} on violation^2 and subgradient^2) vs Clarabel, lambda {:.0e}",
        a.tol,
        a.lambda
    );
    outln!(
        "{:>5} {:>4} {:>4} {:>3} {:>11} {:>11} {:>9} {:>9} {:>6} {:>10} {:>10}  status",
        "n",
        "d",
        "p",
        "c",
        "constraints",
        "clarabel_s",
        "al_s",
        "al_its",
        "outer",
        "rel_gap",
        "violation"
    );
    for r in al_vs_clarabel(&dims, a.lambda, a.tol)? {
        outln!(
            "{:>5} {:>4} {:>4} {:>3} {:>11} {:>11.3} {:>9.3} {:>9} {:>6} {:>10.2e} {:>10.2e}  {}",
            r.dims.n,
            r.dims.d,
            r.dims.p,
            r.dims.c,
            r.constraints,
            r.clarabel_s,
            r.al_s,
            r.al_iterations,
            r.al_outer,
            r.rel_gap,
            r.al_violation,
            r.al_status
        );
    }
    let device = cvxnn::train::Device::resolve(
        a.device,
        a.adapter.as_deref(),
        cvxnn::backend::cpu::CpuOptions {
            threads: a.threads,
            block_rows: 0,
            block_cols: 0,
        },
    )?;
    let gates = if quick { 4 } else { a.p };
    outln!(
        "\ndigits, {gates} gates, lambda 1e-5, tol 1e-6, on {}",
        device.describe(a.precision)
    );
    outln!(
        "{:<40} {:>9} {:>7} {:>7} {:>7} {:>8} {:>10}",
        "method",
        "time_s",
        "its",
        "train",
        "test",
        "neurons",
        "violation"
    );
    let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
    for r in digits_three_ways(gates, 1e-5, &device, a.precision)? {
        outln!(
            "{:<40} {:>9.2} {:>7} {:>7} {:>7} {:>8} {:>10}",
            r.method,
            r.time_s,
            r.iterations,
            f(r.train),
            f(r.test),
            r.neurons,
            r.violation.map_or("-".into(), |v| format!("{v:.2e}"))
        );
    }
    Ok(0)
}

pub fn run(mut a: BenchArgs) -> cvxnn::Result<i32> {
    if let Some(cmd) = a.command.take() {
        // The grid saves each result as it finishes: Ctrl-C stops it after the solves running.
        return super::bench_uci::run(cmd);
    }
    // Nothing to save: Ctrl-C ends a benchmark at once.
    super::signals::exit_on_first();
    if a.adapter.is_some() && a.device == DeviceChoice::Cpu {
        return Err(Error::param(
            "--adapter",
            "names a GPU adapter; it has no meaning with --device cpu",
        ));
    }
    if a.model == cvxnn::train::ModelKind::Relu {
        return run_relu(&a);
    }
    if [a.n, a.d, a.p, a.c, a.reps].contains(&0) {
        return Err(Error::param(
            "--n/--d/--p/--c/--reps",
            "all sizes must be >= 1",
        ));
    }
    a.kernels.check(a.device)?;
    let dims = match a.shape {
        Some(Shape::Mnist) => Dims {
            n: 60_000,
            d: 784,
            p: 5_000,
            c: 10,
        },
        Some(Shape::Cifar) => Dims {
            n: 50_000,
            d: 3_072,
            p: 4_000,
            c: 10,
        },
        None => Dims {
            n: a.n,
            d: a.d,
            p: a.p,
            c: a.c,
        },
    };
    let a = BenchArgs {
        n: dims.n,
        d: dims.d,
        p: dims.p,
        c: dims.c,
        ..a
    };
    // X, two weight blocks, two prediction blocks (f64 at most) and the masks, checked before
    // anything is allocated.
    let need = (|| {
        let words =
            a.n.checked_mul(a.d)?
                .checked_add(a.c.checked_mul(a.p)?.checked_mul(a.d)?.checked_mul(2)?)?
                .checked_add(a.n.checked_mul(a.c)?.checked_mul(2)?)?;
        (words as u64)
            .checked_mul(8)?
            .checked_add((a.n as u64).checked_mul(a.p.div_ceil(8) as u64)?)
    })();
    match (need, cvxnn::train::host_budget()) {
        (None, _) => {
            return Err(Error::param(
                "--n/--d/--p/--c",
                "sizes overflow a 64-bit byte count",
            ));
        }
        (Some(b), Some(avail)) if b > avail => {
            return Err(Error::param(
                "--n/--d/--p/--c",
                format!(
                    "the benchmark needs {:.1} MB, {:.1} MB available",
                    b as f64 / 1e6,
                    avail as f64 / 1e6
                ),
            ));
        }
        _ => {}
    }
    let sizes = format!(
        "n {} d {} p {} c {}; {:.2} GFLOP per product (2 n d p c); median of {}",
        a.n,
        a.d,
        a.p,
        a.c,
        dims.product_flops() / 1e9,
        a.reps
    );
    let gpu = match a.device {
        DeviceChoice::Cpu => None,
        DeviceChoice::Gpu => Some(GpuContext::open(&AdapterChoice {
            name: a.adapter.clone(),
            allow_software: true,
        })?),
        DeviceChoice::Auto => GpuContext::open(&AdapterChoice {
            name: a.adapter.clone(),
            allow_software: a.adapter.is_some(),
        })
        .ok(),
    };
    let rows = match gpu {
        Some(ctx) => {
            for line in ctx.report() {
                outln!("{line}");
            }
            let opts = GpuOptions {
                kernels: a.kernels.kernels,
                tile: a.tile,
                ..Default::default()
            };
            let family = if a.kernels.kernels.tiled_on(ctx.info.device_type) {
                let s = match a.precision {
                    Precision::F32 => 4,
                    Precision::F64 => 8,
                };
                let t = cvxnn::backend::wgpu::tile_for(&ctx, a.tile, dims.n, s)?;
                format!("gpu-style ({t} x {t} tiles)")
            } else {
                "cpu-style".to_string()
            };
            outln!(
                "device: gpu-{} on {}, {family} kernels; {sizes}",
                a.precision.name(),
                ctx.describe()
            );
            match a.precision {
                Precision::F32 => run_gpu::<f32>(ctx, dims, opts, a.reps, 1)?,
                Precision::F64 => run_gpu::<f64>(ctx, dims, opts, a.reps, 1)?,
            }
        }
        None => {
            let threads = match a.threads {
                0 => std::thread::available_parallelism().map_or(1, |c| c.get()),
                t => t,
            };
            outln!(
                "device: cpu-{}, {threads} threads; {sizes}",
                a.precision.name()
            );
            match a.precision {
                Precision::F32 => run_cpu::<f32>(dims, threads, a.reps, 1)?,
                Precision::F64 => run_cpu::<f64>(dims, threads, a.reps, 1)?,
            }
        }
    };
    outln!("{HEADER}");
    for r in rows {
        outln!("{}", format_row(&r));
    }
    Ok(0)
}
