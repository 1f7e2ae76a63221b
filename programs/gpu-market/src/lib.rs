//! gpu-market on-chain program (work in progress).
use anchor_lang::prelude::*;

declare_id!("GPUMkt1111111111111111111111111111111111111");

#[program]
pub mod gpu_market {}
