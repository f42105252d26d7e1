-- Notifications are queued in the same transaction as the change they announce (a
-- transactional outbox) and delivered by workers; the audit log records every change with its
-- actor.

-- Whether changes of products or roles, suspensions and reactivations are mailed to the user;
-- a request may override it.
ALTER TABLE organizations ADD COLUMN notify boolean NOT NULL DEFAULT true;

CREATE TABLE notifications (
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    -- The user the mail is about and addressed to; purged with the user.
    user_id         uuid NOT NULL,
    recipient       text NOT NULL,
    recipient_name  text NOT NULL DEFAULT '',
    -- A supported language (en, fr, de, es, it, pt, nl): the user's, else the organization's.
    language        text NOT NULL,
    -- grants | suspended | reactivated | welcome
    kind            text NOT NULL CHECK (kind IN ('grants', 'suspended', 'reactivated', 'welcome')),
    -- What changed: {"products_added": [...], "products_removed": [...], "org_role":
    -- {"before", "after"}, "account_role": {...}} for grants, {"product": "meeting"} for
    -- welcome.
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    PRIMARY KEY (org_id, id)
);
-- The delivery queue spans organizations, so this one index does not lead with org_id: workers
-- take the oldest due notifications of every organization.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX notifications_user ON notifications (org_id, user_id);

-- Products a user has ever been welcomed to: the welcome mail goes out once per product.
CREATE TABLE user_welcomes (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    product    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, product),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);

CREATE TABLE audit_log (
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    request_id    text NOT NULL DEFAULT '',
    -- Who: the token and, for a token an admin issued, that admin.
    token_id      uuid,
    actor_user_id uuid,
    -- create | update | suspend | reactivate | delete | grants
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   uuid NOT NULL,
    -- Attribute-level changes {"attr": {"before": ..., "after": ...}}; secrets appear only as
    -- "(changed)".
    changes       jsonb NOT NULL DEFAULT '{}',
    -- The ids of other resources the changes name (a group's members, a manager), so that
    -- purging a user finds the records that name it without reading the whole log.
    mentions      uuid[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_log_mentions ON audit_log USING gin (org_id, mentions);
CREATE INDEX audit_log_at ON audit_log (org_id, at);
CREATE INDEX audit_log_resource ON audit_log (org_id, resource_id, at);
CREATE INDEX audit_log_actor ON audit_log (org_id, actor_user_id, at) WHERE actor_user_id IS NOT NULL;
