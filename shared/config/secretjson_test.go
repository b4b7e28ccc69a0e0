package config

import (
	"strings"
	"testing"
)

func TestSecretJSONStorePassword(t *testing.T) {
	var v SecretValues
	if err := v.DecodeJSON([]byte(`{"store_password":"p@ss word","apiv3_key":"k"}`)); err != nil {
		t.Fatal(err)
	}
	if string(v.StorePassword.Reveal()) != "p@ss word" {
		t.Errorf("store_password = %q", v.StorePassword.Reveal())
	}
	var c Config
	c.mergeSecrets("test", v)
	if string(c.StorePassword.Reveal()) != "p@ss word" || c.Source("StorePassword") != "test" {
		t.Errorf("merged: %q from %q", c.StorePassword.Reveal(), c.Source("StorePassword"))
	}
	err := v.DecodeJSON([]byte(`{"store_pasword":"p@ss word"}`))
	if err == nil || !strings.Contains(err.Error(), "store_pasword") || strings.Contains(err.Error(), "p@ss") {
		t.Errorf("a misspelt key: %v", err)
	}
}
