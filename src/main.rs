//! The `cvxnn` command. Errors print one line and exit with code 2.

mod cli;

use clap::Parser;

fn main() {
    // Mesa's device-select Vulkan layer prints "error: XDG_RUNTIME_DIR is invalid ..." on
    // machines without a desktop session while wgpu enumerates adapters; that line is not ours
    // and would read as a failure. The layer only picks a default GPU, which cvxnn does itself.
    // Set before any thread exists, and only when the user has not chosen.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: single-threaded here; nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => std::process::exit(cli::report_usage_error(e)),
    };
    let code = match cli::run(args).map_err(cli::with_flag_names) {
        Ok(code) => code,
        Err(cvxnn::Error::Interrupted(msg)) => {
            eprintln!("{msg}");
            cli::signals::exit_code()
        }
        // A result that failed, not bad input: exit 1 as `verify` does on disagreement.
        Err(e @ cvxnn::Error::Diverged(_)) => {
            eprintln!("error: {e}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    };
    std::process::exit(code);
}
