//! Commands: what users ask the engine to record, as JSON objects (`append`, the HTTP API) or
//! CSV rows (`import`). Parsing checks each field's form and names the field and the reason;
//! checks against the state a command would change live in `decide`.

use crate::codec::parse_date;
use crate::event::Installment;
use crate::mobile::normalize_mobile;
use crate::money::Money;
use crate::types::*;
use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::str::FromStr;

/// Most instalments one plan may have.
pub const INSTALLMENTS_MAX: usize = 120;
/// Most officers listed for one camp.
pub const OFFICERS_PRESENT_MAX: usize = 50;
/// Longest free text (reasons, notes, venues).
pub const TEXT_LEN_MAX: usize = 200;
/// Most characters of a consumer's postal address.
pub const ADDRESS_CHARS_MAX: usize = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The key or column, empty for the whole record.
    pub field: String,
    pub reason: String,
    pub kind: FieldErrorKind,
}

/// What is wrong with a field: the record's shape, or a value the rules refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// Not a command of a known type, or a key the command does not have.
    Malformed,
    /// A key of the command with a value that breaks its rules.
    Invalid,
}

impl FieldError {
    /// A value that breaks the rules of its field.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
            kind: FieldErrorKind::Invalid,
        }
    }

    /// A record of the wrong shape: an unknown type, or a key that is not the command's.
    pub fn malformed(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            kind: FieldErrorKind::Malformed,
            ..FieldError::new(field, reason)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    RegisterOffice {
        code: String,
        name: String,
        level: Level,
        parent: Option<String>,
    },
    RegisterConsumer {
        account_no: String,
        name: String,
        category: Category,
        subdivision: String,
        load_watts: i64,
        connected_on: NaiveDate,
        mobile: Option<String>,
        language: Language,
        /// The postal address notices print.
        address: Option<String>,
    },
    RegisterMobile {
        account_no: String,
        mobile: String,
        registered_on: NaiveDate,
        source: MobileSource,
    },
    IssueBill {
        bill_no: String,
        account_no: String,
        period: String,
        issued_on: NaiveDate,
        due_on: NaiveDate,
        amount: Money,
    },
    ReviseBill {
        bill_no: String,
        revised_on: NaiveDate,
        new_amount: Money,
        reason: String,
    },
    ReceivePayment {
        receipt_no: String,
        account_no: String,
        amount: Money,
        paid_on: NaiveDate,
        channel: Channel,
    },
    ReversePayment {
        receipt_no: String,
        reversed_on: NaiveDate,
        reason: String,
    },
    PostAdjustment {
        adjustment_no: String,
        account_no: String,
        posted_on: NaiveDate,
        amount: Money,
        reason: String,
    },
    ServeNotice {
        notice_no: String,
        served_on: NaiveDate,
        mode: NoticeMode,
    },
    Disconnect {
        account_no: String,
        on: NaiveDate,
        order_no: String,
    },
    Reconnect {
        account_no: String,
        on: NaiveDate,
    },
    PermanentlyDisconnect {
        account_no: String,
        on: NaiveDate,
    },
    IssueRecoveryCertificate {
        account_no: String,
        rc_no: String,
        on: NaiveDate,
    },
    RaiseDispute {
        account_no: String,
        on: NaiveDate,
        deposit: Money,
        bill_no: Option<String>,
    },
    ResolveDispute {
        account_no: String,
        on: NaiveDate,
    },
    GrantInstallmentPlan {
        plan_id: String,
        account_no: String,
        granted_on: NaiveDate,
        installments: Vec<Installment>,
    },
    ScheduleCamp {
        camp_id: String,
        subdivision: String,
        on: NaiveDate,
        venue: String,
    },
    HoldCamp {
        camp_id: String,
        held_on: NaiveDate,
        officers_present: Vec<String>,
    },
    RegisterGrievance {
        grievance_id: String,
        subdivision: String,
        category: GrievanceCategory,
        registered_on: NaiveDate,
        account_no: Option<String>,
        camp_id: Option<String>,
    },
    ResolveGrievance {
        grievance_id: String,
        resolved_on: NaiveDate,
        note: String,
    },
    /// Voids an officer's ladder action recorded by mistake ([`crate::correction`]).
    VoidAction {
        account_no: String,
        action: LadderAction,
        action_on: NaiveDate,
        voided_on: NaiveDate,
        reason: String,
    },
}

/// One kind of command: its name (the JSON `type`), its keys (`?` marks an optional one), the
/// import kind whose CSV rows become it, who besides admin and finance may send it, and one
/// example line. The parser, the import, the API's access rules, the OpenAPI document and the
/// CLI's help all read this table.
#[derive(Clone, Copy, Debug)]
pub struct CommandKind {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    /// The import kind (`vasooli import KIND`) whose rows are this command.
    pub import: Option<&'static str>,
    /// An officer token may send it (for consumers, camps and grievances of its offices).
    pub officer: bool,
    /// An ingest token (a billing or collection system's feed) may send it.
    pub ingest: bool,
    /// One JSON line of this kind, as `vasooli append` and `POST /api/v1/commands` take it.
    pub example: &'static str,
}

/// Every command kind.
pub const COMMAND_KINDS: &[CommandKind] = &[
    CommandKind {
        name: "register_office",
        keys: &["code", "name", "level", "parent?"],
        import: Some("offices"),
        officer: false,
        ingest: false,
        example: r#"{"type":"register_office","code":"SD-BHANIYAWALA","name":"भानियावाला उपखंड (Bhaniyawala Subdivision)","level":"subdivision","parent":"D-DDN-RURAL"}"#,
    },
    CommandKind {
        name: "register_consumer",
        keys: &[
            "account_no",
            "name",
            "category",
            "subdivision",
            "load_kw",
            "connected_on",
            "mobile?",
            "language?",
            "address?",
        ],
        import: Some("consumers"),
        officer: false,
        ingest: true,
        example: r#"{"type":"register_consumer","account_no":"UK9100000004","name":"Rakesh Negi","category":"domestic","subdivision":"SD-BHANIYAWALA","load_kw":"1.5","connected_on":"2026-10-06","mobile":"98370 11223","language":"en","address":"Near Post Office, Bhaniyawala"}"#,
    },
    CommandKind {
        name: "register_mobile",
        keys: &["account_no", "mobile", "registered_on", "source"],
        import: Some("mobiles"),
        officer: false,
        ingest: true,
        example: r#"{"type":"register_mobile","account_no":"UK9100000004","mobile":"+919837044556","registered_on":"2026-10-07","source":"online"}"#,
    },
    CommandKind {
        name: "issue_bill",
        keys: &[
            "bill_no",
            "account_no",
            "period",
            "issued_on",
            "due_on",
            "amount",
        ],
        import: Some("bills"),
        officer: false,
        ingest: true,
        example: r#"{"type":"issue_bill","bill_no":"B202610UK9100000004","account_no":"UK9100000004","period":"2026-10","issued_on":"2026-10-06","due_on":"2026-10-21","amount":"1250.00"}"#,
    },
    CommandKind {
        name: "revise_bill",
        keys: &["bill_no", "revised_on", "new_amount", "reason"],
        import: None,
        officer: false,
        ingest: true,
        example: r#"{"type":"revise_bill","bill_no":"B202610UK9100000004","revised_on":"2026-10-08","new_amount":"1100.00","reason":"meter reading corrected"}"#,
    },
    CommandKind {
        name: "receive_payment",
        keys: &["receipt_no", "account_no", "amount", "paid_on", "channel"],
        import: Some("payments"),
        officer: false,
        ingest: true,
        example: r#"{"type":"receive_payment","receipt_no":"R202610UK91000000041","account_no":"UK9100000004","amount":"1100.00","paid_on":"2026-10-09","channel":"counter_cheque"}"#,
    },
    CommandKind {
        name: "reverse_payment",
        keys: &["receipt_no", "reversed_on", "reason"],
        import: None,
        officer: false,
        ingest: true,
        example: r#"{"type":"reverse_payment","receipt_no":"R202610UK91000000041","reversed_on":"2026-10-12","reason":"cheque returned unpaid"}"#,
    },
    CommandKind {
        name: "post_adjustment",
        keys: &[
            "adjustment_no",
            "account_no",
            "posted_on",
            "amount",
            "reason",
        ],
        import: None,
        officer: false,
        ingest: false,
        example: r#"{"type":"post_adjustment","adjustment_no":"ADJ-2610-0001","account_no":"UK9100000004","posted_on":"2026-10-12","amount":"200.00","reason":"cheque return charges"}"#,
    },
    CommandKind {
        name: "serve_notice",
        keys: &["notice_no", "served_on", "mode"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"serve_notice","notice_no":"N-UK2973380637-001","served_on":"2026-10-06","mode":"hand"}"#,
    },
    CommandKind {
        name: "disconnect",
        keys: &["account_no", "on", "order_no"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"disconnect","account_no":"UK0218309098","on":"2026-10-06","order_no":"DO-VKN-2610-01"}"#,
    },
    CommandKind {
        name: "reconnect",
        keys: &["account_no", "on"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"reconnect","account_no":"UK9250234784","on":"2026-10-07"}"#,
    },
    CommandKind {
        name: "permanently_disconnect",
        keys: &["account_no", "on"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"permanently_disconnect","account_no":"UK6785541496","on":"2026-10-06"}"#,
    },
    CommandKind {
        name: "issue_recovery_certificate",
        keys: &["account_no", "rc_no", "on"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"issue_recovery_certificate","account_no":"UK5701999669","rc_no":"RC-RKS-2026-014","on":"2026-10-06"}"#,
    },
    CommandKind {
        name: "raise_dispute",
        keys: &["account_no", "on", "deposit", "bill_no?"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"raise_dispute","account_no":"UK0662297447","on":"2026-10-06","deposit":"10000.00","bill_no":"B202609UK0662297447"}"#,
    },
    CommandKind {
        name: "resolve_dispute",
        keys: &["account_no", "on"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"resolve_dispute","account_no":"UK0662297447","on":"2026-10-20"}"#,
    },
    CommandKind {
        name: "grant_installment_plan",
        keys: &["plan_id", "account_no", "granted_on", "installments"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"grant_installment_plan","plan_id":"PLAN-2610-0007","account_no":"UK3067200924","granted_on":"2026-10-06","installments":[{"due_on":"2026-10-31","amount":"30000.00"},{"due_on":"2026-11-30","amount":"30000.00"},{"due_on":"2026-12-31","amount":"22685.86"}]}"#,
    },
    CommandKind {
        name: "schedule_camp",
        keys: &["camp_id", "subdivision", "on", "venue"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"schedule_camp","camp_id":"CAMP-BHW-2610","subdivision":"SD-BHANIYAWALA","on":"2026-10-15","venue":"Panchayat Bhawan, Bhaniyawala"}"#,
    },
    CommandKind {
        name: "hold_camp",
        keys: &["camp_id", "held_on", "officers_present"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"hold_camp","camp_id":"CAMP-BHW-2610","held_on":"2026-10-15","officers_present":["SDO","JE"]}"#,
    },
    CommandKind {
        name: "register_grievance",
        keys: &[
            "grievance_id",
            "subdivision",
            "category",
            "registered_on",
            "account_no?",
            "camp_id?",
        ],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"register_grievance","grievance_id":"GRV-2610-0031","subdivision":"SD-BHANIYAWALA","category":"metering","registered_on":"2026-10-15","account_no":"UK9100000004","camp_id":"CAMP-BHW-2610"}"#,
    },
    CommandKind {
        name: "resolve_grievance",
        keys: &["grievance_id", "resolved_on", "note"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"resolve_grievance","grievance_id":"GRV-2610-0031","resolved_on":"2026-10-22","note":"meter replaced"}"#,
    },
    CommandKind {
        name: "void_action",
        keys: &["account_no", "action", "action_on", "voided_on", "reason"],
        import: None,
        officer: true,
        ingest: false,
        example: r#"{"type":"void_action","account_no":"UK2973380637","action":"serve_notice","action_on":"2026-10-30","voided_on":"2026-11-02","reason":"served on 3 October; the date was typed wrongly"}"#,
    },
];

/// The kind named `name`.
pub fn command_kind(name: &str) -> Option<&'static CommandKind> {
    COMMAND_KINDS.iter().find(|kind| kind.name == name)
}

/// The command type an import kind turns each CSV row into.
pub fn import_command_type(kind: &str) -> Option<&'static str> {
    COMMAND_KINDS
        .iter()
        .find(|command| command.import == Some(kind))
        .map(|command| command.name)
}

/// The line breaks of a CSV input, to turn the byte offset a CSV reader gives for a record
/// into its physical line (1-based, header = 1; CRLF, empty lines and quoted fields that
/// span lines counted as an editor counts them). Fed in order as the bytes are read.
#[derive(Clone, Debug, Default)]
pub struct LineBreaks {
    /// Offsets of every `\r` and `\n`.
    terminators: Vec<u64>,
    /// Offsets of every line break: a `\n`, or a `\r` not followed by `\n` (a CSV reader
    /// ends a record there too, so a file with bare CR line ends has lines).
    line_feeds: Vec<u64>,
    /// Offset of a `\r` that ended the bytes seen so far (a break unless a `\n` follows).
    pending_cr: Option<u64>,
    /// Bytes seen so far.
    seen: u64,
    /// Line breaks forgotten (see [`LineBreaks::forget_before`]), all before those kept.
    forgotten_lines: u64,
}

impl LineBreaks {
    /// The breaks of a whole input.
    pub fn of(bytes: &[u8]) -> LineBreaks {
        let mut breaks = LineBreaks::default();
        breaks.push(bytes);
        breaks
    }

    /// Notes the next bytes of the input.
    pub fn push(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = self.seen + i as u64;
            if let Some(cr) = self.pending_cr.take() {
                if b != b'\n' {
                    self.line_feeds.push(cr);
                }
            }
            if b == b'\n' || b == b'\r' {
                self.terminators.push(at);
                if b == b'\n' {
                    self.line_feeds.push(at);
                } else {
                    self.pending_cr = Some(at);
                }
            }
        }
        self.seen += bytes.len() as u64;
    }

    /// The physical line of the record a CSV reader says starts at byte `offset`. The
    /// reader counts the line breaks it skipped before a record (the `\n` of a CRLF, empty
    /// lines) as part of it, so those are stepped over first.
    pub fn line_of(&self, offset: u64) -> u64 {
        let mut start = offset;
        let mut next = self.terminators.partition_point(|&t| t < start);
        while self.terminators.get(next) == Some(&start) {
            start += 1;
            next += 1;
        }
        self.forgotten_lines + self.line_feeds.partition_point(|&lf| lf < start) as u64 + 1
    }

    /// Forgets the breaks before byte `offset`, once no line before it will be asked for
    /// again (a reader's records come in order), so that a file of any length is read in
    /// bounded memory. The breaks are dropped in batches, keeping the cost linear.
    pub fn forget_before(&mut self, offset: u64) {
        let terminators = self.terminators.partition_point(|&t| t < offset);
        if terminators < FORGET_BATCH || terminators * 2 < self.terminators.len() {
            return;
        }
        let line_feeds = self.line_feeds.partition_point(|&lf| lf < offset);
        self.terminators.drain(..terminators);
        self.line_feeds.drain(..line_feeds);
        self.forgotten_lines += line_feeds as u64;
    }
}

/// Breaks [`LineBreaks::forget_before`] lets go of at least at once.
const FORGET_BATCH: usize = 4096;

#[cfg(test)]
mod load_tests {
    use super::Command;
    use serde_json::json;

    #[test]
    fn a_load_too_large_for_watts_is_refused_naming_the_field() {
        // Found by fuzzing: the largest decimal times 1000 overflowed and panicked.
        let command = json!({
            "type": "register_consumer", "account_no": "UK9100000002", "name": "A",
            "category": "domestic", "subdivision": "UK-DDN-S1",
            "load_kw": "79228162514264337593543950335", "connected_on": "2020-01-01",
        });
        let errors = Command::from_json(&command).unwrap_err();
        let load = errors
            .iter()
            .find(|e| e.field == "load_kw")
            .expect("load_kw refused");
        assert!(load.reason.contains("too large"), "{}", load.reason);
    }
}

#[cfg(test)]
mod line_breaks_tests {
    use super::LineBreaks;

    #[test]
    fn bare_carriage_returns_end_lines() {
        // header / row / row with CR-only line ends, fed in two pieces split after a CR.
        let text = b"a,b\rx,1\ry,2\r";
        let mut breaks = LineBreaks::default();
        breaks.push(&text[..4]);
        breaks.push(&text[4..]);
        assert_eq!(breaks.line_of(0), 1);
        assert_eq!(breaks.line_of(4), 2);
        assert_eq!(breaks.line_of(8), 3);
        // A CRLF stays one break.
        let crlf = LineBreaks::of(b"a,b\r\nx,1\r\n");
        assert_eq!(crlf.line_of(5), 2);
    }

    #[test]
    fn records_start_on_the_physical_line_after_skipped_breaks() {
        // header / row / empty line / row, CRLF: rows start at lines 2 and 4.
        let text = b"a,b\r\nx,1\r\n\r\ny,2\r\n";
        let breaks = LineBreaks::of(text);
        assert_eq!(breaks.line_of(0), 1);
        // A CSV reader reports the second row as starting at the `\n` after `x,1\r`.
        assert_eq!(breaks.line_of(9), 4);
        assert_eq!(breaks.line_of(5), 2);
        // Fed in parts, the same answer.
        let mut parts = LineBreaks::default();
        parts.push(&text[..7]);
        parts.push(&text[7..]);
        assert_eq!(parts.line_of(9), 4);
    }

    #[test]
    fn forgetting_the_breaks_behind_changes_no_line_and_frees_them() {
        // 30,000 lines with LF, CRLF, bare CR and empty lines mixed; every line's first byte
        // asked in order, forgetting as a reader does, answers as the whole index does.
        let mut text = Vec::new();
        let mut starts = Vec::new();
        for i in 0..30_000 {
            starts.push(text.len() as u64);
            text.extend_from_slice(format!("row{i},1").as_bytes());
            text.extend_from_slice(match i % 4 {
                0 => b"\n".as_slice(),
                1 => b"\r\n",
                2 => b"\r",
                _ => b"\n\n",
            });
        }
        let whole = LineBreaks::of(&text);
        let mut forgetting = LineBreaks::default();
        let mut fed = 0;
        for &start in &starts {
            // Read ahead of the record, as a buffered reader is.
            let upto = (start as usize + 9_000).min(text.len());
            if upto > fed {
                forgetting.push(&text[fed..upto]);
                fed = upto;
            }
            assert_eq!(
                forgetting.line_of(start),
                whole.line_of(start),
                "at {start}"
            );
            forgetting.forget_before(start);
        }
        assert!(
            forgetting.terminators.len() < 3 * super::FORGET_BATCH,
            "{} breaks kept",
            forgetting.terminators.len()
        );
    }
}

/// The CSV columns of an import kind: the command's keys, without the `?`.
pub fn import_columns(kind: &str) -> Option<Vec<&'static str>> {
    let command = import_command_type(kind)?;
    let keys = command_kind(command)?.keys;
    Some(keys.iter().map(|k| k.trim_end_matches('?')).collect())
}

/// A fault in an import file's header (see [`header_problems`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// A required column of the kind is not in the header.
    Missing(String),
    /// A name in the header is not a column of the kind.
    Unknown(String),
    /// A column is named more than once.
    Twice(String),
}

impl HeaderProblem {
    /// The column the problem is about.
    pub fn column(&self) -> &str {
        match self {
            HeaderProblem::Missing(c) | HeaderProblem::Unknown(c) | HeaderProblem::Twice(c) => c,
        }
    }

    /// Why, in words; `kind` is the import kind.
    pub fn reason(&self, kind: &str) -> String {
        match self {
            HeaderProblem::Missing(_) => "the column is missing".to_string(),
            HeaderProblem::Unknown(_) => format!("not a column of {kind}"),
            HeaderProblem::Twice(_) => {
                "the column appears more than once in the header".to_string()
            }
        }
    }
}

/// Every fault in the header of an import file of `kind` ([`import_columns`]): required
/// columns missing (the command's optional keys, marked `?`, may be left out), names that are
/// not columns of the kind, and columns named twice. Empty for an unknown kind.
pub fn header_problems(kind: &str, headers: &[String]) -> Vec<HeaderProblem> {
    let Some(columns) = import_columns(kind) else {
        return Vec::new();
    };
    let optional: Vec<&str> = import_command_type(kind)
        .and_then(command_kind)
        .map(|kind| {
            kind.keys
                .iter()
                .filter_map(|k| k.strip_suffix('?'))
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    for column in &columns {
        if !optional.contains(column) && !headers.iter().any(|h| h == column) {
            problems.push(HeaderProblem::Missing(column.to_string()));
        }
    }
    for (index, header) in headers.iter().enumerate() {
        if !columns.contains(&header.as_str()) {
            problems.push(HeaderProblem::Unknown(header.clone()));
        } else if headers[..index].contains(header) {
            problems.push(HeaderProblem::Twice(header.clone()));
        }
    }
    problems
}

impl Command {
    pub fn type_name(&self) -> &'static str {
        match self {
            Command::RegisterOffice { .. } => "register_office",
            Command::RegisterConsumer { .. } => "register_consumer",
            Command::RegisterMobile { .. } => "register_mobile",
            Command::IssueBill { .. } => "issue_bill",
            Command::ReviseBill { .. } => "revise_bill",
            Command::ReceivePayment { .. } => "receive_payment",
            Command::ReversePayment { .. } => "reverse_payment",
            Command::PostAdjustment { .. } => "post_adjustment",
            Command::ServeNotice { .. } => "serve_notice",
            Command::Disconnect { .. } => "disconnect",
            Command::Reconnect { .. } => "reconnect",
            Command::PermanentlyDisconnect { .. } => "permanently_disconnect",
            Command::IssueRecoveryCertificate { .. } => "issue_recovery_certificate",
            Command::RaiseDispute { .. } => "raise_dispute",
            Command::ResolveDispute { .. } => "resolve_dispute",
            Command::GrantInstallmentPlan { .. } => "grant_installment_plan",
            Command::ScheduleCamp { .. } => "schedule_camp",
            Command::HoldCamp { .. } => "hold_camp",
            Command::RegisterGrievance { .. } => "register_grievance",
            Command::ResolveGrievance { .. } => "resolve_grievance",
            Command::VoidAction { .. } => "void_action",
        }
    }

    /// Parses one JSON object; unknown keys and the command's own field checks are reported
    /// together.
    pub fn from_json(value: &Value) -> Result<Command, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![FieldError::new("", "a command must be a JSON object")]);
        };
        let Some(kind) = map.get("type") else {
            return Err(vec![FieldError::malformed("type", "is required")]);
        };
        let Value::String(kind) = kind else {
            return Err(vec![FieldError::malformed("type", "must be a string")]);
        };
        let mut fields = map.clone();
        fields.remove("type");
        Command::from_fields(kind, &fields)
    }

    /// Parses the fields of a command of type `kind` (JSON values, or CSV cells as strings).
    pub fn from_fields(
        kind: &str,
        fields: &Map<String, Value>,
    ) -> Result<Command, Vec<FieldError>> {
        Command::from_source(kind, Fields::Json(fields))
    }

    /// Parses a CSV record whose cells are the fields named by `headers`, as
    /// [`Command::from_fields`] parses the same cells as JSON strings, without building them
    /// into a JSON object first.
    pub fn from_record(
        kind: &str,
        headers: &[String],
        record: &csv::StringRecord,
    ) -> Result<Command, Vec<FieldError>> {
        Command::from_source(kind, Fields::Csv { headers, record })
    }

    fn from_source(kind: &str, fields: Fields<'_>) -> Result<Command, Vec<FieldError>> {
        let Some(CommandKind { keys, .. }) = command_kind(kind) else {
            let known: Vec<&str> = COMMAND_KINDS.iter().map(|k| k.name).collect();
            return Err(vec![FieldError::malformed(
                "type",
                format!("`{kind}` is not one of {}", known.join(", ")),
            )]);
        };
        let mut r = Reader {
            fields,
            errors: Vec::new(),
        };
        for key in fields.keys() {
            if !keys.iter().any(|k| k.trim_end_matches('?') == key) {
                r.errors.push(FieldError::malformed(
                    key.to_string(),
                    format!("is not a key of {kind}"),
                ));
            }
        }
        let command = parse_fields(kind, &mut r);
        match command {
            Some(c) if r.errors.is_empty() => Ok(c),
            _ => {
                if r.errors.is_empty() {
                    r.errors.push(FieldError::new("", "is not a valid command"));
                }
                Err(r.errors)
            }
        }
    }
}

/// Where a command's fields are read from: a JSON object, or a CSV record's cells under its
/// header's names (every cell a string).
#[derive(Clone, Copy)]
enum Fields<'a> {
    Json(&'a Map<String, Value>),
    Csv {
        headers: &'a [String],
        record: &'a csv::StringRecord,
    },
}

/// One field's value.
enum Field<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl<'a> Fields<'a> {
    fn get(self, key: &str) -> Option<Field<'a>> {
        match self {
            Fields::Json(map) => map.get(key).map(Field::Json),
            Fields::Csv { headers, record } => headers
                .iter()
                .position(|h| h == key)
                .and_then(|i| record.get(i))
                .map(Field::Text),
        }
    }

    /// The names of the fields given, in the source's order.
    fn keys(self) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        match self {
            Fields::Json(map) => Box::new(map.keys().map(String::as_str)),
            Fields::Csv { headers, record } => {
                Box::new(headers.iter().take(record.len()).map(String::as_str))
            }
        }
    }
}

struct Reader<'a> {
    fields: Fields<'a>,
    errors: Vec<FieldError>,
}

impl Reader<'_> {
    fn fail<T>(&mut self, key: &str, reason: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError::new(key, reason));
        None
    }

    /// The text of a key; numbers are taken as their text. Empty text counts as absent.
    fn text_opt(&mut self, key: &str) -> Option<String> {
        match self.fields.get(key) {
            None | Some(Field::Json(Value::Null)) => None,
            Some(Field::Json(Value::String(s))) if s.trim().is_empty() => None,
            Some(Field::Text(s)) if s.trim().is_empty() => None,
            Some(Field::Json(Value::String(s))) => Some(s.clone()),
            Some(Field::Text(s)) => Some(s.to_string()),
            Some(Field::Json(Value::Number(n))) => Some(n.to_string()),
            Some(Field::Json(_)) => self.fail(key, "must be a string"),
        }
    }

    fn text(&mut self, key: &str) -> Option<String> {
        if matches!(self.fields.get(key), None | Some(Field::Json(Value::Null))) {
            return self.fail(key, "is required");
        }
        match self.text_opt(key) {
            Some(t) => Some(t),
            None if self.errors.last().is_some_and(|e| e.field == key) => None,
            None => self.fail(key, "is empty"),
        }
    }

    fn check(
        &mut self,
        key: &str,
        value: Option<String>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let value = value?;
        match check(&value) {
            Ok(()) => Some(value),
            Err(reason) => self.fail(key, reason),
        }
    }

    fn account(&mut self, key: &str) -> Option<String> {
        let v = self.text(key);
        self.check(key, v, |t| check_code(t, 20, false))
    }

    fn account_opt(&mut self, key: &str) -> Option<Option<String>> {
        match self.text_opt(key) {
            None => Some(None),
            Some(v) => self
                .check(key, Some(v), |t| check_code(t, 20, false))
                .map(Some),
        }
    }

    fn office(&mut self, key: &str) -> Option<String> {
        let v = self.text(key);
        self.check(key, v, |t| check_code(t, 16, true))
    }

    fn identifier(&mut self, key: &str) -> Option<String> {
        let v = self.text(key);
        self.check(key, v, check_identifier)
    }

    fn identifier_opt(&mut self, key: &str) -> Option<Option<String>> {
        match self.text_opt(key) {
            None => Some(None),
            Some(v) => self.check(key, Some(v), check_identifier).map(Some),
        }
    }

    fn free_text(&mut self, key: &str, max: usize) -> Option<String> {
        let v = self.text(key);
        self.check(key, v, |t| check_text(t, max))
            .map(|t| t.trim().to_string())
    }

    /// Free text that may be left out or empty.
    fn free_text_opt(&mut self, key: &str, max: usize) -> Option<Option<String>> {
        match self.text_opt(key) {
            None if self.errors.last().is_some_and(|e| e.field == key) => None,
            None => Some(None),
            Some(v) => self
                .check(key, Some(v), |t| check_text(t, max))
                .map(|t| Some(t.trim().to_string())),
        }
    }

    fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let v = self.text(key)?;
        match parse_date(&v) {
            Ok(d) => Some(d),
            Err(reason) => self.fail(key, reason),
        }
    }

    fn money(&mut self, key: &str) -> Option<Money> {
        let parsed = match self.fields.get(key) {
            Some(Field::Json(Value::Number(n))) => {
                if let Some(i) = n.as_i64() {
                    Money::from_decimal_exact(Decimal::from(i)).map_err(|r| format!("`{n}` {r}"))
                } else {
                    Money::parse(&n.as_f64().map(|f| format!("{f}")).unwrap_or_default())
                }
            }
            _ => {
                let v = self.text(key)?;
                Money::parse(&v)
            }
        };
        match parsed {
            Ok(m) => Some(m),
            Err(reason) => self.fail(key, reason),
        }
    }

    fn positive_money(&mut self, key: &str) -> Option<Money> {
        let m = self.money(key)?;
        if m.is_positive() {
            Some(m)
        } else {
            self.fail(key, format!("must be greater than 0, not {m}"))
        }
    }

    fn parsed<T: FromStr<Err = String>>(&mut self, key: &str) -> Option<T> {
        let v = self.text(key)?;
        match v.parse::<T>() {
            Ok(t) => Some(t),
            Err(reason) => self.fail(key, reason),
        }
    }

    fn parsed_or<T: FromStr<Err = String>>(&mut self, key: &str, default: T) -> Option<T> {
        match self.text_opt(key) {
            None if self.errors.last().is_some_and(|e| e.field == key) => None,
            None => Some(default),
            Some(v) => match v.parse::<T>() {
                Ok(t) => Some(t),
                Err(reason) => self.fail(key, reason),
            },
        }
    }

    fn load_watts(&mut self, key: &str) -> Option<i64> {
        let v = self.text(key)?;
        let parsed = Decimal::from_str(v.trim())
            .ok()
            .filter(|_| !v.contains(['e', 'E', '_']));
        let Some(kw) = parsed else {
            return self.fail(key, format!("`{v}` is not a number"));
        };
        // The scale as written: `2.5000` has four decimal places even though its value has one.
        if kw.scale() > 3 {
            return self.fail(key, format!("`{v}` has more than 3 decimal places"));
        }
        match kw.checked_mul(Decimal::ONE_THOUSAND).map(|w| w.to_i64()) {
            Some(Some(w)) if w > 0 => Some(w),
            Some(Some(_)) => self.fail(key, format!("`{v}` must be greater than 0")),
            _ => self.fail(key, format!("`{v}` is too large")),
        }
    }

    fn mobile(&mut self, key: &str, required: bool) -> Option<Option<String>> {
        let v = if required {
            Some(self.text(key)?)
        } else {
            self.text_opt(key)
        };
        match v {
            None => Some(None),
            Some(v) => match normalize_mobile(&v) {
                Ok(m) => Some(Some(m)),
                Err(reason) => self.fail(key, reason),
            },
        }
    }

    fn period(&mut self, key: &str) -> Option<String> {
        let v = self.text(key)?;
        let valid = crate::state::BillMonth::parse(&v).is_some();
        if valid {
            Some(v)
        } else {
            self.fail(key, format!("`{v}` is not a month of the form YYYY-MM"))
        }
    }

    fn installments(&mut self, key: &str) -> Option<Vec<Installment>> {
        let Some(value) = self.fields.get(key) else {
            return self.fail(key, "is required");
        };
        let Field::Json(Value::Array(items)) = value else {
            return self.fail(key, "must be a list of {\"due_on\", \"amount\"}");
        };
        if items.is_empty() || items.len() > INSTALLMENTS_MAX {
            return self.fail(
                key,
                format!("must have 1 to {INSTALLMENTS_MAX} instalments"),
            );
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let name = format!("{key}[{i}]");
            let Value::Object(map) = item else {
                return self.fail(&name, "must be an object");
            };
            let mut inner = Reader {
                fields: Fields::Json(map),
                errors: Vec::new(),
            };
            for k in map.keys().filter(|k| *k != "due_on" && *k != "amount") {
                inner.errors.push(FieldError::malformed(
                    k.clone(),
                    "is not a key of an instalment",
                ));
            }
            let due_on = inner.date("due_on");
            let amount = inner.positive_money("amount");
            for e in inner.errors {
                self.errors.push(FieldError {
                    field: format!("{name}.{}", e.field),
                    ..e
                });
            }
            if let (Some(due_on), Some(amount)) = (due_on, amount) {
                out.push(Installment { due_on, amount });
            }
        }
        Some(out)
    }

    fn designations(&mut self, key: &str) -> Option<Vec<String>> {
        let list: Vec<String> = match self.fields.get(key) {
            None => return self.fail(key, "is required"),
            Some(Field::Json(Value::Array(items))) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.trim().to_string()),
                        _ => {
                            return self.fail(key, "must be a list of designations such as \"SDO\"")
                        }
                    }
                }
                out
            }
            // CSV cells list designations separated by `;`.
            Some(Field::Json(Value::String(s))) => split_designations(s),
            Some(Field::Text(s)) => split_designations(s),
            Some(_) => return self.fail(key, "must be a list of designations such as \"SDO\""),
        };
        if list.len() > OFFICERS_PRESENT_MAX {
            return self.fail(
                key,
                format!("lists more than {OFFICERS_PRESENT_MAX} officers"),
            );
        }
        for d in &list {
            if d.is_empty()
                || d.len() > 16
                || !d
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            {
                return self.fail(
                    key,
                    format!("`{d}` is not a designation such as SDO, EE or JE"),
                );
            }
        }
        Some(list)
    }
}

/// The designations a CSV cell lists, separated by `;`.
fn split_designations(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Reads the fields of a command of `kind`; `None` for an unknown kind or when a field is
/// refused (the reader holds why).
fn parse_fields(kind: &str, r: &mut Reader) -> Option<Command> {
    match kind {
        "register_office" | "register_consumer" | "register_mobile" => parse_registry(kind, r),
        "issue_bill" | "revise_bill" => parse_bills(kind, r),
        "receive_payment" | "reverse_payment" | "post_adjustment" => parse_payments(kind, r),
        "serve_notice"
        | "disconnect"
        | "reconnect"
        | "permanently_disconnect"
        | "issue_recovery_certificate" => parse_connection(kind, r),
        "raise_dispute" | "resolve_dispute" | "grant_installment_plan" => parse_relief(kind, r),
        "schedule_camp" | "hold_camp" | "register_grievance" | "resolve_grievance" => {
            parse_camps(kind, r)
        }
        "void_action" => parse_correction(r),
        _ => None,
    }
}

/// A correction of an officer's action.
fn parse_correction(r: &mut Reader) -> Option<Command> {
    let account_no = r.account("account_no");
    let action = r.parsed::<LadderAction>("action");
    let action_on = r.date("action_on");
    let voided_on = r.date("voided_on");
    let reason = r.free_text("reason", TEXT_LEN_MAX);
    Some(Command::VoidAction {
        account_no: account_no?,
        action: action?,
        action_on: action_on?,
        voided_on: voided_on?,
        reason: reason?,
    })
}

/// Offices, consumers and their mobiles.
fn parse_registry(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "register_office" => {
            let code = r.office("code");
            let name = r.free_text("name", 100);
            let level = r.parsed::<Level>("level");
            let parent = match r.text_opt("parent") {
                None => Some(None),
                Some(p) => r
                    .check("parent", Some(p), |t| check_code(t, 16, true))
                    .map(Some),
            };
            Command::RegisterOffice {
                code: code?,
                name: name?,
                level: level?,
                parent: parent?,
            }
        }
        "register_consumer" => {
            let account_no = r.account("account_no");
            let name = r.free_text("name", 100);
            let category = r.parsed::<Category>("category");
            let subdivision = r.office("subdivision");
            let load_watts = r.load_watts("load_kw");
            let connected_on = r.date("connected_on");
            let mobile = r.mobile("mobile", false);
            let language = r.parsed_or("language", Language::Hi);
            let address = r.free_text_opt("address", ADDRESS_CHARS_MAX);
            Command::RegisterConsumer {
                account_no: account_no?,
                name: name?,
                category: category?,
                subdivision: subdivision?,
                load_watts: load_watts?,
                connected_on: connected_on?,
                mobile: mobile?,
                language: language?,
                address: address?,
            }
        }
        "register_mobile" => {
            let account_no = r.account("account_no");
            let mobile = r.mobile("mobile", true);
            let registered_on = r.date("registered_on");
            let source = r.parsed::<MobileSource>("source");
            Command::RegisterMobile {
                account_no: account_no?,
                mobile: mobile??,
                registered_on: registered_on?,
                source: source?,
            }
        }
        _ => return None,
    })
}

/// Bills and their revisions.
fn parse_bills(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "issue_bill" => {
            let bill_no = r.identifier("bill_no");
            let account_no = r.account("account_no");
            let period = r.period("period");
            let issued_on = r.date("issued_on");
            let due_on = r.date("due_on");
            let amount = r.positive_money("amount");
            if let (Some(i), Some(d)) = (issued_on, due_on) {
                if d < i {
                    r.fail::<()>("due_on", format!("{d} is before issued_on {i}"));
                }
            }
            Command::IssueBill {
                bill_no: bill_no?,
                account_no: account_no?,
                period: period?,
                issued_on: issued_on?,
                due_on: due_on?,
                amount: amount?,
            }
        }
        "revise_bill" => {
            let bill_no = r.identifier("bill_no");
            let revised_on = r.date("revised_on");
            let new_amount = r.money("new_amount");
            if new_amount.is_some_and(|m| m < Money::ZERO) {
                r.fail::<()>("new_amount", "must not be negative");
            }
            let reason = r.free_text("reason", TEXT_LEN_MAX);
            Command::ReviseBill {
                bill_no: bill_no?,
                revised_on: revised_on?,
                new_amount: new_amount?,
                reason: reason?,
            }
        }
        _ => return None,
    })
}

/// Payments, reversals and adjustments.
fn parse_payments(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "receive_payment" => {
            let receipt_no = r.identifier("receipt_no");
            let account_no = r.account("account_no");
            let amount = r.positive_money("amount");
            let paid_on = r.date("paid_on");
            let channel = r.parsed::<Channel>("channel");
            Command::ReceivePayment {
                receipt_no: receipt_no?,
                account_no: account_no?,
                amount: amount?,
                paid_on: paid_on?,
                channel: channel?,
            }
        }
        "reverse_payment" => {
            let receipt_no = r.identifier("receipt_no");
            let reversed_on = r.date("reversed_on");
            let reason = r.free_text("reason", TEXT_LEN_MAX);
            Command::ReversePayment {
                receipt_no: receipt_no?,
                reversed_on: reversed_on?,
                reason: reason?,
            }
        }
        "post_adjustment" => {
            let adjustment_no = r.identifier("adjustment_no");
            let account_no = r.account("account_no");
            let posted_on = r.date("posted_on");
            let amount = r.money("amount");
            if amount.is_some_and(|m| m.is_zero()) {
                r.fail::<()>(
                    "amount",
                    "must not be 0 (positive: a charge; negative: a credit)",
                );
            }
            let reason = r.free_text("reason", TEXT_LEN_MAX);
            Command::PostAdjustment {
                adjustment_no: adjustment_no?,
                account_no: account_no?,
                posted_on: posted_on?,
                amount: amount?,
                reason: reason?,
            }
        }
        _ => return None,
    })
}

/// Notices served and the connection.
fn parse_connection(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "serve_notice" => {
            let notice_no = r.identifier("notice_no");
            let served_on = r.date("served_on");
            let mode = r.parsed::<NoticeMode>("mode");
            Command::ServeNotice {
                notice_no: notice_no?,
                served_on: served_on?,
                mode: mode?,
            }
        }
        "disconnect" => {
            let account_no = r.account("account_no");
            let on = r.date("on");
            let order_no = r.identifier("order_no");
            Command::Disconnect {
                account_no: account_no?,
                on: on?,
                order_no: order_no?,
            }
        }
        "reconnect" => {
            let account_no = r.account("account_no");
            let on = r.date("on");
            Command::Reconnect {
                account_no: account_no?,
                on: on?,
            }
        }
        "permanently_disconnect" => {
            let account_no = r.account("account_no");
            let on = r.date("on");
            Command::PermanentlyDisconnect {
                account_no: account_no?,
                on: on?,
            }
        }
        "issue_recovery_certificate" => {
            let account_no = r.account("account_no");
            let rc_no = r.identifier("rc_no");
            let on = r.date("on");
            Command::IssueRecoveryCertificate {
                account_no: account_no?,
                rc_no: rc_no?,
                on: on?,
            }
        }
        _ => return None,
    })
}

/// Disputes and instalment plans.
fn parse_relief(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "raise_dispute" => {
            let account_no = r.account("account_no");
            let on = r.date("on");
            let deposit = r.positive_money("deposit");
            let bill_no = r.identifier_opt("bill_no");
            Command::RaiseDispute {
                account_no: account_no?,
                on: on?,
                deposit: deposit?,
                bill_no: bill_no?,
            }
        }
        "resolve_dispute" => {
            let account_no = r.account("account_no");
            let on = r.date("on");
            Command::ResolveDispute {
                account_no: account_no?,
                on: on?,
            }
        }
        "grant_installment_plan" => {
            let plan_id = r.identifier("plan_id");
            let account_no = r.account("account_no");
            let granted_on = r.date("granted_on");
            let installments = r.installments("installments");
            if let (Some(g), Some(list)) = (granted_on, installments.as_ref()) {
                if let Some(early) = list.iter().find(|i| i.due_on < g) {
                    r.fail::<()>(
                        "installments",
                        format!(
                            "an instalment due {} is before granted_on {g}",
                            early.due_on
                        ),
                    );
                }
            }
            Command::GrantInstallmentPlan {
                plan_id: plan_id?,
                account_no: account_no?,
                granted_on: granted_on?,
                installments: installments?,
            }
        }
        _ => return None,
    })
}

/// Camps and grievances.
fn parse_camps(kind: &str, r: &mut Reader) -> Option<Command> {
    Some(match kind {
        "schedule_camp" => {
            let camp_id = r.identifier("camp_id");
            let subdivision = r.office("subdivision");
            let on = r.date("on");
            let venue = r.free_text("venue", TEXT_LEN_MAX);
            Command::ScheduleCamp {
                camp_id: camp_id?,
                subdivision: subdivision?,
                on: on?,
                venue: venue?,
            }
        }
        "hold_camp" => {
            let camp_id = r.identifier("camp_id");
            let held_on = r.date("held_on");
            let officers_present = r.designations("officers_present");
            Command::HoldCamp {
                camp_id: camp_id?,
                held_on: held_on?,
                officers_present: officers_present?,
            }
        }
        "register_grievance" => {
            let grievance_id = r.identifier("grievance_id");
            let subdivision = r.office("subdivision");
            let category = r.parsed::<GrievanceCategory>("category");
            let registered_on = r.date("registered_on");
            let account_no = r.account_opt("account_no");
            let camp_id = r.identifier_opt("camp_id");
            Command::RegisterGrievance {
                grievance_id: grievance_id?,
                subdivision: subdivision?,
                category: category?,
                registered_on: registered_on?,
                account_no: account_no?,
                camp_id: camp_id?,
            }
        }
        "resolve_grievance" => {
            let grievance_id = r.identifier("grievance_id");
            let resolved_on = r.date("resolved_on");
            let note = r.free_text("note", TEXT_LEN_MAX);
            Command::ResolveGrievance {
                grievance_id: grievance_id?,
                resolved_on: resolved_on?,
                note: note?,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_is_named_once_and_its_example_parses_as_that_kind() {
        let mut names: Vec<&str> = COMMAND_KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMAND_KINDS.len());
        for kind in COMMAND_KINDS {
            let value: Value = serde_json::from_str(kind.example).unwrap();
            let command =
                Command::from_json(&value).unwrap_or_else(|e| panic!("{}: {e:?}", kind.name));
            assert_eq!(command.type_name(), kind.name);
            // The example names every key, optional ones too, so it shows the whole shape.
            let shown: Vec<&String> = value.as_object().unwrap().keys().collect();
            assert_eq!(shown.len(), kind.keys.len() + 1, "{}", kind.name);
            if let Some(import) = kind.import {
                assert_eq!(import_command_type(import), Some(kind.name));
            }
            // Officers record actions in the field; feeds carry billing and collection.
            assert!(!(kind.officer && kind.ingest), "{}", kind.name);
        }
    }

    #[test]
    fn parses_the_interfaces_example() {
        let c = Command::from_json(&json!({"type":"receive_payment","receipt_no":"R-0001","account_no":"A1","amount":"700.00","paid_on":"2026-08-10","channel":"upi"})).unwrap();
        assert!(matches!(c, Command::ReceivePayment { amount, .. } if amount.paise() == 70_000));
    }

    #[test]
    fn reports_every_bad_field_by_name() {
        let errors = Command::from_json(&json!({"type":"receive_payment","receipt_no":"R1","account_no":"a1","amount":"1.005","paid_on":"2026-02-30","channel":"upi","extra":1})).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in ["extra", "account_no", "amount", "paid_on"] {
            assert!(fields.contains(&f), "{f} missing from {errors:?}");
        }
        let errors = Command::from_json(&json!({"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-07","issued_on":"2026-07-05","due_on":"2026-07-01","amount":100})).unwrap_err();
        assert_eq!(errors[0].field, "due_on");
        for period in ["2026-+7", "2026-13", "2026-7", "+026-07"] {
            let errors = Command::from_json(&json!({"type":"issue_bill","bill_no":"B1","account_no":"A1","period":period,"issued_on":"2026-07-01","due_on":"2026-07-15","amount":"100.00"})).unwrap_err();
            assert_eq!(errors[0].field, "period", "{period}");
        }
    }

    #[test]
    fn numbers_with_three_decimals_are_rejected() {
        let errors = Command::from_json(&json!({"type":"receive_payment","receipt_no":"R1","account_no":"A1","amount":700.125,"paid_on":"2026-08-10","channel":"upi"})).unwrap_err();
        assert_eq!(errors[0].field, "amount");
        assert!(Command::from_json(&json!({"type":"receive_payment","receipt_no":"R1","account_no":"A1","amount":700.1,"paid_on":"2026-08-10","channel":"upi"})).is_ok());
    }

    #[test]
    fn load_kw_with_more_than_3_decimals_as_written_is_rejected() {
        let consumer = |load_kw: &str| {
            Command::from_json(
                &json!({"type":"register_consumer","account_no":"A1","name":"A",
                "category":"domestic","subdivision":"S1","load_kw":load_kw,"connected_on":"2025-04-01"}),
            )
        };
        for load_kw in ["2.5000", "1.0000"] {
            let errors = consumer(load_kw).unwrap_err();
            assert_eq!(errors[0].field, "load_kw");
            assert!(
                errors[0].reason.contains("more than 3 decimal places"),
                "{errors:?}"
            );
        }
        for (load_kw, watts) in [("2.500", 2500), ("2.5", 2500), ("0.001", 1)] {
            let command = consumer(load_kw).expect(load_kw);
            assert!(
                matches!(command, Command::RegisterConsumer { load_watts, .. } if load_watts == watts),
                "{load_kw}"
            );
        }
    }

    #[test]
    fn amounts_with_trailing_zero_decimals_are_rejected() {
        let errors = Command::from_json(
            &json!({"type":"issue_bill","bill_no":"B1","account_no":"A1",
            "period":"2026-03","issued_on":"2026-03-01","due_on":"2026-03-15","amount":"10.10000"}),
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "amount");
        assert!(
            errors[0].reason.contains("more than 2 decimal places"),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_type_and_missing_keys() {
        assert_eq!(
            Command::from_json(&json!({"type":"pay"})).unwrap_err()[0].field,
            "type"
        );
        let errors = Command::from_json(&json!({"type":"reconnect"})).unwrap_err();
        assert_eq!(errors.len(), 2);
    }
}

/// Reads one JSON text of commands, refusing any object that names a key twice: a plain
/// reading keeps the last of them silently, so `{"amount":"1.00","amount":"900.00"}` would
/// mean whatever the last writer chose. The error names the key, its line and column.
pub fn parse_json(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut checker = serde_json::Deserializer::from_slice(text);
    serde::Deserialize::deserialize(&mut checker).map(|UniqueKeys| ())?;
    checker.end()?;
    serde_json::from_slice(text)
}

/// A JSON value read only to check that no object names a key twice.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<UniqueKeys, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_none<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<UniqueKeys, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` is given twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
            seen.insert(key);
        }
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod unique_keys_tests {
    use super::parse_json;

    #[test]
    fn a_key_given_twice_is_refused_by_name() {
        let e = parse_json(br#"{"type":"x","amount":"1.00","amount":"900.00"}"#).unwrap_err();
        assert!(e.to_string().contains("`amount` is given twice"), "{e}");
        let e = parse_json(br#"[{"a":1},{"b":{"c":1,"c":2}}]"#).unwrap_err();
        assert!(e.to_string().contains("`c`"), "{e}");
        let v = parse_json(br#"[{"a":1,"b":[1,2.5,null,true]},{"a":"x"}]"#).unwrap();
        assert_eq!(v[1]["a"], "x");
        assert!(parse_json(br#"{"a":1} x"#).is_err());
    }
}
