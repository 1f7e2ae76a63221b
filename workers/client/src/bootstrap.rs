//! A market from nothing, for local chains, the demo and the test suites:
//! mints whose authority is the market's authority, the treasury's token
//! accounts, the market itself, and funded wallets. Every token account made
//! here is recorded in a [`TokenAccounts`] set so that token conservation
//! ([`crate::conservation`]) can be checked over all of them.
//!
//! One place for it, so the demo (`gpumkt demo`), the program test harness
//! (`gpu-market-tests`) and the localnet tests build their markets the same
//! way. It works over any [`Chain`](crate::chain::Chain) through a
//! [`Sender`]; the authority pays for everything and must hold lamports.

use anchor_lang::prelude::Pubkey;
use gpu_market::state::{Market, MarketParams};
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};

use crate::conservation::TokenAccounts;
use crate::error::Result;
use crate::ix::{self, MarketKeys};
use crate::send::Sender;
use crate::{accounts, pda, token};

/// Decimals of the mints made here (as USDC's).
pub const DECIMALS: u8 = 6;

/// What market to create.
#[derive(Clone, Copy, Debug)]
pub struct MarketPlan {
    /// The id in the market's seeds (one authority can run several).
    pub market_id: u64,
    pub params: MarketParams,
    /// Who receives fees and slashed shares: associated token accounts of
    /// this owner are created for both mints.
    pub treasury: Pubkey,
    /// One mint for payments and stake (some tests need it).
    pub same_mint: bool,
}

/// A market just created.
#[derive(Clone, Debug)]
pub struct NewMarket {
    pub keys: MarketKeys,
    pub state: Market,
}

/// Creates a mint (decimals [`DECIMALS`]) with `authority` as its mint authority.
pub async fn create_mint(sender: &Sender, authority: &Keypair) -> Result<Pubkey> {
    let mint = Keypair::new();
    let rent = sender
        .chain
        .minimum_balance_for_rent_exemption(token::MINT_LEN)
        .await?;
    let ixs = token::create_mint(
        &authority.pubkey(),
        &mint.pubkey(),
        &authority.pubkey(),
        DECIMALS,
        rent,
    );
    sender.send(&ixs, authority, &[&mint]).await?;
    Ok(mint.pubkey())
}

/// Creates the mints, the treasury's accounts and the market; records the
/// treasury's accounts and both vaults in `ledger`.
pub async fn create_market(
    sender: &Sender,
    authority: &Keypair,
    plan: &MarketPlan,
    ledger: &TokenAccounts,
) -> Result<NewMarket> {
    let payment_mint = create_mint(sender, authority).await?;
    let stake_mint = if plan.same_mint {
        payment_mint
    } else {
        create_mint(sender, authority).await?
    };
    let payer = authority.pubkey();
    let mut ixs = vec![token::create_ata_idempotent(
        &payer,
        &plan.treasury,
        &payment_mint,
    )];
    if stake_mint != payment_mint {
        ixs.push(token::create_ata_idempotent(
            &payer,
            &plan.treasury,
            &stake_mint,
        ));
    }
    sender.send(&ixs, authority, &[]).await?;
    create_market_with_mints(sender, authority, plan, payment_mint, stake_mint, ledger).await
}

/// [`create_market`] on mints that exist already (another market of the same
/// authority, say). The treasury's associated accounts for both mints must
/// exist; the market instruction is sent alone, so a rejection names it.
pub async fn create_market_with_mints(
    sender: &Sender,
    authority: &Keypair,
    plan: &MarketPlan,
    payment_mint: Pubkey,
    stake_mint: Pubkey,
    ledger: &TokenAccounts,
) -> Result<NewMarket> {
    let payer = authority.pubkey();
    let fee_account = token::ata(&plan.treasury, &payment_mint);
    let slash_account = token::ata(&plan.treasury, &stake_mint);
    let create = ix::market_create(
        payer,
        plan.market_id,
        payment_mint,
        stake_mint,
        fee_account,
        slash_account,
        plan.params,
    );
    let key = pda::market(&payer, plan.market_id);
    // The referee pool, in the same transaction: a market is never without one.
    let pool = ix::referee_pool_create(payer, key);
    sender.send(&[create, pool], authority, &[]).await?;
    let state = accounts::fetch_market(&*sender.chain, &key).await?;
    let keys = MarketKeys::new(key, &state);
    for (mint, account) in [
        (payment_mint, fee_account),
        (stake_mint, slash_account),
        (payment_mint, keys.payment_vault),
        (stake_mint, keys.stake_vault),
    ] {
        ledger.track(mint, account);
    }
    Ok(NewMarket { keys, state })
}

/// The instructions that give `owner` associated token accounts for both of
/// the market's mints and mint `payment` and `stake` base units into them
/// (the authority pays and signs). For batching several owners into one
/// transaction; [`fund`] sends them.
pub fn fund_instructions(
    authority: &Pubkey,
    market: &MarketKeys,
    owner: &Pubkey,
    payment: u64,
    stake: u64,
) -> Vec<Instruction> {
    let (pay, stk) = wallet_accounts(market, owner);
    let mut ixs = vec![token::create_ata_idempotent(
        authority,
        owner,
        &market.payment_mint,
    )];
    if market.stake_mint != market.payment_mint {
        ixs.push(token::create_ata_idempotent(
            authority,
            owner,
            &market.stake_mint,
        ));
    }
    if payment > 0 {
        ixs.push(token::mint_to(
            &market.payment_mint,
            &pay,
            authority,
            payment,
        ));
    }
    if stake > 0 {
        ixs.push(token::mint_to(&market.stake_mint, &stk, authority, stake));
    }
    ixs
}

/// `owner`'s associated (payment, stake) token accounts in this market.
pub fn wallet_accounts(market: &MarketKeys, owner: &Pubkey) -> (Pubkey, Pubkey) {
    (
        token::ata(owner, &market.payment_mint),
        token::ata(owner, &market.stake_mint),
    )
}

/// Records `owner`'s two accounts in `ledger` (after [`fund_instructions`] landed).
pub fn track_wallet(ledger: &TokenAccounts, market: &MarketKeys, owner: &Pubkey) {
    let (pay, stk) = wallet_accounts(market, owner);
    ledger.track(market.payment_mint, pay);
    ledger.track(market.stake_mint, stk);
}

/// Gives `owner` both token accounts with `payment` and `stake` in them, and
/// records them in `ledger`. Returns the (payment, stake) accounts.
pub async fn fund(
    sender: &Sender,
    authority: &Keypair,
    market: &MarketKeys,
    ledger: &TokenAccounts,
    owner: &Pubkey,
    payment: u64,
    stake: u64,
) -> Result<(Pubkey, Pubkey)> {
    let ixs = fund_instructions(&authority.pubkey(), market, owner, payment, stake);
    sender.send(&ixs, authority, &[]).await?;
    track_wallet(ledger, market, owner);
    Ok(wallet_accounts(market, owner))
}
