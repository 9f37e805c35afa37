//! The layers of `src/`, kept one-way: each top-level module may use only those listed for it
//! below, read from the `crate::…` paths in its files. A new module fails this test until it is
//! given its place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BASE: &[&str] = &["clock", "config", "domain", "secrets"];

const INFRASTRUCTURE: &[&str] = &["keys", "password", "login_limits", "store", "directory"];
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
        "clock" | "config" | "domain" | "secrets" => Vec::new(),
        "keys" | "password" | "login_limits" | "store" => Vec::new(),
        "directory" => vec!["store"],
        "oidc" => vec!["keys", "store", "directory"],
        "provisioning" => vec!["keys", "store", "directory", "oidc"],
        "login" => below(&[INFRASTRUCTURE], &["oidc", "provisioning"]),
        "http" => below(&[INFRASTRUCTURE, DOMAIN], &[]),
        "app" => below(&[INFRASTRUCTURE, DOMAIN], &["http"]),
        "cli" => below(&[INFRASTRUCTURE, DOMAIN], &["http", "app"]),
        _ => return None,
    })
}

/// The HTTP areas: each is routed on its own and uses the shared parts of `http` (errors,
/// views, extractors, the flow), never another area's handlers.
const HTTP_AREAS: &[&str] = &["api", "oidc", "pages", "health"];

/// The code of a file without its comments, line by line (a string holding `//` is cut short,
/// which only ever hides a path, never invents one).
fn code_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a file names through `crate::x` or `use crate::{x, y::z}`.
fn crate_modules(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    // Joined, so a `use crate::{…}` group spread over lines reads as one.
    let code: String = code_lines(source).collect::<Vec<_>>().join(" ");
    for (at, _) in code.match_indices("crate::") {
        // `bheem_crate::` or `some_crate::` is not this crate.
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        let name = ident_at(&group[i..]);
                        if !name.is_empty() && name != "self" {
                            used.insert(name.to_owned());
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                used.insert(name.to_owned());
            }
        }
    }
    used
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
        for used in crate_modules(source) {
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
        let below_http = !["http", "app", "cli"].contains(&top.as_str());
        if below_http && code_lines(source).any(|l| l.contains("axum::")) {
            found.push(format!(
                "src/{}: `{top}` is below `http` and may not use axum",
                path.display()
            ));
        }
        if top == "http" && module.len() >= 2 && HTTP_AREAS.contains(&module[1].as_str()) {
            let area = &module[1];
            for other in HTTP_AREAS.iter().filter(|a| *a != area) {
                let code: String = code_lines(source).collect();
                let named = code.contains(&format!("crate::http::{other}"))
                    || code.contains(&format!("super::{other}::"))
                    || code.contains(&format!("super::super::{other}"));
                if named {
                    found.push(format!(
                        "src/{}: the HTTP area `{area}` may not use the area `{other}`",
                        path.display()
                    ));
                }
            }
        }
        // A handler module uses its siblings' helpers only through a shared module.
        if top == "http" && module.len() == 3 && HTTP_AREAS.contains(&module[1].as_str()) {
            let siblings = files.iter().filter_map(|(p, _)| {
                let m = module_path(p);
                (m.len() == 3 && m[..2] == module[..2] && m != module).then(|| m[2].clone())
            });
            let code: String = code_lines(source).collect();
            for sibling in siblings {
                if code.contains(&format!("super::{sibling}::")) {
                    found.push(format!(
                        "src/{}: handler `{}` may not use its sibling `{sibling}`; move what they share to a shared module",
                        path.display(),
                        module[2]
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
        file("directory/mod.rs", "use axum::Json;\n"),
        file("keys/mod.rs", "// crate::http is named in a comment only\nuse crate::clock::UnixTime;\n"),
        file("workspace/mod.rs", "use crate::store::Db;\n"),
        file("http/oidc/token.rs", "use super::userinfo::bearer_token;\n"),
        file("http/oidc/userinfo.rs", "use crate::http::pages::views;\n"),
    ];
    let found = violations(&files);
    let expect = [
        "src/store/codes.rs: `store` may not use `crate::http`",
        "src/oidc/tokens.rs: `oidc` may not use `crate::app`",
        "src/oidc/tokens.rs: `oidc` may not use `crate::provisioning`",
        "src/directory/mod.rs: `directory` is below `http` and may not use axum",
        "src/workspace/mod.rs: module `workspace` has no place in the layers; add it to `allowed`",
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
