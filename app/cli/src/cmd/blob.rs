//! `gpumkt blob`: put a file into the blob store (printing the reference a
//! spec uses) and fetch a blob by URI with its hash checked.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use crate::output::emit;
use crate::{CliError, Ctx, Result};

#[derive(Subcommand, Debug)]
pub enum BlobCmd {
    /// Store a file; prints its URI, SHA-256 and length.
    Put { file: PathBuf },
    /// Fetch a blob and verify it against its SHA-256.
    Get {
        uri: String,
        #[arg(long)]
        sha256: String,
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(ctx: &Ctx, cmd: BlobCmd, out: &mut dyn Write) -> Result<()> {
    match cmd {
        BlobCmd::Put { file } => {
            let bytes = std::fs::read(&file).map_err(|source| CliError::ReadFile {
                path: file.clone(),
                source,
            })?;
            let r = ctx.blobs()?.put(&bytes).await?;
            let v = json!({"uri": r.uri, "sha256": r.sha256, "len": r.len});
            emit(out, ctx.format, &v, |o| {
                writeln!(o, "{}\nsha256 {}\n{} bytes", r.uri, r.sha256, r.len)
            })
        }
        BlobCmd::Get {
            uri,
            sha256,
            out: path,
        } => {
            let sha = gpu_market_blobs::from_hex(&sha256)
                .map_err(|e| CliError::Usage(format!("--sha256: {e}")))?;
            let bytes = gpu_market_blobs::fetch(&uri, &sha).await?;
            std::fs::write(&path, &bytes).map_err(|source| CliError::WriteFile {
                path: path.clone(),
                source,
            })?;
            emit(
                out,
                ctx.format,
                &json!({"uri": uri, "bytes": bytes.len(), "out": path.display().to_string()}),
                |o| {
                    writeln!(
                        o,
                        "{} bytes verified and written to {}",
                        bytes.len(),
                        path.display()
                    )
                },
            )
        }
    }
}
