//! Refereed re-execution (state/referee.rs): the market's referee pool, the draw of a
//! dispute's referees, and their commit and reveal. Settlement is `dispute_settle`'s.

pub mod dispute_draw;
pub mod referee_commit;
pub mod referee_join;
pub mod referee_leave;
pub mod referee_pool_create;
pub mod referee_reveal;
pub mod settle_accounts;

pub use dispute_draw::*;
pub use referee_commit::*;
pub use referee_join::*;
pub use referee_leave::*;
pub use referee_pool_create::*;
pub use referee_reveal::*;
pub use settle_accounts::*;
