//! The engine: the only writer of the log. It parses nothing and renders nothing; it takes
//! commands, checks them whole against the world projected from the log, appends what they
//! decide in durable commits, and keeps the world (and its checkpoints) exactly the log's.
//! The nightly finance run and the SMS queue it fills are its own processes.
//!
//! Architecture invariant: this crate reaches the log only through `vasooli-store` and
//! decides only through the pure rules of `vasooli-domain`; the pure read models of
//! `vasooli-projections` give the figures its checkpoints save for cold reports.

pub mod clock;
pub mod engine;
pub mod figures;
pub mod log;
pub mod nightly;
pub mod read_ahead;
pub mod shared;
pub mod sms_queue;
pub mod view;

pub use clock::Clock;
pub use engine::{
    Engine, EngineError, ErrorKind, ExecuteReport, Input, NightlyMarks, RowError, Scope,
};
pub use figures::OfficeFigures;
pub use shared::{Exclusive, SharedEngine};
pub use view::ColdView;
