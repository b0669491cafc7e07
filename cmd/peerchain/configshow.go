package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration",
		Args:  cobra.NoArgs,
	}
	show := &cobra.Command{
		Use:   "show [node|light] [--json] [FLAGS...]",
		Short: "Print every setting of node (or light) with its effective value and where it came from",
		Long: `Print every setting of 'peerchain node' (or 'peerchain light') as that command
would run it with the same FLAGS, PEERCHAIN_* environment and --config file:
the effective value and its source (flag, env PEERCHAIN_X, file PATH or
default). Secrets are redacted: passwords in URLs, API keys in URL paths.

  peerchain config show --config /etc/peerchain.toml
  PEERCHAIN_MINER_THREADS=4 peerchain config show --json
  peerchain config show light --providers http://a:8545`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--help" || a == "-h" {
					return cmd.Help()
				}
			}
			return configShow(cmd.OutOrStdout(), args, os.Getenv)
		},
	}
	cmd.AddCommand(show)
	return cmd
}

// setting is one line of `config show`.
type setting struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Source  string `json:"source"`
	Default string `json:"default"`
}

// configShow parses args as `peerchain node` (or light) would, merges the
// environment and the config file, and prints every flag's value and
// source.
func configShow(w io.Writer, args []string, getenv func(string) string) error {
	kind := "node"
	if len(args) > 0 && (args[0] == "node" || args[0] == "light") {
		kind, args = args[0], args[1:]
	}
	asJSON := false
	rest := args[:0:0]
	for _, a := range args {
		if a == "--json" || a == "--json=true" {
			asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	fs := pflag.NewFlagSet("peerchain "+kind, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	if kind == "node" {
		var f nodeFlags
		f.register(fs)
	} else {
		var f lightFlags
		f.register(fs)
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("peerchain %s flags: %w", kind, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: 'peerchain %s' takes flags only", fs.Args(), kind)
	}
	sources := map[string]string{}
	if err := applySettingsFrom(fs, getenv, func(k, from string) { sources[k] = from }); err != nil {
		return err
	}
	var out []setting
	fs.VisitAll(func(fl *pflag.Flag) {
		src := sources[fl.Name]
		if src == "" {
			src = "default"
		}
		out = append(out, setting{Name: fl.Name, Value: redact(fl.Name, flagValue(fl)), Source: src, Default: redact(fl.Name, fl.DefValue)})
	})
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SETTING\tVALUE\tSOURCE\n")
	for _, s := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, orEmpty(s.Value), s.Source)
	}
	return tw.Flush()
}

// flagValue prints a list flag as its items joined by commas, the way it
// is written on the command line.
func flagValue(fl *pflag.Flag) string {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return fl.Value.String()
}

func orEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// secretFlag names flags whose value is itself a secret (not a file
// holding one).
var secretFlag = regexp.MustCompile(`(password|secret|token|apikey)$`)

// apiKeyPath is a URL path that carries a provider API key (16 to 128 of
// A-Z a-z 0-9 _ -).
var apiKeyPath = regexp.MustCompile(`^/[A-Za-z0-9_-]{16,128}/?$`)

// redact hides secrets in a setting's value: a secret flag's whole value,
// and in URLs a password and an API key in the path.
func redact(name, value string) string {
	if value == "" {
		return value
	}
	if secretFlag.MatchString(name) {
		return "<redacted>"
	}
	parts := strings.Split(value, ",")
	for i, p := range parts {
		if !strings.Contains(p, "://") {
			continue
		}
		u, err := url.Parse(p)
		if err != nil {
			continue
		}
		changed := false
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			changed = true
		}
		if apiKeyPath.MatchString(u.Path) {
			u.Path = "/redacted"
			changed = true
		}
		if q := u.Query(); len(q) > 0 {
			for k := range q {
				if secretFlag.MatchString(strings.ToLower(k)) || strings.EqualFold(k, "key") {
					q.Set(k, "redacted")
					changed = true
				}
			}
			u.RawQuery = q.Encode()
		}
		if changed {
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
