//! India's DLT rules, checked before a message is posted.
//!
//! Every message goes under the utility's 6-character sender header and (when the policy
//! requires it) its registered entity id: these are the policy's, the same for every
//! message, so breaking them stops the whole send before anything is posted or recorded.
//! Each message's text must be its registered template with each `{#var#}` variable at most
//! `sms.dlt.variable_max_chars` characters (30 by default): a message that breaks that is
//! failed with the reason and never posted.

use vasooli_domain::policy::Policy;
use vasooli_domain::sms::template_variables;
use vasooli_domain::state::SmsMessage;
use vasooli_domain::types::Language;

/// The sender header and entity id every message goes under.
pub fn check_policy(policy: &Policy) -> Result<(), String> {
    let sender = &policy.sms.sender;
    if sender.chars().count() != 6 || !sender.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "policy sms.sender: `{sender}` is not a DLT sender header (6 letters or digits)"
        ));
    }
    if policy.sms.dlt.require_entity_id && policy.sms.entity_id.trim().is_empty() {
        return Err(
            "policy sms.entity_id: empty, but sms.dlt.require_entity_id needs the registered \
             entity id"
                .to_string(),
        );
    }
    Ok(())
}

/// One message's text against its template: `Err` says why it may not be posted.
pub fn check_message(policy: &Policy, message: &SmsMessage, text: &str) -> Result<(), String> {
    if message.dlt_template_id.trim().is_empty() {
        return Err(format!(
            "DLT: template `{}` has no DLT template id",
            message.template
        ));
    }
    let Some(template) = policy.sms.templates.get(message.template.as_str()) else {
        // A template no longer in the policy: its text cannot be checked here, and the
        // gateway's own check against the registration still applies.
        return Ok(());
    };
    let pattern = match message.language {
        Language::Hi => &template.hi,
        Language::En => &template.en,
    };
    let Some(variables) = template_variables(pattern, text) else {
        // The policy's template changed after the message was queued; the text was the
        // template's when it was queued.
        return Ok(());
    };
    let max = policy.sms.dlt.variable_max_chars;
    for (name, value) in variables {
        let chars = value.chars().count();
        if chars > max {
            return Err(format!(
                "DLT: variable `{name}` of template `{}` is {chars} characters, over the {max} \
                 the registration allows",
                message.template
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn message(template: &str, language: Language) -> SmsMessage {
        SmsMessage {
            message_id: "M1".into(),
            mobile: "9876543210".into(),
            template: template.into(),
            dlt_template_id: "1107160000000000007".into(),
            language,
            position: 1,
            queued_on: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            attempts: 0,
            last_outcome: None,
            last_detail: String::new(),
            rejected: false,
            delivery: None,
        }
    }

    #[test]
    fn a_variable_over_the_limit_is_refused_with_its_name() {
        let policy = Policy::default();
        let ok = "Electricity camp at Town Hall on 2026-07-04: new connections, metering and \
                  billing complaints. UPCL";
        assert_eq!(
            check_message(&policy, &message("camp", Language::En), ok),
            Ok(())
        );
        let venue = "Community Hall, Rishikesh Road, Ward 12";
        let long = format!(
            "Electricity camp at {venue} on 2026-07-04: new connections, metering and billing \
             complaints. UPCL"
        );
        let reason = check_message(&policy, &message("camp", Language::En), &long).unwrap_err();
        assert!(
            reason.contains("`venue`") && reason.contains("39 characters"),
            "{reason}"
        );
        // A wider limit lets it through.
        let mut wide = Policy::default();
        wide.sms.dlt.variable_max_chars = 40;
        assert_eq!(
            check_message(&wide, &message("camp", Language::En), &long),
            Ok(())
        );
    }

    #[test]
    fn the_sender_header_and_entity_id_are_checked() {
        let mut policy = Policy::default();
        assert_eq!(check_policy(&policy), Ok(()));
        policy.sms.dlt.require_entity_id = true;
        assert!(check_policy(&policy).unwrap_err().contains("sms.entity_id"));
        policy.sms.entity_id = "1201160000000077777".into();
        assert_eq!(check_policy(&policy), Ok(()));
        policy.sms.sender = "UPCL".into();
        assert!(check_policy(&policy).unwrap_err().contains("sms.sender"));
        policy.sms.sender = String::new();
        assert!(check_policy(&policy).is_err());
    }
}
