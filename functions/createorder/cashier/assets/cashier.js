// wxpay cashier: WeixinJSBridge payment (JSAPI) and live status. Never trusts the
// front end: get_brand_wcpay_request:ok only starts "confirming", and the page turns
// to paid when the server says so.
(function () {
  'use strict';
  var main = document.getElementById('cashier');
  if (!main) { return; }
  var note = document.getElementById('note');
  var statusURL = main.getAttribute('data-status');
  var timer = 0;
  var started = Date.now();

  function show(v) {
    main.setAttribute('data-view', v);
    var s = main.querySelectorAll('section[data-v]');
    for (var i = 0; i < s.length; i++) { s[i].hidden = s[i].getAttribute('data-v') !== v; }
  }
  function say(zh, en) { note.textContent = zh ? zh + ' · ' + en : ''; }

  // poll asks the server every `every` ms until paid or closed (or until `until`).
  function poll(every, until) {
    clearTimeout(timer);
    var again = function (d) { timer = setTimeout(function () { poll(every, until); }, d); };
    fetch(statusURL, { cache: 'no-store', credentials: 'same-origin' }).then(function (r) {
      if (r.status === 403) { say('链接已过期，请刷新页面', 'The link has expired: reload the page'); return null; }
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.json();
    }).then(function (s) {
      if (!s) { return; }
      if (s.view === 'paid' || s.view === 'closed' || s.view === 'review') { say('', ''); show(s.view); return; }
      if (until && Date.now() > until) {
        say('仍在确认，请稍后刷新页面', 'Still confirming: reload the page in a moment');
        return;
      }
      // A page left open: after ten minutes, ask every ten seconds.
      again(Date.now() - started > 600000 ? Math.max(every, 10000) : every);
    }, function () { again(every * 2); });
  }

  var mode = main.getAttribute('data-mode');
  var view = main.getAttribute('data-view');

  if (mode === 'jsapi' && view === 'pay') {
    var btn = document.getElementById('pay-btn');
    var params = JSON.parse(main.getAttribute('data-jsapi'));
    var invoke = function () {
      /* global WeixinJSBridge */
      WeixinJSBridge.invoke('getBrandWCPayRequest', params, function (res) {
        btn.disabled = false;
        var m = res && res.err_msg;
        if (m === 'get_brand_wcpay_request:ok') {
          show('confirming');
          say('', '');
          poll(1500, Date.now() + 120000);
        } else if (m === 'get_brand_wcpay_request:cancel') {
          say('已取消付款', 'Payment cancelled');
        } else {
          say('付款未完成，请重试', 'Payment did not complete, try again (' + (m || 'no answer') + ')');
        }
      });
    };
    btn.addEventListener('click', function () {
      btn.disabled = true;
      if (typeof WeixinJSBridge === 'undefined') {
        say('正在打开微信支付…', 'Opening WeChat Pay…');
        document.addEventListener('WeixinJSBridgeReady', invoke, { once: true });
      } else {
        invoke();
      }
    });
  }

  if (mode === 'native' && view === 'pay') {
    poll(2000, 0);
  }
})();
