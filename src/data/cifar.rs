//! CIFAR-10 "binary version": files of records of 1 label byte followed by 3,072 pixel bytes
//! (channel-major 3 x 32 x 32: the red plane, then green, then blue, each row-major). Pixels
//! are scaled to [0, 1]; the feature order is the file's (channel, row, column), which is what
//! `--gate-type conv --image 3,32,32` expects.

use super::{Dataset, Labels};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

pub const PIXELS: usize = 3 * 32 * 32;
const RECORD: usize = 1 + PIXELS;

/// Reads one or more batch files into one data set.
pub fn load_files(files: &[PathBuf], name: String) -> Result<Dataset> {
    let mut x: Vec<f64> = Vec::new();
    let mut labels: Vec<f64> = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        parse_records(&bytes, f, &mut x, &mut labels)?;
    }
    let n = labels.len();
    Ok(Dataset {
        x: Array2::from_shape_vec((n, PIXELS), x).expect("whole records"),
        labels: Labels::Column(labels),
        name,
    })
}

/// Appends the records of one batch file's bytes to `x` (scaled pixels) and `labels`.
pub fn parse_records(
    bytes: &[u8],
    f: &Path,
    x: &mut Vec<f64>,
    labels: &mut Vec<f64>,
) -> Result<()> {
    {
        if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
            return Err(Error::format(
                f,
                format!(
                    "{} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes: 1 label + 3 x 32 x 32 pixels)",
                    bytes.len()
                ),
            ));
        }
        for (k, rec) in bytes.chunks_exact(RECORD).enumerate() {
            if rec[0] > 9 {
                return Err(Error::format(
                    f,
                    format!(
                        "record {k}: label {} is not a CIFAR-10 class (0..9)",
                        rec[0]
                    ),
                ));
            }
            labels.push(rec[0] as f64);
            x.extend(rec[1..].iter().map(|&b| b as f64 / 255.0));
        }
    }
    Ok(())
}

/// Whether `dir` looks like the CIFAR-10 binary folder.
pub fn is_cifar_dir(dir: &Path) -> bool {
    dir.join("data_batch_1.bin").exists()
}

/// The folder `cifar-10-batches-bin`: `data_batch_1.bin` .. `data_batch_5.bin` (those present,
/// at least the first) for training and `test_batch.bin`, when present, for testing.
pub fn load_dir(dir: &Path) -> Result<(Dataset, Option<Dataset>)> {
    let train: Vec<PathBuf> = (1..=5)
        .map(|k| dir.join(format!("data_batch_{k}.bin")))
        .take_while(|p| p.exists())
        .collect();
    if train.is_empty() {
        return Err(Error::format(dir, "directory holds no data_batch_1.bin"));
    }
    let name = format!("cifar10 {}", dir.display());
    let tr = load_files(&train, name.clone())?;
    let test = dir.join("test_batch.bin");
    let te = if test.exists() {
        Some(load_files(&[test], format!("{name} (test)"))?)
    } else {
        None
    };
    Ok((tr, te))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, seed: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..PIXELS).map(|i| (i as u8).wrapping_mul(seed)));
        r
    }

    #[test]
    fn reads_batches_and_test_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("data_batch_1.bin"),
            [record(3, 1), record(9, 2)].concat(),
        )
        .unwrap();
        std::fs::write(d.join("data_batch_2.bin"), record(0, 3)).unwrap();
        std::fs::write(d.join("test_batch.bin"), record(7, 5)).unwrap();
        assert!(is_cifar_dir(d));
        let (tr, te) = load_dir(d).unwrap();
        assert_eq!(tr.x.dim(), (3, PIXELS));
        match &tr.labels {
            Labels::Column(l) => assert_eq!(l, &vec![3.0, 9.0, 0.0]),
            _ => panic!("labels"),
        }
        // Record 2 (seed 2), pixel 1,025 = green plane, row 0, column 1: byte 1025 * 2 mod 256.
        assert!((tr.x[[1, 1025]] - ((1025u32 * 2) % 256) as f64 / 255.0).abs() < 1e-12);
        assert_eq!(te.unwrap().x.nrows(), 1);
    }

    #[test]
    fn rejects_truncated_files_and_bad_labels() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("data_batch_1.bin");
        std::fs::write(&f, &record(1, 1)[..1000]).unwrap();
        let e = load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("data_batch_1.bin") && e.contains("1000 bytes"),
            "{e}"
        );
        std::fs::write(&f, record(12, 1)).unwrap();
        let e = load_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("label 12"), "{e}");
    }
}
