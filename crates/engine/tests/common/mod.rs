//! Helpers shared by the engine's test files.

use serde_json::Value;
use vasooli_domain::Command;
use vasooli_engine::Input;

/// JSON commands as inputs located at `{file}:{line}`, the first on line 2 (after a header).
pub fn inputs_from(file: &str, commands: &[Value]) -> Vec<Input> {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| Input {
            location: format!("{file}:{}", i + 2),
            command: Command::from_json(c),
        })
        .collect()
}
