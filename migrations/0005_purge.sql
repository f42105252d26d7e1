-- DELETE of a user is a hard delete: the account's data goes with it, a tombstone without
-- personal data remains, and downstream product systems are told to purge their copies.

-- Product data scimd holds for an account, written by product systems through the admin API.
CREATE TABLE meeting_history (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    id         uuid NOT NULL,
    topic      text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

CREATE TABLE scheduled_meetings (
    org_id       uuid NOT NULL,
    user_id      uuid NOT NULL,
    id           uuid NOT NULL,
    topic        text NOT NULL DEFAULT '',
    starts_at    timestamptz NOT NULL,
    duration_min integer NOT NULL DEFAULT 60 CHECK (duration_min > 0),
    details      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

CREATE TABLE product_records (
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    id          uuid NOT NULL,
    product     text NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

-- What remains of a deleted resource: its id, when, and who deleted it, plus the pseudonym
-- that replaced the resource's id in the audit log. The pseudonym is random, so nothing turns
-- it back into the person.
CREATE TABLE tombstones (
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    resource_type text NOT NULL,
    resource_id   uuid NOT NULL,
    pseudonym     uuid NOT NULL,
    deleted_at    timestamptz NOT NULL DEFAULT now(),
    token_id      uuid,
    actor_user_id uuid,
    request_id    text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, resource_type, resource_id)
);

-- Endpoints that receive account.purged events, each with its own signing secret.
CREATE TABLE webhook_endpoints (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    url        text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- One row per event and endpoint, queued in the transaction of the purge and delivered at
-- least once by workers. The payload carries ids only.
CREATE TABLE webhook_deliveries (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, id) ON DELETE CASCADE
);
-- Like notifications_due, the delivery queue spans organizations.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
