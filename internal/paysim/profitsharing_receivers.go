package paysim

// Receivers (分账接收方) of both API families.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/paysls/wxpay/shared/wechatpay"
)

// e-commerce relation types (添加分账接收方) and the partner ones (wechatpay-go's ReceiverRelationType).
var (
	ecomRelations    = []string{"SUPPLIER", "DISTRIBUTOR", "SERVICE_PROVIDER", "PLATFORM", "OTHERS"}
	partnerRelations = []string{"SERVICE_PROVIDER", "STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER", "BRAND", "DISTRIBUTOR", "USER", "SUPPLIER", "CUSTOM"}
)

// addReceiver handles POST …/receivers/add of both families. The e-commerce body
// carries the merchant's full name in plain text (and a person's name encrypted, as
// encrypted_name); the partner body carries name encrypted (添加分账接收方, both families).
func (s *Simulator) addReceiver(mode string) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		req, encName, rep := decodeReceiver(mode, r.Body)
		if rep != nil {
			return rep
		}
		if rep := s.checkReceiverBody(mode, &req); rep != nil {
			return rep
		}
		relations := ecomRelations
		if mode == modePartner {
			relations = partnerRelations
		}
		if !slices.Contains(relations, req.RelationType) {
			return paramError("relation_type", nonEmpty(req.RelationType), "must be one of "+strings.Join(relations, ", "))
		}
		if req.RelationType == "CUSTOM" && req.CustomRelation == "" {
			return paramError("custom_relation", nil, "is required when relation_type is CUSTOM")
		}
		if req.Type == wechatpay.ReceiverMerchant && req.Name == "" {
			return paramError("name", nil, "is required for a MERCHANT_ID receiver: the merchant's full name (商户全称)")
		}
		field := "name"
		if mode == modeEcommerce {
			field = "encrypted_name"
		}
		if rep := s.decryptsName(r, field, encName); rep != nil {
			return rep
		}
		if mode == modeEcommerce && req.Type == wechatpay.ReceiverMerchant && req.Account == s.id.MchID {
			// The platform is a receiver from the start (平台收付通分账业务示例); adding it
			// again is answered like this (电商收付通开发-05.请求分账, blog.csdn.net/hhht1997/article/details/106793104).
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "操作已完成,无需二次请求: the platform is a receiver by default")
		}
		scope := receiverScope(mode, req.SubMchID)
		s.mu.Lock()
		key := receiverKey(scope, req.Type, req.Account)
		full := s.st.Sharing.Receivers[key] == nil && s.scopeReceivers(scope) >= maxReceivers
		if !full {
			s.st.Sharing.Receivers[key] = &simReceiver{Scope: scope, Type: req.Type, Account: req.Account,
				RelationType: req.RelationType, CustomRelation: req.CustomRelation, Named: req.Name != "" || encName != "", AddedAt: s.now()}
		}
		s.mu.Unlock()
		if full {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("分账接收方数量已达上限: at most %d receivers; delete unused ones first", maxReceivers))
		}
		ans := wechatpay.ReceiverAnswer{Type: req.Type, Account: req.Account}
		if mode == modePartner {
			ans.SubMchID, ans.RelationType, ans.CustomRelation = req.SubMchID, req.RelationType, req.CustomRelation
		}
		return jsonReply(http.StatusOK, ans)
	}
}

// maxReceivers: "商户的分账接收方数量上限为2万" (添加分账接收方).
const maxReceivers = 20000

// scopeReceivers counts the receivers of a scope. Called under s.mu.
func (s *Simulator) scopeReceivers(scope string) int {
	n := 0
	for _, rc := range s.st.Sharing.Receivers {
		if rc.Scope == scope {
			n++
		}
	}
	return n
}

// decodeReceiver reads a receivers/add or /delete body of either family; encName is
// the field that must decrypt with the platform key.
func decodeReceiver(mode string, body []byte) (req wechatpay.Receiver, encName string, rep *reply) {
	if mode == modeEcommerce {
		var er wechatpay.EcommerceReceiver
		if err := json.Unmarshal(body, &er); err != nil {
			return req, "", errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
		}
		return wechatpay.Receiver{AppID: er.AppID, Type: er.Type, Account: er.Account, Name: er.Name, RelationType: er.RelationType}, er.EncryptedName, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, "", errReply(http.StatusBadRequest, "PARAM_ERROR", "请求的JSON格式错误: "+err.Error())
	}
	return req, req.Name, nil
}

func (s *Simulator) checkReceiverBody(mode string, req *wechatpay.Receiver) *reply {
	if mode == modePartner {
		if req.SubMchID == "" {
			return paramError("sub_mchid", nil, "is required")
		}
		if !s.knownSubMch(req.SubMchID) {
			return errReply(http.StatusBadRequest, "INVALID_REQUEST", "受理关系不存在: sub_mchid "+req.SubMchID+" is not a sub-merchant of "+s.id.MchID)
		}
	} else {
		req.SubMchID = ""
	}
	if req.AppID == "" && (mode == modePartner || req.Type == wechatpay.ReceiverPersonalOpenID) {
		return paramError("appid", nil, "is required")
	}
	if req.AppID != "" && req.AppID != s.id.AppID {
		return errReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配: appid "+req.AppID+" is not bound to "+s.id.MchID)
	}
	types := []string{wechatpay.ReceiverMerchant, wechatpay.ReceiverPersonalOpenID}
	if mode == modePartner {
		types = append(types, wechatpay.ReceiverPersonalSubOpenID)
	}
	if !slices.Contains(types, req.Type) {
		return paramError("type", nonEmpty(req.Type), "must be one of "+strings.Join(types, ", "))
	}
	if req.Account == "" {
		return paramError("account", nil, "is required")
	}
	return nil
}

// deleteReceiver handles POST …/receivers/delete of both families.
func (s *Simulator) deleteReceiver(mode string) func(*apiRequest) *reply {
	return func(r *apiRequest) *reply {
		req, _, rep := decodeReceiver(mode, r.Body)
		if rep != nil {
			return rep
		}
		if rep := s.checkReceiverBody(mode, &req); rep != nil {
			return rep
		}
		key := receiverKey(receiverScope(mode, req.SubMchID), req.Type, req.Account)
		s.mu.Lock()
		_, ok := s.st.Sharing.Receivers[key]
		delete(s.st.Sharing.Receivers, key)
		s.mu.Unlock()
		if !ok {
			return errReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "分账接收方不存在: "+req.Type+" "+req.Account+" is not a receiver")
		}
		ans := wechatpay.ReceiverAnswer{Type: req.Type, Account: req.Account, SubMchID: req.SubMchID}
		return jsonReply(http.StatusOK, ans)
	}
}
