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
            by_agenda = Engine::open(agenda_dir.path(), policy()).expect("reopens");
            by_agenda.set_clock(Clock::Fixed(day(300)));
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
    let mut by_agenda = Engine::open(agenda_dir.path(), policy()).expect("reopens");
    by_agenda.set_clock(Clock::Fixed(day(300)));
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

/// The first run, on the first anniversary of the bills' due date, levies a surcharge on
/// every consumer and issues each a notice; the next day, when the levies fall overdue, the
/// run by agenda decides none of them again (the first run looked a day ahead) and still
/// answers what a run over everyone answers. A rerun of the first run's date decides them
/// all, since what the agenda holds for them is the day after's.
#[test]
fn the_day_after_a_run_that_levied_on_everyone_decides_no_one_again() {
    let agenda_dir = tempfile::tempdir().expect("a temporary directory");
    let full_dir = tempfile::tempdir().expect("a temporary directory");
    let mut by_agenda = utility_paying(agenda_dir.path(), true, |_| false);
    let mut full = utility_paying(full_dir.path(), false, |_| false);
    // 2026-02-20: the first anniversary of the due date, 31 days overdue.
    let first = day(50);
    let mut run = |date: NaiveDate| {
        let a = by_agenda.nightly(date).expect("a run by agenda");
        let f = full.nightly(date).expect("a run over everyone");
        assert_eq!(f.visited, 40, "a run over everyone decides everyone");
        let visited = a.visited;
        let levied = a.surcharges;
        assert_eq!(outcome(a), outcome(f), "the run of {date}");
        assert_eq!(log(&by_agenda), log(&full), "the log after {date}");
        (visited, levied)
    };
    assert_eq!(run(first), (40, 40), "the first run levies on everyone");
    assert_eq!(
        run(first),
        (40, 0),
        "a rerun of its date decides everyone again"
    );
    assert_eq!(run(day(51)), (0, 0), "the day after decides no one");
    // The next anniversary levies again. The days in between decide no one but 2026-03-12,
    // when the levy of 2026-02-20 has been overdue for the notice's minimum days.
    let between: Vec<(u64, usize)> = (52..78)
        .map(|n| (n, run(day(n))))
        .filter(|(_, (visited, _))| *visited > 0)
        .map(|(n, (visited, _))| (n, visited))
        .collect();
    assert_eq!(between, [(70, 40)]);
    assert_eq!(
        run(day(78)),
        (40, 40),
        "2026-03-20 levies the second surcharge"
    );
    assert_eq!(run(day(79)), (0, 0));
}
