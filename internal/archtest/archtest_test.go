package archtest

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/peerchain/peerchain"

// allowed lists, for each package, the peerchain packages it may import
// directly. Data flows down: a package imports only what is below it.
var allowed = map[string][]string{
	"internal/params":          {},
	"internal/pow":             {},
	"internal/chaindb":         {},
	"internal/execution":       {"internal/params", "internal/pow"},
	"internal/chain":           {"internal/params", "internal/pow", "internal/chaindb", "internal/execution"},
	"internal/chain/chaingen":  {"internal/params", "internal/pow", "internal/execution"},
	"internal/chain/chaintest": {"internal/chain", "internal/chain/chaingen", "internal/chaindb", "internal/params"},
	"internal/txpool":          {"internal/chain", "internal/chaindb", "internal/params", "internal/execution"},
	"internal/miner":           {"internal/chain", "internal/txpool", "internal/execution", "internal/pow", "internal/params"},
	"internal/p2p":             {"internal/params"},
	"internal/sync":            {"internal/p2p", "internal/chain", "internal/txpool", "internal/params", "internal/pow", "internal/chaindb"},
	"internal/rpc":             {"internal/chain", "internal/txpool", "internal/execution", "internal/params", "internal/p2p", "internal/sync"},
	"internal/light":           {"internal/chain", "internal/chaindb", "internal/params", "internal/sync", "internal/p2p", "internal/rpc", "internal/execution", "internal/pow", "internal/txpool"},
	"internal/wallet":          {"internal/params"},
	"internal/devnet":          {"internal/params", "internal/wallet", "internal/p2p", "internal/ui"},
	"internal/node":            {"*"},
	"internal/archtest":        {},
	"internal/ui":              {},
	"internal/progress":        {},
	"internal/doctor":          {"internal/params"},
	"cmd/peerchain":            {"internal/node", "internal/light", "internal/params", "internal/wallet", "internal/devnet", "internal/ui", "internal/doctor", "internal/progress"},
	"test/e2e":                 {"*"},
	"internal/sim":             {"internal/p2p", "internal/sync", "internal/chain", "internal/txpool", "internal/execution", "internal/pow", "internal/params"},
	"bench":                    {"*"},
}

type pkg struct {
	ImportPath string
	Dir        string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .Imports \" \"}}\t{{join .GoFiles \" \"}}\t{{.Doc}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 5)
		if len(f) != 5 {
			continue
		}
		pkgs = append(pkgs, pkg{ImportPath: f[0], Dir: f[1], Imports: strings.Fields(f[2]), GoFiles: strings.Fields(f[3]), Doc: f[4]})
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestImportLayering(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		rules, ok := allowed[name]
		if !ok {
			t.Errorf("package %s has no entry in the layering rules: add it to archtest and docs/architecture.md", name)
			continue
		}
		if len(rules) == 1 && rules[0] == "*" {
			continue
		}
		ok2 := map[string]bool{}
		for _, r := range rules {
			ok2[r] = true
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			if !ok2[rel(imp)] {
				t.Errorf("%s imports %s, which the layering forbids (allowed: %v)", name, rel(imp), rules)
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", rel(p.ImportPath))
		}
	}
}

// TestLibraryCodeNeverExits: no panic, os.Exit or log.Fatal in non-test
// code outside package main.
func TestLibraryCodeNeverExits(t *testing.T) {
	var bad []string
	for _, p := range listPackages(t) {
		if strings.HasPrefix(rel(p.ImportPath), "cmd/") {
			continue
		}
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					if fn.Name == "panic" {
						bad = append(bad, rel(p.ImportPath)+"/"+f+": panic")
					}
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok {
						switch x.Name + "." + fn.Sel.Name {
						case "os.Exit", "log.Fatal", "log.Fatalf", "log.Panic", "log.Crit":
							bad = append(bad, rel(p.ImportPath)+"/"+f+": "+x.Name+"."+fn.Sel.Name)
						}
					}
				}
				return true
			})
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
