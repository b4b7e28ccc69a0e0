package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The console's users are a secret like the API token: from the environment, the keys
// dir's console_users file, or the secret store's console_users key (lines kept).
func TestConsoleUsersFromEverySource(t *testing.T) {
	const users = "ops:pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA$a2V5\nlead:pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA$a2V5"
	clearEnv(t)
	_, dir := savedDir(t)
	if err := os.WriteFile(filepath.Join(dir, FileConsoleUsers), []byte(users+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := FromKeysDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Bundle.ConsoleUsers.Reveal()) != users {
		t.Errorf("keys dir: %q", c.Bundle.ConsoleUsers.Reveal())
	}
	var v SecretValues
	if err := v.DecodeJSON([]byte(`{"console_users":"` + "ops:x\\nlead:y" + `"}`)); err != nil {
		t.Fatal(err)
	}
	c.mergeSecrets("secret", v)
	if string(c.Bundle.ConsoleUsers.Reveal()) != "ops:x\nlead:y" || c.Source("ConsoleUsers") != "secret" {
		t.Errorf("secret JSON: %q from %q", c.Bundle.ConsoleUsers.Reveal(), c.Source("ConsoleUsers"))
	}
	lookup := func(k string) (string, bool) {
		if k == EnvConsoleUsers {
			return users, true
		}
		return "", false
	}
	c = Config{Sources: map[string]string{}}
	bundleFromLookup(lookup, &c, false)
	if string(c.Bundle.ConsoleUsers.Reveal()) != users || c.Source("ConsoleUsers") != EnvConsoleUsers {
		t.Errorf("environment: %q from %q", c.Bundle.ConsoleUsers.Reveal(), c.Source("ConsoleUsers"))
	}
}
