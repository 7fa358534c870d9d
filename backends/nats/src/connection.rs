//! One NATS connection as the bus skeleton sees it: opened once, ended once.
//!
//! - [`Target`]: the parsed `nats://` / `tls://` URL and how to authenticate.
//! - [`NatsConnection`]: the async-nats client, the JetStream stream (with replay), and one
//!   reader task per subscribed subject that hands each message to the bus's inbox.
//!
//! async-nats reconnects by itself and resubscribes silently, which would hide a loss from
//! the bus. Instead, the first sign of a broken connection (async-nats reports it
//! disconnected or closed, a subscription overflowed in the client, or a republished
//! event's predecessor on its subject never arrived) ends this connection for the bus: its
//! readers stop, the bus reconnects with its own backoff and replays or announces a gap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::header::{NATS_LAST_SEQUENCE, NATS_SEQUENCE};
use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions, Event, Message, ServerAddr, Subscriber};
use bytes::Bytes;
use futures_lite::StreamExt;
use subcast_core::backend::Inbox;
use subcast_core::{Error, Result};
use tokio::sync::{oneshot, watch};

use crate::config::{JetStreamConfig, NatsConfig};
use crate::subject::Subjects;

/// Tags the payload a reader hands to the inbox: an event with its stream sequence.
pub(crate) const SEQUENCED: u8 = b'S';
/// Tags the payload a reader hands to the inbox: an event without a sequence.
pub(crate) const UNSEQUENCED: u8 = b'R';

/// Where to connect and how to authenticate.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    address: ServerAddr,
    /// The URL without its password, for errors and logs.
    shown: String,
}

impl Target {
    /// Parse `url`: `nats://` or `tls://`, with an optional `user:password@`.
    pub(crate) fn parse(url: &str) -> Result<Target> {
        let refuse =
            |why: String| Error::bus_message("nats", format!("invalid NATS URL {:?}: {why}", shown(url)));
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("nats" | "tls")) {
            return Err(refuse("the scheme must be nats:// or tls://".to_owned()));
        }
        let address: ServerAddr = url.parse().map_err(|e| refuse(format!("{e}")))?;
        if address.host().is_empty() {
            return Err(refuse("no host".to_owned()));
        }
        Ok(Target {
            shown: format!("{}:{}", address.host(), address.port()),
            address,
        })
    }

    /// `host:port`, for errors.
    pub(crate) fn address(&self) -> &str {
        &self.shown
    }
}

/// `url` with any password replaced, for an error message.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}://…@{}", &url[..start], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// How a connection ends, once.
struct End {
    ended: AtomicBool,
    signal: watch::Sender<bool>,
    inbox: Inbox,
}

impl End {
    /// The connection broke: stop its readers and tell the bus (only the first time).
    fn report(&self, why: &str) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            log::warn!("subcast: NATS bus: the connection ended: {why}");
            self.signal.send_replace(true);
            self.inbox.ended();
        }
    }

    /// The bus let go of the connection: stop its readers without reporting.
    fn stop(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.signal.send_replace(true);
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }
}

/// An open connection; clones share it. Dropping the last clone closes it.
#[derive(Clone)]
pub(crate) struct NatsConnection(Arc<Live>);

pub(crate) struct Live {
    pub(crate) client: Client,
    /// With JetStream: the context and the stream events are kept in.
    pub(crate) jetstream: Option<(jetstream::Context, stream::Stream)>,
    end: Arc<End>,
    /// Subscribed subject → its reader's stop signal.
    readers: Mutex<HashMap<String, oneshot::Sender<()>>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.end.stop();
    }
}

impl std::ops::Deref for NatsConnection {
    type Target = Live;

    fn deref(&self) -> &Live {
        &self.0
    }
}

impl NatsConnection {
    /// Connect to `target`, set up the stream (with JetStream), and report the end of the
    /// connection to `inbox`. Must run inside a tokio runtime.
    pub(crate) async fn open(
        target: &Target,
        config: &NatsConfig,
        subjects: &Subjects,
        inbox: Inbox,
    ) -> Result<Self> {
        let (signal, _) = watch::channel(false);
        let end = Arc::new(End {
            ended: AtomicBool::new(false),
            signal,
            inbox,
        });
        let options = options(config, end.clone()).await?;
        let connecting = options.connect(target.address.clone());
        let client = match tokio::time::timeout(config.timeout, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                return Err(Error::bus_message(
                    "nats",
                    format!("connecting to NATS at {} failed: {error}", target.address()),
                ))
            }
            Err(_) => {
                return Err(Error::bus_message(
                    "nats",
                    format!(
                        "connecting to NATS at {} timed out after {:?}",
                        target.address(),
                        config.timeout
                    ),
                ))
            }
        };
        let jetstream = match &config.jetstream {
            Some(stream) => {
                let mut context = jetstream::new(client.clone());
                context.set_timeout(config.timeout);
                let found = ensure_stream(&context, stream, subjects).await?;
                Some((context, found))
            }
            None => None,
        };
        Ok(NatsConnection(Arc::new(Live {
            client,
            jetstream,
            end,
            readers: Mutex::new(HashMap::new()),
        })))
    }

    /// Whether the connection has ended (its end reported or the bus let go of it).
    pub(crate) fn is_ended(&self) -> bool {
        self.end.is_ended()
    }

    /// Subscribe to `subjects`, one reader each, and wait until the server has them.
    pub(crate) async fn subscribe(&self, subjects: &[String]) -> Result<()> {
        for subject in subjects {
            let subscriber =
                self.client.subscribe(subject.clone()).await.map_err(|e| {
                    Error::bus("nats", format!("NATS subscribe to {subject:?} failed: {e}"), e)
                })?;
            let (stop, stopped) = oneshot::channel();
            let reader = Reader {
                subject: subject.clone(),
                sequenced: self.jetstream.is_some(),
                inbox: self.end.inbox.clone(),
                end: self.end.clone(),
            };
            let ended = self.end.signal.subscribe();
            tokio::spawn(reader.run(subscriber, stopped, ended));
            let replaced = self
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(subject.clone(), stop);
            // A reader left from an earlier subscription stops when its sender drops.
            drop(replaced);
        }
        // The server has registered every subscription before we return: an event
        // published after this, from any connection, reaches them.
        self.round_trip().await
    }

    /// Wait until the server has handled everything this connection sent so far.
    ///
    /// `Client::flush` only writes to the socket; a message to ourselves comes back only
    /// after the server has processed what came before it on this connection.
    pub(crate) async fn round_trip(&self) -> Result<()> {
        let failed =
            |e: &dyn std::fmt::Display| Error::bus_message("nats", format!("NATS round trip failed: {e}"));
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| failed(&e))?;
        self.client
            .publish(inbox, Bytes::new())
            .await
            .map_err(|e| failed(&e))?;
        let back = echo.next().await;
        let _ = echo.unsubscribe().await;
        match back {
            Some(_) => Ok(()),
            None => Err(failed(&"the connection closed")),
        }
    }

    /// Stop the reader of `subject`, which unsubscribes.
    pub(crate) fn unsubscribe(&self, subject: &str) {
        let stop = self
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(subject);
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }
}

/// The client options: credentials, TLS, and the end of the connection reported once.
async fn options(config: &NatsConfig, end: Arc<End>) -> Result<ConnectOptions> {
    let mut options = match &config.credentials_file {
        Some(path) => ConnectOptions::new().credentials_file(path).await.map_err(|e| {
            Error::bus_message(
                "nats",
                format!("invalid NatsConfig: credentials_file {}: {e}", path.display()),
            )
        })?,
        None => ConnectOptions::new(),
    };
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &config.tls_root_certificates {
        options = options.add_root_certificates(path.clone());
    }
    Ok(options
        .name("subcast")
        .connection_timeout(config.timeout)
        .request_timeout(Some(config.timeout))
        // One silent attempt at most: the bus reconnects, with its backoff, on a new client.
        .max_reconnects(1)
        .event_callback(move |event| {
            let end = end.clone();
            async move {
                match event {
                    Event::Disconnected => end.report("disconnected"),
                    Event::Closed => end.report("closed"),
                    Event::SlowConsumer(sid) => {
                        end.report(&format!("subscription {sid} overflowed in the client"))
                    }
                    Event::ServerError(error) => log::warn!("subcast: NATS bus: server error: {error}"),
                    Event::ClientError(error) => log::warn!("subcast: NATS bus: client error: {error}"),
                    Event::Connected | Event::LameDuckMode | Event::Draining => {}
                }
            }
        }))
}

/// The stream for `config`, created if missing; refused if it exists with other subjects.
async fn ensure_stream(
    context: &jetstream::Context,
    config: &JetStreamConfig,
    subjects: &Subjects,
) -> Result<stream::Stream> {
    let limit = |limit: Option<u64>| limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let republish = stream::Republish {
        source: subjects.stored_wildcard(),
        destination: subjects.live_wildcard(),
        headers_only: false,
    };
    let wanted = stream::Config {
        name: config.stream.clone(),
        subjects: vec![subjects.stored_wildcard()],
        max_age: config.max_age,
        max_messages: limit(config.max_messages),
        max_bytes: limit(config.max_bytes),
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        republish: Some(republish.clone()),
        ..Default::default()
    };
    let found = context.get_or_create_stream(wanted.clone()).await.map_err(|e| {
        Error::bus_message(
            "nats",
            format!(
                "NATS JetStream stream {:?} could not be found or created: {e}",
                config.stream
            ),
        )
    })?;
    let existing = &found.cached_info().config;
    if existing.subjects != wanted.subjects || existing.republish.as_ref() != Some(&republish) {
        return Err(Error::bus_message("nats", format!(
            "NATS JetStream stream {:?} exists with subjects {:?} and republish {:?}, not {:?} republished to {:?}: \
             give each prefix its own stream",
            config.stream,
            existing.subjects,
            existing.republish,
            wanted.subjects,
            republish.destination
        )));
    }
    Ok(found)
}

/// Hands the messages of one subscription to the bus's inbox.
struct Reader {
    subject: String,
    /// With JetStream: messages carry their stream sequence and their subject's previous one.
    sequenced: bool,
    inbox: Inbox,
    end: Arc<End>,
}

impl Reader {
    async fn run(
        self,
        mut subscriber: Subscriber,
        mut stop: oneshot::Receiver<()>,
        mut ended: watch::Receiver<bool>,
    ) {
        let mut previous: Option<u64> = None;
        loop {
            let message = tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = ended.wait_for(|ended| *ended) => break,
                message = subscriber.next() => message,
            };
            let Some(message) = message else {
                self.end.report("a subscription ended");
                break;
            };
            let (payload, sequence) = frame(&message);
            if self.sequenced {
                if let Some((sequence, last)) = sequence {
                    // The subject's previous event was stored but never reached us.
                    if previous.is_some_and(|previous| last > previous) {
                        self.end
                            .report(&format!("event {last} of {:?} was lost in transit", self.subject));
                        break;
                    }
                    previous = Some(sequence);
                }
            }
            self.inbox.message(self.subject.clone(), payload);
        }
        let _ = subscriber.unsubscribe().await;
    }
}

/// The inbox payload for `message`: tagged, with its stream sequence when it has one; and
/// (sequence, the subject's previous sequence).
fn frame(message: &Message) -> (Vec<u8>, Option<(u64, u64)>) {
    let header = |name| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .and_then(|value| value.as_str().parse::<u64>().ok())
    };
    match header(NATS_SEQUENCE) {
        Some(sequence) => {
            let mut payload = Vec::with_capacity(9 + message.payload.len());
            payload.push(SEQUENCED);
            payload.extend_from_slice(&sequence.to_be_bytes());
            payload.extend_from_slice(&message.payload);
            (payload, Some((sequence, header(NATS_LAST_SEQUENCE).unwrap_or(0))))
        }
        None => {
            let mut payload = Vec::with_capacity(1 + message.payload.len());
            payload.push(UNSEQUENCED);
            payload.extend_from_slice(&message.payload);
            (payload, None)
        }
    }
}

/// Split an inbox payload into its sequence (if any) and the event bytes.
pub(crate) fn split_payload(payload: &[u8]) -> std::result::Result<(Option<u64>, &[u8]), String> {
    match payload.split_first() {
        Some((&SEQUENCED, rest)) if rest.len() >= 8 => {
            let (sequence, wire) = rest.split_at(8);
            let mut bytes = [0; 8];
            bytes.copy_from_slice(sequence);
            Ok((Some(u64::from_be_bytes(bytes)), wire))
        }
        Some((&UNSEQUENCED, wire)) => Ok((None, wire)),
        _ => Err("a message framed by no NATS reader".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_nats_or_tls_scheme_is_refused() {
        for url in [
            "http://127.0.0.1:4222",
            "not a url",
            "ws://127.0.0.1",
            "127.0.0.1:4222",
        ] {
            let error = Target::parse(url).unwrap_err().to_string();
            assert!(error.contains("NATS URL"), "{url}: {error}");
        }
    }

    #[test]
    fn a_password_in_a_url_never_appears_in_an_error() {
        let error = Target::parse("http://user:secret@host:4222")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("secret"), "{error}");
        let target = Target::parse("nats://user:secret@host:4222").unwrap();
        assert_eq!(target.address(), "host:4222");
    }

    #[test]
    fn a_framed_payload_splits_into_its_sequence_and_event() {
        let mut sequenced = vec![SEQUENCED];
        sequenced.extend_from_slice(&42u64.to_be_bytes());
        sequenced.extend_from_slice(b"{}");
        assert_eq!(split_payload(&sequenced), Ok((Some(42), &b"{}"[..])));
        assert_eq!(split_payload(b"R{}"), Ok((None, &b"{}"[..])));
        assert!(split_payload(b"S123").is_err());
        assert!(split_payload(b"").is_err());
    }
}
