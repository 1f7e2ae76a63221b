//! Instructions of the market authority.

pub mod market_create;
pub mod market_set_paused;
pub mod market_update;

pub use market_create::*;
pub use market_set_paused::*;
pub use market_update::*;
