package payment

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writers outside shared/payment that may call a store's Put, Update or Delete, each
// writing only records that are not money (the key they write is named). Everything
// else that writes a store is the ledger, or a store itself.
var writers = map[string]string{
	"github.com/paysls/wxpay/shared/payclient.certStore.SaveCerts": "certStore.key: the platform-certificate cache",
	"github.com/paysls/wxpay/functions/billfetch.(*Job).finish":    "billfetch.ReportKey: a bill's report",
	// Markers of events retries gave up on, under abandoned/ (pointers, never money).
	"github.com/paysls/wxpay/shared/events.noteAbandoned":   "abandoned/…: an abandoned event's marker",
	"github.com/paysls/wxpay/shared/events.forgetAbandoned": "abandoned/…: the marker removed by a resend",
	// The sub-merchants holding an order number, for the console's Find (a pointer, never money).
	"github.com/paysls/wxpay/functions/createorder.(*Handler).noteHolder": "holders/…: the sub-merchants holding an order number",
	// The operations console's own records, all under console/ (never money).
	"github.com/paysls/wxpay/functions/createorder/console.(*Handler).audit":      "console/audit/…: the audit listing",
	"github.com/paysls/wxpay/functions/createorder/console.(*Handler).newSession": "console/session/…: a session",
	"github.com/paysls/wxpay/functions/createorder/console.(*Handler).session":    "console/session/…: a session's idle expiry",
	"github.com/paysls/wxpay/functions/createorder/console.(*Handler).endSession": "console/session/…: a session ended",
	"github.com/paysls/wxpay/functions/createorder/console.(*Handler).failed":     "console/signin_failures/…: failed sign-ins",
}

// storePackages implement or wrap a store: their writes pass a caller's write on (the
// deterministic simulation's scheduler wraps the store the bundle under test uses), or
// exercise one (the conformance suite every backend passes).
func storePackage(path string) bool {
	return path == "github.com/paysls/wxpay/shared/store" || strings.HasPrefix(path, "github.com/paysls/wxpay/shared/store/") ||
		path == "github.com/paysls/wxpay/internal/dst" || path == "github.com/paysls/wxpay/internal/storetest"
}

// TestOnlyTheLedgerWritesMoney type-checks every non-test package of the module and
// finds each call of Put, Update or Delete on a value that is a store.Store: outside
// shared/payment (and the stores themselves) only the allowlisted functions may make
// one, and they write non-money keys (paymenttest.Guard checks that at run time).
func TestOnlyTheLedgerWritesMoney(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the whole module")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	type pkg struct {
		ImportPath, Dir, Export string
		GoFiles                 []string
		Module                  *struct{ Path string }
	}
	cmd := exec.Command("go", "list", "-deps", "-export", "-json=ImportPath,Dir,Export,GoFiles,Module", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	var mine []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == "github.com/paysls/wxpay" {
			mine = append(mine, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	storePkg, err := imp.Import("github.com/paysls/wxpay/shared/store")
	if err != nil {
		t.Fatal(err)
	}
	iface := storePkg.Scope().Lookup("Store").Type().Underlying().(*types.Interface)
	var found []string
	checked := 0
	for _, p := range mine {
		if storePackage(p.ImportPath) || strings.HasPrefix(p.ImportPath, "github.com/paysls/wxpay/shared/payment") {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-check %s: %v", p.ImportPath, err)
		}
		checked++
		for _, f := range files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				name := p.ImportPath + "." + funcName(fn)
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || !slices.Contains([]string{"Put", "Update", "Delete"}, sel.Sel.Name) {
						return true
					}
					s := info.Selections[sel]
					if s == nil || s.Kind() != types.MethodVal {
						return true
					}
					recv := s.Recv()
					if types.Implements(recv, iface) || types.Implements(types.NewPointer(recv), iface) {
						if _, ok := writers[name]; !ok {
							found = append(found, fmt.Sprintf("%s: %s calls %s", fset.Position(call.Pos()), name, sel.Sel.Name))
						}
					}
					return true
				})
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: the scan is not seeing the module", checked)
	}
	if len(found) > 0 {
		t.Fatalf("store writes outside the ledger (shared/payment is the only writer of money records; allowlist a non-money writer in writers with the key it writes):\n%s", strings.Join(found, "\n"))
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = "*", s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	id, _ := t.(*ast.Ident)
	if id == nil {
		return fn.Name.Name
	}
	if star != "" {
		return "(" + star + id.Name + ")." + fn.Name.Name
	}
	return id.Name + "." + fn.Name.Name
}
