//! Instructions of providers: the owner's cold key manages stake and settings,
//! the worker's hot key sends heartbeats.

pub mod provider_heartbeat;
pub mod provider_register;
pub mod provider_stake;
pub mod provider_unstake;
pub mod provider_update;
pub mod provider_withdraw;

pub use provider_heartbeat::*;
pub use provider_register::*;
pub use provider_stake::*;
pub use provider_unstake::*;
pub use provider_update::*;
pub use provider_withdraw::*;
