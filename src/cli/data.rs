//! `cvxnn data fetch`: the standard image data sets, checksummed.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    cmd: DataCommand,
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Download a data set's standard files into --dir and verify their published MD5 sums.
    Fetch(FetchArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Name {
    /// MNIST: the four IDX .gz files (about 11 MB).
    Mnist,
    /// Fashion-MNIST: the four IDX .gz files (about 30 MB).
    FashionMnist,
    /// CIFAR-10, binary version: cifar-10-binary.tar.gz (about 162 MB), unpacked.
    Cifar10,
}

#[derive(Args, Debug)]
struct FetchArgs {
    name: Name,
    /// Folder to download into (created if missing; default: data/NAME).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Download from this base URL instead (a mirror holding the same file names).
    #[arg(long)]
    mirror: Option<String>,
}

pub fn run(a: DataArgs) -> cvxnn::Result<i32> {
    let DataCommand::Fetch(f) = a.cmd;
    let name = f.name.to_possible_value().expect("no skipped variants");
    let mut src = cvxnn::fetch::source(name.get_name())?;
    if let Some(m) = &f.mirror {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(cvxnn::Error::param(
                "--mirror",
                format!("{m}: must be an http:// or https:// URL"),
            ));
        }
        let base = if m.ends_with('/') {
            m.clone()
        } else {
            format!("{m}/")
        };
        src.mirrors = vec![base];
    }
    let dir = f
        .dir
        .unwrap_or_else(|| PathBuf::from("data").join(src.name));
    let data = cvxnn::fetch::fetch(
        &src,
        &dir,
        &mut |s| eprintln!("{s}"),
        &super::signals::interrupted,
    )?;
    let extra = if src.unpacks_to.is_some() {
        " --gate-type conv --image 3,32,32"
    } else {
        ""
    };
    outln!("{}", data.display());
    eprintln!("train with: cvxnn train --data {}{extra}", data.display());
    Ok(0)
}
