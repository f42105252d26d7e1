-- Organizations license products, verify domains through DNS, and grant roles and products to
-- their users.

-- Products an organization licenses; grants must come from this set.
CREATE TABLE org_products (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    product    text NOT NULL CHECK (product ~ '^[a-z][a-z0-9-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, product)
);

-- The value the organization must publish in a DNS TXT record to verify a domain.
ALTER TABLE org_domains ADD COLUMN txt_value text;

ALTER TABLE users
    ADD COLUMN org_role text NOT NULL DEFAULT 'user'
        CHECK (org_role IN ('admin', 'admin-readonly', 'user')),
    ADD COLUMN account_role text NOT NULL DEFAULT 'member'
        CHECK (account_role IN ('admin', 'member'));
-- Finding an organization's admins (last-admin rule, token issuers) reads only them.
CREATE INDEX users_admins ON users (org_id, org_role) WHERE org_role <> 'user';

-- Direct product grants. A licensed product cannot be withdrawn while granted.
CREATE TABLE user_products (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL,
    product text NOT NULL,
    PRIMARY KEY (org_id, user_id, product),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, product) REFERENCES org_products (org_id, product)
);
CREATE INDEX user_products_product ON user_products (org_id, product);

CREATE INDEX tokens_issuer ON tokens (org_id, issuer_user_id) WHERE issuer_user_id IS NOT NULL;
