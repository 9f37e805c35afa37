-- Bheem Docs: the hub's record of the documents uploaded through /api/v1/docs, for the ERP's
-- copy of them (`[erp_sync]`, `dms.documents`). Keyed by Nextcloud's file id (`oc:fileid`),
-- which a file keeps when it is moved, renamed or uploaded again over itself; every row carries
-- its company and each query is scoped by it. `version` goes up with every change, so each
-- change gets its own ERP-sync job (the outbox keys jobs by it) while a job that runs late
-- still sends the document as it is then. A deleted document keeps its row (`deleted_at` set)
-- until its job has taken it out of the ERP, and after: the job reads it.
CREATE TABLE docs_documents (
    company_id    TEXT NOT NULL,
    file_id       TEXT NOT NULL,             -- Nextcloud's oc:fileid
    owner_user_id TEXT NOT NULL,             -- the directory's id of who uploaded it first
    nc_uid        TEXT NOT NULL,             -- whose Nextcloud tree `path` is in
    path          TEXT NOT NULL,             -- from that user's root: /Reports/q1.pdf
    version       BIGINT NOT NULL,
    deleted_at    BIGINT,                    -- Unix seconds; NULL while the file is there
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (company_id, file_id)
);
-- Moves and deletes find what is at or under a path of one user's tree.
CREATE INDEX docs_documents_tree ON docs_documents (company_id, nc_uid, path);
