//! Memory plans: what a run is about to allocate, checked against the memory available where
//! it goes before anything of that size is allocated.

use crate::error::{Error, Result};
use crate::train::{Device, Precision, Prepared};

/// What a solve is about to allocate (the data are loaded and the patterns computed by then):
/// the backend's copies of X, Y and the masks, the solver's vectors and, for the ReLU program,
/// the multipliers; checked against the memory available where they go.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    pub items: Vec<(String, u64)>,
    pub available: Option<u64>,
    pub place: String,
    /// What to change when it does not fit.
    pub hint: &'static str,
}

impl MemoryPlan {
    pub fn total(&self) -> u64 {
        self.items.iter().map(|(_, b)| b).sum()
    }

    pub fn describe(&self) -> String {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
        let items: Vec<String> = self
            .items
            .iter()
            .map(|(k, b)| format!("{k} {}", mb(*b)))
            .collect();
        format!(
            "memory plan ({}): {}; total {}{}",
            self.place,
            items.join(", "),
            mb(self.total()),
            self.available
                .map(|a| format!(" of {} available", mb(a)))
                .unwrap_or_default()
        )
    }

    /// A clear error, with the numbers, when the plan does not fit.
    pub fn check(&self) -> Result<()> {
        match self.available {
            Some(a) if self.total() > a => Err(Error::param(
                "gates",
                format!("the solve does not fit: {}; {}", self.describe(), self.hint),
            )),
            _ => Ok(()),
        }
    }
}

fn word(precision: Precision) -> u64 {
    match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    }
}

/// Host memory the run may still use: `CVXNN_MEMORY_LIMIT_MB` when set (a cap the user
/// chooses), else MemAvailable. GPUs do not report theirs through wgpu: no check there (an
/// allocation the device refuses is still a clear error).
pub fn host_budget() -> Option<u64> {
    match std::env::var("CVXNN_MEMORY_LIMIT_MB") {
        Ok(v) => v.trim().parse::<u64>().ok().map(|mb| mb * 1_000_000),
        Err(_) => available_ram(),
    }
}

/// Checks, before anything is drawn, that the gate matrix (d' x p, f64) and its activation
/// patterns (a bit and a sort key per row and gate) fit in the host budget.
pub(crate) fn setup_memory_check(n: usize, d: usize, p: usize) -> Result<()> {
    let per_gate = (d as u64 * 8).saturating_add((n as u64).div_ceil(8) * 2 + 16);
    let need = (p as u64).checked_mul(per_gate);
    let too_big = |what: String| {
        Err(Error::param(
            "gates",
            format!("{p} gates: the gate matrix and patterns need {what}; use fewer gates"),
        ))
    };
    match (need, host_budget()) {
        (None, _) => too_big("more bytes than a 64-bit count holds".into()),
        (Some(b), Some(avail)) if b > avail => too_big(format!(
            "{:.1} MB of {:.1} MB available",
            b as f64 / 1e6,
            avail as f64 / 1e6
        )),
        _ => Ok(()),
    }
}

/// The memory plan of a gated R-FISTA solve of `prep` on `device`.
pub fn gated_memory(prep: &Prepared, device: &Device, precision: Precision) -> MemoryPlan {
    let (n, d) = prep.x.dim();
    let (c, p) = (prep.task.outputs(), prep.patterns.kept.len());
    let w = word(precision);
    let items = vec![
        ("data (X, Y)".to_string(), (n * (d + c)) as u64 * w),
        ("masks".to_string(), (n * p.div_ceil(64) * 8) as u64),
        (
            "weights and solver state (8 weight + 4 prediction vectors)".to_string(),
            (8 * c * p * d + 4 * n * c) as u64 * w,
        ),
    ];
    let (available, place) = match device {
        Device::Cpu(_) => (host_budget(), "host".to_string()),
        Device::Gpu(ctx, _) => (None, ctx.describe()),
    };
    MemoryPlan {
        items,
        available,
        place,
        hint: "use fewer gates or rows, or --precision f32",
    }
}

/// The memory plan of an augmented Lagrangian solve of `prep` on `device`: the multipliers are
/// one number per constraint (2 c p n), plus three blocks of the same size for the kept
/// products on the CPU (two scratch blocks on a GPU), in the solve's precision.
pub fn relu_memory(prep: &Prepared, device: &Device, precision: Precision) -> MemoryPlan {
    let (n, d) = prep.x.dim();
    let (c, p) = (prep.task.outputs(), prep.patterns.kept.len());
    let w = word(precision);
    let cons = (2 * c * p * n) as u64;
    let weights = (2 * c * p * d) as u64 * w;
    let mut items = vec![
        ("data (X, Y)".to_string(), (n * (d + c)) as u64 * w),
        ("masks".to_string(), (n * (2 * p).div_ceil(64) * 8) as u64),
        ("multipliers".to_string(), cons * w),
        (
            "weights and solver state (10 copies)".to_string(),
            10 * weights,
        ),
    ];
    let (available, place) = match device {
        Device::Cpu(_) => {
            // The lifted path keeps X U^T of U, V and the trial point (one number per
            // constraint each), plus the passes' pooled blocks.
            items.push(("lifted products X U^T (3 blocks)".to_string(), 3 * cons * w));
            items.push((
                "pass blocks (2 per thread)".to_string(),
                (2 * 1024 * 2 * c * p * 8) as u64,
            ));
            (host_budget(), "host".to_string())
        }
        Device::Gpu(ctx, _) => {
            // The line-search trial holds X V and X (U+ - V) at once.
            items.push(("constraint products (2 blocks)".to_string(), 2 * cons * w));
            (None, ctx.describe())
        }
    };
    MemoryPlan {
        items,
        available,
        place,
        hint: "use fewer gates or rows, or --model gated with --decompose",
    }
}

/// MemAvailable from /proc/meminfo (None elsewhere).
fn available_ram() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
