//! Instructions of the market authority, and the permissionless application
//! of a queued parameter update.

pub mod market_apply_update;
pub mod market_create;
pub mod market_set_paused;
pub mod market_sweep;
pub mod market_update;

pub use market_apply_update::*;
pub use market_create::*;
pub use market_set_paused::*;
pub use market_sweep::*;
pub use market_update::*;
