//! `example-web`: runs the web example (see `examples/web/README.md`).

use clap::Parser;
use url::Url;

/// The web example: a server-rendered application signing in with Latch.
#[derive(Parser)]
struct Args {
    /// Latch's issuer.
    #[arg(long, env = "EXAMPLE_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// The client_id of the `web` application registered in Latch.
    #[arg(long, env = "EXAMPLE_WEB_CLIENT_ID")]
    client_id: String,
    /// Its client secret (from the environment rather than the command line, where `ps` shows it).
    #[arg(long, env = "EXAMPLE_WEB_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Where this application is reached; its redirect URI is `{base_url}/callback`.
    #[arg(
        long,
        env = "EXAMPLE_WEB_BASE_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    base_url: Url,
    /// The address to listen on (defaults to the base URL's host and port).
    #[arg(long, env = "EXAMPLE_WEB_LISTEN")]
    listen: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listen = args.listen.clone().unwrap_or_else(|| {
        format!(
            "{}:{}",
            args.base_url.host_str().unwrap_or("127.0.0.1"),
            args.base_url.port_or_known_default().unwrap_or(3000)
        )
    });
    let config = example_web::Config {
        issuer: args.issuer,
        client_id: args.client_id,
        client_secret: args.client_secret,
        base_url: args.base_url.clone(),
    };
    let app = match example_web::App::new(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("example-web: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("example-web: cannot listen on {listen}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!("example-web: open {}", args.base_url);
    match example_web::serve(listener, app).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-web: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
