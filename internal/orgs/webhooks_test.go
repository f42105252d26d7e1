package orgs_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/scimerr"
)

func TestNormalizeWebhookURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://Hooks.Example/Path?Q=1":  "https://hooks.example/Path?Q=1",
		" HTTP://127.0.0.1:8080/hook ":    "http://127.0.0.1:8080/hook",
		"https://[::1]:9000/":             "https://[::1]:9000/",
		"https://hooks.example/caf%C3%A9": "https://hooks.example/caf%C3%A9",
	} {
		got, err := orgs.NormalizeWebhookURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for in, want := range map[string]string{
		"mailto:ops@example.com":     `has the scheme "mailto"`,
		"//hooks.example/x":          "is not absolute",
		"https:///path":              "has no host",
		"https://:443/path":          "has no host",
		"https://a:b@hooks.example":  "contains credentials",
		"https://hooks.example/x#":   "has a fragment",
		"https://hooks.example/\x7f": "control characters",
		"https://hooks.example/%zz":  "is not a URL",
	} {
		_, err := orgs.NormalizeWebhookURL(in)
		require.Error(t, err, in)
		e := scimerr.As(err)
		require.Equal(t, scimerr.KindInvalid, e.Kind)
		require.Contains(t, e.Detail, want, in)
	}
}

func TestWebhookService(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w, err := f.svc.AddWebhook(f.ctx, f.a.ID, "https://hooks.example/a")
	require.NoError(t, err)
	require.Len(t, w.Secret, 43)
	_, err = f.svc.AddWebhook(f.ctx, f.a.ID, "https://HOOKS.example/a")
	requireErr(t, err, scimerr.KindConflict, "already has the webhook "+w.ID+" for https://hooks.example/a")
	ws, err := f.svc.ListWebhooks(f.ctx, f.b.ID)
	require.NoError(t, err)
	require.Empty(t, ws)
	requireErr(t, f.svc.RemoveWebhook(f.ctx, f.b.ID, w.ID), scimerr.KindNotFound, "has no webhook")
	_, err = f.svc.ListWebhooks(f.ctx, "nope")
	requireErr(t, err, scimerr.KindNotFound, `there is no organization "nope"`)
	requireErr(t, f.svc.RemoveWebhook(f.ctx, uuid.NewString(), w.ID), scimerr.KindNotFound, "there is no organization")
	require.NoError(t, f.svc.RemoveWebhook(f.ctx, f.a.ID, w.ID))
}
