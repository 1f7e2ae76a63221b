//! The one error enum of the program. Only ever appended to: clients match on the
//! numeric codes, so a variant's position is part of the protocol. Each message
//! states the rule that was broken.

use anchor_lang::prelude::*;

#[error_code]
#[derive(PartialEq, Eq)]
pub enum MarketError {
    #[msg("the market is paused: no new registrations, posts or claims")]
    MarketPaused,
    #[msg("only the market authority may do this")]
    Unauthorized,
    #[msg("the protocol fee may not exceed MAX_FEE_BPS")]
    FeeTooHigh,
    #[msg("slash shares (buyer + reporter) may not exceed 10000 bps")]
    SlashSplitInvalid,
    #[msg("unstake cooldown must exceed challenge window + dispute timeout")]
    CooldownTooShort,
    #[msg("a duration parameter is zero, negative or above its maximum")]
    InvalidDuration,
    #[msg("the bond rule is invalid: bond_bps above MAX_BOND_BPS or both bps and minimum zero")]
    BondRuleInvalid,
    #[msg("score_fee_scale must be positive")]
    ScoreScaleZero,
    #[msg("the token account has the wrong mint for this market")]
    WrongMint,
    #[msg("the token account is not owned by the expected wallet")]
    WrongTokenOwner,
    #[msg("the vault is not this market's vault")]
    WrongVault,
    #[msg("the fee or slash account is not this market's")]
    WrongTreasuryAccount,
    #[msg("stake would fall below the market's minimum stake")]
    StakeBelowMinimum,
    #[msg("the amount must be positive")]
    AmountZero,
    #[msg("not enough free stake (stake - locked bonds - pending unstake)")]
    InsufficientFreeStake,
    #[msg("no unstake is pending")]
    NothingToWithdraw,
    #[msg("the unstake cooldown has not elapsed")]
    UnstakeCooldownActive,
    #[msg("bonds are still locked in jobs: withdraw after they settle")]
    BondsLocked,
    #[msg("the signer is not this provider's worker key")]
    WrongWorker,
    #[msg("the signer is not this provider's owner")]
    WrongOwner,
    #[msg("the account is not this job's buyer")]
    WrongBuyer,
    #[msg("the price must be positive")]
    PriceZero,
    #[msg("the deadline must be in the future")]
    DeadlineInPast,
    #[msg("the deadline is further away than MAX_JOB_DURATION")]
    DeadlineTooFar,
    #[msg("the URI is longer than MAX_URI_LEN bytes")]
    UriTooLong,
    #[msg("unknown workload kind")]
    UnknownWorkload,
    #[msg("the GPU descriptor is invalid: count and VRAM must be positive")]
    InvalidGpuDescriptor,
    #[msg("max_concurrent must be positive")]
    InvalidConcurrency,
    #[msg("the job is not open")]
    JobNotOpen,
    #[msg("the job is not claimed")]
    JobNotClaimed,
    #[msg("the job has no submitted result")]
    JobNotSubmitted,
    #[msg("the job's deadline has passed")]
    JobDeadlinePassed,
    #[msg("the provider's GPUs do not meet the job's requirements")]
    RequirementsNotMet,
    #[msg("the job's price is below the provider's price floor")]
    PriceBelowFloor,
    #[msg("the provider already runs max_concurrent jobs")]
    ConcurrencyLimitReached,
    #[msg("the submit deadline has passed")]
    SubmitDeadlinePassed,
    #[msg("the submit deadline has not passed yet")]
    SubmitDeadlineNotPassed,
    #[msg("the job's deadline has not passed yet")]
    DeadlineNotPassed,
    #[msg("the challenge window is still open")]
    ChallengeWindowOpen,
    #[msg("metered GPU time exceeds wall-clock time since the claim times GPU count")]
    MeteringExceedsWallClock,
    #[msg("the result root must not be all zeros")]
    EmptyResultRoot,
    #[msg("the provider account is not the one that claimed this job")]
    WrongProvider,
    #[msg("the account belongs to another market")]
    WrongMarket,
    #[msg("arithmetic overflow")]
    MathOverflow,
    #[msg("the account is not the provider's payout account")]
    WrongPayoutAccount,
    #[msg("provider invariant broken: locked bonds plus pending unstake exceed the stake")]
    ProviderStakeInvariant,
    #[msg("provider invariant broken: locked bonds disagree with active jobs (each active job locks a positive bond, and only they do)")]
    ProviderJobsInvariant,
    #[msg("market invariant broken: more jobs closed than posted, escrow that disagrees with the live jobs, or payments before any completion")]
    MarketTotalsInvariant,
    #[msg("the crank bounty may not exceed MAX_CRANK_BOUNTY")]
    CrankBountyTooHigh,
    #[msg("the minimum bond may not exceed MAX_BOND_MIN")]
    BondMinTooHigh,
    #[msg("the minimum stake may not exceed MAX_MIN_STAKE")]
    MinStakeTooHigh,
    #[msg("the challenger bond may not exceed MAX_CHALLENGER_BOND")]
    ChallengerBondTooHigh,
    #[msg("score_fee_scale may not exceed MAX_SCORE_FEE_SCALE")]
    ScoreScaleTooHigh,
    #[msg("the escrow the market's terms ask for exceeds the buyer's max_escrow")]
    EscrowAboveMaximum,
    #[msg("the claim would leave less than the job's min_submit_window seconds to submit")]
    SubmitWindowTooShort,
    #[msg("the deadline is too soon for any claim to get the market's min_submit_window")]
    DeadlineTooSoon,
    #[msg("no parameter update is pending")]
    NoPendingUpdate,
    #[msg("the pending parameter update is not due yet")]
    UpdateNotDue,
    #[msg("a mint with a freeze authority could freeze the market's accounts: refused")]
    MintHasFreezeAuthority,
    #[msg("a sweep destination may not be one of the market's own vaults")]
    SweepIntoVault,
    #[msg("a gemm job must record its shape and input roots (gemm commitment) at post")]
    GemmCommitmentMissing,
    #[msg("only gemm-i8 and gemm-f32 jobs carry a gemm commitment")]
    GemmCommitmentUnexpected,
    #[msg("gemm dimensions must be positive, at most MAX_GEMM_DIM, and each committed leaf at most MAX_PROOF_LEAF_BYTES")]
    GemmShapeInvalid,
    #[msg("a dispute of this job is already open: settle it first")]
    DisputeAlreadyOpen,
    #[msg("the challenge window has closed")]
    ChallengeWindowClosed,
    #[msg("the chain rules on gemm-i8 and gemm-f32 results only")]
    DisputeUnsupportedWorkload,
    #[msg("the dispute's response deadline has passed: no more staging")]
    DisputeWindowClosed,
    #[msg("the dispute is neither complete nor past its response deadline")]
    DisputeNotReady,
    #[msg("the staged dispute data cannot be ruled on (corrupted accumulator)")]
    RulingInputInvalid,
    #[msg("the proof buffer's length is not the committed leaf's length")]
    ProofLengthMismatch,
    #[msg("the write does not fit inside the proof buffer")]
    ProofWriteOutOfBounds,
    #[msg("this leaf is already verified: its bytes are frozen")]
    ProofAlreadyVerified,
    #[msg("the staged leaf and path do not lead to the committed root")]
    ProofPathInvalid,
    #[msg("the rows and column must be verified first")]
    ProofNotVerified,
    #[msg("the proof buffer's dispute is still open")]
    ProofBufferInUse,
    #[msg("the account is not this job's dispute, or the buffer not this dispute's")]
    WrongDispute,
    #[msg("the account is not this dispute's challenger or its recorded token account")]
    WrongChallenger,
    #[msg("the dot product is already fully absorbed")]
    NothingToAbsorb,
    #[msg("the provider has no seat in the market's referee pool")]
    RefereeNotInPool,
    #[msg("the provider already has a seat in the referee pool")]
    RefereeAlreadyInPool,
    #[msg("the referee pool has no free seat")]
    RefereePoolFull,
    #[msg("a referee cannot leave the pool while a dispute it was drawn for is open")]
    RefereeHasDuties,
    #[msg("the provider was not drawn as a referee of this dispute")]
    NotADrawnReferee,
    #[msg("the referee phase's deadline has passed")]
    RefereeWindowClosed,
    #[msg("the referee already committed to a result")]
    RefereeAlreadyCommitted,
    #[msg("the referee did not commit before revealing")]
    RefereeNotCommitted,
    #[msg("the referee already revealed its result")]
    RefereeAlreadyRevealed,
    #[msg("reveals wait until every referee committed or the commit deadline passed")]
    RefereeCommitPhaseOpen,
    #[msg("the revealed root and salt do not open the referee's commitment")]
    RefereeRevealMismatch,
    #[msg("the dispute's referees are already drawn")]
    RefereesAlreadyDrawn,
    #[msg("the draw slot's hash is not in SlotHashes yet")]
    DrawNotReady,
    #[msg("the dispute is settled by the chain's own ruling, not by referees")]
    NotRefereed,
    #[msg("settling a refereed dispute takes the pool and each drawn referee's provider and payout accounts, in draw order")]
    RefereeAccountsMissing,
    #[msg("the account is not the sysvar the instruction reads")]
    WrongSysvar,
    #[msg("the address is already an account (data or another owner): it cannot be created")]
    AccountAddressInUse,
    #[msg("a segmented job, and an extension of one, has at least one segment")]
    SegmentsEmpty,
    #[msg("a job has at most MAX_SEGMENTS (32) segments, extensions included")]
    TooManySegments,
    #[msg("a segment's duration must be positive, at most MAX_PHASE_DURATION, and leave the market's minimum submit window (the deadline second included)")]
    SegmentDurationInvalid,
    #[msg("a segmented job's price must be the sum of its segments' prices")]
    SegmentTotalMismatch,
    #[msg("only workloads that checkpoint (train-mlp) are posted in segments")]
    WorkloadNotSegmentable,
    #[msg("a segmented job is claimed with its segments account")]
    SegmentsAccountMissing,
    #[msg("the job has no segment with this index")]
    SegmentIndexOutOfRange,
    #[msg("a segment starts only when it is the job's next and pending")]
    SegmentNotPending,
    #[msg("only the running segment can be committed or expired")]
    SegmentNotRunning,
    #[msg("only a committed segment can be paid")]
    SegmentNotCommitted,
    #[msg("the segment's deadline has passed: its checkpoint is late")]
    SegmentDeadlinePassed,
    #[msg("a running segment can be expired only after its deadline")]
    SegmentDeadlineNotPassed,
    #[msg("a committed checkpoint needs the URI it can be resumed from")]
    CheckpointUriEmpty,
    #[msg("the job has ended: no segment is added or started any more")]
    JobAlreadyEnded,
    #[msg("a segmented job's books must agree with its segments (price, escrow, bonds, order)")]
    SegmentsInvariant,
    #[msg(
        "no segment starts, and no later segment is paid, while a segment of the job is disputed"
    )]
    SegmentDisputeOpen,
    #[msg("overturning a segment takes, after the referee accounts, the provider account of every later started segment's provider other than the disputed one and the referees, in segment order")]
    SegmentProvidersMissing,
    #[msg(
        "a dispute over a segment is settled by segment_settle, which reads the segments account"
    )]
    DisputeIsOverASegment,
    #[msg("pending segments are refunded by anyone only when no segment is running")]
    SegmentRunning,
}

impl MarketError {
    /// Every variant in code order, so clients can turn an error number back
    /// into a name. A test keeps it complete.
    pub const ALL: &'static [MarketError] = &[
        MarketError::MarketPaused,
        MarketError::Unauthorized,
        MarketError::FeeTooHigh,
        MarketError::SlashSplitInvalid,
        MarketError::CooldownTooShort,
        MarketError::InvalidDuration,
        MarketError::BondRuleInvalid,
        MarketError::ScoreScaleZero,
        MarketError::WrongMint,
        MarketError::WrongTokenOwner,
        MarketError::WrongVault,
        MarketError::WrongTreasuryAccount,
        MarketError::StakeBelowMinimum,
        MarketError::AmountZero,
        MarketError::InsufficientFreeStake,
        MarketError::NothingToWithdraw,
        MarketError::UnstakeCooldownActive,
        MarketError::BondsLocked,
        MarketError::WrongWorker,
        MarketError::WrongOwner,
        MarketError::WrongBuyer,
        MarketError::PriceZero,
        MarketError::DeadlineInPast,
        MarketError::DeadlineTooFar,
        MarketError::UriTooLong,
        MarketError::UnknownWorkload,
        MarketError::InvalidGpuDescriptor,
        MarketError::InvalidConcurrency,
        MarketError::JobNotOpen,
        MarketError::JobNotClaimed,
        MarketError::JobNotSubmitted,
        MarketError::JobDeadlinePassed,
        MarketError::RequirementsNotMet,
        MarketError::PriceBelowFloor,
        MarketError::ConcurrencyLimitReached,
        MarketError::SubmitDeadlinePassed,
        MarketError::SubmitDeadlineNotPassed,
        MarketError::DeadlineNotPassed,
        MarketError::ChallengeWindowOpen,
        MarketError::MeteringExceedsWallClock,
        MarketError::EmptyResultRoot,
        MarketError::WrongProvider,
        MarketError::WrongMarket,
        MarketError::MathOverflow,
        MarketError::WrongPayoutAccount,
        MarketError::ProviderStakeInvariant,
        MarketError::ProviderJobsInvariant,
        MarketError::MarketTotalsInvariant,
        MarketError::CrankBountyTooHigh,
        MarketError::BondMinTooHigh,
        MarketError::MinStakeTooHigh,
        MarketError::ChallengerBondTooHigh,
        MarketError::ScoreScaleTooHigh,
        MarketError::EscrowAboveMaximum,
        MarketError::SubmitWindowTooShort,
        MarketError::DeadlineTooSoon,
        MarketError::NoPendingUpdate,
        MarketError::UpdateNotDue,
        MarketError::MintHasFreezeAuthority,
        MarketError::SweepIntoVault,
        MarketError::GemmCommitmentMissing,
        MarketError::GemmCommitmentUnexpected,
        MarketError::GemmShapeInvalid,
        MarketError::DisputeAlreadyOpen,
        MarketError::ChallengeWindowClosed,
        MarketError::DisputeUnsupportedWorkload,
        MarketError::DisputeWindowClosed,
        MarketError::DisputeNotReady,
        MarketError::RulingInputInvalid,
        MarketError::ProofLengthMismatch,
        MarketError::ProofWriteOutOfBounds,
        MarketError::ProofAlreadyVerified,
        MarketError::ProofPathInvalid,
        MarketError::ProofNotVerified,
        MarketError::ProofBufferInUse,
        MarketError::WrongDispute,
        MarketError::WrongChallenger,
        MarketError::NothingToAbsorb,
        MarketError::RefereeNotInPool,
        MarketError::RefereeAlreadyInPool,
        MarketError::RefereePoolFull,
        MarketError::RefereeHasDuties,
        MarketError::NotADrawnReferee,
        MarketError::RefereeWindowClosed,
        MarketError::RefereeAlreadyCommitted,
        MarketError::RefereeNotCommitted,
        MarketError::RefereeAlreadyRevealed,
        MarketError::RefereeCommitPhaseOpen,
        MarketError::RefereeRevealMismatch,
        MarketError::RefereesAlreadyDrawn,
        MarketError::DrawNotReady,
        MarketError::NotRefereed,
        MarketError::RefereeAccountsMissing,
        MarketError::WrongSysvar,
        MarketError::AccountAddressInUse,
        MarketError::SegmentsEmpty,
        MarketError::TooManySegments,
        MarketError::SegmentDurationInvalid,
        MarketError::SegmentTotalMismatch,
        MarketError::WorkloadNotSegmentable,
        MarketError::SegmentsAccountMissing,
        MarketError::SegmentIndexOutOfRange,
        MarketError::SegmentNotPending,
        MarketError::SegmentNotRunning,
        MarketError::SegmentNotCommitted,
        MarketError::SegmentDeadlinePassed,
        MarketError::SegmentDeadlineNotPassed,
        MarketError::CheckpointUriEmpty,
        MarketError::JobAlreadyEnded,
        MarketError::SegmentsInvariant,
        MarketError::SegmentDisputeOpen,
        MarketError::SegmentProvidersMissing,
        MarketError::DisputeIsOverASegment,
        MarketError::SegmentRunning,
    ];

    /// The variant with this error number (6000 + position), if any.
    pub fn from_code(code: u32) -> Option<MarketError> {
        let index = code.checked_sub(anchor_lang::error::ERROR_CODE_OFFSET)?;
        Self::ALL.get(index as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_complete_and_in_code_order() {
        let declared = include_str!("errors.rs")
            .lines()
            .filter(|l| l.trim_start().starts_with("#[msg("))
            .count();
        assert_eq!(MarketError::ALL.len(), declared);
        for (i, e) in MarketError::ALL.iter().enumerate() {
            assert_eq!(
                u32::from(*e),
                anchor_lang::error::ERROR_CODE_OFFSET + i as u32
            );
            assert_eq!(MarketError::from_code(u32::from(*e)), Some(*e));
        }
        assert_eq!(MarketError::from_code(5_999), None);
        assert_eq!(MarketError::from_code(6_000 + declared as u32), None);
    }
}
