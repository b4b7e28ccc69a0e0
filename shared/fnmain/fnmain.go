// Package fnmain is what every function's main does before its own part: a JSON logger
// named after the function, the configuration from the environment (WXPAY_*, plus
// secrets read at run time on Lambda), and the store from STORE_URL. A function's main
// is then only how it is built and served (runtime.ServeHTTP or runtime.RunJob).
package fnmain

import (
	"context"
	"log/slog"
	"os"

	"github.com/paysls/wxpay/shared/config"
	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

// Start runs serve with what every function needs and, when anything fails, logs why
// and exits 1 (the platform then reports the failed start).
func Start(name string, serve func(cfg config.Config, st store.Store, log *slog.Logger) error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", name)
	if err := run(serve, log); err != nil {
		log.Error(name+" stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(serve func(config.Config, store.Store, *slog.Logger) error, log *slog.Logger) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	storeURL, err := withStorePassword(os.Getenv("STORE_URL"), cfg.StorePassword)
	if err != nil {
		return err
	}
	st, err := storeurl.Open(context.Background(), storeURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return serve(cfg, st, log)
}
