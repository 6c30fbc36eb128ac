//! Gate vectors g_1..g_p (the d x p matrix G) and their activation patterns
//! D_i = diag(1[X g_i > 0]) (strict inequality, as scnn), bit-packed.

use crate::backend::cpu::mat_mul;
use crate::data::npy;
use crate::error::{Error, Result};
use crate::mask::BitMask;
use crate::rng::Rng;
use ndarray::{Array2, Axis, s};
use std::collections::HashMap;
use std::path::Path;

/// Dense standard-normal gates, d x p, from `seed`.
pub fn gaussian(d: usize, p: usize, seed: u64) -> Array2<f64> {
    let mut rng = Rng::new(seed);
    // Drawn gate by gate so the first k gates do not depend on p.
    let mut g = Array2::zeros((d, p));
    for i in 0..p {
        for j in 0..d {
            g[[j, i]] = rng.normal();
        }
    }
    g
}

/// How gates are drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum GateKind {
    /// Every entry standard normal.
    Dense,
    /// Standard normal on a uniformly drawn set of `order` distinct features (at most the data's
    /// feature count), zero elsewhere.
    FeatureSparse { order: usize },
    /// Images with features laid out channel-major (channel, row, column): a standard normal
    /// `patch` x `patch` filter at a uniformly drawn valid position (any of the
    /// (height - patch + 1) x (width - patch + 1)), the same filter in every channel.
    Conv {
        channels: usize,
        height: usize,
        width: usize,
        patch: usize,
    },
}

impl GateKind {
    /// Checks the kind against `features` data columns; the error names the flag at fault.
    pub fn check(&self, features: usize) -> Result<()> {
        match *self {
            GateKind::Dense => Ok(()),
            GateKind::FeatureSparse { order: 0 } => Err(Error::param(
                "gate_order",
                "0 (need at least one feature per gate)",
            )),
            GateKind::FeatureSparse { order } if order > features => Err(Error::param(
                "gate_order",
                format!("{order} is more than the {features} data features"),
            )),
            GateKind::FeatureSparse { .. } => Ok(()),
            GateKind::Conv {
                channels,
                height,
                width,
                patch,
            } => {
                if channels * height * width != features {
                    return Err(Error::shape(
                        "--image C,H,W",
                        format!("C x H x W = {features} (the data's feature count)"),
                        format!(
                            "{channels} x {height} x {width} = {}",
                            channels * height * width
                        ),
                    ));
                }
                if patch == 0 || patch > height || patch > width {
                    return Err(Error::param(
                        "patch",
                        format!("{patch} (must be between 1 and the image's {height} x {width})"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// `p` gates of `kind` in the preprocessed space of `d_total` columns whose first `features`
/// are the data's (a `--bias` ones column after them stays 0 in structured gates, so their
/// support is exactly the drawn features or patch). Dense gates draw every column, as
/// [`gaussian`].
pub fn draw(
    kind: &GateKind,
    features: usize,
    d_total: usize,
    p: usize,
    seed: u64,
) -> Result<Array2<f64>> {
    kind.check(features)?;
    let mut rng = Rng::new(seed);
    let mut g = Array2::zeros((d_total, p));
    match *kind {
        GateKind::Dense => return Ok(gaussian(d_total, p, seed)),
        GateKind::FeatureSparse { order } => {
            let k = order.min(features);
            let mut idx: Vec<usize> = (0..features).collect();
            for i in 0..p {
                // Partial Fisher-Yates: the first k entries become a uniform k-subset.
                for t in 0..k {
                    let j = t + rng.below(features - t);
                    idx.swap(t, j);
                }
                for &j in &idx[..k] {
                    g[[j, i]] = rng.normal();
                }
            }
        }
        GateKind::Conv {
            channels,
            height,
            width,
            patch,
        } => {
            let (rows, cols) = (height - patch + 1, width - patch + 1);
            for i in 0..p {
                let pos = rng.below(rows * cols);
                let (r0, c0) = (pos / cols, pos % cols);
                for a in 0..patch {
                    for b in 0..patch {
                        let v = rng.normal();
                        for ch in 0..channels {
                            g[[ch * height * width + (r0 + a) * width + c0 + b, i]] = v;
                        }
                    }
                }
            }
        }
    }
    Ok(g)
}

/// Sets each gate's entry in the ones column `bias_col` so that the gate is active on
/// `fraction` of the rows of `x` (the midpoint between the order statistics on either side of
/// the cut, so exactly round(fraction n) rows when x . g has no ties).
pub fn quantile_offsets(
    x: &Array2<f64>,
    g: &mut Array2<f64>,
    bias_col: usize,
    fraction: f64,
) -> Result<()> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(Error::param(
            "gate_active",
            format!("{fraction} (the fraction of active rows must be in (0, 1])"),
        ));
    }
    let n = x.nrows();
    let m = ((fraction * n as f64).round() as usize).clamp(1, n);
    g.row_mut(bias_col).fill(0.0);
    let z = x.dot(g);
    for (i, col) in z.axis_iter(Axis(1)).enumerate() {
        let mut v = col.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let cut = if m == n {
            v[0] - 1.0
        } else {
            0.5 * (v[n - m - 1] + v[n - m])
        };
        g[[bias_col, i]] = -cut;
    }
    Ok(())
}

/// Gates from a `.npy` file of shape d x p (float32 or float64).
pub fn load_npy(path: &Path, d: usize) -> Result<Array2<f64>> {
    let a = npy::read_npy_file(path)?;
    if a.shape.len() != 2 || a.shape[0] != d || a.shape[1] == 0 {
        return Err(Error::shape(
            format!("gates file {}", path.display()),
            format!("[{d}, p] (features after preprocessing x gates)"),
            format!("{:?}", a.shape),
        ));
    }
    if a.data.iter().any(|v| !v.is_finite()) {
        return Err(Error::format(path, "gates contain NaN or infinite values"));
    }
    Ok(Array2::from_shape_vec((a.shape[0], a.shape[1]), a.data).expect("shape checked"))
}

/// 1[X g_i > 0] for every row and gate, computed block by block (never n x p in f64 at once).
pub fn patterns(x: &Array2<f64>, g: &Array2<f64>) -> BitMask {
    let (n, p) = (x.nrows(), g.ncols());
    let mut mask = BitMask::zeros(n, p);
    let block = (1 << 20) / p.max(1) + 1;
    let mut zbuf = Array2::zeros((block.min(n), p));
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let mut z = zbuf.slice_mut(s![..end - start, ..]);
        mat_mul(1.0, &x.slice(s![start..end, ..]), g, 0.0, &mut z);
        for (r, row) in z.axis_iter(Axis(0)).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                if v > 0.0 {
                    mask.set(start + r, i);
                }
            }
        }
    }
    mask
}

/// The distinct, non-zero patterns of a set of gates.
#[derive(Debug, Clone)]
pub struct Patterns {
    pub mask: BitMask,
    /// Indices (into the original gates) of the gates kept, in increasing order.
    pub kept: Vec<usize>,
    pub dropped_zero: usize,
    pub dropped_duplicate: usize,
}

/// Computes patterns on the training rows and keeps the first gate of each distinct, non-zero one.
pub fn unique_patterns(x: &Array2<f64>, g: &Array2<f64>) -> Patterns {
    dedup(patterns(x, g))
}

/// Keeps the first gate of each distinct, non-zero pattern column of `full`.
pub fn dedup(full: BitMask) -> Patterns {
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::new();
    let (mut kept, mut zero, mut dup) = (Vec::new(), 0, 0);
    for i in 0..full.cols() {
        let col = full.column_bits(i);
        if col.iter().all(|&w| w == 0) {
            zero += 1;
        } else if seen.insert(col, i).is_some() {
            dup += 1;
        } else {
            kept.push(i);
        }
    }
    Patterns {
        mask: full.select_cols(&kept),
        kept,
        dropped_zero: zero,
        dropped_duplicate: dup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn feature_sparse_gates_have_exactly_order_features() {
        let g = draw(&GateKind::FeatureSparse { order: 3 }, 10, 11, 400, 5).unwrap();
        let mut hit = [0usize; 10];
        for i in 0..400 {
            let support: Vec<usize> = (0..11).filter(|&j| g[[j, i]] != 0.0).collect();
            assert_eq!(support.len(), 3, "gate {i}");
            assert!(support.iter().all(|&j| j < 10), "the bias column stays 0");
            support.iter().for_each(|&j| hit[j] += 1);
        }
        // Every feature is drawn, about 400 * 3 / 10 = 120 times each.
        assert!(hit.iter().all(|&h| (60..=180).contains(&h)), "{hit:?}");
        let all = draw(&GateKind::FeatureSparse { order: 4 }, 4, 4, 2, 1).unwrap();
        assert!(all.iter().all(|&v| v != 0.0), "order d keeps every feature");
        let e = draw(&GateKind::FeatureSparse { order: 5 }, 4, 4, 2, 1).unwrap_err();
        assert!(e.to_string().contains("gate_order"), "{e}");
    }

    #[test]
    fn conv_gates_cover_exactly_one_patch_and_every_position() {
        let (ch, h, w, k) = (3, 6, 5, 3);
        let kind = GateKind::Conv {
            channels: ch,
            height: h,
            width: w,
            patch: k,
        };
        let p = 2000;
        let g = draw(&kind, ch * h * w, ch * h * w, p, 9).unwrap();
        let mut seen = vec![false; (h - k + 1) * (w - k + 1)];
        for i in 0..p {
            let support: Vec<usize> = (0..ch * h * w).filter(|&j| g[[j, i]] != 0.0).collect();
            assert_eq!(support.len(), ch * k * k, "gate {i}");
            // The top-left pixel of channel 0 fixes the patch; the support must be exactly it.
            let first = support[0];
            let (r0, c0) = (first / w, first % w);
            assert!(r0 + k <= h && c0 + k <= w, "gate {i} leaves the image");
            let mut want = Vec::new();
            for c in 0..ch {
                for a in 0..k {
                    for b in 0..k {
                        want.push(c * h * w + (r0 + a) * w + c0 + b);
                    }
                }
            }
            assert_eq!(support, want, "gate {i}");
            // The same filter in every channel.
            for &j in &want[..k * k] {
                assert_eq!(g[[j, i]], g[[j + h * w, i]]);
            }
            seen[r0 * (w - k + 1) + c0] = true;
        }
        assert!(seen.iter().all(|&s| s), "every valid position is drawn");
    }

    #[test]
    fn quantile_offsets_activate_the_asked_fraction() {
        let mut r = Rng::new(3);
        let (n, d) = (101, 4);
        let mut x = Array2::from_shape_simple_fn((n, d + 1), || r.normal());
        x.column_mut(d).fill(1.0);
        let mut g = gaussian(d + 1, 20, 4);
        for f in [0.1, 0.5, 0.93, 1.0] {
            quantile_offsets(&x, &mut g, d, f).unwrap();
            let m = patterns(&x, &g);
            let want = ((f * n as f64).round() as usize).max(1);
            for i in 0..20 {
                let on = (0..n).filter(|&row| m.get(row, i)).count();
                assert_eq!(on, want, "fraction {f}, gate {i}");
            }
        }
        assert!(quantile_offsets(&x, &mut g, d, 0.0).is_err());
    }

    #[test]
    fn structured_gate_flags_are_checked() {
        let conv = |c, h, w, k| GateKind::Conv {
            channels: c,
            height: h,
            width: w,
            patch: k,
        };
        let e = draw(&conv(3, 32, 32, 3), 784, 784, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--image") && e.contains("3072") && e.contains("784"),
            "{e}"
        );
        let e = draw(&conv(1, 28, 28, 29), 784, 784, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("patch"), "{e}");
        let e = draw(&GateKind::FeatureSparse { order: 0 }, 5, 5, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gate_order"), "{e}");
    }

    #[test]
    fn drops_zero_and_duplicate_patterns() {
        let x = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        // gate 0: all rows positive; gate 1: same pattern; gate 2: none; gate 3: only row 0.
        let g = array![[1.0, 2.0, -1.0, 1.0], [1.0, 1.0, -1.0, -2.0]];
        let p = unique_patterns(&x, &g);
        assert_eq!(p.kept, vec![0, 3]);
        assert_eq!((p.dropped_zero, p.dropped_duplicate), (1, 1));
        assert!(p.mask.get(0, 1) && !p.mask.get(1, 1) && !p.mask.get(2, 1));
        // x . g = 0 is inactive (strict inequality).
        let m = patterns(&array![[1.0, -1.0]], &array![[1.0], [1.0]]);
        assert!(!m.get(0, 0));
    }
}
