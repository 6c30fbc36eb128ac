//! Atomic file output: write a temporary file beside the target, then rename over it, so a
//! failed or interrupted run never leaves a half-written file.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::format(path, "not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Checks that a file can be created at `path` (its folder exists), before hours of work.
pub fn check_writable(path: &Path, flag: &'static str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::param(
            flag,
            format!(
                "{}: folder {} does not exist",
                path.display(),
                dir.display()
            ),
        ));
    }
    if path.is_dir() {
        return Err(Error::param(
            flag,
            format!("{} is a folder, not a file", path.display()),
        ));
    }
    Ok(())
}
