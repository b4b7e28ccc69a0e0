package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Durability is what the server's persistence settings mean for a write the store has
// acknowledged. notify answers WeChat Pay 204 only after the store acknowledged the
// write, so a server that forgets acknowledged writes on restart loses payments that
// WeChat Pay will never resend: only reconcile can find them again.
type Durability struct {
	// Checked is false when the settings could not be read: managed Redis services
	// often disable CONFIG. Reason then says why, and nothing is known.
	Checked bool
	Reason  string
	// AppendOnly, AppendFsync and Save are the server's appendonly, appendfsync and
	// save settings (Save "" = no RDB snapshots).
	AppendOnly  bool
	AppendFsync string
	Save        string
	// Waived: the store URL says durability=none, accepting whatever the server does.
	Waived bool
}

// durable reports whether an acknowledged write survives a restart of Redis: the
// append-only file is on and fsynced on every write (always) or every second
// (everysec, which can lose up to about a second of writes if the machine itself —
// not just redis-server — crashes).
func (d Durability) durable() bool {
	return d.Checked && d.AppendOnly && (d.AppendFsync == "always" || d.AppendFsync == "everysec")
}

// Problem says what is wrong, in one sentence: "" when the server is durable, or when
// the settings could not be read (see Checked and Reason).
func (d Durability) Problem() string {
	switch {
	case !d.Checked || d.durable():
		return ""
	case d.AppendOnly:
		return fmt.Sprintf("Redis appends every write to its AOF but fsyncs it only when the OS decides (appendfsync %s): a crash of the machine loses the writes of the last seconds", d.AppendFsync)
	case d.Save != "":
		return fmt.Sprintf("Redis persists only RDB snapshots (save %q, appendonly no): a restart loses every write since the last snapshot", d.Save)
	default:
		return "Redis persists nothing (appendonly no, save \"\"): a restart loses every write"
	}
}

// Fix says what to set so that acknowledged writes are durable.
func (d Durability) Fix() string {
	return "set appendonly yes and appendfsync everysec (or always) in redis.conf, or at run time: " +
		"CONFIG SET appendonly yes; CONFIG SET appendfsync everysec; CONFIG REWRITE. " +
		"To accept losing acknowledged writes on a restart, add durability=none to the store URL"
}

// Durability is the finding of Open's check, without contacting the server. A store
// made with New was not checked.
func (s *Store) Durability() Durability {
	if s.durability == nil {
		return Durability{Reason: "not checked: the store was made with New", Waived: s.waived}
	}
	return *s.durability
}

// CheckDurability reads the server's persistence settings now (as `wxpay doctor`
// does). The error is for a server that could not be reached; a server that refuses
// CONFIG gives a Durability with Checked false.
func (s *Store) CheckDurability(ctx context.Context) (Durability, error) {
	d, err := checkDurability(ctx, s.client, false)
	d.Waived = s.waived
	return d, err
}

// checkDurability sends CONFIG GET appendonly, appendfsync and save — after a PING when
// ping is set — in one pipeline, so it costs one round trip. The error is the PING's,
// or the connection's; a refused CONFIG only leaves the result unchecked.
func checkDurability(ctx context.Context, c redis.UniversalClient, ping bool) (Durability, error) {
	var pong *redis.StatusCmd
	var aof, fsync, save *redis.MapStringStringCmd
	_, perr := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if ping {
			pong = p.Ping(ctx)
		}
		aof = p.ConfigGet(ctx, "appendonly")
		fsync = p.ConfigGet(ctx, "appendfsync")
		save = p.ConfigGet(ctx, "save")
		return nil
	})
	// A pipeline that failed as a whole (no connection, authentication refused) leaves
	// its commands without errors of their own.
	if perr != nil && aof.Err() == nil && fsync.Err() == nil && save.Err() == nil && (pong == nil || pong.Err() == nil) {
		return Durability{}, perr
	}
	if ping {
		if err := pong.Err(); err != nil {
			return Durability{}, err
		}
	}
	var d Durability
	for _, cmd := range []*redis.MapStringStringCmd{aof, fsync, save} {
		if err := cmd.Err(); err != nil {
			var rerr redis.Error
			if !errors.As(err, &rerr) || retryable(err) {
				return Durability{}, err
			}
			// Refused by the server (renamed or disabled command, ACL): say so, without
			// guessing what the service does.
			d.Reason = "CONFIG GET refused by the server: " + firstLine(err.Error())
			return d, nil
		}
	}
	a, okA := aof.Val()["appendonly"]
	f, okF := fsync.Val()["appendfsync"]
	sv, okS := save.Val()["save"]
	if !okA || !okF || !okS {
		d.Reason = "CONFIG GET did not return appendonly, appendfsync and save"
		return d, nil
	}
	d.Checked = true
	d.AppendOnly = strings.EqualFold(a, "yes")
	d.AppendFsync = strings.ToLower(f)
	d.Save = strings.TrimSpace(sv)
	return d, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// warnDurability logs, loudly and once per Open, a store whose acknowledged writes
// may not survive a Redis restart.
func (s *Store) warnDurability(ctx context.Context, d Durability) {
	if d.Waived || d.durable() {
		return
	}
	if !d.Checked {
		s.log.WarnContext(ctx, "redisstore: could not check that Redis keeps acknowledged writes across a restart; "+
			"make sure it persists with an append-only file (managed services: enable AOF persistence in the console)",
			"reason", d.Reason, "fix", d.Fix())
		return
	}
	s.log.WarnContext(ctx, "redisstore: Redis does not keep acknowledged writes across a restart: notifications answered 204 can be lost",
		"problem", d.Problem(), "appendonly", d.AppendOnly, "appendfsync", d.AppendFsync, "save", d.Save, "fix", d.Fix())
}
