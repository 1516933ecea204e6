//! The fsync of the write-ahead log, off the caller's thread.
//!
//! A message that was only read is committed without its fsync, and one fsync of the log
//! follows once the main loop has read what arrived together (see "Durable before it leaves"
//! in the module doc of `src/store`). On this project's VM that one `fdatasync` costs 0.27-0.3
//! ms after an idle moment, longer than everything else the plugin does for the message; done
//! on libpurple's main loop it held up the next window update by that much
//! (`docs/PERFORMANCE.md`, "The fsync of a read, off the main loop"). Nothing waits on it: no
//! line leaves from a state that only a read produced, and every save that a line does wait on
//! is a synced commit of its own. So the fsync runs on one worker thread, which touches nothing
//! but its own descriptor of the log (no SQLite, no glib, no libpurple), and the store learns
//! at its next call what it covered.
//!
//! Linux syncs the file, not the descriptor: the pages SQLite wrote through its own descriptor
//! before the request are on disk when the worker's `fdatasync` returns.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What the store and the worker share.
#[derive(Default)]
struct State {
    /// The highest generation whose commit the store asked to make durable.
    wanted: i64,
    /// The highest generation known to be on disk (the worker's last successful sync).
    synced: i64,
    /// Why the last sync failed, until the store reads it.
    failed: Option<String>,
    /// The store is closing: the worker leaves.
    stop: bool,
    /// Tests: every sync fails as the disk's would.
    #[cfg(test)]
    fail: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a thread panicked while holding it; the integers in it
        // are still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One worker thread that syncs the write-ahead log when asked; joined when dropped.
pub(super) struct Syncer {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the worker for the log at `wal`. `Err` when no thread can be made: the caller
    /// syncs on its own thread instead.
    pub(super) fn start(wal: PathBuf) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("sotto-sync".to_owned())
            .spawn(move || work(&theirs, &wal))?;
        Ok(Self {
            shared,
            worker: Some(worker),
        })
    }

    /// Asks for every commit up to `generation` to be made durable. Returns at once.
    pub(super) fn request(&self, generation: i64) {
        let mut state = self.shared.lock();
        if generation > state.wanted {
            state.wanted = generation;
            self.shared.wake.notify_all();
        }
    }

    /// The highest generation known to be on disk, and why a sync failed since the last call.
    pub(super) fn progress(&self) -> (i64, Option<String>) {
        let mut state = self.shared.lock();
        (state.synced, state.failed.take())
    }

    /// Every later sync of the worker fails as a disk's would (tests).
    #[cfg(test)]
    pub(super) fn fail_syncs(&self) {
        self.shared.lock().fail = true;
    }

    /// Waits until the worker has nothing left to do (tests).
    #[cfg(test)]
    pub(super) fn idle(&self) {
        let mut state = self.shared.lock();
        while state.wanted > state.synced {
            state = self
                .shared
                .wake
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Syncer {
    /// Stops the worker and waits for it (at most the sync it is in): why its last sync
    /// failed, if it did and nobody read it yet.
    pub(super) fn stop(mut self) -> Option<String> {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        self.shared.lock().failed.take()
    }
}

impl Drop for Syncer {
    /// Stops the worker and waits for it (at most the sync it is in). The store's own close
    /// makes whatever is left durable.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn work(shared: &Shared, wal: &std::path::Path) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        if state.wanted <= state.synced {
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        let generation = state.wanted;
        #[cfg(test)]
        let fail = state.fail;
        drop(state);
        let result = std::fs::File::open(wal).map(|f| {
            #[cfg(test)]
            if fail {
                return Err(std::io::Error::other("test: Input/output error"));
            }
            f.sync_data()
        });
        state = shared.lock();
        match result {
            Ok(Ok(())) => state.synced = state.synced.max(generation),
            Ok(Err(e)) => {
                // Not tried again: the store, told at its next call, is broken from then on
                // ("A failed sync is not retried" in its module doc).
                state.failed = Some(e.to_string());
                state.wanted = state.synced;
            }
            // No descriptor (too many open files, no memory, the log not there): no sync was
            // made, so none failed, and nothing the disk dropped was passed over. The commits
            // stay unsynced, for the next request or a synced commit to cover; it broke the
            // store for the rest of the process, every send refused as after a failing disk
            // (found by a read-only review, 2026-12-07).
            // A request made meanwhile is tried once more.
            Err(_) if state.wanted == generation => state.wanted = state.synced,
            Err(_) => {}
        }
        shared.wake.notify_all();
    }
}
