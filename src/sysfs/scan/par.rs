//! Spreading one pass of the scan over a few threads.
//!
//! A host with thousands of VFs has thousands of device and netdev directories, and each costs
//! a handful of syscalls; on such hosts the scan is bound by syscall latency, not CPU, so a few
//! threads cut its wall time. Small hosts stay single-threaded, where threads cost more than
//! they save.

use std::path::Path;

use super::worker::Worker;

/// Below this many entries threads cost more than they save.
const PAR_MIN: usize = 128;
const MAX_THREADS: usize = 4;
/// Items per unit of work handed to a scanner thread.
const PAR_BATCH: usize = 32;

impl<'r> Worker<'_, 'r> {
    /// Runs `f` over `items`, on several threads for big hosts, keeping input order. Worker
    /// threads have private descriptor tables (see [`private_fd_table`]): neither `items` nor
    /// the results may own a descriptor, and what a worker opens it closes itself.
    pub(super) fn par_map<T: Send, R: Send>(
        &mut self,
        items: Vec<T>,
        f: impl Fn(&mut Worker<'_, 'r>, T) -> Option<R> + Sync,
    ) -> Vec<R> {
        let threads = if items.len() < PAR_MIN {
            1
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(MAX_THREADS)
        };
        if threads <= 1 {
            return items.into_iter().filter_map(|i| f(self, i)).collect();
        }
        // Small batches handed out on demand: per-item cost varies (a PF reads its SR-IOV
        // attributes and every virtfn link), so fixed halves leave one core idle at the end.
        let mut batches: Vec<(usize, Vec<T>)> = Vec::new();
        let mut it = items.into_iter();
        loop {
            let b: Vec<T> = it.by_ref().take(PAR_BATCH).collect();
            if b.is_empty() {
                break;
            }
            batches.push((batches.len(), b));
        }
        let queue = std::sync::Mutex::new(batches.into_iter());
        let next = || queue.lock().ok().and_then(|mut q| q.next());
        let ctx = self.ctx;
        let (f, next) = (&f, &next);
        let work = move |w: &mut Worker<'_, 'r>| {
            let mut done = Vec::new();
            while let Some((i, b)) = next() {
                done.push((i, b.into_iter().filter_map(|x| f(w, x)).collect::<Vec<R>>()));
                w.closer.flush();
            }
            done
        };
        let mut results: Vec<(usize, Vec<R>)> = Vec::new();
        // Workers only: a bug that panics in one is caught at the join and becomes a warning.
        let joined: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || {
                        private_fd_table();
                        let mut w = Worker::new(ctx);
                        let done = work(&mut w);
                        (done, w.warnings)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for r in joined {
            match r {
                Ok((o, w)) => {
                    results.extend(o);
                    self.warnings.extend(w);
                }
                Err(_) => self.warn(Path::new(""), "internal error: a scanner thread panicked"),
            }
        }
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().flat_map(|(_, r)| r).collect()
    }
}

/// Gives the calling scanner thread its own copy of the descriptor table, so two scanner
/// threads do not contend for one table's lock on every open and close, and the kernel can
/// skip per-call reference counting on the `struct file`s it uses. The copy holds the
/// descriptors opened before (root, bus and bridge directories) under the same numbers;
/// nothing the thread opens may leave it, and its table goes when it exits. Failure only
/// costs that speed.
fn private_fd_table() {
    let _span = tracing::trace_span!("unshare_files").entered();
    // SAFETY: `unshare_unsafe` asks that no thread use a descriptor from a table it is not in.
    // CLONE_FILES changes only this thread's table, and `par_map` keeps descriptors from
    // crossing: its items and results own none, the worker closes what it opens before it
    // exits (its `Closer` flushes per batch and on drop), and what it borrows (the root, bus
    // and bridge directories) was opened before the copy, stays open in the parent's table
    // until every worker has been joined, and has the same number in the copy.
    let _ = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES) };
}
