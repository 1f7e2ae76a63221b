//! SPL Token plumbing the market needs around its own instructions: associated
//! token accounts, mints for local chains and tests, and balance decoding.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::program_pack::Pack;
use anchor_spl::associated_token::{get_associated_token_address, spl_associated_token_account};
use anchor_spl::token::spl_token;
use solana_sdk::instruction::Instruction;

use crate::error::{ClientError, Result};

pub use anchor_spl::token::ID as TOKEN_PROGRAM_ID;

/// The owner's associated token account for `mint`.
pub fn ata(owner: &Pubkey, mint: &Pubkey) -> Pubkey {
    get_associated_token_address(owner, mint)
}

/// Creates `owner`'s associated token account unless it exists; anyone can pay.
pub fn create_ata_idempotent(payer: &Pubkey, owner: &Pubkey, mint: &Pubkey) -> Instruction {
    spl_associated_token_account::instruction::create_associated_token_account_idempotent(
        payer,
        owner,
        mint,
        &TOKEN_PROGRAM_ID,
    )
}

/// Instructions that create and initialize a mint at `mint`.
pub fn create_mint(
    payer: &Pubkey,
    mint: &Pubkey,
    authority: &Pubkey,
    decimals: u8,
    rent_lamports: u64,
) -> Vec<Instruction> {
    vec![
        solana_system_interface::instruction::create_account(
            payer,
            mint,
            rent_lamports,
            spl_token::state::Mint::LEN as u64,
            &TOKEN_PROGRAM_ID,
        ),
        spl_token::instruction::initialize_mint2(
            &TOKEN_PROGRAM_ID,
            mint,
            authority,
            None,
            decimals,
        )
        .expect("static mint arguments are valid"),
    ]
}

pub const MINT_LEN: usize = spl_token::state::Mint::LEN;

pub fn mint_to(mint: &Pubkey, to: &Pubkey, authority: &Pubkey, amount: u64) -> Instruction {
    spl_token::instruction::mint_to(&TOKEN_PROGRAM_ID, mint, to, authority, &[], amount)
        .expect("static mint_to arguments are valid")
}

/// Closes an empty token account, its rent to `destination` (signed by its owner).
pub fn close_account(account: &Pubkey, destination: &Pubkey, owner: &Pubkey) -> Instruction {
    spl_token::instruction::close_account(&TOKEN_PROGRAM_ID, account, destination, owner, &[])
        .expect("static close_account arguments are valid")
}

pub fn transfer(from: &Pubkey, to: &Pubkey, authority: &Pubkey, amount: u64) -> Instruction {
    spl_token::instruction::transfer(&TOKEN_PROGRAM_ID, from, to, authority, &[], amount)
        .expect("static transfer arguments are valid")
}

/// A token account's state, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenAccountInfo {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
}

pub fn decode_token_account(key: &Pubkey, data: &[u8]) -> Result<TokenAccountInfo> {
    let a = spl_token::state::Account::unpack(data).map_err(|_| ClientError::WrongAccountType {
        key: *key,
        expected: "SPL token",
    })?;
    Ok(TokenAccountInfo {
        mint: a.mint,
        owner: a.owner,
        amount: a.amount,
    })
}

/// A token account's balance; 0 when the account does not exist (an
/// associated account nobody created yet holds nothing).
pub async fn balance(chain: &dyn crate::chain::Chain, account: &Pubkey) -> Result<u64> {
    match chain.get_account(account).await? {
        Some(a) => Ok(decode_token_account(account, &a.data)?.amount),
        None => Ok(0),
    }
}

/// Supply of a mint, decoded.
pub fn decode_mint_supply(key: &Pubkey, data: &[u8]) -> Result<u64> {
    spl_token::state::Mint::unpack(data)
        .map(|m| m.supply)
        .map_err(|_| ClientError::WrongAccountType {
            key: *key,
            expected: "SPL mint",
        })
}
