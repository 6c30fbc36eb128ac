//! What a solve running with the GIL released reports to Python: progress lines to a logging
//! callable, and Ctrl-C, which Python only sees when it runs its signal handlers.

use cvxnn::solver::{IterInfo, Observer};
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a solve takes the GIL back to run Python's signal handlers.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Polls Python's signal handlers (a pending SIGINT raises KeyboardInterrupt there) and keeps
/// the first Python error until the solve has returned.
pub struct SignalPoll {
    last: Mutex<Instant>,
    err: Mutex<Option<PyErr>>,
}

impl Default for SignalPoll {
    fn default() -> Self {
        SignalPoll {
            last: Mutex::new(Instant::now()),
            err: Mutex::new(None),
        }
    }
}

impl SignalPoll {
    /// True once a Python error is pending (checked at most every `POLL_EVERY`).
    pub fn interrupted(&self) -> bool {
        let mut err = self.err.lock().expect("poisoned");
        if err.is_some() {
            return true;
        }
        let mut last = self.last.lock().expect("poisoned");
        if last.elapsed() < POLL_EVERY {
            return false;
        }
        *last = Instant::now();
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            *err = Some(e);
            return true;
        }
        false
    }

    pub fn keep(&self, e: PyErr) {
        self.err.lock().expect("poisoned").get_or_insert(e);
    }

    /// Re-raises the Python error a solve was stopped by, if any.
    pub fn raise_pending(&self) -> PyResult<()> {
        match self.err.lock().expect("poisoned").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Sends every `every`-th iteration to `log` (a callable taking one string, such as a
/// `logging.Logger.info`); with no callable nothing is formatted and nothing is printed.
pub struct PyObserver {
    log: Option<Py<PyAny>>,
    every: usize,
    poll: SignalPoll,
}

impl PyObserver {
    pub fn new(log: Option<Py<PyAny>>, every: usize) -> Self {
        PyObserver {
            log,
            every: every.max(1),
            poll: SignalPoll::default(),
        }
    }

    pub fn raise_pending(&self) -> PyResult<()> {
        self.poll.raise_pending()
    }
}

fn line(i: &IterInfo) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3e}"));
    let mut s = format!(
        "iter {:>6}  objective {:.8e}  grad_sq {:.3e}  rel_gap {}  step {:.3e}  products {:.1}  {:.2} s",
        i.iteration,
        i.objective,
        i.grad_norm_sq,
        opt(i.rel_gap),
        i.step,
        i.products,
        i.time_s
    );
    if let Some(a) = i.active {
        s += &format!("  active {a}");
    }
    if let Some(w) = i.working_set {
        s += &format!("  working set {w}");
    }
    s
}

impl Observer for PyObserver {
    fn wants_detail(&self, k: usize) -> bool {
        self.log.is_some() && k % self.every == 0
    }

    fn observe(&mut self, info: &IterInfo) {
        let Some(log) = &self.log else { return };
        if info.iteration % self.every != 0 && info.outer.is_none() {
            return;
        }
        let text = line(info);
        if let Err(e) = Python::attach(|py| log.call1(py, (text,)).map(|_| ())) {
            self.poll.keep(e);
        }
    }

    fn should_stop(&self) -> bool {
        self.poll.interrupted()
    }
}
