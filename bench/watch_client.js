// A crowd of browsers for bench/watch.pl, on raw sockets in one event loop
// (epoll): many connections, each one client, over JOBS ticking jobs
// (tick<S>x<N> of t/emulator/ci-emulator.pl, N = 1..JOBS, whose steps
// begin at a time the client can compute, so that the delay from a change
// in the emulator to its arrival here is known).
//
//   node bench/watch_client.js MODE PORT PATH CLIENTS JOBS S SECONDS [MS]
//
// MODE sse       each client one event stream (Accept: text/event-stream)
//                on PATH<job>
//      poll      each client a GET with Accept: application/json every MS
//                milliseconds on a keepalive connection
//      longpoll  each client a GET, then again at once with If-None-Match
//                and Prefer: wait=60 after each answer
// PATH is the lookup's path up to the job id, e.g. /ci/jobs/tick4x; the
// client c watches job c % JOBS + 1 (PATH a job prefix without "tick":
// that job, unchanging, for the idle figures).
//
// Prints "ready" once every client is connected (and has its first
// answer), then measures for SECONDS and prints one JSON line: the
// changes seen and their delays (p50, p99, max, in ms), how many of them
// went back to an older step (told out of order), the requests sent,
// the bytes received, statuses; then holds its connections until stdin
// closes.

'use strict';

const net = require('net');

const [mode, port, path, clients, jobs, step, seconds, every] =
    process.argv.slice(2);
const CLIENTS = Number(clients);
const JOBS = Number(jobs);
const STEP = Number(step) * 1000;
const SECONDS = Number(seconds);
const EVERY = Number(every || 2000);

let measuring = false;
let requests = 0;
let bytes = 0;
let changes = 0;
let failures = 0;
let backwards = 0;
const delays = [];
const statuses = {};
let ready = 0;

// when job n's step p (mod 100) began, at the latest before now
function changedAt(n, p, now) {
    const offset = n * 10 * (STEP / 1000) % STEP;
    let k = Math.floor((now - offset) / STEP);
    k -= ((k - p) % 100 + 100) % 100;
    return offset + k * STEP;
}

function seen(client, body, now) {
    const m = /"JobId":"[a-z]*\d*x(\d+)".*?"Progress":"?(\d+)/.exec(body);
    if (!m) {
        return;
    }
    const p = Number(m[2]);
    if (client.progress !== undefined && client.progress !== p) {
        if (measuring) {
            // a step older than the one the client had: told out of order
            if ((client.progress - p + 100) % 100 < 50) {
                backwards++;
            }
            changes++;
            delays.push(now - changedAt(Number(m[1]), p, now));
        }
    }
    client.progress = p;
}

// one client: a connection and an HTTP/1.1 response parser
function Client(i) {
    this.job = path + (i % JOBS + 1);
    this.etag = null;
    this.first = true;
    this.connect();
}

Client.prototype.connect = function () {
    this.buf = '';
    this.state = 'head';
    this.sock = net.connect(Number(port), '127.0.0.1');
    this.sock.setNoDelay(true);
    this.sock.setEncoding('latin1');
    this.sock.on('connect', () => this.send());
    this.sock.on('data', d => {
        if (measuring) {
            bytes += Buffer.byteLength(d, 'latin1');
        }
        this.buf += d;
        this.parse();
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
        failures++;
        setTimeout(() => this.connect(), 1000);
    });
};

Client.prototype.send = function () {
    let h = 'GET ' + this.job + ' HTTP/1.1\r\nHost: bench\r\n';
    if (mode === 'sse') {
        h += 'Accept: text/event-stream\r\n';
    } else {
        h += 'Accept: application/json\r\n';
        if (mode === 'longpoll' && this.etag) {
            h += 'If-None-Match: ' + this.etag + '\r\nPrefer: wait=60\r\n';
        }
    }
    if (measuring) {
        requests++;
    }
    this.sock.write(h + '\r\n');
};

Client.prototype.parse = function () {
    for (;;) {
        if (this.state === 'head') {
            const end = this.buf.indexOf('\r\n\r\n');
            if (end < 0) {
                return;
            }
            const head = this.buf.slice(0, end);
            this.buf = this.buf.slice(end + 4);
            this.status = Number(head.slice(9, 12));
            if (measuring) {
                statuses[this.status] = (statuses[this.status] || 0) + 1;
            }
            const etag = /\r\netag: *(\S+)/i.exec(head);
            if (etag) {
                this.etag = etag[1];
            }
            const len = /\r\ncontent-length: *(\d+)/i.exec(head);
            this.chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
            this.left = len ? Number(len[1]) : (this.chunked ? 0 : -1);
            this.body = '';
            this.events = '';
            this.state = this.chunked ? 'size' : 'body';
            if (mode === 'sse' && this.status === 200 && this.first) {
                this.first = false;
                ready++;
            }
        }

        if (this.state === 'size') {
            const end = this.buf.indexOf('\r\n');
            if (end < 0) {
                return;
            }
            this.left = parseInt(this.buf.slice(0, end), 16);
            this.buf = this.buf.slice(end + 2);
            if (this.left === 0) {
                this.buf = this.buf.slice(2);
                this.done();
                continue;
            }
            this.state = 'chunk';
        }

        if (this.state === 'chunk' || this.state === 'body') {
            if (!this.buf.length) {
                return;
            }
            const n = this.left < 0 ? this.buf.length
                                    : Math.min(this.left, this.buf.length);
            this.data(this.buf.slice(0, n));
            this.buf = this.buf.slice(n);
            if (this.left >= 0) {
                this.left -= n;
            }
            if (this.left === 0) {
                if (this.state === 'chunk') {
                    if (this.buf.length < 2) {
                        this.state = 'crlf';
                        return;
                    }
                    this.buf = this.buf.slice(2);
                    this.state = 'size';
                } else {
                    this.done();
                }
            }
            continue;
        }

        if (this.state === 'crlf') {
            if (this.buf.length < 2) {
                return;
            }
            this.buf = this.buf.slice(2);
            this.state = 'size';
        }
    }
};

Client.prototype.data = function (d) {
    if (mode !== 'sse') {
        this.body += d;
        return;
    }
    this.events += d;
    let end;
    while ((end = this.events.indexOf('\n\n')) >= 0) {
        const ev = this.events.slice(0, end);
        this.events = this.events.slice(end + 2);
        if (ev.startsWith('event: job')) {
            seen(this, ev, Date.now());
        }
    }
};

// a whole answer (poll and longpoll)
Client.prototype.done = function () {
    this.state = 'head';
    if (mode === 'sse') {
        return;
    }
    if (this.status === 200) {
        seen(this, this.body, Date.now());
    }
    if (this.first) {
        this.first = false;
        ready++;
        if (mode === 'poll') {
            setTimeout(() => this.tick(), Math.random() * EVERY);
            return;
        }
    }
    if (mode === 'longpoll') {
        this.send();
    }
};

Client.prototype.tick = function () {
    this.send();
    setTimeout(() => this.tick(), EVERY);
};

function percentile(sorted, q) {
    if (!sorted.length) {
        return null;
    }
    return sorted[Math.min(sorted.length - 1,
                           Math.floor(q * sorted.length))];
}

const all = [];
let opened = 0;
(function open() {
    for (let i = 0; i < 200 && opened < CLIENTS; i++) {
        all.push(new Client(opened++));
    }
    if (opened < CLIENTS) {
        setTimeout(open, 20);
    }
})();

const started = Date.now();
const wait = setInterval(() => {
    if (ready < CLIENTS && Date.now() - started < 300000) {
        return;
    }
    clearInterval(wait);
    failures = 0;
    console.log('ready ' + ready);
    measuring = true;
    setTimeout(() => {
        measuring = false;
        delays.sort((a, b) => a - b);
        console.log(JSON.stringify({
            mode: mode, clients: CLIENTS, ready: ready, seconds: SECONDS,
            changes: changes, requests: requests, bytes: bytes,
            statuses: statuses, reconnects: failures, backwards: backwards,
            p50: percentile(delays, 0.5), p99: percentile(delays, 0.99),
            max: delays.length ? delays[delays.length - 1] : null,
        }));
    }, SECONDS * 1000);
}, 100);

process.stdin.on('end', () => process.exit(0));
process.stdin.on('data', () => {});
process.stdin.resume();
