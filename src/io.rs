//! Atomic file output: write a temporary file beside the target, then rename over it, so a
//! failed or interrupted run never leaves a half-written file.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Little-endian f64 tensor bytes as values; Err(k) when element k is not finite (model and
/// checkpoint files must hold none).
pub fn finite_f64_le(bytes: &[u8]) -> std::result::Result<Vec<f64>, usize> {
    let v: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    match v.iter().position(|x| !x.is_finite()) {
        Some(k) => Err(k),
        None => Ok(v),
    }
}

/// Partial files being written right now (downloads, atomic writes' temporaries): a process
/// ended by a second Ctrl-C deletes them on its way out.
static PARTIALS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

pub fn track_partial(p: &Path) {
    if let Ok(mut v) = PARTIALS.lock() {
        v.push(p.to_path_buf());
    }
}

pub fn untrack_partial(p: &Path) {
    if let Ok(mut v) = PARTIALS.lock() {
        v.retain(|q| q != p);
    }
}

/// Deletes every tracked partial file (called just before an immediate exit).
pub fn remove_partials() {
    // try_lock: a writer holding the lock at this instant is not waited for.
    if let Ok(v) = PARTIALS.try_lock() {
        for p in v.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

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
    track_partial(&tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    untrack_partial(&tmp);
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

/// What identifies a file on disk: its canonical path (symlinks resolved; for a file not yet
/// there, its folder's canonical path and its name), plus device and inode where it exists, so
/// a hard link to an input is caught too.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileId {
    path: Option<std::path::PathBuf>,
    inode: Option<(u64, u64)>,
}

impl FileId {
    fn of(p: &Path) -> FileId {
        let path = std::fs::canonicalize(p).ok().or_else(|| {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
        });
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
        };
        #[cfg(not(unix))]
        let inode = None;
        FileId { path, inode }
    }

    fn same(&self, other: &FileId) -> bool {
        (self.path.is_some() && self.path == other.path)
            || (self.inode.is_some() && self.inode == other.inode)
    }
}

/// The files a command reads and writes, checked together before any work starts: every
/// output's folder exists and takes a new file, and no output is an input or another output
/// (through any path, symlink or hard link), so that a run never overwrites what it reads.
#[derive(Default)]
pub struct FilePlan {
    inputs: Vec<(&'static str, std::path::PathBuf)>,
    outputs: Vec<(&'static str, std::path::PathBuf)>,
    /// (output flag, input flag) pairs where writing over the input is the point.
    updates: Vec<(&'static str, &'static str)>,
}

impl FilePlan {
    /// An input file; a name that is not a file on disk (a bundled data set) is skipped.
    pub fn input(&mut self, flag: &'static str, path: impl AsRef<Path>) -> &mut Self {
        let p = path.as_ref();
        if p.is_file() {
            self.inputs.push((flag, p.to_path_buf()));
        }
        self
    }

    pub fn output(&mut self, flag: &'static str, path: impl AsRef<Path>) -> &mut Self {
        self.outputs.push((flag, path.as_ref().to_path_buf()));
        self
    }

    /// Lets output `out` be the same file as input `input` (a checkpoint saved on from the one
    /// a run resumed).
    pub fn may_update(&mut self, out: &'static str, input: &'static str) -> &mut Self {
        self.updates.push((out, input));
        self
    }

    pub fn check(&self) -> Result<()> {
        let ins: Vec<FileId> = self.inputs.iter().map(|(_, p)| FileId::of(p)).collect();
        let mut outs: Vec<FileId> = Vec::new();
        for (flag, path) in &self.outputs {
            check_writable(path, flag)?;
            probe_folder(path, flag)?;
            let id = FileId::of(path);
            let clash = ins.iter().enumerate().position(|(k, i)| {
                i.same(&id) && !self.updates.contains(&(*flag, self.inputs[k].0))
            });
            if let Some(k) = clash {
                return Err(Error::param(
                    flag,
                    format!(
                        "{} is also the {} input ({}): it would be overwritten; write elsewhere",
                        path.display(),
                        self.inputs[k].0,
                        self.inputs[k].1.display()
                    ),
                ));
            }
            if let Some(k) = outs.iter().position(|o| o.same(&id)) {
                return Err(Error::param(
                    flag,
                    format!(
                        "{} is also the {} output: one would overwrite the other",
                        path.display(),
                        self.outputs[k].0
                    ),
                ));
            }
            outs.push(id);
        }
        Ok(())
    }
}

/// Creates and removes a scratch file in the output's folder: a read-only folder is reported
/// now, not after the solve.
fn probe_folder(path: &Path, flag: &'static str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".cvxnn-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::param(
            flag,
            format!(
                "{}: cannot write in {} ({e})",
                path.display(),
                dir.display()
            ),
        )),
    }
}
