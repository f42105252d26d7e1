-- x509Certificates values are base64 DER certificates, commonly 1 to 3 KB: longer than a btree
-- index entry may be (2,704 bytes), so the limit of indexed values (1,024 bytes) refused real
-- certificates. The value index leaves them out; they are limited to 16 KiB instead
-- (schema.MaxCertificateBytes), and a filter on them uses the trigram index, which holds
-- values of any length. Every other attribute's filter names its attr as a literal, which
-- PostgreSQL proves to satisfy the index's predicate.
DROP INDEX user_values_value;
CREATE INDEX user_values_value ON user_values (org_id, attr, lower(value)) WHERE attr <> 'x509Certificates';
