//! The learning task and its targets: one-hot 0/1 for k > 2 classes, a single +-1 output for
//! two classes (the larger label is +1), real targets for regression.

use crate::data::{Dataset, Labels};
use crate::error::{Error, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskChoice {
    /// Integer labels are classes; other values are regression targets.
    Auto,
    Classification,
    Regression,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Task {
    /// Sorted distinct label values; output l scores class `classes[l]` (one output when binary).
    Classification {
        classes: Vec<f64>,
    },
    Regression {
        outputs: usize,
    },
}

impl Task {
    pub fn resolve(choice: TaskChoice, train: &Dataset) -> Result<Task> {
        match (&train.labels, choice) {
            (Labels::Missing, _) => Err(Error::Data(format!(
                "{}: training data has no labels",
                train.name
            ))),
            (Labels::Matrix(m), TaskChoice::Classification) => Err(Error::param(
                "task",
                format!(
                    "classification needs one label per row; {} has {} target columns",
                    train.name,
                    m.ncols()
                ),
            )),
            (Labels::Matrix(m), _) => Ok(Task::Regression { outputs: m.ncols() }),
            (Labels::Column(y), choice) => {
                let integral = y.iter().all(|v| v.fract() == 0.0);
                let classify = match choice {
                    TaskChoice::Auto => integral,
                    TaskChoice::Classification => {
                        if !integral {
                            return Err(Error::param(
                                "task",
                                "classification labels must be integers",
                            ));
                        }
                        true
                    }
                    TaskChoice::Regression => false,
                };
                if !classify {
                    return Ok(Task::Regression { outputs: 1 });
                }
                let mut classes = y.clone();
                classes.sort_by(|a, b| a.total_cmp(b));
                classes.dedup();
                if classes.len() < 2 {
                    return Err(Error::Data(format!(
                        "{}: classification needs at least 2 classes, found {}",
                        train.name,
                        classes.len()
                    )));
                }
                Ok(Task::Classification { classes })
            }
        }
    }

    /// Number of outputs c.
    pub fn outputs(&self) -> usize {
        match self {
            Task::Classification { classes } if classes.len() == 2 => 1,
            Task::Classification { classes } => classes.len(),
            Task::Regression { outputs } => *outputs,
        }
    }

    /// The n x c target matrix Y.
    pub fn targets(&self, ds: &Dataset) -> Result<Array2<f64>> {
        let n = ds.n();
        match (self, &ds.labels) {
            (Task::Regression { outputs }, Labels::Matrix(m)) if m.ncols() == *outputs => {
                Ok(m.clone())
            }
            (Task::Regression { outputs: 1 }, Labels::Column(y)) => {
                Ok(Array2::from_shape_vec((n, 1), y.clone()).expect("n"))
            }
            (Task::Classification { classes }, Labels::Column(y)) => {
                let c = self.outputs();
                let mut t = Array2::zeros((n, c));
                for (r, v) in y.iter().enumerate() {
                    let k = classes.iter().position(|c| c == v);
                    if c == 1 {
                        t[[r, 0]] = if k == Some(1) { 1.0 } else { -1.0 };
                    } else if let Some(k) = k {
                        t[[r, k]] = 1.0;
                    }
                }
                Ok(t)
            }
            _ => Err(Error::Data(format!(
                "{}: labels do not fit the task {:?}",
                ds.name, self
            ))),
        }
    }

    /// Turns network outputs (n x c) into label values (classification) or leaves them.
    pub fn decide(&self, out: &Array2<f64>) -> Vec<f64> {
        match self {
            Task::Classification { classes } if classes.len() == 2 => out
                .column(0)
                .iter()
                .map(|&v| if v > 0.0 { classes[1] } else { classes[0] })
                .collect(),
            Task::Classification { classes } => out
                .rows()
                .into_iter()
                .map(|r| {
                    let k = r
                        .iter()
                        .enumerate()
                        .fold(0, |b, (k, &v)| if v > r[b] { k } else { b });
                    classes[k]
                })
                .collect(),
            Task::Regression { .. } => out.iter().copied().collect(),
        }
    }

    /// Accuracy (classification) or mean squared error (regression) of outputs against labels.
    pub fn score(&self, out: &Array2<f64>, labels: &Labels) -> Option<f64> {
        match (self, labels) {
            (Task::Classification { .. }, Labels::Column(y)) => {
                let pred = self.decide(out);
                Some(
                    pred.iter().zip(y).filter(|(a, b)| a == b).count() as f64
                        / y.len().max(1) as f64,
                )
            }
            (Task::Regression { .. }, Labels::Column(y)) => Some(
                out.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
                    / y.len().max(1) as f64,
            ),
            (Task::Regression { .. }, Labels::Matrix(m)) if m.dim() == out.dim() => {
                Some((out - m).mapv(|v| v * v).mean().unwrap_or(0.0))
            }
            _ => None,
        }
    }

    pub fn is_classification(&self) -> bool {
        matches!(self, Task::Classification { .. })
    }
}
