//! What stops a long-running command (`serve`, `cluster owner`): Ctrl-C at a terminal
//! (SIGINT), or SIGTERM from a service manager (systemd's `stop`, `docker stop`, `kill`). Both
//! stop it the same way: requests in flight finish and the command cleans up (a checkpoint, a
//! lease given up) before it exits 0.

use tokio::signal::unix::{signal, Signal, SignalKind};

pub(crate) struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts listening; call inside the runtime, before the work starts.
    pub(crate) fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the first of the two.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
