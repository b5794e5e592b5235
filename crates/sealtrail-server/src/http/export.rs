//! `POST /v1/exports`: an evidence bundle (docs/formats.md §10) for a
//! query, as one ZIP file.
//!
//! The bundle is proven against one signed checkpoint: the newest, once it
//! covers everything committed when the request came in (the checkpointer
//! is nudged for it). Entries are selected through the store's indexed
//! query and written into the ZIP as they come, and the ZIP goes straight
//! into the response through a bounded channel: no temporary file, and the
//! server holds a few chunks of the response at most, whatever the size of
//! the bundle. A failure after the first byte aborts the response, which a
//! client sees as a cut download (and a verifier as a damaged file).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sealtrail_core::bundle::write::{ChunkSink, EntriesWriter, Written};
use sealtrail_core::bundle::zip_write::{BundleHead, BundleWriter};
use sealtrail_core::bundle::{CompletenessFile, Manifest, Role, StreamField};
use sealtrail_core::filter::EventFilter;
use sealtrail_core::hash::Hash;
use sealtrail_core::header::EntryHeader;
use sealtrail_core::heads::StreamHeads;
use sealtrail_core::proof::NodeSource;
use sealtrail_core::tile::{TileNodeError, TileNodeSource};
use sealtrail_store::query::MAX_LIMIT;
use sealtrail_store::{EventQuery, QueryEvent, Store};
use zip::ZipWriter;

use super::auth::{scope, Ctx};
use super::openapi::{Binary, JsonBodyRefusals};
use crate::access::Scope;
use crate::audit::read_access;
use crate::checkpointer::Signed;
use crate::clock::now_micros;
use crate::error::ApiError;
use crate::log::AppState;
use crate::tiles::StoreTiles;

/// The body of `POST /v1/exports`: the API's one wire type, whose filter
/// goes through the same validator as `GET /v1/events`' parameters.
pub use sealtrail_api::filter::{ExportRequest, TimeValue};

/// The verifier key to ship with a checkpoint: the primary key if it signed
/// it, else the key of the history that did (a rotation may have happened
/// since the checkpoint, or since the server started).
fn vkey_for(keys: &sealtrail_keys::KeyRing, note: &[u8]) -> String {
    use sealtrail_core::checkpoint::SignedCheckpoint;
    use sealtrail_core::note::NoteVerifier;
    let primary = keys.primary_vkey();
    let verifiers = keys.verifiers();
    let opens = |v: &sealtrail_core::note::Ed25519Verifier| {
        SignedCheckpoint::open(note, &[v as &dyn NoteVerifier]).is_ok()
    };
    if verifiers.iter().any(|v| v.to_vkey() == primary && opens(v)) {
        return primary;
    }
    verifiers
        .iter()
        .find(|v| opens(v))
        .map(|v| v.to_vkey())
        .unwrap_or(primary)
}

/// `POST /v1/exports`: the bundle, as `application/zip`.
#[utoipa::path(
    post,
    path = "/v1/exports",
    tag = "read",
    summary = "Export an evidence bundle (zip) for a query",
    security(("bearer" = ["export"])),
    request_body = ExportRequest,
    responses(
        (status = 200, description = "The bundle", content_type = "application/zip", body = inline(Binary),
            headers(("X-Sealtrail-Entries" = u64, description = "The number of matching entries, when known before the bundle is written (queries by time alone)"))),
        JsonBodyRefusals
    )
)]
pub async fn post_export(
    Ctx {
        caller, log: state, ..
    }: Ctx<scope::Export>,
    body: Result<Json<Box<serde_json::value::RawValue>>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (query, with_bodies) = admit_export(&state, &caller, body, "log.export").await?;
    let needs_heads = query.completeness_stream().is_some();
    let signed = checkpoint_for_export(&state, needs_heads).await?;
    let store = state.store.clone();
    let tiles = state.tiles.clone();
    let vkey = vkey_for(&state.signing_keys, &signed.note);
    let size = signed.checkpoint.size;
    // What can fail before the first byte fails here, as an HTTP error.
    let completeness = completeness_file(&query, &signed)?;
    // Known at once for a time range: a browser shows progress with it.
    let known = {
        let (store, query) = (store.clone(), query.clone());
        super::blocking(move || time_range_matches(store.as_ref(), &query, size)).await?
    };
    let (tx, rx) =
        tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(RESPONSE_CHUNKS);
    // Two threads: one selects the entries from the store and formats their
    // lines (with the gap hashes), the other compresses them into the ZIP,
    // so an export uses two cores.
    let (sel_tx, sel_rx) = std::sync::mpsc::sync_channel::<Result<Piece, ApiError>>(PIECES);
    {
        let (store, tiles, signed, query) =
            (store.clone(), tiles.clone(), signed.clone(), query.clone());
        tokio::task::spawn_blocking(move || {
            let input = ExportInput {
                store: store.as_ref(),
                tiles: &tiles,
                signed: &signed,
                vkey: "",
                query: &query,
                with_bodies,
            };
            let nodes = MemoNodes {
                inner: TileNodeSource::new(size, input.tiles),
                memo: RefCell::new(HashMap::new()),
            };
            let mut piped = Piped {
                sink: PieceSink {
                    tx: sel_tx,
                    buf: Vec::with_capacity(PIECE_BYTES),
                },
                entries: EntriesWriter::new(size, with_bodies),
                nodes,
            };
            let selected = select(&input, &mut piped).and_then(|()| piped.finish());
            if let Err(e) = selected {
                // The writer stops at this and aborts the response.
                let _ = piped.sink.tx.send(Err(e));
            }
        });
    }
    tokio::task::spawn_blocking(move || {
        let input = ExportInput {
            store: store.as_ref(),
            tiles: &tiles,
            signed: &signed,
            vkey: &vkey,
            query: &query,
            with_bodies,
        };
        let out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(RESPONSE_CHUNK_BYTES),
        };
        let zip = ZipWriter::new_stream(out);
        let written = write_bundle(&input, completeness.as_ref(), sel_rx, zip)
            .and_then(|(_, mut rest)| rest.flush().map_err(io_err));
        if let Err(e) = written {
            tracing::warn!(error = %e.body.message, "export aborted after the response started");
            // The client sees the response cut short.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.body.message)));
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"evidence.zip\""),
    );
    h.insert("sealtrail-checkpoint-size", HeaderValue::from(size));
    if let Some((start, end)) = known {
        h.insert("x-sealtrail-entries", HeaderValue::from(end - start));
    }
    Ok(resp)
}

/// A refused export body, as `POST /v1/exports` and its plan answer it.
fn body_refused(e: JsonRejection) -> ApiError {
    ApiError::bad_request(
        "invalid_request",
        format!("export request: {}", e.body_text()),
    )
}

/// The export request read, checked against the caller's scopes and
/// self-audited as `what` (`log.export`, `log.export_plan`) before anything
/// of the log is read: the one front door of both export endpoints.
pub(super) async fn admit_export(
    state: &AppState,
    caller: &crate::access::Caller,
    body: Result<Json<Box<serde_json::value::RawValue>>, JsonRejection>,
    what: &'static str,
) -> Result<(EventFilter, bool), ApiError> {
    let Json(body) = body.map_err(body_refused)?;
    let (query, with_bodies) = export_request(caller, body.get().as_bytes())?;
    let mut audit = match serde_json::to_value(&query) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    audit.insert("with_bodies".into(), with_bodies.into());
    read_access(state, caller, what, audit).await?;
    Ok((query, with_bodies))
}

/// The query of an export request and whether bodies go with it (403
/// when they are asked for or the default and the key may not read them).
fn export_request(
    caller: &crate::access::Caller,
    body: &[u8],
) -> Result<(EventFilter, bool), ApiError> {
    let req = ExportRequest::from_json(body).map_err(|e| {
        let mut err = ApiError::bad_request("invalid_request", "");
        err.body = e;
        err
    })?;
    let query = req.filter()?;
    let with_bodies = req.bodies.unwrap_or(caller.has(Scope::Bodies));
    if with_bodies {
        caller.require(
            Scope::Bodies,
            "an export with bodies (send \"bodies\": false)",
        )?;
    }
    Ok((query, with_bodies))
}

/// The number of entries matching a time-only query below `size`, found
/// by two binary searches (no scan): `None` for other queries, whose count
/// takes a walk through their matches.
pub(super) fn time_range_matches(
    store: &dyn Store,
    q: &EventFilter,
    size: u64,
) -> Result<Option<(u64, u64)>, ApiError> {
    if !q.is_time_only() || q.completeness_stream().is_some() {
        return Ok(None);
    }
    let at = |t: Option<u64>, none: u64| -> Result<u64, ApiError> {
        match t {
            Some(t) => Ok(first_entry(store, from_on(t), size)?.map_or(size, |e| e.index)),
            None => Ok(none),
        }
    };
    let start = at(q.from, 0)?;
    let end = at(q.to, size)?.max(start);
    Ok(Some((start, end)))
}

/// Response pieces in flight between the writer and the connection, and
/// their size: the server holds at most about 1 MiB of a bundle at a time.
const RESPONSE_CHUNKS: usize = 16;
const RESPONSE_CHUNK_BYTES: usize = 64 << 10;

/// The bundle's bytes, sent to the response in pieces of
/// [`RESPONSE_CHUNK_BYTES`]; a write fails once the client has gone, which
/// stops the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<axum::body::Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = axum::body::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(RESPONSE_CHUNK_BYTES),
        ));
        self.tx.blocking_send(Ok(piece)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client closed the export's connection",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= RESPONSE_CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// `completeness.json` for a stream claim; an error when the checkpoint has
/// no stream heads yet.
fn completeness_file(
    query: &EventFilter,
    signed: &Signed,
) -> Result<Option<CompletenessFile>, ApiError> {
    let Some((field, id)) = query.completeness_stream() else {
        return Ok(None);
    };
    let key = field.key(id);
    let heads = signed.heads.as_deref().ok_or_else(|| {
        ApiError::unavailable("stream heads are not available yet; retry shortly")
    })?;
    Ok(Some(CompletenessFile::new(key.clone(), &heads.prove(&key))))
}

/// The newest checkpoint once it covers everything committed now (and has
/// the stream heads when they are needed), nudging the checkpointer.
pub(super) async fn checkpoint_for_export(
    state: &AppState,
    needs_heads: bool,
) -> Result<Signed, ApiError> {
    let committed = state.sequencer.head().borrow().size;
    let mut rx = state.checkpoints.clone();
    if committed == 0 && rx.borrow().is_none() {
        return Err(ApiError::not_found(
            "the log is empty: there is nothing to export",
        ));
    }
    let ready = |s: &Option<Signed>| {
        s.as_ref()
            .is_some_and(|s| s.checkpoint.size >= committed && (!needs_heads || s.heads.is_some()))
    };
    let wait = state.limits.wait_timeout.max(Duration::from_secs(1));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let latest = rx.borrow_and_update().clone();
        if ready(&latest) {
            if let Some(s) = latest {
                return Ok(s);
            }
        }
        state.nudge.notify_one();
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => break,
        }
    }
    // Timed out: an older checkpoint still proves what it covers, but a
    // stream claim needs its heads.
    let latest = rx.borrow().clone();
    match latest {
        Some(s) if !needs_heads || s.heads.is_some() => Ok(s),
        Some(_) => Err(ApiError::unavailable(
            "no checkpoint with stream heads is available yet; retry shortly",
        )),
        None if committed == 0 => Err(ApiError::not_found(
            "the log is empty: there is nothing to export",
        )),
        None => Err(ApiError::unavailable(
            "no checkpoint has been signed yet; retry shortly",
        )),
    }
}

/// Everything a bundle is written from.
pub struct ExportInput<'a> {
    pub store: &'a dyn Store,
    pub tiles: &'a StoreTiles,
    pub signed: &'a Signed,
    pub vkey: &'a str,
    pub query: &'a EventFilter,
    pub with_bodies: bool,
}

fn io_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("writing the bundle: {e}"))
}

/// An entry selected for the bundle.
pub struct Selected {
    index: u64,
    role: Role,
    header: Vec<u8>,
    body: Option<([u8; 32], Vec<u8>)>,
}

/// What the selecting thread hands the writing thread: entry lines already
/// formatted with their gap hashes, member by member, then what the
/// manifest needs. Formatting (JSON-escaping headers and bodies) costs
/// about as much as compressing, so it is done where the store is read.
pub enum Piece {
    /// The next `entries/<k>.jsonl` member starts.
    Start(String),
    /// Lines of the current member.
    Lines(Vec<u8>),
    /// Every entry is written.
    Done(Written),
}

/// Lines handed over this many bytes at a time, and pieces in flight: at
/// most about 1 MiB of lines waits for the writer. Pieces stay below the
/// allocator's large-object size: larger ones, freed on the other thread,
/// went back to the system and came back as fresh zeroed pages.
const PIECE_BYTES: usize = 64 << 10;
const PIECES: usize = 16;

/// The selecting thread's end of the channel, as the entries writer's sink.
struct PieceSink {
    tx: std::sync::mpsc::SyncSender<Result<Piece, ApiError>>,
    buf: Vec<u8>,
}

/// The writing thread hung up (it reports its own error to the client).
#[derive(Debug, thiserror::Error)]
#[error("the thread compressing it stopped")]
struct WriterStopped;

impl PieceSink {
    fn send(&self, piece: Piece) -> Result<(), WriterStopped> {
        self.tx.send(Ok(piece)).map_err(|_| WriterStopped)
    }

    fn flush(&mut self) -> Result<(), WriterStopped> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let lines = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE_BYTES));
        self.send(Piece::Lines(lines))
    }
}

impl ChunkSink for PieceSink {
    type Error = WriterStopped;

    fn start(&mut self, name: &str) -> Result<(), WriterStopped> {
        self.flush()?;
        self.send(Piece::Start(name.to_owned()))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), WriterStopped> {
        // Sent before it would outgrow its allocation.
        if !self.buf.is_empty() && self.buf.len() + bytes.len() > PIECE_BYTES {
            self.flush()?;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

/// The selecting thread's writer: each selected entry formatted into its
/// line at once.
struct Piped<'a> {
    sink: PieceSink,
    entries: EntriesWriter,
    nodes: MemoNodes<'a>,
}

impl Piped<'_> {
    /// The next selected entry, in index order.
    fn push(&mut self, e: Selected) -> Result<(), ApiError> {
        let body = e.body.as_ref().map(|(s, b)| (s, b.as_slice()));
        self.entries
            .push(
                &mut self.sink,
                &self.nodes,
                e.index,
                e.role,
                &e.header,
                body,
            )
            .map_err(io_err)
    }

    /// The gap hashes after the last entry; the rest of the lines and what
    /// the manifest needs go to the writer.
    fn finish(&mut self) -> Result<(), ApiError> {
        let entries = std::mem::replace(&mut self.entries, EntriesWriter::new(0, false));
        let written = entries
            .finish::<WriterStopped, _>(&self.nodes)
            .map_err(io_err)?;
        self.sink.flush().map_err(io_err)?;
        self.sink.send(Piece::Done(written)).map_err(io_err)
    }
}

/// Pages of `q` below `size`, each entry handed to `f` in index order.
pub(super) fn each_entry(
    store: &dyn Store,
    mut q: EventQuery,
    size: u64,
    mut f: impl FnMut(QueryEvent) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    q.limit = MAX_LIMIT;
    loop {
        let page = store.query(&q)?;
        for e in page.events {
            if e.index >= size {
                return Ok(());
            }
            f(e)?;
        }
        match page.next_cursor {
            Some(c) if c + 1 < size => q.cursor = Some(c),
            _ => return Ok(()),
        }
    }
}

/// The first entry of `q` below `size`, if any.
pub(super) fn first_entry(
    store: &dyn Store,
    mut q: EventQuery,
    size: u64,
) -> Result<Option<QueryEvent>, ApiError> {
    q.limit = 1;
    loop {
        let page = store.query(&q)?;
        if let Some(e) = page.events.into_iter().next() {
            return Ok((e.index < size).then_some(e));
        }
        match page.next_cursor {
            Some(c) if c + 1 < size => q.cursor = Some(c),
            _ => return Ok(None),
        }
    }
}

fn header_of(store: &dyn Store, index: u64) -> Result<Vec<u8>, ApiError> {
    store
        .entry_headers(index, index + 1)?
        .pop()
        .ok_or_else(|| ApiError::internal(format!("entry {index} is missing from the store")))
}

fn parse(index: u64, bytes: &[u8]) -> Result<EntryHeader, ApiError> {
    EntryHeader::parse(bytes)
        .map_err(|e| ApiError::internal(format!("stored header {index} does not parse: {e}")))
}

/// Everything at or after `from`.
pub(super) fn from_on(from: u64) -> EventQuery {
    EventQuery::new(EventFilter {
        from: Some(from),
        ..EventFilter::default()
    })
}

/// Every entry in the filter's time range.
fn base_query(q: &EventFilter, include_bodies: bool) -> EventQuery {
    EventQuery {
        include_bodies,
        ..EventQuery::new(EventFilter {
            from: q.from,
            to: q.to,
            ..EventFilter::default()
        })
    }
}

/// Selects the entries (docs/formats.md §9.1 roles) into `lines`.
fn select(input: &ExportInput<'_>, lines: &mut Piped) -> Result<(), ApiError> {
    let (store, q, size) = (input.store, input.query, input.signed.checkpoint.size);
    let bodies = input.with_bodies;
    if let Some((field, id)) = q.completeness_stream() {
        let heads = input.signed.heads.as_deref();
        return select_stream(store, q, size, field, id, heads, bodies, lines);
    }
    if q.is_time_only() {
        // The range starts at the first entry at or after `from`; the entry
        // just before it shows that nothing earlier is in the range.
        let start = match q.from {
            Some(from) => first_entry(store, from_on(from), size)?.map_or(size, |e| e.index),
            None => 0,
        };
        if start > 0 && q.from.is_some() {
            lines.push(Selected::header_only(
                start - 1,
                Role::Before,
                header_of(store, start - 1)?,
            ))?;
        }
        let mut end = start;
        each_entry(store, base_query(q, bodies), size, |e| {
            end = e.index + 1;
            lines.push(Selected::of(e, Role::Match))
        })?;
        if end < size {
            lines.push(Selected::header_only(
                end,
                Role::After,
                header_of(store, end)?,
            ))?;
        }
        return Ok(());
    }
    let eq = EventQuery {
        include_bodies: bodies,
        ..EventQuery::new(q.clone())
    };
    each_entry(store, eq, size, |e| {
        lines.push(Selected::of(e, Role::Match))
    })
}

impl Selected {
    /// An entry of the store's answer, its bytes taken out of it.
    fn of(e: QueryEvent, role: Role) -> Selected {
        let body = match (e.salt, e.body) {
            (Some(s), Some(b)) => Some((s, b)),
            _ => None,
        };
        Selected {
            index: e.index,
            role,
            header: e.header,
            body,
        }
    }

    /// An entry shown by its header alone.
    fn header_only(index: u64, role: Role, header: Vec<u8>) -> Selected {
        Selected {
            index,
            role,
            header,
            body: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn select_stream(
    store: &dyn Store,
    q: &EventFilter,
    size: u64,
    field: StreamField,
    id: &str,
    heads: Option<&StreamHeads>,
    bodies: bool,
    lines: &mut Piped,
) -> Result<(), ApiError> {
    let stream_query = |from: Option<u64>, to: Option<u64>, include_bodies: bool| {
        let mut f = EventFilter {
            from,
            to,
            ..EventFilter::default()
        };
        match field {
            StreamField::Agent => f.agent = Some(id.to_owned()),
            StreamField::Session => f.session = Some(id.to_owned()),
        }
        EventQuery {
            include_bodies,
            ..EventQuery::new(f)
        }
    };
    let mut any = false;
    each_entry(store, stream_query(q.from, q.to, bodies), size, |e| {
        let h = parse(e.index, &e.header)?;
        if !any {
            any = true;
            if let (Some(prev), Some(_)) = (field.of(&h).1.and_then(|l| l.prev), q.from) {
                lines.push(Selected::header_only(
                    prev,
                    Role::Before,
                    header_of(store, prev)?,
                ))?;
            }
        }
        let role = if q.filters_match(&h).is_ok() {
            Role::Match
        } else {
            Role::Stream
        };
        lines.push(Selected::of(e, role))
    })?;
    let after = match q.to {
        Some(to) => first_entry(store, stream_query(Some(to), None, false), size)?,
        None => None,
    };
    if !any && q.from.is_some() {
        // Nothing in the range: the entry before it is the one the first
        // entry after the range links to, or else the stream's head.
        let before = match &after {
            Some(a) => field.of(&parse(a.index, &a.header)?).1.and_then(|l| l.prev),
            None => heads
                .ok_or_else(|| ApiError::unavailable("stream heads are not available yet"))?
                .get(&field.key(id))
                .map(|h| h.last),
        };
        if let Some(b) = before {
            lines.push(Selected::header_only(b, Role::Before, header_of(store, b)?))?;
        }
    }
    if let Some(a) = after {
        lines.push(Selected::header_only(a.index, Role::After, a.header))?;
    }
    Ok(())
}

/// Tile nodes remembered for the length of one export: neighbouring proofs
/// share most of their nodes, and a node above the tile's bottom row costs
/// up to 255 hashes to compute from its tile.
struct MemoNodes<'a> {
    inner: TileNodeSource<'a, StoreTiles>,
    memo: RefCell<HashMap<(u8, u64), Hash>>,
}

/// Nodes kept at most (48 bytes each, about 3 MB): gap hashes are read
/// left to right, so recent nodes are the ones asked again.
const MEMO_NODES: usize = 64 << 10;

impl NodeSource for MemoNodes<'_> {
    type Error = TileNodeError<sealtrail_store::StoreError>;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        if let Some(h) = self.memo.borrow().get(&(level, index)) {
            return Ok(*h);
        }
        let h = self.inner.node(level, index)?;
        let mut memo = self.memo.borrow_mut();
        if memo.len() >= MEMO_NODES {
            memo.clear();
        }
        memo.insert((level, index), h);
        Ok(h)
    }
}

/// Writes the bundle into `zip`: the entry lines formatted on the other
/// thread (each with the gap hashes before it, docs/formats.md §10.3), as
/// they arrive; the manifest.
pub fn write_bundle<W: Write + std::io::Seek>(
    input: &ExportInput<'_>,
    completeness: Option<&CompletenessFile>,
    pieces: std::sync::mpsc::Receiver<Result<Piece, ApiError>>,
    zip: ZipWriter<W>,
) -> Result<(Manifest, W), ApiError> {
    let cp = &input.signed.checkpoint;
    let head = BundleHead {
        note: input.signed.note.as_ref(),
        checkpoint: cp,
        vkey: input.vkey,
        query: input.query,
        with_bodies: input.with_bodies,
        completeness,
        software: format!("sealtrail {}", env!("CARGO_PKG_VERSION")),
        created: now_micros(),
    };
    let mut out = BundleWriter::new(zip, head).map_err(io_err)?;
    // The channel closes early only when the selecting thread stopped.
    for piece in pieces {
        match piece? {
            Piece::Start(name) => out.start_entries(&name).map_err(io_err)?,
            Piece::Lines(lines) => out.write_entries(&lines).map_err(io_err)?,
            Piece::Done(written) => return out.finish_written(written).map_err(io_err),
        }
    }
    Err(ApiError::internal(
        "the thread selecting the bundle's entries stopped before the end",
    ))
}
