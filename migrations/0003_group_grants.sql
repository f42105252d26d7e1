-- Groups map onto grants. A user's effective grants are their direct grants united with those
-- of every group they belong to, directly or through nested groups (the highest role wins);
-- suspended users have none. Effective grants are materialised so that reads, filters and
-- token checks are plain indexed lookups; refresh_grants recomputes them in the same
-- transaction as any change that can alter them.

ALTER TABLE organizations ADD COLUMN nested_groups boolean NOT NULL DEFAULT false;

CREATE TABLE group_mappings (
    org_id       uuid NOT NULL,
    group_id     uuid NOT NULL,
    org_role     text CHECK (org_role IN ('admin', 'admin-readonly', 'user')),
    account_role text CHECK (account_role IN ('admin', 'member')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE
);

CREATE TABLE group_mapping_products (
    org_id   uuid NOT NULL,
    group_id uuid NOT NULL,
    product  text NOT NULL,
    PRIMARY KEY (org_id, group_id, product),
    FOREIGN KEY (org_id, group_id) REFERENCES group_mappings (org_id, group_id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, product) REFERENCES org_products (org_id, product)
);

ALTER TABLE users
    ADD COLUMN eff_org_role text NOT NULL DEFAULT 'user'
        CHECK (eff_org_role IN ('admin', 'admin-readonly', 'user')),
    ADD COLUMN eff_account_role text NOT NULL DEFAULT 'member'
        CHECK (eff_account_role IN ('admin', 'member'));
UPDATE users SET eff_org_role = CASE WHEN active THEN org_role ELSE 'user' END,
                 eff_account_role = CASE WHEN active THEN account_role ELSE 'member' END;
CREATE INDEX users_eff_admins ON users (org_id, eff_org_role) WHERE eff_org_role <> 'user';

CREATE TABLE user_effective_products (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL,
    product text NOT NULL,
    PRIMARY KEY (org_id, user_id, product),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_effective_products_product ON user_effective_products (org_id, product);
INSERT INTO user_effective_products (org_id, user_id, product)
SELECT p.org_id, p.user_id, p.product FROM user_products p
JOIN users u ON u.org_id = p.org_id AND u.id = p.user_id WHERE u.active;

-- refresh_grants recomputes the effective grants of the given users and returns those whose
-- effective grants changed, before and after.
CREATE FUNCTION refresh_grants(p_org uuid, p_users uuid[])
RETURNS TABLE (user_id uuid, org_role_before text, org_role_after text,
               account_role_before text, account_role_after text,
               products_before text[], products_after text[])
LANGUAGE plpgsql AS $$
BEGIN
    -- Lock the users first, in a statement of its own: the computation below then takes a
    -- snapshot that includes whatever a concurrent transaction changing them committed, instead
    -- of overwriting its result with grants computed before it.
    PERFORM 1 FROM users u WHERE u.org_id = p_org AND u.id = ANY (p_users) ORDER BY u.id FOR NO KEY UPDATE;
    RETURN QUERY
    WITH RECURSIVE memberships (user_id, group_id) AS (
        SELECT m.member_id, m.group_id FROM group_members m
        WHERE m.org_id = p_org AND m.member_id = ANY (p_users)
        UNION
        SELECT ms.user_id, m.group_id FROM memberships ms
        JOIN group_members m ON m.org_id = p_org AND m.member_id = ms.group_id
    ),
    mapped AS (
        SELECT ms.user_id, gm.group_id, gm.org_role, gm.account_role FROM memberships ms
        JOIN group_mappings gm ON gm.org_id = p_org AND gm.group_id = ms.group_id
    ),
    target AS (
        SELECT u.id,
            CASE WHEN NOT u.active THEN 'user' ELSE (ARRAY['user', 'admin-readonly', 'admin'])[(
                SELECT max(array_position(ARRAY['user', 'admin-readonly', 'admin'], r))
                FROM (SELECT u.org_role UNION ALL SELECT mp.org_role FROM mapped mp WHERE mp.user_id = u.id) AS x (r)
            )] END AS org_role,
            CASE WHEN NOT u.active THEN 'member' ELSE (ARRAY['member', 'admin'])[(
                SELECT max(array_position(ARRAY['member', 'admin'], r))
                FROM (SELECT u.account_role UNION ALL SELECT mp.account_role FROM mapped mp WHERE mp.user_id = u.id) AS x (r)
            )] END AS account_role,
            CASE WHEN NOT u.active THEN '{}'::text[] ELSE ARRAY(
                SELECT up.product FROM user_products up WHERE up.org_id = p_org AND up.user_id = u.id
                UNION
                SELECT gp.product FROM mapped mp
                JOIN group_mapping_products gp ON gp.org_id = p_org AND gp.group_id = mp.group_id
                WHERE mp.user_id = u.id
                ORDER BY 1
            ) END AS products,
            u.eff_org_role, u.eff_account_role,
            ARRAY(SELECT ep.product FROM user_effective_products ep
                  WHERE ep.org_id = p_org AND ep.user_id = u.id ORDER BY 1) AS cur_products
        FROM users u WHERE u.org_id = p_org AND u.id = ANY (p_users)
    ),
    changed AS (
        SELECT * FROM target t
        WHERE (t.org_role, t.account_role, t.products) IS DISTINCT FROM (t.eff_org_role, t.eff_account_role, t.cur_products)
    ),
    upd AS (
        UPDATE users u SET eff_org_role = c.org_role, eff_account_role = c.account_role
        FROM changed c WHERE u.org_id = p_org AND u.id = c.id
          AND (u.eff_org_role, u.eff_account_role) IS DISTINCT FROM (c.org_role, c.account_role)
        RETURNING u.id
    ),
    removed AS (
        DELETE FROM user_effective_products ep USING changed c
        WHERE ep.org_id = p_org AND ep.user_id = c.id AND NOT ep.product = ANY (c.products)
        RETURNING ep.user_id
    ),
    added AS (
        INSERT INTO user_effective_products (org_id, user_id, product)
        SELECT p_org, c.id, p FROM changed c, unnest(c.products) AS p
        WHERE NOT p = ANY (c.cur_products)
        RETURNING user_effective_products.user_id
    )
    SELECT c.id, c.eff_org_role, c.org_role, c.eff_account_role, c.account_role, c.cur_products, c.products
    -- upd, removed and added run to completion although nothing reads them: PostgreSQL
    -- executes data-modifying WITH statements exactly once whether or not they are referenced.
    FROM changed c;
END
$$;

-- group_users returns the users in a group, directly or through nested groups.
CREATE FUNCTION group_users(p_org uuid, p_group uuid) RETURNS TABLE (user_id uuid)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE down (member_id, member_type) AS (
        SELECT m.member_id, m.member_type FROM group_members m WHERE m.org_id = p_org AND m.group_id = p_group
        UNION
        SELECT m.member_id, m.member_type FROM down d
        JOIN group_members m ON m.org_id = p_org AND m.group_id = d.member_id
        WHERE d.member_type = 'Group'
    )
    SELECT member_id FROM down WHERE member_type = 'User'
$$;
