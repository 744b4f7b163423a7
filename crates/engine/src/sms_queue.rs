//! Queues the SMS of docs/RULES.md ("SMS") during the nightly run. The trigger rules are the
//! domain's pure functions (`vasooli_domain::sms_triggers`); the nightly run calls them for
//! each consumer it decides.

pub use vasooli_domain::sms_triggers::{
    camps_ahead_by_subdivision, queue_for_consumer, FIRST_RUN_WINDOW_DAYS,
};
