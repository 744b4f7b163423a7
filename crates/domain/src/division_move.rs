//! Moving a division from one partition to another: which events go, and in what order the
//! receiving partition holds them.
//!
//! A division's events are those of the consumers, camps and grievances registered in its
//! subdivisions (each on a stream of its own). They leave the partition that held them, in
//! their order; every other event stays there, the office tree and the nightly runs' marks
//! included. The receiving partition keeps its own events in their order and takes the
//! division's between its nightly runs: the division's events of the time before the first
//! run go before that run's mark, and so on. So every stream keeps its order and its place
//! among the nightly runs, which is all that the projections read from the order of events.
//!
//! A move is refused when the result could differ from one process holding every event: the
//! two partitions ran the nightly run on different dates (unless the receiving one holds
//! nothing but offices yet), the receiving one lacks the division's offices, or the division's
//! consumers, camps, grievances or natural keys (bill and receipt numbers...) are found in
//! both partitions.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::event::{Event, StreamId};
use crate::types::Level;

/// An event with the time it was recorded (milliseconds), as a log holds it.
pub type Recorded = (Event, i64);

/// The two partitions' events after a move.
#[derive(Debug, Default, PartialEq)]
pub struct MovePlan {
    /// The giving partition's events without the division's, in their order.
    pub stays: Vec<Recorded>,
    /// The receiving partition's events with the division's, in the order above.
    pub joined: Vec<Recorded>,
    /// How many of the division's events moved.
    pub moved: usize,
    /// How many of its consumers.
    pub consumers: usize,
    /// The date of the last nightly run either partition holds.
    pub last_run: Option<NaiveDate>,
}

/// The dates of the nightly runs `events` hold, in their order.
fn run_dates(events: &[Recorded]) -> Vec<NaiveDate> {
    events
        .iter()
        .filter_map(|(e, _)| match e {
            Event::NightlyRunCompleted(run) => Some(run.as_of),
            _ => None,
        })
        .collect()
}

/// Dates written as a short list: the count, the first and the last.
fn dates_text(dates: &[NaiveDate]) -> String {
    match dates {
        [] => "no run".to_string(),
        [one] => format!("one run, on {one}"),
        [first, .., last] => format!("{} runs, {first} to {last}", dates.len()),
    }
}

/// Plans moving `division` from partition `from` (holding `from_events`) to partition `to`
/// (holding `to_events`): `None` when the division holds nothing in `from`, else the two
/// partitions' events after the move; `Err` says why the move is refused.
pub fn plan_move(
    division: &str,
    (from, from_events): (&str, Vec<Recorded>),
    (to, to_events): (&str, Vec<Recorded>),
) -> Result<Option<MovePlan>, String> {
    let mut offices: HashMap<&str, (Level, Option<&str>)> = HashMap::new();
    for (event, _) in &from_events {
        if let Event::OfficeRegistered(o) = event {
            offices
                .entry(o.code.as_str())
                .or_insert((o.level, o.parent.as_deref()));
        }
    }
    match offices.get(division) {
        Some((Level::Division, _)) => {}
        Some(_) => return Err(format!("{division} is not a division")),
        None => {
            return Err(format!(
                "division {division} is not in the office tree partition {from} holds"
            ))
        }
    }
    // The division's offices: itself and every office below it.
    let within = |code: &str| {
        let mut at = Some(code);
        for _ in 0..16 {
            match at {
                Some(c) if c == division => return true,
                Some(c) => at = offices.get(c).and_then(|(_, parent)| *parent),
                None => return false,
            }
        }
        false
    };
    // The streams that go: those of the consumers, camps and grievances registered in the
    // division's subdivisions.
    let mut streams: HashSet<StreamId<'_>> = HashSet::new();
    let mut consumers = 0;
    for (event, _) in &from_events {
        let subdivision = match event {
            Event::ConsumerRegistered(e) => &e.subdivision,
            Event::CampScheduled(e) => &e.subdivision,
            Event::GrievanceRegistered(e) => &e.subdivision,
            _ => continue,
        };
        if within(subdivision) && streams.insert(event.stream_id()) {
            consumers += usize::from(matches!(event, Event::ConsumerRegistered(_)));
        }
    }
    if streams.is_empty() {
        return Ok(None);
    }
    // Whether each event of `from` goes.
    let goes: Vec<bool> = from_events
        .iter()
        .map(|(e, _)| streams.contains(&e.stream_id()))
        .collect();
    let moved = goes.iter().filter(|g| **g).count();
    // A grievance stays with the account and the camp it names (an owner checks only the
    // grievance's own subdivision, so one may name another division's).
    for ((event, _), going) in from_events.iter().zip(&goes) {
        let Event::GrievanceRegistered(g) = event else {
            continue;
        };
        let named = [
            g.account_no.as_deref().map(StreamId::Consumer),
            g.camp_id.as_deref().map(StreamId::Camp),
        ];
        for other in named.into_iter().flatten() {
            if streams.contains(&other) != *going {
                return Err(format!(
                    "grievance {} of subdivision {} names {other}, of another division: \
                     moving {division} would part them",
                    g.grievance_id, g.subdivision
                ));
            }
        }
    }

    // What the receiving partition holds must not meet what comes.
    let mut to_offices: HashSet<String> = HashSet::new();
    let mut fresh = true;
    {
        let mut to_streams: HashSet<StreamId<'_>> = HashSet::new();
        let mut to_keys: HashSet<(&'static str, String)> = HashSet::new();
        for (event, _) in &to_events {
            match event {
                Event::OfficeRegistered(o) => {
                    to_offices.insert(o.code.clone());
                }
                _ => fresh = false,
            }
            to_streams.insert(event.stream_id());
            if let Some(key) = event.natural_key() {
                to_keys.insert((key.namespace.as_str(), key.key));
            }
        }
        for ((event, _), _) in from_events.iter().zip(&goes).filter(|(_, g)| **g) {
            let stream = event.stream_id();
            if to_streams.contains(&stream) {
                return Err(format!(
                    "{stream} is in partition {to} already, and in {from}'s division {division}"
                ));
            }
            if let Some(key) = event.natural_key() {
                let namespace = key.namespace.as_str();
                if to_keys.contains(&(namespace, key.key.clone())) {
                    return Err(format!(
                        "{namespace} {} is recorded in partition {to} already, and in {from}'s \
                         division {division}",
                        key.key
                    ));
                }
            }
        }
    }

    let (from_runs, to_runs) = (run_dates(&from_events), run_dates(&to_events));
    let last_run = from_runs.iter().chain(&to_runs).max().copied();
    if !fresh {
        if from_runs != to_runs {
            return Err(format!(
                "partition {from} has {} and {to} has {}: a division moves between partitions \
                 whose nightly runs were on the same dates (run the one behind first)",
                dates_text(&from_runs),
                dates_text(&to_runs)
            ));
        }
        if let Some(missing) = offices
            .keys()
            .filter(|code| within(code) && !to_offices.contains(**code))
            .min()
        {
            return Err(format!(
                "partition {to} does not hold office {missing} of division {division}: import the \
                 office tree into every partition first"
            ));
        }
    }

    // One pass over `from`: what stays, and what joins `to` (for a partition of offices
    // alone: the offices it lacks, the runs and the division's events, in `from`'s order;
    // else the division's events between each two runs).
    let mut stays = Vec::with_capacity(from_events.len() - moved);
    let mut extra: Vec<Recorded> = Vec::new();
    let mut between: Vec<Vec<Recorded>> = vec![Vec::new()];
    for ((event, at), going) in from_events.into_iter().zip(goes) {
        if going {
            match between.last_mut() {
                Some(part) if !fresh => part.push((event, at)),
                _ => extra.push((event, at)),
            }
            continue;
        }
        let is_run = matches!(event.stream_id(), StreamId::Nightly);
        if fresh {
            let lacked =
                matches!(&event, Event::OfficeRegistered(o) if !to_offices.contains(&o.code));
            if is_run || lacked {
                extra.push((event.clone(), at));
            }
        } else if is_run {
            between.push(Vec::new());
        }
        stays.push((event, at));
    }
    let joined = if fresh {
        let mut joined = to_events;
        joined.extend(extra);
        joined
    } else {
        let mut parts = between.into_iter();
        let mut joined = Vec::with_capacity(to_events.len() + moved);
        for (event, at) in to_events {
            if matches!(event.stream_id(), StreamId::Nightly) {
                joined.extend(parts.next().unwrap_or_default());
            }
            joined.push((event, at));
        }
        joined.extend(parts.flatten());
        joined
    };
    Ok(Some(MovePlan {
        stays,
        joined,
        moved,
        consumers,
        last_run,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use crate::money::Money;
    use crate::testkit::{day, registration};

    fn office(code: &str, level: Level, parent: Option<&str>) -> Recorded {
        let e = Event::OfficeRegistered(OfficeRegistered {
            code: code.into(),
            name: code.into(),
            level,
            parent: parent.map(Into::into),
        });
        (e, 1)
    }

    /// A circle with divisions D-N, D-S and D-E, a subdivision each.
    fn offices() -> Vec<Recorded> {
        let mut out = vec![office("C-R", Level::Circle, None)];
        for d in ["N", "S", "E"] {
            out.push(office(&format!("D-{d}"), Level::Division, Some("C-R")));
            out.push(office(
                &format!("SD-{d}1"),
                Level::Subdivision,
                Some(&format!("D-{d}")),
            ));
        }
        out
    }

    fn consumer(account: &str, subdivision: &str) -> Recorded {
        let Event::ConsumerRegistered(mut e) = registration(false, false) else {
            unreachable!()
        };
        e.account_no = account.into();
        e.subdivision = subdivision.into();
        (Event::ConsumerRegistered(e), 2)
    }

    fn bill(no: &str, account: &str) -> Recorded {
        let e = Event::BillIssued(BillIssued {
            bill_no: no.into(),
            account_no: account.into(),
            period: "2025-04".into(),
            issued_on: day(1),
            due_on: day(15),
            amount: Money::from_paise(10_000),
        });
        (e, 3)
    }

    fn run(offset: i64) -> Recorded {
        let e = Event::NightlyRunCompleted(NightlyRunCompleted { as_of: day(offset) });
        (e, 4)
    }

    /// What each event is, to compare orders at a glance.
    fn names(events: &[Recorded]) -> Vec<String> {
        events
            .iter()
            .map(|(e, _)| match e {
                Event::OfficeRegistered(o) => o.code.clone(),
                Event::ConsumerRegistered(c) => format!("consumer {}", c.account_no),
                Event::BillIssued(b) => format!("bill {}", b.bill_no),
                Event::NightlyRunCompleted(r) => format!("run {}", r.as_of),
                other => other.type_name().to_string(),
            })
            .collect()
    }

    /// North holds D-N and D-S (A and B in D-S, N in D-N); east holds D-E (E).
    fn north() -> Vec<Recorded> {
        let mut events = offices();
        events.extend([
            consumer("A", "SD-S1"),
            consumer("N", "SD-N1"),
            bill("BA1", "A"),
            run(10),
            bill("BN1", "N"),
            consumer("B", "SD-S1"),
            run(20),
            bill("BA2", "A"),
        ]);
        events
    }

    fn east() -> Vec<Recorded> {
        let mut events = offices();
        events.extend([
            consumer("E", "SD-E1"),
            bill("BE1", "E"),
            run(10),
            bill("BE2", "E"),
            run(20),
        ]);
        events
    }

    #[test]
    fn the_division_leaves_in_its_order_and_joins_between_the_same_runs() {
        let plan = plan_move("D-S", ("north", north()), ("east", east()))
            .unwrap()
            .unwrap();
        let (run10, run20) = (format!("run {}", day(10)), format!("run {}", day(20)));
        let office_names = names(&offices());
        let mut stays = office_names.clone();
        stays.extend([
            "consumer N".to_string(),
            run10.clone(),
            "bill BN1".into(),
            run20.clone(),
        ]);
        assert_eq!(names(&plan.stays), stays);
        let mut joined = office_names;
        joined.extend([
            "consumer E".to_string(),
            "bill BE1".into(),
            "consumer A".into(),
            "bill BA1".into(),
            run10,
            "bill BE2".into(),
            "consumer B".into(),
            run20,
            "bill BA2".into(),
        ]);
        assert_eq!(names(&plan.joined), joined);
        assert_eq!((plan.moved, plan.consumers), (4, 2));
        // Recorded times travel with their events.
        assert!(plan.joined.iter().all(|(e, at)| match e {
            Event::BillIssued(_) => *at == 3,
            Event::NightlyRunCompleted(_) => *at == 4,
            _ => true,
        }));
    }

    #[test]
    fn a_partition_of_offices_alone_takes_the_runs_and_the_offices_it_lacks() {
        let to = vec![
            office("C-R", Level::Circle, None),
            office("D-E", Level::Division, Some("C-R")),
        ];
        let plan = plan_move("D-S", ("north", north()), ("spare", to))
            .unwrap()
            .unwrap();
        let expected: Vec<String> = [
            "C-R",
            "D-E",
            "D-N",
            "SD-N1",
            "D-S",
            "SD-S1",
            "SD-E1",
            "consumer A",
            "bill BA1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("run {}", day(10)),
            "consumer B".to_string(),
            format!("run {}", day(20)),
            "bill BA2".to_string(),
        ])
        .collect();
        assert_eq!(names(&plan.joined), expected);
    }

    #[test]
    fn a_move_is_refused_when_the_result_could_differ_from_one_process() {
        // Runs on other dates.
        let mut behind = east();
        behind.pop();
        let refused = plan_move("D-S", ("north", north()), ("east", behind)).unwrap_err();
        assert!(refused.contains("partition north has 2 runs"), "{refused}");
        assert!(refused.contains("east has one run"), "{refused}");
        // A bill number both partitions hold.
        let mut clash = east();
        clash.push(bill("BA2", "E"));
        let refused = plan_move("D-S", ("north", north()), ("east", clash)).unwrap_err();
        assert!(
            refused.contains("BA2 is recorded in partition east"),
            "{refused}"
        );
        // An account both hold.
        let mut twice = east();
        twice.push(consumer("B", "SD-E1"));
        let refused = plan_move("D-S", ("north", north()), ("east", twice)).unwrap_err();
        assert!(
            refused.contains("consumer-B is in partition east"),
            "{refused}"
        );
        // The receiving partition lacks the division's subdivision.
        let without: Vec<Recorded> = east()
            .into_iter()
            .filter(|(e, _)| !matches!(e, Event::OfficeRegistered(o) if o.code == "SD-S1"))
            .collect();
        let refused = plan_move("D-S", ("north", north()), ("east", without)).unwrap_err();
        assert!(refused.contains("office SD-S1"), "{refused}");
        // A grievance of D-N naming a consumer of D-S.
        let mut named = north();
        named.push((
            Event::GrievanceRegistered(GrievanceRegistered {
                grievance_id: "G1".into(),
                subdivision: "SD-N1".into(),
                account_no: Some("A".into()),
                camp_id: None,
                category: crate::types::GrievanceCategory::Billing,
                registered_on: day(3),
            }),
            5,
        ));
        let refused = plan_move("D-S", ("north", named), ("east", east())).unwrap_err();
        assert!(
            refused.contains("grievance G1 of subdivision SD-N1 names consumer-A"),
            "{refused}"
        );
        // Not a division, or not known.
        let refused = plan_move("SD-S1", ("north", north()), ("east", east())).unwrap_err();
        assert!(refused.contains("not a division"), "{refused}");
        let refused = plan_move("D-X", ("north", north()), ("east", east())).unwrap_err();
        assert!(refused.contains("not in the office tree"), "{refused}");
    }

    #[test]
    fn a_division_holding_nothing_has_nothing_to_move() {
        assert_eq!(
            plan_move("D-E", ("north", north()), ("east", east())),
            Ok(None)
        );
    }
}
