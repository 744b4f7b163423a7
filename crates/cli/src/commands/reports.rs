//! Office reports: rankings, awards, the mobile campaign and camps.

use super::{open, parse_level, print, usage, Outcome};
use crate::output::Record;
use crate::Cli;
use std::path::Path;

pub fn rankings(_cli: &Cli, _period: &str, _level: &str) -> Outcome {
    let _ = (open, parse_level, print);
    Err(usage("rankings are not available yet"))
}
pub fn awards(_cli: &Cli, _period: &str, _out: Option<&Path>) -> Outcome {
    let _: Vec<Record> = Vec::new();
    Err(usage("awards are not available yet"))
}
pub fn campaign(_cli: &Cli, _office: &str) -> Outcome {
    Err(usage("campaign is not available yet"))
}
pub fn camps(_cli: &Cli, _office: &str, _period: &str) -> Outcome {
    Err(usage("camps are not available yet"))
}
