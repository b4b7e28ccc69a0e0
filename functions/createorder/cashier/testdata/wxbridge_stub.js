// A stand-in for WeChat's WeixinJSBridge, injected before the page's own scripts.
// getBrandWCPayRequest sends the pay-sign object to the test server, which verifies
// paySign with the merchant's public key; it answers ok only when the signature is
// good. It does NOT pay: the test pays through the simulator, so the page must wait
// for the server to confirm. As in WeChat, the bridge appears after the page has
// loaded and announces itself with WeixinJSBridgeReady.
(function () {
  var bridge = {
    invoke: function (name, params, cb) {
      window.__wxInvoked = (window.__wxInvoked || 0) + 1;
      if (name !== 'getBrandWCPayRequest') {
        cb({ err_msg: name + ':fail' });
        return;
      }
      fetch('/test/jsapi', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params) })
        .then(function (r) { return r.json(); })
        .then(function (j) { cb({ err_msg: j.ok ? 'get_brand_wcpay_request:ok' : 'get_brand_wcpay_request:fail' }); },
          function () { cb({ err_msg: 'get_brand_wcpay_request:fail' }); });
    }
  };
  document.addEventListener('DOMContentLoaded', function () {
    setTimeout(function () {
      window.WeixinJSBridge = bridge;
      document.dispatchEvent(new Event('WeixinJSBridgeReady'));
    }, 200);
  });
})();
