//! The graphql-transport-ws endpoint on smol, through async-tungstenite: no tokio anywhere.
//!
//! The same protocol, authentication (`connectionParams` `{"tenant", "user"}`), demo orders,
//! `POST /publish`, `GET /metrics`, flags and 1001 on SIGTERM as `examples/server` (axum on
//! tokio), on one port: a request that asks for a WebSocket upgrade is served as
//! graphql-transport-ws at any path, anything else but those two routes gets 404 (there is no
//! live page). The conformance suite (`scripts/conformance`) runs against it too, and the
//! end-to-end benchmark (`scripts/bench-e2e`) beside `examples/server`.
//!
//! Run: `cargo run --example server_smol --no-default-features --features smol,ws-tungstenite -- --port 4000`
//! Flags: those of `examples/server` (see its documentation), and `--threads N` (2: executor
//! threads).

mod demo;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_executor::Executor;
use async_io::{Async, Timer};
use async_signal::{Signal, Signals};
use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use subcast::ws::Endpoint;
use subcast::{Node, Runtime, SmolRuntime};

/// Longest request head read (request line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest `POST /publish` body.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

fn main() -> io::Result<()> {
    let mut threads = 2;
    let options = demo::Options::parse(std::env::args().skip(1), |flag, value| match flag {
        "--threads" => {
            let n: usize = value
                .parse()
                .map_err(|_| format!("--threads: {value} is not a number"))?;
            threads = n.max(1);
            Ok(true)
        }
        _ => Ok(false),
    })
    .unwrap_or_else(|message| {
        eprintln!("{message}\nusage: server_smol {} [--threads N]", demo::USAGE);
        std::process::exit(2);
    });
    let tasks = Arc::new(Executor::new());
    for _ in 1..threads {
        let tasks = tasks.clone();
        std::thread::spawn(move || async_io::block_on(tasks.run(future::pending::<()>())));
    }
    let runtime: Arc<dyn Runtime> = Arc::new(SmolRuntime::new(tasks.clone()));
    async_io::block_on(tasks.run(serve(tasks.clone(), runtime, options)))
}

async fn serve(
    tasks: Arc<Executor<'static>>,
    runtime: Arc<dyn Runtime>,
    options: demo::Options,
) -> io::Result<()> {
    // Listening from here on, so a signal sent as soon as the server announces itself counts.
    #[cfg(unix)]
    let mut stop = Signals::new([Signal::Term, Signal::Int])?;
    #[cfg(not(unix))]
    let mut stop = Signals::new([Signal::Int])?;
    let node = Node::builder()
        .runtime(runtime.clone())
        .build()
        .await
        .map_err(io::Error::other)?;
    let node = Arc::new(node);
    let endpoint = demo::endpoint(node.executor().clone(), runtime, &options);
    if let Some(interval) = options.publish_interval {
        tasks.spawn(publish_demo_orders(node.clone(), interval)).detach();
    }

    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], options.port))?;
    println!(
        "graphql-transport-ws on ws://{}/graphql, metrics on /metrics",
        listener.get_ref().local_addr()?
    );
    let accepting = async {
        loop {
            let (stream, _) = listener.accept().await?;
            // Small frames go out at once instead of waiting for the previous one's ACK.
            let _ = stream.get_ref().set_nodelay(true);
            let (node, endpoint) = (node.clone(), endpoint.clone());
            tasks
                .spawn(async move {
                    // A client that sends garbage or leaves only ends its own connection.
                    let _ = connection(stream, &node, &endpoint).await;
                })
                .detach();
        }
    };
    let stopped = async {
        stop.next().await;
        Ok::<(), io::Error>(())
    };
    future::or(accepting, stopped).await?;
    // Clients reconnect after 1001: to another node, or to this one restarted.
    let timed_out = async {
        Timer::after(Duration::from_secs(5)).await;
        eprintln!("some connections did not close within 5 s");
    };
    future::or(endpoint.shutdown(), timed_out).await;
    Ok(())
}

/// A demo order every `interval` (see `demo::demo_order`).
async fn publish_demo_orders(node: Arc<Node>, interval: Duration) {
    let mut ticks = Timer::interval(interval);
    for n in 0u64.. {
        ticks.next().await;
        if let Err(error) = node.publish(demo::demo_order(n)).await {
            eprintln!("publishing order-{n} failed: {error}");
        }
    }
}

/// Serve one TCP connection: `POST /publish` requests (kept alive) until one asks for a
/// WebSocket upgrade, which is then served as graphql-transport-ws.
async fn connection(mut stream: Async<TcpStream>, node: &Node, endpoint: &Endpoint) -> io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        let Some(head_len) = read_head(&mut stream, &mut buffer).await? else {
            return Ok(());
        };
        let head = Head::parse(&buffer[..head_len])?;
        if head.upgrade {
            // The handshake reads the request again: hand it what was read of it.
            let stream = Prefixed {
                prefix: buffer,
                read: 0,
                stream,
            };
            return subcast::ws::tungstenite::accept(endpoint, stream)
                .await
                .map_err(io::Error::other);
        }
        let body_end = head_len + head.content_length;
        if head.content_length > MAX_BODY_BYTES {
            return respond(&mut stream, 413, "body too large").await;
        }
        while buffer.len() < body_end {
            let mut chunk = [0; 16 * 1024];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let body = String::from_utf8_lossy(&buffer[head_len..body_end]).into_owned();
        buffer.drain(..body_end);
        match (head.method.as_str(), head.path.as_str()) {
            ("POST", "/publish") => match demo::publish(node, &body).await {
                Ok(answer) => respond(&mut stream, 200, &answer.to_string()).await?,
                Err((status, error)) => respond(&mut stream, status, &error).await?,
            },
            ("GET", "/metrics") => respond(&mut stream, 200, &node.executor().prometheus_metrics()).await?,
            _ => return respond(&mut stream, 404, "not found").await,
        }
    }
}

/// Read until `buffer` holds a whole request head; its length, or `None` at a clean end.
async fn read_head(stream: &mut Async<TcpStream>, buffer: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            return Ok(Some(end + 4));
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return if buffer.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

async fn respond(stream: &mut Async<TcpStream>, status: u16, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        _ => "Bad Request",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await
}

/// What this server reads of a request head.
struct Head {
    method: String,
    path: String,
    content_length: usize,
    upgrade: bool,
}

impl Head {
    fn parse(head: &[u8]) -> io::Result<Head> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        let text = std::str::from_utf8(head).map_err(|_| invalid("request head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let mut request = lines.next().unwrap_or_default().split(' ');
        let (Some(method), Some(path)) = (request.next(), request.next()) else {
            return Err(invalid("no request line"));
        };
        let (mut content_length, mut upgrade) = (0, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().map_err(|_| invalid("bad content-length"))?;
            } else if name.eq_ignore_ascii_case("upgrade") {
                upgrade = value.eq_ignore_ascii_case("websocket");
            }
        }
        Ok(Head {
            method: method.to_owned(),
            path: path.to_owned(),
            content_length,
            upgrade,
        })
    }
}

/// A stream that first yields bytes already read from it.
struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    stream: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let n = out.len().min(this.prefix.len() - this.read);
            out[..n].copy_from_slice(&this.prefix[this.read..this.read + n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.stream).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}
