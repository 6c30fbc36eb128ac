//! `cvxnn predict`.

use clap::Args;
use cvxnn::data::{self, LabelColumn, Labels, LoadOptions};
use cvxnn::io::{FilePlan, write_atomic};
use cvxnn::model::Network;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model saved by `cvxnn train` (.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Data in any format `train` reads; a CSV/NPY with exactly as many columns as the model has
    /// features is read as unlabeled.
    #[arg(long, default_value = "digits")]
    data: String,
    /// Label column of CSV / 2-D NPY data (as for train).
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    label_column: LabelColumn,
    /// Write predictions (one row per example) to this CSV file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: super::OutputArgs,
}

pub fn run(a: PredictArgs) -> cvxnn::Result<i32> {
    let mut files = FilePlan::default();
    files.input("--model", &a.model).input("--data", &a.data);
    if let Some(o) = &a.out {
        files.output("--out", o);
    }
    files.check()?;
    let net = Network::load(&a.model)?;
    let opts = LoadOptions {
        label_column: a.label_column.clone(),
        features_only_if: Some(net.meta.features),
    };
    let (ds, _) = data::load(&a.data, &opts)?;
    ds.validate()?;
    let out = net.forward(&ds.x)?;
    let task = &net.meta.task;
    let decided = task.decide(&out);
    let score = task.score(&out, &ds.labels);
    if let Some(path) = &a.out {
        let c = out.ncols();
        let mut csv = String::new();
        for r in 0..out.nrows() {
            if task.is_classification() {
                writeln!(csv, "{}", decided[r]).expect("string write");
            } else {
                let row: Vec<String> = (0..c).map(|l| out[[r, l]].to_string()).collect();
                writeln!(csv, "{}", row.join(",")).expect("string write");
            }
        }
        write_atomic(path, csv.as_bytes())?;
    }
    let metric = if task.is_classification() {
        "accuracy"
    } else {
        "mse"
    };
    if a.output.json {
        outln!(
            "{}",
            serde_json::json!({ "rows": ds.n(), metric: score, "hidden_units": net.hidden() })
        );
    } else if !a.output.quiet {
        outln!(
            "model {}: {} hidden units, {} rows of {}",
            a.model.display(),
            net.hidden(),
            ds.n(),
            ds.name
        );
        match (score, &ds.labels) {
            (Some(s), _) => outln!("{metric} {s:.6}"),
            (None, Labels::Missing) => outln!("no labels in the data: nothing to score"),
            (None, _) => outln!("labels do not fit the model's task: not scored"),
        }
        if let Some(p) = &a.out {
            outln!("predictions written to {}", p.display());
        }
    }
    Ok(0)
}
