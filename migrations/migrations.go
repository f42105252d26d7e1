// Package migrations holds scimd's database schema as numbered SQL files, applied in order by
// internal/postgres. A file, once released, is never edited: changes go in a new file.
package migrations

import "embed"

// Files holds every migration, named NNNN_description.sql.
//
//go:embed *.sql
var Files embed.FS
