//! The stdio relay: the agent starts the proxy instead of the MCP server;
//! the proxy starts the server and relays newline-delimited JSON-RPC both
//! ways, each line forwarded byte for byte as soon as it is read. A copy of
//! each line goes to the recorder; the relay never waits for it.
//!
//! Lifecycle: the server's stderr is the proxy's; the agent closing the
//! proxy's stdin closes the server's; the server exiting ends the proxy
//! with the same status (128 + N for signal N); SIGINT, SIGTERM and SIGHUP
//! to the proxy are passed on to the server.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use serde_json::Map;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::Mutex;

use crate::jsonrpc::Side;
use crate::recorder::{Ctx, Feed, FeedTx};
use crate::scope::{Scope, Verdict};
use crate::ProxyError;

const READ_BUFFER: usize = 64 * 1024;

/// Runs the server `command` behind the relay; returns its exit code.
pub async fn run(
    command: &[String],
    feed: FeedTx,
    scope: Option<Arc<Scope>>,
) -> Result<i32, ProxyError> {
    let (program, args) = command.split_first().ok_or(ProxyError::NoCommand)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group: a terminal's Ctrl-C reaches the proxy only,
        // which passes it on once (not twice).
        .process_group(0)
        .spawn()
        .map_err(|source| ProxyError::Spawn {
            program: program.clone(),
            source,
        })?;
    let pid = child.id();
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ProxyError::NotPipes);
    };
    forward_signals(pid);

    let agent_out = Arc::new(Mutex::new(agent_stdout()));
    let upstream = tokio::spawn(client_to_server(
        agent_stdin(),
        server_in,
        agent_out.clone(),
        feed.clone(),
        scope,
    ));
    // The server's stdout ends when it exits (or closes it): then the proxy
    // is done, whatever the agent still sends.
    server_to_client(server_out, agent_out, feed.clone()).await;
    let status = child.wait().await.map_err(|source| ProxyError::Io {
        what: "waiting for the MCP server",
        source,
    })?;
    upstream.abort();

    let code = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    let mut attributes = Map::new();
    attributes.insert("exit_code".into(), code.into());
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        attributes.insert("signal".into(), sig.into());
    }
    attributes.insert("program".into(), program.clone().into());
    let _ = feed.send(Feed::Note {
        session: None,
        wall: SystemTime::now(),
        kind: "agent_lifecycle",
        action: "mcp/server_exit",
        outcome: if code == 0 { "success" } else { "failure" },
        attributes,
    });
    Ok(code)
}

/// Agent → server. At the agent's EOF the server's stdin is closed.
async fn client_to_server<R, W, O>(
    agent_in: R,
    mut server_in: W,
    agent_out: Arc<Mutex<O>>,
    feed: FeedTx,
    scope: Option<Arc<Scope>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut reader = BufReader::with_capacity(READ_BUFFER, agent_in);
    let mut line = Vec::with_capacity(READ_BUFFER);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let at = Instant::now();
        if let Some(scope) = &scope {
            if let Verdict::Deny { response, reason } = scope.judge(trim_eol(&line)) {
                if let Some(mut r) = response {
                    r.push(b'\n');
                    let mut out = agent_out.lock().await;
                    let _ = out.write_all(&r).await;
                    let _ = out.flush().await;
                }
                let _ = feed.send(Feed::Denied {
                    ctx: Ctx::default(),
                    at,
                    wall: SystemTime::now(),
                    bytes: Bytes::copy_from_slice(trim_eol(&line)),
                    reason,
                });
                continue;
            }
        }
        // Queued before it is forwarded: the answer, read by the other task,
        // must never reach the recorder ahead of its request.
        observe(&feed, Side::Client, at, &line);
        if server_in.write_all(&line).await.is_err() || server_in.flush().await.is_err() {
            break; // the server is gone; its exit ends the proxy
        }
    }
    // Dropping the pipe is the EOF the server waits for.
    let _ = server_in.shutdown().await;
}

/// Server → agent, until the server's stdout closes.
async fn server_to_client<R, O>(server_out: R, agent_out: Arc<Mutex<O>>, feed: FeedTx)
where
    R: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut reader = BufReader::with_capacity(READ_BUFFER, server_out);
    let mut line = Vec::with_capacity(READ_BUFFER);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Queued first, as above (server requests and the agent's answers).
        observe(&feed, Side::Server, Instant::now(), &line);
        let mut out = agent_out.lock().await;
        // A write error means the agent is gone; keep draining so that the
        // server is not blocked on a full pipe while it shuts down.
        if out.write_all(&line).await.is_ok() {
            let _ = out.flush().await;
        }
    }
}

/// Hands a copy of a relayed line to the recorder (blank lines are framing,
/// not messages).
fn observe(feed: &FeedTx, origin: Side, at: Instant, line: &[u8]) {
    let text = trim_eol(line);
    if text.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let _ = feed.send(Feed::Message {
        origin,
        ctx: Ctx::default(),
        at,
        wall: SystemTime::now(),
        bytes: Bytes::copy_from_slice(text),
    });
}

type AgentIn = Box<dyn AsyncRead + Unpin + Send>;
type AgentOut = Box<dyn AsyncWrite + Unpin + Send>;

/// The agent's end of stdin, read through the reactor when it is a pipe or
/// a socket (as agents launch MCP servers). `tokio::io::stdin` hands every
/// read to a blocking thread, a thread switch per message on the hot path.
fn agent_stdin() -> AgentIn {
    match async_fd(std::io::stdin().as_fd()) {
        Some(AsyncFd::Pipe(f)) => match tokio::net::unix::pipe::Receiver::from_file(f) {
            Ok(r) => Box::new(r),
            Err(_) => Box::new(tokio::io::stdin()),
        },
        Some(AsyncFd::Socket(s)) => match tokio::net::UnixStream::from_std(s) {
            Ok(s) => Box::new(s),
            Err(_) => Box::new(tokio::io::stdin()),
        },
        None => Box::new(tokio::io::stdin()),
    }
}

/// The agent's end of stdout, like [`agent_stdin`].
fn agent_stdout() -> AgentOut {
    match async_fd(std::io::stdout().as_fd()) {
        Some(AsyncFd::Pipe(f)) => match tokio::net::unix::pipe::Sender::from_file(f) {
            Ok(w) => Box::new(w),
            Err(_) => Box::new(tokio::io::stdout()),
        },
        Some(AsyncFd::Socket(s)) => match tokio::net::UnixStream::from_std(s) {
            Ok(s) => Box::new(s),
            Err(_) => Box::new(tokio::io::stdout()),
        },
        None => Box::new(tokio::io::stdout()),
    }
}

enum AsyncFd {
    Pipe(std::fs::File),
    Socket(std::os::unix::net::UnixStream),
}

/// A duplicate of `fd` when it is a FIFO or a Unix stream socket (set
/// non-blocking, as the reactor needs; the agent's end is its own).
fn async_fd(fd: std::os::fd::BorrowedFd<'_>) -> Option<AsyncFd> {
    let owned = fd.try_clone_to_owned().ok()?;
    let kind = std::fs::File::from(owned.try_clone().ok()?)
        .metadata()
        .ok()?
        .file_type();
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        Some(AsyncFd::Pipe(std::fs::File::from(owned)))
    } else if kind.is_socket() {
        let s = std::os::unix::net::UnixStream::from(owned);
        s.set_nonblocking(true).ok()?;
        Some(AsyncFd::Socket(s))
    } else {
        None
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Passes SIGINT, SIGTERM and SIGHUP on to the server's process group.
fn forward_signals(pid: Option<u32>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    for (kind, num) in [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ] {
        let Ok(mut stream) = signal(kind) else {
            continue;
        };
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                // SAFETY: kill(2) to the process group made for the child.
                unsafe { libc::kill(-pid, num) };
            }
        });
    }
}
