//! The one error type of the library. `Err` means bad input or a failed device/file operation;
//! a solver that does not converge returns `Ok` with a status instead.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {msg}")]
    Csv {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        what: String,
        expected: String,
        got: String,
    },
    /// `flag` names the field of the library's settings at fault (`gates`, `max_backtracks`),
    /// or a flag for the CLI's own checks (`--out`); the CLI shows a field's flag where it has
    /// one (`cli::flag_of`).
    #[error("invalid value for {flag}: {msg}")]
    InvalidParam { flag: &'static str, msg: String },
    #[error("invalid data: {0}")]
    Data(String),
    #[error("GPU: {0}")]
    Device(String),
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("model file {path}: {msg}")]
    Model { path: PathBuf, msg: String },
    #[error("plot: {0}")]
    Plot(String),
    /// A run stopped by Ctrl-C or SIGTERM after saving what it could; the CLI exits 130 / 143.
    #[error("{0}")]
    Interrupted(String),
    /// A solve whose objective became infinite or NaN; no model is saved.
    #[error("the solve diverged: {0}")]
    Diverged(String),
    #[error("download {url}: {msg}")]
    Network { url: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub fn param(flag: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidParam {
            flag,
            msg: msg.into(),
        }
    }
    pub fn shape(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}
