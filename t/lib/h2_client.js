// An HTTP/2 client as browsers are: every request a stream of one
// connection, all of them at once.  Reads a JSON array of { path, method,
// headers, body, reset_ms } on stdin; a request with reset_ms is cancelled
// (RST_STREAM) that many milliseconds after it is sent.  When every stream
// has ended, sends one GET of FINAL_PATH on the same connection, and
// prints a JSON object: { answers: [ { status, headers, body, error,
// took } in the order asked ], final: { status, ... } }, took the
// milliseconds from the start to the stream's end.
//
//   node h2_client.js http://127.0.0.1:PORT FINAL_PATH < requests.json

'use strict';

const http2 = require('http2');

const [origin, finalPath] = process.argv.slice(2);
const start = Date.now();

function ask(session, r) {
    return new Promise((resolve) => {
        const answer = { status: 0, headers: {}, body: '', error: null };
        const stream = session.request(Object.assign({
            ':method': r.method || 'GET',
            ':path': r.path,
        }, r.headers || {}), { endStream: !r.body });

        if (r.body) {
            stream.end(r.body);
        }

        stream.setEncoding('utf8');
        stream.on('response', (headers) => {
            answer.status = headers[':status'];
            for (const name of Object.keys(headers)) {
                if (name[0] !== ':') {
                    answer.headers[name] = String(headers[name]);
                }
            }
        });
        stream.on('data', (chunk) => { answer.body += chunk; });
        stream.on('error', (err) => {
            answer.error = err.code || err.message;
        });
        stream.on('close', () => {
            answer.took = Date.now() - start;
            resolve(answer);
        });

        if (r.reset_ms !== undefined) {
            setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL),
                       r.reset_ms);
        }
    });
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
    const session = http2.connect(origin);
    session.on('error', (err) => {
        console.log(JSON.stringify({ error: err.code || err.message }));
        process.exit(1);
    });

    const answers = await Promise.all(JSON.parse(input)
                                      .map((r) => ask(session, r)));
    const final = await ask(session, { path: finalPath });

    console.log(JSON.stringify({ answers, final }));
    session.close();
});
