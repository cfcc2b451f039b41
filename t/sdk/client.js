// The official COS SDK (cos-nodejs-sdk-v5) as a client, the way Tencent's
// CI samples call it: cos.request({ Method: 'GET', Url, Query }).  Reads a
// JSON array of { path, query } on stdin, asks BASE for each in turn and
// prints one JSON text a line: the SDK's parsed result or error, and the
// RequestId it found.
//
//   node client.js BASE HOST SECRET_ID SECRET_KEY < requests.json

'use strict';

const COS = require('cos-nodejs-sdk-v5');

const [base, host, secretId, secretKey] = process.argv.slice(2);

const cos = new COS({
    SecretId: secretId,
    SecretKey: secretKey,
    Protocol: 'http:',
    AutoSwitchHost: false,
});

const domainCos = new COS({
    SecretId: secretId,
    SecretKey: secretKey,
    Protocol: 'http:',
    Domain: base.replace(/^https?:\/\//, ''),
    AutoSwitchHost: false,
});

function ask(r) {
    return new Promise((resolve) => {
        const c = r.key ? domainCos : cos;
        const params = r.key
            ? { Method: 'GET', Bucket: 'examplebucket-1250000000',
                Region: 'ap-beijing', Key: r.key }
            : { Method: 'GET', Url: base + r.path };
        params.Query = r.query || {};
        params.Headers = { Host: host };
        c.request(params, (err, data) => {
            if (err) {
                resolve({ error: { statusCode: err.statusCode,
                                   code: err.code,
                                   body: err.error,
                                   RequestId: err.RequestId } });
            } else {
                resolve({ statusCode: data.statusCode,
                          Response: data.Response,
                          RequestId: data.RequestId });
            }
        });
    });
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => {
    for (const r of JSON.parse(input)) {
        process.stdout.write(JSON.stringify(await ask(r)) + '\n');
    }
});
