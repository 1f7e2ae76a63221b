//! A `Dispute` over one output element of a submitted GEMM job, and the `ProofBuffer`s
//! that stage the bytes its ruling needs.
//!
//! ```text
//! job_challenge (anyone, within the challenge window, posts the challenger bond)
//!   -> proof_open / proof_write / proof_verify   (row of A and column of B: anyone, usually
//!      the challenger, against the job's input roots; row of C: the provider, against its
//!      own result root), all before `respond_deadline`
//!   -> dispute_absorb (anyone; the dot product over as many transactions as k needs)
//!   -> dispute_settle (anyone): complete -> the ruling decides; incomplete after
//!      `respond_deadline` -> whoever failed to stage loses by default
//!   -> proof_close (anyone, once settled: rent back to who paid it)
//! ```
//!
//! The ruling is `gpu-market-ruling`'s: exact for gemm-i8, the documented f32 error bound
//! for gemm-f32 (docs/design.md, "Ruling math"), so an auditor deciding whether to
//! challenge calls the very function the chain applies.

use anchor_lang::prelude::*;
use gpu_market_ruling::{F32Accumulator, I8Accumulator, RulingError, Sha256};

use crate::errors::MarketError;
use crate::state::{on_time, Job, RefereeRound, RefereeVerdict, Segments, WorkloadKind};

/// Which committed tree a proof buffer stages a leaf of.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, InitSpace, Debug, PartialEq, Eq)]
pub enum ProofTree {
    /// A row of A, against the job's `gemm.a_root`.
    A,
    /// A column of B, against the job's `gemm.b_root`.
    B,
    /// A row of C, against the provider's `result_root`.
    C,
}

impl ProofTree {
    /// Its bit in `Dispute::proven`.
    pub const fn bit(self) -> u8 {
        match self {
            ProofTree::A => 1,
            ProofTree::B => 2,
            ProofTree::C => 4,
        }
    }

    /// The seed byte of its buffer's PDA.
    pub const fn seed(self) -> u8 {
        self as u8
    }
}

/// All three leaves proven.
pub const PROVEN_ALL: u8 = 7;

/// Width of the stored accumulator: the f32 one (the i8 one uses its first bytes).
pub const ACC_LEN: usize = F32Accumulator::ENCODED_LEN;

#[account]
#[derive(InitSpace, Debug)]
pub struct Dispute {
    pub market: Pubkey,
    pub job: Pubkey,
    /// Market-wide sequence number (`MarketTotals::jobs_disputed` before this one);
    /// part of the PDA seeds, so a dispute's address, and its buffers', never repeat.
    pub id: u64,
    /// Posted the bond, paid this account's rent, gets both back when it wins.
    pub challenger: Pubkey,
    /// Payment-mint account (owned by the challenger, checked at the challenge) that gets
    /// the bond back when the challenger wins.
    pub challenger_payment_account: Pubkey,
    /// Stake-mint account (owned by the challenger, checked at the challenge) that gets
    /// the reporter share of the slash.
    pub challenger_stake_account: Pubkey,
    /// The provider whose result is disputed.
    pub provider: Pubkey,
    /// The disputed output element C[row][col].
    pub row: u32,
    pub col: u32,
    /// Challenger bond held in the payment vault, payment-mint units.
    pub bond: u64,
    /// Provider stake locked at the challenge beyond the job's bond (the second half of
    /// the slash), stake-mint units: `min(job bond, free stake)`.
    pub stake_locked: u64,
    pub opened_at: i64,
    /// Last second a leaf may be staged, verified or absorbed.
    pub respond_deadline: i64,
    /// `ProofTree::bit`s of the leaves whose paths were verified.
    pub proven: u8,
    /// C[row][col] as the provider committed it (little-endian i32 or f32 bits), read from
    /// the verified row of C.
    pub claimed: [u8; 4],
    /// The dot product of the verified row and column so far: `I8Accumulator` or
    /// `F32Accumulator` bytes, by the job's workload.
    pub acc: [u8; ACC_LEN],
    pub bump: u8,
    /// The referees' side, for a result the chain cannot recompute (`cuda-kernel`, a
    /// segment's checkpoint); zero for a GEMM dispute.
    pub referee: RefereeRound,
    /// The disputed segment of a segmented job (its `state_root` is what the referees'
    /// root is compared with); none for a single job's dispute.
    pub segment: Option<u8>,
}

/// Fixed part of a `ProofBuffer`; the staged leaf's bytes follow it in the account.
#[account]
#[derive(InitSpace, Debug)]
pub struct ProofBuffer {
    pub dispute: Pubkey,
    /// Paid the rent, is the only one who may write, gets the rent back at close.
    pub payer: Pubkey,
    pub tree: ProofTree,
    /// Length of the staged leaf: exactly the committed leaf's (`k * e` for A and B,
    /// `n * 4` for C).
    pub len: u32,
    pub bump: u8,
}

impl ProofBuffer {
    /// Bytes before the staged leaf: the discriminator and the fixed part.
    pub const DATA_OFFSET: usize = 8 + ProofBuffer::INIT_SPACE;
}

/// Who lost a settled dispute, and why.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// The ruling found the committed element wrong.
    ProviderWrong,
    /// The provider did not verify its row of C before the response deadline.
    ProviderSilent,
    /// The ruling upheld the committed element.
    ChallengerWrong,
    /// The row of C was verified but the challenger's side (row of A, column of B,
    /// absorbing the dot product) was not finished before the response deadline.
    ChallengerIncomplete,
    /// A refereed dispute without a quorum (too few referees drawn, or too few matching
    /// reveals by the deadline), or not drawn by its response deadline: nobody is
    /// slashed, the challenger's bond is returned and the result stands.
    NoRuling,
}

impl DisputeOutcome {
    pub const fn provider_loses(self) -> bool {
        matches!(
            self,
            DisputeOutcome::ProviderWrong | DisputeOutcome::ProviderSilent
        )
    }
}

/// SHA-256 for the ruling's Merkle checks: Solana's `sol_sha256` syscall on SBF, the
/// same function's native implementation in tests.
pub struct SolSha256;

impl Sha256 for SolSha256 {
    fn hashv(parts: &[&[u8]]) -> [u8; 32] {
        solana_sha256_hasher::hashv(parts).to_bytes()
    }
}

fn ruling_error(e: RulingError) -> Error {
    msg!("ruling: {}", e);
    error!(MarketError::RulingInputInvalid)
}

impl Dispute {
    pub fn is_proven(&self, tree: ProofTree) -> bool {
        self.proven & tree.bit() != 0
    }

    /// Staging (open, write, verify, absorb) is allowed: the response window is open.
    pub fn check_staging_at(&self, now: i64) -> Result<()> {
        require!(
            on_time(now, self.respond_deadline),
            MarketError::DisputeWindowClosed
        );
        Ok(())
    }

    /// Elements of the row and column absorbed so far.
    pub fn absorbed(&self, workload: WorkloadKind) -> u32 {
        match workload {
            WorkloadKind::GemmF32 => F32Accumulator::from_bytes(&self.acc).next_index,
            _ => I8Accumulator::from_bytes(&self.i8_bytes()).next_index,
        }
    }

    fn i8_bytes(&self) -> [u8; I8Accumulator::ENCODED_LEN] {
        let mut bytes = [0u8; I8Accumulator::ENCODED_LEN];
        bytes.copy_from_slice(&self.acc[..I8Accumulator::ENCODED_LEN]);
        bytes
    }

    /// Absorbs the next `a.len()` elements of the verified row of A and column of B.
    pub fn absorb(&mut self, workload: WorkloadKind, a: &[u8], b: &[u8]) -> Result<()> {
        match workload {
            WorkloadKind::GemmF32 => {
                let mut acc = F32Accumulator::from_bytes(&self.acc);
                acc.absorb(a, b).map_err(ruling_error)?;
                self.acc = acc.to_bytes();
            }
            _ => {
                let mut acc = I8Accumulator::from_bytes(&self.i8_bytes());
                acc.absorb(a, b).map_err(ruling_error)?;
                self.acc[..I8Accumulator::ENCODED_LEN].copy_from_slice(&acc.to_bytes());
            }
        }
        Ok(())
    }

    /// Every leaf verified and the whole dot product absorbed: the ruling can decide.
    pub fn complete(&self, job: &Job) -> bool {
        self.proven == PROVEN_ALL
            && job
                .workload_kind()
                .is_some_and(|w| self.absorbed(w) == job.gemm.k)
    }

    /// The dispute's outcome at `now`, by rule: once complete, the ruling decides (at any
    /// time); incomplete, nobody wins before the response deadline, and after it the side
    /// that did not finish its part loses (the provider first: its row of C is the one
    /// thing only it is sure to have).
    pub fn outcome_at(&self, job: &Job, now: i64) -> Result<DisputeOutcome> {
        if self.is_refereed(job) {
            return self.referee_outcome_at(job, now);
        }
        if self.complete(job) {
            let k = job.gemm.k;
            let wrong = match job.workload_kind() {
                Some(WorkloadKind::GemmF32) => F32Accumulator::from_bytes(&self.acc)
                    .finish(k, u32::from_le_bytes(self.claimed))
                    .map_err(ruling_error)?
                    .is_wrong(),
                Some(WorkloadKind::GemmI8) => I8Accumulator::from_bytes(&self.i8_bytes())
                    .finish(k, i32::from_le_bytes(self.claimed))
                    .map_err(ruling_error)?
                    .is_wrong(),
                _ => return err!(MarketError::DisputeUnsupportedWorkload),
            };
            return Ok(if wrong {
                DisputeOutcome::ProviderWrong
            } else {
                DisputeOutcome::ChallengerWrong
            });
        }
        require!(
            !on_time(now, self.respond_deadline),
            MarketError::DisputeNotReady
        );
        Ok(if self.is_proven(ProofTree::C) {
            DisputeOutcome::ChallengerIncomplete
        } else {
            DisputeOutcome::ProviderSilent
        })
    }
}

impl Dispute {
    /// A dispute over a result the chain cannot recompute: settled by referees (a CUDA
    /// kernel's result, or one segment's checkpoint, re-executed from the previous one).
    pub fn is_refereed(&self, job: &Job) -> bool {
        self.segment.is_some() || job.workload_kind() == Some(WorkloadKind::CudaKernel)
    }

    /// A segment dispute's outcome at `now`: the referees' verdict on that segment's
    /// committed `state_root`, by the rule of [`Dispute::referee_outcome_at`].
    pub fn segment_outcome_at(&self, segments: &Segments, now: i64) -> Result<DisputeOutcome> {
        let index = self.segment.ok_or(MarketError::WrongDispute)?;
        let root = segments.segment(index)?.state_root;
        self.referee_outcome_for(&root, now)
    }

    /// A refereed dispute's outcome at `now`: undrawn, nobody wins before the response
    /// deadline and there is no ruling after it; drawn with fewer referees than the
    /// quorum, no ruling at once; otherwise the referees' verdict once every one of them
    /// revealed or the reveal deadline passed (a quorum of matching roots decides).
    pub fn referee_outcome_at(&self, job: &Job, now: i64) -> Result<DisputeOutcome> {
        self.referee_outcome_for(&job.result_root, now)
    }

    /// The same rule against `root`, the result the provider committed.
    pub fn referee_outcome_for(&self, root: &[u8; 32], now: i64) -> Result<DisputeOutcome> {
        let r = &self.referee;
        if !r.drawn {
            require!(
                !on_time(now, self.respond_deadline),
                MarketError::DisputeNotReady
            );
            return Ok(DisputeOutcome::NoRuling);
        }
        if (r.count as usize) < crate::constants::REFEREE_QUORUM {
            return Ok(DisputeOutcome::NoRuling);
        }
        require!(r.finished_at(now), MarketError::DisputeNotReady);
        Ok(match r.verdict(root) {
            RefereeVerdict::Upheld => DisputeOutcome::ChallengerWrong,
            RefereeVerdict::Overturned => DisputeOutcome::ProviderWrong,
            RefereeVerdict::None => DisputeOutcome::NoRuling,
        })
    }
}

/// Bytes per input element of the workloads the chain can rule on: 1 for gemm-i8, 4 for
/// gemm-f32; `None` for the rest (cuda-kernel needs re-execution; bf16 is reserved).
pub const fn gemm_elem_bytes(kind: WorkloadKind) -> Option<u32> {
    match kind {
        WorkloadKind::GemmI8 => Some(1),
        WorkloadKind::GemmF32 => Some(4),
        _ => None,
    }
}

/// The leaf a tree's buffer must stage, and where its path is checked: (root, leaf
/// count, leaf index, leaf length in bytes).
pub fn leaf_for(
    job: &Job,
    dispute: &Dispute,
    tree: ProofTree,
) -> Result<([u8; 32], u64, u64, u64)> {
    let g = &job.gemm;
    let elem = job
        .workload_kind()
        .and_then(gemm_elem_bytes)
        .ok_or(MarketError::DisputeUnsupportedWorkload)? as u64;
    let input_leaf = (g.k as u64).saturating_mul(elem);
    Ok(match tree {
        ProofTree::A => (g.a_root, g.m as u64, dispute.row as u64, input_leaf),
        ProofTree::B => (g.b_root, g.n as u64, dispute.col as u64, input_leaf),
        ProofTree::C => (
            job.result_root,
            g.m as u64,
            dispute.row as u64,
            (g.n as u64).saturating_mul(4),
        ),
    })
}
