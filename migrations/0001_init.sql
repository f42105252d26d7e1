-- Extensions live in public so that per-test schemas (search_path = test_schema, public) share
-- them and dropping a test schema never drops an extension.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;

CREATE TABLE organizations (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    default_locale text NOT NULL DEFAULT 'en-US',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE org_domains (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain      text NOT NULL CHECK (domain = lower(domain)),
    verified_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, domain)
);

-- Account IDs come from one sequence so that they are never reused, across organizations and
-- after deletions.
CREATE SEQUENCE account_id_seq;

-- Singular attributes that filters and sorts use are typed columns; multi-valued attributes live
-- in the child tables below.
CREATE TABLE users (
    org_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    account_id         bigint NOT NULL DEFAULT nextval('account_id_seq'),
    user_name          text NOT NULL,
    external_id        text,
    active             boolean NOT NULL DEFAULT true,
    display_name       text,
    nick_name          text,
    profile_url        text,
    title              text,
    user_type          text,
    preferred_language text,
    locale             text,
    timezone           text,
    name_formatted     text,
    family_name        text,
    given_name         text,
    middle_name        text,
    honorific_prefix   text,
    honorific_suffix   text,
    employee_number    text,
    cost_center        text,
    organization       text,
    division           text,
    department         text,
    manager_id         text,
    password_hash      text,
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_modified      timestamptz NOT NULL DEFAULT statement_timestamp(),
    PRIMARY KEY (org_id, id),
    UNIQUE (account_id)
);
CREATE UNIQUE INDEX users_user_name_key ON users (org_id, lower(user_name));
CREATE INDEX users_user_name_trgm ON users USING gin (org_id, lower(user_name) gin_trgm_ops);
CREATE INDEX users_external_id ON users (org_id, external_id);
-- Creation order is the default list order; last_modified is included so that a delta sync
-- (meta.lastModified gt T, paged in creation order) filters and skips rows in the index alone.
CREATE INDEX users_created ON users (org_id, created_at, id) INCLUDE (last_modified);
CREATE INDEX users_last_modified ON users (org_id, last_modified, id);
CREATE INDEX users_manager ON users (org_id, manager_id) WHERE manager_id IS NOT NULL;

-- Multi-valued attributes whose elements are value/display/type/primary: emails, phoneNumbers,
-- ims, photos, entitlements, roles, x509Certificates. attr names the attribute; pos keeps the
-- client's order.
CREATE TABLE user_values (
    org_id    uuid NOT NULL,
    user_id   uuid NOT NULL,
    attr      text NOT NULL,
    pos       integer NOT NULL,
    value     text,
    display   text,
    type      text,
    "primary" boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org_id, user_id, attr, pos),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_values_value ON user_values (org_id, attr, lower(value));
CREATE INDEX user_values_value_trgm ON user_values USING gin (org_id, attr, lower(value) gin_trgm_ops);

CREATE TABLE user_addresses (
    org_id         uuid NOT NULL,
    user_id        uuid NOT NULL,
    pos            integer NOT NULL,
    formatted      text,
    street_address text,
    locality       text,
    region         text,
    postal_code    text,
    country        text,
    type           text,
    "primary"      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org_id, user_id, pos),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Provisioning tokens. The secret is stored as a SHA-256 hash (it is 256 random bits, so a slow
-- hash adds nothing); the token string carries org and token id so lookup is by primary key and
-- the hash comparison is constant-time in Go.
CREATE TABLE tokens (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    secret_hash    bytea NOT NULL,
    issuer_user_id uuid,
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE groups (
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    display_name  text NOT NULL,
    external_id   text,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_modified timestamptz NOT NULL DEFAULT statement_timestamp(),
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (org_id, lower(display_name));
CREATE INDEX groups_external_id ON groups (org_id, external_id);
CREATE INDEX groups_created ON groups (org_id, created_at, id);
CREATE INDEX groups_last_modified ON groups (org_id, last_modified, id);

-- One row per membership, so adding or removing a member touches one row whatever the group's
-- size. member_id is a user (or, with nesting, a group) of the same organization; deleting a
-- user deletes its rows explicitly, through group_members_member.
CREATE TABLE group_members (
    org_id      uuid NOT NULL,
    group_id    uuid NOT NULL,
    member_id   uuid NOT NULL,
    member_type text NOT NULL CHECK (member_type IN ('User', 'Group')),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id, member_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_member ON group_members (org_id, member_id);
