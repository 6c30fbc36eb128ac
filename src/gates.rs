//! Gate vectors g_1..g_p (the d x p matrix G) and their activation patterns
//! D_i = diag(1[X g_i > 0]) (strict inequality, as scnn), bit-packed.

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
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let z = x.slice(s![start..end, ..]).dot(g);
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
