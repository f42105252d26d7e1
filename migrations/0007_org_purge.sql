-- Deleting an organization purges it whole (orgs.Service.DeleteOrg): its endpoints go with it,
-- but the event announcing the purge must still reach them. A delivery therefore carries its
-- endpoint's URL and secret as they were when it was queued, and outlives the endpoint.
ALTER TABLE webhook_deliveries ADD COLUMN url text, ADD COLUMN secret text;
UPDATE webhook_deliveries d SET url = e.url, secret = e.secret
    FROM webhook_endpoints e WHERE e.org_id = d.org_id AND e.id = d.endpoint_id;
ALTER TABLE webhook_deliveries ALTER COLUMN url SET NOT NULL, ALTER COLUMN secret SET NOT NULL,
    DROP CONSTRAINT webhook_deliveries_org_id_endpoint_id_fkey;
-- Removing an endpoint removes its deliveries not made yet.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (org_id, endpoint_id) WHERE delivered_at IS NULL;

-- What remains of a deleted organization: its id, when, and who deleted it.
CREATE TABLE organization_tombstones (
    id         uuid PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    request_id text NOT NULL DEFAULT ''
);

-- Organizations are listed oldest first.
CREATE INDEX organizations_created ON organizations (created_at, id);
