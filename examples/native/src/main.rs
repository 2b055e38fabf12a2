//! `example-native`: the native example's command line (see `examples/native/README.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use example_native::{Native, NativeError, TokenStore, browser};

/// A desktop application signing in with Latch through the system browser.
#[derive(Parser)]
struct Args {
    /// Latch's issuer.
    #[arg(long, env = "EXAMPLE_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// The client_id of the `native` application registered in Latch.
    #[arg(long, env = "EXAMPLE_NATIVE_CLIENT_ID")]
    client_id: String,
    /// Keep the tokens in this file (mode 0600) instead of the OS keychain.
    #[arg(long, env = "EXAMPLE_NATIVE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in through the system browser.
    Login {
        /// Print the URL instead of opening a browser (open it in any browser on this machine).
        #[arg(long, env = "EXAMPLE_NATIVE_PRINT_URL")]
        print_url: bool,
        /// How long to wait for the browser, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Refresh the tokens and show who is signed in (userinfo).
    Whoami,
    /// Revoke the refresh token, clear it, and open Latch's logout page.
    Logout {
        /// Print the logout URL instead of opening a browser.
        #[arg(long, env = "EXAMPLE_NATIVE_PRINT_URL")]
        print_url: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let store = match args.token_file {
        Some(file) => TokenStore::file_only(file),
        None => TokenStore::keychain(&args.client_id, None),
    };
    match run(&args.issuer, &args.client_id, store, args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-native: {e}");
            ExitCode::FAILURE
        }
    }
}

fn show(url: &str, print_only: bool) {
    if print_only || !browser::open(url) {
        eprintln!("Open this URL in your browser:");
        println!("{url}");
    } else {
        eprintln!("Your browser was opened at {url}");
    }
}

async fn run(
    issuer: &str,
    client_id: &str,
    store: TokenStore,
    command: Command,
) -> Result<(), NativeError> {
    let native = Native::discover(issuer, client_id, store).await?;
    match command {
        Command::Login { print_url, timeout } => {
            let pending = native.start_login().await?;
            show(pending.url().as_str(), print_url);
            let claims = pending.finish(Duration::from_secs(timeout)).await?;
            let who = claims
                .get("email")
                .or_else(|| claims.get("sub"))
                .cloned()
                .unwrap_or_default();
            eprintln!("Signed in as {who}");
        }
        Command::Whoami => {
            let claims = native.whoami().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).unwrap_or_default()
            );
        }
        Command::Logout { print_url } => match native.logout().await? {
            Some(url) => show(url.as_str(), print_url),
            None => eprintln!("Not signed in."),
        },
    }
    Ok(())
}
