//! The end-to-end load generator of issue #13: real graphql-transport-ws clients over
//! loopback against any server that exposes `/graphql` and `POST /publish` (a JSON array of
//! `{"channel", "tenant", "data"}`), and a bare WebSocket echo for the baseline.
//!
//! ```text
//! loadgen run --name NAME --ws ws://127.0.0.1:P/graphql --publish 127.0.0.1:P --pid PID \
//!     --connections N --subs S --workload broadcast|per-user --size BYTES \
//!     --frame-rates 10000,30000,... --step-secs 2 [--strace] --out results.jsonl
//! loadgen echo-server --port P
//! loadgen echo --ws ws://127.0.0.1:P/ --size BYTES --rate R --secs T --out results.jsonl
//! ```
//!
//! Every event carries its publish time in its `id` (`"T<nanos>:<padding>"`), so the
//! latency is publish (the generator builds the batch) → a client holds the frame. A rate
//! step is sustained if the publisher kept up with the rate, at least 95 % of the frames of
//! the events it sent arrive, and p99 stays within 100 ms.

mod stats;

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use stats::{percentile, Histogram};

const DOCUMENT: &str = "subscription { orders { id tenant total } }";
const SUSTAINED_P99_MICROS: u64 = 100_000;
const PUBLISHERS: usize = 4;
const MAX_BATCH: usize = 256;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    raise_fd_limit();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("run") => run(Options::parse(&args[1..])?).await,
            Some("echo-server") => echo_server(Options::parse(&args[1..])?).await,
            Some("echo") => echo(Options::parse(&args[1..])?).await,
            _ => Err("usage: loadgen run|echo-server|echo [options] (see src/main.rs)".into()),
        }
    });
    if let Err(error) = result {
        eprintln!("loadgen: {error}");
        std::process::exit(1);
    }
}

/// 10,000 sockets need more than the usual 1,024 descriptors.
fn raise_fd_limit() {
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[derive(Clone, Debug)]
struct Options {
    name: String,
    ws: String,
    publish: String,
    pid: Option<u32>,
    connections: usize,
    subs: usize,
    per_user: bool,
    size: usize,
    frame_rates: Vec<f64>,
    step_secs: f64,
    strace: bool,
    out: Option<String>,
    port: u16,
    rate: f64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, Error> {
        let mut options = Options {
            name: "server".into(),
            ws: String::new(),
            publish: String::new(),
            pid: None,
            connections: 1000,
            subs: 1,
            per_user: false,
            size: 150,
            frame_rates: vec![10_000.0, 100_000.0],
            step_secs: 2.0,
            strace: false,
            out: None,
            port: 0,
            rate: 200.0,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--strace" {
                options.strace = true;
                continue;
            }
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let bad = |what: &str| format!("{flag}: {value} is not {what}");
            match flag.as_str() {
                "--name" => options.name = value.clone(),
                "--ws" => options.ws = value.clone(),
                "--publish" => options.publish = value.clone(),
                "--pid" => options.pid = Some(value.parse().map_err(|_| bad("a pid"))?),
                "--connections" => options.connections = value.parse().map_err(|_| bad("a count"))?,
                "--subs" => options.subs = value.parse().map_err(|_| bad("a count"))?,
                "--workload" => {
                    options.per_user = match value.as_str() {
                        "broadcast" => false,
                        "per-user" => true,
                        _ => return Err(bad("broadcast or per-user").into()),
                    }
                }
                "--size" => options.size = value.parse().map_err(|_| bad("a size"))?,
                "--frame-rates" => {
                    options.frame_rates = value
                        .split(',')
                        .map(|rate| rate.parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("a list of rates"))?
                }
                "--step-secs" => options.step_secs = value.parse().map_err(|_| bad("seconds"))?,
                "--out" => options.out = Some(value.clone()),
                "--port" => options.port = value.parse().map_err(|_| bad("a port"))?,
                "--rate" => options.rate = value.parse().map_err(|_| bad("a rate"))?,
                "--secs" => options.step_secs = value.parse().map_err(|_| bad("seconds"))?,
                _ => return Err(format!("unknown option {flag}").into()),
            }
        }
        if options.connections == 0 || options.subs == 0 || options.step_secs <= 0.0 {
            return Err("--connections, --subs and --step-secs must be positive".into());
        }
        Ok(options)
    }

    fn workload(&self) -> &'static str {
        if self.per_user {
            "per-user"
        } else {
            "broadcast"
        }
    }

    /// Frames one event produces.
    fn fan_out(&self) -> usize {
        if self.per_user {
            self.subs
        } else {
            self.connections * self.subs
        }
    }
}

/// What every connection task shares.
#[derive(Default)]
struct Shared {
    latency: Histogram,
    frames: AtomicU64,
    /// `error`/`complete` messages and anything else that is not a `next` frame.
    other: AtomicU64,
    /// Connections holding at least one frame per subscription since the warm-up began.
    warm: AtomicUsize,
    failed: AtomicUsize,
}

fn now_nanos(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// The event id: publish time, then padding up to `size` bytes of frame.
fn event_id(origin: Instant, pad: usize) -> String {
    let mut id = format!("T{}:", now_nanos(origin));
    id.extend(std::iter::repeat_n('x', pad));
    id
}

/// Padding that makes subcast's frame of this event `size` bytes long.
fn padding(size: usize) -> usize {
    let frame = format!(
        r#"{{"id":"1","type":"next","payload":{{"data":{{"orders":{{"id":"T{}:","tenant":"bench","total":42}}}}}}}}"#,
        u64::MAX / 1000
    );
    size.saturating_sub(frame.len())
}

fn publish_time(text: &[u8]) -> Option<u64> {
    let start = text.windows(2).position(|w| w == b"\"T")? + 2;
    let digits = text[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

async fn run(options: Options) -> Result<(), Error> {
    let options = Arc::new(options);
    let origin = Instant::now();
    let shared = Arc::new(Shared::default());
    let rss_before = options.pid.and_then(rss_kib);

    // Connect: a bounded number of handshakes at once, so the server's backlog holds.
    let connecting = Arc::new(Semaphore::new(64));
    let connected = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    for i in 0..options.connections {
        let (options, shared, connecting, connected) = (
            options.clone(),
            shared.clone(),
            connecting.clone(),
            connected.clone(),
        );
        tokio::spawn(async move {
            if let Err(error) = client(i, &options, &shared, origin, &connecting, &connected).await {
                if shared.failed.fetch_add(1, Relaxed) < 3 {
                    eprintln!("connection {i}: {error}");
                }
            }
        });
    }
    while connected.load(Relaxed) + shared.failed.load(Relaxed) < options.connections {
        if started.elapsed() > Duration::from_secs(120) {
            return Err("connecting took over 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = shared.failed.load(Relaxed);
    if failed > 0 {
        return Err(format!("{failed} of {} connections failed", options.connections).into());
    }
    eprintln!(
        "{} {} ×{} subs: {} connected in {:.1} s",
        options.name,
        options.workload(),
        options.subs,
        options.connections,
        started.elapsed().as_secs_f64()
    );

    // Warm up until every subscription has a frame: proof that all are registered.
    let (batches, publishers) = publishers(&options)?;
    let pad = padding(options.size);
    let warm_started = Instant::now();
    let channels: Vec<String> = if options.per_user {
        (0..options.connections).map(|i| format!("user:u{i}")).collect()
    } else {
        vec!["orders".into()]
    };
    loop {
        for chunk in channels.chunks(MAX_BATCH) {
            let events: Vec<String> = chunk.iter().map(|c| event(c, &event_id(origin, pad))).collect();
            batches.send(events).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while shared.warm.load(Relaxed) < options.connections && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if shared.warm.load(Relaxed) >= options.connections {
            break;
        }
        if warm_started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "after 60 s only {} of {} connections received frames",
                shared.warm.load(Relaxed),
                options.connections
            )
            .into());
        }
    }
    // Let the warm-up's frames land before measuring memory and the first step.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = options.pid.and_then(rss_kib);

    let strace = match (options.strace, options.pid) {
        (true, Some(pid)) => Some(Strace::attach(pid).await?),
        _ => None,
    };

    let mut steps = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for &frame_rate in &options.frame_rates {
        let event_rate = frame_rate / options.fan_out() as f64;
        shared.latency.reset();
        let frames_before = shared.frames.load(Relaxed);
        let cpu_before = options.pid.and_then(cpu_ticks);
        let own_cpu_before = cpu_ticks(std::process::id());
        let step_start = Instant::now();
        let step = Duration::from_secs_f64(options.step_secs);
        let mut sent = 0u64;
        let mut ticks = tokio::time::interval(Duration::from_millis(2));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while step_start.elapsed() < step {
            ticks.tick().await;
            let due = (event_rate * step_start.elapsed().as_secs_f64().min(options.step_secs)) as u64;
            while sent < due {
                let n = ((due - sent) as usize).min(MAX_BATCH);
                let events = (0..n)
                    .map(|_| {
                        let channel = if options.per_user {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            &channels[(rng % channels.len() as u64) as usize]
                        } else {
                            &channels[0]
                        };
                        event(channel, &event_id(origin, pad))
                    })
                    .collect();
                // A full queue means the server answers slower than the rate: the batch
                // waits with its publish time already stamped, so the delay is measured.
                batches.send(events).await?;
                sent += n as u64;
            }
        }
        let published = step_start.elapsed();
        let expected = sent * options.fan_out() as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(2);
        while shared.frames.load(Relaxed) - frames_before < expected && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let received = shared.frames.load(Relaxed) - frames_before;
        let cpu_after = options.pid.and_then(cpu_ticks);
        let own_cpu_after = cpu_ticks(std::process::id());
        let counts = shared.latency.snapshot();
        let p50 = percentile(&counts, 0.5).unwrap_or(0);
        let p99 = percentile(&counts, 0.99).unwrap_or(0);
        let delivered = received as f64 / published.as_secs_f64();
        // Kept up: the publisher sent what the rate asked for (a slow `/publish` holds it
        // back), and the clients got what was sent.
        let due = (event_rate * options.step_secs) as u64;
        let sustained = sent > 0
            && sent as f64 >= 0.95 * due as f64
            && received as f64 >= 0.95 * expected as f64
            && p99 <= SUSTAINED_P99_MICROS;
        let per_frame = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(before), Some(after)) if received > 0 => {
                Some((after - before) as f64 * 1e9 / ticks_per_second() / received as f64)
            }
            _ => None,
        };
        let cpu_ns_per_frame = per_frame(cpu_before, cpu_after);
        // The generator's own cost: when it nears the server's, the clients are the bound.
        let client_cpu_ns_per_frame = per_frame(own_cpu_before, own_cpu_after);
        eprintln!(
            "  target {frame_rate:>9.0} frames/s ({event_rate:.1} events/s): delivered {delivered:>9.0}/s, p50 {:.2} ms, p99 {:.2} ms, CPU/frame server {} ns, clients {} ns, {}",
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            json_number(cpu_ns_per_frame),
            json_number(client_cpu_ns_per_frame),
            if sustained { "sustained" } else { "NOT sustained" }
        );
        steps.push(format!(
            r#"{{"target_frames_per_s":{frame_rate},"events_per_s":{event_rate:.3},"events":{sent},"expected_frames":{expected},"received_frames":{received},"delivered_frames_per_s":{delivered:.1},"p50_us":{p50},"p99_us":{p99},"cpu_ns_per_frame":{},"client_cpu_ns_per_frame":{},"sustained":{sustained}}}"#,
            json_number(cpu_ns_per_frame),
            json_number(client_cpu_ns_per_frame)
        ));
        // The next step is only faster: once one fails, the rest would too.
        if !sustained {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let writes = match strace {
        Some(strace) => Some(strace.detach().await?),
        None => None,
    };
    drop(batches);
    for publisher in publishers {
        publisher.abort();
    }
    let rss_per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) => {
            Some((after as f64 - before as f64) * 1024.0 / options.connections as f64)
        }
        _ => None,
    };
    let line = format!(
        r#"{{"kind":"run","server":"{}","workload":"{}","connections":{},"subs":{},"size":{},"rss_before_kib":{},"rss_after_kib":{},"rss_per_connection_bytes":{},"socket_writes":{},"other_messages":{},"steps":[{}]}}"#,
        options.name,
        options.workload(),
        options.connections,
        options.subs,
        options.size,
        json_number(rss_before.map(|v| v as f64)),
        json_number(rss_after.map(|v| v as f64)),
        json_number(rss_per_connection),
        writes.map_or("null".into(), |w| w.to_string()),
        shared.other.load(Relaxed),
        steps.join(",")
    );
    emit(&options.out, &line)
}

fn json_number(value: Option<f64>) -> String {
    value.map_or("null".into(), |v| format!("{v:.1}"))
}

fn emit(out: &Option<String>, line: &str) -> Result<(), Error> {
    println!("{line}");
    if let Some(path) = out {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

fn event(channel: &str, id: &str) -> String {
    format!(
        r#"{{"channel":"{channel}","tenant":"bench","data":{{"id":"{id}","tenant":"bench","total":42}}}}"#
    )
}

/// One graphql-transport-ws client: init, subscribe `subs` times, then read frames until
/// the process ends.
async fn client(
    i: usize,
    options: &Options,
    shared: &Shared,
    origin: Instant,
    connecting: &Semaphore,
    connected: &AtomicUsize,
) -> Result<(), Error> {
    let permit = connecting.acquire().await?;
    let mut request = options.ws.as_str().into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // tungstenite zero-fills its read buffer up to this size before every read: at the
    // default 128 KiB that memset would cost the clients more than the server's work.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    let user = format!("u{i}");
    let channel = if options.per_user {
        format!("user:{user}")
    } else {
        "orders".into()
    };
    let init = format!(
        r#"{{"type":"connection_init","payload":{{"tenant":"bench","user":"{user}","channel":"{channel}"}}}}"#
    );
    socket.send(Message::text(init)).await?;
    loop {
        match socket.next().await.ok_or("closed before connection_ack")?? {
            Message::Text(text) if text.contains("connection_ack") => break,
            Message::Text(text) if text.contains("\"ping\"") => {
                socket.send(Message::text(r#"{"type":"pong"}"#)).await?;
            }
            Message::Close(frame) => return Err(format!("closed before connection_ack: {frame:?}").into()),
            _ => {}
        }
    }
    for s in 1..=options.subs {
        let subscribe = format!(
            r#"{{"id":"{s}","type":"subscribe","payload":{{"query":"{DOCUMENT}","extensions":{{"channel":"{channel}"}}}}}}"#
        );
        socket.send(Message::text(subscribe)).await?;
    }
    drop(permit);
    connected.fetch_add(1, Relaxed);

    let mut seen = vec![false; options.subs];
    let mut unseen = options.subs;
    while let Some(message) = socket.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(frame) => return Err(format!("closed by the server: {frame:?}").into()),
            _ => continue,
        };
        let bytes = text.as_bytes();
        if let Some(sent) = publish_time(bytes) {
            let micros = now_nanos(origin).saturating_sub(sent) / 1000;
            shared.latency.record(micros);
            shared.frames.fetch_add(1, Relaxed);
            if unseen > 0 {
                let id = subscription_id(bytes).unwrap_or(1);
                if let Some(flag) = seen.get_mut(id.wrapping_sub(1)) {
                    if !*flag {
                        *flag = true;
                        unseen -= 1;
                        if unseen == 0 {
                            shared.warm.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
        } else if text.contains("\"ping\"") {
            socket.send(Message::text(r#"{"type":"pong"}"#)).await?;
        } else if !text.contains("\"pong\"") && shared.other.fetch_add(1, Relaxed) < 3 {
            eprintln!("connection {i}: {text}");
        }
    }
    Err("the server closed the connection".into())
}

/// The operation id of a `next` frame: the first `"id":"N"` (the payload's own `id` starts
/// with `T`).
fn subscription_id(text: &[u8]) -> Option<usize> {
    let key = b"\"id\":\"";
    let mut at = 0;
    while let Some(found) = text[at..].windows(key.len()).position(|w| w == key) {
        let start = at + found + key.len();
        let digits = text[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && text.get(start + digits) == Some(&b'"') {
            return std::str::from_utf8(&text[start..start + digits])
                .ok()?
                .parse()
                .ok();
        }
        at = start;
    }
    None
}

/// Batches of events (JSON objects) for the publishers.
type Batches = mpsc::Sender<Vec<String>>;

/// `PUBLISHERS` keep-alive HTTP/1.1 connections taking batches off one queue.
fn publishers(options: &Options) -> Result<(Batches, Vec<tokio::task::JoinHandle<()>>), Error> {
    let (sender, receiver) = mpsc::channel::<Vec<String>>(64);
    let receiver = Arc::new(Mutex::new(receiver));
    let address = options.publish.clone();
    let tasks = (0..PUBLISHERS)
        .map(|_| {
            let (receiver, address) = (receiver.clone(), address.clone());
            tokio::spawn(async move {
                let mut connection: Option<TcpStream> = None;
                loop {
                    let Some(batch) = receiver.lock().await.recv().await else {
                        return;
                    };
                    let body = format!("[{}]", batch.join(","));
                    for attempt in 0..3 {
                        if connection.is_none() {
                            match TcpStream::connect(&address).await {
                                Ok(stream) => {
                                    let _ = stream.set_nodelay(true);
                                    connection = Some(stream);
                                }
                                Err(error) => {
                                    eprintln!("publish: connect {address}: {error}");
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    continue;
                                }
                            }
                        }
                        let stream = connection.as_mut().expect("connected above");
                        match post(stream, &body).await {
                            Ok(()) => break,
                            Err(error) => {
                                connection = None;
                                if attempt == 2 {
                                    eprintln!("publish failed: {error}");
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    Ok((sender, tasks))
}

/// `POST /publish` on a kept-alive connection; reads the whole answer.
async fn post(stream: &mut TcpStream, body: &str) -> Result<(), Error> {
    let request = format!(
        "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("the server closed the publish connection".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end])?.to_ascii_lowercase();
        if !head.starts_with("http/1.1 2") {
            return Err(format!("publish answered {}", head.lines().next().unwrap_or("")).into());
        }
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("publish answer without content-length")?;
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err("the server closed the publish connection".into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        return Ok(());
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of the whole process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_second() -> f64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// `strace -c -f` on the server for the measured steps: its write-like syscalls.
struct Strace {
    child: tokio::process::Child,
    path: String,
}

impl Strace {
    async fn attach(pid: u32) -> Result<Strace, Error> {
        let path = format!("/tmp/loadgen-strace-{pid}.txt");
        let child = tokio::process::Command::new("strace")
            .args([
                "-c",
                "-f",
                "-e",
                "trace=write,writev,sendto,sendmsg,sendmmsg",
                "-o",
                &path,
                "-p",
            ])
            .arg(pid.to_string())
            .spawn()?;
        // strace attaches to every thread before the first step counts.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(Strace { child, path })
    }

    /// `{"write": n, ...}` as JSON.
    async fn detach(mut self) -> Result<String, Error> {
        if let Some(id) = self.child.id() {
            unsafe { libc::kill(id as i32, libc::SIGINT) };
        }
        self.child.wait().await?;
        let report = std::fs::read_to_string(&self.path)?;
        let mut counts = Vec::new();
        for line in report.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "% time seconds usecs/call calls [errors] syscall"
            if fields.len() >= 5 && fields[0].parse::<f64>().is_ok() {
                let name = fields[fields.len() - 1];
                if name == "total" {
                    continue;
                }
                if let Ok(calls) = fields[3].parse::<u64>() {
                    counts.push(format!(r#""{name}":{calls}"#));
                }
            }
        }
        Ok(format!("{{{}}}", counts.join(",")))
    }
}

/// A bare WebSocket echo server: the floor any subscription server sits on.
async fn echo_server(options: Options) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    println!("echo on ws://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = socket.next().await {
                if message.is_text() && socket.send(message).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// One client sending `size`-byte messages at `rate` for `secs` to the echo server.
async fn echo(options: Options) -> Result<(), Error> {
    let origin = Instant::now();
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(options.ws.as_str(), Some(config), true).await?;
    let (mut sink, mut stream) = socket.split();
    let histogram = Arc::new(Histogram::default());
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let (histogram, received) = (histogram.clone(), received.clone());
        tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                if let Some(sent) = publish_time(text.as_bytes()) {
                    histogram.record(now_nanos(origin).saturating_sub(sent) / 1000);
                    received.fetch_add(1, Relaxed);
                }
            }
        })
    };
    let pad = padding(options.size);
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let mut ticks = tokio::time::interval(interval);
    let mut sent = 0u64;
    let start = Instant::now();
    let mut pending = VecDeque::new();
    while start.elapsed().as_secs_f64() < options.step_secs {
        ticks.tick().await;
        pending.push_back(event("orders", &event_id(origin, pad)));
        while let Some(message) = pending.pop_front() {
            sink.send(Message::text(message)).await?;
            sent += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while received.load(Relaxed) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    reader.abort();
    let counts = histogram.snapshot();
    let line = format!(
        r#"{{"kind":"echo","size":{},"rate":{},"sent":{sent},"received":{},"p50_us":{},"p99_us":{}}}"#,
        options.size,
        options.rate,
        received.load(Relaxed),
        percentile(&counts, 0.5).unwrap_or(0),
        percentile(&counts, 0.99).unwrap_or(0)
    );
    emit(&options.out, &line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publish_time_is_read_back_from_any_servers_frame() {
        let frame = br#"{"type":"next","id":"3","payload":{"data":{"orders":{"id":"T123456:xxx","tenant":"bench","total":42}}}}"#;
        assert_eq!(publish_time(frame), Some(123456));
        assert_eq!(subscription_id(frame), Some(3));
        assert_eq!(publish_time(br#"{"type":"ping"}"#), None);
    }

    #[test]
    fn padding_brings_subcasts_frame_to_the_requested_size() {
        let id = format!("T{}:{}", u64::MAX / 1000, "x".repeat(padding(4096)));
        let frame = format!(
            r#"{{"id":"1","type":"next","payload":{{"data":{{"orders":{{"id":"{id}","tenant":"bench","total":42}}}}}}}}"#
        );
        assert_eq!(frame.len(), 4096);
    }
}
