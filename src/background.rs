//! The server's long-lived background tasks: the commit workers, the SQLite WAL checkpointer,
//! the webhook dispatcher and the audit maintenance task. Each holds a pooled database
//! connection while it works, and sqlx panics when a pooled connection is dropped after the
//! runtime has stopped; so `app::serve` stops them all ([`stop`]) while the runtime still runs.
//! (Dropped with the runtime, a task in the middle of a query turned a SIGTERM into exit status
//! 101 and a backtrace.)

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinHandle;

static TASKS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Spawns a background task on the current (actix) runtime and keeps its handle for [`stop`].
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    let handle = actix_web::rt::spawn(task);
    TASKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(handle);
}

/// Aborts every background task and waits until each has been dropped. Like a crash at that
/// instant for what they were doing, which loses nothing acknowledged: a commit group cut short
/// was never acknowledged, and the other tasks pick up where they left off at the next start.
pub async fn stop() {
    let tasks = std::mem::take(
        &mut *TASKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
}
