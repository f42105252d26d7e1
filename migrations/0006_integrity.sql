-- The organization's rules live in Go (internal/directory); the database keeps its data whole.
-- This migration moves the effective-grant computation out of SQL and makes references that
-- must not outlive what they name into foreign keys.

-- Effective grants are computed by the directory (grants.Effective) and written by the store.
DROP FUNCTION refresh_grants(uuid, uuid[]);
DROP FUNCTION group_users(uuid, uuid);

-- Membership rows cannot outlive their member: member_user and member_group name the member by
-- kind, so each can reference its table. A member added while its user is being deleted either
-- waits for the delete and then fails the key check, or makes the delete wait and is deleted
-- with it.
ALTER TABLE group_members
    ADD COLUMN member_user uuid GENERATED ALWAYS AS (CASE WHEN member_type = 'User' THEN member_id END) STORED,
    ADD COLUMN member_group uuid GENERATED ALWAYS AS (CASE WHEN member_type = 'Group' THEN member_id END) STORED;
DELETE FROM group_members m WHERE m.member_type = 'User'
    AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = m.org_id AND u.id = m.member_id);
DELETE FROM group_members m WHERE m.member_type = 'Group'
    AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.org_id = m.org_id AND g.id = m.member_id);
ALTER TABLE group_members
    ADD FOREIGN KEY (org_id, member_user) REFERENCES users (org_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (org_id, member_group) REFERENCES groups (org_id, id) ON DELETE CASCADE;
-- The groups a user or a group is in; these also serve the cascades above.
DROP INDEX group_members_member;
CREATE INDEX group_members_user ON group_members (org_id, member_user) WHERE member_user IS NOT NULL;
CREATE INDEX group_members_group ON group_members (org_id, member_group) WHERE member_group IS NOT NULL;

-- A manager is a user of the organization, named by its id: a uuid, so that every spelling of
-- an id is stored the same way, and cleared when the manager is deleted.
UPDATE users SET manager_id = NULL
    WHERE manager_id !~* '^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$';
ALTER TABLE users ALTER COLUMN manager_id TYPE uuid USING manager_id::uuid;
UPDATE users u SET manager_id = NULL WHERE manager_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM users m WHERE m.org_id = u.org_id AND m.id = u.manager_id);
ALTER TABLE users ADD FOREIGN KEY (org_id, manager_id) REFERENCES users (org_id, id) ON DELETE SET NULL (manager_id);

-- The sign-in address (PRODUCT.md §2): the one address mail goes to and the console matches a
-- signed-in person by. The directory derives it on every write (directory.SignInAddress); this
-- fills it for users written before.
ALTER TABLE users ADD COLUMN sign_in text;
UPDATE users u SET sign_in = CASE WHEN u.user_name LIKE '%@%' THEN u.user_name ELSE (
    SELECT v.value FROM user_values v
    WHERE v.org_id = u.org_id AND v.user_id = u.id AND v.attr = 'emails' AND v.value LIKE '%@%'
    ORDER BY v."primary" DESC, (lower(v.type) = 'work') DESC NULLS LAST, v.pos LIMIT 1) END;
CREATE INDEX users_sign_in ON users (org_id, lower(sign_in)) WHERE sign_in IS NOT NULL;

-- Tokens: a token either acts as the user who issued it (issuer_user_id) or is a service token
-- with a role of its own and no person behind it (the operator token issued with an
-- organization is one). A label tells tokens apart in lists. A user's tokens go with the user.
ALTER TABLE tokens RENAME COLUMN description TO label;
ALTER TABLE tokens ADD COLUMN role text CHECK (role IN ('admin', 'admin-readonly'));
UPDATE tokens SET role = 'admin' WHERE issuer_user_id IS NULL;
DELETE FROM tokens t WHERE t.issuer_user_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = t.org_id AND u.id = t.issuer_user_id);
ALTER TABLE tokens
    ADD CHECK ((issuer_user_id IS NULL) = (role IS NOT NULL)),
    ADD FOREIGN KEY (org_id, issuer_user_id) REFERENCES users (org_id, id) ON DELETE CASCADE;

-- Tokens of users who are suspended or hold no admin role now are revoked for good: a token is
-- revoked the moment its issuer is suspended, deleted or demoted, and never works again.
UPDATE tokens t SET revoked_at = now() FROM users u
    WHERE u.org_id = t.org_id AND u.id = t.issuer_user_id AND t.revoked_at IS NULL
      AND (NOT u.active OR u.eff_org_role = 'user');
