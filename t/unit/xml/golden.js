// Makes the expected JSON of each XML file named, with fast-xml-parser
// (npm, not the module's converter), and writes it beside the file as
// NAME.json:
//
//   mkdir -p /tmp/fxp && (cd /tmp/fxp && npm install fast-xml-parser)
//   NODE_PATH=/tmp/fxp/node_modules node t/unit/xml/golden.js t/unit/xml/*.xml
//
// fast-xml-parser is run with the options the official COS SDK uses
// (cos-nodejs-sdk-v5/sdk/util.js), then only what the module's contract
// says differs is applied afterwards:
//
// - "#text" keys are deleted, as the SDK's deleteTextNodes() does: the text
//   beside child elements (whitespace between elements, mixed content) is
//   not part of the JSON;
// - names given with --array (default: JobsDetail) are always arrays;
// - character references (&#20013; &#x4e2d;) are decoded, which
//   fast-xml-parser leaves as they are.

'use strict';

const fs = require('fs');
const { XMLParser } = require('fast-xml-parser');

const parser = new XMLParser({
    ignoreAttributes: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    parseTagValue: false,
    trimValues: false,
});

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

if (arrays.size === 0) {
    arrays.add('JobsDetail');
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
    const out = {};
    for (const k of Object.keys(v)) {
        if (k === '#text') {
            continue;
        }
        const x = fix(v[k]);
        out[k] = arrays.has(k) && !Array.isArray(x) ? [x] : x;
    }
    return out;
}

for (const f of files) {
    const json = fix(parser.parse(fs.readFileSync(f, 'utf8')));
    fs.writeFileSync(f.replace(/\.xml$/, '.json'), JSON.stringify(json) + '\n');
}
