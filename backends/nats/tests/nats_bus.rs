//! NatsBus against the real server, with and without JetStream: delivery across nodes,
//! streams, large events, awkward channel names, bad input, construction.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use subcast_core::EventBus;
use subcast_nats::{NatsBus, NatsConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    for jetstream in [false, true] {
        let config = isolated(jetstream);
        let (bus_a, bus_b) = (bus(config.clone()).await, bus(config.clone()).await);
        scenarios::an_event_reaches_every_subscriber_on_every_node_once(&tokio_runtime(), &bus_a, &bus_b)
            .await;
        drop_stream(&nats_url(), &config).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed() {
    for jetstream in [false, true] {
        let config = isolated(jetstream);
        let bus = bus(config.clone()).await;
        scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
        drop_stream(&nats_url(), &config).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_kb_event_arrives_whole() {
    for jetstream in [false, true] {
        let config = isolated(jetstream);
        let (publisher, subscriber) = (bus(config.clone()).await, bus(config.clone()).await);
        scenarios::events_arrive_whole(&publisher, &subscriber, &[10, 100 * 1024]).await;
        drop_stream(&nats_url(), &config).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_dots_wildcards_spaces_unicode_and_sql_work() {
    for jetstream in [false, true] {
        let config = isolated(jetstream);
        let (publisher, subscriber) = (bus(config.clone()).await, bus(config.clone()).await);
        let suffix = unique("");
        let mut channels: Vec<String> = scenarios::AWKWARD_CHANNEL_NAMES
            .iter()
            .chain(&["a.b", "a.*", "a.>", ">", "*", " ", "tab\there", "$JS.API.INFO"])
            .map(|name| format!("{name}{suffix}"))
            .collect();
        channels.push("é".repeat(127));
        scenarios::each_channel_round_trips(&publisher, &subscriber, &channels).await;
        subscriber.health_check().await.unwrap();
        drop_stream(&nats_url(), &config).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_whose_name_is_a_prefix_of_another_receives_only_its_own_events() {
    let config = isolated(false);
    let bus = bus(config).await;
    let channel = unique("short");
    let longer = format!("{channel}.longer");
    let mut short = bus.subscribe(&channel).await.unwrap();
    let _long = bus.subscribe(&longer).await.unwrap();
    bus.publish(counted(&longer, 1)).await.unwrap();
    bus.publish(counted(&channel, 2)).await.unwrap();
    assert_eq!(next_event(&mut short).await.data["n"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_are_not_subcast_events_are_counted_and_skipped() {
    for jetstream in [false, true] {
        let config = isolated(jetstream);
        let bus = bus(config.clone()).await;
        let channel = unique("garbage");
        let inject = async {
            let mut garbage = scenarios::not_events(&channel);
            garbage.push(Vec::new());
            // Where a foreign publisher would put them: the stored subject with JetStream
            // (each then carries a sequence), the live one without.
            let hex: String = channel.bytes().map(|b| format!("{b:02x}")).collect();
            let kind = if jetstream { "stored" } else { "live" };
            let subject = format!("{}.{kind}.{hex}", config.prefix);
            let raw = raw_client(&nats_url()).await;
            let js = async_nats::jetstream::new(raw.clone());
            for payload in &garbage {
                let payload = Bytes::copy_from_slice(payload);
                match jetstream {
                    true => drop(js.publish(subject.clone(), payload).await.unwrap().await.unwrap()),
                    false => raw.publish(subject.clone(), payload).await.unwrap(),
                }
            }
            // Routed to the bus's subscription before the event that follows them.
            round_trip(&raw).await;
            garbage.len()
        };
        scenarios::messages_that_are_not_events_are_counted_and_skipped(&bus, &channel, inject).await;
        drop_stream(&nats_url(), &config).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let runtime = tokio_runtime();
    let quick = NatsConfig::default().timeout(Duration::from_millis(300));
    for url in [
        "http://127.0.0.1:4222",
        "not a url",
        "nats://",
        "ws://127.0.0.1:4222",
        "redis://127.0.0.1:6379",
    ] {
        let error = NatsBus::connect(url, runtime.clone(), quick.clone())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("NATS"), "{url}: {error}");
    }
    let refused = NatsBus::connect("nats://127.0.0.1:1", runtime.clone(), quick.clone())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("127.0.0.1:1"), "{refused}");
    // A blackholed address must end in the configured timeout, not hang.
    let silent = NatsBus::connect("nats://10.255.255.1:4222", runtime.clone(), quick.clone())
        .await
        .unwrap_err();
    assert!(silent.to_string().contains("10.255.255.1"), "{silent}");
    // Not a NATS server at all: Redis answers on 6379.
    let stranger = NatsBus::connect("nats://127.0.0.1:6379", runtime, quick)
        .await
        .unwrap_err();
    assert!(stranger.to_string().contains("NATS"), "{stranger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_url_to_a_server_without_tls_is_a_clear_error() {
    let quick = NatsConfig::default().timeout(Duration::from_millis(500));
    let url = nats_url().replace("nats://", "tls://");
    let error = NatsBus::connect(&url, tokio_runtime(), quick).await.unwrap_err();
    assert!(error.to_string().contains("NATS"), "{error}");
}

#[test]
fn connecting_outside_a_tokio_runtime_is_a_clear_error() {
    let error = futures_lite::future::block_on(NatsBus::connect(
        &nats_url(),
        smol_runtime(),
        NatsConfig::default(),
    ))
    .unwrap_err();
    assert!(error.to_string().contains("tokio"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_credentials_file_is_a_clear_error_naming_the_field() {
    let config = NatsConfig::default().credentials_file("/nonexistent/subcast.creds");
    let error = NatsBus::connect(&nats_url(), tokio_runtime(), config)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("credentials_file"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_the_same_name_with_other_subjects_is_refused() {
    let config = isolated(true);
    let name = config.jetstream.as_ref().unwrap().stream.clone();
    let context = async_nats::jetstream::new(raw_client(&nats_url()).await);
    context
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("elsewhere.{name}")],
            ..Default::default()
        })
        .await
        .unwrap();
    let error = NatsBus::connect(&nats_url(), tokio_runtime(), config.clone())
        .await
        .unwrap_err();
    assert!(error.to_string().contains(&name), "{error}");
    drop_stream(&nats_url(), &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_kept_in_the_stream_within_its_message_limit() {
    let mut config = isolated(true);
    config.jetstream = config.jetstream.map(|stream| stream.max_messages(10));
    let bus = bus(config.clone()).await;
    let channel = unique("capped");
    for n in 0..50 {
        bus.publish(counted(&channel, n)).await.unwrap();
    }
    let context = async_nats::jetstream::new(raw_client(&nats_url()).await);
    let name = &config.jetstream.as_ref().unwrap().stream;
    let mut stream = context.get_stream(name).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 10);
    drop_stream(&nats_url(), &config).await;
}
