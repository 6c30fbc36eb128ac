//! Ctrl-C and SIGTERM: the first one asks the running command to stop at its next safe point
//! (a solver after its iteration, with its state saved; a path after its current solve; a
//! download after deleting its partial file), the second one exits at once. The exit code is
//! 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(2);
/// Set by commands with no state to save (bench): the first signal exits at once.
static IMMEDIATE: AtomicBool = AtomicBool::new(false);

/// Makes the first signal end the process at once.
pub fn exit_on_first() {
    IMMEDIATE.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The exit code of a command that stopped on a signal.
pub fn exit_code() -> i32 {
    128 + SIGNAL.load(Ordering::SeqCst)
}

fn on_signal(signo: i32, name: &str) {
    if INTERRUPTED.load(Ordering::SeqCst) || IMMEDIATE.load(Ordering::SeqCst) {
        cvxnn::io::remove_partials();
        std::process::exit(128 + signo);
    }
    // The signal number first: a solver that sees the stop flag reads it for its exit code.
    // Only this thread writes either.
    SIGNAL.store(signo, Ordering::SeqCst);
    INTERRUPTED.store(true, Ordering::SeqCst);
    eprintln!("\n{name}: stopping at the next safe point (send it again to quit now)");
}

/// Installs the handlers; where that fails the signals keep their default (immediate exit).
#[cfg(unix)]
pub fn install() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        for s in signals.forever() {
            on_signal(
                s,
                if s == SIGTERM {
                    "terminate"
                } else {
                    "interrupt"
                },
            );
        }
    });
}

#[cfg(not(unix))]
pub fn install() {
    let _ = ctrlc::set_handler(|| on_signal(2, "interrupt"));
}
