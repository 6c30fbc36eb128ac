//! Fixtures and checks shared by the bad-input and signal tests (through the binary): small data files, raw NPY and
//! IDX bytes, safetensors files rewritten field by field, and a run that must fail cleanly.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cvxnn"));
    // What a new user has: no log filter, no Vulkan layer switches.
    c.env_remove("RUST_LOG").env_remove("NODEVICE_SELECT");
    c
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// A two-class CSV of `rows` rows and three features, label last.
pub fn small_csv(rows: usize, salt: usize) -> String {
    let mut s = String::new();
    for r in 0..rows {
        let a = ((r * 7 + salt) % 13) as f64 / 4.0 - 1.5;
        let b = ((r * 5 + 3 * salt) % 11) as f64 / 3.0 - 1.8;
        let c = ((r * 3) % 7) as f64 / 2.0 - 1.5;
        s.push_str(&format!("{a},{b},{c},{}\n", usize::from(a + b > 0.0)));
    }
    s
}

/// `.npy` bytes with any header text and body, for malformed-file cases.
pub fn npy_raw(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// IDX bytes of unsigned-byte data with the given dims and body.
pub fn idx_raw(dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Rewrites a safetensors file: `meta` edits the JSON under metadata key `key`, `tensor` edits
/// each tensor's f64 values by name.
pub fn rewrite_safetensors(
    from: &Path,
    to: &Path,
    key: &str,
    meta: impl FnOnce(&mut serde_json::Value),
    mut tensor: impl FnMut(&str, &mut Vec<f64>),
) {
    use safetensors::{Dtype, SafeTensors, tensor::TensorView};
    let data = std::fs::read(from).unwrap();
    let st = SafeTensors::deserialize(&data).unwrap();
    let (_, header) = SafeTensors::read_metadata(&data).unwrap();
    let mut info: std::collections::HashMap<String, String> =
        header.metadata().clone().unwrap_or_default();
    let mut m: serde_json::Value = serde_json::from_str(&info[key]).unwrap();
    meta(&mut m);
    info.insert(key.to_string(), m.to_string());
    let mut arrays: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), Dtype::F64);
        let mut v: Vec<f64> = view
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        tensor(&name, &mut v);
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        arrays.push((name, view.shape().to_vec(), bytes));
    }
    let views: Vec<(String, TensorView)> = arrays
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(to, safetensors::serialize(views, Some(info)).unwrap()).unwrap();
}

/// Every file under `dir` (recursively) with a hash of its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(
                    p,
                    cvxnn::data::content_hash(bytes.iter().map(|&b| b as f64)),
                );
            } else {
                out.insert(p, 0);
            }
        }
    }
    out
}

/// Runs cvxnn with `args` and checks a clean refusal: exit 2, exactly one stderr line, which
/// names every `needles` entry, no panic, and no file under `dir` created, removed or changed.
pub fn expect_refusal(dir: &Path, args: &[String], needles: &[&str]) -> Output {
    let before = snapshot(dir);
    let out = bin().args(args).current_dir(dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected one stderr line, got {lines:#?}"
    );
    for n in needles {
        assert!(lines[0].contains(n), "{args:?}: '{}' lacks '{n}'", lines[0]);
    }
    assert_eq!(
        before,
        snapshot(dir),
        "{args:?} changed the files in {}",
        dir.display()
    );
    out
}

pub fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
