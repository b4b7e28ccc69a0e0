// Command preflight checks, before `scf deploy`, that every setting a Tencent
// deployment file needs is set where serverless-cloud-framework will look for it, and
// names the ones that are not. `make deploy-tencent` runs it.
//
//	go run ./deploy/preflight serverless.yml deploy/tencent/notify/serverless.yml …
//
// What the CLI does (Serverlesstencent/serverless-cloud-framework 1.3.0):
//   - src/libs/config.js loads ONE .env file, the first that exists of
//     <target>/.env.<stage>, <target>/.env (with --target), ./.env.<stage>, ./.env,
//     ../.env.<stage>, ../.env, ../../.env.<stage>, ../../.env, relative to the
//     directory `scf` runs in; dotenv never overrides a variable already set in the
//     shell. <stage> is --stage or the file's raw `stage:` (here "${env:STAGE}", so
//     no .env.<stage> file is ever found): `make deploy-tencent` runs every deploy from
//     the repository's root with --target, so the root's .env serves all of them.
//   - src/libs/utils/basic.js (resolveVariables) replaces an unset ${env:X} with
//     undefined. multi-scf turns that into the text "undefined" in the function's
//     environment (see serverless.yml); the scf component drops it.
//
// So: in a multi-scf file every ${env:X} on a line that is not a comment must be set;
// in an scf file, those its "# required:" comment line lists.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z0-9_.-]+)\}`)

func main() {
	problems := check(os.Args[1:], os.Getenv, ".")
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintln(os.Stderr, "set them in the shell or in .env at the repository's root (README \"Deploy to Tencent Cloud\"), then run make deploy-tencent again")
		os.Exit(1)
	}
}

// check returns one line per missing setting of each file, as the CLI would see them
// when run from root (with --target for a file outside root).
func check(files []string, getenv func(string) string, root string) []string {
	var problems []string
	for _, file := range files {
		needed, multi, err := needs(file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		target := filepath.Dir(file)
		dotenv, from := loadDotenv(root, target)
		for _, name := range needed {
			if strings.TrimSpace(getenv(name)) != "" || strings.TrimSpace(dotenv[name]) != "" {
				continue
			}
			where := "the shell or " + filepath.Join(root, ".env")
			if from != "" {
				where = "the shell or " + from + " (the .env the CLI reads for this file)"
			}
			if multi {
				problems = append(problems, fmt.Sprintf("%s: %s is not set in %s: multi-scf would deploy it as the text \"undefined\"", file, name, where))
			} else {
				problems = append(problems, fmt.Sprintf("%s: %s is not set in %s, and the function needs it", file, name, where))
			}
		}
	}
	return problems
}

// needs lists the variables file cannot do without, and whether it is a multi-scf file.
func needs(file string) (names []string, multi bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	var refs, required []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# required:"); ok {
			required = append(required, strings.Fields(rest)...)
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "component:") && strings.TrimSpace(strings.TrimPrefix(line, "component:")) == "multi-scf" {
			multi = true
		}
		code, _, _ := strings.Cut(line, " #")
		for _, m := range envRef.FindAllStringSubmatch(code, -1) {
			refs = append(refs, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	names = required
	if multi {
		names = refs
	}
	slices.Sort(names)
	return slices.Compact(names), multi, nil
}

// loadDotenv reads the one .env file the CLI would: <target>/.env, else the first of
// root's, its parent's and its grandparent's .env.
func loadDotenv(root, target string) (map[string]string, string) {
	var candidates []string
	if !filepath.IsAbs(target) {
		target = filepath.Join(root, target)
	}
	if filepath.Clean(target) != filepath.Clean(root) {
		candidates = append(candidates, filepath.Join(target, ".env"))
	}
	candidates = append(candidates, filepath.Join(root, ".env"), filepath.Join(root, "..", ".env"), filepath.Join(root, "..", "..", ".env"))
	for _, c := range candidates {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		return parseDotenv(string(b)), c
	}
	return nil, ""
}

// parseDotenv reads KEY=VALUE lines as dotenv 8 does: comments start a line, values
// may be quoted, no expansion.
func parseDotenv(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}
