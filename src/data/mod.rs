//! Data sets: loaders for the bundled digits, CSV, NPY/NPZ, MNIST IDX and CIFAR-10 binary
//! files, the UCI collection's folders, the seeded train/test split and the column preprocessing.

pub mod cifar;
pub mod csv;
pub mod idx;
pub mod npy;
pub mod preprocess;
pub mod uci;

use crate::error::{Error, Result};
use crate::rng::Rng;
use ndarray::{Array2, Axis};
use std::path::{Path, PathBuf};

/// The UCI optical digits (scikit-learn's copy, CC BY 4.0): 1,797 rows, 64 features, label last.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("digits.csv.gz");
pub const BUNDLED: &[&str] = &["digits"];

#[derive(Debug, Clone)]
pub enum Labels {
    /// One value per row (class labels or a single regression target).
    Column(Vec<f64>),
    /// n x c real targets.
    Matrix(Array2<f64>),
    /// The file had no labels (prediction only).
    Missing,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub x: Array2<f64>,
    pub labels: Labels,
    pub name: String,
}

/// Where the label sits in a CSV or 2-D `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelColumn {
    /// 0-based index; negative counts from the end (-1 = last).
    Index(i64),
    /// A name from the CSV header row.
    Name(String),
}

impl std::str::FromStr for LabelColumn {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.parse::<i64>() {
            Ok(i) => LabelColumn::Index(i),
            Err(_) if !s.is_empty() => LabelColumn::Name(s.to_string()),
            Err(_) => return Err("empty label column".into()),
        })
    }
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub label_column: LabelColumn,
    /// When set (prediction), a file with exactly this many columns is read as features only.
    pub features_only_if: Option<usize>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            label_column: LabelColumn::Index(-1),
            features_only_if: None,
        }
    }
}

impl Dataset {
    pub fn n(&self) -> usize {
        self.x.nrows()
    }
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    pub fn select(&self, rows: &[usize]) -> Dataset {
        let labels = match &self.labels {
            Labels::Column(v) => Labels::Column(rows.iter().map(|&r| v[r]).collect()),
            Labels::Matrix(m) => Labels::Matrix(m.select(Axis(0), rows)),
            Labels::Missing => Labels::Missing,
        };
        Dataset {
            x: self.x.select(Axis(0), rows),
            labels,
            name: self.name.clone(),
        }
    }

    /// Checks the values are finite and the label count matches the row count.
    pub fn validate(&self) -> Result<()> {
        if self.n() == 0 || self.d() == 0 {
            return Err(Error::Data(format!(
                "{}: empty data set ({} rows, {} features)",
                self.name,
                self.n(),
                self.d()
            )));
        }
        if let Some(((r, c), _)) = self.x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Data(format!(
                "{}: non-finite feature value at row {}, column {}",
                self.name,
                r + 1,
                c + 1
            )));
        }
        let (count, bad) = match &self.labels {
            Labels::Column(v) => (v.len(), v.iter().position(|y| !y.is_finite())),
            Labels::Matrix(m) => (
                m.nrows(),
                m.iter().position(|y| !y.is_finite()).map(|k| k / m.ncols()),
            ),
            Labels::Missing => (self.n(), None),
        };
        if count != self.n() {
            return Err(Error::shape(
                format!("{}: label count", self.name),
                format!("{} (one per row)", self.n()),
                count.to_string(),
            ));
        }
        if let Some(r) = bad {
            return Err(Error::Data(format!(
                "{}: non-finite label at row {}",
                self.name,
                r + 1
            )));
        }
        Ok(())
    }
}

/// Loads `spec`: a bundled data set by name, or a path (CSV, `.csv.gz`, `.npy`, `.npz`, an IDX
/// images file, a directory holding MNIST-style IDX files or CIFAR-10 batches, a UCI collection
/// folder, or `uci:NAME` under `$CVXNN_UCI_DIR`). The second value is a test set that came with
/// the source (the `t10k-*` files of an IDX directory, a UCI set's test rows), if any.
pub fn load(spec: &str, opts: &LoadOptions) -> Result<(Dataset, Option<Dataset>)> {
    if BUNDLED.contains(&spec) {
        let text =
            gunzip(DIGITS_CSV_GZ).map_err(|e| Error::format("<bundled digits>", e.to_string()))?;
        let ds = csv::parse(&text, Path::new("<bundled digits>"), opts)?;
        return Ok((
            Dataset {
                name: spec.to_string(),
                ..ds
            },
            None,
        ));
    }
    let path = if spec.starts_with("uci:") {
        uci::resolve(spec)?
    } else {
        PathBuf::from(spec)
    };
    if uci::is_uci_dir(&path) || (spec.starts_with("uci:") && path.exists()) {
        let set = uci::load_dir(&path)?;
        return Ok((set.train, Some(set.test)));
    }
    if !path.exists() {
        return Err(Error::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no such file or directory (bundled data sets: {})",
                    BUNDLED.join(", ")
                ),
            ),
        ));
    }
    if path.is_dir() {
        if cifar::is_cifar_dir(&path) {
            return cifar::load_dir(&path);
        }
        return idx::load_dir(&path);
    }
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ds = if name.ends_with(".npz") {
        npz_dataset(&path)?
    } else if name.ends_with(".npy") {
        let arr = npy::read_npy_file(&path)?;
        if arr.shape.len() != 2 {
            return Err(Error::format(
                &path,
                format!("expected a 2-D array, got shape {:?}", arr.shape),
            ));
        }
        let x =
            Array2::from_shape_vec((arr.shape[0], arr.shape[1]), arr.data).expect("shape checked");
        split_label_column(x, &path, opts)?
    } else if name.contains("idx3-ubyte") {
        idx::load_pair(&path)?
    } else if name.ends_with(".bin") {
        cifar::load_files(std::slice::from_ref(&path), name.clone())?
    } else {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let text = if name.ends_with(".gz") {
            gunzip(&bytes).map_err(|e| Error::format(&path, format!("bad gzip data: {e}")))?
        } else {
            String::from_utf8(bytes)
                .map_err(|_| Error::format(&path, "not UTF-8 text (expected CSV)"))?
        };
        csv::parse(&text, &path, opts)?
    };
    Ok((ds, None))
}

fn gunzip(bytes: &[u8]) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut s)?;
    Ok(s)
}

fn npz_dataset(path: &Path) -> Result<Dataset> {
    let arrays = npy::read_npz_file(path)?;
    let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a.clone());
    let xa = get("X").ok_or_else(|| Error::format(path, "archive has no array named 'X'"))?;
    if xa.shape.len() != 2 {
        return Err(Error::format(
            path,
            format!("X must be 2-D (n x d), got shape {:?}", xa.shape),
        ));
    }
    let x = Array2::from_shape_vec((xa.shape[0], xa.shape[1]), xa.data).expect("shape checked");
    let labels = match get("y") {
        None => Labels::Missing,
        Some(ya) => match ya.shape.len() {
            1 => Labels::Column(ya.data),
            2 if ya.shape[1] == 1 => Labels::Column(ya.data),
            2 => Labels::Matrix(
                Array2::from_shape_vec((ya.shape[0], ya.shape[1]), ya.data).expect("shape checked"),
            ),
            _ => {
                return Err(Error::format(
                    path,
                    format!("y must be 1-D or 2-D, got shape {:?}", ya.shape),
                ));
            }
        },
    };
    Ok(Dataset {
        x,
        labels,
        name: path.display().to_string(),
    })
}

/// Splits a numeric table into features and the label column chosen by `opts`.
pub(crate) fn split_label_column(
    table: Array2<f64>,
    path: &Path,
    opts: &LoadOptions,
) -> Result<Dataset> {
    let name = path.display().to_string();
    let cols = table.ncols();
    if opts.features_only_if == Some(cols) {
        return Ok(Dataset {
            x: table,
            labels: Labels::Missing,
            name,
        });
    }
    let k = match &opts.label_column {
        LabelColumn::Index(i) => {
            let k = if *i < 0 { cols as i64 + i } else { *i };
            if k < 0 || k >= cols as i64 {
                return Err(Error::param(
                    "label_column",
                    format!("{i} is out of range for {name} with {cols} columns"),
                ));
            }
            k as usize
        }
        LabelColumn::Name(n) => {
            return Err(Error::param(
                "label_column",
                format!("'{n}': {name} has no header row to look names up in"),
            ));
        }
    };
    if cols < 2 {
        return Err(Error::format(
            path,
            "need at least one feature column and one label column",
        ));
    }
    let labels = table.column(k).to_vec();
    let keep: Vec<usize> = (0..cols).filter(|&j| j != k).collect();
    Ok(Dataset {
        x: table.select(Axis(1), &keep),
        labels: Labels::Column(labels),
        name,
    })
}

/// A 64-bit hash of a sequence of values (their exact bits), for run fingerprints: two arrays
/// with the same hash are, for all practical purposes, the same content.
pub fn content_hash(values: impl Iterator<Item = f64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut len: u64 = 0;
    for v in values {
        h = (h ^ v.to_bits())
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
        len += 1;
    }
    // A final avalanche (splitmix64) so nearby inputs give unrelated hashes.
    let mut z = h ^ len.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded random split; returns (train, test). `test_fraction` 0 gives an empty test set.
pub fn split(ds: &Dataset, test_fraction: f64, seed: u64) -> (Dataset, Option<Dataset>) {
    let n = ds.n();
    let n_test = (test_fraction * n as f64).round() as usize;
    if n_test == 0 {
        return (ds.clone(), None);
    }
    let mut idx: Vec<usize> = (0..n).collect();
    // A stream distinct from the gates' one, so changing --gates does not change the split.
    Rng::new(seed ^ 0x5EED_5EED_0000_0001).shuffle(&mut idx);
    let (test, train) = idx.split_at(n_test);
    let mut train = train.to_vec();
    let mut test = test.to_vec();
    train.sort_unstable();
    test.sort_unstable();
    (ds.select(&train), Some(ds.select(&test)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_digits_shape() {
        let (ds, test) = load("digits", &LoadOptions::default()).unwrap();
        assert!(test.is_none());
        assert_eq!((ds.n(), ds.d()), (1797, 64));
        let Labels::Column(y) = &ds.labels else {
            panic!("labels")
        };
        for c in 0..10 {
            let count = y.iter().filter(|&&v| v == c as f64).count();
            assert!((170..=185).contains(&count), "class {c}: {count}");
        }
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let (ds, _) = load("digits", &LoadOptions::default()).unwrap();
        let (a, b) = split(&ds, 0.2, 1);
        let (a2, _) = split(&ds, 0.2, 1);
        let (a3, _) = split(&ds, 0.2, 2);
        assert_eq!(b.as_ref().unwrap().n(), 359);
        assert_eq!(a.n(), 1797 - 359);
        assert_eq!(a.x, a2.x);
        assert_ne!(a.x, a3.x);
    }
}
