//! The policy: every tunable of docs/RULES.md, with its default (docs/FORMATS.md). A policy file may hold only
//! some keys; the rest keep their defaults. Unknown keys are an error, reported like any other
//! input file's: the line, the key and why.

use crate::money::Money;
use crate::types::Category;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why a policy text does not read, and where: the line (counting from 1) and the key, when the
/// problem has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub line: Option<usize>,
    pub key: Option<String>,
    /// One line, without the key or the line.
    pub reason: String,
}

impl PolicyError {
    fn for_key(key: &str, reason: impl Into<String>) -> PolicyError {
        PolicyError {
            line: None,
            key: Some(key.to_string()),
            reason: reason.into(),
        }
    }

    /// From the TOML reader's error: its span gives the line and, through the text on that
    /// line, the key; its message (not the multi-line rendering with the source) gives why.
    fn from_toml_error(text: &str, error: &toml::de::Error) -> PolicyError {
        let mut message = one_line(error.message());
        if message.is_empty() {
            // The TOML reader gives no words for some faults (a control character in a
            // comment): the line still says where.
            message = "is not valid TOML".to_string();
        }
        let span = error.span().filter(|s| text.is_char_boundary(s.start));
        let line = span
            .as_ref()
            .map(|s| text[..s.start].matches('\n').count() + 1);
        if let Some(rest) = message.strip_prefix("unknown field `") {
            if let Some((key, expected)) = rest.split_once('`') {
                let expected = expected.trim_start_matches(',').trim();
                let reason = if expected.is_empty() {
                    "unknown key".to_string()
                } else {
                    format!("unknown key, {expected}")
                };
                return PolicyError {
                    line,
                    key: Some(key.to_string()),
                    reason,
                };
            }
        }
        let key = span.and_then(|s| key_on_line(text, s.start));
        PolicyError {
            line,
            key,
            reason: message,
        }
    }

    /// The one-line report for a policy read from `file`: `FILE:LINE: key: reason`, leaving out
    /// the parts the problem does not have.
    pub fn in_file(&self, file: &str) -> String {
        match self.line {
            Some(line) => format!("{file}:{line}: {self}"),
            None => format!("{file}: {self}"),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for PolicyError {}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key that the line holding byte `offset` is about: the left side of `key = value`, or
/// the name of a `[table]` header.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    let key = if let Some(header) = line.strip_prefix('[') {
        header.trim_start_matches('[').split(']').next()?
    } else {
        line.split_once('=')?.0
    };
    let key = key.trim();
    (!key.is_empty()).then(|| key.to_string())
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub defaulters: DefaultersPolicy,
    pub lps: LpsPolicy,
    pub notice: NoticePolicy,
    pub permanent_disconnection: PermanentDisconnectionPolicy,
    pub recovery_certificate: RecoveryCertificatePolicy,
    pub moratorium: MoratoriumPolicy,
    pub grievances: GrievancesPolicy,
    pub dates: crate::dates::DatesPolicy,
    pub ranking: RankingPolicy,
    pub utility: UtilityPolicy,
    pub sms: SmsPolicy,
}

/// The licensee: the letterhead of notices and orders, and where payments by UPI go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UtilityPolicy {
    pub name: String,
    pub name_hi: String,
    pub address: String,
    /// The UPI virtual payment address; empty means notices carry no UPI QR code.
    pub upi_vpa: String,
}

impl Default for UtilityPolicy {
    fn default() -> Self {
        UtilityPolicy {
            name: "Uttarakhand Power Corporation Ltd.".to_string(),
            name_hi: "उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड".to_string(),
            address: String::new(),
            upi_vpa: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultersPolicy {
    pub min_overdue_arrears: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LpsPolicy {
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly_rate_percent: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticePolicy {
    pub min_days_overdue: i64,
    pub clear_days: i64,
    pub threshold: NoticeThreshold,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticeThreshold {
    pub domestic: Money,
    pub non_domestic: Money,
    pub government: Money,
    pub agriculture: Money,
    pub industrial: Money,
    pub other: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PermanentDisconnectionPolicy {
    pub after_days: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryCertificatePolicy {
    pub min_arrears: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MoratoriumPolicy {
    /// Inclusive date ranges.
    pub ranges: Vec<[NaiveDate; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrievancesPolicy {
    pub resolution_days: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RankingPolicy {
    pub weights: RankingWeights,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankingWeights {
    pub collection_efficiency: u32,
    pub arrears_reduction: u32,
    pub grievance_resolution: u32,
    pub digital_share: u32,
    pub mobile_coverage: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsPolicy {
    pub reminder_days_before_due: i64,
    pub camp_notice_days_before: i64,
    pub entity_id: String,
    pub sender: String,
    pub templates: BTreeMap<String, SmsTemplate>,
    /// How the outbox is sent: `vasooli sms send` and the server's own sender.
    pub send: SmsSendPolicy,
    /// The DLT registration's rules a message is checked against before it is posted.
    pub dlt: SmsDltPolicy,
}

/// How the outbox is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSendPolicy {
    /// Most requests waiting on the gateway at once (`sms send --in-flight` overrides it).
    pub in_flight: usize,
    /// Time-out of one attempt, in milliseconds, for the server's sender.
    pub timeout_ms: u64,
    /// Whether `vasooli serve` runs the sender itself.
    pub serve: bool,
    /// The gateway the server's sender posts to (needed when `serve` is on).
    pub gateway: String,
    /// How often, in seconds, the server's sender looks for queued messages.
    pub interval_seconds: u64,
    /// Quiet hours (India time, `HH:MM`): the server's sender posts nothing from
    /// `quiet_from` until `quiet_until`. Both empty: no quiet hours.
    pub quiet_from: String,
    pub quiet_until: String,
}

impl Default for SmsSendPolicy {
    fn default() -> Self {
        SmsSendPolicy {
            in_flight: 64,
            timeout_ms: 5_000,
            serve: false,
            gateway: String::new(),
            interval_seconds: 60,
            quiet_from: String::new(),
            quiet_until: String::new(),
        }
    }
}

/// Most requests in flight the policy or the flag may ask for.
pub const SMS_IN_FLIGHT_MAX: usize = 4_096;

impl SmsSendPolicy {
    /// The quiet hours as minutes of the day `(from, until)`, when there are any.
    pub fn quiet_hours(&self) -> Option<(u32, u32)> {
        let from = parse_hh_mm(&self.quiet_from)?;
        let until = parse_hh_mm(&self.quiet_until)?;
        Some((from, until))
    }

    /// Whether `minute` of the day (0..1440) falls in the quiet hours; they may run past
    /// midnight (21:00 to 08:00).
    pub fn is_quiet(&self, minute: u32) -> bool {
        match self.quiet_hours() {
            None => false,
            Some((from, until)) if from <= until => from <= minute && minute < until,
            Some((from, until)) => minute >= from || minute < until,
        }
    }
}

/// `HH:MM` as minutes of the day.
pub fn parse_hh_mm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The DLT registration's rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsDltPolicy {
    /// Longest value of one `{#var#}` variable, in characters.
    pub variable_max_chars: usize,
    /// Whether sending needs `sms.entity_id` set. Off by default, because the built-in
    /// entity id is empty; a utility registered on DLT turns it on.
    pub require_entity_id: bool,
}

impl Default for SmsDltPolicy {
    fn default() -> Self {
        SmsDltPolicy {
            variable_max_chars: 30,
            require_entity_id: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplate {
    pub hi: String,
    pub en: String,
    pub dlt_template_id: String,
}

impl Default for DefaultersPolicy {
    fn default() -> Self {
        DefaultersPolicy {
            min_overdue_arrears: Money::from_paise(50_000),
        }
    }
}
impl Default for LpsPolicy {
    fn default() -> Self {
        LpsPolicy {
            monthly_rate_percent: Decimal::new(125, 2),
        }
    }
}
impl Default for NoticePolicy {
    fn default() -> Self {
        NoticePolicy {
            min_days_overdue: 30,
            clear_days: 15,
            threshold: NoticeThreshold::default(),
        }
    }
}
impl Default for NoticeThreshold {
    fn default() -> Self {
        let rupees = |r: i64| Money::from_paise(r * 100);
        NoticeThreshold {
            domestic: rupees(1_000),
            non_domestic: rupees(5_000),
            government: rupees(10_000),
            agriculture: rupees(5_000),
            industrial: rupees(25_000),
            other: rupees(5_000),
        }
    }
}
impl NoticeThreshold {
    pub fn for_category(&self, category: Category) -> Money {
        match category {
            Category::Domestic => self.domestic,
            Category::NonDomestic => self.non_domestic,
            Category::Government => self.government,
            Category::Agriculture => self.agriculture,
            Category::Industrial => self.industrial,
            Category::Other => self.other,
        }
    }
}
impl Default for PermanentDisconnectionPolicy {
    fn default() -> Self {
        PermanentDisconnectionPolicy { after_days: 180 }
    }
}
impl Default for RecoveryCertificatePolicy {
    fn default() -> Self {
        RecoveryCertificatePolicy {
            min_arrears: Money::from_paise(1_000_000),
        }
    }
}
impl Default for GrievancesPolicy {
    fn default() -> Self {
        GrievancesPolicy {
            resolution_days: 15,
        }
    }
}
impl Default for RankingWeights {
    fn default() -> Self {
        RankingWeights {
            collection_efficiency: 40,
            arrears_reduction: 25,
            grievance_resolution: 15,
            digital_share: 10,
            mobile_coverage: 10,
        }
    }
}
impl Default for SmsPolicy {
    fn default() -> Self {
        SmsPolicy {
            reminder_days_before_due: 3,
            camp_notice_days_before: 3,
            entity_id: String::new(),
            sender: "UPCLTD".to_string(),
            templates: crate::sms::default_templates(),
            send: SmsSendPolicy::default(),
            dlt: SmsDltPolicy::default(),
        }
    }
}

impl Policy {
    /// Reads a policy from TOML text, keeping defaults for absent keys.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let mut policy: Policy =
            toml::from_str(text).map_err(|e| PolicyError::from_toml_error(text, &e))?;
        // Templates named in the file replace the defaults of the same name; the rest stay.
        let mut templates = crate::sms::default_templates();
        templates.append(&mut policy.sms.templates);
        policy.sms.templates = templates;
        policy.check().map_err(|mut e| {
            if e.line.is_none() {
                e.line = e.key.as_deref().and_then(|key| line_of_key(text, key));
            }
            e
        })?;
        Ok(policy)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# policy does not print: {e}\n"))
    }

    fn check(&self) -> Result<(), PolicyError> {
        if self.lps.monthly_rate_percent.is_sign_negative() {
            return Err(PolicyError::for_key(
                "lps.monthly_rate_percent",
                "must not be negative",
            ));
        }
        for (key, days) in [
            ("notice.clear_days", self.notice.clear_days),
            ("notice.min_days_overdue", self.notice.min_days_overdue),
        ] {
            if days < 0 {
                return Err(PolicyError::for_key(key, "must not be negative"));
            }
        }
        if let Some((key, reason)) = self.dates.problem() {
            return Err(PolicyError::for_key(key, reason));
        }
        if self.utility.name.trim().is_empty() {
            return Err(PolicyError::for_key("utility.name", "must not be empty"));
        }
        if !self.utility.upi_vpa.is_empty() && !is_upi_vpa(&self.utility.upi_vpa) {
            return Err(PolicyError::for_key(
                "utility.upi_vpa",
                format!(
                    "`{}` is not a UPI address (handle@bank, letters, digits, '.', '-', '_')",
                    self.utility.upi_vpa
                ),
            ));
        }
        self.check_sms_send()?;
        if self.sms.dlt.variable_max_chars == 0 {
            return Err(PolicyError::for_key(
                "sms.dlt.variable_max_chars",
                "must be above 0",
            ));
        }
        for [from, to] in &self.moratorium.ranges {
            if from > to {
                return Err(PolicyError::for_key(
                    "moratorium.ranges",
                    format!("{from} is after {to}"),
                ));
            }
        }
        Ok(())
    }

    /// The `[sms.send]` keys.
    fn check_sms_send(&self) -> Result<(), PolicyError> {
        let send = &self.sms.send;
        if send.in_flight == 0 || send.in_flight > SMS_IN_FLIGHT_MAX {
            return Err(PolicyError::for_key(
                "sms.send.in_flight",
                format!("must be from 1 to {SMS_IN_FLIGHT_MAX}"),
            ));
        }
        if send.timeout_ms == 0 {
            return Err(PolicyError::for_key(
                "sms.send.timeout_ms",
                "must be above 0",
            ));
        }
        if send.interval_seconds == 0 {
            return Err(PolicyError::for_key(
                "sms.send.interval_seconds",
                "must be above 0",
            ));
        }
        if !(send.gateway.is_empty()
            || send.gateway.starts_with("http://")
            || send.gateway.starts_with("https://"))
        {
            return Err(PolicyError::for_key(
                "sms.send.gateway",
                format!("`{}` is not an http(s) URL", send.gateway),
            ));
        }
        if send.serve && send.gateway.is_empty() {
            return Err(PolicyError::for_key(
                "sms.send.gateway",
                "must be set when sms.send.serve is on",
            ));
        }
        for (key, value) in [
            ("sms.send.quiet_from", &send.quiet_from),
            ("sms.send.quiet_until", &send.quiet_until),
        ] {
            if !value.is_empty() && parse_hh_mm(value).is_none() {
                return Err(PolicyError::for_key(
                    key,
                    format!("`{value}` is not a time of the form HH:MM"),
                ));
            }
        }
        if send.quiet_from.is_empty() != send.quiet_until.is_empty() {
            return Err(PolicyError::for_key(
                "sms.send.quiet_until",
                "quiet hours need both quiet_from and quiet_until",
            ));
        }
        Ok(())
    }

    pub fn in_moratorium(&self, date: NaiveDate) -> bool {
        self.moratorium
            .ranges
            .iter()
            .any(|[from, to]| *from <= date && date <= *to)
    }

    /// The monthly surcharge rate as a fraction (1.25% is 0.0125).
    pub fn lps_rate(&self) -> Decimal {
        self.lps.monthly_rate_percent / Decimal::ONE_HUNDRED
    }
}

/// Whether `text` has the form of a UPI virtual payment address: `handle@bank`.
pub fn is_upi_vpa(text: &str) -> bool {
    let Some((handle, bank)) = text.split_once('@') else {
        return false;
    };
    let handle_ok = !handle.is_empty()
        && handle.len() <= 64
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let bank_ok = !bank.is_empty()
        && bank.len() <= 64
        && bank
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    handle_ok && bank_ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_toml_fault_without_words_still_has_a_reason_and_its_line() {
        // Found by fuzzing: a NUL in a comment makes the TOML reader's message empty.
        let e = Policy::from_toml("# a comment\n# with \u{0} inside\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.reason, "is not valid TOML");
    }

    use super::*;

    #[test]
    fn the_utility_section_reads_and_checks_the_upi_address() {
        let text = "[utility]\nname = \"Uttarakhand Power Corporation Ltd.\"\n\
name_hi = \"उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड\"\naddress = \"Urja Bhawan, Dehradun\"\n\
upi_vpa = \"upcl.bill@sbi\"\n";
        let policy = Policy::from_toml(text).unwrap();
        assert_eq!(policy.utility.address, "Urja Bhawan, Dehradun");
        assert_eq!(policy.utility.upi_vpa, "upcl.bill@sbi");
        assert_eq!(
            Policy::default().utility.name,
            "Uttarakhand Power Corporation Ltd."
        );
        assert!(Policy::default().utility.upi_vpa.is_empty());
        let error = Policy::from_toml("[utility]\nupi_vpa = \"not a vpa\"\n").unwrap_err();
        assert_eq!(error.key.as_deref(), Some("utility.upi_vpa"));
        assert_eq!(error.line, Some(2));
        assert!(Policy::from_toml("[utility]\nname = \" \"\n").is_err());
        assert!(Policy::from_toml("[utility]\nlogo = \"x\"\n").is_err());
    }

    #[test]
    fn sms_sending_keys_read_and_are_checked() {
        let policy = Policy::default();
        assert_eq!(policy.sms.send.in_flight, 64);
        assert_eq!(policy.sms.dlt.variable_max_chars, 30);
        assert!(!policy.sms.send.serve);
        assert!(!policy.sms.send.is_quiet(0));
        let text = "[sms.send]\nin_flight = 8\nserve = true\ngateway = \"http://127.0.0.1:9/sms\"\n\
                    quiet_from = \"21:00\"\nquiet_until = \"08:00\"\n[sms.dlt]\nvariable_max_chars = 20\n";
        let policy = Policy::from_toml(text).unwrap();
        assert_eq!(policy.sms.send.in_flight, 8);
        assert_eq!(policy.sms.dlt.variable_max_chars, 20);
        // Quiet hours across midnight.
        assert!(policy.sms.send.is_quiet(21 * 60));
        assert!(policy.sms.send.is_quiet(2 * 60));
        assert!(!policy.sms.send.is_quiet(8 * 60));
        assert!(!policy.sms.send.is_quiet(20 * 60 + 59));
        assert_eq!(Policy::from_toml(&policy.to_toml()).unwrap(), policy);
        for (bad, key) in [
            ("[sms.send]\nin_flight = 0\n", "sms.send.in_flight"),
            ("[sms.send]\nin_flight = 5000\n", "sms.send.in_flight"),
            ("[sms.send]\nserve = true\n", "sms.send.gateway"),
            ("[sms.send]\ngateway = \"ftp://x\"\n", "sms.send.gateway"),
            (
                "[sms.send]\nquiet_from = \"25:00\"\nquiet_until = \"08:00\"\n",
                "sms.send.quiet_from",
            ),
            (
                "[sms.send]\nquiet_from = \"21:00\"\n",
                "sms.send.quiet_until",
            ),
            (
                "[sms.dlt]\nvariable_max_chars = 0\n",
                "sms.dlt.variable_max_chars",
            ),
        ] {
            let error = Policy::from_toml(bad).unwrap_err();
            assert_eq!(error.key.as_deref(), Some(key), "{bad}: {error}");
        }
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let policy = Policy::from_toml("[notice]\nclear_days = 7\n").unwrap();
        assert_eq!(policy.notice.clear_days, 7);
        assert_eq!(policy.notice.min_days_overdue, 30);
        assert_eq!(policy.notice.threshold.domestic.to_string(), "1000.00");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Policy::from_toml("[notice]\nclear_dayz = 7\n")
            .unwrap_err()
            .to_string()
            .contains("clear_dayz"));
        assert!(Policy::from_toml("colour = 1\n").is_err());
    }

    /// An input file's errors name FILE:LINE and the key, in one line (docs/CLI.md).
    #[test]
    fn errors_name_the_line_and_the_key() {
        let text = "[lps]\nmonthly_rate_percent = \"1.25\"\nmonthly_rate = \"2\"\n";
        let error = Policy::from_toml(text).unwrap_err();
        assert_eq!(
            (error.line, error.key.as_deref()),
            (Some(3), Some("monthly_rate"))
        );
        assert!(error.reason.starts_with("unknown key"), "{error:?}");
        let report = error.in_file("policy.toml");
        assert!(
            report.starts_with("policy.toml:3: monthly_rate: unknown key"),
            "{report}"
        );
        assert!(!report.contains('\n'), "{report}");

        // A bad value names its key and line too, and the reason says why in one line.
        let text = "[notice]\nmin_days_overdue = 30\n\nclear_days = \"soon\"\n";
        let error = Policy::from_toml(text).unwrap_err();
        assert_eq!(
            (error.line, error.key.as_deref()),
            (Some(4), Some("clear_days"))
        );
        assert!(!error.in_file("p.toml").contains('\n'));
        let text = "[defaulters]\r\nmin_overdue_arrears = \"500.000\"\r\n";
        let error = Policy::from_toml(text).unwrap_err();
        assert_eq!(
            error.in_file("p.toml"),
            "p.toml:2: min_overdue_arrears: `500.000` has more than 2 decimal places"
        );

        // An unknown table is an unknown key on its header's line.
        let error = Policy::from_toml("[notice]\nclear_days = 7\n[colour]\nred = 1\n").unwrap_err();
        assert_eq!(
            (error.line, error.key.as_deref()),
            (Some(3), Some("colour"))
        );

        // A rule broken by a value read well names its key and the key's line.
        let error = Policy::from_toml("[lps]\nmonthly_rate_percent = \"-1\"\n").unwrap_err();
        assert_eq!(
            error.in_file("p.toml"),
            "p.toml:2: lps.monthly_rate_percent: must not be negative"
        );
    }

    #[test]
    fn prints_and_reads_back() {
        let policy = Policy::default();
        let text = policy.to_toml();
        assert!(text.contains("monthly_rate_percent = \"1.25\""), "{text}");
        assert_eq!(Policy::from_toml(&text).unwrap(), policy);
        let m = Policy::from_toml("[moratorium]\nranges = [[\"2026-10-20\", \"2026-10-25\"]]\n")
            .unwrap();
        assert!(m.in_moratorium(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()));
        assert!(!m.in_moratorium(NaiveDate::from_ymd_opt(2026, 10, 26).unwrap()));
    }
}

/// The line where a dotted `key` (`lps.monthly_rate_percent`, or a table such as `notice`)
/// is set in a policy file: `name =` under its `[table]` header, a dotted `table.name =`, or
/// the table's header itself.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (table, name) = match key.rsplit_once('.') {
        Some((table, name)) => (table, name),
        None => ("", key),
    };
    let sets = |line: &str, name: &str| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut current = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header.trim_end_matches(']').trim().to_string();
            if current == key {
                return Some(index + 1);
            }
            continue;
        }
        if (current == table && sets(line, name)) || (current.is_empty() && sets(line, key)) {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod line_of_key_tests {
    use super::Policy;

    #[test]
    fn rule_errors_name_the_line_of_their_key() {
        let text = "[lps]\n# the monthly rate\nmonthly_rate_percent = \"-1\"\n";
        let e = Policy::from_toml(text).unwrap_err();
        assert_eq!(e.in_file("p.toml"), format!("p.toml:3: {e}"));
        assert!(
            e.to_string().starts_with("lps.monthly_rate_percent: "),
            "{e}"
        );
    }
}
