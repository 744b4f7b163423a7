//! The nightly run by agenda, day by day through the steps of the ladder, beside a run over
//! every consumer: the same summary and events each day, while it decides only the consumers
//! with something due.

mod common;

use chrono::{Days, NaiveDate};
use serde_json::json;
use vasooli_domain::Policy;
use vasooli_engine::nightly::NightlySummary;
use vasooli_engine::{Clock, Engine};

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date") + Days::new(n)
}

fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.notice.clear_days = 10;
    policy.notice.min_days_overdue = 20;
    policy
}

/// Forty consumers, each billed on 2026-01-05 and due on 2026-01-20; A1 pays nothing, the
/// others pay in full.
fn utility(dir: &std::path::Path, agenda: bool) -> Engine {
    utility_paying(dir, agenda, |account| account != "A1")
}

/// [`utility`], where the consumers `pays` names pay in full and the others nothing.
fn utility_paying(dir: &std::path::Path, agenda: bool, pays: impl Fn(&str) -> bool) -> Engine {
    let mut engine = Engine::open(dir, policy()).expect("opens");
    engine.set_clock(Clock::Fixed(day(300)));
    engine.set_nightly_agenda(agenda);
    let accounts: Vec<String> = (1..=40).map(|n| format!("A{n}")).collect();
    let names: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let mut commands = common::offices_and_consumers(&names);
    for account in &accounts {
        commands.push(
            json!({"type": "issue_bill", "bill_no": format!("B-{account}"),
            "account_no": account, "period": "2026-01", "issued_on": "2026-01-05",
            "due_on": "2026-01-20", "amount": "5000.00"}),
        );
        if pays(account) {
            commands.push(
                json!({"type": "receive_payment", "receipt_no": format!("R-{account}"),
                "account_no": account, "amount": "5000.00", "paid_on": "2026-01-15",
                "channel": "upi"}),
            );
        }
    }
    engine
        .execute(common::inputs_from("setup", &commands))
        .expect("the setup is accepted");
    engine
}

/// The engine of `dir` opened again under the same policy and clock: its agenda is read
/// back from the projections.
fn reopen(dir: &std::path::Path) -> Engine {
    let mut engine = Engine::open(dir, policy()).expect("reopens");
    engine.set_clock(Clock::Fixed(day(300)));
    engine
}

fn outcome(mut summary: NightlySummary) -> String {
    summary.visited = 0;
    summary.elapsed_ms = 0;
    format!("{summary:?}")
}

fn log(engine: &Engine) -> Vec<Vec<u8>> {
    engine
        .store()
        .read_all(1)
        .map(|e| e.expect("the log reads").payload)
        .collect()
}

#[test]
fn daily_runs_by_agenda_follow_the_ladder_as_runs_over_everyone_do() {
    let agenda_dir = tempfile::tempdir().expect("a temporary directory");
    let full_dir = tempfile::tempdir().expect("a temporary directory");
    let mut by_agenda = utility(agenda_dir.path(), true);
    // An agenda an older build saved, its part in the database: not read, and removed with
    // the first agenda saved.
    let table = by_agenda.projections_db().table();
    table
        .insert(b"nightly-agenda", b"an older build's head".to_vec())
        .unwrap();
    let old_part = [b"nightly-agenda/".as_slice(), &[0u8; 12]].concat();
    table.insert(&old_part, vec![0; 21]).unwrap();
    drop(table);
    let mut full = utility(full_dir.path(), false);
    let mut visited = Vec::new();
    // From before the due date, through the notice (20 days overdue: 2026-02-09), its
    // service, the clear days (10) and the disconnection's first day, to past the second
    // surcharge anniversary.
    for n in 15..=80 {
        let date = day(n);
        if n == 45 {
            // The engine is reopened: the agenda is read back from the projections.
            drop(by_agenda);
            by_agenda = reopen(agenda_dir.path());
        }
        let a = by_agenda.nightly(date).expect("a run by agenda");
        let f = full.nightly(date).expect("a run over everyone");
        assert_eq!(f.visited, 40, "a run over everyone decides everyone");
        visited.push((n, a.visited));
        assert_eq!(outcome(a), outcome(f), "the run of {date}");
        assert_eq!(log(&by_agenda), log(&full), "the log after {date}");
        if n == 42 {
            // The officer serves A1's notice, on both.
            let serve = |engine: &mut Engine| {
                let notice = engine
                    .world()
                    .consumer("A1")
                    .and_then(|c| c.cases.last().map(|case| case.notice_no.to_string()))
                    .expect("A1 has a notice by now");
                let command = json!({"type": "serve_notice", "notice_no": notice,
                    "served_on": date.to_string(), "mode": "affixed"});
                engine
                    .execute(common::inputs_from("officer", &[command]))
                    .expect("served");
            };
            serve(&mut by_agenda);
            serve(&mut full);
        }
    }
    // Sixty-six runs saved an agenda each; only the last one's head and file of parts are
    // left.
    let saved = by_agenda
        .projections_db()
        .table()
        .keys_with_prefix(b"nightly-agenda")
        .expect("the projections list");
    assert_eq!(saved, [b"nightly-agenda-2".to_vec()]);
    let files: Vec<String> = std::fs::read_dir(
        agenda_dir
            .path()
            .join(vasooli_engine::engine::PROJECTIONS_DIR)
            .join(vasooli_store::PARTS_DIR),
    )
    .expect("the files of parts")
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .filter(|name| name.starts_with("nightly-agenda"))
    .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let full_visits = visited.iter().filter(|(_, v)| *v == 40).count();
    let quiet = visited.iter().filter(|(_, v)| *v <= 1).count();
    assert!(
        quiet > 40,
        "most days decide at most A1: {visited:?} ({full_visits} days decided everyone)"
    );
    // Reopened under the same policy: the saved agenda is read back from its file, so the
    // next day does not visit everyone.
    drop(by_agenda);
    let mut by_agenda = reopen(agenda_dir.path());
    let reopened = by_agenda.nightly(day(81)).expect("a run after reopening");
    assert!(reopened.visited < 40, "{}", reopened.visited);
    // Rules of the whole utility make the day after a policy change visit everyone.
    drop(by_agenda);
    let mut changed = policy();
    changed.notice.clear_days = 12;
    let mut by_agenda = Engine::open(agenda_dir.path(), changed).expect("reopens");
    by_agenda.set_clock(Clock::Fixed(day(300)));
    let after = by_agenda
        .nightly(day(82))
        .expect("a run under another policy");
    assert_eq!(after.visited, 40);
    let next = by_agenda.nightly(day(83)).expect("the run after");
    assert!(next.visited < 40, "{}", next.visited);
}

/// Two utilities where no one pays, one running by agenda and one over everyone, each with
/// the directory it is in.
fn unpaid_pair() -> (tempfile::TempDir, Engine, tempfile::TempDir, Engine) {
    let agenda_dir = tempfile::tempdir().expect("a temporary directory");
    let full_dir = tempfile::tempdir().expect("a temporary directory");
    let by_agenda = utility_paying(agenda_dir.path(), true, |_| false);
    let full = utility_paying(full_dir.path(), false, |_| false);
    (agenda_dir, by_agenda, full_dir, full)
}

/// Runs `date` on both engines and holds their summaries and logs equal; answers how many
/// consumers the run by agenda decided and how many surcharges it levied.
fn run_both(by_agenda: &mut Engine, full: &mut Engine, date: NaiveDate) -> (usize, usize) {
    let a = by_agenda.nightly(date).expect("a run by agenda");
    let f = full.nightly(date).expect("a run over everyone");
    assert_eq!(f.visited, 40, "a run over everyone decides everyone");
    let decided = (a.visited, a.surcharges);
    assert_eq!(outcome(a), outcome(f), "the run of {date}");
    assert_eq!(log(by_agenda), log(full), "the log after {date}");
    decided
}

/// The first run, on the first anniversary of the bills' due date, levies a surcharge on
/// every consumer and issues each a notice; the next day, when the levies fall overdue, the
/// run by agenda decides none of them again (the first run looked a day ahead) and still
/// answers what a run over everyone answers. What the agenda then holds is the day after's,
/// so a rerun of a date decides those consumers; here the rerun comes after a reopening, so
/// what is held survives the agenda's saving and reading back.
#[test]
fn the_day_after_a_run_that_levied_on_everyone_decides_no_one_again() {
    let (agenda_dir, mut by_agenda, _full_dir, mut full) = unpaid_pair();
    let mut run = |by_agenda: &mut Engine, n: u64| run_both(by_agenda, &mut full, day(n));
    // 2026-02-20: the first anniversary of the due date, 31 days overdue.
    assert_eq!(
        run(&mut by_agenda, 50),
        (40, 40),
        "the first run levies on everyone"
    );
    assert_eq!(
        run(&mut by_agenda, 51),
        (0, 0),
        "the day after decides no one"
    );
    drop(by_agenda);
    let mut by_agenda = reopen(agenda_dir.path());
    assert_eq!(
        run(&mut by_agenda, 51),
        (40, 0),
        "a rerun of the day decides the consumers the agenda holds the day after's of"
    );
    // The next anniversary levies again. The days in between decide no one but 2026-03-12,
    // when the levy of 2026-02-20 has been overdue for the notice's minimum days.
    let between: Vec<(u64, usize)> = (52..78)
        .map(|n| (n, run(&mut by_agenda, n).0))
        .filter(|(_, visited)| *visited > 0)
        .collect();
    assert_eq!(between, [(70, 40)]);
    assert_eq!(run(&mut by_agenda, 78), (40, 40), "2026-03-20 levies again");
    assert_eq!(run(&mut by_agenda, 79), (0, 0));
}

/// What a run cannot take as the day after's: a bill issued that day (the next run counts it
/// as billed), and, on a rerun of a date, a payment recorded since the last run that the run
/// after messages once the consumer's mobile starts. The runs by agenda decide them as the
/// runs over everyone do.
#[test]
fn the_day_after_is_decided_when_a_bill_falls_in_it_or_the_run_was_a_rerun() {
    let (_agenda_dir, mut by_agenda, _full_dir, mut full) = unpaid_pair();
    let record = |engines: [&mut Engine; 2], commands: &[serde_json::Value]| {
        for engine in engines {
            engine
                .execute(common::inputs_from("recorded", commands))
                .expect("recorded");
        }
    };
    // A2's next bill is issued on the day after the first run.
    let bill = json!({"type": "issue_bill", "bill_no": "B-A2-02", "account_no": "A2",
        "period": "2026-02", "issued_on": day(51).to_string(), "due_on": "2026-03-08",
        "amount": "700.00"});
    record([&mut by_agenda, &mut full], &[bill]);
    assert_eq!(run_both(&mut by_agenda, &mut full, day(50)), (40, 40));
    let next = run_both(&mut by_agenda, &mut full, day(51));
    assert_eq!(
        next,
        (1, 0),
        "the day after decides A2 alone, whose bill it counts"
    );
    // After the run of the 51st: A3 pays late, dated that day, and registers a mobile from
    // the 52nd. The rerun of the 51st sends A3 nothing (no mobile yet) and appends nothing;
    // the run of the 52nd messages the payment, recorded after the last run's record.
    let late = [
        json!({"type": "receive_payment", "receipt_no": "R-A3", "account_no": "A3",
            "amount": "1000.00", "paid_on": day(51).to_string(), "channel": "upi"}),
        json!({"type": "register_mobile", "account_no": "A3", "mobile": "9876500003",
            "registered_on": day(52).to_string(), "source": "online"}),
    ];
    record([&mut by_agenda, &mut full], &late);
    let logged = log(&by_agenda).len();
    assert_eq!(run_both(&mut by_agenda, &mut full, day(51)).1, 0);
    assert_eq!(log(&by_agenda).len(), logged, "the rerun appends nothing");
    let before = sms_of(&full, "A3");
    run_both(&mut by_agenda, &mut full, day(52));
    assert_eq!(
        sms_of(&full, "A3"),
        before + 1,
        "the late payment is messaged"
    );
}

/// How many SMS messages have been queued for `account`.
fn sms_of(engine: &Engine, account: &str) -> usize {
    engine
        .world()
        .consumer(account)
        .expect("registered")
        .sms
        .len()
}
