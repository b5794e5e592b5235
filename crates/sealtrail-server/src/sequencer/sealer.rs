//! The sealer: batches submissions and decides indices, headers, hashes and
//! stream links on top of the state it knows.

use super::*;

use sealtrail_store::{agent_stream_key_into, instance_key_into, session_stream_key_into};

/// The event's `seq` counter key, written into `key`.
fn instance_key(e: &PreparedEvent, key: &mut String) {
    instance_key_into(&e.agent, e.instance.as_deref(), key);
}

impl Sealer {
    /// Next job: retries first, then the admin lane, then new ingest
    /// submissions. With a shared store it wakes up regularly to pick up
    /// retries; `None` once every handle is gone and nothing waits.
    fn next_job(&self) -> Option<Job> {
        loop {
            if let Some(j) = self.shared.priority_job() {
                return Some(j);
            }
            let received = if self.config.shared_store {
                match self.rx.recv_timeout(Duration::from_millis(10)) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            } else {
                self.rx.recv().ok()
            };
            match received {
                Some(Submission::Job(j)) => return Some(j),
                // An admin job arrived: the loop takes it.
                Some(Submission::Wake) => continue,
                None => {
                    if self.shared.retry_queue().is_empty() && self.shared.admin_queue().is_empty()
                    {
                        return None;
                    }
                }
            }
        }
    }

    pub(super) fn run(mut self) {
        while let Some(first) = self.next_job() {
            let mut jobs = vec![first];
            let mut count = jobs[0].count;
            let deadline = Instant::now() + self.config.linger;
            while count < self.config.batch_max {
                let next = match self.shared.priority_job() {
                    Some(j) => Some(j),
                    None => {
                        let received = match self.rx.try_recv() {
                            Ok(m) => Some(m),
                            Err(mpsc::TryRecvError::Empty) if !self.config.linger.is_zero() => {
                                let left = deadline.saturating_duration_since(Instant::now());
                                self.rx.recv_timeout(left).ok()
                            }
                            Err(_) => None,
                        };
                        match received {
                            Some(Submission::Job(j)) => Some(j),
                            // An admin job arrived: look again.
                            Some(Submission::Wake) => continue,
                            None => None,
                        }
                    }
                };
                match next {
                    Some(j) => {
                        count += j.count;
                        jobs.push(j);
                    }
                    None => break,
                }
            }
            let go_on = if self.config.shared_store {
                self.seal_in_turn(jobs, count)
            } else {
                self.seal_and_send(jobs, count)
            };
            if !go_on {
                tracing::error!("the writer thread is gone");
                return;
            }
            self.grow_seen_if_full();
        }
    }

    /// Seals a batch on the current state and hands it to the writer.
    /// False if the writer is gone.
    fn seal_and_send(&mut self, mut jobs: Vec<Job>, count: usize) -> bool {
        if let Err(e) = self.resync() {
            tracing::error!(error = %e, "cannot reload the log head after a failed batch");
            self.queued.release(&jobs);
            fail(jobs, &submit_error(&e));
            return true;
        }
        let started = Instant::now();
        match self.seal(&mut jobs) {
            Ok((batch, outcomes)) => {
                self.metrics.observe_batch(count, started.elapsed());
                let sealed = SealedBatch {
                    batch,
                    jobs,
                    outcomes,
                    epoch: self.epoch,
                    count,
                };
                self.to_writer
                    .send(ToWriter::Batch(Box::new(sealed)))
                    .is_ok()
            }
            Err(e) => {
                tracing::error!(error = %e, events = count, "batch not sealed; answering 503");
                self.queued.release(&jobs);
                fail(jobs, &submit_error(&e));
                true
            }
        }
    }

    /// With a shared store: take the log's writer lock, catch up with what
    /// other nodes wrote, seal on that head, and hold the lock until the
    /// writer has committed. Nodes take turns instead of racing (a race
    /// starved the slower nodes: measured with three nodes).
    fn seal_in_turn(&mut self, jobs: Vec<Job>, count: usize) -> bool {
        // The guard borrows a handle of its own: `self` is borrowed mutably
        // while it is held.
        let store = self.store.clone();
        let lock = match store.lock_log() {
            Ok(lock) => lock,
            Err(e) => {
                tracing::error!(error = %e, "cannot take the log's writer lock; answering 503");
                self.queued.release(&jobs);
                fail(jobs, &submit_error(&e));
                return true;
            }
        };
        let caught_up = self.catch_up();
        let go_on = match caught_up {
            Ok(()) => {
                let sent = self.seal_and_send(jobs, count);
                // Keep the lock until the batch is committed.
                let (done, wait) = mpsc::channel();
                sent && self.to_writer.send(ToWriter::Drained(done)).is_ok() && wait.recv().is_ok()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the shared log head; answering 503");
                self.queued.release(&jobs);
                fail(jobs, &submit_error(&e));
                true
            }
        };
        drop(lock);
        go_on
    }

    /// Rebuilds the state from what the store committed; nothing is pending.
    fn reload(&mut self) -> Result<(), StoreError> {
        self.state = State::load(self.store.as_ref())?;
        self.shared
            .committed
            .store(self.state.head.size, Ordering::Release);
        self.shared.publish(self.state.tree_head());
        self.pending.clear();
        self.pending_ids.clear();
        Ok(())
    }

    /// Reloads the state if another node moved the head since our last batch.
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let head = self.store.head()?;
        if head.size == self.state.head.size && head.root == self.state.head.root {
            return Ok(());
        }
        self.reload()?;
        Ok(())
    }

    /// Once the seen-ids filter is full, builds one twice the size on a
    /// background thread (reading every id takes a while: doing it here
    /// stalled ingest ~400 ms at a million ids) and swaps it in when ready.
    /// Meanwhile the full filter keeps answering (more false positives, no
    /// false negatives).
    fn grow_seen_if_full(&mut self) {
        if let Some((ready, _)) = &self.growing {
            match ready.try_recv() {
                Ok(Ok(mut fresh)) => {
                    if let Some((_, since)) = self.growing.take() {
                        for id in &since {
                            fresh.insert(id);
                        }
                    }
                    self.seen = Some(fresh);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot rebuild the seen-ids filter; looking every id up");
                    self.seen = None;
                    self.growing = None;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => self.growing = None,
            }
            return;
        }
        if !self.seen.as_ref().is_some_and(|s| s.is_full()) {
            return;
        }
        // Ids up to `committed` are in the store; later ones are pending now
        // or sealed from now on, and are added at the swap.
        let committed = self.shared.committed.load(Ordering::Acquire);
        let since: Vec<String> = self.pending_ids.keys().cloned().collect();
        let (tx, rx) = mpsc::channel();
        let store = self.store.clone();
        let spawned = std::thread::Builder::new()
            .name("sealtrail-seen".into())
            .spawn(move || {
                let started = Instant::now();
                let built = seen::SeenIds::load(store.as_ref(), committed);
                tracing::info!(ids = committed, took = ?started.elapsed(), "rebuilt the seen-ids filter");
                let _ = tx.send(built);
            });
        match spawned {
            Ok(_) => self.growing = Some((rx, since)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the filter rebuild; looking every id up");
                self.seen = None;
            }
        }
    }

    /// After a failed write: wait until the writer has handled everything
    /// sent so far, then rebuild the state from what the store committed.
    fn resync(&mut self) -> Result<(), StoreError> {
        let current = self.shared.epoch.load(Ordering::Acquire);
        if current == self.epoch {
            self.prune_pending();
            return Ok(());
        }
        let (done, wait) = mpsc::channel();
        if self.to_writer.send(ToWriter::Drained(done)).is_ok() {
            let _ = wait.recv();
        }
        self.reload()?;
        self.epoch = current;
        Ok(())
    }

    /// Forgets pending ids whose batches are committed (the store has them).
    fn prune_pending(&mut self) {
        let committed = self.shared.committed.load(Ordering::Acquire);
        while let Some((end, _)) = self.pending.front() {
            if *end > committed {
                break;
            }
            if let Some((_, ids)) = self.pending.pop_front() {
                for id in ids {
                    self.pending_ids.remove(&id);
                }
            }
        }
    }

    /// Seals one batch: decides indices, headers, hashes and links, and
    /// advances the sealer's state on the assumption that the batch commits.
    #[allow(clippy::type_complexity)]
    fn seal(&mut self, jobs: &mut [Job]) -> Result<(Option<Batch>, Vec<SealOutcome>), StoreError> {
        let events: Vec<PreparedEvent> = if self.config.shared_store {
            // Kept in the jobs in case another node wins the head first.
            jobs.iter().flat_map(|j| j.events.iter().cloned()).collect()
        } else {
            jobs.iter_mut()
                .flat_map(|j| std::mem::take(&mut j.events))
                .collect()
        };

        // Idempotency: ids sealed earlier, and repeats inside this batch.
        let ids: Vec<&str> = events.iter().filter_map(|p| p.id.as_deref()).collect();
        let mut known: FastMap<String, Receipt> = if ids.is_empty() {
            FastMap::default()
        } else {
            // Only ids the filter may have seen can be repeats.
            let maybe: Vec<&str> = match &self.seen {
                Some(seen) => ids
                    .iter()
                    .copied()
                    .filter(|id| seen.may_contain(id))
                    .collect(),
                None => ids.clone(),
            };
            if maybe.is_empty() {
                FastMap::default()
            } else {
                self.store.find_event_ids(&maybe)?.into_iter().collect()
            }
        };
        // Sealed in batches the writer may not have committed yet.
        for id in &ids {
            if let Some(r) = self.pending_ids.get(*id) {
                known.insert((*id).to_string(), *r);
            }
        }

        self.load_streams(&events)?;

        let mut frontier = self.state.frontier.clone();
        let mut size = self.state.head.size;
        let mut last_time = self.state.head.last_time;
        let mut last_leaf = self.state.head.last_leaf;
        let mut streams: FastMap<String, StreamHead> = FastMap::default();
        let mut seqs: FastMap<String, u64> = FastMap::default();
        // One buffer for every key looked up; a key is copied only when it
        // first enters this batch's maps.
        let mut key = String::new();
        let mut nodes = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        let mut outcomes: Vec<Option<SealOutcome>> = Vec::with_capacity(events.len());
        // Positions of in-batch duplicates, resolved once their first copy is sealed.
        let mut pending_dups: Vec<(usize, String)> = Vec::new();
        let time = (self.clock)(size).max(last_time);

        for (i, p) in events.into_iter().enumerate() {
            if let Some(id) = p.id.as_deref() {
                if let Some(r) = known.get(id) {
                    if r.index >= self.state.head.size {
                        pending_dups.push((i, id.to_string()));
                        outcomes.push(None);
                    } else {
                        outcomes.push(Some(SealOutcome::Duplicate(*r)));
                    }
                    continue;
                }
            }
            let index = size;
            agent_stream_key_into(&p.agent, &mut key);
            let agent_link = self.next_link(&mut streams, &key, index);
            let session_link = p.session.as_deref().map(|s| {
                session_stream_key_into(s, &mut key);
                self.next_link(&mut streams, &key, index)
            });
            let seq_gap = p.seq.and_then(|seq| {
                instance_key(&p, &mut key);
                let last = seqs
                    .get(key.as_str())
                    .or_else(|| self.state.seqs.get(key.as_str()))
                    .copied();
                match seqs.get_mut(key.as_str()) {
                    Some(last) => *last = seq,
                    None => {
                        seqs.insert(key.clone(), seq);
                    }
                }
                match last {
                    Some(l) if seq != l.wrapping_add(1) => Some(SeqGap {
                        expected: l.wrapping_add(1),
                        got: seq,
                    }),
                    _ => None,
                }
            });
            let header = EntryHeader {
                v: HEADER_VERSION,
                index,
                time,
                prev: last_leaf,
                agent: p.agent,
                instance: p.instance,
                session: p.session,
                parent: p.parent,
                kind: p.kind.to_string(),
                action: p.action,
                tool: p.tool,
                outcome: p.outcome.map(str::to_string),
                event_id: p.id,
                seq: p.seq,
                seq_gap,
                data_classes: p.data_classes,
                subjects: p.subjects,
                scope: p.scope,
                redacted: p.redacted,
                streams: Streams {
                    agent: agent_link,
                    session: session_link,
                },
                body: p.commitment,
            };
            let header_bytes = header
                .to_entry_bytes()
                .map_err(|e| StoreError::Corrupt(format!("header of entry {index}: {e}")))?;
            let leaf = sealtrail_core::hash::leaf_hash(&header_bytes);
            frontier.append_with(leaf, |level, n, h| {
                if level > 0 && level % 8 == 0 {
                    nodes.push((level, n, *h));
                }
            });
            let receipt = Receipt {
                index,
                leaf_hash: leaf,
                time,
            };
            if let Some(id) = &header.event_id {
                known.insert(id.clone(), receipt);
            }
            entries.push(NewEntry {
                index,
                leaf_hash: leaf,
                header: header_bytes,
                columns: EntryColumns::from_header(header),
                body: p.body,
                salt: p.salt,
            });
            outcomes.push(Some(SealOutcome::Sealed(receipt)));
            last_leaf = Some(leaf);
            last_time = time;
            size += 1;
        }
        for (i, id) in pending_dups {
            if let Some(r) = known.get(&id) {
                outcomes[i] = Some(SealOutcome::Duplicate(*r));
            }
        }

        let outcomes = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                o.ok_or_else(|| {
                    StoreError::Corrupt(format!("event {i} of the batch has no outcome"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Ok((None, outcomes));
        }
        let head = LogHead {
            size,
            root: frontier.root(),
            frontier: frontier.nodes().to_vec(),
            last_time,
            last_leaf,
        };
        let new_ids: Vec<String> = entries
            .iter()
            .filter_map(|e| e.columns.event_id.clone())
            .collect();
        for (id, e) in new_ids
            .iter()
            .zip(entries.iter().filter(|e| e.columns.event_id.is_some()))
        {
            self.pending_ids.insert(
                id.clone(),
                Receipt {
                    index: e.index,
                    leaf_hash: e.leaf_hash,
                    time: e.columns.time,
                },
            );
        }
        if let Some(seen) = &mut self.seen {
            for id in &new_ids {
                seen.insert(id);
            }
        }
        if let Some((_, since)) = &mut self.growing {
            since.extend(new_ids.iter().cloned());
        }
        self.pending.push_back((size, new_ids));
        let batch = Batch {
            expected_size: self.state.head.size,
            entries,
            nodes,
            streams: streams.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            seqs: seqs.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            head: head.clone(),
        };
        // Advance on the assumption that the writer commits this batch; if
        // it does not, `resync` rebuilds everything from the store.
        self.state.head = head;
        self.state.frontier = frontier;
        if self.state.streams.len() > CACHE_LIMIT {
            self.state.streams.clear();
        }
        if self.state.seqs.len() > CACHE_LIMIT {
            self.state.seqs.clear();
        }
        self.state.streams.extend(streams);
        self.state.seqs.extend(seqs);
        Ok((Some(batch), outcomes))
    }

    /// Loads the stream heads and last seqs this batch needs into the cache.
    fn load_streams(&mut self, events: &[PreparedEvent]) -> Result<(), StoreError> {
        let mut keys: Vec<String> = Vec::new();
        let mut inst: Vec<String> = Vec::new();
        let mut key = String::new();
        for p in events {
            agent_stream_key_into(&p.agent, &mut key);
            if !self.state.streams.contains_key(key.as_str()) {
                keys.push(key.clone());
            }
            if let Some(s) = &p.session {
                session_stream_key_into(s, &mut key);
                if !self.state.streams.contains_key(key.as_str()) {
                    keys.push(key.clone());
                }
            }
            if p.seq.is_some() {
                instance_key(p, &mut key);
                if !self.state.seqs.contains_key(key.as_str()) {
                    inst.push(key.clone());
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        inst.sort_unstable();
        inst.dedup();
        if !keys.is_empty() {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.state.streams.extend(self.store.stream_heads(&refs)?);
        }
        if !inst.is_empty() {
            let refs: Vec<&str> = inst.iter().map(String::as_str).collect();
            self.state.seqs.extend(self.store.last_seqs(&refs)?);
        }
        Ok(())
    }

    /// The next link of `key`'s stream for an entry at `index`.
    fn next_link(
        &self,
        batch: &mut FastMap<String, StreamHead>,
        key: &str,
        index: u64,
    ) -> StreamLink {
        let prev = batch
            .get(key)
            .or_else(|| self.state.streams.get(key))
            .copied();
        let link = StreamLink {
            n: prev.map_or(1, |h| h.count + 1),
            prev: prev.map(|h| h.last),
        };
        let head = StreamHead {
            count: link.n,
            last: index,
        };
        match batch.get_mut(key) {
            Some(h) => *h = head,
            None => {
                batch.insert(key.to_owned(), head);
            }
        }
        link
    }
}
