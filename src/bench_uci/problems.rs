//! The grid's problems as files, so peers (scnn, PyTorch, scikit-learn) solve exactly what
//! cvxnn solves: per data set a folder with `.npy` arrays (f64, C order) and `problem.json`.
//!
//! | file | shape | what |
//! |---|---|---|
//! | `x.npy` | n x d' | the fit rows, preprocessed as cvxnn trains on them (unitized columns) |
//! | `y.npy` | n x c | the targets (one-hot, or +-1 for two classes) |
//! | `g.npy` | d' x p | the gates with distinct activation patterns, in cvxnn's group order |
//! | `x_val.npy`, `x_test.npy` | rows x d' | validation and test rows, preprocessed the same way |
//! | `labels_fit.npy`, `labels_val.npy`, `labels_test.npy` | rows | class labels |
//!
//! `problem.json` holds the data set's name, n, d, classes and the class values in output order.

use super::Loaded;
use crate::data::Labels;
use crate::data::npy::to_npy_bytes;
use crate::error::Result;
use crate::io::write_atomic;
use ndarray::Array2;
use std::path::Path;

fn matrix(dir: &Path, name: &str, m: &Array2<f64>) -> Result<()> {
    let data: Vec<f64> = m.iter().copied().collect();
    write_atomic(
        &dir.join(name),
        &to_npy_bytes(&[m.nrows(), m.ncols()], &data),
    )
}

fn labels(dir: &Path, name: &str, l: &Labels) -> Result<()> {
    let v = match l {
        Labels::Column(v) => v.clone(),
        _ => Vec::new(),
    };
    write_atomic(&dir.join(name), &to_npy_bytes(&[v.len()], &v))
}

/// Writes `l`'s problem under `root/<data set>/`.
pub fn write(root: &Path, l: &Loaded) -> Result<()> {
    let dir = root.join(&l.set.name);
    std::fs::create_dir_all(&dir).map_err(|e| crate::error::Error::io(&dir, e))?;
    let p = &l.prep;
    matrix(&dir, "x.npy", &p.x)?;
    matrix(&dir, "y.npy", &p.y)?;
    matrix(&dir, "g.npy", &p.kept_gates())?;
    matrix(&dir, "x_val.npy", &p.pre.apply(&l.validation.x))?;
    matrix(&dir, "x_test.npy", &p.pre.apply(&l.set.test.x))?;
    labels(&dir, "labels_fit.npy", &p.train.labels)?;
    labels(&dir, "labels_val.npy", &l.validation.labels)?;
    labels(&dir, "labels_test.npy", &l.set.test.labels)?;
    let classes = match &p.task {
        crate::problem::Task::Classification { classes } => classes.clone(),
        _ => Vec::new(),
    };
    let meta = serde_json::json!({
        "dataset": l.set.name,
        "n": p.x.nrows(),
        "d": l.set.data.d(),
        "classes": l.set.classes,
        "class_values": classes,
        "outputs": p.y.ncols(),
        "gates": p.patterns.kept.len(),
        "setup_s": l.setup_s,
    });
    write_atomic(
        &dir.join("problem.json"),
        serde_json::to_string_pretty(&meta)
            .expect("json")
            .as_bytes(),
    )
}
