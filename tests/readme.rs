//! The README's promises, kept by running them: its first code block is the two commands a
//! newcomer types (`cargo run --release -- demo`, then the test suite), `cargo run` in this
//! workspace means the `vasooli` binary, the demo those commands start succeeds, and every
//! `vasooli` command of the README's "After the demo" block and of the code blocks of
//! docs/CLI.md, docs/FORMATS.md and docs/API.md then runs as written against the demo's data,
//! including the example files under `docs/examples/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace root (this test file lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The fenced code blocks of a Markdown text, each with the heading above it.
fn code_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push((heading.clone(), lines)),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line.to_string());
        } else if let Some(title) = line.strip_prefix("## ") {
            heading = title.trim().to_string();
        }
    }
    blocks
}

/// A command line without its trailing `# comment`, split on spaces.
fn words(line: &str) -> Vec<String> {
    let command = line.split(" #").next().unwrap_or("");
    command.split_whitespace().map(str::to_string).collect()
}

/// The README's first code block is exactly the demo and the test suite, in that order.
#[test]
fn the_first_block_is_the_demo_then_the_tests() {
    let blocks = code_blocks(&readme());
    let (_, first) = blocks.first().expect("the README has a code block");
    let commands: Vec<Vec<String>> = first
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| words(l))
        .collect();
    assert_eq!(
        commands,
        vec![
            words("cargo run --release -- demo"),
            words("cargo test --workspace"),
        ],
        "README.md's first code block changed: {first:?}"
    );
}

/// `cargo run` without `--bin` picks the `vasooli` binary: the workspace's default member is
/// the cli crate, which builds exactly one binary (or names it as its `default-run`).
#[test]
fn cargo_run_means_the_vasooli_binary() {
    let workspace: toml::Table = fs::read_to_string(root().join("Cargo.toml"))
        .expect("the workspace manifest")
        .parse()
        .expect("it parses");
    let default_members: Vec<&str> = workspace["workspace"]
        .get("default-members")
        .and_then(|m| m.as_array())
        .expect("the workspace names its default members, so `cargo run` is not ambiguous")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert_eq!(default_members, ["crates/cli"]);
    let cli: toml::Table = fs::read_to_string(root().join("crates/cli/Cargo.toml"))
        .expect("the cli manifest")
        .parse()
        .expect("it parses");
    let bins: Vec<&str> = cli
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|bins| {
            bins.iter()
                .filter_map(|b| b.get("name").and_then(|n| n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let default_run = cli
        .get("package")
        .and_then(|p| p.get("default-run"))
        .and_then(|d| d.as_str());
    let extra_bins = root().join("crates/cli/src/bin").exists();
    assert!(
        default_run == Some("vasooli") || (bins == ["vasooli"] && !extra_bins),
        "`cargo run` would not pick vasooli: bins {bins:?}, default-run {default_run:?}, \
         src/bin present: {extra_bins}"
    );
}

/// Runs the built `vasooli` in `dir` with `args`, as a shell would with no data directory in
/// the environment (the demo itself).
fn vasooli(dir: &Path, args: &[String]) -> Output {
    vasooli_on(dir, args, None)
}

/// Runs the built `vasooli` in `dir` with `args` and `VASOOLI_DATA` set to `data` (as the
/// README tells the reader to after the demo), or unset.
fn vasooli_on(dir: &Path, args: &[String], data: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vasooli"));
    match data {
        Some(data) => command.env("VASOOLI_DATA", data),
        None => command.env_remove("VASOOLI_DATA"),
    };
    command
        .args(args)
        .current_dir(dir)
        .env("VASOOLI_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("vasooli runs")
}

fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout)
            .chars()
            .take(2_000)
            .collect::<String>(),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One documented command line: `[echo 'TEXT' |] vasooli ARGS [> FILE]`, as words, with the
/// text it reads on stdin and the file its stdout goes to.
struct Documented {
    args: Vec<String>,
    stdin: Option<String>,
    stdout_to: Option<String>,
}

/// The `vasooli` commands of a code block line, several when joined by `&&`; none for other
/// lines.
fn documented(line: &str) -> Vec<Documented> {
    let mut line = line.split(" #").next().unwrap_or("").trim().to_string();
    let mut stdin = None;
    if let Some(rest) = line.strip_prefix("echo '") {
        if let Some((text, command)) = rest.split_once("' | ") {
            stdin = Some(text.to_string());
            line = command.to_string();
        }
    }
    if !line.starts_with("vasooli ") {
        return Vec::new();
    }
    line.split("&&")
        .map(|part| {
            let mut args = words(part);
            args.remove(0);
            let stdout_to = args.iter().position(|a| a == ">").map(|i| {
                let file = args.get(i + 1).expect("a file after >").clone();
                args.truncate(i);
                file
            });
            Documented {
                args,
                stdin: stdin.clone(),
                stdout_to,
            }
        })
        .collect()
}

/// Runs one documented command in `dir` and checks that it succeeds.
fn run_documented(dir: &Path, where_: &str, command: &Documented) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .args(&command.args)
        .current_dir(dir)
        .env("VASOOLI_DATA", "vasooli-demo")
        .env("VASOOLI_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vasooli runs");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = &command.stdin {
            writeln!(input, "{text}").expect("writing stdin");
        }
    }
    let output = child.wait_with_output().expect("vasooli ends");
    assert!(
        output.status.success(),
        "{where_}: `vasooli {}`: {}",
        command.args.join(" "),
        shown(&output)
    );
    if let Some(file) = &command.stdout_to {
        fs::write(dir.join(file), &output.stdout).expect("writing the redirect");
    }
}

/// Whether a documented command is run here: not the server and the SMS sender (they need a
/// network peer and do not end by themselves), and not a second plain demo, which would
/// replace the data the others run against.
fn runnable(command: &Documented) -> bool {
    let has = |word: &str| command.args.iter().any(|a| a == word);
    !(has("serve") || (has("sms") && has("send")) || command.args == ["demo"])
}

/// The README's first command does what it says on a fresh checkout: the demo runs in the
/// directory `./vasooli-demo` and prints its summary; then every command the
/// README shows after the demo, and every `vasooli` command of docs/CLI.md, docs/FORMATS.md
/// and docs/API.md, runs as written against that data.
#[test]
fn the_first_command_runs_the_demo_and_the_documented_commands_run_against_it() {
    let text = readme();
    let blocks = code_blocks(&text);
    let first_command = words(&blocks[0].1[0]);
    let separator = first_command
        .iter()
        .position(|w| w == "--")
        .expect("`cargo run ... -- ARGS`");
    assert_eq!(first_command[..2], ["cargo", "run"]);
    let args = first_command[separator + 1..].to_vec();

    // A fresh directory standing for the checkout: the example files, no data directory.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let examples = dir.path().join("docs/examples");
    fs::create_dir_all(&examples).expect("docs/examples");
    for entry in fs::read_dir(root().join("docs/examples")).expect("docs/examples") {
        let path = entry.expect("an entry").path();
        fs::copy(&path, examples.join(path.file_name().unwrap())).expect("copying an example");
    }

    let output = vasooli(dir.path(), &args);
    assert!(output.status.success(), "{}", shown(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("vasooli demo:"), "{}", shown(&output));
    assert!(
        dir.path().join("vasooli-demo").is_dir(),
        "the demo wrote no ./vasooli-demo"
    );

    let (_, after) = blocks
        .iter()
        .find(|(heading, _)| heading == "After the demo")
        .expect("the README's \"After the demo\" block");
    let mut commands: Vec<(String, Documented)> = Vec::new();
    for (index, line) in after.iter().enumerate() {
        for command in documented(line) {
            commands.push((
                format!("README.md, After the demo, line {}", index + 1),
                command,
            ));
        }
    }
    assert!(commands.len() >= 10, "{} README commands", commands.len());
    for doc in ["docs/CLI.md", "docs/FORMATS.md", "docs/API.md"] {
        let text = fs::read_to_string(root().join(doc)).expect("a doc");
        for (heading, lines) in code_blocks(&text) {
            for line in lines {
                for command in documented(&line) {
                    commands.push((format!("{doc}, {heading}"), command));
                }
            }
        }
    }
    // Each distinct command once, in order: the docs repeat some of the README's.
    let mut seen = std::collections::HashSet::new();
    let mut ran = 0;
    for (where_, command) in &commands {
        let key = (command.args.clone(), command.stdin.clone());
        if runnable(command) && seen.insert(key) {
            run_documented(dir.path(), where_, command);
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} documented commands ran");
    assert!(dir.path().join("notices.html").is_file());
    assert!(dir.path().join("awards.html").is_file());
    assert!(dir.path().join("vasooli-copy").is_dir());
}
