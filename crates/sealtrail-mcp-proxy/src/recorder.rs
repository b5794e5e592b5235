//! The recorder: turns copies of relayed bytes into events, off the relay's
//! path. The relays only push [`Feed`] items into an unbounded channel (a
//! push never waits); this task parses them, pairs requests with answers,
//! and hands serialized events to the sender.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::jsonrpc::{self, Id, Message, Parsed, Side};
use crate::mapping::{self, Agent, Answer, Exchange};
use crate::sse::SseParser;

/// HTTP facts that travel with a message (Streamable HTTP only).
#[derive(Debug, Clone, Default)]
pub struct HttpMeta {
    /// `Mcp-Method` (2026-07-28).
    pub mcp_method: Option<String>,
    /// `Mcp-Name` (2026-07-28).
    pub mcp_name: Option<String>,
    /// `Mcp-Protocol-Version`.
    pub protocol_version: Option<String>,
    /// The response status, on server messages.
    pub status: Option<u16>,
}

/// Where a message travelled: which HTTP exchange (0 on stdio) and session.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub exchange: u64,
    pub session: Option<Arc<str>>,
    pub http: Option<Arc<HttpMeta>>,
}

/// What a relay saw.
#[derive(Debug)]
pub enum Feed {
    /// One complete JSON text relayed from `origin` (a stdio line, an HTTP
    /// request body).
    Message {
        origin: Side,
        ctx: Ctx,
        at: Instant,
        wall: SystemTime,
        bytes: Bytes,
    },
    /// A chunk of the server's HTTP response body (JSON or an SSE stream).
    Body {
        ctx: Ctx,
        at: Instant,
        wall: SystemTime,
        bytes: Bytes,
        sse: bool,
    },
    /// That body ended, or the agent went away before it did.
    BodyEnd {
        ctx: Ctx,
        at: Instant,
        wall: SystemTime,
    },
    /// A client message the policy refused: it was answered, not forwarded.
    Denied {
        ctx: Ctx,
        at: Instant,
        wall: SystemTime,
        bytes: Bytes,
        reason: String,
    },
    /// Every relay is done: record what was never answered, then stop.
    Shutdown,
    /// Something that is not a message: server exit, session deleted…
    Note {
        session: Option<Arc<str>>,
        wall: SystemTime,
        kind: &'static str,
        action: &'static str,
        outcome: &'static str,
        attributes: Map<String, Value>,
    },
}

/// Channel end the relays push into.
pub type FeedTx = UnboundedSender<Feed>;

struct Pending {
    id: Id,
    method: String,
    params: Option<Value>,
    origin: Side,
    at: Instant,
    wall: SystemTime,
    session: String,
    exchange: u64,
    http: Option<Arc<HttpMeta>>,
}

#[derive(Default)]
struct SessionInfo {
    /// Event id of the initialize / server/discover that opened it.
    opened_by: Option<String>,
    server: Option<Value>,
    protocol_version: Option<String>,
}

enum BodyState {
    Json(BytesMut),
    Sse(SseParser),
}

/// Pairs requests and answers and emits events.
pub struct Recorder {
    agent: Agent,
    transport: &'static str,
    /// Session label when the transport has none (stdio, stateless HTTP).
    default_session: String,
    seq: u64,
    pending: HashMap<(Side, String, String), Pending>,
    sessions: HashMap<String, SessionInfo>,
    bodies: HashMap<u64, (Ctx, BodyState)>,
    out: UnboundedSender<Vec<u8>>,
}

impl Recorder {
    pub fn new(
        agent: Agent,
        transport: &'static str,
        default_session: String,
        out: UnboundedSender<Vec<u8>>,
    ) -> Recorder {
        Recorder {
            agent,
            transport,
            default_session,
            seq: 0,
            pending: HashMap::new(),
            sessions: HashMap::new(),
            bodies: HashMap::new(),
            out,
        }
    }

    /// Consumes the feed until every relay has hung up, then records what
    /// was never answered as `pending`.
    pub async fn run(mut self, mut rx: UnboundedReceiver<Feed>) {
        while let Some(feed) = rx.recv().await {
            if matches!(feed, Feed::Shutdown) {
                break;
            }
            self.handle(feed);
        }
        self.close();
    }

    /// Handles one item of the feed (what [`Recorder::run`] does for each).
    pub fn handle(&mut self, feed: Feed) {
        match feed {
            Feed::Message {
                origin,
                ctx,
                at,
                wall,
                bytes,
            } => self.text(origin, &ctx, at, wall, &bytes),
            Feed::Body {
                ctx,
                at,
                wall,
                bytes,
                sse,
            } => self.body(ctx, at, wall, bytes, sse),
            Feed::BodyEnd { ctx, at, wall } => self.body_end(&ctx, at, wall),
            Feed::Denied {
                ctx,
                at,
                wall,
                bytes,
                reason,
            } => self.denied(&ctx, at, wall, &bytes, &reason),
            Feed::Shutdown => {}
            Feed::Note {
                session,
                wall,
                kind,
                action,
                outcome,
                attributes,
            } => {
                let session = self.session_label(session.as_deref());
                let parent = self.opened_by(&session);
                self.note(
                    kind,
                    action,
                    outcome,
                    &session,
                    parent.as_deref(),
                    wall,
                    attributes,
                );
            }
        }
    }

    fn session_label(&self, s: Option<&str>) -> String {
        s.map_or_else(|| self.default_session.clone(), str::to_string)
    }

    fn opened_by(&self, session: &str) -> Option<String> {
        self.sessions.get(session).and_then(|s| s.opened_by.clone())
    }

    /// One complete JSON text from `origin`.
    fn text(&mut self, origin: Side, ctx: &Ctx, at: Instant, wall: SystemTime, bytes: &[u8]) {
        match jsonrpc::parse(bytes) {
            Parsed::One(m) => self.message(origin, ctx, at, wall, m),
            Parsed::Batch(items) => {
                for item in items {
                    match item {
                        Ok(m) => self.message(origin, ctx, at, wall, m),
                        Err(why) => self.malformed(origin, ctx, wall, bytes, &why),
                    }
                }
            }
            Parsed::Malformed(why) => self.malformed(origin, ctx, wall, bytes, &why),
        }
    }

    fn message(&mut self, origin: Side, ctx: &Ctx, at: Instant, wall: SystemTime, m: Message) {
        let session = self.session_label(ctx.session.as_deref());
        match m {
            Message::Request { id, method, params } => {
                let key = self.key(origin, ctx, &session, &id);
                self.pending.insert(
                    key,
                    Pending {
                        id,
                        method,
                        params,
                        origin,
                        at,
                        wall,
                        session,
                        exchange: ctx.exchange,
                        http: ctx.http.clone(),
                    },
                );
            }
            Message::Notification { method, params } => {
                if method == "notifications/cancelled" {
                    let request = params.as_ref().and_then(|p| p.get("requestId")).cloned();
                    if let Some(rid @ (Value::String(_) | Value::Number(_))) = request {
                        let key = self.key(origin, ctx, &session, &Id(rid));
                        if let Some(p) = self.take(key) {
                            self.emit_exchange(&p, Answer::Cancelled(params.as_ref()), ctx, at);
                        }
                    }
                }
            }
            Message::Response { id, result } => {
                let key = self.key(other(origin), ctx, &session, &id);
                match self.take(key) {
                    Some(p) => self.answered(p, Answer::Result(&result), ctx, at),
                    None => self.unmatched(origin, ctx, wall, &id, json!({ "result": result })),
                }
            }
            Message::Error {
                id: Some(id),
                error,
            } => {
                let key = self.key(other(origin), ctx, &session, &id);
                match self.take(key) {
                    Some(p) => self.answered(p, Answer::Error(&error), ctx, at),
                    None => self.unmatched(origin, ctx, wall, &id, json!({ "error": error })),
                }
            }
            Message::Error { id: None, error } => {
                // An answer to input the peer could not parse: the error is
                // the record (the offending input was recorded as malformed).
                let mut mcp = self.mcp_attrs(&session);
                mcp.insert("direction".into(), origin.direction().into());
                let mut attrs = Map::new();
                attrs.insert("mcp".into(), Value::Object(mcp));
                attrs.insert("error".into(), error);
                let parent = self.opened_by(&session);
                self.note(
                    "custom",
                    "mcp/error",
                    "failure",
                    &session,
                    parent.as_deref(),
                    wall,
                    attrs,
                );
            }
        }
    }

    /// Requests are paired per HTTP exchange when the client sent them (the
    /// answer comes back on that POST), per session when the server did (the
    /// agent answers on a later POST). On stdio both are the one stream.
    fn key(&self, requester: Side, ctx: &Ctx, session: &str, id: &Id) -> (Side, String, String) {
        let scope = match requester {
            Side::Client => format!("x{}", ctx.exchange),
            Side::Server => format!("s{session}"),
        };
        (requester, scope, id.key())
    }

    fn take(&mut self, key: (Side, String, String)) -> Option<Pending> {
        self.pending.remove(&key)
    }

    fn answered(&mut self, p: Pending, answer: Answer<'_>, ctx: &Ctx, at: Instant) {
        // The session an initialize opened is named by its answer's
        // Mcp-Session-Id header.
        let session = ctx
            .session
            .as_deref()
            .map_or(p.session.clone(), str::to_string);
        if matches!(p.method.as_str(), "initialize" | "server/discover") {
            if let Answer::Result(r) = answer {
                let info = self.sessions.entry(session.clone()).or_default();
                info.server = r.get("serverInfo").cloned();
                info.protocol_version = r
                    .get("protocolVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
        let p = Pending { session, ..p };
        let id = self.emit_exchange(&p, answer, ctx, at);
        if matches!(p.method.as_str(), "initialize" | "server/discover") {
            let info = self.sessions.entry(p.session.clone()).or_default();
            info.opened_by.get_or_insert(id);
        }
    }

    fn emit_exchange(&mut self, p: &Pending, answer: Answer<'_>, ctx: &Ctx, at: Instant) -> String {
        // Liveness checks would drown the trail and carry nothing: they are
        // tracked (so their answers are not "unmatched") but not recorded.
        if p.method == "ping" {
            return String::new();
        }
        let mut mcp = self.mcp_attrs(&p.session);
        if let Some(h) = &p.http {
            http_attrs(&mut mcp, h, &p.method, p.params.as_ref());
        }
        if let Some(h) = &ctx.http {
            if let Some(s) = h.status {
                mcp.insert("http_status".into(), s.into());
            }
        }
        let parent = match p.method.as_str() {
            "initialize" | "server/discover" => None,
            _ => self.opened_by(&p.session),
        };
        let ex = Exchange {
            method: &p.method,
            id: &p.id,
            origin: p.origin,
            params: p.params.as_ref(),
            answer,
            session: &p.session,
            parent: parent.as_deref(),
            occurred_at: p.wall,
            duration: Some(at.saturating_duration_since(p.at)),
            mcp,
        };
        self.seq += 1;
        let (id, bytes) = mapping::exchange_event(&self.agent, self.seq, &ex);
        let _ = self.out.send(bytes);
        id
    }

    /// `attributes.mcp` common to a session's events.
    fn mcp_attrs(&self, session: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("transport".into(), self.transport.into());
        if let Some(info) = self.sessions.get(session) {
            if let Some(s) = &info.server {
                m.insert("server".into(), s.clone());
            }
            if let Some(v) = &info.protocol_version {
                m.insert("protocol_version".into(), v.clone().into());
            }
        }
        m
    }

    #[allow(clippy::too_many_arguments)]
    fn note(
        &mut self,
        kind: &str,
        action: &str,
        outcome: &str,
        session: &str,
        parent: Option<&str>,
        wall: SystemTime,
        attrs: Map<String, Value>,
    ) {
        self.seq += 1;
        let bytes = mapping::note_event(
            &self.agent,
            self.seq,
            kind,
            action,
            outcome,
            Some(session),
            parent,
            wall,
            attrs,
        );
        let _ = self.out.send(bytes);
    }

    fn malformed(&mut self, origin: Side, ctx: &Ctx, wall: SystemTime, bytes: &[u8], why: &str) {
        let session = self.session_label(ctx.session.as_deref());
        let mut mcp = self.mcp_attrs(&session);
        mcp.insert("direction".into(), origin.direction().into());
        let mut attrs = Map::new();
        attrs.insert("mcp".into(), Value::Object(mcp));
        attrs.insert("reason".into(), why.into());
        attrs.insert("message".into(), excerpt(bytes));
        attrs.insert("bytes".into(), bytes.len().into());
        let parent = self.opened_by(&session);
        self.note(
            "custom",
            "mcp/malformed",
            "failure",
            &session,
            parent.as_deref(),
            wall,
            attrs,
        );
    }

    fn unmatched(&mut self, origin: Side, ctx: &Ctx, wall: SystemTime, id: &Id, answer: Value) {
        let session = self.session_label(ctx.session.as_deref());
        let mut mcp = self.mcp_attrs(&session);
        mcp.insert("direction".into(), origin.direction().into());
        mcp.insert("request_id".into(), id.0.clone());
        let mut attrs = Map::new();
        attrs.insert("mcp".into(), Value::Object(mcp));
        attrs.insert("answer".into(), answer);
        let parent = self.opened_by(&session);
        self.note(
            "custom",
            "mcp/unmatched_response",
            "failure",
            &session,
            parent.as_deref(),
            wall,
            attrs,
        );
    }

    fn denied(&mut self, ctx: &Ctx, at: Instant, wall: SystemTime, bytes: &[u8], reason: &str) {
        let session = self.session_label(ctx.session.as_deref());
        let requests: Vec<Message> = match jsonrpc::parse(bytes) {
            Parsed::One(m) => vec![m],
            Parsed::Batch(items) => items.into_iter().flatten().collect(),
            Parsed::Malformed(why) => {
                return self.malformed(Side::Client, ctx, wall, bytes, &format!("{reason}: {why}"));
            }
        };
        for m in requests {
            // A refused call sent as a notification has no id to answer,
            // but it is still on record.
            let m = match m {
                Message::Notification { method, params } => Message::Request {
                    id: Id(Value::Null),
                    method,
                    params,
                },
                other => other,
            };
            if let Message::Request { id, method, params } = m {
                let p = Pending {
                    id,
                    method,
                    params,
                    origin: Side::Client,
                    at,
                    wall,
                    session: session.clone(),
                    exchange: ctx.exchange,
                    http: ctx.http.clone(),
                };
                self.emit_exchange(&p, Answer::Denied(reason), ctx, at);
            }
        }
    }

    fn body(&mut self, ctx: Ctx, at: Instant, wall: SystemTime, bytes: Bytes, sse: bool) {
        let exchange = ctx.exchange;
        let (ctx, state) = self.bodies.entry(exchange).or_insert_with(|| {
            let state = if sse {
                BodyState::Sse(SseParser::default())
            } else {
                BodyState::Json(BytesMut::new())
            };
            (ctx, state)
        });
        match state {
            BodyState::Json(buf) => buf.extend_from_slice(&bytes),
            BodyState::Sse(parser) => {
                let events = parser.push(&bytes);
                let ctx = ctx.clone();
                for data in events {
                    self.text(Side::Server, &ctx, at, wall, data.as_bytes());
                }
            }
        }
    }

    fn body_end(&mut self, ctx: &Ctx, at: Instant, wall: SystemTime) {
        if let Some((body_ctx, state)) = self.bodies.remove(&ctx.exchange) {
            match state {
                BodyState::Json(buf) if !buf.is_empty() => {
                    self.text(Side::Server, &body_ctx, at, wall, &buf);
                }
                BodyState::Sse(mut parser) => {
                    if let Some(data) = parser.finish() {
                        self.text(Side::Server, &body_ctx, at, wall, data.as_bytes());
                    }
                }
                BodyState::Json(_) => {}
            }
        }
        // Client requests of this exchange that got no answer on it.
        let status = ctx.http.as_ref().and_then(|h| h.status);
        let orphans: Vec<_> = self
            .pending
            .iter()
            .filter(|(k, p)| k.0 == Side::Client && p.exchange == ctx.exchange && ctx.exchange != 0)
            .map(|(k, _)| k.clone())
            .collect();
        for k in orphans {
            if let Some(p) = self.pending.remove(&k) {
                self.emit_exchange(&p, Answer::Unanswered(status), ctx, at);
            }
        }
    }

    /// Records every request still unanswered as `pending`.
    pub fn close(&mut self) {
        let now = Instant::now();
        let mut left: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        left.sort_by_key(|p| p.at);
        for p in left {
            self.emit_exchange(&p, Answer::Unanswered(None), &Ctx::default(), now);
        }
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// The 2026-07-28 routing headers as sent, and whether they disagree with
/// the body (a server must refuse such a request).
fn http_attrs(mcp: &mut Map<String, Value>, h: &HttpMeta, method: &str, params: Option<&Value>) {
    let mut http = Map::new();
    if let Some(m) = &h.mcp_method {
        http.insert("mcp_method".into(), m.clone().into());
        if m != method {
            http.insert("header_mismatch".into(), true.into());
        }
    }
    if let Some(n) = &h.mcp_name {
        http.insert("mcp_name".into(), n.clone().into());
        let key = match method {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            _ => None,
        };
        let body_name = key.and_then(|k| jsonrpc::param_str(params, k));
        if key.is_some() && body_name != Some(n.as_str()) {
            http.insert("header_mismatch".into(), true.into());
        }
    }
    if let Some(v) = &h.protocol_version {
        http.insert("protocol_version".into(), v.clone().into());
    }
    if !http.is_empty() {
        mcp.insert("http".into(), Value::Object(http));
    }
}

/// The first 4 KiB of a message, as text, for the record of a malformed one.
fn excerpt(bytes: &[u8]) -> Value {
    let cut = &bytes[..bytes.len().min(4096)];
    String::from_utf8_lossy(cut).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn recorder() -> (Recorder, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let agent = Agent {
            id: "a".into(),
            instance: "inst".into(),
        };
        (
            Recorder::new(agent, "streamable_http", "inst".into(), tx),
            rx,
        )
    }

    fn events(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            out.push(serde_json::from_slice(&b).unwrap());
        }
        out
    }

    fn ctx(exchange: u64, session: Option<&str>, status: Option<u16>) -> Ctx {
        Ctx {
            exchange,
            session: session.map(Arc::from),
            http: Some(Arc::new(HttpMeta {
                status,
                ..HttpMeta::default()
            })),
        }
    }

    fn msg(origin: Side, ctx: Ctx, text: &str) -> Feed {
        Feed::Message {
            origin,
            ctx,
            at: Instant::now(),
            wall: SystemTime::now(),
            bytes: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    fn body(ctx: Ctx, text: &str, sse: bool) -> Feed {
        Feed::Body {
            ctx,
            at: Instant::now(),
            wall: SystemTime::now(),
            bytes: Bytes::copy_from_slice(text.as_bytes()),
            sse,
        }
    }

    fn end(ctx: Ctx) -> Feed {
        Feed::BodyEnd {
            ctx,
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    #[test]
    fn http_session_named_by_the_initialize_answer_and_server_requests_paired_per_session() {
        let (mut r, mut rx) = recorder();
        r.handle(msg(
            Side::Client,
            ctx(1, None, None),
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
        ));
        r.handle(body(
            ctx(1, Some("S"), Some(200)),
            r#"{"jsonrpc":"2.0","id":1,"result":{"serverInfo":{"name":"srv"}}}"#,
            false,
        ));
        r.handle(end(ctx(1, Some("S"), Some(200))));
        // Same JSON-RPC id on two exchanges: paired per exchange.
        for x in [2, 3] {
            r.handle(msg(
                Side::Client,
                ctx(x, Some("S"), None),
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t"}}"#,
            ));
        }
        // Exchange 3 answers over SSE, with a sampling request first; the
        // agent answers that on exchange 4.
        r.handle(body(ctx(3, Some("S"), Some(200)), "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"sampling/createMessage\",\"params\":{}}\n\n", true));
        r.handle(msg(
            Side::Client,
            ctx(4, Some("S"), None),
            r#"{"jsonrpc":"2.0","id":0,"result":{"model":"m"}}"#,
        ));
        r.handle(body(
            ctx(3, Some("S"), Some(200)),
            "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"isError\":true}}\n\n",
            true,
        ));
        r.handle(end(ctx(3, Some("S"), Some(200))));
        // Exchange 2's server fails without a JSON-RPC answer.
        r.handle(end(ctx(2, Some("S"), Some(500))));

        let ev = events(&mut rx);
        let actions: Vec<_> = ev
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("initialize", "success"),
                ("sampling/createMessage", "success"),
                ("tools/call", "failure"),
                ("tools/call", "failure"),
            ]
        );
        assert!(ev.iter().all(|e| e["session"] == "S"));
        assert!(ev[1..].iter().all(|e| e["parent"] == ev[0]["id"]));
        assert_eq!(ev[1]["model"]["name"], "m");
        assert_eq!(ev[1]["attributes"]["mcp"]["server"]["name"], "srv");
        assert_eq!(ev[2]["tool"]["result"]["isError"], true);
        assert_eq!(ev[3]["attributes"]["error"]["http_status"], 500);
        let seqs: Vec<_> = ev.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    #[test]
    fn cancelled_pending_and_pings() {
        let (mut r, mut rx) = recorder();
        let c = Ctx::default;
        r.handle(msg(
            Side::Client,
            c(),
            r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#,
        ));
        r.handle(msg(
            Side::Server,
            c(),
            r#"{"jsonrpc":"2.0","id":"p","result":{}}"#,
        ));
        r.handle(msg(
            Side::Client,
            c(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#,
        ));
        r.handle(msg(Side::Client, c(), r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}}"#));
        r.handle(msg(
            Side::Client,
            c(),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"never"}}"#,
        ));
        r.close();
        let ev = events(&mut rx);
        // The ping and its answer leave no trace; the cancelled call fails;
        // the open one is pending.
        let got: Vec<_> = ev
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [("tools/call", "failure"), ("tools/call", "pending")]);
        assert_eq!(ev[0]["attributes"]["error"]["cancelled"]["reason"], "user");
        assert_eq!(ev[1]["tool"]["name"], "never");
    }
}
