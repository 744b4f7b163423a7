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
