// Package schema holds the attribute definitions of scimd's resource types, loaded from the RFC
// 7643 schema documents in the top-level schemas folder, and the operations every layer needs on
// them: resolving attribute paths case-insensitively, normalising client documents, and projecting
// responses with attributes/excludedAttributes.
package schema

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// URNs of the schemas and messages scimd speaks.
const (
	UserURN           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaURN         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	ResourceTypeURN   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SPConfigURN       = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ListResponseURN   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorURN          = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// Attribute types, mutabilities and returned characteristics of RFC 7643 §2.
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeBinary    = "binary"
	TypeReference = "reference"
	TypeComplex   = "complex"

	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"
)

// Attribute is one attribute definition of a schema document.
type Attribute struct {
	Name            string       `json:"name"`
	Type            string       `json:"type"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description,omitempty"`
	Required        bool         `json:"required"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
	SubAttributes   []*Attribute `json:"subAttributes,omitempty"`
	// MaxBytes is the longest value of a string attribute in UTF-8 bytes, 0 for no limit
	// beyond the request size. It is scimd's, not the schema document's: see limits.
	MaxBytes int `json:"-"`
}

// Sub returns the sub-attribute called name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	return find(a.SubAttributes, name)
}

func find(attrs []*Attribute, name string) *Attribute {
	for _, s := range attrs {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// Schema is one schema document.
type Schema struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Attributes  []*Attribute `json:"attributes"`
}

// Attr returns the top-level attribute called name (case-insensitively), or nil.
func (s *Schema) Attr(name string) *Attribute {
	return find(s.Attributes, name)
}

// Common attributes (RFC 7643 §3.1) belong to every resource but to no schema document.
var (
	IDAttr = &Attribute{Name: "id", Type: TypeString, CaseExact: true, Mutability: ReadOnly,
		Returned: ReturnedAlways, Uniqueness: "server"}
	ExternalIDAttr = &Attribute{Name: "externalId", Type: TypeString, CaseExact: true,
		Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none", MaxBytes: MaxIndexedBytes}
	MetaAttr = &Attribute{Name: "meta", Type: TypeComplex, Mutability: ReadOnly,
		Returned: ReturnedDefault, Uniqueness: "none", SubAttributes: []*Attribute{
			{Name: "resourceType", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault},
			{Name: "created", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault},
			{Name: "lastModified", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault},
			{Name: "location", Type: TypeReference, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault},
			{Name: "version", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault},
		}}
	commonAttrs = []*Attribute{IDAttr, ExternalIDAttr, MetaAttr}
)

// MaxIndexedBytes is the longest value, in UTF-8 bytes, of an attribute that PostgreSQL keeps in
// a btree index. An index entry holds at most 2,704 bytes (after compression, which random text
// escapes) together with the organization id and, for user_values, the attribute name; a longer
// value fails the write inside PostgreSQL. The limit leaves room for lower(), which the indexes
// of userName, group displayName and user_values apply and which can make a string half as long
// again (U+023A "Ⱥ" is 2 bytes, its lower case "ⱥ" 3): 1,536 bytes at most.
const MaxIndexedBytes = 1024

// MaxCertificateBytes is the longest x509Certificates value: a base64 DER certificate is 1 to
// 3 KB in practice, and 16 KiB holds the largest seen in use (RSA 8192 with long extension
// lists). user_values' btree index leaves these values out (migrations/0010_certificates.sql).
const MaxCertificateBytes = 16 << 10

// limits are the attributes whose values PostgreSQL keeps in btree indexes (migrations/*.sql:
// users.user_name, external_id and manager_id, user_values.value, groups.display_name and
// external_id): each may be MaxIndexedBytes long; and x509Certificates, which is not in a
// btree but must be bounded all the same. externalId is a common attribute, limited in
// ExternalIDAttr. Load sets Attribute.MaxBytes from this table, so normalisation enforces the
// limits on every write path (POST, PUT, PATCH, Bulk).
var limits = []struct {
	schema, attr, sub string
	max               int
}{
	{UserURN, "userName", "", MaxIndexedBytes},
	{UserURN, "emails", "value", MaxIndexedBytes},
	{UserURN, "phoneNumbers", "value", MaxIndexedBytes},
	{UserURN, "ims", "value", MaxIndexedBytes},
	{UserURN, "photos", "value", MaxIndexedBytes},
	{UserURN, "roles", "value", MaxIndexedBytes},
	{UserURN, "entitlements", "value", MaxIndexedBytes},
	{UserURN, "x509Certificates", "value", MaxCertificateBytes},
	{EnterpriseUserURN, "manager", "value", MaxIndexedBytes},
	{GroupURN, "displayName", "", MaxIndexedBytes},
}

// ResourceType is a SCIM resource type: its core schema and its extensions.
type ResourceType struct {
	Name        string
	Endpoint    string
	Description string
	Schema      *Schema
	Extensions  []*Schema
}

// Extension returns the extension schema whose URN is urn (case-insensitively), or nil.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.ID, urn) {
			return e
		}
	}
	return nil
}

// Registry holds every schema document and the resource types built from them.
type Registry struct {
	Schemas []*Schema
	// Documents are the schema documents exactly as published, by schema id.
	Documents map[string]json.RawMessage
	User      *ResourceType
	Group     *ResourceType
}

// Load reads every *.json schema document in fsys and assembles the User and Group resource
// types. Extensions of User are every loaded schema whose id ends in ":User" other than the core.
func Load(fsys fs.FS) (*Registry, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	r := &Registry{Documents: map[string]json.RawMessage{}}
	byID := map[string]*Schema{}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var s Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("schema document %s: %w", name, err)
		}
		if s.ID == "" || len(s.Attributes) == 0 {
			return nil, fmt.Errorf("schema document %s: missing id or attributes", name)
		}
		if err := check(s.Attributes); err != nil {
			return nil, fmt.Errorf("schema document %s: %w", name, err)
		}
		r.Schemas = append(r.Schemas, &s)
		r.Documents[s.ID] = raw
		byID[s.ID] = &s
	}
	sort.Slice(r.Schemas, func(i, j int) bool { return r.Schemas[i].ID < r.Schemas[j].ID })
	user, group := byID[UserURN], byID[GroupURN]
	if user == nil || group == nil {
		return nil, fmt.Errorf("schema documents for %s and %s are required", UserURN, GroupURN)
	}
	for _, l := range limits {
		var a *Attribute
		if s := byID[l.schema]; s != nil {
			a = s.Attr(l.attr)
		}
		if a != nil && l.sub != "" {
			a = a.Sub(l.sub)
		}
		if a == nil {
			return nil, fmt.Errorf("length limit for %s:%s.%s: no such attribute", l.schema, l.attr, l.sub)
		}
		a.MaxBytes = l.max
	}
	r.User = &ResourceType{Name: "User", Endpoint: "/Users", Description: "User Account", Schema: user}
	r.Group = &ResourceType{Name: "Group", Endpoint: "/Groups", Description: "Group", Schema: group}
	for _, s := range r.Schemas {
		if s.ID != UserURN && strings.HasSuffix(s.ID, ":User") {
			r.User.Extensions = append(r.User.Extensions, s)
		}
	}
	return r, nil
}

func check(attrs []*Attribute) error {
	for _, a := range attrs {
		switch a.Type {
		case TypeString, TypeBoolean, TypeDecimal, TypeInteger, TypeDateTime, TypeBinary, TypeReference:
		case TypeComplex:
			if len(a.SubAttributes) == 0 {
				return fmt.Errorf("complex attribute %s has no sub-attributes", a.Name)
			}
			if err := check(a.SubAttributes); err != nil {
				return err
			}
		default:
			return fmt.Errorf("attribute %s has unknown type %q", a.Name, a.Type)
		}
		if a.Mutability == "" || a.Returned == "" {
			return fmt.Errorf("attribute %s lacks mutability or returned", a.Name)
		}
	}
	return nil
}
