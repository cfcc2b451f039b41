// The official COS SDK's XML to JSON conversion (cos-nodejs-sdk-v5,
// util.xml2json) of each file named, one JSON text a line, with the two
// differences the module documents: the names given with --array are
// always arrays, and character references are decoded.
//
//   node xml2json.js [--array NAME ...] FILE ...

'use strict';

const fs = require('fs');
const util = require('cos-nodejs-sdk-v5/sdk/util.js');

const arrays = new Set();
const files = [];
const args = process.argv.slice(2);

for (let i = 0; i < args.length; i++) {
    if (args[i] === '--array') {
        arrays.add(args[++i]);
    } else {
        files.push(args[i]);
    }
}

function decodeRefs(s) {
    return s.replace(/&#(x[0-9a-fA-F]+|[0-9]+);/g, (m, n) =>
        String.fromCodePoint(n[0] === 'x' ? parseInt(n.slice(1), 16)
                                          : parseInt(n, 10)));
}

function fix(v) {
    if (typeof v === 'string') {
        return decodeRefs(v);
    }
    if (Array.isArray(v)) {
        return v.map(fix);
    }
    if (v && typeof v === 'object') {
        const out = {};
        for (const k of Object.keys(v)) {
            const x = fix(v[k]);
            out[k] = arrays.has(k) && !Array.isArray(x) ? [x] : x;
        }
        return out;
    }
    return v;
}

for (const f of files) {
    const json = util.xml2json(fs.readFileSync(f, 'utf8'));
    process.stdout.write(JSON.stringify(fix(json)) + '\n');
}
