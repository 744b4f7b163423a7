//! Read models built from the log, and the engine that keeps them: the world of offices and
//! consumers, the nightly run, the defaulter lists and worklists, the statement, the office
//! reports, and the demo generator.
//!
//! Architecture invariant: this crate reads and writes the log only through `vasooli-store`,
//! and decides only through the pure rules of `vasooli-domain`.

pub mod engine;
pub mod generate;
pub mod lists;
pub mod nightly;
pub mod notices;
pub mod reports;
pub mod sms_queue;

pub use engine::{Engine, EngineError, ErrorKind, ExecuteReport, Input, RowError};
