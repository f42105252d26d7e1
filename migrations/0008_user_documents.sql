-- Reading a user is one indexed row read: its multi-valued attributes (emails, phoneNumbers,
-- ims, photos, roles that are not grants, x509Certificates, addresses) are kept in the users
-- row as a JSON object as well, and its effective products as an array. The child tables
-- user_values and user_addresses, and user_effective_products, stay: filters and the indexes
-- behind them use them. Every write sets both, in the same statement batch.
ALTER TABLE users
    ADD COLUMN multi_valued jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN eff_products text[] NOT NULL DEFAULT '{}';

UPDATE users u SET
    multi_valued = coalesce((
        SELECT jsonb_object_agg(x.attr, x.elements) FROM (
            SELECT v.attr, jsonb_agg(jsonb_strip_nulls(jsonb_build_object('value', v.value, 'display', v.display,
                'type', v.type, 'primary', CASE WHEN v."primary" THEN true END)) ORDER BY v.pos) AS elements
            FROM user_values v WHERE v.org_id = u.org_id AND v.user_id = u.id GROUP BY v.attr) x), '{}')
        || coalesce((
        SELECT jsonb_build_object('addresses', jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                'formatted', a.formatted, 'streetAddress', a.street_address, 'locality', a.locality,
                'region', a.region, 'postalCode', a.postal_code, 'country', a.country, 'type', a.type,
                'primary', CASE WHEN a."primary" THEN true END)) ORDER BY a.pos))
        FROM user_addresses a WHERE a.org_id = u.org_id AND a.user_id = u.id), '{}'),
    eff_products = ARRAY(SELECT p.product FROM user_effective_products p
        WHERE p.org_id = u.org_id AND p.user_id = u.id ORDER BY p.product);

-- Purging a user finds the audit records that mention it through the mentions alone: an id is
-- in one organization only, and a GIN index led by org_id read the organization's whole
-- posting list for every purge.
DROP INDEX audit_log_mentions;
CREATE INDEX audit_log_mentions ON audit_log USING gin (mentions);
