//! The demo: a generated utility run through its nightly runs.

use super::{usage, Outcome};
use crate::Cli;

pub fn run(_cli: &Cli, _consumers: usize, _months: u32, _seed: u64) -> Outcome {
    Err(usage("demo is not available yet"))
}
