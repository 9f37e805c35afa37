//! Whether the database carries every migration this binary embeds, for readiness: sqlx's own
//! book of what it applied (`_sqlx_migrations`), compared with the embedded migrator.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::Row;

use super::Db;

/// How the applied migrations compare with those embedded in the binary. Each list holds
/// migration versions, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Embedded but never applied: the schema is older than the code.
    pub missing: Vec<i64>,
    /// Begun and not finished (`success` is false): sqlx runs nothing more until an operator
    /// repairs the database.
    pub failed: Vec<i64>,
    /// Applied from a different file than the one embedded (the checksums differ).
    pub changed: Vec<i64>,
    /// Applied but not embedded: a newer binary migrated this database. Not a fault in itself:
    /// during a rolling upgrade the older nodes serve on while the newer one has migrated.
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    /// Every embedded migration is applied, finished, and the same as the embedded one.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }

    fn compare(migrator: &Migrator, applied: &BTreeMap<i64, Applied>) -> Self {
        let mut status = Self::default();
        let embedded = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration());
        for migration in embedded.clone() {
            match applied.get(&migration.version) {
                None => status.missing.push(migration.version),
                Some(row) if !row.success => status.failed.push(migration.version),
                Some(row) if row.checksum != *migration.checksum => {
                    status.changed.push(migration.version)
                }
                Some(_) => {}
            }
        }
        status.unknown = applied
            .keys()
            .copied()
            .filter(|v| !embedded.clone().any(|m| m.version == *v))
            .collect();
        status
    }
}

/// One row of `_sqlx_migrations`.
struct Applied {
    success: bool,
    checksum: Vec<u8>,
}

impl Db {
    /// Reads `_sqlx_migrations` and compares it with the migrations embedded in the binary.
    pub async fn migration_status(&self) -> anyhow::Result<MigrationStatus> {
        // `success` is a BOOLEAN on PostgreSQL and a 0/1 integer on SQLite: made an integer on
        // both, which the Any driver reads alike.
        let rows = sqlx::query(
            "SELECT version, CASE WHEN success THEN 1 ELSE 0 END AS success, checksum \
             FROM _sqlx_migrations",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading _sqlx_migrations")?;
        let mut applied = BTreeMap::new();
        for row in rows {
            let version: i64 = row.try_get("version")?;
            let success: i64 = row.try_get("success")?;
            let checksum: Vec<u8> = row.try_get("checksum")?;
            applied.insert(
                version,
                Applied {
                    success: success != 0,
                    checksum,
                },
            );
        }
        Ok(MigrationStatus::compare(self.migrator(), &applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

    fn applied_as_embedded() -> BTreeMap<i64, Applied> {
        MIGRATOR
            .iter()
            .map(|m| {
                let row = Applied {
                    success: true,
                    checksum: m.checksum.to_vec(),
                };
                (m.version, row)
            })
            .collect()
    }

    #[test]
    fn a_database_migrated_by_this_binary_is_complete() {
        let status = MigrationStatus::compare(&MIGRATOR, &applied_as_embedded());
        assert_eq!(status, MigrationStatus::default());
        assert!(status.is_complete());
    }

    #[test]
    fn missing_failed_and_changed_migrations_are_each_named() {
        let mut applied = applied_as_embedded();
        applied.remove(&4);
        applied.get_mut(&2).unwrap().success = false;
        applied.get_mut(&3).unwrap().checksum[0] ^= 1;
        let status = MigrationStatus::compare(&MIGRATOR, &applied);
        assert_eq!(status.missing, [4]);
        assert_eq!(status.failed, [2]);
        assert_eq!(status.changed, [3]);
        assert!(!status.is_complete());
    }

    #[test]
    fn a_migration_from_a_newer_binary_is_noted_but_not_a_fault() {
        let mut applied = applied_as_embedded();
        let newer = Applied {
            success: true,
            checksum: vec![0; 48],
        };
        applied.insert(9999, newer);
        let status = MigrationStatus::compare(&MIGRATOR, &applied);
        assert_eq!(status.unknown, [9999]);
        assert!(status.is_complete());
    }
}
