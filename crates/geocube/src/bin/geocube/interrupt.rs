//! Ctrl-C: the first one cancels the running load (no new download starts,
//! nothing half-done is committed, what was committed stays) and the
//! command exits 130, as shells expect of a process ended by SIGINT; a
//! second one, or a load that has not wound down after a grace period,
//! exits 130 at once. Exiting at any point is safe for the cube: an
//! Icechunk commit becomes visible in one atomic step, and the patch claims
//! are file locks the OS releases with the process.

use std::sync::OnceLock;
use std::time::Duration;

use geocube_core::CancelToken;

/// How long a cancelled command may take to wind down (a download in
/// flight on a slow server ends at its own deadline, a read or an export
/// does not look at the token) before it is ended outright.
const GRACE: Duration = Duration::from_secs(5);

/// The exit status of a process ended by SIGINT (128 + 2).
const EXIT_INTERRUPTED: i32 = 130;

/// The process's cancel token, handed to every backend it builds.
pub(crate) fn token() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(CancelToken::new).clone()
}

/// Install the SIGINT handler. If the OS refuses, Ctrl-C keeps its default
/// action (the process ends at once, which is also safe).
pub(crate) fn install() {
    let token = token();
    let installed = ctrlc::set_handler(move || {
        if token.is_cancelled() {
            std::process::exit(EXIT_INTERRUPTED);
        }
        token.cancel();
        eprintln!("interrupted: stopping (press Ctrl-C again to quit at once)");
        std::thread::spawn(|| {
            std::thread::sleep(GRACE);
            eprintln!(
                "interrupted: did not stop within {} s, quitting",
                GRACE.as_secs()
            );
            std::process::exit(EXIT_INTERRUPTED);
        });
    });
    if let Err(e) = installed {
        tracing::debug!("no Ctrl-C handler: {e}");
    }
}

/// Report a command that ended because it was cancelled, and exit 130
/// without waiting for worker threads still finishing a request.
pub(crate) fn exit(error: &geocube::Error) -> ! {
    eprintln!("interrupted: {error}");
    std::process::exit(EXIT_INTERRUPTED);
}
