//! The papers of the recovery ladder as one self-contained HTML file, one paper per printed
//! page: the s.56 notice, the disconnection order, the reconnection order, the notice of
//! permanent disconnection and the requisition to the Collector. Each is written wholly in
//! the consumer's language (Hindi or English) and carries the licensee's letterhead, the
//! paper's number and date, the consumer's name, address and account, the bill-wise
//! breakdown of the sum, the sum in figures and in words (Hindi and English), the legal text,
//! the deposit allowed under protest, a UPI code for the exact sum where the policy names a
//! UPI address, the signing office and a tear-off acknowledgement of service.
//!
//! What a paper says is decided in `vasooli_projections::documents`; this module only writes
//! it. Nothing is loaded from another host: the style is inline and the QR code is inline SVG.

use crate::escape;
use crate::upi;
use crate::words::{date as dmy, in_words_en, in_words_hi, rupees};
use chrono::NaiveDate;
use vasooli_domain::types::{Language, NoticeMode, WorklistKind};
use vasooli_domain::{Money, Policy, World};
use vasooli_projections::documents::{
    self, BreakdownItem, Document, DocumentKind, NoDocuments, NoticeFacts,
};
use vasooli_projections::lists::ConsumerRow;

/// The papers of a worklist's rows as one HTML file, or the reason the list has none.
pub fn render_notices(
    world: &World,
    policy: &Policy,
    kind: WorklistKind,
    rows: &[ConsumerRow],
    date: NaiveDate,
) -> Result<String, NoDocuments> {
    let papers = documents::documents(world, policy, kind, rows, date)?;
    let document_kind = DocumentKind::for_worklist(kind).ok_or(NoDocuments(kind))?;
    Ok(render_documents(policy, document_kind, &papers))
}

const STYLE: &str = "\
@page{size:A4;margin:8mm 12mm}\
body{font-family:'Noto Sans Devanagari','Noto Sans','Lohit Devanagari',sans-serif;\
font-size:9.5pt;line-height:1.3;margin:0;color:#000}\
.page{page-break-after:always;break-after:page;max-width:18.2cm;margin:0 auto}\
.page:last-of-type{page-break-after:auto;break-after:auto}\
.letterhead{text-align:center;border-bottom:2px solid #000;padding-bottom:4px}\
.letterhead b{font-size:1.35em}\
.ref{display:flex;justify-content:space-between;margin:6px 0}\
h1{font-size:1.2em;text-align:center;margin:6px 0}\
p{margin:4px 0;text-align:justify}\
.to{margin:4px 0}\
table.breakdown{border-collapse:collapse;width:100%;font-size:0.9em;margin:4px 0}\
.breakdown th,.breakdown td{border:1px solid #000;padding:1px 5px}\
.breakdown td{white-space:nowrap}.breakdown th{font-weight:600}\
.breakdown td.num,.breakdown th.num{text-align:right;white-space:nowrap}\
.breakdown tfoot td{font-weight:bold}\
.sum{border:1px solid #000;padding:4px 8px;margin:6px 0}\
.sum .figure{font-size:1.3em;font-weight:bold}\
.other{font-size:0.9em}\
.foot{display:flex;justify-content:space-between;align-items:flex-end;margin-top:4px;\
break-inside:avoid}\
.pay{display:flex;align-items:center;gap:8px;max-width:60%;font-size:0.85em}\
.upi-qr{width:3cm;height:3cm;flex:none}\
.sign{text-align:center;min-width:5.5cm}\
.sign .blank{height:1cm}\
.tear{border-top:1px dashed #000;margin-top:6px;padding-top:4px;font-size:0.88em;\
break-inside:avoid}\
.tear .cut{text-align:center;font-size:0.85em;margin-bottom:2px}\
.tear .line{display:inline-block;min-width:4cm;border-bottom:1px dotted #000}\
.none{margin:2cm}";

/// The papers as one HTML file.
pub fn render_documents(policy: &Policy, kind: DocumentKind, papers: &[Document]) -> String {
    let title = match kind {
        DocumentKind::Notice => "Notices under Section 56(1) · धारा 56(1) के नोटिस",
        DocumentKind::DisconnectionOrder => "Disconnection orders · विच्छेदन आदेश",
        DocumentKind::ReconnectionOrder => "Reconnection orders · पुनः संयोजन आदेश",
        DocumentKind::PermanentDisconnectionNotice => {
            "Permanent disconnection notices · स्थायी विच्छेदन सूचनाएँ"
        }
        DocumentKind::RecoveryRequisition => {
            "Requisitions for recovery as arrears of land revenue · वसूली अधियाचनाएँ"
        }
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>{STYLE}</style></head><body>\n"
    );
    if papers.is_empty() {
        html.push_str(
            "<p class=\"none\">No documents: no consumer on this list has a sum to print. \
· इस सूची में मुद्रण हेतु कोई दस्तावेज़ नहीं है।</p>\n",
        );
    }
    for paper in papers {
        html.push_str(&page(policy, paper));
    }
    html.push_str("</body></html>\n");
    html
}

/// The words of one language.
struct Words {
    hindi: bool,
}

impl Words {
    fn pick<'a>(&self, en: &'a str, hi: &'a str) -> &'a str {
        if self.hindi {
            hi
        } else {
            en
        }
    }
}

fn page(policy: &Policy, d: &Document) -> String {
    let w = Words {
        hindi: d.language == Language::Hi,
    };
    let utility = &policy.utility;
    let licensee = escape(w.pick(&utility.name, &utility.name_hi));
    let letterhead = format!(
        "<header class=\"letterhead\"><b>{licensee}</b>{address}<br>{office}</header>",
        address = if utility.address.is_empty() {
            String::new()
        } else {
            format!("<br>{}", escape(&utility.address))
        },
        office = escape(&office_line(&w, d)),
    );
    let reference = format!(
        "<div class=\"ref\"><span>{no}: <b>{number}</b></span><span>{dated}: <b>{date}</b></span></div>",
        no = w.pick("No.", "संख्या"),
        number = escape(&d.number),
        dated = w.pick("Date", "दिनांक"),
        date = dmy(d.dated),
    );
    let title = title(&w, d.kind);
    let body = match d.kind {
        DocumentKind::Notice => notice_body(&w, d, &licensee),
        DocumentKind::DisconnectionOrder => disconnection_body(&w, d),
        DocumentKind::ReconnectionOrder => reconnection_body(&w, d),
        DocumentKind::PermanentDisconnectionNotice => permanent_body(&w, d, &licensee),
        DocumentKind::RecoveryRequisition => requisition_body(&w, d, &licensee),
    };
    let pay = pay_block(&w, policy, d);
    let sign = signature(&w, d, &licensee);
    let tear = acknowledgement(&w, d);
    format!(
        "<section class=\"page\" lang=\"{lang}\" data-document=\"{kind}\" data-account=\"{account}\">\
{letterhead}{reference}<h1>{title}</h1>{to}{body}\
<div class=\"foot\">{pay}{sign}</div>{tear}</section>\n",
        lang = d.language.as_str(),
        kind = kind_code(d.kind),
        account = escape(&d.account_no),
        to = addressee(&w, d),
    )
}

fn kind_code(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Notice => "notice",
        DocumentKind::DisconnectionOrder => "disconnection_order",
        DocumentKind::ReconnectionOrder => "reconnection_order",
        DocumentKind::PermanentDisconnectionNotice => "permanent_disconnection_notice",
        DocumentKind::RecoveryRequisition => "recovery_requisition",
    }
}

fn title(w: &Words, kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Notice => w.pick(
            "Notice under Section 56(1) of the Electricity Act, 2003",
            "विद्युत अधिनियम, 2003 की धारा 56(1) के अंतर्गत नोटिस",
        ),
        DocumentKind::DisconnectionOrder => w.pick(
            "Order of Disconnection of Supply under Section 56(1) of the Electricity Act, 2003",
            "विद्युत अधिनियम, 2003 की धारा 56(1) के अंतर्गत विद्युत विच्छेदन आदेश",
        ),
        DocumentKind::ReconnectionOrder => w.pick(
            "Order of Reconnection of Supply",
            "विद्युत आपूर्ति पुनः संयोजन आदेश",
        ),
        DocumentKind::PermanentDisconnectionNotice => w.pick(
            "Notice of Permanent Disconnection",
            "स्थायी विद्युत विच्छेदन का नोटिस",
        ),
        DocumentKind::RecoveryRequisition => w.pick(
            "Requisition for Recovery of Electricity Dues as Arrears of Land Revenue",
            "विद्युत देयकों की भू-राजस्व के बकाये की भाँति वसूली हेतु अधियाचना",
        ),
    }
}

/// The issuing office: the subdivision (the division for a requisition).
fn office_line(w: &Words, d: &Document) -> String {
    let i = &d.issuer;
    match d.kind {
        DocumentKind::RecoveryRequisition => format!(
            "{}: {}",
            w.pick("Office of the Executive Engineer", "अधिशासी अभियंता कार्यालय"),
            i.division_name
        ),
        _ => format!(
            "{}: {} ({}){}",
            w.pick(
                "Office of the Sub-Divisional Officer",
                "उपखंड अधिकारी कार्यालय"
            ),
            i.subdivision_name,
            i.subdivision_code,
            if i.division_name.is_empty() {
                String::new()
            } else {
                format!(", {}", i.division_name)
            }
        ),
    }
}

fn consumer_lines(w: &Words, d: &Document) -> String {
    format!(
        "<b>{name}</b>{address}<br>{account}: <b>{no}</b> · {category}: {cat}",
        name = escape(&d.name),
        address = d
            .address
            .as_ref()
            .map(|a| format!("<br>{}", escape(a)))
            .unwrap_or_default(),
        account = w.pick("Account No.", "खाता संख्या"),
        no = escape(&d.account_no),
        category = w.pick("Category", "श्रेणी"),
        cat = escape(category(w, &d.category)),
    )
}

/// A consumer category as the paper's language names it.
fn category<'a>(w: &Words, code: &'a str) -> &'a str {
    match code {
        "domestic" => w.pick("Domestic", "घरेलू"),
        "non_domestic" => w.pick("Non-domestic", "गैर-घरेलू"),
        "government" => w.pick("Government", "सरकारी"),
        "agriculture" => w.pick("Agriculture", "कृषि"),
        "industrial" => w.pick("Industrial", "औद्योगिक"),
        "other" => w.pick("Other", "अन्य"),
        other => other,
    }
}

fn addressee(w: &Words, d: &Document) -> String {
    match d.kind {
        DocumentKind::RecoveryRequisition => format!(
            "<p class=\"to\">{to}<br>{collector}</p><p>{about}:<br>{consumer}</p>",
            to = w.pick("To,", "सेवा में,"),
            collector = w.pick(
                "The Collector (recovery of arrears of land revenue)",
                "जिलाधिकारी (कलेक्टर) (भू-राजस्व के बकाये की वसूली)",
            ),
            about = w.pick(
                "Particulars of the defaulting consumer",
                "बकायेदार उपभोक्ता का विवरण"
            ),
            consumer = consumer_lines(w, d),
        ),
        _ => format!(
            "<p class=\"to\">{to}<br>{consumer}</p>",
            to = w.pick("To,", "सेवा में,"),
            consumer = consumer_lines(w, d),
        ),
    }
}

/// The sum in figures (with its plain value for machines) and in words, the document's
/// language first.
fn sum(w: &Words, label: &str, amount: Money) -> String {
    let (first, second) = if w.hindi {
        (in_words_hi(amount), in_words_en(amount))
    } else {
        (in_words_en(amount), in_words_hi(amount))
    };
    format!(
        "<div class=\"sum\">{label}: <data class=\"figure\" value=\"{amount}\">{figure}</data><br>\
{in_words}: <b>{first}</b><br><span class=\"other\">({second})</span></div>",
        figure = rupees(amount),
        in_words = w.pick("In words", "शब्दों में"),
    )
}

/// `07-2026` for the bill month `2026-07`.
fn month(period: &str) -> String {
    match period.split_once('-') {
        Some((year, month)) => format!("{month}-{year}"),
        None => period.to_string(),
    }
}

fn breakdown(w: &Words, d: &Document) -> String {
    let num = |m: Money| format!("<td class=\"num\">{}</td>", crate::words::grouped(m));
    let mut rows = String::new();
    for item in &d.breakdown {
        let cells = breakdown_cells(w, item);
        let total = num(item.total());
        rows.push_str(&format!("<tr>{cells}{total}</tr>"));
    }
    if d.breakdown.is_empty() {
        rows.push_str(&format!(
            "<tr><td colspan=\"7\">{}</td></tr>",
            w.pick("Nil: nothing is overdue.", "शून्य: कोई राशि अतिदेय नहीं है।")
        ));
    }
    let (principal, surcharge) = breakdown_totals(d);
    let head = breakdown_head(w);
    format!(
        "<table class=\"breakdown\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>\
<tfoot><tr><td colspan=\"4\">{total}</td>{p}{s}{t}</tr></tfoot></table>",
        total = w.pick("Total", "कुल योग"),
        p = num(principal),
        s = num(surcharge),
        t = num(d.amount),
    )
}

/// The cells of one row of the breakdown, before its total.
fn breakdown_cells(w: &Words, item: &BreakdownItem) -> String {
    let num = |m: Money| format!("<td class=\"num\">{}</td>", crate::words::grouped(m));
    match item {
        BreakdownItem::Bill {
            bill_no,
            period,
            due_on,
            billed,
            principal_unpaid,
            surcharge_unpaid,
        } => format!(
            "<td>{}</td><td>{}</td><td>{}</td>{}{}{}",
            escape(bill_no),
            month(period),
            dmy(*due_on),
            num(*billed),
            num(*principal_unpaid),
            num(*surcharge_unpaid)
        ),
        BreakdownItem::OlderBills {
            count,
            first_period,
            last_period,
            billed,
            principal_unpaid,
            surcharge_unpaid,
        } => format!(
            "<td colspan=\"3\">{}</td>{}{}{}",
            if w.hindi {
                format!(
                    "{count} पुराने बिल ({} से {})",
                    month(first_period),
                    month(last_period)
                )
            } else {
                format!(
                    "{count} older bills ({} to {})",
                    month(first_period),
                    month(last_period)
                )
            },
            num(*billed),
            num(*principal_unpaid),
            num(*surcharge_unpaid)
        ),
        BreakdownItem::Adjustment {
            adjustment_no,
            due_on,
            unpaid,
        } => format!(
            "<td colspan=\"2\">{} {}</td><td>{}</td>{}{}<td class=\"num\">—</td>",
            w.pick("Debit adjustment", "डेबिट समायोजन"),
            escape(adjustment_no),
            dmy(*due_on),
            num(*unpaid),
            num(*unpaid)
        ),
        BreakdownItem::RecordedLater { amount } => format!(
            "<td colspan=\"5\">{}</td>{}",
            w.pick(
                "Entries dated on or before the notice but recorded after it was issued",
                "नोटिस की तिथि तक की, उसके जारी होने के बाद दर्ज प्रविष्टियाँ",
            ),
            num(*amount)
        ),
    }
}

/// The principal and the surcharge unpaid over the breakdown's rows.
fn breakdown_totals(d: &Document) -> (Money, Money) {
    let principal: Money = d
        .breakdown
        .iter()
        .map(|i| match i {
            BreakdownItem::Bill {
                principal_unpaid, ..
            }
            | BreakdownItem::OlderBills {
                principal_unpaid, ..
            } => *principal_unpaid,
            BreakdownItem::Adjustment { unpaid, .. } => *unpaid,
            BreakdownItem::RecordedLater { amount } => *amount,
        })
        .sum();
    let surcharge: Money = d
        .breakdown
        .iter()
        .map(|i| match i {
            BreakdownItem::Bill {
                surcharge_unpaid, ..
            }
            | BreakdownItem::OlderBills {
                surcharge_unpaid, ..
            } => *surcharge_unpaid,
            _ => Money::ZERO,
        })
        .sum();
    (principal, surcharge)
}

/// The breakdown's header row.
fn breakdown_head(w: &Words) -> String {
    let head = if w.hindi {
        [
            "बिल संख्या",
            "माह",
            "देय तिथि",
            "बिल राशि",
            "बकाया मूल राशि",
            "विलंब अधिभार",
            "कुल",
        ]
    } else {
        [
            "Bill No.",
            "Month",
            "Due date",
            "Billed (₹)",
            "Principal unpaid (₹)",
            "Surcharge (₹)",
            "Total (₹)",
        ]
    };
    head.iter()
        .enumerate()
        .map(|(i, h)| {
            if i >= 3 {
                format!("<th class=\"num\">{h}</th>")
            } else {
                format!("<th>{h}</th>")
            }
        })
        .collect()
}

fn mode(w: &Words, mode: Option<NoticeMode>) -> &'static str {
    match mode {
        Some(NoticeMode::Hand) => w.pick("by hand", "व्यक्तिगत रूप से"),
        Some(NoticeMode::Post) => w.pick("by post", "डाक द्वारा"),
        Some(NoticeMode::Affixed) => w.pick("by affixing it at the premises", "परिसर पर चस्पा कर"),
        None => "",
    }
}

fn deposit(w: &Words, d: &Document, before: &str) -> String {
    if w.hindi {
        format!(
            "<p><b>विरोध के अंतर्गत जमा:</b> यदि आप इस माँग से असहमत हैं, तो इसी अवधि में \
{dep} ({dep_words}) विरोध के अंतर्गत जमा कर अपनी शिकायत इस कार्यालय में दर्ज कराने पर, विवाद के \
निपटारे तक आपूर्ति विच्छेदित नहीं की जाएगी। यह राशि माँगी गई राशि तथा {before} पूर्व के छह माह के \
औसत मासिक विद्युत देयक ({avg}) में से जो कम हो, वह है।</p>",
            dep = rupees(d.deposit_under_protest),
            dep_words = in_words_hi(d.deposit_under_protest),
            avg = rupees(d.average_monthly_charges),
        )
    } else {
        format!(
            "<p><b>Deposit under protest:</b> if you dispute this demand, the supply will not be \
cut off, pending the disposal of the dispute, if within the same period you deposit under protest \
{dep} ({dep_words}) and file your complaint with this office. This is the lesser of the sum \
claimed and the average monthly charge for electricity over the six months before {before} \
({avg}).</p>",
            dep = rupees(d.deposit_under_protest),
            dep_words = in_words_en(d.deposit_under_protest),
            avg = rupees(d.average_monthly_charges),
        )
    }
}

/// "within N clear days after service", with the date when the paper has been served.
fn deadline(w: &Words, clear_days: i64, notice: Option<&NoticeFacts>) -> String {
    let by = notice.and_then(|n| n.pay_by);
    if w.hindi {
        format!(
            "इस {paper} की तामील की तिथि के पश्चात {clear_days} स्पष्ट दिनों के भीतर{by}",
            paper = "नोटिस",
            by = by
                .map(|d| format!(", अर्थात दिनांक {} तक,", dmy(d)))
                .unwrap_or_default()
        )
    } else {
        format!(
            "within {clear_days} clear days after the date on which this notice is served on you{by}",
            by = by
                .map(|d| format!(", that is on or before {},", dmy(d)))
                .unwrap_or_else(|| ",".to_string())
        )
    }
}

fn counted_from_service(w: &Words, clear_days: i64) -> String {
    if w.hindi {
        format!(
            "ये {clear_days} दिन नीचे की पावती में अंकित तामील की तिथि से गिने जाएँगे, इस नोटिस की \
तिथि अथवा मुद्रण की तिथि से नहीं।"
        )
    } else {
        format!(
            "The {clear_days} days are counted from the date of service entered in the \
acknowledgement below, not from the date of this notice or of its printing."
        )
    }
}

fn notice_body(w: &Words, d: &Document, licensee: &str) -> String {
    let issued = dmy(d.dated);
    let intro = if w.hindi {
        format!(
            "<p class=\"subject\"><b>विषय:</b> बकाया विद्युत देयकों की माँग एवं विद्युत विच्छेदन की सूचना।</p>\
<p>उपर्युक्त संयोजन (खाता संख्या {acc}) पर आपूर्ति की गई विद्युत के देयक, कुल {amount} ({words}), \
दिनांक {issued} को देय एवं अदत्त थे, जिनका बिलवार विवरण नीचे दिया गया है:</p>",
            acc = escape(&d.account_no),
            amount = rupees(d.amount),
            words = in_words_hi(d.amount),
        )
    } else {
        format!(
            "<p class=\"subject\"><b>Subject:</b> Demand for arrears of electricity charges and \
notice of disconnection.</p><p>Charges for electricity supplied to the above connection (account \
{acc}) amounting to {amount} ({words}) were due and unpaid on {issued}, as detailed bill by bill \
below:</p>",
            acc = escape(&d.account_no),
            amount = rupees(d.amount),
            words = in_words_en(d.amount),
        )
    };
    let legal = if w.hindi {
        format!(
            "<p>विद्युत अधिनियम, 2003 की धारा 56(1) के अंतर्गत आपको सूचित किया जाता है कि यदि उक्त राशि \
{within} जमा नहीं की गई, तो आपके परिसर की विद्युत आपूर्ति बिना किसी अन्य सूचना के विच्छेदित कर दी जाएगी \
और तब तक विच्छेदित रहेगी जब तक उक्त राशि, विच्छेदन एवं पुनः संयोजन के व्यय सहित, जमा नहीं कर दी जाती। \
{counted}</p>",
            within = deadline(w, d.clear_days, d.notice.as_ref()),
            counted = counted_from_service(w, d.clear_days),
        )
    } else {
        format!(
            "<p>You are hereby given notice under Section 56(1) of the Electricity Act, 2003 that \
unless the said sum is paid {within} the supply of electricity to your premises will be cut off \
without further notice, and kept cut off until the sum, together with the expenses of \
disconnection and reconnection, is paid. {counted}</p>",
            within = deadline(w, d.clear_days, d.notice.as_ref()),
            counted = counted_from_service(w, d.clear_days),
        )
    };
    let payment = if w.hindi {
        format!(
            "<p>भुगतान {licensee} के किसी भी कैश काउंटर पर, ऑनलाइन, अथवा इस नोटिस पर छपे कोड को किसी \
UPI ऐप से स्कैन करके किया जा सकता है।</p>"
        )
    } else {
        format!(
            "<p>Payment may be made at any cash counter of {licensee}, online, or by scanning the \
code on this notice with any UPI app.</p>"
        )
    };
    format!(
        "{intro}{table}{sum}{legal}{deposit}{payment}",
        table = breakdown(w, d),
        sum = sum(w, w.pick("Sum claimed", "माँगी गई राशि"), d.amount),
        deposit = deposit(w, d, w.pick("this notice", "इस नोटिस से")),
    )
}

fn disconnection_body(w: &Words, d: &Document) -> String {
    let Some(n) = d.notice.as_ref() else {
        return String::new();
    };
    let served = n.served_on.map(dmy).unwrap_or_default();
    let pay_by = n.pay_by.map(dmy).unwrap_or_default();
    let from = n.disconnection_from.map(dmy).unwrap_or_default();
    let unpaid = d.claim_unpaid.unwrap_or(n.claimed);
    let recital = if w.hindi {
        format!(
            "<p>इस कार्यालय की नोटिस संख्या <b>{no}</b> दिनांक <b>{issued}</b>, जिसमें {claimed} ({claimed_words}) \
की माँग की गई थी, उपभोक्ता को दिनांक <b>{served}</b> को {mode} तामील कराई गई। नोटिस में दिए गए \
{clear} स्पष्ट दिन दिनांक {pay_by} को समाप्त हो गए, और माँगी गई राशि में से {unpaid} अब भी अदत्त है।</p>\
<p>अतः उपर्युक्त संयोजन की विद्युत आपूर्ति दिनांक <b>{from}</b> को अथवा उसके पश्चात विच्छेदित करने का \
आदेश दिया जाता है। आपूर्ति तब तक विच्छेदित रहेगी जब तक नीचे दर्शाई गई बकाया राशि, विच्छेदन एवं पुनः \
संयोजन के व्यय सहित, जमा नहीं कर दी जाती, परंतु उससे अधिक नहीं। इस आदेश का पालन करने वाले कर्मचारी \
विच्छेदन दर्ज करते समय उसकी तिथि और इस आदेश की संख्या अंकित करें।</p>",
            no = escape(&n.notice_no),
            issued = dmy(n.issued_on),
            claimed = rupees(n.claimed),
            claimed_words = in_words_hi(n.claimed),
            mode = mode(w, n.mode),
            clear = d.clear_days,
            unpaid = rupees(unpaid),
        )
    } else {
        format!(
            "<p>Notice No. <b>{no}</b> dated <b>{issued}</b> of this office, claiming {claimed} \
({claimed_words}), was served on the consumer on <b>{served}</b> {mode}. The {clear} clear days \
it allowed expired on {pay_by}, and {unpaid} of the sum claimed remains unpaid.</p>\
<p>Now therefore the supply of electricity to the above connection is ordered to be cut off on \
or after <b>{from}</b>. The supply shall remain cut off until the arrears shown below, together \
with the expenses of disconnection and reconnection, are paid, but no longer. The official who \
carries out this order shall record the date of disconnection with this order's number.</p>",
            no = escape(&n.notice_no),
            issued = dmy(n.issued_on),
            claimed = rupees(n.claimed),
            claimed_words = in_words_en(n.claimed),
            mode = mode(w, n.mode),
            clear = d.clear_days,
            unpaid = rupees(unpaid),
        )
    };
    format!(
        "{recital}{table}{sum}{deposit}",
        table = breakdown(w, d),
        sum = sum(
            w,
            w.pick(
                "Arrears due as on the date of this order",
                "इस आदेश की तिथि को देय बकाया"
            ),
            d.amount
        ),
        deposit = deposit(w, d, w.pick("this order", "इस आदेश से")),
    )
}

fn reconnection_body(w: &Words, d: &Document) -> String {
    let (order_no, on) = d
        .disconnection
        .as_ref()
        .map(|(no, on)| (escape(no), dmy(*on)))
        .unwrap_or_default();
    let state = match (&d.plan_id, w.hindi) {
        (Some(plan), true) => format!(
            "बकाया राशि के लिए किस्त योजना <b>{}</b> स्वीकृत की गई है, और नीचे दर्शाई गई बकाया राशि उसकी \
किस्तों द्वारा देय है।",
            escape(plan)
        ),
        (Some(plan), false) => format!(
            "An instalment plan, <b>{}</b>, has been granted for the arrears, and the arrears shown \
below are payable by its instalments.",
            escape(plan)
        ),
        (None, true) => "जिस बकाया राशि के लिए आपूर्ति विच्छेदित की गई थी, वह जमा कर दी गई है।".to_string(),
        (None, false) => {
            "The arrears for which the supply was cut off have been paid.".to_string()
        }
    };
    let order = if w.hindi {
        format!(
            "<p>उपर्युक्त संयोजन की विद्युत आपूर्ति आदेश संख्या <b>{order_no}</b> के अंतर्गत दिनांक \
<b>{on}</b> को विच्छेदित की गई थी। {state}</p><p>अतः आपूर्ति तत्काल पुनः संयोजित करने का आदेश दिया \
जाता है, क्योंकि विद्युत अधिनियम, 2003 की धारा 56(1) के अनुसार आपूर्ति केवल देय राशि जमा होने तक ही \
विच्छेदित रखी जा सकती है, उससे अधिक नहीं। पुनः संयोजन करने वाले कर्मचारी उसकी तिथि दर्ज करें।</p>"
        )
    } else {
        format!(
            "<p>The supply of electricity to the above connection was cut off on <b>{on}</b> \
under order No. <b>{order_no}</b>. {state}</p><p>Now therefore the supply is ordered to be \
restored forthwith, Section 56(1) of the Electricity Act, 2003 allowing it to be kept off only \
until the sum due is paid, and no longer. The official who restores it shall record the date of \
reconnection.</p>"
        )
    };
    format!(
        "{order}{table}{sum}",
        table = breakdown(w, d),
        sum = sum(w, w.pick("Arrears outstanding", "शेष बकाया"), d.amount),
    )
}

fn permanent_body(w: &Words, d: &Document, licensee: &str) -> String {
    let (order_no, on) = d
        .disconnection
        .as_ref()
        .map(|(no, on)| (escape(no), dmy(*on)))
        .unwrap_or_default();
    let (notice_no, issued) = d
        .notice
        .as_ref()
        .map(|n| (escape(&n.notice_no), dmy(n.issued_on)))
        .unwrap_or_default();
    let text = if w.hindi {
        format!(
            "<p>उपर्युक्त संयोजन की विद्युत आपूर्ति, नोटिस संख्या <b>{notice_no}</b> दिनांक <b>{issued}</b> \
में माँगी गई राशि का भुगतान न करने के कारण, आदेश संख्या <b>{order_no}</b> के अंतर्गत दिनांक <b>{on}</b> \
से विच्छेदित है। नीचे विवरणित बकाया राशि अब भी अदत्त है।</p>\
<p>आपको सूचित किया जाता है कि यदि यह बकाया राशि {within} जमा नहीं की गई, तो संयोजन स्थायी रूप से \
विच्छेदित कर दिया जाएगा, विद्युत आपूर्ति हेतु {licensee} से आपका अनुबंध समाप्त कर दिया जाएगा, सर्विस \
लाइन एवं मीटर हटा दिए जाएँगे, और बकाया राशि आपसे भू-राजस्व के बकाये की भाँति वसूल की जाएगी। \
{counted}</p>",
            within = deadline(w, d.clear_days, None),
            counted = counted_from_service(w, d.clear_days),
        )
    } else {
        format!(
            "<p>The supply of electricity to the above connection has been cut off since \
<b>{on}</b> under order No. <b>{order_no}</b>, for non-payment of the sum claimed by notice No. \
<b>{notice_no}</b> dated <b>{issued}</b>. The arrears detailed below remain unpaid.</p>\
<p>Take notice that unless the arrears are paid {within} the connection will be permanently \
disconnected, your agreement with {licensee} for the supply of electricity terminated, the \
service line and meter removed, and the arrears recovered from you as arrears of land revenue. \
{counted}</p>",
            within = deadline(w, d.clear_days, None),
            counted = counted_from_service(w, d.clear_days),
        )
    };
    format!(
        "{text}{table}{sum}{deposit}",
        table = breakdown(w, d),
        sum = sum(w, w.pick("Arrears due", "देय बकाया"), d.amount),
        deposit = deposit(w, d, w.pick("this notice", "इस नोटिस से")),
    )
}

fn requisition_body(w: &Words, d: &Document, licensee: &str) -> String {
    let (order_no, on) = d
        .disconnection
        .as_ref()
        .map(|(no, on)| (escape(no), dmy(*on)))
        .unwrap_or_default();
    let (notice_no, issued, served) = d
        .notice
        .as_ref()
        .map(|n| (escape(&n.notice_no), dmy(n.issued_on), n.served_on.map(dmy)))
        .unwrap_or_default();
    let pd = d.permanently_disconnected_on.map(dmy).unwrap_or_default();
    let date = dmy(d.dated);
    let text = if w.hindi {
        format!(
            "<p class=\"subject\"><b>विषय:</b> {name}, खाता संख्या {acc}, से {amount} की वसूली।</p>\
<p>प्रमाणित किया जाता है कि नीचे विवरणित {amount} ({words}) की राशि उपर्युक्त उपभोक्ता से {licensee} \
को आपूर्ति की गई विद्युत के लिए देय है और दिनांक {date} तक अदत्त है। उपभोक्ता को विद्युत अधिनियम, 2003 \
की धारा 56(1) के अंतर्गत नोटिस संख्या <b>{notice_no}</b> दिनांक {issued}{served} तामील कराई गई; आदेश \
संख्या <b>{order_no}</b> के अंतर्गत दिनांक {on} को आपूर्ति विच्छेदित की गई, तथा दिनांक {pd} को संयोजन \
स्थायी रूप से विच्छेदित किया गया।</p><p>अतः आपसे अनुरोध है कि उक्त राशि उपभोक्ता से भू-राजस्व के \
बकाये की भाँति, विद्युत देयकों की वसूली हेतु प्रवृत्त विधि के अंतर्गत, वसूल कर इस कार्यालय को प्रेषित \
करने की कृपा करें।</p>",
            name = escape(&d.name),
            acc = escape(&d.account_no),
            amount = rupees(d.amount),
            words = in_words_hi(d.amount),
            served = served.map(|s| format!(" दिनांक {s} को")).unwrap_or_default(),
        )
    } else {
        format!(
            "<p class=\"subject\"><b>Subject:</b> Recovery of {amount} from {name}, account \
{acc}.</p><p>It is certified that the sum of {amount} ({words}), detailed below, is due from the \
consumer named above to {licensee} for electricity supplied, and remains unpaid on {date}. The \
consumer was served notice No. <b>{notice_no}</b> dated {issued} under Section 56(1) of the \
Electricity Act, 2003{served}; the supply was cut off on {on} under order No. <b>{order_no}</b>, \
and the connection permanently disconnected on {pd}.</p><p>You are requested to recover the said \
sum from the consumer as arrears of land revenue, under the law in force for the recovery of \
electricity dues, and to remit it to this office.</p>",
            name = escape(&d.name),
            acc = escape(&d.account_no),
            amount = rupees(d.amount),
            words = in_words_en(d.amount),
            served = served.map(|s| format!(" on {s}")).unwrap_or_default(),
        )
    };
    format!(
        "{text}{table}{sum}",
        table = breakdown(w, d),
        sum = sum(w, w.pick("Sum to be recovered", "वसूली योग्य राशि"), d.amount),
    )
}

/// The UPI code for the exact sum, on a demand above zero when the policy names an address.
fn pay_block(w: &Words, policy: &Policy, d: &Document) -> String {
    let vpa = &policy.utility.upi_vpa;
    if vpa.is_empty() || !d.kind.is_demand() || !d.amount.is_positive() {
        return "<div class=\"pay\"></div>".to_string();
    }
    let link = upi::pay_link(vpa, &policy.utility.name, d.amount, &d.account_no);
    let text = if w.hindi {
        format!(
            "किसी भी UPI ऐप से स्कैन कर <b>{amount}</b> का भुगतान करें।<br>प्राप्तकर्ता: {vpa}<br>\
टिप्पणी: खाता {acc}",
            amount = rupees(d.amount),
            vpa = escape(vpa),
            acc = escape(&d.account_no),
        )
    } else {
        format!(
            "Scan with any UPI app to pay <b>{amount}</b>.<br>Payee: {vpa}<br>Note: account {acc}",
            amount = rupees(d.amount),
            vpa = escape(vpa),
            acc = escape(&d.account_no),
        )
    };
    format!(
        "<div class=\"pay\" data-upi=\"{link}\">{svg}<span>{text}</span></div>",
        link = escape(&link),
        svg = upi::qr_svg(&link),
    )
}

fn signature(w: &Words, d: &Document, licensee: &str) -> String {
    let (designation, office) = match d.kind {
        DocumentKind::RecoveryRequisition => (
            w.pick("Executive Engineer", "अधिशासी अभियंता"),
            &d.issuer.division_name,
        ),
        _ => (
            w.pick("Sub-Divisional Officer", "उपखंड अधिकारी"),
            &d.issuer.subdivision_name,
        ),
    };
    format!(
        "<div class=\"sign\"><div class=\"blank\"></div>({seal})<br><b>{designation}</b><br>{office}<br>{licensee}</div>",
        seal = w.pick("Signature and seal", "हस्ताक्षर एवं मुहर"),
        office = escape(office),
    )
}

fn acknowledgement(w: &Words, d: &Document) -> String {
    let paper = title(w, d.kind);
    let blank = "<span class=\"line\"></span>";
    let cut = w.pick(
        "✂ Cut here and return to the office",
        "✂ यहाँ से काटकर कार्यालय को लौटाएँ",
    );
    let no = escape(&d.number);
    let date = dmy(d.dated);
    let acc = escape(&d.account_no);
    let amount = rupees(d.amount);
    let name = escape(&d.name);
    let body = match (d.kind, w.hindi) {
        (DocumentKind::RecoveryRequisition, true) => format!(
            "<b>कलेक्ट्रेट की पावती</b><br>{paper} संख्या <b>{no}</b> दिनांक {date}, खाता {acc}, \
राशि {amount}, प्राप्त हुई।<br>प्राप्ति की तिथि: {blank} &nbsp; प्राप्तकर्ता के हस्ताक्षर एवं मुहर: {blank}"
        ),
        (DocumentKind::RecoveryRequisition, false) => format!(
            "<b>Acknowledgement of receipt by the Collectorate</b><br>Received the {paper} No. \
<b>{no}</b> dated {date}, account {acc}, for {amount}.<br>Date of receipt: {blank} &nbsp; \
Signature and seal of the receiving official: {blank}"
        ),
        (_, true) => format!(
            "<b>तामील की पावती</b><br>{paper} संख्या <b>{no}</b> दिनांक {date}, राशि {amount}, \
{name} (खाता {acc}) को दिनांक {blank} को व्यक्तिगत रूप से / डाक द्वारा / परिसर पर चस्पा कर तामील कराई \
गई।<br>प्राप्तकर्ता के हस्ताक्षर या अँगूठे का निशान: {blank} &nbsp; प्राप्तकर्ता का नाम एवं उपभोक्ता से \
संबंध: {blank}<br>तामील कराने वाले कर्मचारी का नाम एवं हस्ताक्षर: {blank}"
        ),
        (_, false) => format!(
            "<b>Acknowledgement of service</b><br>The {paper} No. <b>{no}</b> dated {date}, for \
{amount}, to {name} (account {acc}) was served on {blank} by hand / by post / by affixing it \
at the premises.<br>Signature or thumb impression of the recipient: {blank} &nbsp; Name of the \
recipient and relation to the consumer: {blank}<br>Name and signature of the official who \
served it: {blank}"
        ),
    };
    format!("<div class=\"tear\"><div class=\"cut\">{cut}</div>{body}</div>")
}
