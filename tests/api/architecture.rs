//! The layers of `src/`, kept one-way: each top-level module may use only those listed for it
//! below, read from the `crate::…` paths in its files. A new module fails this test until it is
//! given its place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BASE: &[&str] = &[
    "clock",
    "config",
    "domain",
    "origin",
    "secrets",
    "telemetry",
];

const INFRASTRUCTURE: &[&str] = &[
    "keys",
    "password",
    "login_limits",
    "store",
    "directory",
    "audit",
    "smtp",
];
const DOMAIN: &[&str] = &["oidc", "provisioning", "login"];

/// What a top-level module may use besides the base modules, from the bottom up: base, then
/// infrastructure, then the domain (`oidc`, `provisioning`, `login`, in that order), then the
/// edge (`http`, the composition root `app`, and `cli`). `None` for a module with no place yet.
fn allowed(module: &str) -> Option<Vec<&'static str>> {
    let below = |layers: &[&[&'static str]], extra: &[&'static str]| {
        layers
            .concat()
            .into_iter()
            .chain(extra.iter().copied())
            .collect()
    };
    Some(match module {
        "clock" | "config" | "domain" | "origin" | "secrets" | "telemetry" => Vec::new(),
        "keys" | "password" | "login_limits" | "store" => Vec::new(),
        // SMTP submission as a mailbox: Bheem Mail's `/send` and the calendar invitations.
        "smtp" => Vec::new(),
        "directory" => vec!["store"],
        // The audit trail stores through `store` and reads the request's `origin`.
        "audit" => vec!["store", "origin"],
        "oidc" => vec!["keys", "store", "directory", "audit"],
        "provisioning" => vec!["keys", "store", "directory", "audit", "smtp", "oidc"],
        "login" => below(&[INFRASTRUCTURE], &["oidc", "provisioning"]),
        "app" => below(&[INFRASTRUCTURE, DOMAIN], &["http", "workspace"]),
        // The logger: configuration in, tracing-subscriber out.
        "logging" => Vec::new(),
        "http" => below(&[INFRASTRUCTURE, DOMAIN], &["logging"]),
        // The workspace APIs (resource servers) beside `http`, at the edge: handlers of their
        // own on `http`'s state, extractors and error renderers; `http` knows nothing of them.
        "workspace" => below(&[INFRASTRUCTURE, DOMAIN], &["http"]),
        "cli" => below(&[INFRASTRUCTURE, DOMAIN], &["http", "app", "logging"]),
        _ => return None,
    })
}

/// The HTTP areas: each child of `http` with a `router()` of its own. An area uses the shared
/// parts of `http` (errors, views, extractors, the flow), never another area's handlers.
fn http_areas(files: &[(PathBuf, String)]) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|(path, source)| {
            let module = module_path(path);
            (module.len() == 2 && module[0] == "http" && source.contains("fn router("))
                .then(|| module[1].clone())
        })
        .collect()
}

/// The code of a file without its comments, line by line. A `//` inside a string literal is
/// not a comment; a string spread over lines is read line by line, which can only hide a path.
fn code_lines(source: &str) -> impl Iterator<Item = &str> {
    source.lines().map(|line| {
        let bytes = line.as_bytes();
        let mut in_string = false;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_string => i += 1,
                b'"' => in_string = !in_string,
                // A char literal such as '"' does not open a string.
                b'\'' if !in_string && bytes.get(i + 2) == Some(&b'\'') => i += 2,
                b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
                _ => {}
            }
            i += 1;
        }
        line
    })
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths a path expression starting at `s` names, from `prefix` (a `use` tree: `a::b`,
/// `a::{b, c::{d, self}}`), up to the end of the expression.
fn expand(s: &str, prefix: Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    if c == '}' {
                        return;
                    }
                    start = i + 1;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        return;
    }
    let name = ident_at(s);
    if name.is_empty() || name == "self" {
        out.insert(prefix);
        return;
    }
    let mut path = prefix;
    path.push(name.to_owned());
    match s[name.len()..].trim_start().strip_prefix("::") {
        Some(rest) => expand(rest, path, out),
        None => {
            out.insert(path);
        }
    }
}

/// The inline modules of a file (`mod tests { … }`): their names and where they begin and end.
fn inline_modules(code: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        if code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let name = ident_at(&code[at + 4..]);
        let after = code[at + 4 + name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        found.push((open, open + i, name.to_owned()));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Every path into this crate that the file of `module` names, through `crate::…` or
/// `super::…`, resolved to a path from the crate root (`["http", "oidc", "token"]`).
fn crate_paths(source: &str, module: &[String]) -> BTreeSet<Vec<String>> {
    let mut paths = BTreeSet::new();
    // Joined, so a `use crate::{…}` group spread over lines reads as one.
    let code: String = code_lines(source).collect::<Vec<_>>().join(" ");
    let inline = inline_modules(&code);
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            // `some_crate::`, `$crate::` or the second `super::` of a chain is not a start.
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            let mut rest = &code[at..];
            let mut base: Vec<String> = if start == "crate::" {
                rest = &rest["crate::".len()..];
                Vec::new()
            } else {
                // `super` inside `mod tests { … }` is the file's own module.
                let mut base = module.to_vec();
                base.extend(
                    inline
                        .iter()
                        .filter(|(open, close, _)| *open < at && at < *close)
                        .map(|(_, _, name)| name.clone()),
                );
                while let Some(after) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = after;
                }
                base
            };
            base.shrink_to_fit();
            expand(rest, base, &mut paths);
        }
    }
    paths
}

/// The top-level modules a file names.
fn crate_modules(source: &str, module: &[String]) -> BTreeSet<String> {
    crate_paths(source, module)
        .into_iter()
        .filter_map(|p| p.first().cloned())
        .collect()
}

/// `src/http/oidc/token.rs` → `["http", "oidc", "token"]`; `mod.rs` names its folder.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// Every broken rule in `files` (paths relative to `src/`, with their source).
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut found = Vec::new();
    let areas = http_areas(files);
    for (path, source) in files {
        let module = module_path(path);
        let Some(top) = module.first() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(allowed) = allowed(top) else {
            found.push(format!(
                "src/{}: module `{top}` has no place in the layers; add it to `allowed`",
                path.display()
            ));
            continue;
        };
        let paths = crate_paths(source, &module);
        for used in crate_modules(source, &module) {
            let permitted = used == *top
                || BASE.contains(&used.as_str()) && !BASE.contains(&top.as_str())
                || allowed.contains(&used.as_str());
            if !permitted {
                found.push(format!(
                    "src/{}: `{top}` may not use `crate::{used}`",
                    path.display()
                ));
            }
        }
        let below_http = !["http", "workspace", "app", "cli"].contains(&top.as_str());
        if below_http && code_lines(source).any(|l| l.contains("axum::")) {
            found.push(format!(
                "src/{}: `{top}` is below `http` and may not use axum",
                path.display()
            ));
        }
        let area = match module.as_slice() {
            [http, area, ..] if http == "http" && areas.contains(area) => area,
            _ => continue,
        };
        for used in &paths {
            if let [http, other, ..] = used.as_slice() {
                if http == "http" && other != area && areas.contains(other) {
                    found.push(format!(
                        "src/{}: the HTTP area `{area}` may not use the area `{other}`",
                        path.display()
                    ));
                }
            }
            // A handler uses its siblings' helpers only through a shared module.
            if let ([_, _, name, ..], [_, _, sibling, ..]) = (module.as_slice(), used.as_slice()) {
                let same_area = used[..2] == module[..2];
                let is_file = files.iter().any(|(p, _)| module_path(p)[..] == used[..3]);
                if same_area && sibling != name && is_file {
                    found.push(format!(
                        "src/{}: handler `{name}` may not use its sibling `{sibling}`; move what they share to a shared module",
                        path.display()
                    ));
                }
            }
        }
    }
    found
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("reading a source file");
            let relative = path.strip_prefix(root).expect("under src/").to_path_buf();
            out.push((relative, source));
        }
    }
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 40, "src/ was not read: {} files", files.len());
    let found = violations(&files);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

fn file(path: &str, source: &str) -> (PathBuf, String) {
    (PathBuf::from(path), source.to_owned())
}

#[test]
fn the_check_catches_a_lower_layer_that_uses_a_higher_one() {
    let files = [
        file("store/codes.rs", "use crate::http::AppState;\n"),
        file(
            "oidc/tokens.rs",
            "use crate::{clock::Clock,\n    app::AppState};\nfn f() { crate::provisioning::run(); }\n",
        ),
        file(
            "oidc/claims.rs",
            "use super::super::login::Logins;\nmod tests { use super::super::scope::Scope; }\n",
        ),
        file(
            "oidc/client.rs",
            "const URL: &str = \"https://x\"; use crate::cli::Cli; // crate::http in a comment\n",
        ),
        file("directory/mod.rs", "use axum::Json;\n"),
        file("keys/mod.rs", "// crate::http is named in a comment only\nuse crate::clock::UnixTime;\n"),
        file("chat/mod.rs", "use crate::store::Db;\n"),
        file("http/oidc/mod.rs", "pub fn router() {}\n"),
        file("http/pages/mod.rs", "pub fn router() {}\nuse super::{oidc::token};\n"),
        file("http/oidc/token.rs", "use super::userinfo;\n"),
        file("http/oidc/userinfo.rs", "use crate::http::{pages::views};\n"),
        file("http/oidc/logout.rs", "use super::super::{views, session::Browser};\n"),
    ];
    let found = violations(&files);
    let expect = [
        "src/store/codes.rs: `store` may not use `crate::http`",
        "src/oidc/tokens.rs: `oidc` may not use `crate::app`",
        "src/oidc/tokens.rs: `oidc` may not use `crate::provisioning`",
        "src/oidc/claims.rs: `oidc` may not use `crate::login`",
        "src/oidc/client.rs: `oidc` may not use `crate::cli`",
        "src/directory/mod.rs: `directory` is below `http` and may not use axum",
        "src/chat/mod.rs: module `chat` has no place in the layers; add it to `allowed`",
        "src/http/pages/mod.rs: the HTTP area `pages` may not use the area `oidc`",
        "src/http/oidc/token.rs: handler `token` may not use its sibling `userinfo`",
        "src/http/oidc/userinfo.rs: the HTTP area `oidc` may not use the area `pages`",
    ];
    for expected in expect {
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "not caught: {expected}\nfound:\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), expect.len(), "{}", found.join("\n"));
}

#[test]
fn the_base_modules_use_nothing_else() {
    let files = [
        file("clock.rs", "use crate::config::Config;\n"),
        file("secrets.rs", "use crate::store::Db;\n"),
    ];
    let found = violations(&files);
    assert_eq!(found.len(), 2, "{}", found.join("\n"));
}
