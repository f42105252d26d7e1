-- The version of an organization's settings: what the directory's rules read of it
-- (postgres.orgSettingsSQL: name, default locale, notify, nested groups, verified domains,
-- licensed products). Every change of them raises it, in the changing transaction, so that a
-- process may keep the settings between transactions (postgres/orgcache.go) and each write
-- check, in the round trip that carries its statements, that they are still the ones its rules
-- used (org_settings_unchanged). A create is then one round trip instead of two.
--
-- Versions come from a sequence, not a counter per organization, so that no two states of the
-- settings ever share one: not when an organization is deleted and created again with the same
-- id, nor when a change that raised the version rolls back.
CREATE SEQUENCE org_settings_versions;
ALTER TABLE organizations ADD COLUMN settings_version bigint NOT NULL DEFAULT nextval('org_settings_versions');

CREATE FUNCTION org_settings_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'organizations' THEN
        NEW.settings_version := nextval('org_settings_versions');
        RETURN NEW;
    END IF;
    -- A domain or product of the organization: inserted, updated or deleted. Rows deleted
    -- with their organization find it gone, and update nothing.
    UPDATE organizations SET settings_version = nextval('org_settings_versions')
    WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.org_id ELSE NEW.org_id END;
    RETURN NULL;
END $$;

CREATE TRIGGER organizations_settings_version BEFORE UPDATE ON organizations
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION org_settings_bump();
CREATE TRIGGER org_domains_settings_version AFTER INSERT OR UPDATE OR DELETE ON org_domains
    FOR EACH ROW EXECUTE FUNCTION org_settings_bump();
CREATE TRIGGER org_products_settings_version AFTER INSERT OR UPDATE OR DELETE ON org_products
    FOR EACH ROW EXECUTE FUNCTION org_settings_bump();

-- org_settings_unchanged aborts the transaction with serialization_failure, which the store
-- answers by forgetting the settings it kept and running the change again, unless the
-- organization's settings are still at version. It reads the row as any statement of the
-- transaction would (READ COMMITTED): a change committed after it is no more seen than one
-- committed after a read of the settings themselves.
CREATE FUNCTION org_settings_unchanged(org uuid, version bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = org AND o.settings_version = version) THEN
        RAISE EXCEPTION 'the settings of organization % changed', org USING ERRCODE = 'serialization_failure';
    END IF;
END $$;
