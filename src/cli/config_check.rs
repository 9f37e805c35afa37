//! `bheem-sso config check`: every problem of a configuration in one run, one line each, each
//! naming its key, including those start-up cannot see: whether the database answers and is
//! migrated, whether the ERP's table has the configured columns and lets the provider's role
//! read them (and write the hash column with `rehash`), and whether the downstream services
//! answer (`[mail]`'s IMAP and SMTP servers greeting through TLS: `mail`). The checks against the outside run on the parts of the file that are valid, so a
//! wrong client secret does not hide a wrong ERP column.

mod mail;

use std::path::Path;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::{client_key, Config, ConfigError, DatabaseUrl, DirectoryConfig, Usable};
use crate::directory::ErpDirectory;
use crate::store::Db;

/// How long each service may take to answer.
const LIMIT: Duration = Duration::from_secs(5);

/// What one check found: problems (the run fails) and what was seen to work.
#[derive(Default)]
struct Report {
    problems: Vec<ConfigError>,
    fine: Vec<String>,
}

impl Report {
    fn problem(key: &str, message: impl Into<String>) -> Self {
        Self {
            problems: vec![ConfigError::new(key, message)],
            fine: Vec::new(),
        }
    }

    fn fine(line: impl Into<String>) -> Self {
        Self {
            problems: Vec::new(),
            fine: vec![line.into()],
        }
    }

    fn add(&mut self, other: Report) {
        self.problems.extend(other.problems);
        self.fine.extend(other.fine);
    }
}

pub async fn run(explicit: Option<&Path>) -> anyhow::Result<()> {
    let checked = Config::check(explicit);
    let usable = checked.usable;
    println!("configuration: {}", usable.source);
    let mut report = Report::default();
    if let Err(errors) = checked.result {
        report.problems.extend(errors.into_vec());
    }
    let mail_servers = async {
        match &usable.mail {
            Some(mail) => mail::servers(mail, LIMIT).await,
            None => Report::default(),
        }
    };
    let (database, directory, downstream, mail_servers) = tokio::join!(
        database(&usable),
        directory(usable.directory.as_ref()),
        downstream(&usable),
        mail_servers,
    );
    report.add(database);
    report.add(directory);
    report.add(downstream);
    report.add(mail_servers);
    for line in &report.fine {
        println!("ok: {line}");
    }
    for problem in &report.problems {
        println!("problem: `{}`: {}", problem.key, problem.message);
    }
    match report.problems.len() {
        0 => {
            println!("configuration OK");
            Ok(())
        }
        1 => anyhow::bail!("1 problem in the configuration"),
        n => anyhow::bail!("{n} problems in the configuration"),
    }
}

/// The provider's database answers, its migrations are those of this binary, and the
/// key-encryption key decrypts the signing keys it holds.
async fn database(usable: &Usable) -> Report {
    let Some(url) = usable.database_url.as_ref() else {
        return Report::default();
    };
    if let Some(file) = url.sqlite_file() {
        if !file.is_file() {
            // Not a fault before the first start: `migrate` or `serve` creates it.
            return Report::fine(format!(
                "no database at {} yet: `migrate` or `serve` creates it",
                file.display()
            ));
        }
    }
    let db = match Db::connect(url).await {
        Ok(db) => db,
        Err(e) => {
            return Report::problem(
                "database_url",
                format!("cannot open {}: {e:#}", url.redacted()),
            )
        }
    };
    let report = match tokio::time::timeout(LIMIT, db.ping()).await {
        Err(_) => Report::problem(
            "database_url",
            format!("{} does not answer within {LIMIT:?}", url.redacted()),
        ),
        Ok(Err(e)) => Report::problem(
            "database_url",
            format!("{} does not answer: {e:#}", url.redacted()),
        ),
        Ok(Ok(())) => {
            let mut report = migrations(&db, url).await;
            report.add(signing_keys(&db, usable, url).await);
            report
        }
    };
    db.close().await;
    report
}

/// The signing keys of a migrated database, opened as start-up opens them.
async fn signing_keys(db: &Db, usable: &Usable, url: &DatabaseUrl) -> Report {
    // On a database not migrated yet (or not fully) there is no table of keys to open.
    match db.migration_status().await {
        Ok(status) if status.missing.is_empty() => {}
        _ => return Report::default(),
    }
    let database = url.redacted().to_string();
    let kek = usable.key_encryption_key.as_ref();
    match crate::app::signing_keys::check(db, kek, &usable.keys_dir, &database).await {
        Ok(Some(line)) => Report::fine(line),
        Ok(None) => Report::fine("no signing keys yet: the first `serve` makes them"),
        Err(e) => Report::problem("key_encryption_key", format!("{e:#}")),
    }
}

async fn migrations(db: &Db, url: &DatabaseUrl) -> Report {
    let status = match db.migration_status().await {
        Ok(status) => status,
        // No `_sqlx_migrations` yet: a database never migrated.
        Err(_) => {
            return Report::fine(format!(
                "database {} answers; no migration applied yet: `migrate` or `serve` applies them",
                url.redacted()
            ))
        }
    };
    if !status.failed.is_empty() || !status.changed.is_empty() {
        return Report::problem(
            "database_url",
            format!(
                "migrations of {} need repair: failed {:?}, applied from a different file {:?}",
                url.redacted(),
                status.failed,
                status.changed
            ),
        );
    }
    let mut line = format!("database {} answers", url.redacted());
    if status.missing.is_empty() {
        line.push_str("; every migration applied");
    } else {
        line.push_str(&format!(
            "; migrations {:?} not applied yet: `migrate` or `serve` applies them",
            status.missing
        ));
    }
    Report::fine(line)
}

/// The ERP's table as `[directory]` describes it, readable (and writable where `rehash` writes).
async fn directory(config: Option<&DirectoryConfig>) -> Report {
    let Some(config) = config else {
        return Report::default();
    };
    let erp = match ErpDirectory::connect(config) {
        Ok(erp) => erp,
        Err(e) => return Report::problem("directory.url", format!("{e:#}")),
    };
    match tokio::time::timeout(LIMIT, erp.schema_problems()).await {
        Err(_) => Report::problem(
            "directory.url",
            format!(
                "the ERP database {} does not answer within {LIMIT:?}",
                config.url.redacted()
            ),
        ),
        Ok(Err(e)) => Report::problem(
            "directory.url",
            format!(
                "the ERP database {} does not answer: {e:#}",
                config.url.redacted()
            ),
        ),
        Ok(Ok(problems)) if problems.is_empty() => Report::fine(format!(
            "ERP directory {}.{}: every configured column exists and may be read{}",
            config.schema,
            config.table,
            if config.rehash {
                ", the hash column written"
            } else {
                ""
            }
        )),
        Ok(Ok(problems)) => Report {
            problems,
            fine: Vec::new(),
        },
    }
}

/// Each downstream URL answers: any HTTP response counts, a refused connection or no answer
/// within [`LIMIT`] does not. A back-channel logout URI gets a GET without a logout token,
/// which a relying party answers with an error and acts on never.
async fn downstream(usable: &Usable) -> Report {
    let mut targets: Vec<(String, String)> = Vec::new();
    if let Some(nextcloud) = &usable.provisioning.nextcloud {
        targets.push(("provisioning.nextcloud.url".into(), nextcloud.url.clone()));
    }
    if let Some(mailcow) = &usable.provisioning.mailcow {
        targets.push(("provisioning.mailcow.url".into(), mailcow.url.clone()));
    }
    if let Some(meet) = &usable.meet {
        // LiveKit answers its root with "OK"; any answer shows the server API is reachable.
        targets.push(("meet.livekit_url".into(), meet.livekit_url.clone()));
        if let Some(recordings) = &meet.recordings {
            targets.push((
                "meet.recordings.s3_endpoint".into(),
                recordings.s3_endpoint.clone(),
            ));
        }
    }
    if let Some(docs) = &usable.docs {
        // Nextcloud's own status page: any answer shows the instance is reachable.
        let provisioning_url = usable.provisioning.nextcloud.as_ref().map(|n| &n.url);
        if provisioning_url != Some(&docs.nextcloud_url) {
            targets.push((
                "docs.nextcloud_url".into(),
                format!("{}/status.php", docs.nextcloud_url),
            ));
        }
    }
    if let Some(calendar) = &usable.calendar {
        // The same status page, once per Nextcloud: the calendar's is usually the docs' one.
        let provisioning_url = usable.provisioning.nextcloud.as_ref().map(|n| &n.url);
        let docs_url = usable.docs.as_ref().map(|d| &d.nextcloud_url);
        if provisioning_url != Some(&calendar.nextcloud_url)
            && docs_url != Some(&calendar.nextcloud_url)
        {
            targets.push((
                "calendar.nextcloud_url".into(),
                format!("{}/status.php", calendar.nextcloud_url),
            ));
        }
    }
    for client in &usable.clients {
        if let Some(uri) = &client.backchannel_logout_uri {
            targets.push((
                client_key(&client.client_id, "backchannel_logout_uri"),
                uri.clone(),
            ));
        }
    }
    let mut report = Report::default();
    if targets.is_empty() {
        return report;
    }
    let http = match reqwest::Client::builder()
        .timeout(LIMIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(e) => return Report::problem("provisioning", format!("no HTTP client: {e}")),
    };
    let mut asks = JoinSet::new();
    for (order, (key, url)) in targets.into_iter().enumerate() {
        let http = http.clone();
        asks.spawn(async move {
            let answer = http.get(&url).send().await;
            (order, key, url, answer.map(|r| r.status()))
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    answers.sort_by_key(|(order, ..)| *order);
    for (_, key, url, answer) in answers {
        report.add(match answer {
            Ok(status) => Report::fine(format!("{url} answers ({status}) ({key})")),
            Err(e) if e.is_timeout() => {
                Report::problem(&key, format!("{url} does not answer within {LIMIT:?}"))
            }
            Err(e) => Report::problem(&key, format!("{url} does not answer: {}", cause(&e))),
        });
    }
    report
}

/// The innermost cause of a request's failure ("Connection refused", "dns error: …"): reqwest's
/// own message says only "error sending request".
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
