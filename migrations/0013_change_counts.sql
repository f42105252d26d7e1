-- Totals of filtered lists that stay exact without counting every page (postgres/countcache.go).
--
-- Each of an organization's org_counts rows also counts the statements that changed its users
-- (or groups) rows: inserted, updated or deleted. A sum of counters that only grow changes with
-- every transaction that commits such a change, and not before it commits, so a process that
-- counted a filter in the statement that read the sum knows the count still holds while the sum
-- is the same. (A sequence would not do: a value taken by a transaction still running can be
-- below one already committed.) The organization's settings_version, drawn from a sequence,
-- tells an organization from one deleted and created again with the same id, whose sums start
-- over.
--
-- The insert and delete triggers of 0009 add to it in the upsert they already make; updates get
-- a statement-level trigger of their own, one upsert per statement whatever the rows.
ALTER TABLE org_counts ADD COLUMN changes bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION org_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts AS c (org_id, tbl, shard, n, changes)
    SELECT org_id, TG_TABLE_NAME, (pg_current_xact_id()::text::bigint % 16)::smallint, count(*), 1
    FROM inserted GROUP BY org_id
    ON CONFLICT (org_id, tbl, shard) DO UPDATE SET n = c.n + excluded.n, changes = c.changes + 1;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION org_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts AS c (org_id, tbl, shard, n, changes)
    SELECT d.org_id, TG_TABLE_NAME, (pg_current_xact_id()::text::bigint % 16)::smallint, -count(*), 1
    FROM deleted d WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.org_id) GROUP BY d.org_id
    ON CONFLICT (org_id, tbl, shard) DO UPDATE SET n = c.n + excluded.n, changes = c.changes + 1;
    RETURN NULL;
END $$;

CREATE FUNCTION org_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_counts AS c (org_id, tbl, shard, n, changes)
    SELECT u.org_id, TG_TABLE_NAME, (pg_current_xact_id()::text::bigint % 16)::smallint, 0, 1
    FROM updated u WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = u.org_id) GROUP BY u.org_id
    ON CONFLICT (org_id, tbl, shard) DO UPDATE SET changes = c.changes + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER users_counted_update AFTER UPDATE ON users
    REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION org_counts_updated();
CREATE TRIGGER groups_counted_update AFTER UPDATE ON groups
    REFERENCING NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION org_counts_updated();
