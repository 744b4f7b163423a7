//! Read models: what officers and headquarters look at, computed from the world the engine
//! keeps. The defaulter lists and worklists, one consumer's statement, and the office
//! reports (rankings, awards, mobile campaign, camps). Pure functions of the world, a date
//! and the policy: no I/O, nothing written.

pub mod documents;
pub mod figures;
pub mod lists;
pub mod reports;
pub mod statement;
