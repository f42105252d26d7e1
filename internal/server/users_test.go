package server_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func (e *env) base() string { return e.srv.URL + apiPrefix }

func version(doc map[string]any) string {
	v, _ := get(doc, "meta", "version").(string)
	return v
}

// msvUser is the Microsoft SCIM Validator's create body: string
// booleans inside roles, phone numbers of three types, an address, the full name, the whole
// enterprise extension with a manager, timezone, locale and userType.
func msvUser(userName, manager string) map[string]any {
	return map[string]any{
		"schemas":           []any{userURN, entURN},
		"userName":          userName,
		"active":            true,
		"displayName":       "Ebony Ruecker",
		"nickName":          "Ebby",
		"title":             "Engineer",
		"userType":          "Employee",
		"timezone":          "Europe/Paris",
		"locale":            "en-US",
		"preferredLanguage": "en-US",
		"profileUrl":        "https://profiles.example.com/ebony",
		"externalId":        "Ebony-ext-1",
		"name": map[string]any{
			"formatted": "Ms. Ebony J Ruecker III", "familyName": "Ruecker", "givenName": "Ebony",
			"middleName": "J", "honorificPrefix": "Ms.", "honorificSuffix": "III",
		},
		"emails": []any{
			map[string]any{"type": "work", "value": userName, "primary": true},
			map[string]any{"type": "home", "value": "ebony@home.example", "display": "Home"},
		},
		"phoneNumbers": []any{
			map[string]any{"type": "work", "value": "+1 555 0100", "primary": "True"},
			map[string]any{"type": "mobile", "value": "+1 555 0101"},
			map[string]any{"type": "fax", "value": "+1 555 0102"},
		},
		"addresses": []any{map[string]any{
			"type": "work", "formatted": "1 Main St\nSpringfield", "streetAddress": "1 Main St",
			"locality": "Springfield", "region": "IL", "postalCode": "62701", "country": "US", "primary": true,
		}},
		"roles": []any{map[string]any{"primary": "True", "display": "Admin", "value": "accountRole:admin", "type": "WindowsAzureActiveDirectoryRole"}},
		"ims":   []any{map[string]any{"type": "xmpp", "value": "ebony@im.example"}},
		entURN: map[string]any{
			"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
			"division": "Theme Park", "department": "Tour Operations",
			"manager": map[string]any{"value": manager},
		},
	}
}

func TestCreateUserFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgr := e.user("boss", nil)
	r := e.must(http.StatusCreated, http.MethodPost, "/Users", msvUser("ebony@example.com", mgr), nil)
	u := r.Body
	id, _ := u["id"].(string)
	require.Len(t, id, 36)

	require.Equal(t, e.base()+"/Users/"+id, r.Header.Get("Location"))
	require.Equal(t, `W/"1"`, r.Header.Get("ETag"))
	require.Equal(t, r.Header.Get("ETag"), version(u))
	require.Equal(t, "User", get(u, "meta", "resourceType"))
	require.Equal(t, r.Header.Get("Location"), get(u, "meta", "location"))
	require.NotEmpty(t, get(u, "meta", "created"))
	require.Subset(t, u["schemas"], []any{userURN, entURN})

	// The full resource comes back, string booleans coerced.
	require.Equal(t, "ebony@example.com", u["userName"])
	require.Equal(t, true, u["active"])
	require.Equal(t, "Europe/Paris", u["timezone"])
	require.Equal(t, "Ms.", get(u, "name", "honorificPrefix"))
	require.Equal(t, true, get(u, "phoneNumbers", 0, "primary"))
	require.Contains(t, u["roles"], map[string]any{"value": "accountRole:admin", "type": "accountRole"})
	require.Equal(t, "62701", get(u, "addresses", 0, "postalCode"))
	require.Equal(t, "Theme Park", get(u, entURN, "division"))
	require.Equal(t, mgr, get(u, entURN, "manager", "value"))
	require.Equal(t, e.base()+"/Users/"+mgr, get(u, entURN, "manager", "$ref"))

	// Stored state.
	row := e.row(id)
	require.Equal(t, "ebony@example.com", row["user_name"])
	require.Equal(t, "Ebony-ext-1", row["external_id"])
	require.Equal(t, true, row["active"])
	require.Equal(t, "J", row["middle_name"])
	require.Equal(t, "III", row["honorific_suffix"])
	require.Equal(t, "701984", row["employee_number"])
	require.Equal(t, "4130", row["cost_center"])
	require.Equal(t, mgr, row["manager_id"])
	require.Nil(t, row["password_hash"])
	require.EqualValues(t, 1, row["version"])
	require.Equal(t, []valueRow{
		{Attr: "emails", Pos: 0, Value: ptr("ebony@example.com"), Type: ptr("work"), Primary: true},
		{Attr: "emails", Pos: 1, Value: ptr("ebony@home.example"), Display: ptr("Home"), Type: ptr("home")},
		{Attr: "ims", Pos: 0, Value: ptr("ebony@im.example"), Type: ptr("xmpp")},
		{Attr: "phoneNumbers", Pos: 0, Value: ptr("+1 555 0100"), Type: ptr("work"), Primary: true},
		{Attr: "phoneNumbers", Pos: 1, Value: ptr("+1 555 0101"), Type: ptr("mobile")},
		{Attr: "phoneNumbers", Pos: 2, Value: ptr("+1 555 0102"), Type: ptr("fax")},
	}, e.values(id))
	require.Equal(t, []addressRow{{
		Pos: 0, Formatted: ptr("1 Main St\nSpringfield"), StreetAddress: ptr("1 Main St"), Locality: ptr("Springfield"),
		Region: ptr("IL"), PostalCode: ptr("62701"), Country: ptr("US"), Type: ptr("work"), Primary: true,
	}}, e.addresses(id))

	// A fresh GET returns exactly what the POST returned.
	g := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
	require.Equal(t, u, g.Body)
	require.Equal(t, r.Header.Get("ETag"), g.Header.Get("ETag"))
}

func TestCreateUserShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgr := e.user("manager", nil)
	cases := []struct {
		name  string
		body  map[string]any
		check func(t *testing.T, e *env, u map[string]any)
	}{{
		name: "string booleans (MS-PM)",
		body: map[string]any{"userName": "strbool@example.com", "active": "True",
			"emails": []any{map[string]any{"value": "strbool@example.com", "primary": "TRUE", "type": "work"}}},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.Equal(t, true, u["active"])
			require.Equal(t, true, get(u, "emails", 0, "primary"))
			require.Equal(t, true, e.row(u["id"].(string))["active"])
			require.True(t, e.values(u["id"].(string))[0].Primary)
		},
	}, {
		name: "string false",
		body: map[string]any{"userName": "strfalse@example.com", "active": "False"},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.Equal(t, false, u["active"])
			require.Equal(t, false, e.row(u["id"].(string))["active"])
		},
	}, {
		name: "active defaults to true",
		body: map[string]any{"userName": "noactive@example.com"},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.Equal(t, true, u["active"])
			require.Equal(t, true, e.row(u["id"].(string))["active"])
		},
	}, {
		name: "$ref null",
		body: map[string]any{"userName": "refnull@example.com",
			entURN: map[string]any{"manager": map[string]any{"value": mgr, "$ref": nil}}},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.Equal(t, mgr, get(u, entURN, "manager", "value"))
			require.Equal(t, mgr, e.row(u["id"].(string))["manager_id"])
		},
	}, {
		name: "client meta, id and unknown schema URIs are ignored",
		body: map[string]any{
			"schemas":             []any{userURN, entURN, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User", "urn:example:unknown"},
			"id":                  "client-chosen-id",
			"meta":                map[string]any{"resourceType": "User", "created": "2001-01-01T00:00:00Z", "version": `W/"99"`},
			"userName":            "clientmeta@example.com",
			"groups":              []any{map[string]any{"value": "g1"}},
			"unknownAttribute":    "x",
			"urn:example:unknown": map[string]any{"a": "b"},
		},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.NotEqual(t, "client-chosen-id", u["id"])
			require.Equal(t, `W/"1"`, version(u))
			require.NotEqual(t, "2001-01-01T00:00:00Z", get(u, "meta", "created"))
			require.Contains(t, u["schemas"], userURN)
			require.NotContains(t, u["schemas"], "urn:example:unknown")
			require.NotContains(t, u["schemas"], "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User")
			require.NotContains(t, u["schemas"], entURN, "the response carries no enterprise attributes")
			require.NotContains(t, u, "groups")
			require.NotContains(t, u, "unknownAttribute")
			require.NotContains(t, u, "urn:example:unknown")
		},
	}, {
		name: "Entra create body (E-doc)",
		body: map[string]any{
			"schemas":    []any{userURN, entURN},
			"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
			"userName":   "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@example.com",
			"active":     true,
			"emails":     []any{map[string]any{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@example.com"}},
			"meta":       map[string]any{"resourceType": "User"},
			"name":       map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
			"roles":      []any{},
			entURN:       map[string]any{"employeeNumber": "701984", "department": "Tour Operations", "manager": map[string]any{"value": mgr}},
		},
		check: func(t *testing.T, e *env, u map[string]any) {
			id := u["id"].(string)
			require.Equal(t, "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@example.com", u["userName"])
			require.Equal(t, "givenName familyName", get(u, "name", "formatted"))
			require.Equal(t, []any{ // roles: [] asks for nothing: the default roles
				map[string]any{"value": "orgRole:user", "type": "orgRole"},
				map[string]any{"value": "accountRole:member", "type": "accountRole"},
			}, u["roles"])
			require.Equal(t, "701984", get(u, entURN, "employeeNumber"))
			require.Equal(t, mgr, get(u, entURN, "manager", "value"))
			require.Subset(t, u["schemas"], []any{userURN, entURN})
			row := e.row(id)
			require.Equal(t, "Tour Operations", row["department"])
			require.Equal(t, mgr, row["manager_id"])
			require.Equal(t, "givenName familyName", row["name_formatted"])
			require.Equal(t, "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", row["external_id"])
			require.Equal(t, "user", row["org_role"])
		},
	}, {
		name: "URN-prefixed extension keys at the top level",
		body: map[string]any{"userName": "urnkeys@example.com", entURN + ":employeeNumber": "42", entURN + ":manager": mgr},
		check: func(t *testing.T, e *env, u map[string]any) {
			require.Equal(t, "42", get(u, entURN, "employeeNumber"))
			require.Equal(t, mgr, get(u, entURN, "manager", "value"))
			require.Equal(t, "42", e.row(u["id"].(string))["employee_number"])
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			u := e.createUser(c.body)
			c.check(t, e, u)
			g := e.must(http.StatusOK, http.MethodGet, "/Users/"+u["id"].(string), nil, nil)
			require.Equal(t, u, g.Body, "a fresh GET returns what the POST returned")
		})
	}
}

// Attribute names are case-insensitive, so a body naming one attribute twice in different cases
// is ambiguous; storing whichever key the decoder happened to visit last would be arbitrary.
func TestCreateUserAmbiguousKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, body := range []string{
		`{"userName":"amb0@example.com","displayName":"A","DisplayName":"B"}`,
		`{"userName":"amb1@example.com","name":{"givenName":"A","GIVENNAME":"B"}}`,
		`{"userName":"amb2@example.com","name.givenName":"A","name":{"givenName":"B"}}`,
	} {
		r := e.do(http.MethodPost, "/Users", body, nil)
		require.Equal(t, http.StatusBadRequest, r.Status, "body %d: %s", i, r.Raw)
		scimType, _ := r.Body["scimType"].(string)
		requireError(t, r, http.StatusBadRequest, scimType)
	}
	require.Zero(t, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))
}

func TestCreateUserDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user("Dup.User", nil)
	for _, name := range []string{"dup.user@example.com", "DUP.USER@EXAMPLE.COM", "Dup.User@example.com"} {
		r := e.do(http.MethodPost, "/Users", map[string]any{"schemas": []any{userURN}, "userName": name}, nil)
		requireError(t, r, http.StatusConflict, "uniqueness")
	}
	require.Equal(t, 1, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))
}

func TestCreateUserInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, body string
		scimType   string
	}{
		{"no userName", `{"schemas":["` + userURN + `"],"displayName":"x"}`, "invalidValue"},
		{"empty userName", `{"userName":"  "}`, "invalidValue"},
		{"boolean that is not", `{"userName":"b@example.com","active":"maybe"}`, "invalidValue"},
		{"object for a string", `{"userName":"o@example.com","displayName":{"a":1}}`, "invalidValue"},
		{"two primaries", `{"userName":"p@example.com","emails":[{"value":"a@example.com","primary":true},{"value":"b@example.com","primary":true}]}`, "invalidValue"},
		{"not JSON", `{"userName":`, "invalidSyntax"},
		{"a JSON array", `[{"userName":"a@example.com"}]`, "invalidSyntax"},
		{"trailing data", `{"userName":"t@example.com"} {}`, "invalidSyntax"},
		{"empty body", ``, "invalidSyntax"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			requireError(t, e.do(http.MethodPost, "/Users", c.body, hdr{"Content-Type": scimJSON}), http.StatusBadRequest, c.scimType)
		})
	}
	t.Cleanup(func() {
		require.Zero(t, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org), "nothing is stored")
	})
}

// oktaUser is Okta's create body (O-ref), on a verified domain.
func oktaUser(userName string) map[string]any {
	return map[string]any{
		"schemas":     []any{userURN},
		"userName":    userName,
		"name":        map[string]any{"givenName": "Test", "familyName": "User"},
		"emails":      []any{map[string]any{"primary": true, "value": userName, "type": "work"}},
		"displayName": "Test User",
		"locale":      "en-US",
		"externalId":  "00ujl29u0le5T6Aj10h7",
		"groups":      []any{},
		"password":    "1mz050nq",
		"active":      true,
	}
}

func TestCreateUserOktaPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(http.StatusCreated, http.MethodPost, "/Users", oktaUser("test.user@example.com"), nil)
	u := r.Body
	id := u["id"].(string)
	require.Equal(t, "Test User", u["displayName"])
	require.Equal(t, "en-US", u["locale"])
	require.Equal(t, "00ujl29u0le5T6Aj10h7", u["externalId"])
	require.Equal(t, "test.user@example.com", get(u, "emails", 0, "value"))

	hash, _ := e.row(id)["password_hash"].(string)
	require.True(t, strings.HasPrefix(hash, "$2"), "password_hash %q must be a bcrypt hash", hash)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("1mz050nq")))

	// Never returned, whatever is asked.
	for _, res := range []resp{
		r,
		e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil),
		e.must(http.StatusOK, http.MethodGet, "/Users/"+id+"?attributes=password,userName", nil, nil),
		e.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "test.user@example.com"`), nil, nil),
		e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "displayName", "T")), nil),
		e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "password", "n3wSecret!")), nil),
	} {
		require.NotContains(t, strings.ToLower(string(res.Raw)), "password", "%s", res.Raw)
		require.NotContains(t, string(res.Raw), "1mz050nq")
		require.NotContains(t, string(res.Raw), "n3wSecret!")
		require.NotContains(t, string(res.Raw), "$2a$")
	}
	hash2, _ := e.row(id)["password_hash"].(string)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash2), []byte("n3wSecret!")), "PATCH password changes it")
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("gina", map[string]any{"displayName": "Gina"})

	r := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
	require.Equal(t, id, r.Body["id"])
	require.Equal(t, "gina@example.com", r.Body["userName"])
	require.Equal(t, `W/"1"`, r.Header.Get("ETag"))

	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		for _, bad := range []string{
			"0190c2a8-0000-7000-8000-000000000000", // a uuid nobody has
			"00919288221112222",                    // Okta's spec test
			"010101001010101011001010101011",       // Okta's spec test
			"not-a-uuid", strings.ToUpper(id) + "0", "%27%3B--",
		} {
			requireError(t, e.do(http.MethodGet, "/Users/"+bad, nil, nil), http.StatusNotFound, "")
		}
	})
	t.Run("If-None-Match", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		for _, h := range []string{`W/"1"`, `"1"`, `*`, `W/"7", W/"1"`} {
			r := e.do(http.MethodGet, "/Users/"+id, nil, hdr{"If-None-Match": h})
			require.Equal(t, http.StatusNotModified, r.Status, h)
			require.Empty(t, r.Raw)
			require.Equal(t, `W/"1"`, r.Header.Get("ETag"))
		}
		r := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, hdr{"If-None-Match": `W/"2"`})
		require.Equal(t, id, r.Body["id"])
	})
}

func TestProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgr := e.user("proj.manager", nil)
	newUser := func(name string) string {
		return e.createUser(msvUser(name+"@example.com", mgr))["id"].(string)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		name, query string
		check       func(t *testing.T, u map[string]any)
	}{{
		name: "attributes=userName", query: "attributes=userName",
		check: func(t *testing.T, u map[string]any) {
			require.Equal(t, []string{"id", "schemas", "userName"}, keys(u))
		},
	}, {
		name: "attribute names are case-insensitive", query: "attributes=USERNAME,Name.GivenName",
		check: func(t *testing.T, u map[string]any) {
			require.Equal(t, []string{"id", "name", "schemas", "userName"}, keys(u))
			require.Equal(t, map[string]any{"givenName": "Ebony"}, u["name"])
		},
	}, {
		name: "sub-attribute of a multi-valued attribute", query: "attributes=emails.value",
		check: func(t *testing.T, u map[string]any) {
			require.Equal(t, []string{"emails", "id", "schemas"}, keys(u))
			for _, em := range u["emails"].([]any) {
				require.Equal(t, []string{"value"}, keys(em.(map[string]any)))
			}
		},
	}, {
		name: "extension attribute", query: "attributes=" + entURN + ":employeeNumber",
		check: func(t *testing.T, u map[string]any) {
			require.Equal(t, []string{"id", "schemas", entURN}, keys(u))
			require.Equal(t, map[string]any{"employeeNumber": "701984"}, u[entURN])
			require.ElementsMatch(t, []any{userURN, entURN}, u["schemas"])
		},
	}, {
		name: "excludedAttributes", query: "excludedAttributes=emails,name," + entURN,
		check: func(t *testing.T, u map[string]any) {
			require.NotContains(t, u, "emails")
			require.NotContains(t, u, "name")
			require.NotContains(t, u, entURN)
			require.NotContains(t, u["schemas"], entURN)
			require.Contains(t, u, "userName")
			require.Contains(t, u, "phoneNumbers")
			require.Contains(t, u, "meta")
		},
	}, {
		name: "id is always returned", query: "excludedAttributes=id,userName",
		check: func(t *testing.T, u map[string]any) {
			require.Contains(t, u, "id")
			require.NotContains(t, u, "userName")
		},
	}, {
		name: "excluded sub-attribute", query: "excludedAttributes=name.givenName",
		check: func(t *testing.T, u map[string]any) {
			require.NotContains(t, u["name"], "givenName")
			require.Contains(t, u["name"], "familyName")
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			name := strings.ToLower(strings.NewReplacer(" ", "", "=", "", ",", "", ":", "", ".", "").Replace(c.name))
			name = name[:min(len(name), 40)]
			id := newUser(name)
			full := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body

			c.check(t, e.must(http.StatusOK, http.MethodGet, "/Users/"+id+"?"+c.query, nil, nil).Body)

			list := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(`id eq "`+id+`"`)+"&"+c.query, nil, nil)
			require.Len(t, list.Body["Resources"], 1)
			c.check(t, get(list.Body, "Resources", 0).(map[string]any))

			body := msvUser(name+"-post@example.com", mgr)
			c.check(t, e.must(http.StatusCreated, http.MethodPost, "/Users?"+c.query, body, nil).Body)

			full["title"] = "Projected"
			c.check(t, e.must(http.StatusOK, http.MethodPut, "/Users/"+id+"?"+c.query, full, nil).Body)

			c.check(t, e.must(http.StatusOK, http.MethodPatch, "/Users/"+id+"?"+c.query,
				patchBody(op("replace", "title", "Patched")), nil).Body)
			require.Equal(t, "Patched", e.row(id)["title"], "the projection narrows the answer, not the write")
		})
	}
}

func TestReplaceUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("Okta GET then PUT", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.createUser(oktaUser("okta.put@example.com"))["id"].(string)
		hash := e.row(id)["password_hash"]
		u := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
		u["name"].(map[string]any)["middleName"] = "Q"
		u["displayName"] = "Renamed"
		u["groups"] = []any{}
		u["meta"] = map[string]any{"resourceType": "User"}
		r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, u, nil)
		require.Equal(t, id, r.Body["id"])
		require.Equal(t, "Q", get(r.Body, "name", "middleName"))
		require.Equal(t, "Renamed", r.Body["displayName"])
		require.Equal(t, `W/"2"`, version(r.Body))
		require.Equal(t, `W/"2"`, r.Header.Get("ETag"))
		row := e.row(id)
		require.Equal(t, "Q", row["middle_name"])
		require.Equal(t, "Renamed", row["display_name"])
		require.EqualValues(t, 2, row["version"])
		require.Equal(t, hash, row["password_hash"], "a password absent from a PUT is kept")
		g := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
		require.Equal(t, r.Body, g.Body)
	})

	t.Run("readOnly attributes are ignored", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		u := e.createUser(map[string]any{"userName": "ro.put@example.com"})
		id := u["id"].(string)
		created := get(u, "meta", "created")
		body := map[string]any{
			"schemas": []any{userURN}, "id": "11111111-1111-4111-8111-111111111111", "userName": "ro.put@example.com",
			"meta":   map[string]any{"created": "2001-01-01T00:00:00Z", "version": `W/"50"`},
			"groups": []any{map[string]any{"value": "g"}}, "title": "T",
		}
		r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, body, nil)
		require.Equal(t, id, r.Body["id"])
		require.Equal(t, created, get(r.Body, "meta", "created"))
		require.Equal(t, `W/"2"`, version(r.Body))
		require.NotContains(t, r.Body, "groups")
		require.Zero(t, e.count("SELECT count(*) FROM users WHERE id = '11111111-1111-4111-8111-111111111111'"))
	})

	t.Run("replaces: what is absent is removed", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.createUser(msvUser("replaced@example.com", ""))["id"].(string)
		r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id,
			map[string]any{"userName": "replaced@example.com", "emails": []any{map[string]any{"value": "replaced@example.com", "type": "other"}}}, nil)
		require.NotContains(t, r.Body, "phoneNumbers")
		require.NotContains(t, r.Body, "addresses")
		require.NotContains(t, r.Body, "name")
		require.NotContains(t, r.Body, entURN)
		row := e.row(id)
		require.Nil(t, row["title"])
		require.Nil(t, row["given_name"])
		require.Nil(t, row["employee_number"])
		require.Equal(t, []valueRow{{Attr: "emails", Value: ptr("replaced@example.com"), Type: ptr("other")}}, e.values(id))
		require.Empty(t, e.addresses(id))
	})

	t.Run("If-Match", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("ifmatch.put", map[string]any{"title": "Before"})
		before := e.snapshot(id)
		body := map[string]any{"userName": "ifmatch.put@example.com", "title": "After"}
		requireError(t, e.do(http.MethodPut, "/Users/"+id, body, hdr{"If-Match": `W/"7"`}), http.StatusPreconditionFailed, "")
		e.requireUnchanged(id, before)

		r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, body, hdr{"If-Match": `W/"1"`})
		require.Equal(t, `W/"2"`, version(r.Body))
		require.Equal(t, "After", e.row(id)["title"])
		r = e.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"userName": "ifmatch.put@example.com", "title": "Again"}, hdr{"If-Match": `W/"2"`})
		require.Equal(t, `W/"3"`, version(r.Body))
		requireError(t, e.do(http.MethodPut, "/Users/"+id, body, hdr{"If-Match": `W/"2"`}), http.StatusPreconditionFailed, "")
		require.Equal(t, "Again", e.row(id)["title"])
	})

	for _, withManager := range []bool{false, true} {
		name := "unchanged PUT keeps the version"
		if withManager {
			name += " (with manager)"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			extra := map[string]any{"title": "Same", "emails": []any{map[string]any{"value": "x@example.com", "type": "work", "primary": true}}}
			if withManager {
				extra[entURN] = map[string]any{"manager": map[string]any{"value": e.user("same.mgr", nil)}}
			}
			id := e.user("same.put."+map[bool]string{false: "a", true: "b"}[withManager], extra)
			before := e.snapshot(id)
			u := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
			r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, u, nil)
			require.Equal(t, `W/"1"`, version(r.Body))
			require.Equal(t, u, r.Body)
			e.requireUnchanged(id, before)
		})
	}

	t.Run("password", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("pw.put", map[string]any{"password": "first-Secret"})
		r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"userName": "pw.put@example.com", "password": "second-Secret"}, nil)
		require.NotContains(t, string(r.Raw), "second-Secret")
		require.NotContains(t, r.Body, "password")
		hash, _ := e.row(id)["password_hash"].(string)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("second-Secret")))
	})

	t.Run("userName taken in another case", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		e.user("taken.put", nil)
		id := e.user("taker.put", nil)
		before := e.snapshot(id)
		requireError(t, e.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "TAKEN.put@example.com"}, nil), http.StatusConflict, "uniqueness")
		e.requireUnchanged(id, before)
		// Changing only the case of one's own userName is no conflict.
		e.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"userName": "Taker.Put@example.com"}, nil)
		require.Equal(t, "Taker.Put@example.com", e.row(id)["user_name"])
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("err.put", map[string]any{"title": "Kept"})
		before := e.snapshot(id)
		requireError(t, e.do(http.MethodPut, "/Users/"+id, map[string]any{"title": "no userName"}, nil), http.StatusBadRequest, "invalidValue")
		requireError(t, e.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "err.put@example.com", "active": "maybe"}, nil), http.StatusBadRequest, "invalidValue")
		requireError(t, e.do(http.MethodPut, "/Users/"+id, `{"userName":`, nil), http.StatusBadRequest, "invalidSyntax")
		e.requireUnchanged(id, before)
		requireError(t, e.do(http.MethodPut, "/Users/0190c2a8-0000-7000-8000-000000000000", map[string]any{"userName": "n@example.com"}, nil), http.StatusNotFound, "")
		requireError(t, e.do(http.MethodPut, "/Users/nope", map[string]any{"userName": "n@example.com"}, nil), http.StatusNotFound, "")
	})
}

func TestPatchUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgr1 := e.user("patch.mgr1", nil)
	mgr2 := e.user("patch.mgr2", nil)
	// Every case patches a fresh user created from this base.
	base := func(name string) map[string]any {
		return map[string]any{
			"schemas":     []any{userURN, entURN},
			"userName":    name + "@example.com",
			"displayName": "Barbara Jensen",
			"title":       "Tour Guide",
			"active":      true,
			"name":        map[string]any{"formatted": "Ms. Barbara J Jensen", "givenName": "Barbara", "familyName": "Jensen"},
			"emails": []any{
				map[string]any{"value": name + "@example.com", "type": "work", "primary": true},
				map[string]any{"value": name + "@home.example", "type": "home"},
			},
			"phoneNumbers": []any{map[string]any{"value": "+1 555 0100", "type": "mobile"}},
			entURN:         map[string]any{"employeeNumber": "701984", "manager": map[string]any{"value": mgr1}},
		}
	}
	type check func(t *testing.T, e *env, id string, u map[string]any)
	cases := []struct {
		name string
		body any // a PatchOp object, or raw JSON text
		// noWork removes the work email from the base user.
		noWork bool
		check  check
	}{{
		name: "Entra disable with a string boolean",
		body: patchBody(op("Replace", "active", "False")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, false, u["active"])
			require.Equal(t, false, e.row(id)["active"])
		},
	}, {
		name: "Entra disable, current doc sample (Operations before schemas)",
		body: `{"Operations":[{"op":"Replace","path":"active","value":false}],"schemas":["` + patchURN + `"]}`,
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, false, e.row(id)["active"])
		},
	}, {
		name: "Entra single-valued Add",
		body: patchBody(op("Add", "nickName", "Babs")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, "Babs", u["nickName"])
			require.Equal(t, "Babs", e.row(id)["nick_name"])
		},
	}, {
		name: "Entra multi-attribute replace without the flag",
		body: patchBody(
			op("Replace", `emails[type eq "work"].value`, "new.work@example.com"),
			op("Replace", "name.givenName", "Barb"),
			op("Replace", "name.familyName", "Jansen"),
			op("Replace", "externalId", "ext-42"),
			op("Replace", entURN+":employeeNumber", "1234"),
		),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			row := e.row(id)
			require.Equal(t, "Barb", row["given_name"])
			require.Equal(t, "Jansen", row["family_name"])
			require.Equal(t, "Ms. Barbara J Jensen", row["name_formatted"], "other name parts stay")
			require.Equal(t, "ext-42", row["external_id"])
			require.Equal(t, "1234", row["employee_number"])
			require.Equal(t, mgr1, row["manager_id"], "other extension attributes stay")
			vals := e.values(id)
			require.Equal(t, "new.work@example.com", str(vals[0].Value))
			require.Equal(t, "work", str(vals[0].Type))
			require.True(t, vals[0].Primary)
			require.Equal(t, "home", str(vals[1].Type), "the home email is untouched")
		},
	}, {
		name:   "filtered add creates the work email it names (what Entra sends for a new value)",
		noWork: true,
		body:   patchBody(op("Add", `emails[type eq "work"].value`, "created.work@example.com")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			var works []string
			for _, v := range e.values(id) {
				if v.Attr == "emails" && str(v.Type) == "work" {
					works = append(works, str(v.Value))
				}
			}
			require.Equal(t, []string{"created.work@example.com"}, works)
		},
	}, {
		name: "Entra path-less replace with dotted and URN keys (aadOptscim062020)",
		body: patchBody(op("replace", "", map[string]any{
			"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua", entURN + ":employeeNumber": "Aklq",
		})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			row := e.row(id)
			require.Equal(t, "Bjfe", row["display_name"])
			require.Equal(t, "Kkom", row["given_name"])
			require.Equal(t, "Unua", row["family_name"])
			require.Equal(t, "Ms. Barbara J Jensen", row["name_formatted"])
			require.Equal(t, "Aklq", row["employee_number"])
			require.Equal(t, mgr1, row["manager_id"])
			require.NotContains(t, u, "name.givenName")
		},
	}, {
		name: "manager set (MSV)",
		body: patchBody(op("replace", entURN+":manager", map[string]any{"value": mgr2})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, mgr2, e.row(id)["manager_id"])
			require.Equal(t, mgr2, get(u, entURN, "manager", "value"))
			require.Equal(t, e.base()+"/Users/"+mgr2, get(u, entURN, "manager", "$ref"))
		},
	}, {
		name: "manager set by sub-attribute path",
		body: patchBody(op("replace", entURN+":manager.value", mgr2)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, mgr2, e.row(id)["manager_id"])
		},
	}, {
		name: "manager cleared with an empty value (MSV Remove Manager)",
		body: patchBody(op("replace", entURN+":manager", map[string]any{"value": ""})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			row := e.row(id)
			require.Nil(t, row["manager_id"])
			require.Equal(t, "701984", row["employee_number"])
			require.Nil(t, get(u, entURN, "manager"))
		},
	}, {
		name: "manager added as a bare id string",
		body: patchBody(op("Add", entURN+":manager", mgr2)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, mgr2, e.row(id)["manager_id"])
		},
	}, {
		name: "manager removed",
		body: patchBody(op("remove", entURN+":manager", nil)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Nil(t, e.row(id)["manager_id"])
		},
	}, {
		name: "Okta path-less deactivate",
		body: patchBody(op("replace", "", map[string]any{"active": false})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, false, e.row(id)["active"])
			require.Equal(t, false, u["active"])
		},
	}, {
		name: "path-less value echoing id and schemas",
		body: patchBody(op("replace", "", map[string]any{"id": "someone-else", "schemas": []any{userURN}, "active": "False", "title": "Echo"})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, id, u["id"])
			row := e.row(id)
			require.Equal(t, false, row["active"])
			require.Equal(t, "Echo", row["title"])
		},
	}, {
		name: "path-less value with an extension object",
		body: patchBody(op("add", "", map[string]any{entURN: map[string]any{"department": "Ops", "costCenter": "7"}})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			row := e.row(id)
			require.Equal(t, "Ops", row["department"])
			require.Equal(t, "7", row["cost_center"])
			require.Equal(t, "701984", row["employee_number"])
		},
	}, {
		name: "add a sub-attribute",
		body: patchBody(op("add", "name.middleName", "Jane")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, "Jane", e.row(id)["middle_name"])
			require.Equal(t, "Barbara", e.row(id)["given_name"])
		},
	}, {
		name: "remove a sub-attribute",
		body: patchBody(op("remove", "name.givenName", nil)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Nil(t, e.row(id)["given_name"])
			require.Equal(t, "Jensen", e.row(id)["family_name"])
		},
	}, {
		name: "add to a multi-valued attribute appends",
		body: patchBody(op("add", "emails", []any{map[string]any{"value": "third@example.com", "type": "other"}})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			vals := e.values(id)
			var emails []string
			for _, v := range vals {
				if v.Attr == "emails" {
					emails = append(emails, str(v.Value))
				}
			}
			require.Len(t, emails, 3)
			require.Equal(t, "third@example.com", emails[2])
		},
	}, {
		name: "add a primary moves primary",
		body: patchBody(op("add", "emails", map[string]any{"value": "new.primary@example.com", "type": "other", "primary": "True"})),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			var primaries []string
			for _, v := range e.values(id) {
				if v.Attr == "emails" && v.Primary {
					primaries = append(primaries, str(v.Value))
				}
			}
			require.Equal(t, []string{"new.primary@example.com"}, primaries)
		},
	}, {
		name: "replace a sub-attribute through a value filter",
		body: patchBody(op("replace", `phoneNumbers[type eq "mobile"].value`, "+1 555 0199")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			for _, v := range e.values(id) {
				if v.Attr == "phoneNumbers" {
					require.Equal(t, "+1 555 0199", str(v.Value))
				}
			}
		},
	}, {
		name: "value filter with and",
		body: patchBody(op("replace", `emails[type eq "home" and value co "@home.example"].display`, "Home")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			vals := e.values(id)
			require.Nil(t, vals[0].Display)
			require.Equal(t, "Home", str(vals[1].Display))
		},
	}, {
		name: "remove elements matching a filter",
		body: patchBody(op("remove", `emails[type eq "home"]`, nil)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, 1, e.count(`SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'emails'`, id))
			require.Len(t, u["emails"], 1)
		},
	}, {
		name: "remove a whole multi-valued attribute",
		body: patchBody(op("remove", "phoneNumbers", nil)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Zero(t, e.count(`SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'phoneNumbers'`, id))
			require.Equal(t, 2, e.count(`SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'emails'`, id))
		},
	}, {
		name: "remove a singular attribute",
		body: patchBody(op("Remove", "title", nil)),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Nil(t, e.row(id)["title"])
			require.NotContains(t, u, "title")
		},
	}, {
		name: "several ops on the same attribute apply in order",
		body: patchBody(
			op("add", "emails", []any{map[string]any{"value": "tmp@example.com", "type": "other"}}),
			op("remove", `emails[value eq "tmp@example.com"]`, nil),
			op("replace", "displayName", "One"),
			op("replace", "displayName", "Two"),
		),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, "Two", e.row(id)["display_name"])
			require.Equal(t, 2, e.count(`SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'emails'`, id))
		},
	}, {
		name: "attribute names and the op are case-insensitive",
		body: patchBody(op("REPLACE", "DisplayName", "Cased"), op("rePlace", "NAME.GIVENNAME", "G")),
		check: func(t *testing.T, e *env, id string, u map[string]any) {
			require.Equal(t, "Cased", e.row(id)["display_name"])
			require.Equal(t, "G", e.row(id)["given_name"])
		},
	}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			b := base("patch" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
			if c.noWork {
				b["emails"] = b["emails"].([]any)[1:]
			}
			id := e.createUser(b)["id"].(string)
			r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, c.body, nil)
			require.Equal(t, id, r.Body["id"])
			require.Equal(t, `W/"2"`, version(r.Body), "a PATCH that changes something bumps the version")
			require.Equal(t, version(r.Body), r.Header.Get("ETag"))
			require.EqualValues(t, 2, e.row(id)["version"])
			c.check(t, e, id, r.Body)
			g := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
			require.Equal(t, r.Body, g.Body, "the PATCH answer is what a fresh GET returns")
		})
	}

	t.Run("reactivate", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("patch.react", map[string]any{"active": false})
		e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "", map[string]any{"active": true})), nil)
		require.Equal(t, true, e.row(id)["active"])
	})

	t.Run("changes nothing", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.createUser(base("patch.nothing"))["id"].(string)
		before := e.snapshot(id)
		for _, body := range []any{
			patchBody(op("remove", `emails[value ew "@nomatch.example"]`, nil)),
			patchBody(op("remove", "nickName", nil)),
			patchBody(op("replace", "title", "Tour Guide")),
			patchBody(op("add", "emails", map[string]any{"value": "patch.nothing@example.com", "type": "work"})),
		} {
			r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, body, nil)
			require.Equal(t, `W/"1"`, version(r.Body))
			e.requireUnchanged(id, before)
		}
	})

	t.Run("errors change nothing", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.createUser(base("patch.errors"))["id"].(string)
		before := e.snapshot(id)
		cases := []struct {
			name     string
			body     any
			status   int
			scimType string
		}{
			{"unknown attribute", patchBody(op("replace", "nosuch", "x")), 400, "invalidPath"},
			{"unknown sub-attribute", patchBody(op("replace", "name.nosuch", "x")), 400, "invalidPath"},
			{"unknown schema", patchBody(op("replace", "urn:example:nope:attr", "x")), 400, "invalidPath"},
			{"malformed value filter", patchBody(op("replace", `emails[type eq].value`, "x")), 400, "invalidPath"},
			{"unclosed value filter", patchBody(op("remove", `emails[type eq "work"`, nil)), 400, "invalidPath"},
			{"filter on a singular attribute", patchBody(op("replace", `title[value eq "x"]`, "x")), 400, "invalidPath"},
			{"readOnly id", patchBody(op("replace", "id", "11111111-1111-4111-8111-111111111111")), 400, "mutability"},
			{"readOnly meta", patchBody(op("replace", "meta.created", "2001-01-01T00:00:00Z")), 400, "mutability"},
			{"readOnly groups", patchBody(op("add", "groups", []any{map[string]any{"value": "g"}})), 400, "mutability"},
			{"not a boolean", patchBody(op("replace", "active", "maybe")), 400, "invalidValue"},
			{"object for a string", patchBody(op("replace", "displayName", map[string]any{"a": "b"})), 400, "invalidValue"},
			{"path-less value not an object", patchBody(op("replace", "", "x")), 400, "invalidValue"},
			{"add without value", patchBody(op("add", "title", nil)), 400, "invalidValue"},
			{"remove the required userName", patchBody(op("remove", "userName", nil)), 400, "invalidValue"},
			{"remove without path", patchBody(op("remove", "", nil)), 400, "noTarget"},
			{"second op fails, first is not applied", patchBody(op("replace", "title", "Changed"), op("replace", "nosuch", "x")), 400, "invalidPath"},
			{"not JSON", `{"schemas":`, 400, "invalidSyntax"},
			{"not an object", `[]`, 400, "invalidSyntax"},
			{"no schemas", `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 400, "invalidSyntax"},
			{"wrong schemas", `{"schemas":["` + userURN + `"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 400, "invalidSyntax"},
			{"no operations", `{"schemas":["` + patchURN + `"],"Operations":[]}`, 400, "invalidSyntax"},
			{"unknown op", patchBody(op("frobnicate", "title", "x")), 400, "invalidSyntax"},
			{"empty body", ``, 400, "invalidSyntax"},
			{"stale If-Match", patchBody(op("replace", "title", "x")), 412, ""},
			{"replace through a filter that matches nothing", patchBody(op("Replace", `emails[type eq "other"].value`, "x@example.com")), 400, "noTarget"},
		}
		for _, c := range cases {
			h := hdr{"Content-Type": scimJSON}
			if c.status == 412 {
				h["If-Match"] = `W/"9"`
			}
			r := e.do(http.MethodPatch, "/Users/"+id, c.body, h)
			requireError(t, r, c.status, c.scimType)
			e.requireUnchanged(id, before)
		}
		requireError(t, e.do(http.MethodPatch, "/Users/0190c2a8-0000-7000-8000-000000000000", patchBody(op("replace", "title", "x")), nil), 404, "")
		requireError(t, e.do(http.MethodPatch, "/Users/nope", patchBody(op("replace", "title", "x")), nil), 404, "")
	})

	t.Run("If-Match current", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("patch.ifmatch", nil)
		r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "title", "A")), hdr{"If-Match": `W/"1"`})
		require.Equal(t, `W/"2"`, r.Header.Get("ETag"))
		e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "title", "B")), hdr{"If-Match": `*`})
		require.EqualValues(t, 3, e.row(id)["version"])
	})
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("hard delete", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.createUser(msvUser("gone@example.com", ""))["id"].(string)
		require.NotEmpty(t, e.values(id))
		require.NotEmpty(t, e.addresses(id))

		r := e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil, nil)
		require.Empty(t, r.Raw)
		requireError(t, e.do(http.MethodGet, "/Users/"+id, nil, nil), http.StatusNotFound, "")
		requireError(t, e.do(http.MethodDelete, "/Users/"+id, nil, nil), http.StatusNotFound, "")
		requireError(t, e.do(http.MethodPatch, "/Users/"+id, patchBody(op("replace", "title", "x")), nil), http.StatusNotFound, "")
		require.Nil(t, e.row(id))
		require.Empty(t, e.values(id))
		require.Empty(t, e.addresses(id))
		list := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "gone@example.com"`), nil, nil)
		require.EqualValues(t, 0, list.Body["totalResults"])

		// The userName is free at once.
		again := e.createUser(map[string]any{"userName": "GONE@example.com"})
		require.NotEqual(t, id, again["id"])
	})

	t.Run("If-Match", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		id := e.user("del.ifmatch", nil)
		before := e.snapshot(id)
		requireError(t, e.do(http.MethodDelete, "/Users/"+id, nil, hdr{"If-Match": `W/"2"`}), http.StatusPreconditionFailed, "")
		e.requireUnchanged(id, before)
		e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
		e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil, hdr{"If-Match": `W/"1"`})
		require.Nil(t, e.row(id))
	})

	t.Run("unknown ids", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		for _, bad := range []string{"0190c2a8-0000-7000-8000-000000000000", "nope", "00919288221112222"} {
			requireError(t, e.do(http.MethodDelete, "/Users/"+bad, nil, nil), http.StatusNotFound, "")
		}
	})
}

// listEnv is an organization with four users whose attributes every filter, sort and paging
// case below is written against.
type listEnv struct {
	*env
	id      map[string]string // name → id
	created map[string]string // name → meta.created
}

func newListEnv(t *testing.T) *listEnv {
	e := newEnv(t)
	l := &listEnv{env: e, id: map[string]string{}, created: map[string]string{}}
	// bob and carol have addresses on a second verified domain.
	e.verifiedDomain("x.example")
	add := func(name string, body map[string]any) {
		u := e.createUser(body)
		l.id[name] = u["id"].(string)
		l.created[name] = get(u, "meta", "created").(string)
	}
	email := func(v, typ string, primary bool) map[string]any {
		m := map[string]any{"value": v, "type": typ}
		if primary {
			m["primary"] = true
		}
		return m
	}
	add("alice", map[string]any{
		"userName": "alice@example.com", "externalId": "ext-Alice", "displayName": "Alice Smith", "title": "Engineer",
		"name":   map[string]any{"givenName": "Alice", "familyName": "Smith"},
		"emails": []any{email("0alice@home.example", "home", false), email("alice@example.com", "work", true)},
		entURN:   map[string]any{"employeeNumber": "100", "department": "R&D", "costCenter": "CC1"},
	})
	add("bob", map[string]any{
		"userName": "bob@example.com", "externalId": "jyoung", "displayName": "Bob Young", "title": "Manager", "active": false,
		"name":   map[string]any{"givenName": "Bob", "familyName": "Young"},
		"emails": []any{email("bob@x.example", "work", false)},
		entURN:   map[string]any{"employeeNumber": "200", "department": "Sales"},
	})
	add("carol", map[string]any{
		"userName": "carol@example.com", "displayName": "Carol",
		"emails": []any{email("a.carol@x.example", "home", false)},
		entURN:   map[string]any{"employeeNumber": "300"},
	})
	add("dave", map[string]any{
		"userName": "Dave.Upper@Example.com", "externalId": "EXT-dave", "title": "engineer lead", "nickName": "D_100%",
		"emails": []any{email("dave@example.com", "work", true)},
		entURN:   map[string]any{"manager": map[string]any{"value": l.id["alice"]}},
	})
	return l
}

// names maps ids back to names.
func (l *listEnv) names(ids []string) []string {
	out := []string{}
	for _, id := range ids {
		for n, x := range l.id {
			if x == id {
				out = append(out, n)
			}
		}
	}
	return out
}

func (l *listEnv) list(query string) resp {
	l.t.Helper()
	return l.do(http.MethodGet, "/Users?"+query, nil, nil)
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	l := newListEnv(t)
	all := []string{"alice", "bob", "carol", "dave"}
	cases := []struct {
		filter string
		want   []string
	}{
		// eq, case-insensitivity of values, names and operators
		{`userName eq "alice@example.com"`, []string{"alice"}},
		{`userName eq "ALICE@Example.COM"`, []string{"alice"}},
		{`USERNAME EQ "alice@example.com"`, []string{"alice"}},
		{`userName eq "dave.upper@example.com"`, []string{"dave"}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com"`, []string{"bob"}},
		{`userName eq "nobody@example.com"`, nil},
		{`displayName eq "Alice Smith"`, []string{"alice"}},
		// ne co sw ew pr
		{`userName ne "alice@example.com"`, []string{"bob", "carol", "dave"}},
		{`title ne "Engineer"`, []string{"bob", "carol", "dave"}},
		{`userName co "ROL"`, []string{"carol"}},
		{`userName sw "b"`, []string{"bob"}},
		{`userName ew "@EXAMPLE.com"`, all},
		{`nickName co "_100%"`, []string{"dave"}},
		{`nickName co "%"`, []string{"dave"}},
		{`userName co "%"`, nil},
		{`userName co "_"`, nil},
		{`title pr`, []string{"alice", "bob", "dave"}},
		{`externalId pr`, []string{"alice", "bob", "dave"}},
		// gt ge lt le on strings
		{`title gt "f"`, []string{"bob"}},
		{`title ge "manager"`, []string{"bob"}},
		{`title lt "f"`, []string{"alice", "dave"}},
		{`title le "engineer"`, []string{"alice"}},
		// booleans
		{`active eq false`, []string{"bob"}},
		{`active eq False`, []string{"bob"}},
		{`active eq "false"`, []string{"bob"}},
		{`active eq true`, []string{"alice", "carol", "dave"}},
		{`active ne true`, []string{"bob"}},
		{`active pr`, all},
		// dateTime
		{`meta.created gt "` + l.created["alice"] + `"`, []string{"bob", "carol", "dave"}},
		{`meta.created ge "` + l.created["bob"] + `"`, []string{"bob", "carol", "dave"}},
		{`meta.created lt "` + l.created["bob"] + `"`, []string{"alice"}},
		{`meta.created le "` + l.created["alice"] + `"`, []string{"alice"}},
		{`meta.created eq "` + l.created["carol"] + `"`, []string{"carol"}},
		{`meta.Created gt "2000-01-01T00:00:00Z"`, all},
		{`meta.lastModified lt "2000-01-01T00:00:00Z"`, nil},
		{`meta.lastModified ge "` + l.created["dave"] + `"`, []string{"dave"}},
		// id and externalId (caseExact)
		{`id eq "` + l.id["bob"] + `"`, []string{"bob"}},
		{`id eq "` + strings.ToUpper(l.id["bob"]) + `"`, []string{"bob"}},
		{`id ne "` + l.id["bob"] + `"`, []string{"alice", "carol", "dave"}},
		{`id eq "not-a-uuid"`, nil},
		{`externalId eq "ext-Alice"`, []string{"alice"}},
		{`externalId eq "EXT-ALICE"`, nil},
		{`externalId co "dave"`, []string{"dave"}},
		{`externalId co "DAVE"`, nil},
		{`externalId eq jyoung`, []string{"bob"}},
		// enterprise extension
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "200"`, []string{"bob"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department sw "r&"`, []string{"alice"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber gt "150"`, []string{"bob", "carol"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr`, []string{"alice"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "` + l.id["alice"] + `"`, []string{"dave"}},
		{`employeeNumber eq 100`, []string{"alice"}},
		// multi-valued attributes and value paths
		{`emails.value eq "0alice@home.example"`, []string{"alice"}},
		{`emails eq "BOB@x.example"`, []string{"bob"}},
		{`emails co "x.example"`, []string{"bob", "carol"}},
		{`emails.type eq "work"`, []string{"alice", "bob", "dave"}},
		{`emails.primary eq true`, []string{"alice", "dave"}},
		{`emails pr`, all},
		{`phoneNumbers pr`, nil},
		{`emails[type eq "work" and value co "@x"]`, []string{"bob"}},
		{`emails[type eq "home"]`, []string{"alice", "carol"}},
		{`emails[type eq "home" or primary eq true]`, []string{"alice", "carol", "dave"}},
		{`emails[not (type eq "work")]`, []string{"alice", "carol"}},
		{`emails[not (display eq "Home")]`, []string{"alice", "bob", "carol", "dave"}},
		{`emails[type eq "work"].value eq "dave@example.com"`, []string{"dave"}},
		{`emails[type eq "work"].value eq "0alice@home.example"`, nil},
		{`name.familyName eq "smith"`, []string{"alice"}},
		{`name.FamilyName eq Smith and (emails.Value co example.com or emails.Value co example.org)`, []string{"alice"}},
		// and, or, not, parentheses
		{`title pr and active eq true`, []string{"alice", "dave"}},
		{`userName sw "a" or userName sw "b"`, []string{"alice", "bob"}},
		{`(userName sw "a" or userName sw "b") and active eq true`, []string{"alice"}},
		{`userName sw "a" or userName sw "b" and active eq true`, []string{"alice"}},
		{`not (userName sw "a")`, []string{"bob", "carol", "dave"}},
		{`not (title pr)`, []string{"carol"}},
		{`not (title eq "Engineer")`, []string{"bob", "carol", "dave"}},
		{`not (externalId eq "jyoung")`, []string{"alice", "carol", "dave"}},
		{`not (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales")`, []string{"alice", "carol", "dave"}},
		{`not (not (active eq false))`, []string{"bob"}},
		{`((((userName eq "carol@example.com"))))`, []string{"carol"}},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			t.Parallel()
			l := &listEnv{env: l.env.with(t), id: l.id, created: l.created}
			r := l.list("filter=" + url.QueryEscape(c.filter))
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			want := c.want
			if want == nil {
				want = []string{}
			}
			require.ElementsMatch(t, want, l.names(ids(r)))
			require.EqualValues(t, len(want), r.Body["totalResults"])
			require.EqualValues(t, len(want), r.Body["itemsPerPage"])
			require.Equal(t, []any{listURN}, r.Body["schemas"])
			require.NotNil(t, r.Body["Resources"], "Resources is [] when nothing matches")
		})
	}
}

// Case-insensitive userName, beyond ASCII: uniqueness and filters agree.
func TestUserNameCaseFolding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("Jürgen.Öst", map[string]any{"displayName": "François"})
	requireError(t, e.do(http.MethodPost, "/Users", map[string]any{"userName": "JÜRGEN.ÖST@EXAMPLE.COM"}, nil), http.StatusConflict, "uniqueness")
	quoted := e.user("quoted", map[string]any{"displayName": `Say "hi" \ now`})
	r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(`displayName eq "say \"HI\" \\ now"`), nil, nil)
	require.Equal(t, []string{quoted}, ids(r), "escaped quotes and backslashes in filter strings")
	for _, f := range []string{
		`userName eq "jürgen.öst@example.com"`, `userName eq "JÜRGEN.ÖST@example.com"`, `userName sw "JÜR"`,
		`displayName co "ÇOIS"`, `displayName eq "FRANÇOIS"`,
	} {
		r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(f), nil, nil)
		require.Equal(t, []string{id}, ids(r), f)
	}
}

// A new resource has never been modified, so lastModified is created (RFC 7643 §3.1). Many
// users are created because the two timestamps differ only now and then.
func TestCreatedIsLastModified(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 40 {
		u := e.createUser(map[string]any{"userName": "fresh" + strconv.Itoa(i) + "@example.com"})
		require.Equal(t, get(u, "meta", "created"), get(u, "meta", "lastModified"), "user %d", i)
		row := e.row(u["id"].(string))
		require.Equal(t, row["created_at"], row["last_modified"], "user %d", i)
	}
}

// Concurrent writes to one user are serialised: none is lost and versions count every change.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("busy", nil)
	const n = 8
	var wg sync.WaitGroup
	answers := make(chan answer, 2*n)
	for i := range n {
		wg.Go(func() {
			answers <- answerOf(e.send(http.MethodPatch, "/Users/"+id, patchBody(op("add", "phoneNumbers",
				[]any{map[string]any{"value": "+1 555 01" + strconv.Itoa(10+i), "type": "work"}})), nil))
		})
	}
	// Creating the same userName in several cases at once: exactly one wins, the rest conflict.
	for i := range n {
		wg.Go(func() {
			name := "Race@Example.com"
			if i%2 == 0 {
				name = strings.ToLower(name)
			}
			answers <- answerOf(e.send(http.MethodPost, "/Users", map[string]any{"userName": name}, nil))
		})
	}
	wg.Wait()
	close(answers)
	counts := map[int]int{}
	for a := range answers {
		require.NoError(t, a.err)
		counts[a.status]++
	}
	require.Equal(t, map[int]int{http.StatusOK: n, http.StatusCreated: 1, http.StatusConflict: n - 1}, counts)
	assert.Equal(t, n, e.count(`SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'phoneNumbers'`, id),
		"every concurrent PATCH's phone number is stored")
	require.EqualValues(t, n+1, e.row(id)["version"])

	// Two PUTs based on the same version: one wins, the other gets 412.
	results := make(chan answer, 2)
	for _, title := range []string{"A", "B"} {
		wg.Go(func() {
			results <- answerOf(e.send(http.MethodPut, "/Users/"+id, map[string]any{"userName": "busy@example.com", "title": title},
				hdr{"If-Match": `W/"` + strconv.Itoa(n+1) + `"`}))
		})
	}
	wg.Wait()
	close(results)
	var got []int
	for a := range results {
		require.NoError(t, a.err)
		got = append(got, a.status)
	}
	sort.Ints(got)
	require.Equal(t, []int{http.StatusOK, http.StatusPreconditionFailed}, got)
}

// answer is the status of a request sent from another goroutine, or why there is none.
type answer struct {
	status int
	err    error
}

func answerOf(r resp, err error) answer { return answer{r.Status, err} }

func TestListFilterErrors(t *testing.T) {
	t.Parallel()
	l := newListEnv(t)
	for _, f := range []string{
		`nosuch eq "x"`,
		`name.nosuch eq "x"`,
		`urn:example:unknown:2.0:User:attr eq "x"`,
		`userName eq`,
		`userName`,
		`userName xx "a"`,
		`userName eq "a" extra`,
		`(userName eq "a"`,
		`userName eq "a")`,
		`userName eq "a" and`,
		`and userName eq "a"`,
		`not userName eq "a"`,
		`emails[type eq "work"`,
		`emails[type eq "work"]]`,
		`emails[nosuch eq "x"]`,
		`title[value eq "x"]`,
		`userName eq "unterminated`,
		`active gt true`,
		`active eq "maybe"`,
		`userName eq true`,
		`meta.created gt "yesterday"`,
		`meta.created co "2020"`,
		`userName eq null`,
		`name eq "x"`,
		`password eq "x"`,
		`emails[type eq "work"].nosuch eq "x"`,
		strings.Repeat("(", 60) + `userName eq "a"` + strings.Repeat(")", 60),
		`userName eq "` + strings.Repeat("a", 5000) + `"`,
	} {
		t.Run(f[:min(len(f), 60)], func(t *testing.T) {
			t.Parallel()
			e := l.env.with(t)
			requireError(t, e.do(http.MethodGet, "/Users?filter="+url.QueryEscape(f), nil, nil), http.StatusBadRequest, "invalidFilter")
		})
	}
}

func TestListSort(t *testing.T) {
	t.Parallel()
	l := newListEnv(t)
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"alice", "bob", "carol", "dave"}}, // creation order
		{"sortBy=userName", []string{"alice", "bob", "carol", "dave"}},
		{"sortBy=userName&sortOrder=descending", []string{"dave", "carol", "bob", "alice"}},
		{"SORTBY=USERNAME&SortOrder=Descending", []string{"dave", "carol", "bob", "alice"}},
		{"sortBy=title", []string{"alice", "dave", "bob", "carol"}}, // unassigned last
		{"sortBy=meta.created&sortOrder=descending", []string{"dave", "carol", "bob", "alice"}},
		{"sortBy=meta.lastModified", []string{"alice", "bob", "carol", "dave"}},
		{"sortBy=" + entURN + ":employeeNumber", []string{"alice", "bob", "carol", "dave"}},
		{"sortBy=name.givenName", []string{"alice", "bob", "carol", "dave"}},
		{"sortBy=externalId", []string{"dave", "alice", "bob", "carol"}}, // caseExact: "EXT-dave" < "ext-Alice"
		// A multi-valued attribute sorts by its primary, else first, value.
		{"sortBy=emails", []string{"carol", "alice", "bob", "dave"}},
		{"sortBy=emails.value&sortOrder=descending", []string{"dave", "bob", "alice", "carol"}},
		{"sortBy=userName&filter=" + url.QueryEscape(`active eq true`), []string{"alice", "carol", "dave"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			t.Parallel()
			l := &listEnv{env: l.env.with(t), id: l.id}
			r := l.list(c.query)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, c.want, l.names(ids(r)))
		})
	}
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		requireError(t, e.do(http.MethodGet, "/Users?sortBy=nosuch", nil, nil), http.StatusBadRequest, "invalidValue")
		requireError(t, e.do(http.MethodGet, "/Users?sortBy=userName&sortOrder=sideways", nil, nil), http.StatusBadRequest, "invalidValue")
	})
	t.Run("every sortable path answers 200 or 400, never 500", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		for _, p := range []string{
			"active", "emails.primary", "emails.type", "emails.display", "addresses", "addresses.primary",
			"addresses.locality", "phoneNumbers", "name", "meta", "id", "password", "groups", "groups.display",
			"roles", "entitlements", "urn:scimd:schemas:extension:2.0:User:products",
			entURN + ":manager", entURN + ":manager.value", entURN,
		} {
			r := e.do(http.MethodGet, "/Users?sortBy="+url.QueryEscape(p), nil, nil)
			assert.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, r.Status, "sortBy=%s: %s", p, r.Raw)
		}
	})
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	l := newListEnv(t)
	full := l.list("sortBy=userName")
	require.Equal(t, http.StatusOK, full.Status)
	order := ids(full)
	require.Len(t, order, 4)

	t.Run("pages of one are stable", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		var got []string
		for start := 1; start <= 5; start++ {
			r := e.must(http.StatusOK, http.MethodGet, "/Users?sortBy=userName&count=1&startIndex="+strconv.Itoa(start), nil, nil)
			require.EqualValues(t, 4, r.Body["totalResults"])
			require.EqualValues(t, start, r.Body["startIndex"])
			require.EqualValues(t, len(r.Body["Resources"].([]any)), r.Body["itemsPerPage"])
			got = append(got, ids(r)...)
		}
		require.Equal(t, order, got)
	})
	t.Run("Okta paging without sortBy", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		r1 := e.must(http.StatusOK, http.MethodGet, "/Users?startIndex=1&count=3", nil, nil)
		r2 := e.must(http.StatusOK, http.MethodGet, "/Users?startIndex=4&count=3", nil, nil)
		require.Len(t, ids(r1), 3)
		require.Len(t, ids(r2), 1)
		require.ElementsMatch(t, order, append(ids(r1), ids(r2)...))
		require.EqualValues(t, 1, r2.Body["itemsPerPage"])
		require.Contains(t, string(r2.Raw), `"totalResults":4`, "integers, not floats")
	})
	t.Run("count=0 gives only the total", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		r := e.must(http.StatusOK, http.MethodGet, "/Users?count=0", nil, nil)
		require.EqualValues(t, 4, r.Body["totalResults"])
		require.EqualValues(t, 0, r.Body["itemsPerPage"])
		require.Equal(t, []any{}, r.Body["Resources"])
	})
	t.Run("out of range", func(t *testing.T) {
		t.Parallel()
		e := l.env.with(t)
		r := e.must(http.StatusOK, http.MethodGet, "/Users?startIndex=99", nil, nil)
		require.EqualValues(t, 4, r.Body["totalResults"])
		require.Equal(t, []any{}, r.Body["Resources"])
		r = e.must(http.StatusOK, http.MethodGet, "/Users?startIndex=0&count=-5", nil, nil)
		require.EqualValues(t, 1, r.Body["startIndex"])
		require.EqualValues(t, 4, r.Body["totalResults"])
		requireError(t, e.do(http.MethodGet, "/Users?count=ten", nil, nil), http.StatusBadRequest, "invalidValue")
		requireError(t, e.do(http.MethodGet, "/Users?startIndex=x", nil, nil), http.StatusBadRequest, "invalidValue")
	})
}

func TestListCountCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.pool.Exec(context.Background(), `INSERT INTO users (org_id, id, user_name)
		SELECT $1, gen_random_uuid(), 'bulk' || g || '@example.com' FROM generate_series(1, 1005) g`, e.org)
	require.NoError(t, err)
	r := e.must(http.StatusOK, http.MethodGet, "/Users?count=5000&excludedAttributes=emails", nil, nil)
	require.EqualValues(t, 1005, r.Body["totalResults"])
	require.EqualValues(t, 1000, r.Body["itemsPerPage"])
	require.Len(t, r.Body["Resources"], 1000)
	r = e.must(http.StatusOK, http.MethodGet, "/Users?count=5000&startIndex=1001", nil, nil)
	require.EqualValues(t, 5, r.Body["itemsPerPage"])
	r = e.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	require.EqualValues(t, 100, r.Body["itemsPerPage"], "the default page is 100")
}

func TestUsersTenantIsolation(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.otherOrg()
	u := a.createUser(msvUser("isolated@example.com", ""))
	id := u["id"].(string)
	before := a.snapshot(id)

	requireError(t, b.do(http.MethodGet, "/Users/"+id, nil, nil), http.StatusNotFound, "")
	for _, f := range []string{
		`userName eq "isolated@example.com"`, `id eq "` + id + `"`, `externalId eq "Ebony-ext-1"`,
		`emails.value eq "isolated@example.com"`, `emails[type eq "work"]`, `userName pr`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`,
	} {
		r := b.must(http.StatusOK, http.MethodGet, "/Users?filter="+url.QueryEscape(f), nil, nil)
		require.EqualValues(t, 0, r.Body["totalResults"], f)
	}
	r := b.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	require.EqualValues(t, 0, r.Body["totalResults"])

	requireError(t, b.do(http.MethodPatch, "/Users/"+id, patchBody(op("replace", "active", false)), nil), http.StatusNotFound, "")
	requireError(t, b.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "isolated@example.com", "active": false}, nil), http.StatusNotFound, "")
	requireError(t, b.do(http.MethodDelete, "/Users/"+id, nil, nil), http.StatusNotFound, "")
	requireError(t, b.do(http.MethodDelete, "/Users/"+id, nil, hdr{"If-Match": "*"}), http.StatusNotFound, "")
	a.requireUnchanged(id, before)

	// userName is unique per organization, not across them.
	b.verifiedDomain("example.com")
	other := b.createUser(map[string]any{"userName": "isolated@example.com"})
	require.NotEqual(t, id, other["id"])
	requireError(t, a.do(http.MethodGet, "/Users/"+other["id"].(string), nil, nil), http.StatusNotFound, "")
	r = a.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	require.EqualValues(t, 1, r.Body["totalResults"])
	a.requireUnchanged(id, before)
}
