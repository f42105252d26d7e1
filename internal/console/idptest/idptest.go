// Package idptest runs an OpenID provider in the test's process, for tests of the console's
// sign-in: zitadel/oidc's op package (a certified OpenID Provider implementation) over the
// in-memory storage of its example server, with users and clients the test adds and a login
// page of username and password, so a browser or an HTTP client signs in as a person would.
// Its ID tokens carry no email: the relying party reads it from the UserInfo endpoint, as
// with providers that keep ID tokens small.
package idptest

import (
	"crypto/sha256"
	"html/template"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// IdP is a running OpenID provider with one confidential web client.
type IdP struct {
	// Issuer is its issuer URL, http://127.0.0.1:port.
	Issuer string
	// ClientID and ClientSecret are its client's.
	ClientID, ClientSecret string
	users                  *users
	store                  *storage.Storage
}

// User is a person the provider signs in.
type User struct {
	Username, Password  string
	Email               string
	EmailVerified       bool
	GivenName, LastName string
}

// Start runs a provider until the test ends, with a client whose redirect URI is redirectURI.
func Start(t testing.TB, redirectURI string) *IdP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p := &IdP{Issuer: "http://" + srv.Listener.Addr().String(), ClientID: uuid.NewString(), ClientSecret: uuid.NewString(),
		users: &users{byID: map[string]*storage.User{}}}
	p.store = storage.NewStorageWithClients(p.users, map[string]*storage.Client{
		p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret, redirectURI)})
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:          sha256.Sum256([]byte("idptest")),
		CodeMethodS256:     true,
		AuthMethodPost:     true,
		SupportedUILocales: []language.Tag{language.English},
	}, p.store, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	callback := op.AuthCallbackURL(provider)
	r.Get("/login/username", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, map[string]string{"ID": r.URL.Query().Get("authRequestID")})
	})
	r.With(op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler).Post("/login/username", func(w http.ResponseWriter, r *http.Request) {
		id := r.PostFormValue("id")
		if err := p.store.CheckUsernamePassword(r.PostFormValue("username"), r.PostFormValue("password"), id); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = loginPage.Execute(w, map[string]string{"ID": id, "Error": err.Error()})
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	})
	r.Mount("/", provider)
	srv.Config.Handler = r
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// AddUser adds a person and returns their subject.
func (p *IdP) AddUser(u User) string {
	id := uuid.NewString()
	p.users.add(&storage.User{ID: id, Username: u.Username, Password: u.Password, Email: u.Email,
		EmailVerified: u.EmailVerified, FirstName: u.GivenName, LastName: u.LastName, PreferredLanguage: language.English})
	return id
}

// SetEmail changes a person's email, as a provider's admin would.
func (p *IdP) SetEmail(subject, email string) {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	if u, ok := p.users.byID[subject]; ok {
		u.Email = email
	}
}

// users implements the example storage's UserStore.
type users struct {
	mu   sync.Mutex
	byID map[string]*storage.User
}

func (s *users) add(u *storage.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[u.ID] = u
}

func (s *users) GetUserByID(id string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.byID[id]; ok {
		c := *u
		return &c
	}
	return nil
}

func (s *users) GetUserByUsername(name string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.byID {
		if u.Username == name {
			c := *u
			return &c
		}
	}
	return nil
}

func (s *users) ExampleClientID() string { return "" }

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>{{with .Error}}<p id="error">{{.}}</p>{{end}}
<form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label><input id="username" name="username">
<label for="password">Password</label><input id="password" name="password" type="password">
<button id="signin" type="submit">Sign in</button>
</form></body></html>`))
