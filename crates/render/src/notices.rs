//! Printable notices: one self-contained HTML file per worklist, one page per consumer, in
//! Hindi or English by the consumer's language, with the s.56 wording, the amount, the
//! deadline, the office and the notice number. Nothing is loaded from another host.

use crate::escape;
use chrono::{Days, NaiveDate};
use vasooli_domain::types::Language;
use vasooli_domain::{Policy, World};
use vasooli_projections::lists::ConsumerRow;

pub fn render_notices(
    world: &World,
    policy: &Policy,
    rows: &[ConsumerRow],
    date: NaiveDate,
) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Notices</title><style>\
body{font-family:'Noto Sans Devanagari','Noto Sans','Lohit Devanagari',sans-serif;margin:0}\
.page{page-break-after:always;padding:2.5cm 2cm;max-width:18cm}\
h1{font-size:1.3em;text-align:center}table{border-collapse:collapse}td{padding:2px 8px}\
.amount{font-size:1.4em;font-weight:bold}.letterhead{text-align:center;margin-bottom:1em}\
.to{margin:1em 0}</style></head><body>\n",
    );
    for row in rows {
        let office = world
            .offices
            .get(&row.subdivision)
            .map_or(row.subdivision.clone(), |o| o.name.clone());
        let notice = row.notice_no.clone().unwrap_or_else(|| "—".into());
        let address = world
            .consumer(&row.account_no)
            .and_then(|c| c.address.map(|a| a.to_string()))
            .unwrap_or_default();
        let utility = &policy.utility;
        let licensee = match row.language {
            Language::Hi => &utility.name_hi,
            Language::En => &utility.name,
        };
        let letterhead = format!(
            "<header class=\"letterhead\"><b>{licensee}</b>{address}<br>{office}</header>",
            licensee = escape(licensee),
            address = if utility.address.is_empty() {
                String::new()
            } else {
                format!("<br>{}", escape(&utility.address))
            },
            office = escape(&office),
        );
        let to = format!(
            "<p class=\"to\">{name}<br>{address}</p>",
            name = escape(&row.name),
            address = escape(&address)
        );
        let served = row.notice_served_on.unwrap_or(date);
        let deadline = served + Days::new(policy.notice.clear_days.max(0) as u64);
        let (title, body) = match row.language {
            Language::Hi => (
                "विद्युत अधिनियम 2003 की धारा 56(1) के अंतर्गत नोटिस",
                format!(
                    "<p>प्रिय {name} (खाता संख्या {account}),</p>\
<p>आपके विद्युत संयोजन पर दिनांक {date} तक <span class=\"amount\">₹ {amount}</span> की बकाया राशि देय है, जो {oldest} से लंबित है।</p>\
<p>विद्युत अधिनियम 2003 की धारा 56(1) के अंतर्गत आपको सूचित किया जाता है कि यदि यह राशि इस नोटिस की तामील से {clear} स्पष्ट दिनों के भीतर, अर्थात {deadline} तक, जमा नहीं की गई, तो आपकी विद्युत आपूर्ति बिना किसी अन्य सूचना के विच्छेदित की जा सकती है।</p>\
<p>यदि आप बिल से असहमत हैं, तो विवादित राशि विरोध के अंतर्गत जमा कर शिकायत दर्ज कर सकते हैं।</p>\
<p>नोटिस संख्या: <b>{notice}</b><br>कार्यालय: {office}</p><p>उपखंड अधिकारी</p>",
                    name = escape(&row.name), account = row.account_no, date = date, amount = row.overdue_arrears,
                    oldest = row.oldest_due_on.map(|d| d.to_string()).unwrap_or_default(), deadline = deadline,
                    notice = escape(&notice), office = escape(&office), clear = policy.notice.clear_days
                ),
            ),
            Language::En => (
                "Notice under Section 56(1) of the Electricity Act, 2003",
                format!(
                    "<p>Dear {name} (account {account}),</p>\
<p>As of {date}, arrears of <span class=\"amount\">₹ {amount}</span> are due on your electricity connection, outstanding since {oldest}.</p>\
<p>Under Section 56(1) of the Electricity Act, 2003, you are hereby given notice that if this sum is not paid within {clear} clear days of the service of this notice, that is by {deadline}, your supply may be disconnected without further notice.</p>\
<p>If you dispute the bill, you may deposit the amount under protest and raise a complaint.</p>\
<p>Notice number: <b>{notice}</b><br>Office: {office}</p><p>Sub-Divisional Officer</p>",
                    name = escape(&row.name), account = row.account_no, date = date, amount = row.overdue_arrears,
                    oldest = row.oldest_due_on.map(|d| d.to_string()).unwrap_or_default(), deadline = deadline,
                    notice = escape(&notice), office = escape(&office), clear = policy.notice.clear_days
                ),
            ),
        };
        html.push_str(&format!(
            "<section class=\"page\" lang=\"{lang}\">{letterhead}<h1>{title}</h1>{to}{body}</section>\n",
            lang = row.language.as_str()
        ));
    }
    html.push_str("</body></html>\n");
    html
}
