// Package schemas holds the RFC 7643 schema documents that scimd serves at /Schemas. They are
// the single source of truth for attribute definitions: internal/schema loads them at start-up.
package schemas

import "embed"

// Files holds every schema document, one JSON file per schema.
//
//go:embed *.json
var Files embed.FS
