//! A deterministic generator of a realistic distribution utility, for demos, benchmarks and
//! tests: an office tree with Uttarakhand place names (two zones, their circles, divisions and
//! subdivisions), consumers by tariff category, monthly bills, payments from on-time payers,
//! late payers, part payers and chronic defaulters, mobile registrations, camps and grievances.
//!
//! Everything is a pure function of [`GeneratorConfig`]. Each consumer draws from its own
//! ChaCha8 streams, keyed by the seed, the consumer's index and the month, so any consumer's
//! commands for any month can be produced without generating anyone else's. That keeps memory
//! bounded at millions of consumers (one chunk of commands at a time) and lets chunks be
//! generated on several threads without changing the output.
//!
//! The output is a sequence of [`MonthBatch`]es: first the offices and consumers, then each
//! month's commands, every one dated inside its month, so a caller can apply a month and then
//! run the nightly run for its last day before moving on. A command may depend on an earlier
//! one of the same month (a camp is scheduled before it is held, a grievance registered before
//! it is resolved); batches keep that order.

use chrono::{Datelike, Months, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::ops::Range;
use vasooli_domain::command::Command;
use vasooli_domain::money::Money;
use vasooli_domain::types::{Category, Channel, GrievanceCategory, Language, Level, MobileSource};

/// Most consumers one generator makes; account numbers have room for far more, this bound
/// only keeps a typo from asking for days of work.
pub const CONSUMERS_MAX: usize = 50_000_000;
/// Most months one generator covers (ten years).
pub const MONTHS_MAX: u32 = 120;
/// Most commands handed over at once, whatever batch size is asked for, so that one call
/// never needs more than a few hundred megabytes.
pub const BATCH_COMMANDS_MAX: usize = 500_000;

/// The latest a command can fall after the 1st of the month it starts in, in days: a
/// grievance raised on the 31st and resolved 30 days later. (A late payment is at most 40 days
/// after the due date on the 20th, a chronic defaulter's at most 55 days after the 5th.) It
/// decides which earlier months can still have commands in the month being generated.
const EPISODE_SPAN_DAYS_MAX: i32 = 60;
/// Consumers generated together; with `THREADS_MAX` chunks in flight this bounds memory to
/// a few hundred thousand commands.
const CHUNK_CONSUMERS: u64 = 16_384;
const THREADS_MAX: usize = 8;

/// Bills are issued on the 5th and fall due on the 20th (offsets from the 1st).
const BILL_ISSUE_OFFSET_DAYS: i32 = 4;
const BILL_DUE_OFFSET_DAYS: i32 = 19;
/// A camp is announced a week before it is held.
const CAMP_NOTICE_DAYS: i32 = 7;

/// Chance per consumer per month of a grievance.
const GRIEVANCE_MONTHLY_PROBABILITY: f64 = 0.004;

/// What the generator makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub consumers: usize,
    /// Number of bill months, at least 1.
    pub months: u32,
    pub seed: u64,
    /// The first bill month; any day of it names the month.
    pub start: NaiveDate,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            consumers: 20_000,
            months: 12,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2025, 10, 1).expect("a valid date"),
        }
    }
}

impl GeneratorConfig {
    /// Checks the bounds; [`Generator::new`] requires them.
    pub fn validate(&self) -> Result<(), String> {
        if self.consumers > CONSUMERS_MAX {
            return Err(format!(
                "consumers: {} is more than {CONSUMERS_MAX}",
                self.consumers
            ));
        }
        if self.months == 0 || self.months > MONTHS_MAX {
            return Err(format!(
                "months: {} is not between 1 and {MONTHS_MAX}",
                self.months
            ));
        }
        let first = self.start.with_day(1).expect("every month has a 1st");
        if first.checked_add_months(Months::new(self.months)).is_none() || first.year() < 1900 {
            return Err(format!(
                "start: {} with {} months is out of range",
                self.start, self.months
            ));
        }
        Ok(())
    }
}

/// One delivery of commands.
///
/// The opening delivery (`month_end: None`) holds the offices, parents before children, then
/// every consumer. Then, for each month in order, one or more deliveries with that month's
/// last day as `month_end`, holding every command dated in that month. Within a month the
/// commands are not in date order, but each comes after anything it depends on, so they are
/// valid to apply in the order given. `last_of_month` marks the final delivery of the opening
/// or of a month: the point at which a caller runs the nightly run for `month_end`. Only
/// that final delivery can be empty, and only when its month has no commands at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthBatch {
    pub month_end: Option<NaiveDate>,
    pub commands: Vec<Command>,
    pub last_of_month: bool,
}

/// The generator; cheap to build (it precomputes only the office tree and the camp calendar).
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    /// Day numbers (from the common era) of each month's 1st, and of the 1st after the last.
    month_starts: Vec<i32>,
    /// Calendar month (1 to 12) of each bill month.
    calendar_months: Vec<u32>,
    /// `2025-10` for bill periods.
    periods: Vec<String>,
    /// `202510` for bill, receipt and camp numbers.
    months_compact: Vec<String>,
    subdivisions: Vec<Subdivision>,
    /// Running totals of the subdivisions' weights, for picking a consumer's subdivision.
    weights_cumulative: Vec<u32>,
    /// The camp of each month and subdivision, at `month * subdivisions + subdivision`.
    camps: Vec<CampPlan>,
    account_offset: u64,
    threads: usize,
}

#[derive(Clone, Debug)]
struct Subdivision {
    code: &'static str,
    place_en: &'static str,
    place_hi: &'static str,
    /// The field agent's own number, which a few consumers end up registered with.
    agent_mobile: u64,
}

#[derive(Clone, Copy, Debug)]
struct CampPlan {
    day: i32,
    held: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payer {
    OnTime,
    Late,
    Partial,
    /// Chronic defaulters; some never pay at all.
    Chronic {
        pays: bool,
    },
    Irregular,
}

/// What stays fixed about a consumer from month to month.
#[derive(Clone, Copy, Debug)]
struct Profile {
    category: Category,
    subdivision: usize,
    payer: Payer,
    bill_base_rupees: f64,
    channel: Channel,
    mobile_initial: Option<u64>,
    /// A mobile registered later (first time, or a changed number): month, source, number.
    mobile_later: Option<(usize, MobileSource, u64)>,
}

/// A consumer's event before it becomes a command, so that events outside the month being
/// emitted cost no allocation.
#[derive(Clone, Copy, Debug)]
enum Planned {
    Bill {
        rupees: i64,
    },
    Payment {
        sequence: u8,
        rupees: i64,
        day: i32,
        channel: Channel,
    },
    Mobile {
        number: u64,
        day: i32,
        source: MobileSource,
    },
    Grievance {
        day: i32,
        category: GrievanceCategory,
        at_camp: bool,
    },
    Resolution {
        day: i32,
        category: GrievanceCategory,
        note: usize,
    },
}

impl Planned {
    fn day(&self, issue_day: i32) -> i32 {
        match *self {
            Planned::Bill { .. } => issue_day,
            Planned::Payment { day, .. }
            | Planned::Mobile { day, .. }
            | Planned::Grievance { day, .. }
            | Planned::Resolution { day, .. } => day,
        }
    }
}

// Stream tags keep the draws for different purposes independent of one another.
const TAG_PROFILE: u64 = 0x7072_6f66_696c_6501;
const TAG_REGISTRATION: u64 = 0x7265_6769_7374_6572;
const TAG_EPISODE: u64 = 0x6570_6973_6f64_6502;
const TAG_CAMP: u64 = 0x6361_6d70_5f70_6c61;
const TAG_AGENT: u64 = 0x6167_656e_745f_6d6f;
const TAG_ACCOUNT: u64 = 0x6163_636f_756e_7473;

impl Generator {
    /// Builds a generator.
    ///
    /// # Panics
    /// If the configuration is out of bounds; check it first with
    /// [`GeneratorConfig::validate`] when it comes from a user.
    pub fn new(config: GeneratorConfig) -> Generator {
        if let Err(reason) = config.validate() {
            panic!("invalid generator configuration: {reason}");
        }
        let first = config.start.with_day(1).expect("every month has a 1st");
        let mut month_starts = Vec::with_capacity(config.months as usize + 1);
        let mut calendar_months = Vec::new();
        let mut periods = Vec::new();
        let mut months_compact = Vec::new();
        for m in 0..=config.months {
            let date = first
                .checked_add_months(Months::new(m))
                .expect("validated range");
            month_starts.push(date.num_days_from_ce());
            if m < config.months {
                calendar_months.push(date.month());
                periods.push(format!("{:04}-{:02}", date.year(), date.month()));
                months_compact.push(format!("{:04}{:02}", date.year(), date.month()));
            }
        }

        let mut subdivisions = Vec::new();
        let mut weights_cumulative = Vec::new();
        let mut total = 0u32;
        for zone in ZONES {
            for circle in zone.circles {
                for division in circle.divisions {
                    for s in division.subdivisions {
                        let index = subdivisions.len() as u64;
                        let mut rng = stream(config.seed, TAG_AGENT, index, 0);
                        subdivisions.push(Subdivision {
                            code: s.code,
                            place_en: s.en,
                            place_hi: s.hi,
                            agent_mobile: mobile_number(&mut rng),
                        });
                        total += s.weight;
                        weights_cumulative.push(total);
                    }
                }
            }
        }

        let mut generator = Generator {
            account_offset: splitmix64(config.seed ^ TAG_ACCOUNT) % ACCOUNT_SPACE,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(THREADS_MAX),
            config,
            month_starts,
            calendar_months,
            periods,
            months_compact,
            subdivisions,
            weights_cumulative,
            camps: Vec::new(),
        };
        let mut camps = Vec::new();
        for k in 0..generator.months() {
            for s in 0..generator.subdivisions.len() {
                camps.push(generator.camp_plan(s, k));
            }
        }
        generator.camps = camps;
        generator
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    fn months(&self) -> usize {
        self.config.months as usize
    }

    /// The last date any generated event falls on: the last day of the last month.
    pub fn end_date(&self) -> NaiveDate {
        date_of(self.month_starts[self.months()] - 1)
    }

    /// The last day of each month, in order: the dates of the nightly runs between months.
    pub fn month_ends(&self) -> Vec<NaiveDate> {
        self.month_starts[1..]
            .iter()
            .map(|start| date_of(start - 1))
            .collect()
    }

    /// The office tree, parents before children: two zones, ten circles, their divisions and
    /// subdivisions.
    pub fn offices(&self) -> Vec<Command> {
        let mut out = Vec::new();
        for zone in ZONES {
            out.push(Command::RegisterOffice {
                code: zone.code.to_string(),
                name: format!("{} क्षेत्र ({} Zone)", zone.hi, zone.en),
                level: Level::Zone,
                parent: None,
            });
        }
        for zone in ZONES {
            for circle in zone.circles {
                out.push(Command::RegisterOffice {
                    code: circle.code.to_string(),
                    name: format!("{} वृत्त ({} Circle)", circle.hi, circle.en),
                    level: Level::Circle,
                    parent: Some(zone.code.to_string()),
                });
            }
        }
        for zone in ZONES {
            for circle in zone.circles {
                for division in circle.divisions {
                    out.push(Command::RegisterOffice {
                        code: division.code.to_string(),
                        name: format!("{} खंड ({} Division)", division.hi, division.en),
                        level: Level::Division,
                        parent: Some(circle.code.to_string()),
                    });
                }
            }
        }
        for zone in ZONES {
            for circle in zone.circles {
                for division in circle.divisions {
                    for s in division.subdivisions {
                        out.push(Command::RegisterOffice {
                            code: s.code.to_string(),
                            name: format!("{} उपखंड ({} Subdivision)", s.hi, s.en),
                            level: Level::Subdivision,
                            parent: Some(division.code.to_string()),
                        });
                    }
                }
            }
        }
        out
    }

    /// Hands every command to `sink` in deliveries of at most `batch_size` commands (and at
    /// most [`BATCH_COMMANDS_MAX`]), as described at [`MonthBatch`]. Stops at the first error
    /// from `sink` and returns it.
    ///
    /// Memory stays bounded whatever the number of consumers: commands are made a few chunks
    /// of consumers at a time, and a delivery is handed over as soon as it is full. A demo
    /// applies each delivery and, on one marked `last_of_month` with a `month_end`, runs the
    /// nightly run for that date before the next month arrives.
    pub fn for_each_month(
        &self,
        batch_size: usize,
        sink: &mut dyn FnMut(MonthBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut emitter = Emitter::new(batch_size, sink);
        for office in self.offices() {
            emitter.push(office)?;
        }
        self.for_each_chunk(&mut emitter, |generator, range, out| {
            generator.consumers_chunk(range, out)
        })?;
        emitter.finish(Some(date_of(self.month_starts[1] - 1)))?;

        for m in 0..self.months() {
            let window = self.month_starts[m]..self.month_starts[m + 1];
            // Camps first: a consumer's grievance can name a camp of the same month.
            for k in self.first_reaching(m)..=m {
                for s in 0..self.subdivisions.len() {
                    for (day, command) in self.camp_commands(s, k) {
                        if window.contains(&day) {
                            emitter.push(command)?;
                        }
                    }
                }
            }
            self.for_each_chunk(&mut emitter, |generator, range, out| {
                generator.month_chunk(m, range, out)
            })?;
            let next_month_end = self.month_starts.get(m + 2).map(|start| date_of(start - 1));
            emitter.finish(next_month_end)?;
        }
        Ok(())
    }

    /// Hands every command to `sink` in batches of at most `batch_size`, in an order valid to
    /// apply, without the month boundaries of [`Generator::for_each_month`].
    pub fn for_each_batch(
        &self,
        batch_size: usize,
        sink: &mut dyn FnMut(Vec<Command>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.for_each_month(batch_size, &mut |batch| {
            if batch.commands.is_empty() {
                Ok(())
            } else {
                sink(batch.commands)
            }
        })
    }

    /// Runs `work` over chunks of consumers, several chunks at a time on threads, and pushes
    /// their commands in chunk order so that the output does not depend on the thread count.
    fn for_each_chunk(
        &self,
        emitter: &mut Emitter,
        work: impl Fn(&Generator, Range<u64>, &mut Vec<Command>) + Sync,
    ) -> Result<(), String> {
        let consumers = self.config.consumers as u64;
        let mut next = 0u64;
        while next < consumers {
            let ranges: Vec<Range<u64>> = (0..self.threads)
                .map(|t| {
                    let from = (next + t as u64 * CHUNK_CONSUMERS).min(consumers);
                    from..(from + CHUNK_CONSUMERS).min(consumers)
                })
                .filter(|r| !r.is_empty())
                .collect();
            next = ranges.last().map_or(consumers, |r| r.end);
            let outputs: Vec<Vec<Command>> = if ranges.len() == 1 {
                let mut out = Vec::new();
                work(self, ranges[0].clone(), &mut out);
                vec![out]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = ranges
                        .iter()
                        .map(|range| {
                            let work = &work;
                            let range = range.clone();
                            scope.spawn(move || {
                                let mut out = Vec::new();
                                work(self, range, &mut out);
                                out
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a generator thread panicked"))
                        .collect()
                })
            };
            for out in outputs {
                emitter.extend(out)?;
            }
        }
        Ok(())
    }

    fn rng(&self, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
        stream(self.config.seed, tag, a, b)
    }

    /// The account number of a consumer: `UK` and ten digits. The digits are the index
    /// scrambled by a bijection of 0..10^10, so numbers are unique but not sequential.
    fn account_into(&self, index: u64, out: &mut String) {
        let digits = ((index as u128 * ACCOUNT_MULTIPLIER as u128 + self.account_offset as u128)
            % ACCOUNT_SPACE as u128) as u64;
        out.clear();
        write!(out, "UK{digits:010}").expect("writing to a String");
    }

    fn camp(&self, subdivision: usize, month: usize) -> CampPlan {
        self.camps[month * self.subdivisions.len() + subdivision]
    }

    /// The day of the last camp held in a subdivision on or before `day` and no earlier than
    /// month `since`, if any.
    fn camp_held_before(&self, subdivision: usize, since: usize, day: i32) -> Option<i32> {
        let last = self.month_of(day)?;
        (since..=last)
            .rev()
            .map(|month| self.camp(subdivision, month))
            .find(|camp| camp.held && camp.day <= day)
            .map(|camp| camp.day)
    }

    /// The earliest month whose commands can fall in month `m`.
    fn first_reaching(&self, m: usize) -> usize {
        (0..=m)
            .find(|k| self.month_starts[*k] + EPISODE_SPAN_DAYS_MAX >= self.month_starts[m])
            .unwrap_or(m)
    }

    fn month_of(&self, day: i32) -> Option<usize> {
        if day < self.month_starts[0] || day >= self.month_starts[self.months()] {
            return None;
        }
        Some(self.month_starts.partition_point(|start| *start <= day) - 1)
    }

    fn camp_plan(&self, subdivision: usize, month: usize) -> CampPlan {
        let mut rng = self.rng(TAG_CAMP, subdivision as u64, month as u64);
        // Between the 8th and the 26th, so that the announcement a week ahead falls in the
        // same month and the camp does not clash with the bill run on the 5th.
        let mut day = self.month_starts[month] + rng.gen_range(7..26);
        // No camps on Sundays; the Monday after is still in the month (the 27th at the latest).
        if date_of(day).weekday() == Weekday::Sun {
            day += 1;
        }
        debug_assert!(day - CAMP_NOTICE_DAYS >= self.month_starts[month]);
        debug_assert!(day < self.month_starts[month + 1]);
        CampPlan {
            day,
            held: rng.gen_bool(0.92),
        }
    }

    fn camp_id(&self, subdivision: usize, month: usize) -> String {
        format!(
            "CMP-{}-{}",
            self.subdivisions[subdivision].code, self.months_compact[month]
        )
    }

    /// A subdivision's camp of a month: scheduled a week ahead, held on the day by a team of
    /// officers (unless called off), with walk-in applicants registering grievances there.
    fn camp_commands(&self, subdivision: usize, month: usize) -> Vec<(i32, Command)> {
        let plan = self.camp(subdivision, month);
        let mut rng = self.rng(TAG_CAMP, subdivision as u64, month as u64);
        // The first draws made the plan; skip them so the rest of the stream is the same.
        let _ = rng.gen_range(7..26);
        let _ = rng.gen_bool(0.92);
        let s = &self.subdivisions[subdivision];
        let camp_id = self.camp_id(subdivision, month);
        let (template_en, template_hi) = VENUES[rng.gen_range(0..VENUES.len())];
        let venue = if rng.gen_bool(0.5) {
            format!("{template_hi}, {}", s.place_hi)
        } else {
            format!("{template_en}, {}", s.place_en)
        };
        let officers = pick_weighted(&OFFICER_TEAMS, rng.gen_range(0..100));
        let mut out = vec![(
            plan.day - CAMP_NOTICE_DAYS,
            Command::ScheduleCamp {
                camp_id: camp_id.clone(),
                subdivision: s.code.to_string(),
                on: date_of(plan.day),
                venue,
            },
        )];
        if !plan.held {
            return out;
        }
        out.push((
            plan.day,
            Command::HoldCamp {
                camp_id: camp_id.clone(),
                held_on: date_of(plan.day),
                officers_present: officers.iter().map(|o| o.to_string()).collect(),
            },
        ));
        let walk_ins = rng.gen_range(0..=3);
        for n in 1..=walk_ins {
            let category = pick_weighted(&WALK_IN_GRIEVANCES, rng.gen_range(0..100));
            let grievance_id = format!("GRV-{camp_id}-{n}");
            out.push((
                plan.day,
                Command::RegisterGrievance {
                    grievance_id: grievance_id.clone(),
                    subdivision: s.code.to_string(),
                    category,
                    registered_on: date_of(plan.day),
                    account_no: None,
                    camp_id: Some(camp_id.clone()),
                },
            ));
            if rng.gen_bool(0.8) {
                let day = plan.day + resolution_delay_days(&mut rng);
                out.push((
                    day,
                    Command::ResolveGrievance {
                        grievance_id,
                        resolved_on: date_of(day),
                        note: resolution_note(category, rng.gen_range(0..2)).to_string(),
                    },
                ));
            }
        }
        out
    }

    /// What stays fixed about a consumer.
    fn profile(&self, index: u64) -> Profile {
        let mut rng = self.rng(TAG_PROFILE, index, 0);
        let category = pick_weighted(&CATEGORY_WEIGHTS, rng.gen_range(0..10_000));
        let total = *self.weights_cumulative.last().expect("offices exist");
        let draw = rng.gen_range(0..total);
        let subdivision = self.weights_cumulative.partition_point(|w| *w <= draw);
        let payer = match rng.gen_range(0..100) {
            0..=59 => Payer::OnTime,
            60..=79 => Payer::Late,
            80..=89 => Payer::Partial,
            90..=96 => Payer::Chronic {
                pays: rng.gen_bool(0.7),
            },
            _ => Payer::Irregular,
        };
        let (low, high) = bill_range_rupees(category);
        // Log-uniform, so small bills are common and large ones rare; the top of the range is
        // left for seasonal peaks.
        let bill_base_rupees = low * (high / low).powf(rng.gen_range(0.0..0.85));
        let channel = match category {
            Category::Industrial | Category::Government => {
                pick_weighted(&INSTITUTION_CHANNELS, rng.gen_range(0..100))
            }
            _ => pick_weighted(&CHANNEL_WEIGHTS, rng.gen_range(0..1000)),
        };
        let months = self.months();
        let agent = self.subdivisions[subdivision].agent_mobile;
        let coverage_draw: f64 = rng.gen();
        let later_month = rng.gen_range(0..months);
        let own = mobile_number(&mut rng);
        let (mobile_initial, mobile_later) = if coverage_draw < 0.01 {
            // A field agent filled in the form with his own number.
            if rng.gen_bool(0.6) {
                (Some(agent), None)
            } else {
                (None, Some((later_month, MobileSource::Field, agent)))
            }
        } else if coverage_draw < 0.35 {
            if rng.gen_bool(0.03) {
                let changed = mobile_number(&mut rng);
                let source = pick_weighted(&CHANGE_SOURCES, rng.gen_range(0..100));
                (Some(own), Some((later_month, source, changed)))
            } else {
                (Some(own), None)
            }
        } else if coverage_draw < 0.60 {
            let source = pick_weighted(&LATER_SOURCES, rng.gen_range(0..100));
            (None, Some((later_month, source, own)))
        } else {
            (None, None)
        };
        Profile {
            category,
            subdivision,
            payer,
            bill_base_rupees,
            channel,
            mobile_initial,
            mobile_later,
        }
    }

    fn consumers_chunk(&self, range: Range<u64>, out: &mut Vec<Command>) {
        out.reserve((range.end - range.start) as usize);
        let mut account = String::new();
        for index in range {
            let profile = self.profile(index);
            self.account_into(index, &mut account);
            out.push(self.registration(index, &profile, &account));
        }
    }

    fn registration(&self, index: u64, profile: &Profile, account: &str) -> Command {
        let mut rng = self.rng(TAG_REGISTRATION, index, 0);
        let s = &self.subdivisions[profile.subdivision];
        let hindi = rng.gen_bool(0.5);
        let language = if rng.gen_bool(if hindi { 0.95 } else { 0.65 }) {
            Language::Hi
        } else {
            Language::En
        };
        let (first_en, first_hi) = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let (last_en, last_hi) = SURNAMES[rng.gen_range(0..SURNAMES.len())];
        let place = if hindi { s.place_hi } else { s.place_en };
        let person = if hindi {
            format!("{first_hi} {last_hi}")
        } else {
            format!("{first_en} {last_en}")
        };
        let last = if hindi { last_hi } else { last_en };
        let (name, load_watts) =
            name_and_load(profile.category, hindi, person, last, place, &mut rng);
        // Connected between two months and thirty years before the first bill month.
        let connected = self.month_starts[0] - rng.gen_range(60..30 * 365);
        // Drawn last, so the fields above stay as they were before addresses.
        let (house, ward) = (rng.gen_range(1..=450), rng.gen_range(1..=12));
        let address = if hindi {
            format!("मकान नं. {house}, वार्ड {ward}, {place}")
        } else {
            format!("House No. {house}, Ward {ward}, {place}")
        };
        Command::RegisterConsumer {
            account_no: account.to_string(),
            name,
            category: profile.category,
            subdivision: s.code.to_string(),
            load_watts,
            connected_on: date_of(connected),
            mobile: profile.mobile_initial.map(|n| n.to_string()),
            language,
            address: Some(address),
        }
    }

    /// Everything that starts for one consumer in bill month `k`: the bill, its payments,
    /// a mobile registration, a grievance and its resolution. Some of it falls in later months.
    fn episode(&self, index: u64, k: usize, profile: &Profile, out: &mut Vec<Planned>) {
        let mut rng = self.rng(TAG_EPISODE, index, k as u64);
        let month_start = self.month_starts[k];
        let issue = month_start + BILL_ISSUE_OFFSET_DAYS;
        let due = month_start + BILL_DUE_OFFSET_DAYS;
        let (low, high) = bill_range_rupees(profile.category);
        let seasonal = SEASON[self.calendar_months[k] as usize - 1];
        let bill = (profile.bill_base_rupees * seasonal * rng.gen_range(0.85..1.15))
            .clamp(low, high)
            .round() as i64;
        out.push(Planned::Bill { rupees: bill });
        let payments = payments_of(&profile.payer, bill, issue, due, &mut rng);
        self.plan_payments(k, profile, issue, payments, &mut rng, out);
        self.plan_mobile(k, profile, &mut rng, out);
        self.plan_grievance(k, profile, &mut rng, out);
    }

    /// The payments of a bill, each with its channel: a payment at a camp is moved to the
    /// last camp held since the bill came, or made at the counter when there was none.
    fn plan_payments(
        &self,
        k: usize,
        profile: &Profile,
        issue: i32,
        payments: [(i64, i32); 2],
        rng: &mut ChaCha8Rng,
        out: &mut Vec<Planned>,
    ) {
        for (sequence, (rupees, day)) in payments.into_iter().enumerate() {
            if rupees <= 0 {
                continue;
            }
            let mut channel = if rng.gen_bool(0.85) {
                profile.channel
            } else {
                pick_weighted(&CHANNEL_WEIGHTS, rng.gen_range(0..1000))
            };
            let mut day = day;
            if channel == Channel::Camp {
                // Paying at a camp means paying at the last camp held by then since the bill
                // came; with none, the consumer pays at the counter instead. Moving the payment
                // earlier, never later, keeps it within EPISODE_SPAN_DAYS_MAX.
                match self.camp_held_before(profile.subdivision, k, day) {
                    Some(camp_day) => day = camp_day,
                    None => channel = Channel::CounterCash,
                }
            }
            debug_assert!(day > issue);
            out.push(Planned::Payment {
                sequence: sequence as u8 + 1,
                rupees,
                day,
                channel,
            });
        }
    }

    /// The mobile number a consumer registers later, when month `k` is its month.
    fn plan_mobile(
        &self,
        k: usize,
        profile: &Profile,
        rng: &mut ChaCha8Rng,
        out: &mut Vec<Planned>,
    ) {
        let Some((month, source, number)) = profile.mobile_later else {
            return;
        };
        if month != k {
            return;
        }
        let month_start = self.month_starts[k];
        let days_in_month = self.month_starts[k + 1] - month_start;
        let mut day = month_start + rng.gen_range(0..days_in_month);
        let mut source = source;
        if source == MobileSource::Camp {
            let camp = self.camp(profile.subdivision, k);
            if camp.held {
                day = camp.day;
            } else {
                source = MobileSource::Field;
            }
        }
        out.push(Planned::Mobile {
            number,
            day,
            source,
        });
    }

    /// Now and then a grievance in month `k`, mostly resolved after a while.
    fn plan_grievance(
        &self,
        k: usize,
        profile: &Profile,
        rng: &mut ChaCha8Rng,
        out: &mut Vec<Planned>,
    ) {
        if !rng.gen_bool(GRIEVANCE_MONTHLY_PROBABILITY) {
            return;
        }
        let month_start = self.month_starts[k];
        let days_in_month = self.month_starts[k + 1] - month_start;
        let category = pick_weighted(&CONSUMER_GRIEVANCES, rng.gen_range(0..100));
        let camp = self.camp(profile.subdivision, k);
        let at_camp = camp.held && rng.gen_bool(0.3);
        let day = if at_camp {
            camp.day
        } else {
            month_start + rng.gen_range(0..days_in_month)
        };
        out.push(Planned::Grievance {
            day,
            category,
            at_camp,
        });
        if rng.gen_bool(0.85) {
            out.push(Planned::Resolution {
                day: day + resolution_delay_days(rng),
                category,
                note: rng.gen_range(0..2),
            });
        }
    }

    /// Every consumer command dated in month `m`, for the consumers in `range`.
    fn month_chunk(&self, m: usize, range: Range<u64>, out: &mut Vec<Command>) {
        let window = self.month_starts[m]..self.month_starts[m + 1];
        out.reserve((range.end - range.start) as usize * 3);
        let mut planned = Vec::with_capacity(8);
        let mut account = String::new();
        for index in range {
            let profile = self.profile(index);
            self.account_into(index, &mut account);
            for k in self.first_reaching(m)..=m {
                planned.clear();
                self.episode(index, k, &profile, &mut planned);
                let issue = self.month_starts[k] + BILL_ISSUE_OFFSET_DAYS;
                for p in &planned {
                    let day = p.day(issue);
                    debug_assert!(
                        day - self.month_starts[k] <= EPISODE_SPAN_DAYS_MAX,
                        "an event falls more than EPISODE_SPAN_DAYS_MAX after its month"
                    );
                    if window.contains(&day) {
                        out.push(self.command(p, k, &profile, &account));
                    }
                }
            }
        }
    }

    fn command(&self, planned: &Planned, k: usize, profile: &Profile, account: &str) -> Command {
        let month = &self.months_compact[k];
        match *planned {
            Planned::Bill { rupees } => Command::IssueBill {
                bill_no: concat(&["B", month, account]),
                account_no: account.to_string(),
                period: self.periods[k].clone(),
                issued_on: date_of(self.month_starts[k] + BILL_ISSUE_OFFSET_DAYS),
                due_on: date_of(self.month_starts[k] + BILL_DUE_OFFSET_DAYS),
                amount: Money::from_paise(rupees * 100),
            },
            Planned::Payment {
                sequence,
                rupees,
                day,
                channel,
            } => Command::ReceivePayment {
                receipt_no: concat(&["R", month, account, SEQUENCE_DIGITS[sequence as usize]]),
                account_no: account.to_string(),
                amount: Money::from_paise(rupees * 100),
                paid_on: date_of(day),
                channel,
            },
            Planned::Mobile {
                number,
                day,
                source,
            } => Command::RegisterMobile {
                account_no: account.to_string(),
                mobile: number.to_string(),
                registered_on: date_of(day),
                source,
            },
            Planned::Grievance {
                day,
                category,
                at_camp,
            } => Command::RegisterGrievance {
                grievance_id: concat(&["GRV-", account, "-", month]),
                subdivision: self.subdivisions[profile.subdivision].code.to_string(),
                category,
                registered_on: date_of(day),
                account_no: Some(account.to_string()),
                camp_id: at_camp.then(|| self.camp_id(profile.subdivision, k)),
            },
            Planned::Resolution {
                day,
                category,
                note,
            } => Command::ResolveGrievance {
                grievance_id: concat(&["GRV-", account, "-", month]),
                resolved_on: date_of(day),
                note: resolution_note(category, note).to_string(),
            },
        }
    }
}

/// Gathers commands into deliveries of a bounded size.
struct Emitter<'a> {
    sink: &'a mut dyn FnMut(MonthBatch) -> Result<(), String>,
    batch_size: usize,
    /// The month being delivered; `None` for the opening.
    month_end: Option<NaiveDate>,
    pending: Vec<Command>,
}

impl<'a> Emitter<'a> {
    fn new(
        batch_size: usize,
        sink: &'a mut dyn FnMut(MonthBatch) -> Result<(), String>,
    ) -> Emitter<'a> {
        let batch_size = batch_size.clamp(1, BATCH_COMMANDS_MAX);
        Emitter {
            sink,
            batch_size,
            month_end: None,
            pending: Vec::with_capacity(batch_size),
        }
    }

    /// Sends a full batch only when another command arrives, so that the last delivery of a
    /// month is an empty one only when the whole month is.
    fn push(&mut self, command: Command) -> Result<(), String> {
        if self.pending.len() >= self.batch_size {
            self.send(false)?;
        }
        self.pending.push(command);
        Ok(())
    }

    fn extend(&mut self, commands: Vec<Command>) -> Result<(), String> {
        let mut commands = commands.into_iter();
        loop {
            if self.pending.len() >= self.batch_size && commands.len() > 0 {
                self.send(false)?;
            }
            let room = self.batch_size - self.pending.len();
            self.pending.extend(commands.by_ref().take(room));
            if commands.len() == 0 {
                return Ok(());
            }
        }
    }

    fn send(&mut self, last_of_month: bool) -> Result<(), String> {
        let commands = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_size));
        (self.sink)(MonthBatch {
            month_end: self.month_end,
            commands,
            last_of_month,
        })
    }

    /// Ends the current month (or the opening) and starts the next.
    fn finish(&mut self, next_month_end: Option<NaiveDate>) -> Result<(), String> {
        self.send(true)?;
        self.month_end = next_month_end;
        Ok(())
    }
}

/// Joins parts into a string allocated once at its final size; numbers are built for every
/// bill and payment, so this is measurably cheaper than `format!`.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

const SEQUENCE_DIGITS: [&str; 3] = ["0", "1", "2"];

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn stream(seed: u64, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
    let key = splitmix64(splitmix64(splitmix64(seed ^ tag) ^ a) ^ b);
    ChaCha8Rng::seed_from_u64(key)
}

const ACCOUNT_SPACE: u64 = 10_000_000_000;
/// Odd and not a multiple of 5, so coprime with 10^10: multiplying by it permutes the digits'
/// space.
const ACCOUNT_MULTIPLIER: u64 = 6_364_136_223;

fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).expect("generated dates are in range")
}

/// A ten-digit Indian mobile number; 9 and 8 are the commonest first digits.
fn mobile_number(rng: &mut ChaCha8Rng) -> u64 {
    let first = [9u64, 9, 9, 9, 8, 8, 8, 7, 7, 6][rng.gen_range(0..10)];
    first * 1_000_000_000 + rng.gen_range(0..1_000_000_000)
}

/// A consumer's name and sanctioned load in watts, by category: a person's name for a home,
/// a business's, a firm's or an office's otherwise. `last` is the surname, `place` the
/// subdivision's place, both in the consumer's language.
fn name_and_load(
    category: Category,
    hindi: bool,
    person: String,
    last: &str,
    place: &str,
    rng: &mut ChaCha8Rng,
) -> (String, i64) {
    let pick = |rng: &mut ChaCha8Rng, list: &[(&str, &str)]| {
        let (en, hi) = list[rng.gen_range(0..list.len())];
        if hindi {
            hi.to_string()
        } else {
            en.to_string()
        }
    };
    match category {
        Category::Domestic => {
            // Mostly whole kilowatts as sanctioned; some half kilowatts in the hills.
            let kw_halves = *[2, 2, 2, 4, 4, 4, 6, 6, 8, 10, 1, 3]
                .get(rng.gen_range(0..12))
                .expect("in range");
            (person, kw_halves * 500)
        }
        Category::NonDomestic => {
            let business = pick(rng, &SHOPS);
            (format!("{last} {business}"), rng.gen_range(1..=25) * 1000)
        }
        Category::Agriculture => {
            // Pump sets are sanctioned in horsepower: 3 to 10 HP at 746 W.
            let hp = [3, 5, 5, 7, 10][rng.gen_range(0..5)];
            let suffix = if hindi {
                "(नलकूप)"
            } else {
                "(Tube well)"
            };
            (format!("{person} {suffix}"), hp * 746)
        }
        Category::Industrial => {
            let firm = pick(rng, &FIRMS);
            (format!("{last} {firm}"), rng.gen_range(50..=1000) * 1000)
        }
        Category::Government => {
            let office = pick(rng, &GOVERNMENT);
            (format!("{office}, {place}"), rng.gen_range(5..=100) * 1000)
        }
        Category::Other => {
            let body = pick(rng, &OTHERS);
            (format!("{body}, {place}"), rng.gen_range(1..=10) * 1000)
        }
    }
}

/// The payments (rupees, day) a payer makes on a bill issued on `issue`, due on `due`; a
/// payment of 0 rupees is none.
fn payments_of(
    payer: &Payer,
    bill: i64,
    issue: i32,
    due: i32,
    rng: &mut ChaCha8Rng,
) -> [(i64, i32); 2] {
    let on_time = |rng: &mut ChaCha8Rng| rng.gen_range(issue + 1..=due);
    let mut payments: [(i64, i32); 2] = [(0, 0); 2];
    match payer {
        Payer::OnTime => {
            let day = if rng.gen_bool(0.97) {
                on_time(rng)
            } else {
                due + rng.gen_range(1..=15)
            };
            payments[0] = (bill, day);
        }
        Payer::Late => payments[0] = (bill, due + rng.gen_range(5..=40)),
        Payer::Partial => {
            if rng.gen_bool(0.15) {
                payments[0] = (bill, on_time(rng));
            } else {
                let share = rng.gen_range(30..=80);
                let day = rng.gen_range(issue + 1..=due + 10);
                payments[0] = ((bill * share / 100).max(1), day);
            }
        }
        Payer::Chronic { pays } => {
            if *pays && rng.gen_bool(0.15) {
                // A lump sum now and then, in round hundreds, when pressed.
                let share = rng.gen_range(50..=150);
                let rupees = ((bill * share / 100 + 50) / 100 * 100).max(100);
                payments[0] = (rupees, issue + rng.gen_range(10..=55));
            }
        }
        Payer::Irregular => match rng.gen_range(0..100) {
            0..=39 => payments[0] = (bill, on_time(rng)),
            40..=59 => payments[0] = (bill, due + rng.gen_range(1..=35)),
            60..=74 => {
                // Catching up: this bill and an earlier one, in two payments.
                payments[0] = (bill, due + rng.gen_range(1..=10));
                payments[1] = (bill, due + rng.gen_range(11..=30));
            }
            _ => {}
        },
    }
    payments
}

/// Most grievances are settled within a fortnight; a few take up to a month.
fn resolution_delay_days(rng: &mut ChaCha8Rng) -> i32 {
    match rng.gen_range(0..100) {
        0..=59 => rng.gen_range(2..=10),
        60..=84 => rng.gen_range(11..=20),
        _ => rng.gen_range(21..=30),
    }
}

fn pick_weighted<T: Copy>(table: &[(T, u32)], draw: u32) -> T {
    let mut total = 0;
    for (item, weight) in table {
        total += weight;
        if draw < total {
            return *item;
        }
    }
    table.last().expect("tables are not empty").0
}

/// Per 10,000 consumers.
const CATEGORY_WEIGHTS: [(Category, u32); 6] = [
    (Category::Domestic, 8600),
    (Category::NonDomestic, 1000),
    (Category::Agriculture, 150),
    (Category::Industrial, 60),
    (Category::Government, 20),
    (Category::Other, 170),
];

/// Monthly bill range in rupees by category.
fn bill_range_rupees(category: Category) -> (f64, f64) {
    match category {
        Category::Domestic => (300.0, 2_500.0),
        Category::NonDomestic => (2_000.0, 20_000.0),
        Category::Industrial => (50_000.0, 500_000.0),
        Category::Government => (20_000.0, 200_000.0),
        Category::Agriculture => (500.0, 5_000.0),
        Category::Other => (500.0, 10_000.0),
    }
}

/// Bills by calendar month, January first: heating in the hill winters, fans and coolers in
/// the plains' summer, irrigation before the monsoon.
const SEASON: [f64; 12] = [
    1.20, 1.10, 0.95, 1.00, 1.15, 1.20, 1.10, 1.05, 1.00, 0.90, 0.95, 1.15,
];

/// Per 1,000 payments: three in four digital, UPI the largest.
const CHANNEL_WEIGHTS: [(Channel, u32); 10] = [
    (Channel::Upi, 380),
    (Channel::Bbps, 120),
    (Channel::App, 100),
    (Channel::OnlinePortal, 80),
    (Channel::NetBanking, 40),
    (Channel::Card, 30),
    (Channel::CounterCash, 150),
    (Channel::CounterCheque, 30),
    (Channel::Camp, 20),
    (Channel::Agent, 50),
];

/// Factories and offices pay by bank transfer or cheque.
const INSTITUTION_CHANNELS: [(Channel, u32); 4] = [
    (Channel::NetBanking, 40),
    (Channel::CounterCheque, 25),
    (Channel::OnlinePortal, 20),
    (Channel::Bbps, 15),
];

const LATER_SOURCES: [(MobileSource, u32); 4] = [
    (MobileSource::Field, 35),
    (MobileSource::Camp, 25),
    (MobileSource::Online, 25),
    (MobileSource::Sms, 15),
];

const CHANGE_SOURCES: [(MobileSource, u32); 3] = [
    (MobileSource::Online, 50),
    (MobileSource::Sms, 30),
    (MobileSource::Field, 20),
];

const CONSUMER_GRIEVANCES: [(GrievanceCategory, u32); 5] = [
    (GrievanceCategory::Billing, 35),
    (GrievanceCategory::Supply, 30),
    (GrievanceCategory::Metering, 20),
    (GrievanceCategory::NewConnection, 5),
    (GrievanceCategory::Other, 10),
];

const WALK_IN_GRIEVANCES: [(GrievanceCategory, u32); 3] = [
    (GrievanceCategory::NewConnection, 60),
    (GrievanceCategory::Supply, 25),
    (GrievanceCategory::Other, 15),
];

const OFFICER_TEAMS: [(&[&str], u32); 4] = [
    (&["SDO", "JE"], 45),
    (&["JE"], 25),
    (&["EE", "SDO", "JE"], 15),
    (&["SDO"], 15),
];

fn resolution_note(category: GrievanceCategory, variant: usize) -> &'static str {
    let notes: [&str; 2] = match category {
        GrievanceCategory::Billing => [
            "Bill corrected after the meter reading was verified",
            "मीटर रीडिंग जाँच के बाद बिल संशोधित",
        ],
        GrievanceCategory::Metering => ["Meter tested and replaced", "मीटर बदला गया"],
        GrievanceCategory::Supply => [
            "Supply restored; transformer fuse replaced",
            "आपूर्ति बहाल, लाइन की मरम्मत की गई",
        ],
        GrievanceCategory::NewConnection => [
            "Connection released after documents were verified",
            "नया संयोजन जारी किया गया",
        ],
        GrievanceCategory::Other => [
            "Resolved at the subdivision office",
            "उपखंड कार्यालय में निस्तारित",
        ],
    };
    notes[variant % 2]
}

const VENUES: [(&str, &str); 5] = [
    ("Panchayat Bhawan", "पंचायत भवन"),
    ("Rajkiya Inter College", "राजकीय इंटर कॉलेज"),
    ("Block Office", "ब्लॉक कार्यालय"),
    ("Community Hall", "सामुदायिक भवन"),
    ("Tehsil Campus", "तहसील परिसर"),
];

const FIRST_NAMES: [(&str, &str); 40] = [
    ("Ram", "राम"),
    ("Mohan", "मोहन"),
    ("Suresh", "सुरेश"),
    ("Ramesh", "रमेश"),
    ("Dinesh", "दिनेश"),
    ("Rajendra", "राजेंद्र"),
    ("Harish", "हरीश"),
    ("Govind", "गोविंद"),
    ("Devendra", "देवेंद्र"),
    ("Prakash", "प्रकाश"),
    ("Anil", "अनिल"),
    ("Sunil", "सुनील"),
    ("Manoj", "मनोज"),
    ("Pankaj", "पंकज"),
    ("Vinod", "विनोद"),
    ("Kamal", "कमल"),
    ("Bhupendra", "भूपेंद्र"),
    ("Trilok", "त्रिलोक"),
    ("Kundan", "कुंदन"),
    ("Pushkar", "पुष्कर"),
    ("Sita", "सीता"),
    ("Geeta", "गीता"),
    ("Kamla", "कमला"),
    ("Sarita", "सरिता"),
    ("Suman", "सुमन"),
    ("Anita", "अनीता"),
    ("Sunita", "सुनीता"),
    ("Pushpa", "पुष्पा"),
    ("Kavita", "कविता"),
    ("Rekha", "रेखा"),
    ("Meena", "मीना"),
    ("Basanti", "बसंती"),
    ("Hema", "हेमा"),
    ("Deepa", "दीपा"),
    ("Imran", "इमरान"),
    ("Salma", "सलमा"),
    ("Gurpreet", "गुरप्रीत"),
    ("Harjeet", "हरजीत"),
    ("Yashpal", "यशपाल"),
    ("Neelam", "नीलम"),
];

const SURNAMES: [(&str, &str); 40] = [
    ("Singh", "सिंह"),
    ("Rawat", "रावत"),
    ("Negi", "नेगी"),
    ("Bisht", "बिष्ट"),
    ("Joshi", "जोशी"),
    ("Pant", "पंत"),
    ("Bhatt", "भट्ट"),
    ("Sharma", "शर्मा"),
    ("Chauhan", "चौहान"),
    ("Panwar", "पंवार"),
    ("Thapliyal", "थपलियाल"),
    ("Nautiyal", "नौटियाल"),
    ("Semwal", "सेमवाल"),
    ("Uniyal", "उनियाल"),
    ("Dobhal", "डोभाल"),
    ("Gusain", "गुसाईं"),
    ("Kandpal", "कांडपाल"),
    ("Pandey", "पांडे"),
    ("Tiwari", "तिवारी"),
    ("Bhandari", "भंडारी"),
    ("Aswal", "असवाल"),
    ("Butola", "बुटोला"),
    ("Rana", "राणा"),
    ("Kumar", "कुमार"),
    ("Arya", "आर्य"),
    ("Verma", "वर्मा"),
    ("Gupta", "गुप्ता"),
    ("Agarwal", "अग्रवाल"),
    ("Khan", "खान"),
    ("Ansari", "अंसारी"),
    ("Saini", "सैनी"),
    ("Kashyap", "कश्यप"),
    ("Mehra", "मेहरा"),
    ("Karki", "कार्की"),
    ("Mahar", "महर"),
    ("Dhami", "धामी"),
    ("Bora", "बोरा"),
    ("Rautela", "रौतेला"),
    ("Tamta", "टम्टा"),
    ("Sandhu", "संधू"),
];

const SHOPS: [(&str, &str); 6] = [
    ("General Store", "जनरल स्टोर"),
    ("Sweets", "मिष्ठान भंडार"),
    ("Medical Store", "मेडिकल स्टोर"),
    ("Dhaba", "ढाबा"),
    ("Homestay", "होमस्टे"),
    ("Hardware", "हार्डवेयर"),
];

const FIRMS: [(&str, &str); 4] = [
    ("Industries Pvt Ltd", "इंडस्ट्रीज प्रा. लि."),
    ("Pharma Pvt Ltd", "फार्मा प्रा. लि."),
    ("Steels Ltd", "स्टील्स लि."),
    ("Food Products", "फूड प्रोडक्ट्स"),
];

const GOVERNMENT: [(&str, &str); 4] = [
    ("Rajkiya Inter College", "राजकीय इंटर कॉलेज"),
    ("Primary Health Centre", "प्राथमिक स्वास्थ्य केंद्र"),
    ("Jal Sansthan Pumping Station", "जल संस्थान पंपिंग स्टेशन"),
    ("Tehsil Office", "तहसील कार्यालय"),
];

const OTHERS: [(&str, &str); 3] = [
    ("Shiv Mandir Samiti", "शिव मंदिर समिति"),
    ("Street Lighting, Nagar Panchayat", "मार्ग प्रकाश, नगर पंचायत"),
    ("Gurudwara Committee", "गुरुद्वारा समिति"),
];

struct ZoneSpec {
    code: &'static str,
    hi: &'static str,
    en: &'static str,
    circles: &'static [CircleSpec],
}

struct CircleSpec {
    code: &'static str,
    hi: &'static str,
    en: &'static str,
    divisions: &'static [DivisionSpec],
}

struct DivisionSpec {
    code: &'static str,
    hi: &'static str,
    en: &'static str,
    subdivisions: &'static [SubdivisionSpec],
}

struct SubdivisionSpec {
    code: &'static str,
    hi: &'static str,
    en: &'static str,
    /// Relative number of consumers: towns in the plains are far larger than hill blocks.
    weight: u32,
}

const fn sd(
    code: &'static str,
    hi: &'static str,
    en: &'static str,
    weight: u32,
) -> SubdivisionSpec {
    SubdivisionSpec {
        code,
        hi,
        en,
        weight,
    }
}

const ZONES: &[ZoneSpec] = &[
    ZoneSpec {
        code: "Z-GRW",
        hi: "गढ़वाल",
        en: "Garhwal",
        circles: &[
            CircleSpec {
                code: "C-DDN",
                hi: "देहरादून",
                en: "Dehradun",
                divisions: &[
                    DivisionSpec {
                        code: "D-DDN-URBAN",
                        hi: "देहरादून शहरी",
                        en: "Dehradun Urban",
                        subdivisions: &[
                            sd("SD-DDN-CENTRAL", "देहरादून मध्य", "Dehradun Central", 60),
                            sd("SD-RAJPUR", "राजपुर", "Rajpur", 35),
                            sd("SD-MUSSOORIE", "मसूरी", "Mussoorie", 15),
                        ],
                    },
                    DivisionSpec {
                        code: "D-DDN-RURAL",
                        hi: "देहरादून ग्रामीण",
                        en: "Dehradun Rural",
                        subdivisions: &[
                            sd("SD-DOIWALA", "डोईवाला", "Doiwala", 30),
                            sd("SD-RISHIKESH", "ऋषिकेश", "Rishikesh", 40),
                            sd("SD-RAIWALA", "रायवाला", "Raiwala", 15),
                        ],
                    },
                    DivisionSpec {
                        code: "D-VIKASNAGAR",
                        hi: "विकासनगर",
                        en: "Vikasnagar",
                        subdivisions: &[
                            sd("SD-VIKASNAGAR", "विकासनगर", "Vikasnagar", 30),
                            sd("SD-SAHASPUR", "सहसपुर", "Sahaspur", 20),
                            sd("SD-CHAKRATA", "चकराता", "Chakrata", 6),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-HRD",
                hi: "हरिद्वार",
                en: "Haridwar",
                divisions: &[
                    DivisionSpec {
                        code: "D-HRD-URBAN",
                        hi: "हरिद्वार शहरी",
                        en: "Haridwar Urban",
                        subdivisions: &[
                            sd("SD-JWALAPUR", "ज्वालापुर", "Jwalapur", 40),
                            sd("SD-KANKHAL", "कनखल", "Kankhal", 25),
                            sd("SD-RANIPUR", "रानीपुर", "Ranipur", 25),
                        ],
                    },
                    DivisionSpec {
                        code: "D-HRD-RURAL",
                        hi: "हरिद्वार ग्रामीण",
                        en: "Haridwar Rural",
                        subdivisions: &[
                            sd("SD-LAKSAR", "लक्सर", "Laksar", 30),
                            sd("SD-BAHADRABAD", "बहादराबाद", "Bahadrabad", 30),
                            sd("SD-BHAGWANPUR", "भगवानपुर", "Bhagwanpur", 25),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-RKE",
                hi: "रुड़की",
                en: "Roorkee",
                divisions: &[
                    DivisionSpec {
                        code: "D-ROORKEE",
                        hi: "रुड़की",
                        en: "Roorkee",
                        subdivisions: &[
                            sd("SD-ROORKEE", "रुड़की", "Roorkee", 40),
                            sd("SD-JHABRERA", "झबरेड़ा", "Jhabrera", 20),
                        ],
                    },
                    DivisionSpec {
                        code: "D-MANGLAUR",
                        hi: "मंगलौर",
                        en: "Manglaur",
                        subdivisions: &[
                            sd("SD-MANGLAUR", "मंगलौर", "Manglaur", 25),
                            sd("SD-NARSAN", "नारसन", "Narsan", 15),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-PAU",
                hi: "पौड़ी",
                en: "Pauri",
                divisions: &[
                    DivisionSpec {
                        code: "D-PAURI",
                        hi: "पौड़ी",
                        en: "Pauri",
                        subdivisions: &[
                            sd("SD-PAURI", "पौड़ी", "Pauri", 10),
                            sd("SD-SRINAGAR", "श्रीनगर", "Srinagar", 15),
                            sd("SD-THALISAIN", "थलीसैंण", "Thalisain", 4),
                        ],
                    },
                    DivisionSpec {
                        code: "D-KOTDWAR",
                        hi: "कोटद्वार",
                        en: "Kotdwar",
                        subdivisions: &[
                            sd("SD-KOTDWAR", "कोटद्वार", "Kotdwar", 25),
                            sd("SD-LANSDOWNE", "लैंसडाउन", "Lansdowne", 5),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-TEH",
                hi: "टिहरी",
                en: "Tehri",
                divisions: &[
                    DivisionSpec {
                        code: "D-TEHRI",
                        hi: "नई टिहरी",
                        en: "New Tehri",
                        subdivisions: &[
                            sd("SD-TEHRI", "नई टिहरी", "New Tehri", 10),
                            sd("SD-GHANSALI", "घनसाली", "Ghansali", 5),
                            sd("SD-CHAMBA", "चंबा", "Chamba", 6),
                        ],
                    },
                    DivisionSpec {
                        code: "D-UTTARKASHI",
                        hi: "उत्तरकाशी",
                        en: "Uttarkashi",
                        subdivisions: &[
                            sd("SD-UTTARKASHI", "उत्तरकाशी", "Uttarkashi", 10),
                            sd("SD-BARKOT", "बड़कोट", "Barkot", 5),
                            sd("SD-PUROLA", "पुरोला", "Purola", 4),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-GOP",
                hi: "गोपेश्वर",
                en: "Gopeshwar",
                divisions: &[
                    DivisionSpec {
                        code: "D-CHAMOLI",
                        hi: "चमोली",
                        en: "Chamoli",
                        subdivisions: &[
                            sd("SD-GOPESHWAR", "गोपेश्वर", "Gopeshwar", 6),
                            sd("SD-KARNAPRAYAG", "कर्णप्रयाग", "Karnaprayag", 6),
                            sd("SD-JOSHIMATH", "जोशीमठ", "Joshimath", 5),
                        ],
                    },
                    DivisionSpec {
                        code: "D-RUDRAPRAYAG",
                        hi: "रुद्रप्रयाग",
                        en: "Rudraprayag",
                        subdivisions: &[
                            sd("SD-RUDRAPRAYAG", "रुद्रप्रयाग", "Rudraprayag", 6),
                            sd("SD-UKHIMATH", "ऊखीमठ", "Ukhimath", 4),
                            sd("SD-AGASTYAMUNI", "अगस्त्यमुनि", "Agastyamuni", 4),
                        ],
                    },
                ],
            },
        ],
    },
    ZoneSpec {
        code: "Z-KMN",
        hi: "कुमाऊँ",
        en: "Kumaon",
        circles: &[
            CircleSpec {
                code: "C-HLD",
                hi: "हल्द्वानी",
                en: "Haldwani",
                divisions: &[
                    DivisionSpec {
                        code: "D-HALDWANI",
                        hi: "हल्द्वानी",
                        en: "Haldwani",
                        subdivisions: &[
                            sd("SD-HALDWANI", "हल्द्वानी", "Haldwani", 45),
                            sd("SD-KATHGODAM", "काठगोदाम", "Kathgodam", 15),
                            sd("SD-LALKUAN", "लालकुआँ", "Lalkuan", 15),
                        ],
                    },
                    DivisionSpec {
                        code: "D-NAINITAL",
                        hi: "नैनीताल",
                        en: "Nainital",
                        subdivisions: &[
                            sd("SD-NAINITAL", "नैनीताल", "Nainital", 10),
                            sd("SD-BHOWALI", "भवाली", "Bhowali", 6),
                        ],
                    },
                    DivisionSpec {
                        code: "D-RAMNAGAR",
                        hi: "रामनगर",
                        en: "Ramnagar",
                        subdivisions: &[
                            sd("SD-RAMNAGAR", "रामनगर", "Ramnagar", 20),
                            sd("SD-KALADHUNGI", "कालाढूंगी", "Kaladhungi", 8),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-RDP",
                hi: "रुद्रपुर",
                en: "Rudrapur (Udham Singh Nagar)",
                divisions: &[
                    DivisionSpec {
                        code: "D-RUDRAPUR",
                        hi: "रुद्रपुर",
                        en: "Rudrapur",
                        subdivisions: &[
                            sd("SD-RUDRAPUR", "रुद्रपुर", "Rudrapur", 40),
                            sd("SD-KICHHA", "किच्छा", "Kichha", 20),
                            sd("SD-GADARPUR", "गदरपुर", "Gadarpur", 15),
                        ],
                    },
                    DivisionSpec {
                        code: "D-KASHIPUR",
                        hi: "काशीपुर",
                        en: "Kashipur",
                        subdivisions: &[
                            sd("SD-KASHIPUR", "काशीपुर", "Kashipur", 35),
                            sd("SD-JASPUR", "जसपुर", "Jaspur", 18),
                            sd("SD-BAJPUR", "बाजपुर", "Bajpur", 15),
                        ],
                    },
                    DivisionSpec {
                        code: "D-KHATIMA",
                        hi: "खटीमा",
                        en: "Khatima",
                        subdivisions: &[
                            sd("SD-KHATIMA", "खटीमा", "Khatima", 20),
                            sd("SD-SITARGANJ", "सितारगंज", "Sitarganj", 18),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-ALM",
                hi: "अल्मोड़ा",
                en: "Almora",
                divisions: &[
                    DivisionSpec {
                        code: "D-ALMORA",
                        hi: "अल्मोड़ा",
                        en: "Almora",
                        subdivisions: &[
                            sd("SD-ALMORA", "अल्मोड़ा", "Almora", 10),
                            sd("SD-RANIKHET", "रानीखेत", "Ranikhet", 7),
                            sd("SD-DWARAHAT", "द्वाराहाट", "Dwarahat", 4),
                        ],
                    },
                    DivisionSpec {
                        code: "D-BAGESHWAR",
                        hi: "बागेश्वर",
                        en: "Bageshwar",
                        subdivisions: &[
                            sd("SD-BAGESHWAR", "बागेश्वर", "Bageshwar", 6),
                            sd("SD-KAPKOT", "कपकोट", "Kapkot", 3),
                        ],
                    },
                ],
            },
            CircleSpec {
                code: "C-PTH",
                hi: "पिथौरागढ़",
                en: "Pithoragarh",
                divisions: &[
                    DivisionSpec {
                        code: "D-PITHORAGARH",
                        hi: "पिथौरागढ़",
                        en: "Pithoragarh",
                        subdivisions: &[
                            sd("SD-PITHORAGARH", "पिथौरागढ़", "Pithoragarh", 10),
                            sd("SD-DHARCHULA", "धारचूला", "Dharchula", 4),
                            sd("SD-GANGOLIHAT", "गंगोलीहाट", "Gangolihat", 3),
                        ],
                    },
                    DivisionSpec {
                        code: "D-CHAMPAWAT",
                        hi: "चंपावत",
                        en: "Champawat",
                        subdivisions: &[
                            sd("SD-CHAMPAWAT", "चंपावत", "Champawat", 5),
                            sd("SD-LOHAGHAT", "लोहाघाट", "Lohaghat", 4),
                            sd("SD-TANAKPUR", "टनकपुर", "Tanakpur", 10),
                        ],
                    },
                ],
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use vasooli_domain::decide::{decide, StateView};
    use vasooli_domain::mobile::normalize_mobile;
    use vasooli_domain::state::{Camp, Consumer, Grievance, World};
    use vasooli_domain::types::{check_code, check_identifier, check_text};
    use vasooli_domain::Policy;

    fn small(consumers: usize, months: u32, seed: u64) -> Generator {
        Generator::new(GeneratorConfig {
            consumers,
            months,
            seed,
            ..GeneratorConfig::default()
        })
    }

    fn all_batches(generator: &Generator, batch_size: usize) -> Vec<MonthBatch> {
        let mut out = Vec::new();
        generator
            .for_each_month(batch_size, &mut |batch| {
                out.push(batch);
                Ok(())
            })
            .unwrap();
        out
    }

    fn all_commands(generator: &Generator) -> Vec<Command> {
        let mut out = Vec::new();
        generator
            .for_each_batch(10_000, &mut |batch| {
                out.extend(batch);
                Ok(())
            })
            .unwrap();
        out
    }

    /// The business date of a command; offices have none.
    fn date_of_command(command: &Command) -> Option<NaiveDate> {
        Some(match command {
            Command::RegisterOffice { .. } => return None,
            Command::RegisterConsumer { connected_on, .. } => *connected_on,
            Command::RegisterMobile { registered_on, .. } => *registered_on,
            Command::IssueBill { issued_on, .. } => *issued_on,
            Command::ReceivePayment { paid_on, .. } => *paid_on,
            Command::ScheduleCamp { on, .. } => *on - chrono::Days::new(7),
            Command::HoldCamp { held_on, .. } => *held_on,
            Command::RegisterGrievance { registered_on, .. } => *registered_on,
            Command::ResolveGrievance { resolved_on, .. } => *resolved_on,
            other => panic!("the generator makes no {}", other.type_name()),
        })
    }

    /// The same seed gives the same commands, byte for byte; the thread count does not matter.
    #[test]
    fn same_seed_gives_identical_commands() {
        let a = small(3_000, 3, 7);
        let mut b = small(3_000, 3, 7);
        b.threads = 1;
        let first = all_commands(&a);
        assert_eq!(first, all_commands(&b));
        assert!(first.len() > 3_000 * 3);
    }

    #[test]
    fn different_seeds_give_different_commands() {
        let a = all_commands(&small(500, 2, 1));
        let b = all_commands(&small(500, 2, 2));
        assert_ne!(a, b);
        // The office tree is the same whatever the seed.
        assert_eq!(small(1, 1, 1).offices(), small(1, 1, 2).offices());
    }

    /// Tariff categories follow the configured mix within two percentage points.
    #[test]
    fn categories_follow_the_tariff_mix() {
        let generator = small(20_000, 1, 42);
        let mut counts: HashMap<Category, usize> = HashMap::new();
        let mut hindi = 0;
        let mut devanagari = 0;
        let result = generator.for_each_month(5_000, &mut |batch| {
            for command in &batch.commands {
                if let Command::RegisterConsumer {
                    category,
                    language,
                    name,
                    ..
                } = command
                {
                    *counts.entry(*category).or_default() += 1;
                    hindi += usize::from(*language == Language::Hi);
                    devanagari +=
                        usize::from(name.chars().any(|c| ('\u{900}'..='\u{97f}').contains(&c)));
                }
            }
            // Stopping after the opening also shows that a sink's error ends generation.
            if batch.last_of_month {
                Err("enough".to_string())
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err("enough".to_string()));
        let total: usize = counts.values().sum();
        assert_eq!(total, 20_000);
        for (category, weight) in CATEGORY_WEIGHTS {
            let share = counts.get(&category).copied().unwrap_or(0) as f64 / total as f64;
            let expected = weight as f64 / 10_000.0;
            assert!(
                (share - expected).abs() <= 0.02,
                "{category}: {share:.4} against {expected:.4}"
            );
        }
        let hindi_share = hindi as f64 / total as f64;
        assert!((0.75..=0.85).contains(&hindi_share), "hindi {hindi_share}");
        let devanagari_share = devanagari as f64 / total as f64;
        assert!(
            (0.40..=0.60).contains(&devanagari_share),
            "{devanagari_share}"
        );
    }

    /// Every field of every command passes the checks its parser applies, and every date lies
    /// before the end date.
    #[test]
    fn every_command_is_well_formed() {
        let generator = small(3_000, 12, 42);
        let end = generator.end_date();
        assert_eq!(end, NaiveDate::from_ymd_opt(2026, 9, 30).unwrap());
        let mut keys = HashSet::new();
        let mut types = HashSet::new();
        let mut camps_scheduled = 0;
        for command in all_commands(&generator) {
            types.insert(command.type_name());
            if let Some(date) = date_of_command(&command) {
                assert!(date <= end, "{command:?}");
            }
            let key = match &command {
                Command::RegisterOffice {
                    code, name, parent, ..
                } => {
                    check_code(code, 16, true).unwrap();
                    check_text(name, 100).unwrap();
                    if let Some(p) = parent {
                        check_code(p, 16, true).unwrap();
                    }
                    format!("office {code}")
                }
                Command::RegisterConsumer {
                    account_no,
                    name,
                    subdivision,
                    load_watts,
                    connected_on,
                    mobile,
                    ..
                } => {
                    check_code(account_no, 20, false).unwrap();
                    check_text(name, 100).unwrap();
                    check_code(subdivision, 16, true).unwrap();
                    assert!(*load_watts > 0);
                    assert!(*connected_on < generator.config().start);
                    if let Some(m) = mobile {
                        assert_eq!(&normalize_mobile(m).unwrap(), m);
                    }
                    format!("consumer {account_no}")
                }
                Command::RegisterMobile {
                    account_no, mobile, ..
                } => {
                    check_code(account_no, 20, false).unwrap();
                    assert_eq!(&normalize_mobile(mobile).unwrap(), mobile);
                    format!("mobile {account_no} {mobile}")
                }
                Command::IssueBill {
                    bill_no,
                    account_no,
                    period,
                    issued_on,
                    due_on,
                    amount,
                } => {
                    check_identifier(bill_no).unwrap();
                    check_code(account_no, 20, false).unwrap();
                    assert!(due_on >= issued_on);
                    assert_eq!(period, &issued_on.format("%Y-%m").to_string());
                    assert!(amount.is_positive());
                    format!("bill {bill_no}")
                }
                Command::ReceivePayment {
                    receipt_no,
                    account_no,
                    amount,
                    ..
                } => {
                    check_identifier(receipt_no).unwrap();
                    check_code(account_no, 20, false).unwrap();
                    assert!(amount.is_positive());
                    format!("receipt {receipt_no}")
                }
                Command::ScheduleCamp {
                    camp_id,
                    subdivision,
                    venue,
                    ..
                } => {
                    check_identifier(camp_id).unwrap();
                    check_code(subdivision, 16, true).unwrap();
                    check_text(venue, 200).unwrap();
                    camps_scheduled += 1;
                    format!("camp {camp_id}")
                }
                Command::HoldCamp {
                    camp_id,
                    officers_present,
                    ..
                } => {
                    assert!(!officers_present.is_empty());
                    format!("held {camp_id}")
                }
                Command::RegisterGrievance {
                    grievance_id,
                    subdivision,
                    account_no,
                    camp_id,
                    ..
                } => {
                    check_identifier(grievance_id).unwrap();
                    check_code(subdivision, 16, true).unwrap();
                    if let Some(a) = account_no {
                        check_code(a, 20, false).unwrap();
                    }
                    if let Some(c) = camp_id {
                        check_identifier(c).unwrap();
                    }
                    format!("grievance {grievance_id}")
                }
                Command::ResolveGrievance {
                    grievance_id, note, ..
                } => {
                    check_text(note, 200).unwrap();
                    format!("resolved {grievance_id}")
                }
                other => panic!("unexpected {other:?}"),
            };
            assert!(keys.insert(key.clone()), "{key} twice");
        }
        // One camp a month in every subdivision, even when its week's notice starts on the 1st.
        assert_eq!(camps_scheduled, 12 * generator.subdivisions.len());
        for t in [
            "register_office",
            "register_consumer",
            "register_mobile",
            "issue_bill",
            "receive_payment",
            "schedule_camp",
            "hold_camp",
            "register_grievance",
            "resolve_grievance",
        ] {
            assert!(types.contains(t), "no {t}");
        }
    }

    /// A view of a world for `decide`, enough for the commands the generator makes.
    struct View<'a> {
        world: &'a World,
        policy: Policy,
    }

    impl StateView for View<'_> {
        fn office_level(&self, code: &str) -> Option<Level> {
            self.world.offices.get(code).map(|o| o.level)
        }
        fn consumer(&self, account_no: &str) -> Option<Cow<'_, Consumer>> {
            self.world.consumer(account_no).map(Cow::Owned)
        }
        fn camp(&self, camp_id: &str) -> Option<Cow<'_, Camp>> {
            self.world.camps.get(camp_id).map(Cow::Borrowed)
        }
        fn grievance(&self, grievance_id: &str) -> Option<Cow<'_, Grievance>> {
            self.world.grievances.get(grievance_id).map(Cow::Borrowed)
        }
        fn account_of_bill(&self, _bill_no: &str) -> Option<String> {
            None
        }
        fn account_of_receipt(&self, _receipt_no: &str) -> Option<String> {
            None
        }
        fn policy(&self) -> &Policy {
            &self.policy
        }
    }

    /// Applied in the order given, every command is accepted by the domain's rules.
    #[test]
    fn commands_are_accepted_in_the_order_given() {
        let generator = small(1_500, 12, 9);
        let mut world = World::default();
        let mut position = 0;
        generator
            .for_each_batch(777, &mut |batch| {
                for command in batch {
                    let view = View {
                        world: &world,
                        policy: Policy::default(),
                    };
                    let event = decide(&view, &command)
                        .map_err(|r| format!("{command:?} refused: {r:?}"))?;
                    position += 1;
                    world.apply(position, &event);
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(world.consumers.len(), 1_500);
        assert!(world.grievances.values().any(|g| g.resolved_on.is_some()));
        assert!(world.grievances.values().any(|g| g.resolved_on.is_none()));
        assert!(world.camps.values().any(|c| c.held_on.is_some()));
    }

    /// Each month's deliveries hold only that month's dates, in month order, with the opening
    /// first; batch sizes stay within the limit and each month ends with one final delivery.
    #[test]
    fn months_are_delivered_in_date_order() {
        let generator = small(2_000, 4, 3);
        let batches = all_batches(&generator, 1_000);
        let month_ends = generator.month_ends();
        assert_eq!(month_ends.len(), 4);
        assert_eq!(*month_ends.last().unwrap(), generator.end_date());
        let mut seen_ends = Vec::new();
        let mut previous_max: Option<NaiveDate> = None;
        let mut month_min: Option<NaiveDate> = None;
        let mut month_max: Option<NaiveDate> = None;
        for batch in &batches {
            assert!(batch.commands.len() <= 1_000);
            assert!(!batch.commands.is_empty());
            for command in &batch.commands {
                let Some(date) = date_of_command(command) else {
                    assert!(batch.month_end.is_none(), "offices come first");
                    continue;
                };
                if let Some(end) = batch.month_end {
                    assert!(date <= end && date.month() == end.month(), "{command:?}");
                }
                month_min = Some(month_min.map_or(date, |d| d.min(date)));
                month_max = Some(month_max.map_or(date, |d| d.max(date)));
            }
            if batch.last_of_month {
                seen_ends.push(batch.month_end);
                if let (Some(before), Some(min)) = (previous_max, month_min) {
                    assert!(before <= min, "dates go back across months");
                }
                previous_max = month_max;
                month_min = None;
                month_max = None;
            }
        }
        assert!(batches.last().unwrap().last_of_month);
        let expected: Vec<Option<NaiveDate>> = std::iter::once(None)
            .chain(month_ends.iter().copied().map(Some))
            .collect();
        assert_eq!(seen_ends, expected);
    }

    /// About 35% of consumers have a mobile at registration and about 60% by the end; a field
    /// agent's number shows up on more than five accounts.
    #[test]
    fn mobile_coverage_grows_to_about_sixty_percent() {
        let generator = small(20_000, 12, 42);
        let mut mobiles: BTreeMap<String, String> = BTreeMap::new();
        let mut at_registration = 0;
        let mut sources: HashMap<MobileSource, usize> = HashMap::new();
        let mut payments = 0usize;
        let mut digital = 0usize;
        let mut billed = 0i64;
        let mut collected = 0i64;
        generator
            .for_each_batch(50_000, &mut |batch| {
                for command in batch {
                    match command {
                        Command::RegisterConsumer {
                            account_no,
                            mobile: Some(m),
                            ..
                        } => {
                            at_registration += 1;
                            mobiles.insert(account_no, m);
                        }
                        Command::RegisterMobile {
                            account_no,
                            mobile,
                            source,
                            ..
                        } => {
                            *sources.entry(source).or_default() += 1;
                            mobiles.insert(account_no, mobile);
                        }
                        Command::IssueBill { amount, .. } => billed += amount.paise(),
                        Command::ReceivePayment {
                            amount, channel, ..
                        } => {
                            payments += 1;
                            digital += usize::from(channel.is_digital());
                            collected += amount.paise();
                        }
                        _ => {}
                    }
                }
                Ok(())
            })
            .unwrap();
        let initial = at_registration as f64 / 20_000.0;
        assert!((0.32..=0.38).contains(&initial), "initial {initial}");
        let coverage = mobiles.len() as f64 / 20_000.0;
        assert!((0.55..=0.65).contains(&coverage), "coverage {coverage}");
        for source in MobileSource::ALL {
            assert!(sources.get(source).copied().unwrap_or(0) > 0, "{source}");
        }
        let mut holders: HashMap<&str, usize> = HashMap::new();
        for m in mobiles.values() {
            *holders.entry(m.as_str()).or_default() += 1;
        }
        assert!(holders.values().any(|n| *n > 5), "no shared number");

        // Payments look like a utility's: three in four digital, most of the bill collected.
        let digital_share = digital as f64 / payments as f64;
        assert!((0.70..=0.80).contains(&digital_share), "{digital_share}");
        let efficiency = collected as f64 / billed as f64;
        assert!((0.75..=0.98).contains(&efficiency), "{efficiency}");
    }

    /// The bounds are checked with a reason.
    #[test]
    fn configuration_bounds_are_checked() {
        let bad = GeneratorConfig {
            months: 0,
            ..GeneratorConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("months"));
        let bad = GeneratorConfig {
            consumers: CONSUMERS_MAX + 1,
            ..GeneratorConfig::default()
        };
        assert!(bad.validate().is_err());
        assert!(GeneratorConfig::default().validate().is_ok());
        // Any day of the start month names the month.
        let generator = Generator::new(GeneratorConfig {
            start: NaiveDate::from_ymd_opt(2026, 2, 17).unwrap(),
            months: 1,
            ..GeneratorConfig::default()
        });
        assert_eq!(
            generator.end_date(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
    }

    /// Generation speed for the size of a state utility; run with
    /// `cargo test --release -p vasooli-demo generate::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let mut generator = small(500_000, 3, 42);
        for threads in [1, generator.threads, 1, generator.threads] {
            generator.threads = threads;
            let started = std::time::Instant::now();
            let mut count = 0usize;
            generator
                .for_each_batch(100_000, &mut |batch| {
                    count += batch.len();
                    Ok(())
                })
                .unwrap();
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{threads} threads: {count} commands in {seconds:.2} s: {:.0} commands/s",
                count as f64 / seconds
            );
        }
    }
}
