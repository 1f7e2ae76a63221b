//! One past-tense event per state change. Amounts are token base units
//! (payment mint unless noted), times are unix seconds, GPU time is milliseconds.
//! Events carry enough for an indexer to rebuild history, but nothing depends on
//! them: the accounts and the market totals are the source of truth.

use anchor_lang::prelude::*;

/// Emits an event. On SBF this is Anchor's `emit!` (a `sol_log_data` syscall,
/// logged as "Program data: <base64>"). Off SBF Anchor's path is a no-op, so
/// native builds hand the same bytes to the runtime's syscall stubs, where the
/// embedded chain records them in the transaction's logs in the same form.
#[macro_export]
macro_rules! emit_event {
    ($event:expr) => {{
        #[cfg(target_os = "solana")]
        anchor_lang::prelude::emit!($event);
        #[cfg(not(target_os = "solana"))]
        $crate::events::log_native(&$event);
    }};
}

#[cfg(not(target_os = "solana"))]
pub fn log_native<E: anchor_lang::Event>(event: &E) {
    solana_sysvar::program_stubs::sol_log_data(&[&event.data()]);
}

use crate::state::{GpuDescriptor, MarketParams};

#[event]
pub struct MarketCreated {
    pub market: Pubkey,
    pub authority: Pubkey,
    pub payment_mint: Pubkey,
    pub stake_mint: Pubkey,
    pub params: MarketParams,
    pub timestamp: i64,
}

#[event]
pub struct MarketUpdated {
    pub market: Pubkey,
    pub old_params: MarketParams,
    pub new_params: MarketParams,
    pub timestamp: i64,
}

#[event]
pub struct MarketPauseSet {
    pub market: Pubkey,
    pub paused: bool,
    pub timestamp: i64,
}

#[event]
pub struct ProviderRegistered {
    pub market: Pubkey,
    pub provider: Pubkey,
    pub owner: Pubkey,
    pub worker: Pubkey,
    pub gpu: GpuDescriptor,
    /// Stake-mint units.
    pub stake: u64,
    pub timestamp: i64,
}

#[event]
pub struct ProviderStaked {
    pub provider: Pubkey,
    /// Stake-mint units added; `stake_after` is the provider's total.
    pub amount: u64,
    pub stake_after: u64,
    pub timestamp: i64,
}

#[event]
pub struct ProviderUnstakeRequested {
    pub provider: Pubkey,
    /// Stake-mint units.
    pub amount: u64,
    pub pending_after: u64,
    pub release_at: i64,
    pub timestamp: i64,
}

#[event]
pub struct ProviderWithdrew {
    pub provider: Pubkey,
    /// Stake-mint units.
    pub amount: u64,
    pub stake_after: u64,
    pub timestamp: i64,
}

#[event]
pub struct ProviderHeartbeatRecorded {
    pub provider: Pubkey,
    pub slot: u64,
    pub gpu_updated: bool,
    pub timestamp: i64,
}

#[event]
pub struct ProviderUpdated {
    pub provider: Pubkey,
    pub worker: Pubkey,
    pub payout_account: Pubkey,
    pub price_floor: u64,
    pub max_concurrent: u16,
    pub timestamp: i64,
}

#[event]
pub struct ProviderSlashed {
    pub market: Pubkey,
    pub provider: Pubkey,
    pub job: Pubkey,
    /// Stake-mint units: the total and its split.
    pub amount: u64,
    pub to_buyer: u64,
    pub to_reporter: u64,
    pub to_treasury: u64,
    pub reporter: Pubkey,
    pub stake_after: u64,
    pub score_after: u32,
    pub timestamp: i64,
}

#[event]
pub struct JobPosted {
    pub market: Pubkey,
    pub job: Pubkey,
    pub buyer: Pubkey,
    pub nonce: u64,
    pub workload: u8,
    pub spec_hash: [u8; 32],
    pub price: u64,
    /// Price plus crank bounty.
    pub escrow: u64,
    pub deadline: i64,
    pub timestamp: i64,
}

#[event]
pub struct JobCancelled {
    pub job: Pubkey,
    pub buyer: Pubkey,
    pub refunded: u64,
    pub timestamp: i64,
}

#[event]
pub struct JobClaimed {
    pub job: Pubkey,
    pub provider: Pubkey,
    /// Stake-mint units locked.
    pub bond: u64,
    pub submit_deadline: i64,
    pub attempt: u16,
    pub timestamp: i64,
}

#[event]
pub struct JobSubmitted {
    pub job: Pubkey,
    pub provider: Pubkey,
    pub result_root: [u8; 32],
    pub gpu_ms: u64,
    pub challenge_deadline: i64,
    pub timestamp: i64,
}

#[event]
pub struct JobFinalized {
    pub job: Pubkey,
    pub provider: Pubkey,
    pub buyer: Pubkey,
    pub result_root: [u8; 32],
    pub gpu_ms: u64,
    pub payout: u64,
    pub fee: u64,
    pub bounty: u64,
    pub cranker: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct JobExpired {
    pub job: Pubkey,
    pub provider: Pubkey,
    /// True when the job went back to Open, false when it was refunded.
    pub reopened: bool,
    pub timestamp: i64,
}

#[event]
pub struct JobRefunded {
    pub job: Pubkey,
    pub buyer: Pubkey,
    /// Payment-mint units back to the buyer, and the bounty paid to the cranker.
    pub refunded: u64,
    pub bounty: u64,
    pub cranker: Pubkey,
    pub timestamp: i64,
}

/// A result was challenged: the job is `Disputed` until `dispute_settle`.
#[event]
pub struct JobChallenged {
    pub job: Pubkey,
    pub dispute: Pubkey,
    pub provider: Pubkey,
    pub challenger: Pubkey,
    /// The disputed element C[row][col].
    pub row: u32,
    pub col: u32,
    /// Challenger bond deposited, payment-mint units.
    pub bond: u64,
    /// Provider stake locked beside the job's bond, stake-mint units.
    pub stake_locked: u64,
    pub respond_deadline: i64,
    pub timestamp: i64,
}

/// A staged leaf's Merkle path was verified (`tree`: 0 = row of A, 1 = column of B,
/// 2 = row of C).
#[event]
pub struct ProofVerified {
    pub dispute: Pubkey,
    pub job: Pubkey,
    pub tree: u8,
    pub timestamp: i64,
}

/// A dispute settled by rule. `outcome` is `DisputeOutcome` as u8 (0 provider wrong,
/// 1 provider silent, 2 challenger wrong, 3 challenger incomplete, 4 no ruling: the
/// referees reached no quorum). Slash amounts are
/// stake-mint units; refund, bounty and bond amounts payment-mint units.
#[event]
pub struct DisputeSettled {
    pub dispute: Pubkey,
    pub job: Pubkey,
    pub provider: Pubkey,
    pub challenger: Pubkey,
    pub outcome: u8,
    pub slashed: u64,
    pub to_buyer: u64,
    pub to_challenger: u64,
    pub to_treasury: u64,
    pub refunded: u64,
    pub bond_to_provider: u64,
    pub bond_to_treasury: u64,
    pub bounty: u64,
    pub settler: Pubkey,
    pub timestamp: i64,
    /// Paid to the referees that revealed the deciding root (a refereed dispute): stake
    /// mint when the provider lost, payment mint when the challenger did.
    pub to_referees: u64,
    /// Taken from referees that committed and did not reveal, stake-mint units.
    pub referee_penalties: u64,
}

/// A parameter update that hurts participants, queued until `effective_at`.
#[event]
pub struct MarketUpdateQueued {
    pub market: Pubkey,
    pub params: MarketParams,
    /// Unix seconds from which anyone may apply it.
    pub effective_at: i64,
    pub timestamp: i64,
}

/// Fees and the treasury share of slashes, accrued in the vaults, paid out.
#[event]
pub struct MarketSwept {
    pub market: Pubkey,
    /// Payment-mint units sent to `fee_destination`.
    pub fees: u64,
    /// Stake-mint units sent to `slash_destination`.
    pub slash: u64,
    pub fee_destination: Pubkey,
    pub slash_destination: Pubkey,
    pub timestamp: i64,
}

/// A provider took a seat in the referee pool; `weight` stake-mint units locked.
#[event]
pub struct RefereeJoined {
    pub market: Pubkey,
    pub provider: Pubkey,
    pub weight: u64,
    pub timestamp: i64,
}

/// A provider left the referee pool; `weight` unlocked.
#[event]
pub struct RefereeLeft {
    pub market: Pubkey,
    pub provider: Pubkey,
    pub weight: u64,
    pub timestamp: i64,
}

/// A refereed dispute's referees drawn (`referees[..count]`, Provider accounts).
#[event]
pub struct DisputeDrawn {
    pub dispute: Pubkey,
    pub job: Pubkey,
    pub referees: [Pubkey; 3],
    pub count: u8,
    pub commit_deadline: i64,
    pub reveal_deadline: i64,
    pub timestamp: i64,
}

/// A referee committed to its result root.
#[event]
pub struct RefereeCommitted {
    pub dispute: Pubkey,
    pub referee: Pubkey,
    pub commitment: [u8; 32],
    pub timestamp: i64,
}

/// A referee revealed its result root.
#[event]
pub struct RefereeRevealed {
    pub dispute: Pubkey,
    pub referee: Pubkey,
    pub root: [u8; 32],
    pub timestamp: i64,
}

/// A segment of a segmented job started: claimed (`job_claim`), or started for the same
/// provider by its commit of the previous segment.
#[event]
pub struct SegmentStarted {
    pub job: Pubkey,
    pub index: u8,
    pub provider: Pubkey,
    /// Stake-mint units locked until the segment is paid or its deadline missed.
    pub bond: u64,
    /// Last second its checkpoint may be committed.
    pub deadline: i64,
    /// Starts of the job's segments so far, this one included.
    pub attempt: u16,
    pub timestamp: i64,
}

/// A segment's checkpoint was committed on time; its challenge window runs until
/// `challenge_deadline`.
#[event]
pub struct SegmentCommitted {
    pub job: Pubkey,
    pub index: u8,
    pub provider: Pubkey,
    /// SHA-256 of the checkpoint bytes.
    pub state_root: [u8; 32],
    pub uri: String,
    pub committed_at: i64,
    pub challenge_deadline: i64,
    /// Wall clock since the start times the GPU count, milliseconds.
    pub gpu_ms: u64,
}

/// A committed segment was paid after its challenge window.
#[event]
pub struct SegmentPaid {
    pub job: Pubkey,
    pub index: u8,
    pub provider: Pubkey,
    /// To the provider's payout account: the segment's price minus the fee.
    pub amount: u64,
    /// Kept in the payment vault for the treasury.
    pub fee: u64,
    /// To the cranker.
    pub bounty: u64,
    pub cranker: Pubkey,
    /// Every segment is paid: the job and its segments account closed, rent to the buyer.
    pub closed: bool,
    pub timestamp: i64,
}

/// A running segment missed its deadline; its bond was slashed (`ProviderSlashed`).
#[event]
pub struct SegmentExpired {
    pub job: Pubkey,
    pub index: u8,
    pub provider: Pubkey,
    /// Stake-mint units slashed.
    pub bond: u64,
    /// True when the job reopened at its last checkpoint for another claim; false when
    /// the segment and those after it were refunded (the job ended, or its deadline passed).
    pub reopened: bool,
    pub segments_refunded: u8,
    /// Payment-mint units back to the buyer (0 if its recorded account cannot receive).
    pub refunded: u64,
    pub closed: bool,
    pub timestamp: i64,
}

/// The buyer added segments and their escrow.
#[event]
pub struct JobExtended {
    pub job: Pubkey,
    pub added: u8,
    /// Segments the job has now.
    pub count: u8,
    pub price_added: u64,
    /// Deposited: the added prices plus one crank bounty per segment.
    pub escrow_added: u64,
    pub timestamp: i64,
}

/// The buyer ended the job: no segment starts after the running one; the unstarted
/// ones were refunded.
#[event]
pub struct JobEnded {
    pub job: Pubkey,
    pub segments_refunded: u8,
    /// Payment-mint units back to the buyer (0 if its recorded account cannot receive).
    pub refunded: u64,
    /// Nothing was left to pay: the job and its segments account closed.
    pub closed: bool,
    pub timestamp: i64,
}

/// A committed segment was challenged within its window: it is `Disputed` until
/// `segment_settle`; no segment starts and no later one is paid meanwhile.
#[event]
pub struct SegmentChallenged {
    pub job: Pubkey,
    pub index: u8,
    pub dispute: Pubkey,
    pub provider: Pubkey,
    pub challenger: Pubkey,
    /// The committed checkpoint root the referees' re-execution is compared with.
    pub state_root: [u8; 32],
    /// Challenger bond deposited, payment-mint units.
    pub bond: u64,
    /// Provider stake locked beside the segment's bond, stake-mint units.
    pub stake_locked: u64,
    pub respond_deadline: i64,
    pub timestamp: i64,
}

/// A segment's dispute was settled (`outcome`: a `DisputeOutcome` as u8). Overturned,
/// the segment was slashed and the job ended at the previous checkpoint; otherwise the
/// segment stands, payable once its window closed.
#[event]
pub struct SegmentDisputeSettled {
    pub job: Pubkey,
    pub index: u8,
    pub dispute: Pubkey,
    pub provider: Pubkey,
    pub challenger: Pubkey,
    pub outcome: u8,
    /// Stake-mint units slashed (segment bond + locked stake); 0 unless overturned.
    pub slashed: u64,
    /// Of the slash, stake-mint units: the buyer's, the challenger's, the treasury's,
    /// the referees' (credited to their stake).
    pub to_buyer: u64,
    pub to_challenger: u64,
    pub to_treasury: u64,
    pub to_referees: u64,
    /// Payment-mint units back to the buyer: the segment's price and every later
    /// segment's escrow (0 unless overturned).
    pub refunded: u64,
    /// Later segments removed (refunded), and how many of them had started.
    pub segments_refunded: u8,
    pub segments_undone: u8,
    /// A forfeited challenger bond, payment-mint units: to the provider's payout
    /// account, to the treasury, to the referees' payout accounts.
    pub bond_to_provider: u64,
    pub bond_to_treasury: u64,
    pub bond_to_referees: u64,
    /// Payment-mint units to the settler (the segment's crank bounty; overturned only).
    pub bounty: u64,
    /// Seat weight taken from referees that committed and did not reveal, stake mint.
    pub referee_penalties: u64,
    pub settler: Pubkey,
    /// Nothing was left to pay: the job and its segments account closed.
    pub closed: bool,
    pub timestamp: i64,
}

/// Past the job's deadline with no segment running, anyone refunded the pending
/// segments; the job ended.
#[event]
pub struct SegmentsRefunded {
    pub job: Pubkey,
    pub segments_refunded: u8,
    /// Payment-mint units to the buyer's recorded account (0 if it cannot receive).
    pub refunded: u64,
    /// Payment-mint units to the caller (one crank bounty; 0 when the buyer calls).
    pub bounty: u64,
    pub caller: Pubkey,
    pub closed: bool,
    pub timestamp: i64,
}
