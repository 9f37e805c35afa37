//! A move or a delete reaches exactly the documents at or under its path, in its company and
//! its user's tree: not another company's at the same path, not a sibling whose name only
//! starts the same, not a name that a `LIKE` pattern would have matched.

use super::{DocsErp, ErpRow, ALICE};
use crate::on_both_backends;
use crate::support::{Backend, ACME, GLOBEX};

on_both_backends!(
    another_companys_document_at_the_same_path_is_untouched,
    names_with_wildcards_case_or_accents_match_only_themselves,
);

async fn another_companys_document_at_the_same_path_is_untouched(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    let now = d.now();
    // The same user id, path and even file id in Globex (its own Nextcloud, say).
    d.upload("100", ALICE, "alice", "/Shared/plan.pdf").await;
    d.upload_in(GLOBEX, "100", ALICE, "alice", "/Shared/plan.pdf", now)
        .await;
    d.upload_in(GLOBEX, "200", ALICE, "alice", "/Shared/x.pdf", now)
        .await;
    d.settled().await;
    let rows = d.rows().await;
    assert_eq!(rows.len(), 3);
    assert_ne!(rows[0].id, rows[1].id, "one ERP row per company and file");

    assert_eq!(d.moved("alice", "/Shared", "/Moved").await, 1);
    // Acme's new file where Globex has one replaces nothing of Globex's.
    d.upload("300", ALICE, "alice", "/Shared/x.pdf").await;
    assert_eq!(d.deleted("alice", "/Moved").await, 1);
    d.settled().await;
    let globex = |id: &str, path: &str| ErpRow::expected(GLOBEX, id, ALICE, "alice", path);
    assert_eq!(
        d.rows().await,
        [
            globex("100", "/Shared/plan.pdf"),
            ErpRow::expected(ACME, "300", ALICE, "alice", "/Shared/x.pdf"),
            globex("200", "/Shared/x.pdf"),
        ]
    );
    let globex_id = uuid::Uuid::parse_str(GLOBEX).unwrap();
    for file in ["100", "200"] {
        let doc = d
            .db()
            .docs_document(globex_id, file)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((doc.version, doc.deleted_at), (1, None), "{file}");
    }
}

async fn names_with_wildcards_case_or_accents_match_only_themselves(backend: Backend) {
    let Some(d) = DocsErp::start(backend).await else {
        return;
    };
    for (id, path) in [
        ("1", "/a_b/one.pdf"),
        ("2", "/axb/two.pdf"),
        ("3", "/100%/three.pdf"),
        ("4", "/1000/four.pdf"),
        ("5", "/Docs/five.pdf"),
        ("6", "/docs/six.pdf"),
        ("7", "/Über/ä.pdf"),
        ("8", "/Uber/u.pdf"),
    ] {
        d.upload(id, ALICE, "alice", path).await;
    }
    assert_eq!(d.moved("alice", "/a_b", "/c").await, 1);
    assert_eq!(d.deleted("alice", "/100%").await, 1);
    assert_eq!(d.deleted("alice", "/Docs").await, 1);
    assert_eq!(d.moved("alice", "/Über", "/Ü").await, 1);
    d.settled().await;
    let row = |id: &str, path: &str| ErpRow::expected(ACME, id, ALICE, "alice", path);
    let mut want = vec![
        row("1", "/c/one.pdf"),
        row("2", "/axb/two.pdf"),
        row("4", "/1000/four.pdf"),
        row("6", "/docs/six.pdf"),
        row("7", "/Ü/ä.pdf"),
        row("8", "/Uber/u.pdf"),
    ];
    want.sort_by(|a, b| a.storage_path.cmp(&b.storage_path));
    assert_eq!(d.rows().await, want);
    assert_eq!(
        want.iter()
            .find(|r| r.id == row("7", "/").id)
            .unwrap()
            .title,
        "ä"
    );
}
