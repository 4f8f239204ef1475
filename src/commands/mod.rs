//! One module per subcommand; `main` only parses and dispatches here.

mod dead_letters;
mod dev_broker;
mod process;
mod produce;
mod replay;
mod run;

use anyhow::Context;

use crate::cli::{Cli, Command};
use crate::settings::Settings;
use crate::sink::PgSink;

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_process_env(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Run(args) => run::run(&settings, &args).await,
        Command::Migrate => {
            sink(&settings).await?.migrate().await.context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Produce(args) => produce::produce(&settings, &args).await,
        Command::Process(args) => process::process(&settings, &args),
        Command::Config => {
            print!("{}", settings.redacted_toml());
            Ok(())
        }
        Command::Replay(args) => replay::replay(&settings, &args).await,
        Command::DeadLetters(command) => dead_letters::execute(&settings, &command).await,
        Command::DevBroker(args) => dev_broker::dev_broker(&args).await,
    }
}

async fn sink(settings: &Settings) -> anyhow::Result<PgSink> {
    PgSink::connect(&settings.database, &settings.kafka.group_id).await.context("connecting to Postgres")
}

/// A token cancelled on SIGINT or SIGTERM.
fn cancel_on_signal() -> tokio_util::sync::CancellationToken {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    shutdown
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
