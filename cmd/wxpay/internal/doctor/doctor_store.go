package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/paysls/wxpay/shared/store"
	"github.com/paysls/wxpay/shared/store/dynamostore"
	"github.com/paysls/wxpay/shared/store/redisstore"
	"github.com/paysls/wxpay/shared/store/storeurl"
)

// EnvStoreURL is the variable the functions open their store from.
const EnvStoreURL = "STORE_URL"

// durabilityChecker is implemented by stores that can tell whether what they
// acknowledge survives a restart — for Redis, that the append-only file is on with an
// fsync policy; without it a restart forgets payments WeChat Pay was told were
// recorded.
type durabilityChecker interface {
	CheckDurability(ctx context.Context) (redisstore.Durability, error)
}

// storeTimeout bounds each store check: an unreachable backend must not hang doctor.
const storeTimeout = 5 * time.Second

// checkStore opens STORE_URL as the functions do, reads a record, reads the pending
// index (for DynamoDB: the table and its index exist) and, where the backend can say,
// checks that acknowledged writes are durable.
func (d *Doctor) checkStore(ctx context.Context) []Check {
	const name = "store"
	raw := strings.TrimSpace(d.StoreURL)
	if raw == "" {
		return []Check{warn(name, EnvStoreURL+" not set: the functions use a local bbolt file — fine for `wxpay serve`, "+
			"but on Lambda/SCF it lives and dies with one instance; set "+EnvStoreURL+"=dynamodb://TABLE?region=… or redis://…")}
	}
	shown := raw
	u, perr := url.Parse(raw)
	if perr == nil {
		shown = u.Redacted()
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	s, err := storeurl.Open(ctx, raw)
	if err != nil {
		return []Check{fail(name, fmt.Sprintf("%s cannot be opened: %v", shown, err),
			"检查 "+EnvStoreURL+"（bolt:///path.db、dynamodb://TABLE?region=…、redis://host:6379/0）以及网络、凭证",
			"check "+EnvStoreURL+" (bolt:///path.db, dynamodb://TABLE?region=…, redis://host:6379/0), the network and the credentials")}
	}
	defer s.Close()
	if _, err := s.Get(ctx, "doctor/ping"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return []Check{fail(name, fmt.Sprintf("%s is not reachable: %v", shown, err),
			"确认存储服务在运行、网络可达（安全组、VPC）、凭证有读写权限；DynamoDB 表需存在（template.yaml 会创建，或在 URL 加 ?create=1）",
			"make sure the backend runs and is reachable (security groups, VPC) and the credentials may read and write; a DynamoDB table must exist (template.yaml creates it, or add ?create=1)")}
	}
	if _, err := s.ListPending(ctx, "orders", store.ListOptions{Before: d.now(), Limit: 1}); err != nil {
		return []Check{fail(name, fmt.Sprintf("%s: the pending index cannot be read: %v", shown, err),
			"DynamoDB 表缺少全局二级索引 "+dynamostore.PendingIndex+"：用 template.yaml 部署，或以 ?create=1 新建表",
			"the DynamoDB table lacks its global secondary index "+dynamostore.PendingIndex+": deploy template.yaml, or create the table with ?create=1")}
	}
	out := []Check{ok(name, shown+" reachable: a record and the pending index were read")}
	scheme := ""
	if u != nil {
		scheme = u.Scheme
	}
	const dname = "store durability"
	switch dc, isDC := s.(durabilityChecker); {
	case isDC:
		dur, err := dc.CheckDurability(ctx)
		switch {
		case err != nil:
			out = append(out, fail(dname, "persistence settings could not be read: "+err.Error(),
				"确认 Redis 可达", "make sure Redis is reachable"))
		case dur.Waived:
			out = append(out, warn(dname, "durability=none in the store URL: a Redis restart may forget acknowledged payments (accepted risk)"))
		case !dur.Checked:
			out = append(out, warn(dname, "Redis persistence could not be checked ("+dur.Reason+"): make sure AOF (appendonly yes, appendfsync everysec) is on in the service's console"))
		case dur.Problem() != "":
			out = append(out, fail(dname, dur.Problem(),
				"开启 Redis 持久化：appendonly yes，appendfsync everysec 或 always；云 Redis 在控制台开启 AOF；或在 URL 加 ?durability=none 表示接受风险",
				dur.Fix()))
		default:
			out = append(out, ok(dname, "appendonly yes, appendfsync "+dur.AppendFsync+": acknowledged writes survive a restart"))
		}
	case scheme == "redis" || scheme == "rediss":
		out = append(out, skip(dname, "Redis persistence (AOF/RDB) not checked by this build: make sure appendonly is on, or a restart forgets recorded payments"))
	}
	return out
}
