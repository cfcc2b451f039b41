// The COS request signature (q-sign-algorithm=sha1) in njs, computed for
// every request: what a gateway built from stock nginx and njs does.  Used
// by bench/run.pl as the "njs peer" next to the module; it signs whatever
// path it is given, which is exactly why the module validates first.
//
//   js_import cos from cos_sign.js;
//   js_set $cos_authorization cos.authorization;
//
// with $cos_secret_id, $cos_secret_key and $cos_host set in the location.

var crypto = require('crypto');

// UrlEncode as COS does: everything but A-Z a-z 0-9 - _ . ~
function encode(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, function (c) {
        return '%' + c.charCodeAt(0).toString(16).toUpperCase();
    });
}

function hmac(key, data) {
    return crypto.createHmac('sha1', key).update(data).digest('hex');
}

function authorization(r) {
    var v = r.variables;
    var now = Math.floor(Date.now() / 1000);
    var keyTime = (now - 60) + ';' + (now + 900);

    var params = Object.keys(r.args).map(function (name) {
        return [encode(name.toLowerCase()), encode(r.args[name])];
    }).sort(function (a, b) {
        return a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0);
    });

    var httpString = 'get\n' + r.uri + '\n'
        + params.map(function (p) { return p[0] + '=' + p[1]; }).join('&')
        + '\nhost=' + encode(v.cos_host) + '\n';

    var stringToSign = 'sha1\n' + keyTime + '\n'
        + crypto.createHash('sha1').update(httpString).digest('hex') + '\n';

    return 'q-sign-algorithm=sha1&q-ak=' + v.cos_secret_id
        + '&q-sign-time=' + keyTime + '&q-key-time=' + keyTime
        + '&q-header-list=host'
        + '&q-url-param-list='
        + params.map(function (p) { return p[0]; }).join(';')
        + '&q-signature='
        + hmac(hmac(v.cos_secret_key, keyTime), stringToSign);
}

export default { authorization };
