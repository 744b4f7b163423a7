//! The papers an officer serves, end to end through the binary: the licensee's letterhead from
//! the policy's `[utility]` section and the consumer's postal address from the optional
//! `address` column, kept through export and restore.

mod common;

use common::{ok, vasooli, write};

const OFFICES: &str = "code,name,level,parent\n\
Z1,Garhwal Zone,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Dehradun Division,division,C1\n\
S1,ऋषिकेश,subdivision,D1\n";

const CONSUMERS: &str =
    "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n\
A1,आशा देवी,domestic,S1,2,2025-04-01,,hi,\"मकान नं. 12, वार्ड 3, ऋषिकेश\"\n\
A2,Ravi Kumar,domestic,S1,2,2025-04-01,,en,\"House No. 7, Ward 2, Rishikesh\"\n\
A3,Mohan Lal,domestic,S1,2,2025-04-01,,en,\n";

const BILLS: &str = "bill_no,account_no,period,issued_on,due_on,amount\n\
B1,A1,2026-01,2026-01-01,2026-01-15,1500.00\n\
B2,A2,2026-01,2026-01-01,2026-01-15,1500.00\n\
B3,A3,2026-01,2026-01-01,2026-01-15,1500.00\n";

const POLICY: &str = "[utility]\n\
name = \"Uttarakhand Power Corporation Ltd.\"\n\
name_hi = \"उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड\"\n\
address = \"Urja Bhawan, Kanwali Road, Dehradun\"\n";

#[test]
fn notices_carry_the_letterhead_and_the_consumers_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let policy = write(dir.path(), "policy.toml", POLICY);
    let policy = policy.to_str().unwrap();
    for (kind, text) in [
        ("offices", OFFICES),
        ("consumers", CONSUMERS),
        ("bills", BILLS),
    ] {
        let file = write(dir.path(), &format!("{kind}.csv"), text);
        ok(
            &data,
            &["--policy", policy, "import", kind, file.to_str().unwrap()],
        );
    }
    ok(
        &data,
        &["--policy", policy, "nightly", "--as-of", "2026-02-14"],
    );
    let notices = dir.path().join("notices.html");
    ok(
        &data,
        &[
            "--policy",
            policy,
            "worklist",
            "--office",
            "S1",
            "--kind",
            "serve_notice",
            "--notices",
            notices.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&notices).unwrap();
    let pages: Vec<&str> = html.split("<section class=\"page\"").skip(1).collect();
    assert_eq!(pages.len(), 3, "{html}");
    let page = |account: &str| {
        pages
            .iter()
            .find(|p| p.contains(account))
            .unwrap_or_else(|| panic!("a page for {account}: {html}"))
    };
    let a1 = page("A1");
    assert!(a1.contains("उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड"), "{a1}");
    assert!(a1.contains("मकान नं. 12, वार्ड 3, ऋषिकेश"), "{a1}");
    assert!(a1.contains("Urja Bhawan, Kanwali Road, Dehradun"), "{a1}");
    let a2 = page("A2");
    assert!(a2.contains("Uttarakhand Power Corporation Ltd."), "{a2}");
    assert!(a2.contains("House No. 7, Ward 2, Rishikesh"), "{a2}");
    // The sum in figures with Indian grouping (and its plain value for machines).
    assert!(
        a2.contains("<data class=\"figure\" value=\"1500.00\">₹ 1,500.00</data>")
            && !a2.contains("Rs "),
        "{a2}"
    );
    let a3 = page("A3");
    assert!(!a3.contains("House No.") && !a3.contains("मकान"), "{a3}");

    // The address survives export and restore, byte for byte.
    let out = dir.path().join("log.jsonl");
    ok(&data, &["export", "--out", out.to_str().unwrap()]);
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(exported.contains("\"address\":\"House No. 7, Ward 2, Rishikesh\""));
    let copy = dir.path().join("copy");
    ok(&copy, &["restore", out.to_str().unwrap()]);
    let out = dir.path().join("again.jsonl");
    ok(&copy, &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out).unwrap(), exported);
}

#[test]
fn a_bad_address_or_upi_address_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let offices = write(dir.path(), "offices.csv", OFFICES);
    ok(&data, &["import", "offices", offices.to_str().unwrap()]);
    let long = "x".repeat(301);
    let consumers = write(
        dir.path(),
        "consumers.csv",
        &format!(
            "account_no,name,category,subdivision,load_kw,connected_on,address\n\
A1,Asha,domestic,S1,2,2025-04-01,{long}\n"
        ),
    );
    let run = vasooli(&data, &["import", "consumers", consumers.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("consumers.csv:2") && run.stderr.contains("address"),
        "{}",
        run.stderr
    );
    let policy = write(dir.path(), "bad.toml", "[utility]\nupi_vpa = \"pay me\"\n");
    let run = vasooli(
        &data,
        &["--policy", policy.to_str().unwrap(), "policy", "show"],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("bad.toml:2") && run.stderr.contains("upi_vpa"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// The papers of every ladder step, with figures worked by hand from the policy's defaults
// (surcharge 1.25% a month on unpaid principal, 15 clear days, notices after 30 days).

const LADDER_OFFICES: &str = "code,name,level,parent\n\
Z1,Garhwal Zone,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Dehradun Division,division,C1\n\
S1,Rajpur,subdivision,D1\n";

const LADDER_POLICY: &str = "[utility]\n\
name = \"Uttarakhand Power Corporation Ltd.\"\n\
name_hi = \"उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड\"\n\
address = \"Urja Bhawan, Kanwali Road, Dehradun\"\n\
upi_vpa = \"upcl.bill@sbi\"\n";

/// A data directory with the offices, the consumers and bills given, and the policy above.
struct Ladder {
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    policy: String,
}

impl Ladder {
    fn new(consumers: &str, bills: &str) -> Ladder {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let policy = write(dir.path(), "policy.toml", LADDER_POLICY)
            .to_str()
            .unwrap()
            .to_string();
        let ladder = Ladder { dir, data, policy };
        for (kind, text) in [
            ("offices", LADDER_OFFICES),
            ("consumers", consumers),
            ("bills", bills),
        ] {
            let file = write(ladder.dir.path(), &format!("{kind}.csv"), text);
            ladder.run(&["import", kind, file.to_str().unwrap()]);
        }
        ladder
    }

    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["--policy", self.policy.as_str()];
        all.extend_from_slice(args);
        ok(&self.data, &all)
    }

    fn nightly(&self, date: &str) {
        self.run(&["nightly", "--as-of", date]);
    }

    fn append(&self, lines: &str) {
        let file = write(self.dir.path(), "commands.jsonl", lines);
        self.run(&["append", file.to_str().unwrap()]);
    }

    /// The worklist's papers, as the file `worklist --notices` writes.
    fn papers(&self, kind: &str) -> String {
        let out = self.dir.path().join(format!("{kind}.html"));
        self.run(&[
            "worklist",
            "--office",
            "S1",
            "--kind",
            kind,
            "--notices",
            out.to_str().unwrap(),
        ]);
        std::fs::read_to_string(out).unwrap()
    }
}

/// The page of one account in a file of papers.
fn page_of<'a>(html: &'a str, account: &str) -> &'a str {
    let pages: Vec<&str> = html.split("<section class=\"page\"").skip(1).collect();
    let mine: Vec<&&str> = pages
        .iter()
        .filter(|p| p.contains(&format!("data-account=\"{account}\"")))
        .collect();
    assert_eq!(mine.len(), 1, "one page for {account}: {html}");
    mine[0]
}

/// The rows of a page's breakdown table: each row's cells as text.
fn breakdown_rows(page: &str) -> Vec<Vec<String>> {
    let start = page.find("<tbody>").expect("a breakdown") + "<tbody>".len();
    let end = page[start..].find("</tbody>").unwrap() + start;
    page[start..end]
        .split("<tr>")
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    c[..c.find("</td>").unwrap()].to_string()
                })
                .collect()
        })
        .collect()
}

/// The breakdown's footer cells (principal, surcharge, total).
fn breakdown_total(page: &str) -> Vec<String> {
    let start = page.find("<tfoot>").expect("a total row");
    let foot = &page[start..page[start..].find("</tfoot>").unwrap() + start];
    foot.split("<td class=\"num\">")
        .skip(1)
        .map(|c| c[..c.find("</td>").unwrap()].to_string())
        .collect()
}

/// A grouped amount back to paise.
fn paise(text: &str) -> i64 {
    let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap()
}

/// DOMAIN's worked example (A1, in Hindi) beside an English consumer with one unpaid bill
/// (A2): both get notices on 2026-08-21; A2's is served on 2026-08-24 by post.
fn two_notices() -> Ladder {
    let ladder = Ladder::new(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n\
A1,आशा देवी,domestic,S1,2,2026-01-01,,hi,\"मकान नं. 12, राजपुर\"\n\
A2,Bhim Singh,domestic,S1,2,2026-01-01,,en,\"House No. 7, Rajpur Road\"\n",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
B1,A1,2026-06,2026-07-05,2026-07-20,1200.00\n\
B2,A1,2026-07,2026-08-05,2026-08-20,1500.00\n\
B3,A2,2026-06,2026-07-05,2026-07-20,3000.00\n",
    );
    ladder.append(
        "{\"type\":\"receive_payment\",\"receipt_no\":\"P1\",\"account_no\":\"A1\",\
\"amount\":\"700.00\",\"paid_on\":\"2026-08-10\",\"channel\":\"upi\"}\n",
    );
    ladder.nightly("2026-08-21");
    ladder
}

/// The s.56 notice: its number, date and sum come from the notice as issued; the breakdown
/// adds up to the sum; the sum is in words in both languages; the deposit under protest is
/// the lesser of the sum and six months' average bill; the deadline is counted from service.
#[test]
fn the_s56_notice_states_the_claim_bill_by_bill_and_in_words() {
    let ladder = two_notices();
    let html = ladder.papers("serve_notice");
    assert_eq!(html.matches("<section class=\"page\"").count(), 2);

    let a1 = page_of(&html, "A1");
    assert!(a1.contains("lang=\"hi\"") && a1.contains("data-document=\"notice\""));
    assert!(a1.contains("संख्या: <b>N-A1-001</b>"), "{a1}");
    assert!(a1.contains("दिनांक: <b>21-08-2026</b>"), "{a1}");
    assert!(a1.contains("उत्तराखण्ड पावर कॉर्पोरेशन लिमिटेड"), "{a1}");
    assert!(
        a1.contains("आशा देवी") && a1.contains("मकान नं. 12, राजपुर"),
        "{a1}"
    );
    assert!(a1.contains("खाता संख्या: <b>A1</b>"), "{a1}");
    assert!(a1.contains("धारा 56(1)"), "{a1}");
    // B1: 1200.00 less 700.00 paid, and its first surcharge 1.25% of 500.00 = 6.25;
    // B2: 1500.00 due 2026-08-20, overdue on the 21st. 506.25 + 1500.00 = 2006.25.
    assert_eq!(
        breakdown_rows(a1),
        [
            [
                "B1",
                "06-2026",
                "20-07-2026",
                "1,200.00",
                "500.00",
                "6.25",
                "506.25"
            ],
            [
                "B2",
                "07-2026",
                "20-08-2026",
                "1,500.00",
                "1,500.00",
                "0.00",
                "1,500.00"
            ],
        ]
    );
    assert_eq!(breakdown_total(a1), ["2,000.00", "6.25", "2,006.25"]);
    let rows_sum: i64 = breakdown_rows(a1).iter().map(|r| paise(&r[6])).sum();
    assert_eq!(rows_sum, 200_625);
    assert!(
        a1.contains("<data class=\"figure\" value=\"2006.25\">₹ 2,006.25</data>"),
        "{a1}"
    );
    assert!(a1.contains("दो हज़ार छह रुपये और पच्चीस पैसे मात्र"), "{a1}");
    assert!(
        a1.contains("Rupees Two Thousand Six and Twenty-Five Paise Only"),
        "{a1}"
    );
    // Deposit: six months' bills (1200.00 + 1500.00) / 6 = 450.00 < 2006.25.
    assert!(a1.contains("₹ 450.00 (चार सौ पचास रुपये मात्र)"), "{a1}");
    // Not yet served: the 15 clear days run from service, and no date is made up.
    assert!(
        a1.contains("तामील की तिथि के पश्चात 15 स्पष्ट दिनों के भीतर जमा नहीं"),
        "{a1}"
    );
    assert!(
        !a1.contains("05-09-2026") && !a1.contains("अर्थात दिनांक"),
        "{a1}"
    );
    // Payment by UPI for the exact claim, the signing office and the acknowledgement.
    assert!(
        a1.contains(
            "data-upi=\"upi://pay?pa=upcl.bill@sbi&amp;pn=Uttarakhand%20Power%20Corporation%20Ltd.\
&amp;am=2006.25&amp;cu=INR&amp;tn=A1\""
        ),
        "{a1}"
    );
    assert!(a1.contains("<svg class=\"upi-qr\""), "{a1}");
    assert!(a1.contains("<b>उपखंड अधिकारी</b><br>Rajpur"), "{a1}");
    assert!(a1.contains("तामील की पावती"), "{a1}");

    let a2 = page_of(&html, "A2");
    assert!(
        a2.contains("lang=\"en\"") && a2.contains("No.: <b>N-A2-001</b>"),
        "{a2}"
    );
    // 3000.00 and 1.25% of it levied on 2026-08-20: 3037.50.
    assert_eq!(
        breakdown_rows(a2),
        [[
            "B3",
            "06-2026",
            "20-07-2026",
            "3,000.00",
            "3,000.00",
            "37.50",
            "3,037.50"
        ]]
    );
    assert!(
        a2.contains("Rupees Three Thousand Thirty-Seven and Fifty Paise Only"),
        "{a2}"
    );
    assert!(a2.contains("तीन हज़ार सैंतीस रुपये और पचास पैसे मात्र"), "{a2}");
    assert!(a2.contains("₹ 500.00 (Rupees Five Hundred Only)"), "{a2}");
    assert!(
        a2.contains("within 15 clear days after the date on which this notice is served on you"),
        "{a2}"
    );
    assert!(
        a2.contains("Section 56(1) of the Electricity Act, 2003"),
        "{a2}"
    );
    assert!(a2.contains("Acknowledgement of service"), "{a2}");
    // The English paper is English throughout: no Hindi outside the amount in words.
    let without_words = a2.replace("तीन हज़ार सैंतीस रुपये और पचास पैसे मात्र", "");
    assert!(
        !without_words
            .chars()
            .any(|c| ('\u{0900}'..='\u{097F}').contains(&c)),
        "{a2}"
    );
}

/// An issued notice is the same document on every reprint, whatever day it is printed:
/// new surcharges and a later nightly run change the lists, not the notice.
#[test]
fn a_notice_reprinted_on_a_later_day_is_byte_identical() {
    let ladder = two_notices();
    let first = ladder.papers("serve_notice");
    // 2026-09-20 levies B1's second surcharge and B2's first: A1's arrears move on.
    ladder.nightly("2026-09-25");
    let list = ladder.run(&[
        "worklist",
        "--office",
        "S1",
        "--kind",
        "serve_notice",
        "--format",
        "csv",
    ]);
    assert!(list.contains("A1,") && list.contains("2031.25"), "{list}");
    let again = ladder.papers("serve_notice");
    let a1_first = page_of(&first, "A1");
    let a1_again = page_of(&again, "A1");
    assert_eq!(a1_first, a1_again);
    assert!(!a1_again.contains("2,031.25") && !a1_again.contains("25-09-2026"));
    // The file as a whole too, when the list holds the same notices.
    ladder.append(
        "{\"type\":\"serve_notice\",\"notice_no\":\"N-A2-001\",\"served_on\":\"2026-08-24\",\
\"mode\":\"post\"}\n",
    );
    let first = ladder.papers("serve_notice");
    ladder.nightly("2026-10-30");
    assert_eq!(ladder.papers("serve_notice").as_bytes(), first.as_bytes());
}

/// The disconnection order cites the served notice, its date and the sum it claimed, counts
/// the clear days from the date of service, and demands the arrears of its own date.
#[test]
fn the_disconnection_order_cites_the_served_notice() {
    let ladder = two_notices();
    ladder.append(
        "{\"type\":\"serve_notice\",\"notice_no\":\"N-A2-001\",\"served_on\":\"2026-08-24\",\
\"mode\":\"post\"}\n",
    );
    ladder.nightly("2026-09-25");
    let html = ladder.papers("disconnection");
    assert_eq!(html.matches("<section class=\"page\"").count(), 1, "{html}");
    let a2 = page_of(&html, "A2");
    assert!(a2.contains("data-document=\"disconnection_order\""), "{a2}");
    assert!(a2.contains("No.: <b>DO-A2-001</b>") && a2.contains("Date: <b>25-09-2026</b>"));
    assert!(
        a2.contains(
            "Notice No. <b>N-A2-001</b> dated <b>21-08-2026</b> of this office, claiming \
₹ 3,037.50 (Rupees Three Thousand Thirty-Seven and Fifty Paise Only), was served on the \
consumer on <b>24-08-2026</b> by post."
        ),
        "{a2}"
    );
    // Served 24-08: 15 clear days end on 08-09; disconnection from 09-09.
    assert!(a2.contains("expired on 08-09-2026"), "{a2}");
    assert!(a2.contains("cut off on or after <b>09-09-2026</b>"), "{a2}");
    assert!(
        a2.contains("₹ 3,037.50 of the sum claimed remains unpaid"),
        "{a2}"
    );
    // As of 2026-09-25: 3000.00 and two surcharges of 37.50.
    assert_eq!(
        breakdown_rows(a2),
        [[
            "B3",
            "06-2026",
            "20-07-2026",
            "3,000.00",
            "3,000.00",
            "75.00",
            "3,075.00"
        ]]
    );
    assert_eq!(breakdown_total(a2), ["3,000.00", "75.00", "3,075.00"]);
    assert!(
        a2.contains("value=\"3075.00\">₹ 3,075.00</data>")
            && a2.contains("Rupees Three Thousand Seventy-Five Only")
            && a2.contains("तीन हज़ार पचहत्तर रुपये मात्र"),
        "{a2}"
    );
    assert!(a2.contains("&amp;am=3075.00&amp;cu=INR&amp;tn=A2"), "{a2}");
    // The deposit under protest: six months' bills to the order's date, 3000.00 / 6.
    assert!(a2.contains("deposit under protest ₹ 500.00"), "{a2}");
}

/// The later steps: the reconnection order (no demand, no payment code), the notice of
/// permanent disconnection and the requisition to the Collector.
#[test]
fn reconnection_permanent_disconnection_and_the_requisition() {
    let ladder = Ladder::new(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n\
A3,Kamla Negi,domestic,S1,2,2025-06-01,,en,\"Village Kimadi, Rajpur\"\n\
A4,रमेश पंत,domestic,S1,2,2025-06-01,,hi,\n",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
B4,A3,2025-12,2026-01-05,2026-01-20,20000.00\n\
B5,A4,2025-12,2026-01-05,2026-01-20,2000.00\n",
    );
    // Notices on 2026-02-21 (20000.00 + 250.00; 2000.00 + 25.00), served the next day,
    // disconnection allowed from 2026-03-10.
    ladder.nightly("2026-02-21");
    ladder.append(
        "{\"type\":\"serve_notice\",\"notice_no\":\"N-A3-001\",\"served_on\":\"2026-02-22\",\"mode\":\"hand\"}\n\
{\"type\":\"serve_notice\",\"notice_no\":\"N-A4-001\",\"served_on\":\"2026-02-22\",\"mode\":\"affixed\"}\n",
    );
    ladder.nightly("2026-03-10");
    ladder.append(
        "{\"type\":\"disconnect\",\"account_no\":\"A3\",\"on\":\"2026-03-10\",\"order_no\":\"DO-A3-001\"}\n\
{\"type\":\"disconnect\",\"account_no\":\"A4\",\"on\":\"2026-03-10\",\"order_no\":\"DO-A4-001\"}\n\
{\"type\":\"receive_payment\",\"receipt_no\":\"P4\",\"account_no\":\"A4\",\"amount\":\"2025.00\",\"paid_on\":\"2026-03-15\",\"channel\":\"counter_cash\"}\n",
    );
    ladder.nightly("2026-03-16");
    let html = ladder.papers("reconnection");
    let a4 = page_of(&html, "A4");
    assert!(a4.contains("data-document=\"reconnection_order\""), "{a4}");
    assert!(a4.contains("संख्या: <b>RO-A4-001</b>") && a4.contains("16-03-2026"));
    assert!(
        a4.contains("आदेश संख्या <b>DO-A4-001</b> के अंतर्गत दिनांक <b>10-03-2026</b>"),
        "{a4}"
    );
    assert!(a4.contains("value=\"0.00\">₹ 0.00</data>"), "{a4}");
    assert!(a4.contains("शून्य रुपये मात्र") && a4.contains("Rupees Zero Only"));
    assert!(!a4.contains("data-upi") && !a4.contains("upi-qr"), "{a4}");

    // Disconnected 180 days on 2026-09-06: the notice of permanent disconnection.
    ladder.nightly("2026-09-10");
    let html = ladder.papers("permanent_disconnection");
    let a3 = page_of(&html, "A3");
    assert!(a3.contains("No.: <b>PD-A3-001</b>") && a3.contains("Date: <b>10-09-2026</b>"));
    assert!(
        a3.contains("cut off since <b>10-03-2026</b> under order No. <b>DO-A3-001</b>")
            && a3.contains("notice No. <b>N-A3-001</b> dated <b>21-02-2026</b>"),
        "{a3}"
    );
    // 20000.00 and seven monthly surcharges of 250.00 (2026-02-20 to 2026-08-20).
    assert_eq!(
        breakdown_rows(a3),
        [[
            "B4",
            "12-2025",
            "20-01-2026",
            "20,000.00",
            "20,000.00",
            "1,750.00",
            "21,750.00"
        ]]
    );
    assert!(
        a3.contains("value=\"21750.00\">₹ 21,750.00</data>")
            && a3.contains("Rupees Twenty-One Thousand Seven Hundred Fifty Only")
            && a3.contains("इक्कीस हज़ार सात सौ पचास रुपये मात्र"),
        "{a3}"
    );
    assert!(a3.contains("within 15 clear days after the date on which this notice is served"));
    assert!(a3.contains("&amp;am=21750.00&amp;cu=INR&amp;tn=A3"), "{a3}");
    // No bill in the six months to 2026-09-10: nothing to average, nothing to deposit.
    assert!(a3.contains("deposit under protest ₹ 0.00"), "{a3}");

    ladder.append(
        "{\"type\":\"permanently_disconnect\",\"account_no\":\"A3\",\"on\":\"2026-09-11\"}\n",
    );
    ladder.nightly("2026-09-12");
    let html = ladder.papers("recovery_certificate");
    let a3 = page_of(&html, "A3");
    assert!(
        a3.contains("data-document=\"recovery_requisition\""),
        "{a3}"
    );
    assert!(a3.contains("No.: <b>RR-A3-001</b>") && a3.contains("Date: <b>12-09-2026</b>"));
    assert!(a3.contains("The Collector"), "{a3}");
    assert!(
        a3.contains("permanently disconnected on 11-09-2026")
            && a3.contains("served notice No. <b>N-A3-001</b> dated 21-02-2026")
            && a3.contains(" on 22-02-2026"),
        "{a3}"
    );
    assert!(a3.contains("value=\"21750.00\">₹ 21,750.00</data>"), "{a3}");
    assert!(
        a3.contains("<b>Executive Engineer</b><br>Dehradun Division"),
        "{a3}"
    );
    assert!(
        a3.contains("Acknowledgement of receipt by the Collectorate"),
        "{a3}"
    );
}

/// Lists without papers are refused, and nothing is written.
#[test]
fn lists_without_papers_are_refused() {
    let ladder = two_notices();
    for kind in ["no_mobile", "hq_escalation"] {
        let out = ladder.dir.path().join(format!("{kind}.html"));
        let run = vasooli(
            &ladder.data,
            &[
                "--policy",
                &ladder.policy,
                "worklist",
                "--office",
                "S1",
                "--kind",
                kind,
                "--notices",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(run.code, 2, "{kind}: {}", run.stderr);
        assert!(
            run.stderr.contains(kind) && run.stderr.contains("no printable documents"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty() && !out.exists(), "{kind}");
    }
}

/// A long run of unpaid bills keeps to one page: the oldest are summed into one row, and the
/// rows still add up to the sum claimed, to the paisa.
#[test]
fn a_long_breakdown_folds_its_oldest_bills_and_still_adds_up() {
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    for month in 1..=12 {
        bills.push_str(&format!(
            "M{month:02},A9,2025-{month:02},2025-{month:02}-05,2025-{month:02}-20,{}.{:02}\n",
            900 + month * 37,
            month * 7
        ));
    }
    let ladder = Ladder::new(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n\
A9,Gopal Bisht,domestic,S1,2,2024-12-01,,en,\n",
        &bills,
    );
    // Only the last nightly run matters for the levies: every anniversary up to it is
    // levied on the bill's unpaid principal.
    ladder.nightly("2026-01-21");
    let html = ladder.papers("serve_notice");
    let page = page_of(&html, "A9");
    let rows = breakdown_rows(page);
    assert_eq!(rows.len(), 10, "{page}");
    assert!(
        rows[0][0].starts_with("3 older bills (01-2025 to 03-2025)"),
        "{page}"
    );
    assert_eq!(rows[1][0], "M04");
    assert_eq!(rows[9][0], "M12");
    let claimed: i64 = rows.iter().map(|r| paise(r.last().unwrap())).sum();
    let figure = page
        .split("<data class=\"figure\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(claimed, paise(figure), "{page}");
    let total = breakdown_total(page);
    assert_eq!(paise(&total[2]), claimed);
    assert_eq!(paise(&total[0]) + paise(&total[1]), claimed);
    // Principal: every bill, 12 × 900 + 37 × 78 rupees and 7 × 78 paise.
    assert_eq!(paise(&total[0]), (12 * 900 + 37 * 78) * 100 + 7 * 78);
}
