package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/paysls/wxpay/functions/createorder/console"
	"github.com/paysls/wxpay/shared/config"
)

// stdin is the console command's input; tests replace it.
var stdin io.Reader = os.Stdin

// runConsole is `wxpay console passwd NAME`: it prints the console_users line of a user
// (the password hashed with PBKDF2; the password itself never written anywhere).
func runConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("console", "passwd [--generate] NAME\n\n"+
		"Prints the console_users line of an operator of the operations console (/console/):\n"+
		"  name:pbkdf2-sha256$600000$<salt>$<key>\n"+
		"The password is read from the terminal (twice), or the first line of standard input,\n"+
		"or made up with --generate and shown once. Add the line to console_users: the keys\n"+
		"dir's console_users file, WXPAY_CONSOLE_USERS, or the console_users key of the secret\n"+
		"(AWS Secrets Manager, Tencent Cloud SSM); see README \"The operations console\".", stdout, stderr)
	generate := fs.Bool("generate", false, "make up a strong password and print it once (on stderr)")
	if len(args) > 0 && args[0] == "passwd" {
		args = args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return usagef("unknown subcommand %q: want wxpay console passwd NAME", args[0])
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want: wxpay console passwd [--generate] NAME")
	}
	name := fs.Arg(0)
	var password string
	switch {
	case *generate:
		password = newPassword()
	case isTerminal(stdin):
		f := stdin.(*os.File)
		fmt.Fprintf(stderr, "Password for %s (at least 12 characters): ", name)
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		if string(p1) != string(p2) {
			return errors.New("the two passwords differ; nothing was printed")
		}
		password = string(p1)
	default:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	line, err := console.HashPassword(name, password)
	if err != nil {
		return usagef("%v", err)
	}
	fmt.Fprintln(stdout, line)
	if *generate {
		fmt.Fprintf(stderr, "password of %s (shown this once; give it to them by hand): %s\n", name, password)
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newPassword is 20 characters from an alphabet without look-alikes (about 115 bits).
func newPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:5]) + "-" + string(b[5:10]) + "-" + string(b[10:15]) + "-" + string(b[15:])
}

// localConsoleUser gives `wxpay serve` in simulator mode a console user the first time
// it starts: <keys-dir>/console_users with the user "admin", whose password is
// returned to be printed once. Later starts (or console_users set otherwise) add
// nobody. In live mode the console is configured like a deployment's.
func localConsoleUser(cfg *config.Config, o serveOptions) (password string, err error) {
	if o.live || !cfg.Bundle.ConsoleUsers.IsZero() {
		return "", nil
	}
	password = newPassword()
	line, err := console.HashPassword("admin", password)
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.keysDir, config.FileConsoleUsers)
	if err := os.WriteFile(path, []byte("# operators of /console/ (wxpay console passwd NAME >> this file)\n"+line+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	cfg.Bundle.ConsoleUsers = config.NewSecret([]byte(line))
	if cfg.Sources != nil {
		cfg.Sources["ConsoleUsers"] = "keys dir " + path
	}
	return password, nil
}

// printConsoleBanner says where the console is and who signs in.
func printConsoleBanner(w io.Writer, o serveOptions, b *bundle, base string) {
	users := filepath.Join(o.keysDir, config.FileConsoleUsers)
	switch {
	case b.consolePassword != "":
		fmt.Fprintf(w, "  GET  %s/console/     the operations console: user admin, password %s (shown this once; kept hashed in %s)\n", base, b.consolePassword, users)
	case o.live:
		fmt.Fprintf(w, "  GET  %s/console/     the operations console (users from %s: wxpay console passwd NAME)\n", base, config.EnvConsoleUsers)
	default:
		fmt.Fprintf(w, "  GET  %s/console/     the operations console (users in %s; add one: wxpay console passwd NAME >> that file)\n", base, users)
	}
}
