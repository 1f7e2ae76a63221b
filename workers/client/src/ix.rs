//! Instruction builders, one per program instruction, built from Anchor's
//! generated account and argument types so they cannot drift from the program.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{InstructionData, ToAccountMetas};
use gpu_market::state::{Dispute, GpuDescriptor, Job, Market, MarketParams, ProofTree, Provider};
use gpu_market::{accounts as acc, instruction as data, ID};
use gpu_market::{
    JobChallengeArgs, JobPostArgs, JobSubmitArgs, MarketCreateArgs, ProofVerifyArgs,
    ProofWriteArgs, ProviderRegisterArgs, ProviderUpdateArgs, RefereeRevealArgs,
};
use solana_sdk::instruction::AccountMeta;
use solana_sdk::instruction::Instruction;

use crate::pda;
use crate::token::TOKEN_PROGRAM_ID;

const SYSTEM_PROGRAM_ID: Pubkey = anchor_lang::system_program::ID;
/// The SlotHashes sysvar, whose hashes draw a refereed dispute's referees.
pub const SLOT_HASHES_ID: Pubkey =
    anchor_lang::pubkey!("SysvarS1otHashes111111111111111111111111111");

fn build(accounts: impl ToAccountMetas, args: impl InstructionData) -> Instruction {
    Instruction {
        program_id: ID,
        accounts: accounts.to_account_metas(None),
        data: args.data(),
    }
}

/// The addresses a market's instructions need, read from its account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketKeys {
    pub market: Pubkey,
    pub payment_mint: Pubkey,
    pub stake_mint: Pubkey,
    pub payment_vault: Pubkey,
    pub stake_vault: Pubkey,
    pub fee_account: Pubkey,
    pub slash_account: Pubkey,
}

impl MarketKeys {
    pub fn new(market: Pubkey, state: &Market) -> Self {
        Self {
            market,
            payment_mint: state.payment_mint,
            stake_mint: state.stake_mint,
            payment_vault: state.payment_vault,
            stake_vault: state.stake_vault,
            fee_account: state.fee_account,
            slash_account: state.slash_account,
        }
    }
}

pub fn market_create(
    authority: Pubkey,
    market_id: u64,
    payment_mint: Pubkey,
    stake_mint: Pubkey,
    fee_account: Pubkey,
    slash_account: Pubkey,
    params: MarketParams,
) -> Instruction {
    let market = pda::market(&authority, market_id);
    build(
        acc::MarketCreate {
            authority,
            market,
            payment_mint,
            stake_mint,
            payment_vault: pda::payment_vault(&market),
            stake_vault: pda::stake_vault(&market),
            fee_account,
            slash_account,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::MarketCreate {
            args: MarketCreateArgs { market_id, params },
        },
    )
}

pub fn market_update(authority: Pubkey, market: Pubkey, params: MarketParams) -> Instruction {
    build(
        acc::MarketUpdate { authority, market },
        data::MarketUpdate { params },
    )
}

/// Applies the market's queued parameter update (anyone; `payer` only pays the fee).
pub fn market_apply_update(market: Pubkey) -> Instruction {
    build(
        acc::MarketApplyUpdate { market },
        data::MarketApplyUpdate {},
    )
}

/// Sweeps accrued fees and treasury slash shares to the named accounts.
pub fn market_sweep(
    m: &MarketKeys,
    authority: Pubkey,
    fee_destination: Pubkey,
    slash_destination: Pubkey,
) -> Instruction {
    build(
        acc::MarketSweep {
            authority,
            market: m.market,
            payment_vault: m.payment_vault,
            stake_vault: m.stake_vault,
            fee_destination,
            slash_destination,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::MarketSweep {},
    )
}

pub fn market_set_paused(authority: Pubkey, market: Pubkey, paused: bool) -> Instruction {
    build(
        acc::MarketSetPaused { authority, market },
        data::MarketSetPaused { paused },
    )
}

pub fn provider_register(
    m: &MarketKeys,
    owner: Pubkey,
    owner_stake_account: Pubkey,
    payout_account: Pubkey,
    args: ProviderRegisterArgs,
) -> Instruction {
    build(
        acc::ProviderRegister {
            owner,
            market: m.market,
            provider: pda::provider(&m.market, &owner),
            owner_stake_account,
            stake_vault: m.stake_vault,
            payout_account,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::ProviderRegister { args },
    )
}

pub fn provider_stake(
    m: &MarketKeys,
    owner: Pubkey,
    owner_stake_account: Pubkey,
    amount: u64,
) -> Instruction {
    build(
        acc::ProviderStake {
            owner,
            market: m.market,
            provider: pda::provider(&m.market, &owner),
            owner_stake_account,
            stake_vault: m.stake_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::ProviderStake { amount },
    )
}

pub fn provider_unstake(market: Pubkey, owner: Pubkey, amount: u64) -> Instruction {
    build(
        acc::ProviderUnstake {
            owner,
            market,
            provider: pda::provider(&market, &owner),
        },
        data::ProviderUnstake { amount },
    )
}

pub fn provider_withdraw(
    m: &MarketKeys,
    owner: Pubkey,
    owner_stake_account: Pubkey,
) -> Instruction {
    build(
        acc::ProviderWithdraw {
            owner,
            market: m.market,
            provider: pda::provider(&m.market, &owner),
            owner_stake_account,
            stake_vault: m.stake_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::ProviderWithdraw {},
    )
}

pub fn provider_heartbeat(
    provider: Pubkey,
    worker: Pubkey,
    gpu: Option<GpuDescriptor>,
) -> Instruction {
    build(
        acc::ProviderHeartbeat { worker, provider },
        data::ProviderHeartbeat { gpu },
    )
}

pub fn provider_update(
    market: Pubkey,
    owner: Pubkey,
    payout_account: Option<Pubkey>,
    args: ProviderUpdateArgs,
) -> Instruction {
    build(
        acc::ProviderUpdate {
            owner,
            market,
            provider: pda::provider(&market, &owner),
            payout_account,
        },
        data::ProviderUpdate { args },
    )
}

/// Returns the instruction and the new job's address. The buyer's stake-mint
/// account (recorded for its share of a slash) is its associated token
/// account; [`job_post_with`] names another.
pub fn job_post(
    m: &MarketKeys,
    buyer: Pubkey,
    buyer_payment_account: Pubkey,
    args: JobPostArgs,
) -> (Instruction, Pubkey) {
    let stake = crate::token::ata(&buyer, &m.stake_mint);
    job_post_with(m, buyer, buyer_payment_account, stake, args)
}

pub fn job_post_with(
    m: &MarketKeys,
    buyer: Pubkey,
    buyer_payment_account: Pubkey,
    buyer_stake_account: Pubkey,
    args: JobPostArgs,
) -> (Instruction, Pubkey) {
    let job = pda::job(&m.market, &buyer, args.nonce);
    let ix = build(
        acc::JobPost {
            buyer,
            market: m.market,
            job,
            buyer_payment_account,
            buyer_stake_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::JobPost { args },
    );
    (ix, job)
}

pub fn job_cancel(
    m: &MarketKeys,
    job: Pubkey,
    buyer: Pubkey,
    buyer_payment_account: Pubkey,
) -> Instruction {
    build(
        acc::JobCancel {
            buyer,
            market: m.market,
            job,
            buyer_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobCancel {},
    )
}

pub fn job_claim(market: Pubkey, provider: Pubkey, job: Pubkey, worker: Pubkey) -> Instruction {
    build(
        acc::JobClaim {
            worker,
            market,
            provider,
            job,
            // A single job has no segments account (a segmented job is claimed with
            // `segments::claim_ix`).
            segments: None,
        },
        data::JobClaim {},
    )
}

pub fn job_submit(
    provider: Pubkey,
    job: Pubkey,
    worker: Pubkey,
    args: JobSubmitArgs,
) -> Instruction {
    build(
        acc::JobSubmit {
            worker,
            provider,
            job,
        },
        data::JobSubmit { args },
    )
}

/// `job` and `provider` are the decoded accounts (for the buyer and payout account).
pub fn job_finalize(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    provider: &Provider,
    cranker: Pubkey,
    cranker_payment_account: Pubkey,
) -> Instruction {
    build(
        acc::JobFinalize {
            cranker,
            market: m.market,
            job: job_key,
            buyer: job.buyer,
            provider: job.provider,
            payout_account: provider.payout_account,
            cranker_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobFinalize {},
    )
}

/// The buyer's token accounts are the ones the job recorded at posting.
pub fn job_expire(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    cranker: Pubkey,
    cranker_stake_account: Pubkey,
) -> Instruction {
    build(
        acc::JobExpire {
            cranker,
            market: m.market,
            job: job_key,
            buyer: job.buyer,
            provider: job.provider,
            buyer_stake_account: job.slash_share_account,
            cranker_stake_account,
            stake_vault: m.stake_vault,
            buyer_payment_account: job.refund_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobExpire {},
    )
}

/// The buyer's refund goes to the payment account the job recorded at posting.
pub fn job_expire_unclaimed(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    cranker: Pubkey,
    cranker_payment_account: Pubkey,
) -> Instruction {
    build(
        acc::JobExpireUnclaimed {
            cranker,
            market: m.market,
            job: job_key,
            buyer: job.buyer,
            buyer_payment_account: job.refund_account,
            cranker_payment_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::JobExpireUnclaimed {},
    )
}

/// Challenges C[row][col] of a submitted job; `next_dispute_id` is the market's
/// `totals.jobs_disputed` (the new dispute's address depends on it).
#[allow(clippy::too_many_arguments)]
pub fn job_challenge(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    next_dispute_id: u64,
    challenger: Pubkey,
    challenger_payment_account: Pubkey,
    challenger_stake_account: Pubkey,
    row: u32,
    col: u32,
) -> Instruction {
    build(
        acc::JobChallenge {
            challenger,
            market: m.market,
            job: job_key,
            provider: job.provider,
            dispute: pda::dispute(&m.market, next_dispute_id),
            challenger_payment_account,
            challenger_stake_account,
            payment_vault: m.payment_vault,
            token_program: TOKEN_PROGRAM_ID,
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::JobChallenge {
            args: JobChallengeArgs { row, col },
        },
    )
}

pub fn proof_open(payer: Pubkey, job_key: Pubkey, dispute: Pubkey, tree: ProofTree) -> Instruction {
    build(
        acc::ProofOpen {
            payer,
            job: job_key,
            dispute,
            buffer: pda::proof_buffer(&dispute, tree),
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::ProofOpen { tree },
    )
}

pub fn proof_write(
    payer: Pubkey,
    dispute: Pubkey,
    tree: ProofTree,
    offset: u32,
    bytes: Vec<u8>,
) -> Instruction {
    build(
        acc::ProofWrite {
            payer,
            dispute,
            buffer: pda::proof_buffer(&dispute, tree),
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::ProofWrite {
            args: ProofWriteArgs {
                offset,
                data: bytes,
            },
        },
    )
}

pub fn proof_verify(
    job_key: Pubkey,
    dispute: Pubkey,
    tree: ProofTree,
    path: Vec<[u8; 32]>,
) -> Instruction {
    build(
        acc::ProofVerify {
            job: job_key,
            dispute,
            buffer: pda::proof_buffer(&dispute, tree),
        },
        data::ProofVerify {
            args: ProofVerifyArgs { path },
        },
    )
}

pub fn dispute_absorb(job_key: Pubkey, dispute: Pubkey, count: u32) -> Instruction {
    build(
        acc::DisputeAbsorb {
            job: job_key,
            dispute,
            a_buffer: pda::proof_buffer(&dispute, ProofTree::A),
            b_buffer: pda::proof_buffer(&dispute, ProofTree::B),
        },
        data::DisputeAbsorb { count },
    )
}

/// Who settles, and where its crank bounty goes (every other destination is recorded on
/// the job, the dispute or the provider).
#[derive(Clone, Copy, Debug)]
pub struct SettleAccounts {
    pub settler: Pubkey,
    pub settler_payment_account: Pubkey,
}

pub fn dispute_settle(
    m: &MarketKeys,
    job_key: Pubkey,
    job: &Job,
    provider: &Provider,
    dispute_key: Pubkey,
    dispute: &Dispute,
    s: &SettleAccounts,
) -> Instruction {
    let mut ix = build(
        acc::DisputeSettle {
            settler: s.settler,
            market: m.market,
            job: job_key,
            buyer: job.buyer,
            provider: job.provider,
            dispute: dispute_key,
            challenger: dispute.challenger,
            challenger_payment_account: dispute.challenger_payment_account,
            challenger_stake_account: dispute.challenger_stake_account,
            buyer_payment_account: job.refund_account,
            buyer_stake_account: job.slash_share_account,
            payout_account: provider.payout_account,
            settler_payment_account: s.settler_payment_account,
            payment_vault: m.payment_vault,
            stake_vault: m.stake_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        data::DisputeSettle {},
    );
    ix.accounts
        .extend(referee_settle_accounts(&m.market, dispute));
    ix
}

/// A drawn refereed dispute's settlement takes the referee pool, then each drawn
/// referee's provider account and its recorded payout account (read-only and unchecked
/// for a referee that never committed); none for any other dispute.
pub fn referee_settle_accounts(market: &Pubkey, dispute: &Dispute) -> Vec<AccountMeta> {
    let r = &dispute.referee;
    if !r.drawn {
        return Vec::new();
    }
    let mut metas = vec![AccountMeta::new(pda::referee_pool(market), false)];
    for i in 0..r.count as usize {
        metas.push(AccountMeta::new(r.referees[i], false));
        metas.push(if r.has_committed(i) {
            AccountMeta::new(r.payouts[i], false)
        } else {
            AccountMeta::new_readonly(SYSTEM_PROGRAM_ID, false)
        });
    }
    metas
}

pub fn referee_pool_create(payer: Pubkey, market: Pubkey) -> Instruction {
    build(
        acc::RefereePoolCreate {
            payer,
            market,
            pool: pda::referee_pool(&market),
            system_program: SYSTEM_PROGRAM_ID,
        },
        data::RefereePoolCreate {},
    )
}

pub fn referee_join(market: Pubkey, owner: Pubkey, amount: u64) -> Instruction {
    build(
        acc::RefereeJoin {
            owner,
            market,
            provider: pda::provider(&market, &owner),
            pool: pda::referee_pool(&market),
        },
        data::RefereeJoin { amount },
    )
}

pub fn referee_leave(market: Pubkey, owner: Pubkey) -> Instruction {
    build(
        acc::RefereeLeave {
            owner,
            market,
            provider: pda::provider(&market, &owner),
            pool: pda::referee_pool(&market),
        },
        data::RefereeLeave {},
    )
}

pub fn dispute_draw(
    market: Pubkey,
    job_key: Pubkey,
    dispute_key: Pubkey,
    dispute: &Dispute,
) -> Instruction {
    build(
        acc::DisputeDraw {
            market,
            job: job_key,
            dispute: dispute_key,
            provider: dispute.provider,
            pool: pda::referee_pool(&market),
            slot_hashes: SLOT_HASHES_ID,
        },
        data::DisputeDraw {},
    )
}

pub fn referee_commit(
    worker: Pubkey,
    provider: Pubkey,
    dispute: Pubkey,
    commitment: [u8; 32],
) -> Instruction {
    build(
        acc::RefereeCommit {
            worker,
            provider,
            dispute,
        },
        data::RefereeCommit { commitment },
    )
}

pub fn referee_reveal(
    worker: Pubkey,
    provider: Pubkey,
    dispute: Pubkey,
    root: [u8; 32],
    salt: [u8; 32],
) -> Instruction {
    build(
        acc::RefereeReveal {
            worker,
            provider,
            dispute,
        },
        data::RefereeReveal {
            args: RefereeRevealArgs { root, salt },
        },
    )
}

pub fn proof_close(payer: Pubkey, dispute: Pubkey, tree: ProofTree) -> Instruction {
    build(
        acc::ProofClose {
            payer,
            dispute,
            buffer: pda::proof_buffer(&dispute, tree),
        },
        data::ProofClose {},
    )
}
