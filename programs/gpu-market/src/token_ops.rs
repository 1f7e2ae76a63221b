//! The only two ways tokens move: a signer deposits into a vault, or the market
//! PDA pays out of one (to a checked account, or to a buyer's recorded account
//! only if it can still receive). Keeping them here keeps every handler's money path
//! explicit and the signer seeds in one place.

use anchor_lang::prelude::*;
use anchor_spl::token::{self, Token, TokenAccount, Transfer};

use crate::constants::MARKET_SEED;
use crate::errors::MarketError;
use crate::state::Market;

/// Moves `amount` from a wallet's token account into a vault, signed by the wallet.
pub fn deposit<'info>(
    token_program: &Program<'info, Token>,
    from: &Account<'info, TokenAccount>,
    vault: &Account<'info, TokenAccount>,
    authority: &Signer<'info>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    token::transfer(
        CpiContext::new(
            token_program.key(),
            Transfer {
                from: from.to_account_info(),
                to: vault.to_account_info(),
                authority: authority.to_account_info(),
            },
        ),
        amount,
    )
}

/// Pays `amount` out of one of the market's vaults, signed by the market PDA.
/// Zero amounts are skipped so that zero-fee or zero-bounty markets never CPI.
pub fn pay_from_vault<'info>(
    token_program: &Program<'info, Token>,
    market: &Account<'info, Market>,
    vault: &Account<'info, TokenAccount>,
    to: &Account<'info, TokenAccount>,
    amount: u64,
) -> Result<()> {
    pay_from_vault_to(token_program, market, vault, to.to_account_info(), amount)
}

/// [`pay_from_vault`] to an account the caller checked some other way: a recorded
/// address, or one checked with [`expect_token_account`] only on the branch that pays it
/// (so that a closed destination blocks only the payment it would receive).
pub fn pay_from_vault_to<'info>(
    token_program: &Program<'info, Token>,
    market: &Account<'info, Market>,
    vault: &Account<'info, TokenAccount>,
    to: AccountInfo<'info>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    transfer_out(token_program, market, vault, to, amount)
}

fn transfer_out<'info>(
    token_program: &Program<'info, Token>,
    market: &Account<'info, Market>,
    vault: &Account<'info, TokenAccount>,
    to: AccountInfo<'info>,
    amount: u64,
) -> Result<()> {
    let market_id = market.market_id.to_le_bytes();
    let seeds: &[&[u8]] = &[
        MARKET_SEED,
        market.authority.as_ref(),
        &market_id,
        std::slice::from_ref(&market.bump),
    ];
    token::transfer(
        CpiContext::new_with_signer(
            token_program.key(),
            Transfer {
                from: vault.to_account_info(),
                to,
                authority: market.to_account_info(),
            },
            &[seeds],
        ),
        amount,
    )
}

/// Checks that `info` is an SPL Token account of `mint` owned by `owner`, with the
/// named errors the account constraints use.
pub fn expect_token_account(info: &AccountInfo<'_>, mint: &Pubkey, owner: &Pubkey) -> Result<()> {
    require_keys_eq!(*info.owner, anchor_spl::token::ID, MarketError::WrongMint);
    let data = info.try_borrow_data()?;
    let account = TokenAccount::try_deserialize(&mut &data[..])?;
    require_keys_eq!(account.mint, *mint, MarketError::WrongMint);
    require_keys_eq!(account.owner, *owner, MarketError::WrongTokenOwner);
    Ok(())
}

/// Whether `account` can receive tokens of `mint` for `owner` right now: a
/// live SPL Token account of that mint and owner, not frozen. Settlement asks
/// this of the buyer's recorded accounts instead of failing on them, so a buyer
/// that closed its account cannot block anyone else's settlement.
pub fn can_receive(account: &AccountInfo, mint: &Pubkey, owner: &Pubkey) -> bool {
    read_token_account(account)
        .is_some_and(|t| t.mint == *mint && t.owner == *owner && !t.is_frozen())
}

/// `account` as a live SPL Token account, if it is one.
fn read_token_account(account: &AccountInfo) -> Option<TokenAccount> {
    if account.owner != &anchor_spl::token::ID || account.data_is_empty() {
        return None;
    }
    let data = account.try_borrow_data().ok()?;
    TokenAccount::try_deserialize(&mut &data[..]).ok()
}

/// Pays `amount` out of a vault into `to` when [`can_receive`] holds; returns
/// whether it paid (the caller accrues what was not paid).
pub fn pay_if_open<'info>(
    token_program: &Program<'info, Token>,
    market: &Account<'info, Market>,
    vault: &Account<'info, TokenAccount>,
    to: &AccountInfo<'info>,
    owner: &Pubkey,
    amount: u64,
) -> Result<bool> {
    if amount == 0 {
        return Ok(true);
    }
    if !can_receive(to, &vault.mint, owner) {
        return Ok(false);
    }
    transfer_out(token_program, market, vault, to.clone(), amount)?;
    Ok(true)
}

/// The owner recorded in an SPL Token account, if `account` is one.
pub fn token_owner(account: &AccountInfo) -> Option<Pubkey> {
    read_token_account(account).map(|t| t.owner)
}
