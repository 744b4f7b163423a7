//! The small closed vocabularies of the domain: office levels, consumer categories, payment
//! channels and so on. Each has one spelling, the snake_case name used in files, JSON and lists.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
            /// Its place in [`Self::ALL`]: how compact encodings store it.
            pub fn index(self) -> u8 {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0) as u8
            }
            /// The value at a place in [`Self::ALL`].
            pub fn from_index(index: u8) -> Option<Self> {
                Self::ALL.get(usize::from(index)).copied()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("`{}` is not one of {}", other, $name::expected())),
                }
            }
        }
    };
}

vocabulary!(
    /// The levels of the office tree, top down.
    Level { Zone => "zone", Circle => "circle", Division => "division", Subdivision => "subdivision" }
);

impl Level {
    /// The level an office's parent must have; a zone has none.
    pub fn parent_level(self) -> Option<Level> {
        match self {
            Level::Zone => None,
            Level::Circle => Some(Level::Zone),
            Level::Division => Some(Level::Circle),
            Level::Subdivision => Some(Level::Division),
        }
    }
}

vocabulary!(
    /// Tariff categories (UERC rate schedules RTS-1 to RTS-5).
    Category {
        Domestic => "domestic",
        NonDomestic => "non_domestic",
        Government => "government",
        Agriculture => "agriculture",
        Industrial => "industrial",
        Other => "other",
    }
);

vocabulary!(
    /// The language of a consumer's SMS and notices.
    Language { Hi => "hi", En => "en" }
);

vocabulary!(
    /// How a payment came in.
    Channel {
        OnlinePortal => "online_portal",
        App => "app",
        Upi => "upi",
        Bbps => "bbps",
        Card => "card",
        NetBanking => "net_banking",
        CounterCash => "counter_cash",
        CounterCheque => "counter_cheque",
        Camp => "camp",
        Agent => "agent",
    }
);

impl Channel {
    pub fn is_digital(self) -> bool {
        matches!(
            self,
            Channel::OnlinePortal
                | Channel::App
                | Channel::Upi
                | Channel::Bbps
                | Channel::Card
                | Channel::NetBanking
        )
    }
}

vocabulary!(
    /// Where a mobile number was registered.
    MobileSource { Camp => "camp", Field => "field", Online => "online", Sms => "sms" }
);

vocabulary!(
    /// How a notice was served.
    NoticeMode { Hand => "hand", Post => "post", Affixed => "affixed" }
);

vocabulary!(
    GrievanceCategory {
        NewConnection => "new_connection",
        Metering => "metering",
        Billing => "billing",
        Supply => "supply",
        Other => "other",
    }
);

vocabulary!(
    /// Where a consumer stands on the recovery ladder (docs/RULES.md).
    Stage {
        Clear => "clear",
        NoticeDue => "notice_due",
        NoticeIssued => "notice_issued",
        NoticeServed => "notice_served",
        DisconnectionDue => "disconnection_due",
        Disconnected => "disconnected",
        ReconnectionDue => "reconnection_due",
        PdDue => "pd_due",
        PermanentlyDisconnected => "permanently_disconnected",
        RcDue => "rc_due",
        RcIssued => "rc_issued",
    }
);

vocabulary!(
    /// An officer's action on the recovery ladder that a correction may void.
    LadderAction {
        ServeNotice => "serve_notice",
        Disconnect => "disconnect",
        Reconnect => "reconnect",
        PermanentlyDisconnect => "permanently_disconnect",
        IssueRecoveryCertificate => "issue_recovery_certificate",
    }
);

vocabulary!(
    /// Officers' worklists (docs/RULES.md).
    WorklistKind {
        ServeNotice => "serve_notice",
        Disconnection => "disconnection",
        Reconnection => "reconnection",
        PermanentDisconnection => "permanent_disconnection",
        RecoveryCertificate => "recovery_certificate",
        HqEscalation => "hq_escalation",
        NoMobile => "no_mobile",
    }
);

vocabulary!(
    /// What keeps a consumer due for disconnection off the disconnection worklist.
    Hold {
        Dispute => "dispute",
        InstallmentPlan => "installment_plan",
        EssentialService => "essential_service",
        Moratorium => "moratorium",
    }
);

vocabulary!(
    /// Why a case closed.
    CaseCloseReason {
        ArrearsCleared => "arrears_cleared",
        Reconnected => "reconnected",
        NoticePaid => "notice_paid",
    }
);

vocabulary!(
    /// The result of one attempt to hand an SMS to the gateway.
    SmsOutcome { Sent => "sent", Failed => "failed", TimedOut => "timed_out" }
);

vocabulary!(
    /// An SMS message's status in the outbox: waiting for (another) attempt, handed to the
    /// gateway, or given up (rejected, or out of attempts).
    SmsStatus { Queued => "queued", Sent => "sent", Failed => "failed" }
);

vocabulary!(
    /// What the gateway's last delivery report said of a message.
    SmsDelivery { Delivered => "delivered", Undelivered => "undelivered" }
);

vocabulary!(
    /// The namespaces of natural keys: each kind of fact a user (or the nightly run) names, so
    /// that the same fact sent twice is recognised. The names are stored in the key index:
    /// never rename one.
    KeyNamespace {
        Office => "office",
        Consumer => "consumer",
        Mobile => "mobile",
        Bill => "bill",
        Revision => "revision",
        Receipt => "receipt",
        Reversal => "reversal",
        Adjustment => "adjustment",
        Surcharge => "surcharge",
        Notice => "notice",
        NoticeServed => "notice_served",
        CaseClosed => "case_closed",
        Disconnection => "disconnection",
        Reconnection => "reconnection",
        PermanentDisconnection => "permanent_disconnection",
        RecoveryCertificate => "recovery_certificate",
        Dispute => "dispute",
        DisputeResolved => "dispute_resolved",
        Plan => "plan",
        PlanBroken => "plan_broken",
        Camp => "camp",
        CampHeld => "camp_held",
        Grievance => "grievance",
        GrievanceResolved => "grievance_resolved",
        Sms => "sms",
        SmsAttempt => "sms_attempt",
        SmsRejected => "sms_rejected",
        Void => "void",
    }
);

impl KeyNamespace {
    /// The command field a conflict under this namespace is reported on: the identifier the
    /// sender chose, or the account where the key is the account and a date.
    pub fn field(self) -> &'static str {
        use KeyNamespace::*;
        match self {
            Office => "code",
            Consumer => "account_no",
            Mobile => "mobile",
            Bill | Revision => "bill_no",
            Receipt | Reversal => "receipt_no",
            Adjustment => "adjustment_no",
            NoticeServed => "notice_no",
            RecoveryCertificate => "rc_no",
            Plan => "plan_id",
            Camp | CampHeld => "camp_id",
            Grievance | GrievanceResolved => "grievance_id",
            Surcharge
            | Notice
            | CaseClosed
            | Disconnection
            | Reconnection
            | PermanentDisconnection
            | Dispute
            | DisputeResolved
            | PlanBroken
            | Sms
            | SmsAttempt
            | SmsRejected
            | Void => "account_no",
        }
    }
}

/// Aging buckets by days overdue.
pub fn aging_bucket(days_overdue: i64) -> &'static str {
    match days_overdue {
        i64::MIN..=30 => "0-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        91..=180 => "91-180",
        181..=365 => "181-365",
        _ => "366+",
    }
}

/// Checks a code of `A-Z 0-9 -` (offices) between 1 and `max` characters.
pub fn check_code(text: &str, max: usize, allow_dash: bool) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("`{text}` is longer than {max} characters"));
    }
    let allowed =
        |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || (allow_dash && c == '-');
    if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
        let set = if allow_dash { "A-Z 0-9 -" } else { "A-Z 0-9" };
        return Err(format!("`{text}` has `{bad}`, outside {set}"));
    }
    Ok(())
}

/// Checks an identifier chosen by users (bill, receipt, plan numbers): 1 to 40 printable
/// ASCII characters without spaces or `|` (which joins parts of natural keys).
pub fn check_identifier(text: &str) -> Result<(), String> {
    const IDENTIFIER_LEN_MAX: usize = 40;
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > IDENTIFIER_LEN_MAX {
        return Err(format!("is longer than {IDENTIFIER_LEN_MAX} characters"));
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_graphic() || *c == '|') {
        return Err(format!(
            "`{text}` has `{bad}`, not allowed in an identifier"
        ));
    }
    Ok(())
}

/// Checks free text (names, venues, reasons): 1 to `max` characters, no control characters.
pub fn check_text(text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("is empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if text.chars().any(|c| c.is_control()) {
        return Err("has a control character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip_their_names() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
        }
        assert!("house"
            .parse::<Category>()
            .unwrap_err()
            .contains("domestic"));
        assert!(Channel::Upi.is_digital());
        assert!(!Channel::Camp.is_digital());
    }

    #[test]
    fn buckets_have_their_edges() {
        assert_eq!(aging_bucket(0), "0-30");
        assert_eq!(aging_bucket(30), "0-30");
        assert_eq!(aging_bucket(31), "31-60");
        assert_eq!(aging_bucket(72), "61-90");
        assert_eq!(aging_bucket(180), "91-180");
        assert_eq!(aging_bucket(365), "181-365");
        assert_eq!(aging_bucket(366), "366+");
    }

    #[test]
    fn codes_are_checked() {
        assert!(check_code("DDN-01", 16, true).is_ok());
        assert!(check_code("ddn", 16, true).is_err());
        assert!(check_code("A-1", 20, false).is_err());
        assert!(check_code("", 20, false).is_err());
    }
}
