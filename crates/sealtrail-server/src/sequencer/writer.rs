//! The writer: makes each sealed batch durable, in order, then answers it.

use super::*;

impl Writer {
    pub(super) fn run(self, rx: mpsc::Receiver<ToWriter>) {
        for msg in rx {
            match msg {
                ToWriter::Drained(done) => {
                    let _ = done.send(());
                }
                ToWriter::Batch(sealed) => self.write(*sealed),
            }
        }
    }

    fn write(&self, sealed: SealedBatch) {
        let SealedBatch {
            batch,
            jobs,
            outcomes,
            epoch,
            count,
        } = sealed;
        if epoch != self.shared.epoch.load(Ordering::Acquire) {
            // Sealed on top of a batch that was not written: never written.
            return self.retry_or_fail(
                jobs,
                count,
                SubmitError::Storage("an earlier batch could not be written; retry".into()),
            );
        }
        if let Some(batch) = &batch {
            let started = Instant::now();
            match self.store.append_batch(batch) {
                Ok(()) => {}
                Err(StoreError::Conflict { expected, found }) if self.shared_store => {
                    // Another node moved the head: seal these again on it.
                    tracing::debug!(expected, found, "lost the log head to another node");
                    self.metrics.batch_conflicts.fetch_add(1, Ordering::Relaxed);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    return self.retry_or_fail(
                        jobs,
                        count,
                        SubmitError::Storage("the log head is contended; retry".into()),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, events = count, "batch not written; answering 503");
                    self.metrics.batch_failures.fetch_add(1, Ordering::Relaxed);
                    self.shared.epoch.fetch_add(1, Ordering::AcqRel);
                    self.queued.release(&jobs);
                    return fail(jobs, &submit_error(&e));
                }
            }
            self.metrics.observe_commit(started.elapsed());
            self.shared
                .committed
                .store(batch.head.size, Ordering::Release);
            self.metrics
                .tree_size
                .store(batch.head.size, Ordering::Relaxed);
            self.shared.publish(TreeHead {
                size: batch.head.size,
                root: batch.head.root,
            });
        }
        // Leaves the queue before anyone hears back, so a client that got
        // its answer never sees its own events still counted as queued.
        self.queued.release(&jobs);
        let mut it = outcomes.into_iter();
        for job in jobs {
            let mine: Vec<SealOutcome> = it.by_ref().take(job.count).collect();
            let _ = job.reply.send(Ok(mine));
        }
    }

    /// With a shared store, jobs that were not written go back to the
    /// sealer (they kept their events); otherwise they fail with `err`.
    fn retry_or_fail(&self, jobs: Vec<Job>, count: usize, err: SubmitError) {
        let (again, give_up): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .map(|mut j| {
                j.attempts += 1;
                j
            })
            .partition(|j| {
                self.shared_store && j.attempts < MAX_ATTEMPTS && j.events.len() == j.count
            });
        let given_up: usize = give_up.iter().map(|j| j.count).sum();
        if self.shared_store && given_up > 0 {
            tracing::warn!(events = given_up, error = %err, "giving up on events after repeated conflicts");
        }
        self.queued.release(&give_up);
        fail(give_up, &err);
        debug_assert!(given_up <= count);
        if !again.is_empty() {
            self.shared.retry_queue().extend(again);
        }
    }
}
