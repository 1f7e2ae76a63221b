use std::io::Write;

use clap::Parser;

/// The program runs natively inside this process when the chain is embedded,
/// and a natively built program prints its log lines (`msg!`, Anchor's error
/// reports) with `println!`. Those go to stderr; the command's own output
/// keeps the real stdout, so `--output json` stays parseable.
fn command_stdout() -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: `dup` returns a new descriptor we own (or -1, checked); `dup2`
    // only repoints descriptor 1, which nothing in this process holds a Rust
    // handle to besides std's unbuffered-by-line stdout, flushed first.
    unsafe {
        let _ = std::io::stdout().flush();
        let saved = libc::dup(1);
        if saved < 0 || libc::dup2(2, 1) < 0 {
            return std::fs::File::from_raw_fd(libc::dup(1));
        }
        std::fs::File::from_raw_fd(saved)
    }
}

#[tokio::main]
async fn main() {
    let cli = gpumkt::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,tarpc=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut out = std::io::LineWriter::new(command_stdout());
    let result = gpumkt::run(cli, &mut out).await;
    let _ = out.flush();
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
