//! Every PDA seed and every protocol bound lives here, so that the program, the
//! client SDK and auditors derive the same addresses and check the same limits.

/// `Market` PDA: `[MARKET_SEED, authority, market_id (u64 LE)]`. The market account
/// is also the token authority of both vaults.
pub const MARKET_SEED: &[u8] = b"market";
/// `Provider` PDA: `[PROVIDER_SEED, market, owner]` (one provider per owner and market).
pub const PROVIDER_SEED: &[u8] = b"provider";
/// `Job` PDA: `[JOB_SEED, market, buyer, nonce (u64 LE)]`.
pub const JOB_SEED: &[u8] = b"job";
/// `Segments` PDA of a segmented job: `[SEGMENTS_SEED, job]`.
pub const SEGMENTS_SEED: &[u8] = b"segments";
/// Payment-mint vault holding every live job's escrow: `[PAYMENT_VAULT_SEED, market]`.
pub const PAYMENT_VAULT_SEED: &[u8] = b"payment_vault";
/// Stake-mint vault holding every provider's stake: `[STAKE_VAULT_SEED, market]`.
pub const STAKE_VAULT_SEED: &[u8] = b"stake_vault";

/// Rates are basis points of this denominator.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// The protocol fee can never exceed 20% of a job's price.
pub const MAX_FEE_BPS: u16 = 2_000;
/// The bond rule can ask for at most 100x the job's price.
pub const MAX_BOND_BPS: u32 = 1_000_000;
/// Longest time a job may stay open for (deadline - posting time), seconds.
pub const MAX_JOB_DURATION: i64 = 90 * 24 * 3600;
/// Longest claim timeout, challenge window or dispute timeout a market may set, seconds.
pub const MAX_PHASE_DURATION: i64 = 30 * 24 * 3600;
/// Longest unstake cooldown a market may set, seconds.
pub const MAX_UNSTAKE_COOLDOWN: i64 = 180 * 24 * 3600;
/// Spec and result URIs are stored inline; this bounds the job account's size.
pub const MAX_URI_LEN: usize = 200;
/// GPU model names are stored as fixed, zero-padded UTF-8.
pub const GPU_MODEL_LEN: usize = 32;
/// Workload kinds the market knows (see `state::job::WorkloadKind`).
pub const MAX_WORKLOAD_KIND: u8 = 4;
/// Reputation penalty weights: one expiry costs as much reliability as this many
/// completions earn, one lost dispute this many.
pub const EXPIRY_PENALTY_WEIGHT: u64 = 3;
pub const DISPUTE_PENALTY_WEIGHT: u64 = 5;
/// Metered GPU time is in milliseconds; one second of wall clock grants this much per GPU.
pub const MS_PER_SECOND: u64 = 1_000;
/// `Dispute` PDA: `[DISPUTE_SEED, market, id (u64 LE)]`, id the market's dispute count.
pub const DISPUTE_SEED: &[u8] = b"dispute";
/// `ProofBuffer` PDA: `[PROOF_SEED, dispute, tree (u8)]`.
pub const PROOF_SEED: &[u8] = b"proof";
/// Largest m, n or k of a disputable GEMM: `gpu_market_ruling::MAX_K` (2^21).
pub const MAX_GEMM_DIM: u32 = gpu_market_ruling::MAX_K;
/// Largest committed leaf (a row of A or C, a column of B) a ruling stages: the verifying
/// transaction hashes it whole with `sol_sha256` (about 0.5 CU a byte, measured in
/// `programs/ruling/sbf`), so 1 MiB keeps the check near 0.55M of 1.4M CU.
pub const MAX_PROOF_LEAF_BYTES: u64 = 1 << 20;

// Bounds on the market's money parameters, in base units of their mint. With
// the 6 decimals of USDC-like mints these are 1,000 units of bounty, 1,000,000
// of minimum bond, 10,000,000 of minimum stake and of challenger bond. They are
// far above any sane setting: they exist so that no update can ask a
// participant for an unbounded amount (a buyer's post also carries its own
// `max_escrow`).
/// Most a market may charge per job as crank bounty (payment mint).
pub const MAX_CRANK_BOUNTY: u64 = 1_000_000_000;
/// Largest minimum bond (stake mint).
pub const MAX_BOND_MIN: u64 = 1_000_000_000_000;
/// Largest minimum stake (stake mint).
pub const MAX_MIN_STAKE: u64 = 10_000_000_000_000;
/// Largest challenger bond (payment mint).
pub const MAX_CHALLENGER_BOND: u64 = 10_000_000_000_000;
/// Largest reputation fee scale (payment mint).
pub const MAX_SCORE_FEE_SCALE: u64 = 1_000_000_000_000_000;
/// Shortest submit window a market may guarantee a claim, seconds (the longest
/// is the market's `claim_timeout`).
pub const MIN_SUBMIT_WINDOW: i64 = 1;
/// Longest time a claim can keep a provider's bond in play: claim timeout,
/// challenge window and dispute timeout, each at its maximum. A parameter
/// change that hurts participants waits this plus the current unstake cooldown
/// (and a second), so that anyone who disagrees can settle what they have in
/// flight and leave under the rules they joined by.
pub const MAX_OBLIGATION: i64 = 3 * MAX_PHASE_DURATION;

/// `RefereePool` PDA: `[REFEREE_POOL_SEED, market]`.
pub const REFEREE_POOL_SEED: &[u8] = b"referees";
/// Seats in a market's referee pool (each seat is 74 bytes of the pool account).
pub const REFEREE_POOL_CAPACITY: usize = 32;
/// Referees drawn for a refereed re-execution dispute.
pub const REFEREES_PER_DISPUTE: usize = 3;
/// Matching reveals that decide a refereed dispute (a majority of the three drawn).
pub const REFEREE_QUORUM: usize = 2;
/// Slots between a kernel challenge and its draw slot: the hash that draws the referees
/// is of a slot after the challenge landed.
pub const REFEREE_DRAW_DELAY_SLOTS: u64 = 1;
/// Share of the loser's pot (the slash, or the challenger's bond) paid to the referees
/// who revealed the deciding root, split equally, basis points.
pub const REFEREE_SHARE_BPS: u16 = 2_000;
/// Part of its seat weight a referee loses when it commits and does not reveal, bps.
pub const REFEREE_NO_REVEAL_BPS: u16 = 500;
/// Entries the SlotHashes sysvar keeps (the newest 512 slots that have a hash).
pub const SLOT_HASHES_MAX_ENTRIES: usize = 512;

/// Most segments one job has, extensions included. The `Segments` account is allocated
/// for this many at posting (131 bytes each, 4,446 bytes in all), so a job never grows
/// its account; a segment index fits a `u8`.
pub const MAX_SEGMENTS: usize = 32;
