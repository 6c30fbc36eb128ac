//! `cvxnn bench`.

use clap::Args;
use cvxnn::Error;
use cvxnn::backend::Dims;
use cvxnn::backend::wgpu::{AdapterChoice, GpuContext};
use cvxnn::bench::{HEADER, format_row, run_cpu, run_gpu};
use cvxnn::train::{DeviceChoice, Precision};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Rows.
    #[arg(long, default_value_t = 4096)]
    n: usize,
    /// Features.
    #[arg(long, default_value_t = 784)]
    d: usize,
    /// Gates.
    #[arg(long, default_value_t = 200)]
    p: usize,
    /// Outputs.
    #[arg(long, default_value_t = 10)]
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
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

pub fn run(a: BenchArgs) -> cvxnn::Result<i32> {
    if [a.n, a.d, a.p, a.c, a.reps].contains(&0) {
        return Err(Error::param(
            "--n/--d/--p/--c/--reps",
            "all sizes must be >= 1",
        ));
    }
    let dims = Dims {
        n: a.n,
        d: a.d,
        p: a.p,
        c: a.c,
    };
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
            println!(
                "device: gpu-{} on {}; {sizes}",
                a.precision.name(),
                ctx.describe()
            );
            match a.precision {
                Precision::F32 => run_gpu::<f32>(ctx, dims, a.reps, 1)?,
                Precision::F64 => run_gpu::<f64>(ctx, dims, a.reps, 1)?,
            }
        }
        None => {
            let threads = match a.threads {
                0 => std::thread::available_parallelism().map_or(1, |c| c.get()),
                t => t,
            };
            println!(
                "device: cpu-{}, {threads} threads; {sizes}",
                a.precision.name()
            );
            match a.precision {
                Precision::F32 => run_cpu::<f32>(dims, threads, a.reps, 1)?,
                Precision::F64 => run_cpu::<f64>(dims, threads, a.reps, 1)?,
            }
        }
    };
    println!("{HEADER}");
    for r in rows {
        println!("{}", format_row(&r));
    }
    Ok(0)
}
