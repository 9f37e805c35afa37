//! `bheem-sso backup --to FILE`: an online, consistent copy of the embedded SQLite database,
//! taken while the server runs. PostgreSQL is left to its own tool, whose advice this gives.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{sqlite_path, Db};
use crate::config::{Backend, DatabaseUrl};

/// What a backup made.
#[derive(Debug)]
pub struct Backup {
    pub file: PathBuf,
    pub bytes: u64,
}

/// Copies the SQLite database that `url` names to `to`, which must not exist yet.
///
/// `VACUUM INTO` writes a consistent snapshot from one read transaction, so the server goes on
/// serving and writing meanwhile (in WAL mode readers and the writer do not wait for each other).
/// The copy is made under a temporary name beside `to`, made 0600 before a byte is written, and
/// takes its name only when complete: an interrupted backup never leaves a `to` that looks whole.
pub async fn backup(url: &DatabaseUrl, to: &Path) -> anyhow::Result<Backup> {
    if url.backend() == Backend::Postgres {
        bail!("{}", postgres_advice(url, to));
    }
    let raw = url.expose();
    let source = sqlite_path(raw);
    if source.is_empty() || raw.contains(":memory:") || raw.contains("mode=memory") {
        bail!("database_url names an in-memory database, which has nothing to back up");
    }
    // Db::connect would create a missing database, and back up an empty one.
    if !Path::new(source).is_file() {
        bail!("no database at {source} (database_url {})", url.redacted());
    }
    if to.exists() {
        bail!("{} exists; backup never overwrites a file", to.display());
    }
    let partial = Partial::create(to)?;
    let db = Db::connect(url).await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(partial.path.display().to_string())
        .execute(db.pool())
        .await
        .with_context(|| format!("copying {source} into {}", partial.path.display()));
    db.close().await;
    copied?;
    let bytes = partial.finish(to)?;
    Ok(Backup {
        file: to.to_owned(),
        bytes,
    })
}

/// The copy while it is being written: removed unless it was finished.
struct Partial {
    path: PathBuf,
    done: bool,
}

impl Partial {
    /// An empty file beside `to`, readable by its owner only: it will hold password hashes and
    /// the hashes of live tokens. `VACUUM INTO` accepts an empty file and keeps its mode.
    fn create(to: &Path) -> anyhow::Result<Self> {
        let name = to
            .file_name()
            .with_context(|| format!("{} names no file", to.display()))?;
        let path = to.with_file_name(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, done: false })
    }

    /// Flushes the copy to disk and gives it its name, unless that name was taken meanwhile: a
    /// hard link fails where a rename would replace, so nothing can be overwritten. The size.
    fn finish(mut self, to: &Path) -> anyhow::Result<u64> {
        let file = fs::File::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        file.sync_all()
            .with_context(|| format!("flushing {}", self.path.display()))?;
        let bytes = file.metadata()?.len();
        match fs::hard_link(&self.path, to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("{} exists; backup never overwrites a file", to.display())
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("naming {} {}", self.path.display(), to.display()))
            }
        }
        self.done = true;
        fs::remove_file(&self.path).with_context(|| format!("removing {}", self.path.display()))?;
        // The new name is durable once its folder is.
        if let Some(folder) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::File::open(folder)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("flushing {}", folder.display()))?;
        }
        Ok(bytes)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What to run instead on PostgreSQL, with the URL's password left out.
fn postgres_advice(url: &DatabaseUrl, to: &Path) -> String {
    let shown = match url::Url::parse(url.expose()) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.redacted(),
    };
    format!(
        "bheem-sso backup copies the embedded SQLite database only. This database is PostgreSQL: \
         back it up online and consistently with pg_dump, giving the password in PGPASSWORD or \
         ~/.pgpass:\n\n    pg_dump --format=custom --file={file} '{shown}'\n\n\
         and restore it into an empty database with:\n\n    \
         pg_restore --no-owner --dbname='{shown}' {file}\n",
        file = to.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_advice_names_pg_dump_and_leaves_the_password_out() {
        let url = DatabaseUrl::parse("postgres://sso:hunter2@db.internal:5432/bheem_sso").unwrap();
        let advice = postgres_advice(&url, Path::new("/backups/sso.dump"));
        assert!(
            advice.contains(
                "pg_dump --format=custom --file=/backups/sso.dump \
                 'postgres://sso@db.internal:5432/bheem_sso'"
            ),
            "{advice}"
        );
        assert!(advice.contains("pg_restore"), "{advice}");
        assert!(!advice.contains("hunter2"), "{advice}");
    }
}
