//! # latch
//!
//! The one binary: `latch serve`, `latch migrate`, and the administration commands
//! (`apps`, `users`, `keys`) that work on the same database as the server and print JSON.
//! It wires configuration, logging and the other crates together; it holds no protocol rules.

mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "latch",
    version,
    about = "Latch: an OpenID Connect / OAuth 2.0 authorization server"
)]
struct Cli {
    /// A TOML configuration file; environment variables win over it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage applications.
    #[command(subcommand)]
    Apps(commands::apps::AppsCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(commands::users::UsersCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    config::init_logging(&settings, matches!(cli.command, Command::Serve));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e)),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => commands::serve::run(settings.server).await,
            Command::Migrate => commands::migrate(&settings.server).await,
            Command::Apps(cmd) => commands::apps::run(&settings.server, cmd).await,
            Command::Users(cmd) => commands::users::run(&settings.server, cmd).await,
            Command::Keys(cmd) => commands::keys::run(&settings.server, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One line on stderr, the whole cause chain, non-zero exit.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("latch: error: {e:#}");
    ExitCode::from(2)
}
