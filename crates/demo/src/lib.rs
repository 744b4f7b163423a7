//! The demo: a deterministic generated utility ([`generate`]) and the run that takes it month
//! by month through imports, nightly runs and officers' actions ([`run`]), so that a newcomer,
//! a benchmark or a test has realistic data in seconds. Its [`guard`] keeps it to a directory
//! of its own.

pub mod generate;
pub mod guard;
pub mod run;

pub use generate::{Generator, GeneratorConfig};
pub use run::{run_demo, DemoError, DemoReport};
