//! Test databases: a fresh SQLite file per test, or a fresh PostgreSQL database per test
//! (created from `RISKSTREAM_TEST_POSTGRES` and dropped afterwards), so tests run in
//! parallel and each body is written once for both backends.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, Row};

pub const PG_ENV: &str = "RISKSTREAM_TEST_POSTGRES";

/// A database a test may open a registry on and tamper with.
#[derive(Debug, Clone)]
pub struct Db {
    /// URL for `Registry::open`.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

impl Db {
    /// Runs SQL directly, bypassing the registry (to tamper with it).
    pub async fn exec(&self, sql: &str) {
        let mut conn = raw(&self.url).await;
        conn.execute(sqlx::AssertSqlSafe(sql.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.expect("close");
    }

    /// Runs SQL directly and returns the database's answer.
    pub async fn try_exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        let mut conn = raw(&self.url).await;
        let r = conn
            .execute(sqlx::AssertSqlSafe(sql.to_string()))
            .await
            .map(|_| ());
        conn.close().await.expect("close");
        r
    }

    /// Reads every column of every row as text.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut conn = raw(&self.url).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let out = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<Option<String>, _>(i).expect("text column"))
                    .collect()
            })
            .collect();
        conn.close().await.expect("close");
        out
    }
}

async fn raw(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// A unique name for this process and call.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[start..].find('/').map_or(base.len(), |i| start + i);
    format!("{}/{db}{query}", &base[..host_end])
}

/// Runs `body` on a fresh SQLite file.
pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db {
        url: format!("sqlite://{}/registry.db", dir.path().display()),
        backend: "sqlite",
    };
    let outcome = tokio::spawn(body(db)).await;
    drop(dir);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs `body` on a fresh PostgreSQL database, or prints why not.
pub async fn on_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(admin) = std::env::var(PG_ENV) else {
        eprintln!("{test}: skipped: set {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)");
        return;
    };
    let name = unique("rs_test");
    let mut conn = raw(&admin).await;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    let db = Db {
        url: with_database(&admin, &name),
        backend: "postgres",
    };
    let outcome = tokio::spawn(body(db)).await;
    // FORCE ends connections a failed test left open (PostgreSQL 13+).
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .expect("drop database");
    conn.close().await.expect("close");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Generates a SQLite and a PostgreSQL test for each `async fn name(db: Db)` given.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::on_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::on_postgres(stringify!($name), super::$name).await;
                }
            )*
        }
    };
}
