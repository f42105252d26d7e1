package postgres

import "github.com/scimd/scimd/internal/directory"

// orgCache keeps organizations' settings (orgSettingsSQL) between transactions, with the
// version they were read at (migration 0012). A transaction that takes its settings from here
// does not read them: it sends org_settings_unchanged with its first statements instead, which
// aborts it if they changed since, whoever changed them and in whichever process; the store then
// forgets them and runs the change again on a fresh read (Store.attempt). So a cached copy can be
// stale, but a change never commits on settings that were not current when it ran, exactly as
// when every transaction read them. The settings are shared between transactions: the directory
// only reads them.
type orgCache = bounded[cachedOrg]

type cachedOrg struct {
	settings *directory.Org
	version  int64
}

// maxCachedOrgs bounds the cache; past it, an arbitrary entry makes room (a cache miss costs one
// read, folded into the transaction's first round trip).
const maxCachedOrgs = 10_000

func newOrgCache() *orgCache { return newBounded[cachedOrg](maxCachedOrgs) }
