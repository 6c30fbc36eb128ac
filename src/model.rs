//! The trained network. A convex solution U (c, p, d) becomes the equivalent two-layer gated
//! network: hidden unit (l, i) has first-layer weights U_{l,i} / sqrt(||U_{l,i}||), output
//! weight sqrt(||U_{l,i}||) into output l, and gate g_i; zero groups are dropped. The column
//! preprocessing is folded into gates and weights so the network works on raw inputs.
//!
//! Forward on a raw row x (h hidden units):
//!   a_k = 1[x . gates_k + gate_bias_k > 0] * (x . w1_k + b1_k),   y = w2 a.
//!
//! Saved as safetensors (f64): `gates` (h, d), `w1` (h, d), `w2` (c, h), and `gate_bias` (h),
//! `b1` (h) when the preprocessing has offsets (`--bias`, or standardized columns: the default). The metadata entry
//! `cvxnn` holds the JSON of [`ModelMeta`].

use crate::backend::cpu::mat_mul;
use crate::data::preprocess::Preprocess;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::problem::Task;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub version: String,
    pub model: String,
    pub task: Task,
    pub features: usize,
    pub preprocess: Preprocess,
    pub lambda: f64,
    pub regularizer: String,
    pub solver: String,
    pub status: String,
    pub objective: f64,
    pub loss: f64,
    pub penalty: f64,
    pub grad_norm_sq: f64,
    pub iterations: usize,
    pub gates_drawn: usize,
    pub gates_kept: usize,
    pub seed: u64,
    pub data: String,
    /// The original class labels as JSON values (ints, strings, bools) when the model was
    /// trained from Python; output k scores `labels[k]` (`task.classes` holds what the CLI prints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub gates: Array2<f64>,
    pub gate_bias: Array1<f64>,
    pub w1: Array2<f64>,
    pub b1: Array1<f64>,
    pub w2: Array2<f64>,
    pub meta: ModelMeta,
}

impl Network {
    /// Builds the network from convex weights `u` (c, p, d') on preprocessed features and the
    /// kept gates `g` (d' x p) in the same space.
    pub fn from_convex(u: &[f64], g: &Array2<f64>, c: usize, meta: ModelMeta) -> Network {
        let (dp, p) = g.dim();
        let pre = meta.preprocess.clone();
        let d = pre.scale.len();
        let mut units: Vec<(usize, usize, f64)> = Vec::new();
        for l in 0..c {
            for i in 0..p {
                let grp = &u[(l * p + i) * dp..(l * p + i + 1) * dp];
                let nrm = grp.iter().map(|v| v * v).sum::<f64>().sqrt();
                if nrm > 0.0 {
                    units.push((l, i, nrm));
                }
            }
        }
        let h = units.len();
        let mut net = Network {
            gates: Array2::zeros((h, d)),
            gate_bias: Array1::zeros(h),
            w1: Array2::zeros((h, d)),
            b1: Array1::zeros(h),
            w2: Array2::zeros((c, h)),
            meta,
        };
        for (k, &(l, i, nrm)) in units.iter().enumerate() {
            let s = nrm.sqrt();
            let grp: Vec<f64> = u[(l * p + i) * dp..(l * p + i + 1) * dp]
                .iter()
                .map(|v| v / s)
                .collect();
            let (w, b) = pre.fold(&grp);
            let (gr, gb) = pre.fold(&g.column(i).to_vec());
            net.w1.row_mut(k).assign(&Array1::from(w));
            net.b1[k] = b;
            net.gates.row_mut(k).assign(&Array1::from(gr));
            net.gate_bias[k] = gb;
            net.w2[[l, k]] = s;
        }
        net
    }

    /// Builds a ReLU network from weights (c, 2p, d') in the layout of [`crate::solver::al`]
    /// (V in gates [0, p), -W in [p, 2p)) on preprocessed features. Hidden unit for a nonzero
    /// group g = U_{l,i}: first layer s g / sqrt(||g||), output weight s sqrt(||g||) into output
    /// l, with s = +1 for V and -1 for the stored -W; its gate is its own weight vector.
    pub fn from_relu(u: &[f64], c: usize, dp: usize, meta: ModelMeta) -> Network {
        let p2 = u.len() / (c * dp).max(1);
        let pre = meta.preprocess.clone();
        let d = pre.scale.len();
        let mut units: Vec<(usize, usize, f64)> = Vec::new();
        for l in 0..c {
            for i in 0..p2 {
                let grp = &u[(l * p2 + i) * dp..(l * p2 + i + 1) * dp];
                let nrm = grp.iter().map(|v| v * v).sum::<f64>().sqrt();
                if nrm > 0.0 {
                    units.push((l, i, nrm));
                }
            }
        }
        let h = units.len();
        let mut w1 = Array2::zeros((h, d));
        let mut b1 = Array1::zeros(h);
        let mut w2 = Array2::zeros((c, h));
        for (k, &(l, i, nrm)) in units.iter().enumerate() {
            let sign = if i < p2 / 2 { 1.0 } else { -1.0 };
            let s = nrm.sqrt();
            let grp: Vec<f64> = u[(l * p2 + i) * dp..(l * p2 + i + 1) * dp]
                .iter()
                .map(|v| sign * v / s)
                .collect();
            let (w, b) = pre.fold(&grp);
            w1.row_mut(k).assign(&Array1::from(w));
            b1[k] = b;
            w2[[l, k]] = sign * s;
        }
        Network {
            gates: w1.clone(),
            gate_bias: b1.clone(),
            w1,
            b1,
            w2,
            meta,
        }
    }

    /// A standard ReLU network (the gates are the first-layer weights), saved under PyTorch's
    /// nn.Sequential names.
    pub fn is_relu(&self) -> bool {
        self.meta.model == "relu"
    }

    pub fn hidden(&self) -> usize {
        self.w1.nrows()
    }

    fn has_offsets(&self) -> bool {
        let p = &self.meta.preprocess;
        p.bias || p.shift.iter().any(|&m| m != 0.0)
    }

    /// Outputs (n x c) for raw inputs x (n x d).
    pub fn forward(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.meta.features {
            return Err(Error::shape(
                "input features",
                format!("{} (as the model was trained on)", self.meta.features),
                x.ncols().to_string(),
            ));
        }
        // Row blocks keep the two rows x hidden intermediates small (full MNIST with 2,000
        // hidden units would otherwise hold 2 x 960 MB); row ranges run on scoped threads
        // (scoring the training and test rows took longer than a solver iteration).
        let (n, c) = (x.nrows(), self.w2.nrows());
        let block = ((1usize << 22) / self.hidden().max(1)).max(1);
        let mut out = Array2::zeros((n, c));
        if n == 0 {
            return Ok(out);
        }
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let threads = cores.min(n.div_ceil(block)).max(1);
        let per = n.div_ceil(threads);
        // The threads share the one block's worth of intermediates (peak memory as on one).
        let block = (block / threads).max(1);
        std::thread::scope(|sc| {
            for (t, chunk) in out.axis_chunks_iter_mut(ndarray::Axis(0), per).enumerate() {
                let xs = x.slice(s![t * per..t * per + chunk.nrows(), ..]);
                sc.spawn(move || self.forward_rows(xs, chunk, block));
            }
        });
        Ok(out)
    }

    /// Outputs of the rows of `x` into `out`, `block` rows at a time.
    fn forward_rows(&self, x: ArrayView2<f64>, mut out: ArrayViewMut2<f64>, block: usize) {
        let h = self.hidden();
        let mut gate = Array2::zeros((block.min(x.nrows()), h));
        let mut act = gate.clone();
        for r0 in (0..x.nrows()).step_by(block) {
            let r1 = (r0 + block).min(x.nrows());
            let xb = x.slice(s![r0..r1, ..]);
            let mut g = gate.slice_mut(s![..r1 - r0, ..]);
            let mut a = act.slice_mut(s![..r1 - r0, ..]);
            mat_mul(1.0, &xb, &self.gates.t(), 0.0, &mut g);
            mat_mul(1.0, &xb, &self.w1.t(), 0.0, &mut a);
            ndarray::Zip::from(a.rows_mut())
                .and(g.rows())
                .for_each(|mut ar, gr| {
                    for (((av, &gv), &b1), &gb) in
                        ar.iter_mut().zip(gr).zip(&self.b1).zip(&self.gate_bias)
                    {
                        *av = if gv + gb <= 0.0 { 0.0 } else { *av + b1 };
                    }
                });
            mat_mul(
                1.0,
                &a,
                &self.w2.t(),
                0.0,
                &mut out.slice_mut(s![r0..r1, ..]),
            );
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes(path)?)?;
        // Human-readable copy of the metadata beside the model.
        let pretty = serde_json::to_string_pretty(&self.meta).expect("metadata serializes");
        write_atomic(&path.with_extension("json"), pretty.as_bytes())
    }

    /// The safetensors bytes [`Network::save`] writes (`path` names the file in errors).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let meta_json = serde_json::to_string(&self.meta).expect("metadata serializes");
        let bytes = |a: &[f64]| a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let flat = |a: &Array2<f64>| bytes(&a.iter().copied().collect::<Vec<_>>());
        let mut owned: Vec<(&str, Vec<usize>, Vec<u8>)> = if self.is_relu() {
            // nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, c)) state-dict names.
            let c = self.w2.nrows();
            vec![
                ("0.weight", self.w1.shape().to_vec(), flat(&self.w1)),
                (
                    "0.bias",
                    vec![self.hidden()],
                    bytes(self.b1.as_slice().unwrap()),
                ),
                ("2.weight", self.w2.shape().to_vec(), flat(&self.w2)),
                ("2.bias", vec![c], bytes(&vec![0.0; c])),
            ]
        } else {
            vec![
                (
                    "gates",
                    self.gates.shape().to_vec(),
                    bytes(&self.gates.iter().copied().collect::<Vec<_>>()),
                ),
                (
                    "w1",
                    self.w1.shape().to_vec(),
                    bytes(&self.w1.iter().copied().collect::<Vec<_>>()),
                ),
                (
                    "w2",
                    self.w2.shape().to_vec(),
                    bytes(&self.w2.iter().copied().collect::<Vec<_>>()),
                ),
            ]
        };
        if self.has_offsets() && !self.is_relu() {
            owned.push((
                "gate_bias",
                vec![self.hidden()],
                bytes(self.gate_bias.as_slice().unwrap()),
            ));
            owned.push((
                "b1",
                vec![self.hidden()],
                bytes(self.b1.as_slice().unwrap()),
            ));
        }
        let views: Vec<(&str, TensorView)> = owned
            .iter()
            .map(|(n, s, b)| {
                (
                    *n,
                    TensorView::new(Dtype::F64, s.clone(), b).expect("sizes match"),
                )
            })
            .collect();
        let info = HashMap::from([("cvxnn".to_string(), meta_json.clone())]);
        safetensors::serialize(views, Some(info)).map_err(|e| Error::Model {
            path: path.into(),
            msg: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Network> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&data, path)
    }

    /// Parses a model file's bytes (`path` names it in errors); every tensor must have the
    /// shape the metadata implies and hold finite values.
    pub fn from_bytes(data: &[u8], path: &Path) -> Result<Network> {
        let bad = |msg: String| Error::Model {
            path: path.into(),
            msg,
        };
        let (_, header) = SafeTensors::read_metadata(data)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("cvxnn"))
            .ok_or_else(|| bad("no cvxnn metadata (not written by cvxnn?)".into()))?;
        let meta: ModelMeta =
            serde_json::from_str(meta_json).map_err(|e| bad(format!("bad metadata: {e}")))?;
        let st = SafeTensors::deserialize(data).map_err(|e| bad(e.to_string()))?;
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("missing tensor '{name}'")))?;
            if t.dtype() != Dtype::F64 || t.shape() != shape {
                return Err(bad(format!(
                    "tensor '{name}': expected F64 {shape:?}, got {:?} {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            crate::io::finite_f64_le(t.data()).map_err(|k| {
                bad(format!(
                    "tensor '{name}' holds a non-finite value at element {k}"
                ))
            })
        };
        let relu = meta.model == "relu";
        let w2_name = if relu { "2.weight" } else { "w2" };
        let w2t = st
            .tensor(w2_name)
            .map_err(|_| bad(format!("missing tensor '{w2_name}'")))?;
        let (c, h) = match w2t.shape() {
            [c, h] => (*c, *h),
            s => return Err(bad(format!("w2 must be 2-D, got {s:?}"))),
        };
        let d = meta.features;
        if meta.task.outputs() != c {
            return Err(bad(format!(
                "{w2_name} has {c} outputs but the metadata's task has {}",
                meta.task.outputs()
            )));
        }
        let arr = |v: Vec<f64>, r, k| Array2::from_shape_vec((r, k), v).expect("shape checked");
        if relu {
            let w1 = arr(get("0.weight", &[h, d])?, h, d);
            let b1 = Array1::from(get("0.bias", &[h])?);
            let net = Network {
                gates: w1.clone(),
                gate_bias: b1.clone(),
                w1,
                b1,
                w2: arr(get("2.weight", &[c, h])?, c, h),
                meta,
            };
            if get("2.bias", &[c])?.iter().any(|&b| b != 0.0) {
                return Err(bad(
                    "tensor '2.bias' must be zero (cvxnn writes no output bias)".into(),
                ));
            }
            return Ok(net);
        }
        let mut net = Network {
            gates: arr(get("gates", &[h, d])?, h, d),
            w1: arr(get("w1", &[h, d])?, h, d),
            w2: arr(get("w2", &[c, h])?, c, h),
            gate_bias: Array1::zeros(h),
            b1: Array1::zeros(h),
            meta,
        };
        if net.has_offsets() {
            net.gate_bias = Array1::from(get("gate_bias", &[h])?);
            net.b1 = Array1::from(get("b1", &[h])?);
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::preprocess::Scaling;
    use crate::rng::Rng;

    #[test]
    fn blocked_forward_matches_plain_loops() {
        // 5,000 hidden units make row blocks of 838 rows, so 2,000 rows take three blocks.
        let (n, d, h, c) = (2000, 3, 5000, 2);
        let mut r = Rng::new(1);
        let mut m = |rows, cols| Array2::from_shape_simple_fn((rows, cols), || r.normal());
        let x = m(n, d);
        let pre = Preprocess {
            scaling: Scaling::None,
            shift: vec![0.0; d],
            scale: vec![1.0; d],
            bias: true,
        };
        let meta = ModelMeta {
            format: String::new(),
            version: String::new(),
            model: String::new(),
            task: Task::Regression { outputs: c },
            features: d,
            preprocess: pre,
            lambda: 0.0,
            regularizer: String::new(),
            solver: String::new(),
            status: String::new(),
            objective: 0.0,
            loss: 0.0,
            penalty: 0.0,
            grad_norm_sq: 0.0,
            iterations: 0,
            gates_drawn: h,
            gates_kept: h,
            seed: 0,
            data: String::new(),
            labels: None,
        };
        let net = Network {
            gates: m(h, d),
            gate_bias: m(1, h).row(0).to_owned(),
            w1: m(h, d),
            b1: m(1, h).row(0).to_owned(),
            w2: m(c, h),
            meta,
        };
        let got = net.forward(&x).unwrap();
        for row in [0, 837, 838, 1999] {
            for l in 0..c {
                let mut want = 0.0;
                for k in 0..h {
                    let z: f64 = (0..d).map(|j| x[[row, j]] * net.gates[[k, j]]).sum::<f64>()
                        + net.gate_bias[k];
                    if z > 0.0 {
                        let a: f64 =
                            (0..d).map(|j| x[[row, j]] * net.w1[[k, j]]).sum::<f64>() + net.b1[k];
                        want += net.w2[[l, k]] * a;
                    }
                }
                assert!(
                    (got[[row, l]] - want).abs() < 1e-9 * want.abs().max(1.0),
                    "row {row}"
                );
            }
        }
    }
}
