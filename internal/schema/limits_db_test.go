package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
)

// The limits hold against the real indexes (migrations/*.sql): random values of MaxIndexedBytes
// go into every indexed column that holds a limited attribute, while random values well over
// the limit fail in PostgreSQL, which shows the limit is needed and the text does not compress.
func TestLimitsFitTheIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	org := uuid.NewString()
	_, err := pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'Limits')`, org)
	require.NoError(t, err)

	text := func() string { return randtext.String(schema.MaxIndexedBytes) }
	user := uuid.NewString()
	// sign_in holds userName or an email value, so it is within the same limit. (manager_id
	// is a uuid: the directory refuses a manager value that is not one.)
	_, err = pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name, external_id, sign_in) VALUES ($1, $2, $3, $4, $5)`,
		org, user, text(), text(), text())
	require.NoError(t, err)
	for i, attr := range []string{"emails", "phoneNumbers", "ims", "photos", "roles", "entitlements", "x509Certificates"} {
		_, err = pool.Exec(ctx, `INSERT INTO user_values (org_id, user_id, attr, pos, value) VALUES ($1, $2, $3, $4, $5)`,
			org, user, attr, i, text())
		require.NoError(t, err, attr)
	}
	// Certificates are longer, and left out of the btree index.
	_, err = pool.Exec(ctx, `INSERT INTO user_values (org_id, user_id, attr, pos, value) VALUES ($1, $2, 'x509Certificates', 9, $3)`,
		org, user, randtext.String(schema.MaxCertificateBytes))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO groups (org_id, id, display_name, external_id) VALUES ($1, $2, $3, $4)`,
		org, uuid.NewString(), text(), text())
	require.NoError(t, err)

	// 3 KB of random text is what broke writes before the limits.
	_, err = pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name) VALUES ($1, $2, $3)`,
		org, uuid.NewString(), randtext.String(3000))
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, "54000", pe.Code, "program_limit_exceeded: index row size")
}
