// Mints the access tokens of t/access.t with real JWT libraries, never the
// module's code: jsonwebtoken for tokens as applications make them, and
// jws (jsonwebtoken's own JWS layer) for those jsonwebtoken refuses to
// make, whose header or payload a test chooses freely.
//
//   node jwt_mint.js SPECS.json     one token a line, in the specs' order
//
// A spec: { "key": base64url, "payload": {...} or "text",
//           "options": jsonwebtoken's sign options }           jsonwebtoken
//         { "jws": 1, "key": ..., "header": {...}, "payload": ... }   jws
//         { "hmac": 1, "key": ..., "header": {...}, "payload": ... }
//           a header naming any alg, signed with HMAC-SHA256 all the same

'use strict';

const fs = require('fs');
const path = require('path');
const sdk = path.join(__dirname, '..', 'sdk', 'node_modules');
const jwt = require(path.join(sdk, 'jsonwebtoken'));
const jws = require(path.join(sdk, 'jws'));
const crypto = require('crypto');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

const specs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

for (const s of specs) {
    const key = s.key === undefined ? null : Buffer.from(s.key, 'base64url');
    const payload = typeof s.payload === 'string'
                    ? s.payload : JSON.stringify(s.payload);
    let token;

    if (s.hmac) {
        const input = b64url(JSON.stringify(s.header)) + '.'
                      + b64url(payload);
        token = input + '.'
                + b64url(crypto.createHmac('sha256', key).update(input)
                                                         .digest());
    } else if (s.jws) {
        token = jws.sign({ header: s.header, payload: payload,
                           secret: key || '' });
    } else {
        token = jwt.sign(s.payload, key || '', s.options || {});
    }

    process.stdout.write(token + '\n');
}
