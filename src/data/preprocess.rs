//! Column preprocessing fitted on the training rows and applied unchanged to test rows.
//! Default (as scnn): divide each column by its L2 norm over the training rows; zero columns
//! stay zero. `Standardize`: zero mean, unit variance. An optional ones column (bias) is
//! appended after scaling.

use ndarray::{Array2, Axis, s};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scaling {
    /// Divide each column by its L2 norm over the training rows.
    Unitize,
    /// Subtract the column mean, divide by the column standard deviation.
    Standardize,
    /// Use the features as they are.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocess {
    pub scaling: Scaling,
    /// Subtracted from each column (zeros unless standardizing).
    pub shift: Vec<f64>,
    /// Each column is divided by this (1 for constant or untouched columns).
    pub scale: Vec<f64>,
    pub bias: bool,
}

impl Preprocess {
    pub fn fit(x: &Array2<f64>, scaling: Scaling, bias: bool) -> Self {
        let d = x.ncols();
        let n = x.nrows().max(1) as f64;
        let (shift, scale) = match scaling {
            Scaling::None => (vec![0.0; d], vec![1.0; d]),
            Scaling::Unitize => {
                // Scaled by the largest entry so that squares of values above 1e154 do not
                // overflow (a norm that still overflows is caught by `prepare`).
                let norms = x.map_axis(Axis(0), |c| {
                    let m = c.iter().fold(0.0f64, |m, &a| m.max(a.abs()));
                    if m > 0.0 {
                        m * c.iter().map(|&a| (a / m) * (a / m)).sum::<f64>().sqrt()
                    } else {
                        0.0
                    }
                });
                (
                    vec![0.0; d],
                    norms
                        .iter()
                        .map(|&s| if s > 0.0 { s } else { 1.0 })
                        .collect(),
                )
            }
            Scaling::Standardize => {
                let mean = x.mean_axis(Axis(0)).expect("non-empty");
                let sd: Vec<f64> = (0..d)
                    .map(|j| {
                        let v = x
                            .column(j)
                            .iter()
                            .map(|&a| (a - mean[j]).powi(2))
                            .sum::<f64>()
                            / n;
                        if v > 0.0 { v.sqrt() } else { 1.0 }
                    })
                    .collect();
                (mean.to_vec(), sd)
            }
        };
        Preprocess {
            scaling,
            shift,
            scale,
            bias,
        }
    }

    /// Number of columns after preprocessing.
    pub fn out_dim(&self) -> usize {
        self.scale.len() + self.bias as usize
    }

    pub fn apply(&self, x: &Array2<f64>) -> Array2<f64> {
        let (n, d) = x.dim();
        let mut out = Array2::<f64>::ones((n, self.out_dim()));
        for ((r, j), v) in out.slice_mut(s![.., ..d]).indexed_iter_mut() {
            *v = (x[[r, j]] - self.shift[j]) / self.scale[j];
        }
        out
    }

    /// Maps a weight vector w on preprocessed features to raw features:
    /// pre(x) . w = x . w_raw + offset.
    pub fn fold(&self, w: &[f64]) -> (Vec<f64>, f64) {
        let d = self.scale.len();
        let raw: Vec<f64> = (0..d).map(|j| w[j] / self.scale[j]).collect();
        let mut offset = if self.bias { w[d] } else { 0.0 };
        offset -= (0..d).map(|j| self.shift[j] * raw[j]).sum::<f64>();
        (raw, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn unitize_and_fold() {
        let x = array![[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]];
        for scaling in [Scaling::Unitize, Scaling::Standardize, Scaling::None] {
            for bias in [false, true] {
                let p = Preprocess::fit(&x, scaling, bias);
                let xp = p.apply(&x);
                if scaling == Scaling::Unitize {
                    assert!((xp.column(0).dot(&xp.column(0)) - 1.0).abs() < 1e-12);
                    assert_eq!(xp.column(1).sum(), 0.0);
                }
                let w: Vec<f64> = (0..p.out_dim()).map(|k| 0.5 - k as f64).collect();
                let (raw, off) = p.fold(&w);
                for r in 0..2 {
                    let lhs: f64 = (0..p.out_dim()).map(|k| xp[[r, k]] * w[k]).sum();
                    let rhs: f64 = (0..3).map(|j| x[[r, j]] * raw[j]).sum::<f64>() + off;
                    assert!((lhs - rhs).abs() < 1e-12, "{scaling:?} {bias}");
                }
            }
        }
    }
}
