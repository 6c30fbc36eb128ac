//! `cvxnn predict`.

use clap::Args;
use cvxnn::data::{self, LabelColumn, Labels, LoadOptions};
use cvxnn::io::{check_writable, write_atomic};
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
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: PredictArgs) -> cvxnn::Result<i32> {
    if let Some(o) = &a.out {
        check_writable(o, "--out")?;
    }
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
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "rows": ds.n(), metric: score, "hidden_units": net.hidden() })
        );
    } else {
        println!(
            "model {}: {} hidden units, {} rows of {}",
            a.model.display(),
            net.hidden(),
            ds.n(),
            ds.name
        );
        match (score, &ds.labels) {
            (Some(s), _) => println!("{metric} {s:.6}"),
            (None, Labels::Missing) => println!("no labels in the data: nothing to score"),
            (None, _) => println!("labels do not fit the model's task: not scored"),
        }
        if let Some(p) = &a.out {
            println!("predictions written to {}", p.display());
        }
    }
    Ok(0)
}
