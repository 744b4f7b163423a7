//! A bills file of ten million rows imported by the release binary, beside one of a million:
//! the import's time and its peak memory at both sizes, beside the peak of a command that
//! loads the world the import leaves (`rankings`, with no nightly run to have saved its
//! figures): every consumer's bills, which any process
//! holding the world holds, whatever wrote it.
//!
//! For each size in `IMPORT_BENCH_ROWS` (default `1000000,10000000`) it writes a fresh data
//! directory's offices and `IMPORT_BENCH_CONSUMERS` consumers (default 100,000), then a bills
//! file of that many rows spread over them, and times `vasooli import bills`, sampling the
//! process's peak resident memory. The bounded-memory figure is the import's peak against
//! the whole-world command's: a file held in memory would put it far above. Each size's data and
//! files are deleted afterwards unless `IMPORT_BENCH_KEEP=1`; the ten-million-row run writes
//! about 3 GB. Run with `cargo bench -p vasooli-cli --bench import_bench`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

#[path = "common/measured.rs"]
mod measured;
use measured::run_measured;

const TODAY: &str = "2026-03-01";

/// Runs the binary with today set to [`TODAY`].
fn run(data: &Path, args: &[&str]) -> (String, std::time::Duration, f64) {
    run_measured(data, args, &[("VASOOLI_TODAY", TODAY)])
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn write_file(path: &Path, header: &str, rows: impl Iterator<Item = String>) {
    let file = std::fs::File::create(path).expect("create a CSV");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "{header}").expect("write");
    for row in rows {
        writeln!(out, "{row}").expect("write");
    }
    out.flush().expect("flush");
}

fn main() {
    let sizes: Vec<usize> = env_or("IMPORT_BENCH_ROWS", "1000000,10000000")
        .split(',')
        .map(|s| s.trim().parse().expect("a row count"))
        .collect();
    let consumers: usize = env_or("IMPORT_BENCH_CONSUMERS", "100000")
        .parse()
        .expect("a consumer count");
    let keep = std::env::var_os("IMPORT_BENCH_KEEP").is_some();
    let root = tempfile::Builder::new()
        .prefix("vasooli-import-bench-")
        .tempdir()
        .expect("a temporary directory");
    println!("import_bench: bills files over {consumers} consumers, today {TODAY}");
    let mut figures = Vec::new();
    for rows in sizes {
        let dir = root.path().join(format!("{rows}"));
        std::fs::create_dir_all(&dir).expect("a directory");
        let data = dir.join("data");
        write_file(
            &dir.join("offices.csv"),
            "code,name,level,parent",
            [
                "Z1,Zone,zone,".to_string(),
                "C1,Circle,circle,Z1".to_string(),
                "DV1,Division,division,C1".to_string(),
                "SD1,Subdivision,subdivision,DV1".to_string(),
            ]
            .into_iter(),
        );
        write_file(
            &dir.join("consumers.csv"),
            "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address",
            (0..consumers).map(|c| format!("UK{c:010},Consumer,domestic,SD1,2.5,2020-04-01,,,")),
        );
        let bills = dir.join("bills.csv");
        let started = Instant::now();
        write_file(
            &bills,
            "bill_no,account_no,period,issued_on,due_on,amount",
            (0..rows).map(|i| {
                format!(
                    "B{i:010},UK{:010},2026-02,2026-02-05,2026-02-20,{}.50",
                    i % consumers,
                    100 + i % 900
                )
            }),
        );
        let file_mb = std::fs::metadata(&bills).expect("the file").len() as f64 / 1e6;
        println!(
            "  {rows} rows: file written ({file_mb:.0} MB) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        run(
            &data,
            &[
                "import",
                "offices",
                dir.join("offices.csv").to_str().expect("UTF-8"),
            ],
        );
        run(
            &data,
            &[
                "import",
                "consumers",
                dir.join("consumers.csv").to_str().expect("UTF-8"),
            ],
        );
        let (out, took, import_peak) =
            run(&data, &["import", "bills", bills.to_str().expect("UTF-8")]);
        assert!(out.contains(&format!("appended {rows}")), "{out}");
        // The world the import leaves, opened whole: every office's rankings load it.
        let (_, _, world_peak) = run(
            &data,
            &["rankings", "--level", "subdivision", "--period", "2026-02"],
        );
        let rate = rows as f64 / took.as_secs_f64();
        println!(
            "  {rows} rows: import {:.1} s ({rate:.0} rows/s), peak {import_peak:.0} MiB; \
             rankings on the world it leaves: peak {world_peak:.0} MiB ({:.2} ×)",
            took.as_secs_f64(),
            import_peak / world_peak
        );
        figures.push((rows, took, rate, import_peak, world_peak));
        if !keep {
            std::fs::remove_dir_all(&dir).expect("remove the size's data");
        }
    }
    if let [(small, _, small_rate, small_peak, small_world), .., (large, _, large_rate, large_peak, large_world)] =
        figures.as_slice()
    {
        println!(
            "import_bench: {large} rows against {small}: rate {:.2} ×; import's peak against \
             the whole-world command's {:.2} × against {:.2} ×",
            large_rate / small_rate,
            large_peak / large_world,
            small_peak / small_world
        );
    }
    if keep {
        println!("kept in {}", root.keep().display());
    }
}
