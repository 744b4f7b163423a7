//! SMS texts: templates with `{#var#}` variables, and the encoding and part count of a text.
//!
//! GSM-7 carries 160 characters in one part and 153 per part beyond; a text with any
//! character outside GSM-7 (Devanagari, for one) goes as UCS-2: 70 in one part, 67 beyond.
//! Characters of the GSM-7 extension table take two septets.

use crate::policy::SmsTemplate;
use std::collections::BTreeMap;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

impl SmsEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "gsm7",
            SmsEncoding::Ucs2 => "ucs2",
        }
    }
}

/// The encoding a text needs and how many parts it is sent in.
pub fn encoding_and_parts(text: &str) -> (SmsEncoding, u32) {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    if gsm {
        (SmsEncoding::Gsm7, parts(septets, 160, 153))
    } else {
        // UCS-2 counts UTF-16 code units.
        let units = text.encode_utf16().count();
        (SmsEncoding::Ucs2, parts(units, 70, 67))
    }
}

fn parts(units: usize, single: usize, per_part: usize) -> u32 {
    if units <= single {
        1
    } else {
        units.div_ceil(per_part) as u32
    }
}

/// Fills `{#name#}` variables; an unknown variable is left as it stands.
pub fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut text = template.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("{{#{name}#}}"), value);
    }
    text
}

/// The values of a template's `{#name#}` variables in a text rendered from it, in the
/// template's order; `None` when the text is not the template's. Each literal piece between
/// variables is matched at its first occurrence after the previous one.
pub fn template_variables(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    // The template as literal, name, literal, name, ..., literal.
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{#") {
        let Some(len) = rest[start + 2..].find("#}") else {
            break;
        };
        literals.push(&rest[..start]);
        names.push(&rest[start + 2..start + 2 + len]);
        rest = &rest[start + 2 + len + 2..];
    }
    literals.push(rest);
    let mut at = text.strip_prefix(literals[0])?;
    let last = literals.len() - 1;
    let mut values = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let next = literals[i + 1];
        let end = if i + 1 == last {
            if !at.ends_with(next) {
                return None;
            }
            at.len() - next.len()
        } else if next.is_empty() {
            // Two variables side by side: the first takes nothing it cannot be told from.
            0
        } else {
            at.find(next)?
        };
        values.push((name.to_string(), at[..end].to_string()));
        at = &at[end + next.len()..];
    }
    (names.is_empty() && at.is_empty() || !names.is_empty()).then_some(values)
}

fn template(hi: &str, en: &str, id: &str) -> SmsTemplate {
    SmsTemplate {
        hi: hi.to_string(),
        en: en.to_string(),
        dlt_template_id: id.to_string(),
    }
}

/// The built-in templates; a policy file may replace any of them.
pub fn default_templates() -> BTreeMap<String, SmsTemplate> {
    let mut t = BTreeMap::new();
    t.insert("bill".into(), template(
        "प्रिय उपभोक्ता, खाता {#account#} का बिल {#period#} राशि रु {#amount#}, देय तिथि {#due#}। ऑनलाइन भुगतान करें। UPCL",
        "Dear consumer, bill for a/c {#account#} for {#period#}: Rs {#amount#}, due {#due#}. Pay online. UPCL",
        "1107160000000000001",
    ));
    t.insert("reminder".into(), template(
        "खाता {#account#}: रु {#amount#} का भुगतान {#due#} तक करें, विलंब शुल्क से बचें। UPCL",
        "A/c {#account#}: please pay Rs {#amount#} by {#due#} to avoid late payment surcharge. UPCL",
        "1107160000000000002",
    ));
    t.insert("receipt".into(), template(
        "खाता {#account#}: रु {#amount#} का भुगतान {#date#} को प्राप्त हुआ, रसीद {#receipt#}। धन्यवाद। UPCL",
        "A/c {#account#}: payment of Rs {#amount#} received on {#date#}, receipt {#receipt#}. Thank you. UPCL",
        "1107160000000000003",
    ));
    t.insert("notice".into(), template(
        "खाता {#account#}: बकाया रु {#amount#}। नोटिस {#notice#}, विद्युत अधिनियम 2003 धारा 56 के अंतर्गत 15 दिन में भुगतान न करने पर संयोजन विच्छेदित किया जा सकता है। UPCL",
        "A/c {#account#}: arrears Rs {#amount#}. Notice {#notice#} under s.56 Electricity Act 2003: supply may be disconnected if unpaid in 15 days. UPCL",
        "1107160000000000004",
    ));
    t.insert(
        "disconnection".into(),
        template(
            "खाता {#account#}: बकाया रु {#amount#} के कारण संयोजन {#date#} को विच्छेदित। UPCL",
            "A/c {#account#}: supply disconnected on {#date#} for arrears of Rs {#amount#}. UPCL",
            "1107160000000000005",
        ),
    );
    t.insert(
        "reconnection".into(),
        template(
            "खाता {#account#}: संयोजन {#date#} को पुनः जोड़ा गया। UPCL",
            "A/c {#account#}: supply reconnected on {#date#}. UPCL",
            "1107160000000000006",
        ),
    );
    t.insert("camp".into(), template(
        "{#date#} को {#venue#} में बिजली शिविर: नए संयोजन, मीटर व बिल की शिकायतें सुनी जाएंगी। UPCL",
        "Electricity camp at {#venue#} on {#date#}: new connections, metering and billing complaints. UPCL",
        "1107160000000000007",
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notice SMS says the same in both languages: supply *may* be disconnected (s.56
    /// allows it; it does not order it).
    #[test]
    fn the_notice_message_says_may_in_both_languages() {
        let templates = default_templates();
        let notice = templates
            .values()
            .find(|t| t.en.contains("Notice {#notice#}"))
            .expect("a notice template");
        assert!(notice.en.contains("may be disconnected"), "{}", notice.en);
        assert!(notice.hi.contains("किया जा सकता है"), "{}", notice.hi);
        assert!(!notice.hi.contains("किया जाएगा"), "{}", notice.hi);
    }

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(encoding_and_parts(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(encoding_and_parts(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(encoding_and_parts(&"a".repeat(306)), (SmsEncoding::Gsm7, 2));
        assert_eq!(encoding_and_parts(&"a".repeat(307)), (SmsEncoding::Gsm7, 3));
        // An extension character takes two septets.
        assert_eq!(
            encoding_and_parts(&format!("{}€", "a".repeat(158))),
            (SmsEncoding::Gsm7, 1)
        );
        assert_eq!(
            encoding_and_parts(&format!("{}€", "a".repeat(159))),
            (SmsEncoding::Gsm7, 2)
        );
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(encoding_and_parts(&"क".repeat(70)), (SmsEncoding::Ucs2, 1));
        assert_eq!(encoding_and_parts(&"क".repeat(71)), (SmsEncoding::Ucs2, 2));
        assert_eq!(encoding_and_parts(&"क".repeat(134)), (SmsEncoding::Ucs2, 2));
        assert_eq!(encoding_and_parts(&"क".repeat(135)), (SmsEncoding::Ucs2, 3));
        assert_eq!(
            encoding_and_parts(&format!("{}क", "a".repeat(69))),
            (SmsEncoding::Ucs2, 1)
        );
    }

    #[test]
    fn reads_variables_back_from_a_text() {
        let template = "a/c {#account#} Rs {#amount#}. UPCL";
        let text = render(
            template,
            &[("account", "A1".into()), ("amount", "5.00".into())],
        );
        assert_eq!(
            template_variables(template, &text),
            Some(vec![
                ("account".to_string(), "A1".to_string()),
                ("amount".to_string(), "5.00".to_string())
            ])
        );
        assert_eq!(template_variables(template, "something else"), None);
        assert_eq!(template_variables("fixed", "fixed"), Some(vec![]));
        assert_eq!(template_variables("fixed", "fixed!"), None);
        let camp = "Camp at {#venue#} on {#date#}.";
        let long = "Community Hall, Rishikesh Road, Ward 12";
        let vars = template_variables(camp, &format!("Camp at {long} on 2026-07-01.")).unwrap();
        assert_eq!(vars[0].1, long);
        assert_eq!(vars[1].1, "2026-07-01");
    }

    #[test]
    fn renders_variables() {
        let text = render(
            "a/c {#account#} Rs {#amount#}",
            &[("account", "A1".into()), ("amount", "5.00".into())],
        );
        assert_eq!(text, "a/c A1 Rs 5.00");
    }
}
