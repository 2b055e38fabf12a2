//! # latch
//!
//! The one binary: `latch serve`, `latch migrate`, `latch backup`, and the administration
//! commands (`apps`, `users` including import and export, `keys` including rewrap) that work on
//! the same database as the server and print JSON. It wires configuration (one table of settings,
//! `config::table`), logging and the other crates together; it holds no protocol rules.

mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Run the server (migrates the database first). The settings are listed below.
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
    /// Copy the SQLite database, consistently, while the server runs (PostgreSQL: use pg_dump).
    Backup {
        /// The new file to write (it must not exist yet).
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let command = Cli::command().mut_subcommand("serve", |serve| {
        serve.after_long_help(config::table::help_text())
    });
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let serving = matches!(cli.command, Command::Serve);
    config::init_logging(&settings, serving);
    if serving {
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
    }
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
            Command::Backup { path } => commands::backup::run(&settings.server, &path).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and every flag says what it does in `--help`.
    #[test]
    fn every_command_and_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "latch", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
