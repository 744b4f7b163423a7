//! A small utility of two divisions (D-N with two subdivisions, D-S with one), for the tests
//! that split it into partitions.

/// The offices file: a zone, a circle, the two divisions and their three subdivisions.
pub fn offices() -> &'static str {
    "code,name,level,parent\n\
     Z-R,Zone R,zone,\n\
     C-R,Circle R,circle,Z-R\n\
     D-N,Division N,division,C-R\n\
     D-S,Division S,division,C-R\n\
     SD-N1,Subdivision N1,subdivision,D-N\n\
     SD-N2,Subdivision N2,subdivision,D-N\n\
     SD-S1,Subdivision S1,subdivision,D-S\n"
}

/// `consumers` consumers with accounts `{prefix}00000000...`, dealt in turn to SD-N1, SD-N2
/// and SD-S1 (so every third, from the third, is south's), three months of bills (March to
/// May 2026) and payments from three in five: the consumers, bills and payments files.
pub fn utility(prefix: &str, consumers: usize) -> [(&'static str, String); 3] {
    let mut consumer_rows = String::from(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n",
    );
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    let mut payments = String::from("receipt_no,account_no,amount,paid_on,channel\n");
    for i in 0..consumers {
        let account = format!("{prefix}{i:08}");
        let sub = ["SD-N1", "SD-N2", "SD-S1"][i % 3];
        let category = ["domestic", "non_domestic", "government", "agriculture"][i % 4];
        consumer_rows.push_str(&format!(
            "{account},Consumer {i},{category},{sub},{}.5,2025-01-01,,hi,\n",
            1 + i % 7
        ));
        for (month, issued, due) in [
            ("2026-03", "2026-03-05", "2026-03-20"),
            ("2026-04", "2026-04-05", "2026-04-20"),
            ("2026-05", "2026-05-05", "2026-05-20"),
        ] {
            let amount = 300 + (i * 53) % 7000;
            bills.push_str(&format!(
                "B{}{account},{account},{month},{issued},{due},{amount}.00\n",
                month.replace('-', "")
            ));
        }
        if i % 5 < 3 {
            let channel = ["upi", "counter_cash", "bbps"][i % 3];
            payments.push_str(&format!(
                "R{account},{account},{}.00,2026-04-1{},{channel}\n",
                200 + i % 900,
                i % 9
            ));
        }
    }
    [
        ("consumers", consumer_rows),
        ("bills", bills),
        ("payments", payments),
    ]
}

/// Assigns D-N to partition north and D-S to south, starts an owner of each on
/// `north_dir` and `south_dir`, and waits until both listen.
pub fn two_owners(
    cwd: &std::path::Path,
    servers: &str,
    north_dir: &std::path::Path,
    south_dir: &std::path::Path,
) -> (super::owner::Owner, super::owner::Owner) {
    for (division, partition) in [("D-N", "north"), ("D-S", "south")] {
        super::ok(
            cwd,
            &[
                "cluster",
                "assign",
                "--servers",
                servers,
                division,
                partition,
            ],
        );
    }
    let mut north = super::owner::Owner::start(north_dir, servers, "north");
    let mut south = super::owner::Owner::start(south_dir, servers, "south");
    for owner in [&mut north, &mut south] {
        owner.wait_line("listening on http://", std::time::Duration::from_secs(60));
    }
    (north, south)
}
