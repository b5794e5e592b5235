//! The sender: batches recorded events to `POST /v1/events`, and spools them
//! on disk whenever sealtrail does not take them.
//!
//! Order within this proxy instance is kept: once anything of ours is in
//! the spool, newer events are appended behind it rather than posted, until
//! the spool has drained. While sealtrail is unreachable every batch is
//! spooled at once (one fdatasync per batch), so a killed proxy loses at
//! most the events of the current batch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sealtrail_client::{Client, ClientError, EventResult, Wait, CONTENT_TYPE_NDJSON};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::spool::Spool;

/// Tuning knobs (defaults suit a proxy in front of one agent).
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Events per request.
    pub max_batch: usize,
    /// About this many bytes per request (the server takes 16 MiB).
    pub max_batch_bytes: usize,
    /// First retry delay after a failed delivery; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// At exit, how long to keep trying before spooling what is left.
    pub flush_timeout: Duration,
    /// How long a first event waits for others to share its request.
    pub linger: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_batch: 1000,
            max_batch_bytes: 4 << 20,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(3),
            linger: Duration::from_millis(20),
        }
    }
}

/// What one delivery attempt came to.
enum Delivery {
    /// The server answered per event (rejections were set aside).
    Done,
    /// Try again later: unreachable, overloaded, unauthorized…
    Retry(String),
    /// The request as a whole is refused and always will be.
    Refused(String),
    /// Too large: send fewer events per request.
    TooLarge,
}

pub struct Sender {
    client: Client,
    spool: Spool,
    cfg: SenderConfig,
    queue: VecDeque<Vec<u8>>,
    /// When the server failed last: no delivery before this instant.
    retry_at: Option<Instant>,
    backoff: Duration,
    max_batch: usize,
    /// The last spool append failed (logged once per failing stretch).
    spool_failing: bool,
}

impl Sender {
    pub fn new(client: Client, spool: Spool, cfg: SenderConfig) -> Sender {
        let backoff = cfg.min_backoff;
        let max_batch = cfg.max_batch;
        Sender {
            client,
            spool,
            cfg,
            queue: VecDeque::new(),
            retry_at: None,
            backoff,
            max_batch,
            spool_failing: false,
        }
    }

    /// Delivers until the recorder hangs up, then flushes (bounded by
    /// `flush_timeout`) and spools what is left.
    pub async fn run(mut self, mut rx: UnboundedReceiver<Vec<u8>>) {
        // What earlier runs left in the spool goes first.
        self.pump(None).await;
        loop {
            let waiting = !self.queue.is_empty() || !self.spool.is_empty();
            let wake = self.retry_at.filter(|_| waiting);
            let got = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(e) => e,
                    None => break,
                },
                _ = sleep_until(wake), if wake.is_some() => {
                    self.pump(None).await;
                    continue;
                }
            };
            self.queue.push_back(got);
            // Linger a moment: an agent making calls back to back then costs
            // sealtrail one request (one fsync) per batch, not per call.
            let until = tokio::time::Instant::now() + self.cfg.linger;
            let mut closed = false;
            while self.queue.len() < self.max_batch {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(e)) => self.queue.push_back(e),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.pump(None).await;
            if closed {
                break;
            }
        }
        let deadline = Instant::now() + self.cfg.flush_timeout;
        self.retry_at = None;
        self.pump(Some(deadline)).await;
        self.spill();
        if !self.queue.is_empty() {
            tracing::error!(
                lost = self.queue.len(),
                "events neither delivered nor spooled before exit"
            );
        }
        if !self.spool.is_empty() {
            tracing::warn!(
                spool = %self.spool.dir().display(),
                "sealtrail did not take every event before exit; they stay spooled and the next proxy run resends them"
            );
        }
    }

    /// Delivers as much as the server takes now (spool first, then memory).
    async fn pump(&mut self, deadline: Option<Instant>) {
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                // sealtrail is down: keep the events on disk meanwhile.
                self.spill();
                return;
            }
            if !self.spool.is_empty() {
                if !self.drain_spool_once(deadline).await {
                    self.spill();
                    return;
                }
                continue;
            }
            if self.queue.is_empty() {
                return;
            }
            let n = self.batch_len();
            let batch: Vec<Vec<u8>> = self.queue.drain(..n).collect();
            match self.deliver(&batch, deadline).await {
                Delivery::Done => self.recovered(),
                Delivery::TooLarge => self.requeue_front(batch),
                Delivery::Refused(why) => self.set_aside(&batch, &why),
                Delivery::Retry(why) => {
                    self.failed(&why);
                    self.requeue_front(batch);
                    self.spill();
                    return;
                }
            }
        }
    }

    /// One spool batch; false when the server did not take it.
    async fn drain_spool_once(&mut self, deadline: Option<Instant>) -> bool {
        let batch = match self.spool.peek(self.max_batch, self.cfg.max_batch_bytes) {
            Ok(Some(b)) => b,
            Ok(None) => return true,
            Err(e) => {
                tracing::error!("cannot read the spool: {e}");
                self.failed("spool unreadable");
                return false;
            }
        };
        match self.deliver(&batch.lines, deadline).await {
            Delivery::Done => {}
            Delivery::TooLarge => return true,
            Delivery::Refused(why) => self.set_aside(&batch.lines, &why),
            Delivery::Retry(why) => {
                self.failed(&why);
                return false;
            }
        }
        let sent = batch.lines.len();
        if let Err(e) = self.spool.commit(batch) {
            tracing::error!("cannot mark spooled events as sent: {e}");
        }
        self.recovered();
        tracing::debug!(sent, "resent spooled events");
        true
    }

    fn batch_len(&self) -> usize {
        let mut bytes = 0;
        let mut n = 0;
        for e in self.queue.iter().take(self.max_batch) {
            if n > 0 && bytes + e.len() > self.cfg.max_batch_bytes {
                break;
            }
            bytes += e.len() + 1;
            n += 1;
        }
        n
    }

    fn requeue_front(&mut self, batch: Vec<Vec<u8>>) {
        for e in batch.into_iter().rev() {
            self.queue.push_front(e);
        }
    }

    /// Moves every in-memory event to the spool (behind what is there).
    fn spill(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let events: Vec<Vec<u8>> = self.queue.drain(..).collect();
        match self.spool.append(&events) {
            Ok(()) => self.spool_failing = false,
            Err(e) => {
                // Nowhere durable to put them: keep them in memory and
                // retry; the relay is never held up for it.
                if !std::mem::replace(&mut self.spool_failing, true) {
                    tracing::error!("cannot spool events: {e}; keeping them in memory");
                }
                self.requeue_front(events);
            }
        }
    }

    fn failed(&mut self, why: &str) {
        if self.retry_at.is_none() {
            tracing::warn!("sealtrail did not take events ({why}); spooling them and retrying");
        }
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.cfg.max_backoff);
    }

    fn recovered(&mut self) {
        if self.retry_at.take().is_some() {
            tracing::info!("sealtrail takes events again; resending the spool");
        }
        self.backoff = self.cfg.min_backoff;
    }

    fn set_aside(&mut self, events: &[Vec<u8>], why: &str) {
        tracing::error!(
            count = events.len(),
            "sealtrail refused events: {why}; kept in rejected.jsonl"
        );
        for e in events {
            if let Err(err) = self.spool.reject(e, why) {
                tracing::error!("{err}");
            }
        }
    }

    async fn deliver(&mut self, events: &[Vec<u8>], deadline: Option<Instant>) -> Delivery {
        if events.is_empty() {
            return Delivery::Done;
        }
        let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum());
        for e in events {
            body.extend_from_slice(e);
            body.push(b'\n');
        }
        let post = self
            .client
            .ingest_raw(body, CONTENT_TYPE_NDJSON, Wait::Durable);
        let answer = match deadline {
            None => post.await,
            Some(d) => {
                match tokio::time::timeout(d.saturating_duration_since(Instant::now()), post).await
                {
                    Ok(a) => a,
                    Err(_) => return Delivery::Retry("flush timeout at exit".into()),
                }
            }
        };
        match answer {
            Ok(resp) => {
                for (e, r) in events.iter().zip(&resp.results) {
                    if let EventResult::Rejected(err) = r {
                        self.set_aside(std::slice::from_ref(e), &err.to_string());
                    }
                }
                Delivery::Done
            }
            Err(ClientError::Api { status: 413, .. }) if events.len() > 1 => {
                self.max_batch = (events.len() / 2).max(1);
                Delivery::TooLarge
            }
            Err(
                e @ ClientError::Api {
                    status: 400 | 413, ..
                },
            ) => Delivery::Refused(e.to_string()),
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    if let Some(t) = t {
        tokio::time::sleep_until(t.into()).await;
    }
}
