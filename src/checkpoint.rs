//! Solver checkpoint files: safetensors with the R-FISTA iterate `u` and extrapolated point `v`
//! (f64, (c, p, d) flattened), the predictions and gradient at V (`p_v`, `g_v`; on the lifted
//! path also `z_u`, `z_v`, the products X U^T), the best dual value per output `best_dual`
//! (where a gap was formed), so that a resumed run retraces the
//! uninterrupted one bit for bit; for
//! augmented Lagrangian runs also the multipliers `gamma`, and a
//! metadata entry `cvxnn-checkpoint` holding the scalars of [`FistaState`] (and [`AlState`])
//! and a fingerprint of the run (data, gates, sizes, lam, ...) so that a resume with other
//! settings is refused instead of silently continuing a different problem.
//! Written atomically: an interrupted save leaves the previous checkpoint intact.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::solver::{AlState, FistaState};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

const KEY: &str = "cvxnn-checkpoint";

#[derive(Serialize, Deserialize)]
struct Meta<'a> {
    iteration: usize,
    t: f64,
    eta: f64,
    f_init: f64,
    failures: usize,
    /// The AL's scalars; borrowed on save so the multipliers are not copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    al: Option<Cow<'a, AlState>>,
    fingerprint: serde_json::Value,
}

/// Saves an R-FISTA state, with the augmented Lagrangian's outer state when `al` is given.
pub fn save(
    path: &Path,
    state: &FistaState,
    al: Option<&AlState>,
    fingerprint: &serde_json::Value,
) -> Result<()> {
    let meta = Meta {
        iteration: state.iteration,
        t: state.t,
        eta: state.eta,
        f_init: state.f_init,
        failures: state.failures,
        al: al.map(Cow::Borrowed),
        fingerprint: fingerprint.clone(),
    };
    let bytes = |a: &[f64]| a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let mut arrays = vec![("u", bytes(&state.u)), ("v", bytes(&state.v))];
    if let Some([zu, zv]) = &state.z {
        arrays.push(("z_u", bytes(zu)));
        arrays.push(("z_v", bytes(zv)));
    }
    if let Some([pv, gv]) = &state.at_v {
        arrays.push(("p_v", bytes(pv)));
        arrays.push(("g_v", bytes(gv)));
    }
    if let Some(b) = &state.best_dual {
        arrays.push(("best_dual", bytes(b)));
    }
    if let Some(a) = al {
        arrays.push(("gamma", bytes(&a.gamma)));
    }
    let views: Vec<(&str, TensorView)> = arrays
        .iter()
        .map(|(name, b)| {
            let view = TensorView::new(Dtype::F64, vec![b.len() / 8], b).expect("sizes match");
            (*name, view)
        })
        .collect();
    let info = HashMap::from([(
        KEY.to_string(),
        serde_json::to_string(&meta).expect("metadata serializes"),
    )]);
    let data = safetensors::serialize(views, Some(info)).map_err(|e| Error::Model {
        path: path.into(),
        msg: e.to_string(),
    })?;
    write_atomic(path, &data)
}

/// Loads a checkpoint and checks that it was made for `fingerprint`; the outer state is there
/// for augmented Lagrangian runs.
pub fn load(path: &Path, fingerprint: &serde_json::Value) -> Result<(FistaState, Option<AlState>)> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&data, path, fingerprint)
}

/// Parses and validates a checkpoint's bytes (`path` names it in errors): the fingerprint must
/// match, every tensor must be finite and of the size the state implies, and the scalars must
/// be ones a solver can continue from (t >= 1, step > 0, multipliers >= 0).
pub fn from_bytes(
    data: &[u8],
    path: &Path,
    fingerprint: &serde_json::Value,
) -> Result<(FistaState, Option<AlState>)> {
    let bad = |msg: String| Error::param("resume", format!("{}: {msg}", path.display()));
    let st = SafeTensors::deserialize(data)
        .map_err(|e| bad(format!("not a checkpoint (safetensors: {e})")))?;
    let (_, header) = SafeTensors::read_metadata(data).map_err(|e| bad(e.to_string()))?;
    let meta: Meta = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(KEY))
        .ok_or_else(|| bad("no cvxnn-checkpoint metadata (a model file?)".into()))
        .and_then(|j| serde_json::from_str(j).map_err(|e| bad(format!("bad metadata: {e}"))))?;
    if &meta.fingerprint != fingerprint {
        return Err(bad(format!(
            "made for another run: {} (this run: {})",
            meta.fingerprint, fingerprint
        )));
    }
    let get = |name: &str| -> Result<Vec<f64>> {
        let t = st
            .tensor(name)
            .map_err(|_| bad(format!("missing tensor '{name}'")))?;
        if t.dtype() != Dtype::F64 {
            return Err(bad(format!("tensor '{name}' is not F64")));
        }
        crate::io::finite_f64_le(t.data()).map_err(|k| {
            bad(format!(
                "tensor '{name}' holds a non-finite value at element {k}"
            ))
        })
    };
    let al = match meta.al {
        Some(a) => Some(AlState {
            gamma: get("gamma")?,
            ..a.into_owned()
        }),
        None => None,
    };
    let st = FistaState {
        iteration: meta.iteration,
        t: meta.t,
        eta: meta.eta,
        f_init: meta.f_init,
        failures: meta.failures,
        u: get("u")?,
        v: get("v")?,
        z: match (st.tensor("z_u").is_ok(), st.tensor("z_v").is_ok()) {
            (true, true) => Some([get("z_u")?, get("z_v")?]),
            (false, false) => None,
            _ => return Err(bad("tensors 'z_u' and 'z_v' come together".into())),
        },
        at_v: match (st.tensor("p_v").is_ok(), st.tensor("g_v").is_ok()) {
            (true, true) => Some([get("p_v")?, get("g_v")?]),
            (false, false) => None,
            _ => return Err(bad("tensors 'p_v' and 'g_v' come together".into())),
        },
        best_dual: match st.tensor("best_dual") {
            Ok(_) => Some(get("best_dual")?),
            Err(_) => None,
        },
    };
    if st.u.len() != st.v.len() {
        return Err(bad(format!(
            "tensors 'u' and 'v' differ in size ({} and {})",
            st.u.len(),
            st.v.len()
        )));
    }
    if let Some([zu, zv]) = &st.z
        && zu.len() != zv.len()
    {
        return Err(bad(format!(
            "tensors 'z_u' and 'z_v' differ in size ({} and {})",
            zu.len(),
            zv.len()
        )));
    }
    let scalar = |name: &str, v: f64, ok: bool| {
        if ok && v.is_finite() {
            Ok(())
        } else {
            Err(bad(format!("{name} = {v} is not a resumable state")))
        }
    };
    scalar("t", st.t, st.t >= 1.0)?;
    scalar("step", st.eta, st.eta > 0.0)?;
    scalar("f_init", st.f_init, true)?;
    if let Some(a) = &al {
        scalar("delta", a.delta, a.delta > 0.0)?;
        scalar("inner_tol", a.inner_tol, a.inner_tol > 0.0)?;
        if let Some(k) = a.gamma.iter().position(|&g| g < 0.0) {
            return Err(bad(format!("multiplier {k} is negative")));
        }
    }
    Ok((st, al))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fingerprint_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        let st = FistaState {
            iteration: 7,
            t: 3.5,
            eta: 0.25,
            f_init: 0.05,
            failures: 1,
            u: vec![1.0, -2.0, 0.5],
            v: vec![0.0, 1e-300, 3.0],
            z: Some([vec![0.5, -1.0], vec![2.0, 1e-200]]),
            at_v: Some([vec![0.25], vec![1.0, 2.0, -3.0]]),
            best_dual: Some(vec![0.01, 0.02]),
        };
        let fp = serde_json::json!({"lambda": 1e-5, "gates": 200});
        save(&p, &st, None, &fp).unwrap();
        assert_eq!(load(&p, &fp).unwrap(), (st.clone(), None));
        let al = AlState {
            base: 40,
            outer: 3,
            delta: 0.125,
            inner_tol: 2.5e-7,
            rounds: 2,
            initial_phase: false,
            gamma: vec![0.0, 0.5, 1e-9, 2.0],
        };
        save(&p, &st, Some(&al), &fp).unwrap();
        assert_eq!(load(&p, &fp).unwrap(), (st, Some(al)));
        let other = serde_json::json!({"lambda": 1e-4, "gates": 200});
        let e = load(&p, &other).unwrap_err().to_string();
        assert!(e.contains("resume") && e.contains("another run"), "{e}");
    }
}
