package main

import (
	"flag"
	"fmt"
	"sort"
	"time"
)

// envFlags registers flags that an environment variable sets when the command line does not:
// the variable is named once, in the flag's help, and a malformed value is an error that
// names the variable rather than a silent default.
type envFlags struct {
	fs   *flag.FlagSet
	vars map[string]string // flag name → variable
}

func newEnvFlags(fs *flag.FlagSet) *envFlags {
	return &envFlags{fs: fs, vars: map[string]string{}}
}

func (e *envFlags) usage(name, env, usage string) string {
	e.vars[name] = env
	return usage + " (" + env + ")"
}

func (e *envFlags) String(name, env, def, usage string) *string {
	return e.fs.String(name, def, e.usage(name, env, usage))
}

func (e *envFlags) Int(name, env string, def int, usage string) *int {
	return e.fs.Int(name, def, e.usage(name, env, usage))
}

func (e *envFlags) Int64(name, env string, def int64, usage string) *int64 {
	return e.fs.Int64(name, def, e.usage(name, env, usage))
}

func (e *envFlags) Float64(name, env string, def float64, usage string) *float64 {
	return e.fs.Float64(name, def, e.usage(name, env, usage))
}

func (e *envFlags) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	return e.fs.Duration(name, def, e.usage(name, env, usage))
}

func (e *envFlags) Var(v flag.Value, name, env, usage string) {
	e.fs.Var(v, name, e.usage(name, env, usage))
}

// apply sets, after fs.Parse, every flag not given on the command line whose variable is set.
func (e *envFlags) apply(getenv func(string) string) error {
	given := map[string]bool{}
	e.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	names := make([]string, 0, len(e.vars))
	for name := range e.vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env := e.vars[name]
		if v := getenv(env); v != "" && !given[name] {
			if err := e.fs.Set(name, v); err != nil {
				return fmt.Errorf("%s=%q: %v", env, v, err)
			}
		}
	}
	return nil
}
