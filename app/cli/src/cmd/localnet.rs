//! `gpumkt localnet`: the embedded chain as a long-running local node serving
//! Solana's JSON-RPC (`--rpc-port`) and websocket (`--rpc-port` + 1, or
//! `--ws-port`) APIs, so the CLI, several workers, the dashboard and
//! standard Solana clients share one chain. The flags follow
//! `solana-test-validator`'s where it has them.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use gpu_market_client::chain::embedded::ClockMode;
use gpu_market_localnet::{Localnet, LocalnetConfig};
use serde_json::json;
use solana_sdk::signature::Signer;

use crate::output::emit;
use crate::{CliError, Ctx, Result};

#[derive(Args, Debug)]
pub struct LocalnetArgs {
    /// JSON-RPC port; the websocket API listens on port + 1 (Solana's
    /// convention) unless --ws-port says otherwise. `--port` is the same flag.
    #[arg(
        long = "rpc-port",
        visible_alias = "port",
        value_name = "PORT",
        default_value_t = 8899
    )]
    pub port: u16,
    /// Websocket (pubsub) port, when it should not be --rpc-port + 1.
    #[arg(long = "ws-port", value_name = "PORT")]
    pub ws_port: Option<u16>,
    /// Address to bind. Anything but loopback lets whoever reaches it spend
    /// the faucet and send transactions; the node then logs a warning.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// A browser origin (`scheme://host[:port]`) allowed to call the node
    /// besides pages served on loopback, e.g. a hosted dashboard; repeatable.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Write the faucet keypair here (it holds the genesis lamports).
    #[arg(long)]
    pub faucet_keypair: Option<PathBuf>,
    /// Airdrop this many lamports to --keypair's key at start.
    #[arg(long, default_value_t = 0)]
    pub fund: u64,
}

pub async fn run(ctx: &Ctx, a: LocalnetArgs, out: &mut dyn Write) -> Result<()> {
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::new(a.bind, a.port),
        clock: ClockMode::RealTime,
    };
    let addr = config.rpc_addr;
    let access = gpu_market_localnet::Access {
        cors_origins: a.cors_origin.clone(),
        beyond_loopback: !a.bind.is_loopback(),
    };
    let node = Localnet::start_with_ws_port(config, access, a.ws_port)
        .await
        .map_err(|source| CliError::Localnet { addr, source })?;
    if let Some(path) = &a.faucet_keypair {
        gpu_market_client::config::write_keypair(&node.faucet, path)?;
    }
    if a.fund > 0 {
        let me = ctx.keypair()?.pubkey();
        use gpu_market_client::chain::Chain;
        node.chain.request_airdrop(&me, a.fund).await?;
    }
    emit(
        out,
        ctx.format,
        &json!({"rpc_url": node.rpc_url, "ws_url": node.ws_url, "faucet": node.faucet.pubkey().to_string(), "program": gpu_market::ID.to_string()}),
        |o| {
            writeln!(o, "gpu-market localnet running")?;
            writeln!(o, "  JSON-RPC   {}", node.rpc_url)?;
            writeln!(o, "  websocket  {}", node.ws_url)?;
            writeln!(o, "  program    {}", gpu_market::ID)?;
            writeln!(o, "  faucet     {}", node.faucet.pubkey())?;
            writeln!(o, "use it with --url {} ; Ctrl-C stops it", node.rpc_url)
        },
    )?;
    out.flush().ok();
    tokio::signal::ctrl_c().await.ok();
    node.stop().await;
    writeln!(out, "localnet stopped").ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> super::LocalnetArgs {
        let cli = Cli::try_parse_from([&["gpumkt", "localnet"], args].concat()).unwrap();
        match cli.command {
            Command::Localnet(a) => a,
            other => panic!("not localnet: {other:?}"),
        }
    }

    #[test]
    fn rpc_port_is_solana_test_validators_flag_and_port_still_works() {
        let a = parse(&[]);
        assert_eq!((a.port, a.ws_port), (8899, None));
        assert!(a.bind.is_loopback(), "loopback by default");
        assert_eq!(parse(&["--rpc-port", "9000"]).port, 9000);
        assert_eq!(parse(&["--port", "9001"]).port, 9001);
        let a = parse(&["--rpc-port", "9000", "--ws-port", "9500"]);
        assert_eq!((a.port, a.ws_port), (9000, Some(9500)));
        assert!(Cli::try_parse_from(["gpumkt", "localnet", "--rpc-port", "x"]).is_err());
    }
}
