use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::info;

use crate::cli::ProduceArgs;
use crate::input::files::{expand_paths, read_messages};
use crate::settings::Settings;

/// Deliveries awaited at once: enough to keep the producer's batches full, bounded in memory.
const IN_FLIGHT: usize = 1_000;

pub async fn produce(settings: &Settings, args: &ProduceArgs) -> anyhow::Result<()> {
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => settings.kafka.topics.first().cloned().context("no topic given and kafka.topics is empty")?,
    };
    let brokers = args.brokers.clone().unwrap_or_else(|| settings.kafka.brokers.clone());
    let mut config = ClientConfig::new();
    for (key, value) in &settings.kafka.options {
        config.set(key, value);
    }
    let producer: FutureProducer = config
        .set("bootstrap.servers", &brokers)
        .set("message.timeout.ms", "30000")
        .set("enable.idempotence", "false")
        .create()
        .context("creating the producer")?;

    let files = expand_paths(&args.paths)?;
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    let mut sent = 0usize;
    for message in read_messages(files) {
        let message = message.context("reading input")?;
        let producer = producer.clone();
        let topic = topic.clone();
        pending.push(tokio::spawn(async move {
            let mut record = FutureRecord::to(&topic).payload(&message.payload);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(error, _)| anyhow::anyhow!("{}: {error}", message.location))
        }));
        if pending.len() >= IN_FLIGHT {
            sent += await_all(&mut pending).await?;
        }
    }
    sent += await_all(&mut pending).await?;
    info!(messages = sent, %topic, "produced");
    println!("produced {sent} messages to {topic}");
    Ok(())
}

async fn await_all(
    pending: &mut Vec<tokio::task::JoinHandle<anyhow::Result<rdkafka::producer::future_producer::Delivery>>>,
) -> anyhow::Result<usize> {
    let count = pending.len();
    for handle in pending.drain(..) {
        handle.await??;
    }
    Ok(count)
}
