use std::process::ExitCode;

use clap::Parser;

use article_ingest::{cli::Cli, commands, telemetry};

/// mimalloc instead of the system allocator: the stages allocate and free many short-lived
/// strings on every core, and glibc's malloc returned large blocks to the kernel only to fault
/// them in again (a tenth of the worker's CPU in `make bench` profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match commands::execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
