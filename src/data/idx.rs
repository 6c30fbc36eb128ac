//! The IDX format of MNIST and Fashion-MNIST (gzipped or not). Pixels are scaled to [0, 1].

use super::{Dataset, Labels};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads an IDX file into (dims, bytes). Only unsigned-byte data (type 0x08) is supported.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(raw, path)
}

/// Parses the bytes of an IDX file (gzipped or not); `path` names it in errors.
pub fn parse_idx(raw: Vec<u8>, path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("bad gzip data: {e}")))?;
        out
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::format(path, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "IDX data type 0x{:02x} unsupported (only unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    let head = 4 + 4 * ndim;
    if bytes.len() < head {
        return Err(Error::format(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|k| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().unwrap()) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("IDX dims {dims:?} overflow the element count"),
            )
        })?;
    if bytes.len() - head != count {
        return Err(Error::format(
            path,
            format!(
                "IDX dims {dims:?} need {count} data bytes, file has {}",
                bytes.len() - head
            ),
        ));
    }
    Ok((dims, bytes[head..].to_vec()))
}

/// An images file and the labels file beside it (`...images-idx3...` -> `...labels-idx1...`).
pub fn load_pair(images: &Path) -> Result<Dataset> {
    let name = images
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let labels = images.with_file_name(name.replace("images-idx3", "labels-idx1"));
    load_files(images, &labels)
}

fn load_files(images: &Path, labels: &Path) -> Result<Dataset> {
    let (dims, pix) = read_idx(images)?;
    if dims.len() < 2 {
        return Err(Error::format(
            images,
            format!("expected images (n x h x w), got dims {dims:?}"),
        ));
    }
    let n = dims[0];
    let d: usize = dims[1..].iter().product();
    let (ldims, lab) = read_idx(labels)?;
    if ldims.len() != 1 || ldims[0] != n {
        return Err(Error::shape(
            format!("labels in {}", labels.display()),
            format!("[{n}] (one per image in {})", images.display()),
            format!("{ldims:?}"),
        ));
    }
    let x = Array2::from_shape_vec((n, d), pix.iter().map(|&b| b as f64 / 255.0).collect())
        .expect("dims");
    Ok(Dataset {
        x,
        labels: Labels::Column(lab.iter().map(|&b| b as f64).collect()),
        name: images.display().to_string(),
    })
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

/// A directory in the MNIST layout: `train-images-idx3-ubyte[.gz]` etc.; the `t10k-*` pair, when
/// present, is returned as the test set.
pub fn load_dir(dir: &Path) -> Result<(Dataset, Option<Dataset>)> {
    let pair = |prefix: &str| -> Option<(PathBuf, PathBuf)> {
        Some((
            find(dir, &format!("{prefix}-images-idx3-ubyte"))?,
            find(dir, &format!("{prefix}-labels-idx1-ubyte"))?,
        ))
    };
    let (ti, tl) = pair("train").ok_or_else(|| {
        Error::format(
            dir,
            "directory holds no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]",
        )
    })?;
    let train = load_files(&ti, &tl)?;
    let test = match pair("t10k") {
        Some((i, l)) => Some(load_files(&i, &l)?),
        None => None,
    };
    Ok((train, test))
}
