use anyhow::Context;
use rdkafka::mocking::MockCluster;
use tracing::info;

use crate::cli::DevBrokerArgs;

/// librdkafka's mock cluster in this process: starts in milliseconds, holds data in memory, and is
/// enough for demos and local trials. End-to-end tests use a real broker (Tansu).
pub async fn dev_broker(args: &DevBrokerArgs) -> anyhow::Result<()> {
    let cluster = MockCluster::new(1).context("starting the mock cluster")?;
    cluster.create_topic(&args.topic, args.partitions, 1).context("creating the topic")?;
    let brokers = cluster.bootstrap_servers();
    if let Some(path) = &args.brokers_file {
        std::fs::write(path, &brokers).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{brokers}");
    info!(%brokers, topic = %args.topic, partitions = args.partitions, "dev broker ready; stop with Ctrl-C");
    super::shutdown_signal().await;
    drop(cluster);
    Ok(())
}
