// A client that asks and never reads: one HTTP/2 connection whose streams
// have a window of zero (SETTINGS_INITIAL_WINDOW_SIZE 0), so that nginx
// can send the answers' headers but none of their bodies.  Opens COUNT
// streams for PATH at once; once each has its response headers (or after
// 30 s), prints one JSON line { statuses: { "200": n, ... }, retry_after:
// n (503s with a Retry-After) }, then holds the connection, unread, until
// its stdin closes.
//
//   node h2_hold.js http://127.0.0.1:PORT PATH COUNT

'use strict';

const http2 = require('http2');

const [origin, path, count] = process.argv.slice(2);

const session = http2.connect(origin, {
    settings: { initialWindowSize: 0 },
});
session.on('error', () => {});

const statuses = {};
let retryAfter = 0;
let answered = 0;
let printed = false;

function report() {
    if (printed) {
        return;
    }
    printed = true;
    console.log(JSON.stringify({ statuses, retry_after: retryAfter }));
}

for (let i = 0; i < Number(count); i++) {
    const stream = session.request({ ':path': path });
    stream.pause();
    stream.on('error', () => {});
    stream.on('response', (headers) => {
        const status = headers[':status'];
        statuses[status] = (statuses[status] || 0) + 1;
        if (status === 503 && headers['retry-after'] !== undefined) {
            retryAfter++;
        }
        if (++answered === Number(count)) {
            report();
        }
    });
}

setTimeout(report, 30000);

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
