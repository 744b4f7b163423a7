//! The pure core of vasooli: offices, consumers, money, dates, the persisted event schema,
//! commands and their validation, and the rules of the ledger and the recovery ladder.
//!
//! Architecture invariant: this crate does no I/O. It never touches sled, files, sockets or
//! the clock; everything it decides is a function of its arguments.

pub mod aggregate;
pub mod codec;
pub mod command;
pub mod correction;
pub mod dates;
pub mod decide;
pub mod division_move;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod import;
pub mod journal;
pub mod ladder;
pub mod ledger;
pub mod mobile;
pub mod money;
pub mod nightly;
pub mod partition;
pub mod period;
pub mod policy;
pub mod sms;
pub mod sms_triggers;
pub mod state;
#[doc(hidden)]
pub mod testkit;
pub mod types;

pub use command::Command;
pub use event::Event;
pub use money::Money;
pub use policy::Policy;
pub use state::{Consumer, World};
