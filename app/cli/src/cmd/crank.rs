//! `gpumkt crank`: settle everything due now (or keep doing so with --loop),
//! earning the bounties the protocol pays for it.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use gpu_market_client::crank::crank_once;

use crate::output::emit;
use crate::{Ctx, Format, Result};

#[derive(Args, Debug)]
pub struct CrankArgs {
    /// Keep cranking every --interval seconds until interrupted.
    #[arg(long = "loop")]
    pub keep_going: bool,
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
}

pub async fn run(ctx: &Ctx, a: CrankArgs, out: &mut dyn Write) -> Result<()> {
    let market = ctx.market()?;
    let me = ctx.keypair()?;
    loop {
        let r = crank_once(&ctx.sender, me, &market).await?;
        emit(out, ctx.format, &r, |o| {
            writeln!(
                o,
                "finalized {}, expired {}, refunded {}, skipped {}, failed {}",
                r.finalized.len(),
                r.expired.len(),
                r.refunded.len(),
                r.skipped.len(),
                r.failed.len()
            )?;
            for (job, e) in &r.failed {
                writeln!(o, "  {job}: {e}")?;
            }
            Ok(())
        })?;
        if !a.keep_going {
            return Ok(());
        }
        if ctx.format == Format::Text {
            out.flush().ok();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(a.interval.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
