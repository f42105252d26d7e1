-- The Organization Center, the web console under /console/ (internal/console): sign-in through
-- each organization's OpenID provider or a single-use link, server-side sessions, and the text
-- search of the users tab. Who may sign in is decided by the directory
-- (internal/directory/console.go); these tables only keep what it decided.

-- An organization's OpenID Connect client at its identity provider (internal/orgs/oidc.go).
-- The client secret is kept as given, because scimd must send it to the provider's token
-- endpoint; the admin API, the command line and the console never show it again, and it goes
-- with the organization.
CREATE TABLE org_oidc (
    org_id        uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    issuer        text NOT NULL CHECK (issuer <> ''),
    client_id     text NOT NULL CHECK (client_id <> ''),
    client_secret text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- An identity of the organization's provider (its issuer and subject) bound to the user it
-- first signed in as, matched then by a verified email. It is looked up first on every later
-- sign-in, so that an email changed at the provider cannot lead to another account; and a user
-- has at most one subject per issuer, so that another identity carrying the user's email later
-- cannot be bound to them.
CREATE TABLE console_identities (
    org_id     uuid NOT NULL,
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, issuer, subject),
    UNIQUE (org_id, user_id, issuer),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- Console sessions, server-side. The cookie carries the organization, the id and a secret of
-- 256 random bits, stored as its SHA-256 (internal/auth). Their expiry (idle and absolute) is
-- the directory's, computed from the two times, so that a change of it applies to sessions
-- already open. They go with their user; a suspension or demotion deletes them.
CREATE TABLE console_sessions (
    org_id       uuid NOT NULL,
    id           uuid NOT NULL,
    user_id      uuid NOT NULL,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_user ON console_sessions (org_id, user_id);

-- Single-use sign-in links an operator prints (scimd console link), stored hashed like
-- sessions.
CREATE TABLE console_links (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL,
    user_id     uuid NOT NULL,
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX console_links_user ON console_links (org_id, user_id);

-- The users tab's text filter (?q=) looks for a part of a user's email or name: the sign-in
-- address, userName, displayName, and given and family name. One expression holds them all,
-- and one trigram index (pg_trgm) serves any part of three characters or more:
--   - lower-cased, and separated by line feeds, which a search never contains, so that no
--     match spans two of them;
--   - with the punctuation of addresses and names (. @ - _ + ' and the space) translated to
--     letters that only the languages that write clicks use (ǀ ǁ ǂ ǃ ƻ ʔ ʕ): pg_trgm takes
--     punctuation as the end of a word and extracts no trigram across it, so a search for
--     "a.l" or "s.wi" in "ada.lovelace@..." would find nothing in the index and read every
--     user; translated, "aǀl" is one trigram of "adaǀlovelaceǁ...".
-- user_search_text and user_search_pattern are the one definition of both sides: queries
-- call them with the same columns (postgres/console.go), and PostgreSQL matches the call to
-- the index.
CREATE FUNCTION user_search_text(sign_in text, user_name text, display_name text, given_name text, family_name text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(lower(coalesce(sign_in, '') || E'\n' || user_name || E'\n' || coalesce(display_name, '') || E'\n'
        || coalesce(given_name, '') || ' ' || coalesce(family_name, '')), '.@-_+'' ', 'ǀǁǂǃƻʔʕ')
$$;
-- The LIKE pattern that finds the text q (any case) in user_search_text: translated the same
-- way, with LIKE's escape character and % escaped (_ is translated away).
CREATE FUNCTION user_search_pattern(q text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '%' || replace(replace(translate(lower(q), '.@-_+'' ', 'ǀǁǂǃƻʔʕ'), '\', '\\'), '%', '\%') || '%'
$$;
CREATE INDEX users_search ON users USING gin
    (org_id, user_search_text(sign_in, user_name, display_name, given_name, family_name) gin_trgm_ops);
