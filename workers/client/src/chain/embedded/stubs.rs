//! Event logs on a native program. An SBF program logs an event with the
//! `sol_log_data` syscall; a natively loaded one cannot, so the program hands
//! the event's bytes to the runtime's syscall stubs instead
//! (`gpu_market::events::log_native`). The stubs here forward every call to
//! program-test's own and turn event data into a marked log line, which
//! [`rewrite_logs`] turns into the `Program data: <base64>` line a validator
//! writes, so clients decode events the same way on every chain.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::account_info::AccountInfo;
use anchor_lang::solana_program::entrypoint::ProgramResult;
use solana_sysvar::program_stubs::{set_syscall_stubs, SyscallStubs};

/// Marks event bytes routed through the syscall stubs (see [`EventStubs`]).
const DATA_MARKER: &str = "\u{1}gpu-market-data:";

/// Native builds cannot issue the `sol_log_data` syscall, so the program hands
/// event bytes to the syscall stubs (`gpu_market::events::log_native`).
/// program-test's stubs only record `sol_log`; this wrapper forwards
/// everything to them and turns event data into a marked log line, which
/// `send_transaction` rewrites into Solana's "Program data: <base64>" form.
struct EventStubs(Box<dyn SyscallStubs>);

struct PlaceholderStubs;
impl SyscallStubs for PlaceholderStubs {}

impl SyscallStubs for EventStubs {
    fn sol_log(&self, message: &str) {
        self.0.sol_log(message)
    }
    fn sol_log_compute_units(&self) {
        self.0.sol_log_compute_units()
    }
    fn sol_remaining_compute_units(&self) -> u64 {
        self.0.sol_remaining_compute_units()
    }
    fn sol_invoke_signed(
        &self,
        instruction: &solana_sdk::instruction::Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        self.0
            .sol_invoke_signed(instruction, account_infos, signers_seeds)
    }
    fn sol_get_sysvar(
        &self,
        sysvar_id_addr: *const u8,
        var_addr: *mut u8,
        offset: u64,
        length: u64,
    ) -> u64 {
        self.0
            .sol_get_sysvar(sysvar_id_addr, var_addr, offset, length)
    }
    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_clock_sysvar(var_addr)
    }
    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_epoch_schedule_sysvar(var_addr)
    }
    fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_fees_sysvar(var_addr)
    }
    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_rent_sysvar(var_addr)
    }
    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_epoch_rewards_sysvar(var_addr)
    }
    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        self.0.sol_get_last_restart_slot(var_addr)
    }
    fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
        self.0.sol_get_epoch_stake(vote_address)
    }
    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        self.0.sol_get_return_data()
    }
    fn sol_set_return_data(&self, data: &[u8]) {
        self.0.sol_set_return_data(data)
    }
    fn sol_log_data(&self, fields: &[&[u8]]) {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let encoded: Vec<String> = fields.iter().map(|f| STANDARD.encode(f)).collect();
        self.0
            .sol_log(&format!("{DATA_MARKER}{}", encoded.join(" ")))
    }
    fn sol_get_processed_sibling_instruction(
        &self,
        index: usize,
    ) -> Option<solana_sdk::instruction::Instruction> {
        self.0.sol_get_processed_sibling_instruction(index)
    }
    fn sol_get_stack_height(&self) -> u64 {
        self.0.sol_get_stack_height()
    }
}

/// Wraps the stubs program-test installed (it installs them during the first
/// start of a chain in the process). Call once, while no transaction runs.
pub(super) fn install() {
    let previous = set_syscall_stubs(Box::new(PlaceholderStubs));
    set_syscall_stubs(Box::new(EventStubs(previous)));
}

/// Rewrites the marked lines of a transaction's logs into `Program data:` lines.
pub(super) fn rewrite_logs(logs: Vec<String>) -> Vec<String> {
    let marked = format!("Program log: {DATA_MARKER}");
    logs.into_iter()
        .map(|l| match l.strip_prefix(&marked) {
            Some(data) => format!("Program data: {data}"),
            None => l,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_lines_become_program_data() {
        let logs = vec![
            "Program GPUMkt invoke [1]".to_string(),
            format!("Program log: {DATA_MARKER}AAEC AwQ="),
            "Program log: gpu-market-data: not marked".to_string(),
        ];
        assert_eq!(
            rewrite_logs(logs),
            vec![
                "Program GPUMkt invoke [1]".to_string(),
                "Program data: AAEC AwQ=".to_string(),
                "Program log: gpu-market-data: not marked".to_string(),
            ]
        );
    }
}
