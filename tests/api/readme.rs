//! The README as an operator reads it: every subcommand the binary has is in its command-line
//! section, every command it shows is one the binary takes (subcommand and flags), its tables
//! are whole, and its links lead to files in this repository.
//!
//! The binary's own description (clap's) is the reference, so a subcommand or flag added to
//! the code and not to the README, or renamed in one and not the other, fails here.

use std::collections::BTreeSet;
use std::path::Path;

use bheem_sso::cli::Cli;
use clap::CommandFactory;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The text of the section under `## {title}`, up to the next `## ` heading.
fn section<'a>(text: &'a str, title: &str) -> &'a str {
    let heading = format!("\n## {title}\n");
    let start = text
        .find(&heading)
        .unwrap_or_else(|| panic!("README has no section {title:?}"))
        + heading.len();
    let end = text[start..]
        .find("\n## ")
        .map_or(text.len(), |i| start + i);
    &text[start..end]
}

/// Every leaf command as its words (`["users", "add"]`), with the long flags it takes.
fn commands() -> Vec<(Vec<String>, BTreeSet<String>)> {
    fn walk(
        command: &clap::Command,
        path: &mut Vec<String>,
        inherited: &BTreeSet<String>,
        out: &mut Vec<(Vec<String>, BTreeSet<String>)>,
    ) {
        let mut flags = inherited.clone();
        flags.extend(
            command
                .get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
        );
        let subcommands: Vec<_> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subcommands.is_empty() {
            out.push((path.clone(), flags));
            return;
        }
        for sub in subcommands {
            path.push(sub.get_name().to_owned());
            walk(sub, path, &flags, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut Vec::new(), &BTreeSet::new(), &mut out);
    out
}

/// The command lines of the README's `## Command line` block: one per alternative, so
/// `bheem-sso keys list | keys rotate` is `keys list` and `keys rotate`.
fn documented_commands(text: &str) -> Vec<Vec<String>> {
    let block = section(text, "Command line");
    let code = block
        .split("```")
        .nth(1)
        .expect("the command-line section has a code block");
    let mut lines = Vec::new();
    for line in code.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("bheem-sso ") else {
            continue;
        };
        for alternative in rest.split(" | ") {
            let alternative = alternative.trim().trim_start_matches("bheem-sso ").trim();
            lines.push(alternative.split_whitespace().map(str::to_owned).collect());
        }
    }
    lines
}

/// The words after the global options (`--dev`, `--config FILE`) written before the command.
fn without_global_options(words: &[String]) -> Vec<String> {
    let mut rest = words;
    loop {
        match rest.first().map(String::as_str) {
            Some("--dev") => rest = &rest[1..],
            Some("--config") if rest.len() > 1 => rest = &rest[2..],
            _ => return rest.to_vec(),
        }
    }
}

/// The leaf command a README line names: the longest run of leading words that is one.
fn leaf_of<'a>(
    words: &[String],
    commands: &'a [(Vec<String>, BTreeSet<String>)],
) -> Option<&'a (Vec<String>, BTreeSet<String>)> {
    commands
        .iter()
        .filter(|(path, _)| words.len() >= path.len() && words[..path.len()] == path[..])
        .max_by_key(|(path, _)| path.len())
}

#[test]
fn the_command_line_section_lists_every_subcommand() {
    let text = readme();
    let documented = documented_commands(&text);
    let commands = commands();
    let missing: Vec<String> = commands
        .iter()
        .filter(|(path, _)| {
            !documented
                .iter()
                .map(|w| without_global_options(w))
                .any(|words| words.len() >= path.len() && words[..path.len()] == path[..])
        })
        .map(|(path, _)| path.join(" "))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's command-line section does not show: {missing:?}"
    );
}

#[test]
fn every_command_the_readme_shows_is_one_the_binary_takes() {
    let text = readme();
    let commands = commands();
    // The command-line block, and every `bheem-sso …` or `cargo run -- …` line in a code block.
    let mut shown = documented_commands(&text);
    for code in text.split("```").skip(1).step_by(2) {
        for line in code.lines() {
            let line = line.split(" # ").next().unwrap_or("").trim();
            let rest = line
                .strip_prefix("cargo run -- ")
                .or_else(|| line.strip_prefix("bheem-sso "))
                .or_else(|| line.strip_prefix("sudo -u bheem-sso bheem-sso "));
            if let Some(rest) = rest {
                shown.push(rest.split_whitespace().map(str::to_owned).collect());
            }
        }
    }
    assert!(shown.len() > 10, "too few commands found: {shown:?}");
    let mut wrong = Vec::new();
    for words in &shown {
        let words = &without_global_options(words);
        if words.first().is_none_or(|w| w == "…") {
            continue; // `bheem-sso --dev …`: the option itself, before any command
        }
        match leaf_of(words, &commands) {
            None => wrong.push(format!("{}: no such command", words.join(" "))),
            Some((_, flags)) => {
                for word in words {
                    let flag = word
                        .trim_start_matches('[')
                        .split(['=', ']'])
                        .next()
                        .unwrap_or("");
                    if flag.starts_with("--") && flag.len() > 2 && !flags.contains(flag) {
                        wrong.push(format!("{}: no flag {flag}", words.join(" ")));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "README commands the binary refuses: {wrong:#?}"
    );
}

#[test]
fn the_what_works_table_is_one_table() {
    let text = readme();
    let body = section(&text, "What works");
    let rows: Vec<usize> = body
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with('|'))
        .map(|(i, _)| i)
        .collect();
    assert!(rows.len() > 10, "{body}");
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    assert_eq!(
        rows.len(),
        last - first + 1,
        "a line that is not a row splits the table in two:\n{body}"
    );
}

#[test]
fn links_lead_to_files_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = readme();
    let mut broken = Vec::new();
    for (i, _) in text.match_indices("](") {
        let target = &text[i + 2..];
        let target = &target[..target.find(')').unwrap_or(target.len())];
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let path = target.split('#').next().unwrap_or("");
        if path.is_empty() {
            continue; // a link within the README
        }
        if path.contains("..") || path.starts_with('/') || !root.join(path).exists() {
            broken.push(target.to_owned());
        }
    }
    assert!(
        broken.is_empty(),
        "links outside the repository or to nothing: {broken:?}"
    );
}

#[test]
fn in_page_links_lead_to_headings() {
    let text = readme();
    let anchors: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    let mut broken = Vec::new();
    for (i, _) in text.match_indices("](") {
        let target = &text[i + 2..];
        let target = &target[..target.find(')').unwrap_or(target.len())];
        if let Some(anchor) = target.strip_prefix('#') {
            if !anchors.contains(anchor) {
                broken.push(anchor.to_owned());
            }
        }
    }
    assert!(broken.is_empty(), "anchors with no heading: {broken:?}");
}
