//! The rows of `bench uci`'s CSV, which peers write too: reading, appending and resuming.

use super::Method;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

pub const HEADER: &str = "dataset,n,d,classes,lambda,method,model,time_s,objective,rel_gap,violation,iterations,products,train_accuracy,val_accuracy,test_accuracy,active_neurons,status,trace";

/// One finished problem. Empty cells are `None` (a peer without products, a gated solve
/// without a violation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub dataset: String,
    pub n: usize,
    pub d: usize,
    pub classes: usize,
    pub lambda: f64,
    pub method: String,
    /// `gated` or `relu`: the objective's model class.
    pub model: String,
    pub time_s: f64,
    pub objective: f64,
    pub rel_gap: Option<f64>,
    pub violation: Option<f64>,
    pub iterations: Option<usize>,
    pub products: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub active_neurons: Option<usize>,
    pub status: String,
    /// (seconds, objective) along the solve where the method's iterates are models of the row's
    /// class (R-FISTA, a peer's gradient steps); empty where only the end counts.
    pub trace: Vec<(f64, f64)>,
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or(String::new(), |v| v.to_string())
}

fn exp(v: &Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.6e}"))
}

/// The identity of a problem in a file: data set, lambda (as written) and method.
pub fn key(dataset: &str, lambda: f64, method: &str) -> (String, String, String) {
    (
        dataset.to_string(),
        format!("{lambda:e}"),
        method.to_string(),
    )
}

impl Row {
    /// A problem that failed before it had a result.
    pub fn failed(dataset: &str, lambda: f64, m: Method) -> Row {
        Row {
            dataset: dataset.into(),
            lambda,
            method: m.name().into(),
            model: m.model().into(),
            time_s: f64::NAN,
            objective: f64::NAN,
            status: "Error".into(),
            ..Row::default()
        }
    }

    pub fn to_csv(&self) -> String {
        [
            self.dataset.replace(',', ";"),
            self.n.to_string(),
            self.d.to_string(),
            self.classes.to_string(),
            format!("{:e}", self.lambda),
            self.method.clone(),
            self.model.clone(),
            format!("{:.4}", self.time_s),
            format!("{:.12e}", self.objective),
            exp(&self.rel_gap),
            exp(&self.violation),
            opt(&self.iterations),
            self.products.map_or(String::new(), |p| format!("{p:.1}")),
            opt(&self.train_accuracy),
            opt(&self.val_accuracy),
            opt(&self.test_accuracy),
            opt(&self.active_neurons),
            self.status.clone(),
            self.trace
                .iter()
                .map(|(t, f)| format!("{t:.4e}:{f:.9e}"))
                .collect::<Vec<_>>()
                .join(";"),
        ]
        .join(",")
    }

    /// Parses one data line; `at` names the file and line in errors.
    pub fn parse(line: &str, at: &dyn Fn(String) -> Error) -> Result<Row> {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let want = HEADER.split(',').count();
        if f.len() != want {
            return Err(at(format!("{} fields, expected {want}", f.len())));
        }
        let num = |k: usize| -> Result<f64> {
            match f[k] {
                "" | "nan" | "NaN" => Ok(f64::NAN),
                s => s
                    .parse::<f64>()
                    .map_err(|_| at(format!("{}: '{s}' is not a number", name(k)))),
            }
        };
        let opt_num = |k: usize| -> Result<Option<f64>> {
            if f[k].is_empty() {
                Ok(None)
            } else {
                num(k).map(Some)
            }
        };
        let int = |k: usize| -> Result<Option<usize>> {
            if f[k].is_empty() {
                return Ok(None);
            }
            f[k].parse::<usize>()
                .map(Some)
                .map_err(|_| at(format!("{}: '{}' is not a count", name(k), f[k])))
        };
        let lambda = num(4)?;
        if lambda.is_nan() || lambda < 0.0 {
            return Err(at(format!("lambda: '{}' is not a number >= 0", f[4])));
        }
        if f[0].is_empty() || f[5].is_empty() {
            return Err(at("empty dataset or method".into()));
        }
        Ok(Row {
            dataset: f[0].into(),
            n: int(1)?.unwrap_or(0),
            d: int(2)?.unwrap_or(0),
            classes: int(3)?.unwrap_or(0),
            lambda,
            method: f[5].into(),
            model: f[6].into(),
            time_s: num(7)?,
            objective: num(8)?,
            rel_gap: opt_num(9)?,
            violation: opt_num(10)?,
            iterations: int(11)?,
            products: opt_num(12)?,
            train_accuracy: opt_num(13)?,
            val_accuracy: opt_num(14)?,
            test_accuracy: opt_num(15)?,
            active_neurons: int(16)?,
            status: f[17].into(),
            trace: parse_trace(f[18])
                .map_err(|t| at(format!("trace: '{t}' is not seconds:objective")))?,
        })
    }

    /// Whether the row is a result (not a failure): a finite objective and time.
    pub fn usable(&self) -> bool {
        self.objective.is_finite() && self.time_s.is_finite() && self.status != "Error"
    }
}

fn parse_trace(s: &str) -> std::result::Result<Vec<(f64, f64)>, String> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (t, f) = p.split_once(':').ok_or_else(|| p.to_string())?;
            match (t.parse::<f64>(), f.parse::<f64>()) {
                (Ok(t), Ok(f)) => Ok((t, f)),
                _ => Err(p.to_string()),
            }
        })
        .collect()
}

fn name(k: usize) -> &'static str {
    HEADER.split(',').nth(k).unwrap_or("?")
}

/// Reads every row of a CSV in this format; errors name the file and the line.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Vec<Row>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        Some(_) => {
            return Err(Error::Csv {
                path: path.into(),
                line: 1,
                msg: format!("not a bench uci CSV (its header must be: {HEADER})"),
            });
        }
        None => return Ok(Vec::new()),
    }
    lines
        .map(|(k, l)| {
            Row::parse(l, &|msg| Error::Csv {
                path: path.into(),
                line: k + 1,
                msg,
            })
        })
        .collect()
}

/// The problems `rows` hold, as [`key`]s.
pub fn done_keys(rows: &[Row]) -> HashSet<(String, String, String)> {
    rows.iter()
        .map(|r| key(&r.dataset, r.lambda, &r.method))
        .collect()
}

/// Appends rows, one complete line per write, flushed at once: a run killed between two rows
/// leaves a file every row of which is whole.
pub struct Appender {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl Appender {
    /// Opens `path` for appending (created with the header when missing or empty) and returns
    /// the rows it already holds. A file in another format is refused before anything is
    /// written to it.
    pub fn open(path: &Path) -> Result<(Appender, Vec<Row>)> {
        let text = if path.exists() {
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?
        } else {
            String::new()
        };
        let mut tail = String::new();
        let mut kept = text.as_str();
        if text.is_empty() {
            tail = format!("{HEADER}\n");
        } else if !text.ends_with('\n') {
            // A run killed inside a write leaves a cut last line: dropped (its problem is
            // solved again); a whole line that only lacks its newline gets one.
            let cut = text.rfind('\n').map_or(0, |i| i + 1);
            let last = &text[cut..];
            let whole = if cut == 0 {
                last.trim() == HEADER
            } else {
                Row::parse(last, &Error::Data).is_ok()
            };
            if whole {
                tail.push('\n');
            } else if cut > 0 {
                kept = &text[..cut];
            }
        }
        let rows = parse(kept, path)?;
        if kept.len() < text.len() {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            f.set_len(kept.len() as u64)
                .map_err(|e| Error::io(path, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.write_all(tail.as_bytes())
            .map_err(|e| Error::io(path, e))?;
        let appender = Appender {
            file,
            path: path.into(),
        };
        Ok((appender, rows))
    }

    pub fn append(&mut self, row: &Row) -> Result<()> {
        let line = format!("{}\n", row.to_csv());
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_resume_keys_match() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("r.csv");
        let row = Row {
            dataset: "iris".into(),
            n: 56,
            d: 4,
            classes: 3,
            lambda: 1e-3,
            method: "gated".into(),
            model: "gated".into(),
            time_s: 0.25,
            objective: 0.0123456789,
            rel_gap: Some(1e-3),
            iterations: Some(40),
            products: Some(85.0),
            train_accuracy: Some(0.9),
            val_accuracy: Some(0.8),
            test_accuracy: Some(0.85),
            active_neurons: Some(12),
            status: "Converged".into(),
            trace: vec![(0.01, 0.5), (0.2, 0.0123456789)],
            ..Row::default()
        };
        Appender::open(&path).unwrap().0.append(&row).unwrap();
        Appender::open(&path)
            .unwrap()
            .0
            .append(&Row::failed("wine", 1e-2, Method::ReluAl))
            .unwrap();
        let rows = read(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].objective, 0.0123456789);
        assert_eq!(rows[0].trace, row.trace);
        assert_eq!(rows[0].violation, None);
        assert_eq!(rows[0].to_csv(), row.to_csv());
        assert!(!rows[1].usable());
        let keys = done_keys(&read(&path).unwrap());
        assert!(keys.contains(&key("iris", 1e-3, "gated")));
        assert!(keys.contains(&key("wine", 1e-2, "relu-al")));
        assert!(!keys.contains(&key("iris", 1e-2, "gated")));
    }

    #[test]
    fn a_header_without_its_newline_still_takes_rows_on_their_own_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.csv");
        std::fs::write(&path, HEADER).unwrap();
        Appender::open(&path)
            .unwrap()
            .0
            .append(&Row::failed("wine", 1e-2, Method::Gated))
            .unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    #[test]
    fn other_files_are_refused_with_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let e = Appender::open(&path).err().unwrap().to_string();
        assert!(e.contains("x.csv") && e.contains("header"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
        std::fs::write(
            &path,
            format!("{HEADER}\niris,1,2,3,oops,gated,gated,1,1,,,,,,,,,ok,\n"),
        )
        .unwrap();
        let e = read(&path).err().unwrap().to_string();
        assert!(e.contains("line 2") && e.contains("lambda"), "{e}");
    }
}
