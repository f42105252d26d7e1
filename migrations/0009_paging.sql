-- Lists whose cost does not grow with the organization (README, "Paging, cursors and sorting").

-- Exact totals of users and of groups per organization, so that an unfiltered list tells its
-- totalResults from at most 16 rows instead of counting the organization on every page.
--
-- Triggers keep them, not the statements that insert and delete: every path that adds or
-- removes a row is then counted, including the ones that are not the store's (cascades from a
-- deleted organization or group, test fixtures and benchmarks that insert directly), so the
-- totals cannot drift. A statement-level trigger with a transition table adds one upsert per
-- statement, whatever the number of rows (a bulk chunk, an organization's purge).
--
-- A transaction adds its change to one of 16 shard rows, chosen by its transaction id, so that
-- concurrent writers of one organization rarely wait for each other's commit and a transaction
-- never holds two shards of one counter (which could deadlock with another). A shard may go
-- negative (a user inserted through shard 3 and deleted through shard 9); only the sum means
-- anything.
CREATE TABLE org_counts (
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    tbl    text NOT NULL CHECK (tbl IN ('users', 'groups')),
    shard  smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n      bigint NOT NULL,
    PRIMARY KEY (org_id, tbl, shard)
);

CREATE FUNCTION org_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts AS c (org_id, tbl, shard, n)
    SELECT org_id, TG_TABLE_NAME, (pg_current_xact_id()::text::bigint % 16)::smallint, count(*)
    FROM inserted GROUP BY org_id
    ON CONFLICT (org_id, tbl, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;

-- Rows deleted along with their organization are not counted: its counters go with it, and
-- counting them would insert a counter row for an organization no longer there.
CREATE FUNCTION org_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts AS c (org_id, tbl, shard, n)
    SELECT d.org_id, TG_TABLE_NAME, (pg_current_xact_id()::text::bigint % 16)::smallint, -count(*)
    FROM deleted d WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.org_id) GROUP BY d.org_id
    ON CONFLICT (org_id, tbl, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;

-- The triggers are created before the backfill: creating them locks the tables against writes
-- until this migration commits, so the backfill counts exactly what the triggers will adjust.
CREATE TRIGGER users_counted_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION org_counts_inserted();
CREATE TRIGGER users_counted_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION org_counts_deleted();
CREATE TRIGGER groups_counted_insert AFTER INSERT ON groups
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION org_counts_inserted();
CREATE TRIGGER groups_counted_delete AFTER DELETE ON groups
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION org_counts_deleted();

INSERT INTO org_counts (org_id, tbl, shard, n)
SELECT org_id, 'users', 0, count(*) FROM users GROUP BY org_id
UNION ALL
SELECT org_id, 'groups', 0, count(*) FROM groups GROUP BY org_id;

-- Sorts that walk an index (postgres/where.go, sortKey): each index holds the list's order key
-- for one attribute, then the id that breaks ties, so a sorted page, first or last, reads only
-- its rows (and, by index, the rows OFFSET skips). Strings compare lowercased (unless
-- caseExact) by code point (COLLATE "C"), as filters do, whatever the database's locale. A
-- nullable attribute's key leads with "IS NULL": ascending puts resources without a value last,
-- descending (the exact reverse, read backwards from the same index) puts them first, as RFC
-- 7644 §3.4.2.3 asks. Attributes whose length is not limited (schema.MaxIndexedBytes) are keyed
-- on their first 256 characters, which always fit in an index entry. meta.created and
-- meta.lastModified use users_created, users_last_modified, groups_created and
-- groups_last_modified.
CREATE INDEX users_sort_user_name ON users (org_id, (lower(user_name) COLLATE "C"), id);
CREATE INDEX users_sort_display_name ON users
    (org_id, (display_name IS NULL), (coalesce(lower(left(display_name, 256)), '') COLLATE "C"), id);
CREATE INDEX users_sort_family_name ON users
    (org_id, (family_name IS NULL), (coalesce(lower(left(family_name, 256)), '') COLLATE "C"), id);
CREATE INDEX users_sort_given_name ON users
    (org_id, (given_name IS NULL), (coalesce(lower(left(given_name, 256)), '') COLLATE "C"), id);
CREATE INDEX users_sort_external_id ON users
    (org_id, (external_id IS NULL), (coalesce(external_id, '') COLLATE "C"), id);
CREATE INDEX groups_sort_display_name ON groups (org_id, (lower(display_name) COLLATE "C"), id);
CREATE INDEX groups_sort_external_id ON groups
    (org_id, (external_id IS NULL), (coalesce(external_id, '') COLLATE "C"), id);

-- The key that seals list cursors (postgres/cursor.go), shared by every scimd process on the
-- database: 32 bytes from two random UUIDs (244 random bits), needing no extension.
CREATE TABLE cursor_key (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret bytea NOT NULL CHECK (length(secret) = 32)
);
INSERT INTO cursor_key (secret)
VALUES (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
