//! Minimal reader for NumPy `.npy` arrays and `.npz` archives (numbers only, any byte order,
//! C or Fortran order). Values come back as f64 in C (row-major) order.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    /// True when the stored dtype is an integer or boolean type.
    pub integer: bool,
}

pub fn read_npy_file(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|m| Error::format(path, m))
}

/// Reads every array of a `.npz` archive, keyed by name without the `.npy` suffix.
pub fn read_npz_file(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    parse_npz(file, path)
}

/// Reads every array of a `.npz` archive from `reader`; `path` names it in errors.
pub fn parse_npz<R: Read + std::io::Seek>(
    reader: R,
    path: &Path,
) -> Result<Vec<(String, NpyArray)>> {
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| Error::format(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut out = Vec::new();
    for k in 0..zip.len() {
        let mut entry = zip
            .by_index(k)
            .map_err(|e| Error::format(path, format!("cannot read archive entry {k}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| Error::format(path, format!("bad entry name {k}: {e}")))?
            .trim_end_matches(".npy")
            .to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| Error::format(path, format!("cannot read entry {name}: {e}")))?;
        let arr =
            parse_npy(&bytes).map_err(|m| Error::format(path, format!("array {name}: {m}")))?;
        out.push((name, arr));
    }
    Ok(out)
}

fn header_value<'a>(header: &'a str, key: &str) -> std::result::Result<&'a str, String> {
    let pat = format!("'{key}':");
    let start = header
        .find(&pat)
        .ok_or_else(|| format!("npy header lacks '{key}'"))?
        + pat.len();
    Ok(header[start..].trim_start())
}

pub fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic bytes)".into());
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(hstart..hstart + hlen)
            .ok_or("truncated .npy header")?,
    )
    .map_err(|_| "npy header is not text")?;
    let descr_v = header_value(header, "descr")?;
    let descr = descr_v
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or("cannot parse dtype in npy header")?;
    let fortran = header_value(header, "fortran_order")?.starts_with("True");
    let shape_v = header_value(header, "shape")?;
    let shape_s = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("cannot parse shape in npy header")?;
    let shape: Vec<usize> = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry '{s}'"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| format!("shape {shape:?} has more elements than memory can hold"))?;
    let (code, size, big) = dtype(descr)?;
    let body = &bytes[hstart + hlen..];
    let need = count
        .checked_mul(size)
        .ok_or_else(|| format!("shape {shape:?} has more bytes than memory can hold"))?;
    if body.len() < need {
        return Err(format!(
            "data truncated: shape {shape:?} of {descr} needs {need} bytes, file has {}",
            body.len()
        ));
    }
    let mut data = Vec::with_capacity(count);
    let mut integer = true;
    for k in 0..count {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(&body[k * size..(k + 1) * size]);
        if big {
            b[..size].reverse();
        }
        let v = match (code, size) {
            ('f', 4) => {
                integer = false;
                f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
            }
            ('f', 8) => {
                integer = false;
                f64::from_le_bytes(b)
            }
            ('i', 1) => b[0] as i8 as f64,
            ('i', 2) => i16::from_le_bytes([b[0], b[1]]) as f64,
            ('i', 4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            ('i', 8) => i64::from_le_bytes(b) as f64,
            ('u', 1) | ('b', 1) => b[0] as f64,
            ('u', 2) => u16::from_le_bytes([b[0], b[1]]) as f64,
            ('u', 4) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            ('u', 8) => u64::from_le_bytes(b) as f64,
            _ => return Err(format!("unsupported dtype '{descr}' (numbers only)")),
        };
        data.push(v);
    }
    if count == 0 {
        integer = code != 'f';
    }
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0.0; count];
        for i in 0..r {
            for j in 0..c {
                t[i * c + j] = data[j * r + i];
            }
        }
        data = t;
    } else if fortran && shape.len() > 2 {
        return Err("Fortran-ordered arrays of more than 2 dimensions are not supported".into());
    }
    Ok(NpyArray {
        shape,
        data,
        integer,
    })
}

/// Splits a dtype string such as `<f8` into (kind, item size, big-endian), accepting only the
/// numeric kinds the reader decodes, so that no item is wider than 8 bytes.
fn dtype(descr: &str) -> std::result::Result<(char, usize, bool), String> {
    let unsupported = || format!("unsupported dtype '{descr}' (numbers of up to 8 bytes only)");
    let mut chars = descr.chars();
    let big = match chars.next() {
        Some('>') => true,
        Some('<' | '|' | '=') => false,
        _ => return Err(unsupported()),
    };
    let code = chars.next().ok_or_else(unsupported)?;
    let size: usize = chars.as_str().parse().map_err(|_| unsupported())?;
    match (code, size) {
        ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1) => Ok((code, size, big)),
        _ => Err(unsupported()),
    }
}

/// Encodes a C-ordered f64 array as `.npy` bytes (used by tests and by tools that export gates).
pub fn to_npy_bytes(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_fortran() {
        let bytes = to_npy_bytes(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1., 2., 3., 4., 5., 6.]);
        assert!(!a.integer);
        // The same bytes flagged Fortran order: the reader must transpose.
        let mut fb = bytes.clone();
        let at = fb.windows(5).position(|w| w == b"False").unwrap();
        fb[at..at + 5].copy_from_slice(b"True ");
        let f = parse_npy(&fb).unwrap();
        assert_eq!(f.data, vec![1., 3., 5., 2., 4., 6.]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            parse_npy(b"hello world, not numpy")
                .unwrap_err()
                .contains("magic")
        );
    }
}
