//! The CSV files `vasooli import` reads, written from a generated utility's commands, and
//! a timed run of the binary (for the benchmarks that time imports).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use vasooli_domain::command::{import_columns, Command};

/// One CSV file per import kind, with the rows written so far.
pub struct Csvs {
    files: BTreeMap<&'static str, csv::Writer<BufWriter<File>>>,
    rows: BTreeMap<&'static str, u64>,
    zones: Vec<String>,
}

impl Csvs {
    /// Writes the files of a generated utility of `consumers` consumers and twelve months
    /// from April 2025 into `dir`: the rows of each kind, and the zones' codes.
    pub fn generate(dir: &Path, consumers: usize) -> (BTreeMap<&'static str, u64>, Vec<String>) {
        let generator = vasooli_demo::Generator::new(vasooli_demo::GeneratorConfig {
            consumers,
            months: 12,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date"),
        });
        let mut csvs = Csvs::create(dir);
        generator
            .for_each_batch(250_000, &mut |commands| {
                commands.iter().for_each(|c| csvs.write(c));
                Ok(())
            })
            .expect("generate");
        csvs.finish()
    }

    pub fn create(dir: &Path) -> Csvs {
        let mut files = BTreeMap::new();
        for kind in ["offices", "consumers", "bills", "payments", "mobiles"] {
            let header = import_columns(kind).expect("an import kind");
            let file = File::create(dir.join(format!("{kind}.csv"))).expect("create a CSV");
            let mut writer = csv::Writer::from_writer(BufWriter::new(file));
            writer.write_record(header).expect("write a header");
            files.insert(kind, writer);
        }
        Csvs {
            files,
            rows: BTreeMap::new(),
            zones: Vec::new(),
        }
    }

    fn row(&mut self, kind: &'static str, fields: &[&str]) {
        let writer = self.files.get_mut(kind).expect("a known kind");
        writer.write_record(fields).expect("write a row");
        *self.rows.entry(kind).or_default() += 1;
    }

    /// Writes the commands the CSV files can carry; the rest (revisions, reversals, camps,
    /// grievances) are left out of both sides alike.
    pub fn write(&mut self, command: &Command) {
        let date = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        match command {
            Command::RegisterOffice {
                code,
                name,
                level,
                parent,
            } => {
                if parent.is_none() {
                    self.zones.push(code.clone());
                }
                let level = level.as_str();
                self.row(
                    "offices",
                    &[code, name, level, parent.as_deref().unwrap_or("")],
                );
            }
            Command::RegisterConsumer {
                account_no,
                name,
                category,
                subdivision,
                load_watts,
                connected_on,
                mobile,
                language,
                ..
            } => {
                let load_kw = format!("{}.{:03}", load_watts / 1000, load_watts % 1000);
                self.row(
                    "consumers",
                    &[
                        account_no,
                        name,
                        category.as_str(),
                        subdivision,
                        &load_kw,
                        &date(connected_on),
                        mobile.as_deref().unwrap_or(""),
                        language.as_str(),
                        "",
                    ],
                );
            }
            Command::RegisterMobile {
                account_no,
                mobile,
                registered_on,
                source,
            } => self.row(
                "mobiles",
                &[account_no, mobile, &date(registered_on), source.as_str()],
            ),
            Command::IssueBill {
                bill_no,
                account_no,
                period,
                issued_on,
                due_on,
                amount,
            } => self.row(
                "bills",
                &[
                    bill_no,
                    account_no,
                    period,
                    &date(issued_on),
                    &date(due_on),
                    &amount.to_string(),
                ],
            ),
            Command::ReceivePayment {
                receipt_no,
                account_no,
                amount,
                paid_on,
                channel,
            } => self.row(
                "payments",
                &[
                    receipt_no,
                    account_no,
                    &amount.to_string(),
                    &date(paid_on),
                    channel.as_str(),
                ],
            ),
            _ => {}
        }
    }

    /// Flushes the files: the rows written of each kind, and the zones' codes.
    pub fn finish(self) -> (BTreeMap<&'static str, u64>, Vec<String>) {
        for (_, mut writer) in self.files {
            writer.flush().expect("flush a CSV");
        }
        (self.rows, self.zones)
    }
}

/// Runs the binary and returns its standard output and the time it took; it must succeed.
pub fn vasooli(data: &Path, args: &[&str]) -> (String, Duration) {
    let (output, took) = run_vasooli(data, args);
    assert!(
        output.status.success(),
        "vasooli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (String::from_utf8(output.stdout).expect("UTF-8"), took)
}

/// Runs the binary on `data` with `args`, whatever its exit code, and times it.
pub fn run_vasooli(data: &Path, args: &[&str]) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let output = Process::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run vasooli");
    (output, started.elapsed())
}
