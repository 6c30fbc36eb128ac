//! The UCI collection in the layout of Fernandez-Delgado et al. (2014), as the convex-ReLU
//! paper's experiments used it: a folder `NAME/` holding
//! - `NAME.txt`: `key= value` lines (`n_entradas=` features, `n_clases=` classes, `fich1=` the
//!   data file, `n_patrons1=` its rows, and for some sets `fich2=` a separate test file),
//! - the data files: tab-separated, a header row, an index column first, the standardized
//!   features, the integer class `clase` last,
//! - `conxuntos.dat`: two lines of 0-based row indices into `fich1` (training, then test rows),
//! - `conxuntos_kfold.dat`: 4-fold cross-validation as (training, test) line pairs.
//!
//! The split: where `fich2` exists, training is every row of `fich1` and test is `fich2`;
//! otherwise the two lines of `conxuntos.dat`. The collection preprocessed `fich2` apart from
//! `fich1`, and often differently: hayes-roth, horse-colic, hill-valley, image-segmentation,
//! soybean, spect and annealing hold raw test values beside standardized training values; the
//! monks sets a z-scored test file beside a scaled, uncentred training file. So each test
//! column is moved onto its training column's scale (its mean and standard deviation matched to
//! the training file's): the test features' own moments are used, never their labels.

use super::{Dataset, Labels};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// The environment variable `uci:NAME` is resolved under.
pub const ROOT_VAR: &str = "CVXNN_UCI_DIR";

/// One data set of the collection, with its split and folds.
#[derive(Debug, Clone)]
pub struct UciSet {
    pub name: String,
    /// The rows of `fich1`.
    pub data: Dataset,
    /// Training and test sets as the collection splits them (see the module note).
    pub train: Dataset,
    pub test: Dataset,
    /// The 4-fold cross-validation (training rows, test rows), indices into `data`.
    pub folds: Vec<(Vec<usize>, Vec<usize>)>,
    pub classes: usize,
}

/// Whether training row `r` is held out for validation: every 4th training row (positions 3,
/// 7, 11, ...), so a peer in any language can take the same rows.
fn is_validation(r: usize) -> bool {
    r % 4 == 3
}

impl UciSet {
    /// The validation rows, as indices into `train`.
    pub fn validation_rows(&self) -> Vec<usize> {
        (0..self.train.n()).filter(|&r| is_validation(r)).collect()
    }

    /// The training rows minus the validation rows, as indices into `train`.
    pub fn fit_rows(&self) -> Vec<usize> {
        (0..self.train.n()).filter(|&r| !is_validation(r)).collect()
    }
}

/// Whether `path` is a folder of this layout (it holds `<folder name>.txt`).
pub fn is_uci_dir(path: &Path) -> bool {
    path.is_dir() && path.file_name().is_some() && description(path).1.is_file()
}

/// `uci:NAME` to the folder `$CVXNN_UCI_DIR/NAME`.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    let name = spec.strip_prefix("uci:").unwrap_or(spec);
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::param(
            "data",
            format!("'{spec}': expected uci:NAME with NAME a data set's folder name"),
        ));
    }
    let root = std::env::var_os(ROOT_VAR).ok_or_else(|| {
        Error::param(
            "data",
            format!(
                "'{spec}' needs {ROOT_VAR} set to the collection's folder (or give --data DIR/{name})"
            ),
        )
    })?;
    Ok(PathBuf::from(root).join(name))
}

fn keys(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

fn key<'a>(kv: &'a [(String, String)], k: &str, path: &Path) -> Result<&'a str> {
    kv.iter()
        .find(|(name, _)| name == k)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| Error::format(path, format!("no '{k}=' line")))
}

fn number(kv: &[(String, String)], k: &str, path: &Path) -> Result<usize> {
    let v = key(kv, k, path)?;
    v.parse()
        .map_err(|_| Error::format(path, format!("'{k}= {v}' is not a whole number")))
}

/// Reads one data file: header row, index column, features, class last.
fn table(path: &Path, features: usize, rows: Option<usize>) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some(_) = lines.next() else {
        return Err(Error::format(path, "empty file (expected a header row)"));
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (k, line) in lines {
        let bad = |msg: String| Error::Csv {
            path: path.into(),
            line: k + 1,
            msg,
        };
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if fields.len() != features + 2 {
            return Err(bad(format!(
                "{} fields, expected {} (index, {features} features, class)",
                fields.len(),
                features + 2
            )));
        }
        for (j, f) in fields[1..].iter().enumerate() {
            match f.parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    if j < features {
                        x.push(v)
                    } else if v.fract() == 0.0 && v >= 0.0 {
                        y.push(v)
                    } else {
                        return Err(bad(format!("class '{f}' is not a class number")));
                    }
                }
                _ => return Err(bad(format!("field {}: '{f}' is not a number", j + 2))),
            }
        }
    }
    let n = y.len();
    if let Some(want) = rows.filter(|&r| r != n) {
        return Err(Error::format(
            path,
            format!("{n} rows, but the description says {want}"),
        ));
    }
    Ok(Dataset {
        x: Array2::from_shape_vec((n, features), x).expect("row length checked"),
        labels: Labels::Column(y),
        name: path.display().to_string(),
    })
}

/// Index lines: whitespace-separated 0-based row numbers, each < `n`.
fn index_lines(path: &Path, n: usize) -> Result<Vec<Vec<usize>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            l.split_whitespace()
                .map(|t| match t.parse::<usize>() {
                    Ok(i) if i < n => Ok(i),
                    _ => Err(Error::Csv {
                        path: path.into(),
                        line: k + 1,
                        msg: format!("'{t}' is not a row index below {n}"),
                    }),
                })
                .collect()
        })
        .collect()
}

/// The row count of the main data file as the description states it (`n_patrons1=`), read
/// without loading the data; `None` where the description has no such line.
pub fn described_rows(dir: &Path) -> Result<Option<usize>> {
    let (_, desc) = description(dir);
    Ok(number(&keys(&desc)?, "n_patrons1", &desc).ok())
}

/// The folder's name and its description file `NAME.txt`.
fn description(dir: &Path) -> (String, PathBuf) {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let desc = dir.join(format!("{name}.txt"));
    (name, desc)
}

/// Loads the folder `dir` (see the module note).
pub fn load_dir(dir: &Path) -> Result<UciSet> {
    let (name, desc) = description(dir);
    if !desc.is_file() {
        return Err(Error::format(
            dir,
            format!("not a UCI collection folder: {name}.txt is missing"),
        ));
    }
    let kv = keys(&desc)?;
    let features = number(&kv, "n_entradas", &desc)?;
    let classes = number(&kv, "n_clases", &desc)?;
    // Bounds that no data set of the collection comes near, so a corrupt description cannot
    // ask for absurd sizes.
    if features == 0 || classes < 2 || features > 1 << 24 || classes > 1 << 20 {
        return Err(Error::format(
            &desc,
            format!("{features} features and {classes} classes (need 1..2^24 and 2..2^20)"),
        ));
    }
    let rows1 = number(&kv, "n_patrons1", &desc).ok();
    let data = table(&dir.join(key(&kv, "fich1", &desc)?), features, rows1)?;
    let n = data.n();
    let split_path = dir.join("conxuntos.dat");
    let split = index_lines(&split_path, n)?;
    let folds_path = dir.join("conxuntos_kfold.dat");
    let fold_lines = if folds_path.exists() {
        index_lines(&folds_path, n)?
    } else {
        Vec::new()
    };
    if fold_lines.len() % 2 != 0 {
        return Err(Error::format(
            &folds_path,
            format!(
                "{} lines; expected (training, test) pairs",
                fold_lines.len()
            ),
        ));
    }
    let folds = fold_lines
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let (mut train, mut test) = match key(&kv, "fich2", &desc) {
        Ok(f2) => {
            let rows2 = number(&kv, "n_patrons2", &desc).ok();
            let mut test = table(&dir.join(f2), features, rows2)?;
            match_moments(&mut test.x, &data.x);
            (data.clone(), test)
        }
        Err(_) => {
            if split.len() < 2 || split[0].is_empty() || split[1].is_empty() {
                return Err(Error::format(
                    &split_path,
                    "expected two non-empty lines (training rows, test rows)",
                ));
            }
            (data.select(&split[0]), data.select(&split[1]))
        }
    };
    if train.n() < 4 {
        return Err(Error::Data(format!(
            "{name}: {} training rows (need at least 4 for the validation split)",
            train.n()
        )));
    }
    train.name = format!("{name} (train)");
    test.name = format!("{name} (test)");
    Ok(UciSet {
        name,
        data,
        train,
        test,
        folds,
        classes,
    })
}

/// Moves every column of `x` onto the scale of the same column of `reference`: mean and
/// standard deviation made equal to the reference's. A constant column of `x` (nothing to
/// scale) takes the reference's mean.
fn match_moments(x: &mut Array2<f64>, reference: &Array2<f64>) {
    let moments = |v: ndarray::ArrayView1<f64>| {
        let mean = v.mean().unwrap_or(0.0);
        (
            mean,
            v.mapv(|a| (a - mean) * (a - mean))
                .mean()
                .unwrap_or(0.0)
                .sqrt(),
        )
    };
    for (mut col, reference) in x.columns_mut().into_iter().zip(reference.columns()) {
        let ((mean, std), (to_mean, to_std)) = (moments(col.view()), moments(reference));
        if std > 1e-12 * (1.0 + mean.abs()) {
            col.mapv_inplace(|a| (a - mean) / std * to_std + to_mean);
        } else {
            col.fill(to_mean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_set(root: &Path, name: &str, desc: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.txt")), desc).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir
    }

    const ROWS: &str = "\tf1\tf2\tclase\n1\t0.5\t-1\t0\n2\t1.5\t2\t1\n3\t0\t0\t1\n4\t1\t1\t0\n5\t2\t2\t1\n6\t3\t3\t0\n";
    const DESC: &str = "n_entradas= 2\nn_clases= 2\nfich1= s_R.dat\nn_patrons1= 6\n";

    #[test]
    fn reads_the_split_and_the_folds() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = write_set(
            tmp.path(),
            "s",
            DESC,
            &[
                ("s_R.dat", ROWS),
                ("conxuntos.dat", "0 2 4 5\n1 3\n"),
                ("conxuntos_kfold.dat", "0 1 2\n3 4 5\n3 4 5\n0 1 2\n"),
            ],
        );
        assert!(is_uci_dir(&dir));
        let s = load_dir(&dir).unwrap();
        assert_eq!((s.data.n(), s.train.n(), s.test.n()), (6, 4, 2));
        assert_eq!(s.train.x[[1, 0]], 0.0); // row 2 of the file
        assert_eq!(s.test.x[[0, 1]], 2.0);
        assert_eq!(s.folds.len(), 2);
        assert_eq!(s.validation_rows(), vec![3]);
        assert_eq!(s.fit_rows(), vec![0, 1, 2]);
    }

    #[test]
    fn a_second_file_is_the_test_set() {
        let tmp = tempfile::tempdir().unwrap();
        let desc = format!("{DESC}fich2= t_R.dat\nn_patrons2= 3\n");
        let dir = write_set(
            tmp.path(),
            "s",
            &desc,
            &[
                ("s_R.dat", ROWS),
                // Raw values, as several of the collection's test files hold.
                (
                    "t_R.dat",
                    "\tf1\tf2\tclase\n1\t10\t9\t1\n2\t30\t9\t0\n3\t20\t9\t1\n",
                ),
                ("conxuntos.dat", "0 1 2\n3 4 5\n"),
            ],
        );
        let s = load_dir(&dir).unwrap();
        assert_eq!((s.train.n(), s.test.n()), (6, 3));
        // Moved onto the training columns' scale: same mean and spread, order kept.
        let moments = |v: Vec<f64>| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64;
            (m, var.sqrt())
        };
        let (m, sd) = moments(s.test.x.column(0).to_vec());
        let (tm, tsd) = moments(s.train.x.column(0).to_vec());
        assert!(
            (m - tm).abs() < 1e-12 && (sd - tsd).abs() < 1e-12,
            "{m} {sd} vs {tm} {tsd}"
        );
        assert!(s.test.x[[0, 0]] < s.test.x[[2, 0]] && s.test.x[[2, 0]] < s.test.x[[1, 0]]);
        // A constant test column takes the training mean.
        assert!(
            s.test
                .x
                .column(1)
                .iter()
                .all(|&a| (a - 7.0 / 6.0).abs() < 1e-12)
        );
    }

    #[test]
    fn malformed_folders_name_the_file_and_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        // (folder, description, files, what the error must say)
        type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                "a",
                "n_clases= 2\nfich1= s_R.dat\n".into(),
                vec![],
                "n_entradas",
            ),
            (
                "b",
                DESC.into(),
                vec![("conxuntos.dat", "0\n1\n")],
                "s_R.dat",
            ),
            (
                "c",
                DESC.into(),
                vec![
                    ("s_R.dat", "\tf1\tf2\tclase\n1\t0.5\t0\n"),
                    ("conxuntos.dat", "0\n1\n"),
                ],
                "3 fields",
            ),
            (
                "d",
                DESC.into(),
                vec![("s_R.dat", ROWS), ("conxuntos.dat", "0 1 9\n2\n")],
                "'9' is not a row index",
            ),
            (
                "e",
                DESC.into(),
                vec![("s_R.dat", ROWS), ("conxuntos.dat", "0 1 2 3\n")],
                "two non-empty lines",
            ),
            (
                "f",
                DESC.into(),
                vec![
                    ("s_R.dat", &ROWS[..ROWS.len() - 8]),
                    ("conxuntos.dat", "0\n1\n"),
                ],
                "5 rows, but the description says 6",
            ),
            (
                "g",
                DESC.into(),
                vec![
                    ("s_R.dat", "\tf1\tf2\tclase\n1\t0.5\t0\t0.5\n"),
                    ("conxuntos.dat", "0\n0\n"),
                ],
                "not a class number",
            ),
        ];
        for (name, desc, files, want) in cases {
            let dir = write_set(
                tmp.path(),
                name,
                &desc.replace("s_R", &format!("{name}_R")),
                &[],
            );
            for (f, text) in files {
                std::fs::write(dir.join(f.replace("s_R", &format!("{name}_R"))), text).unwrap();
            }
            let err = load_dir(&dir).unwrap_err().to_string();
            let want = want.replace("s_R", &format!("{name}_R"));
            assert!(err.contains(&want), "{name}: {err}");
        }
        let err = load_dir(&tmp.path().join("nothing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing.txt is missing"), "{err}");
    }
}
