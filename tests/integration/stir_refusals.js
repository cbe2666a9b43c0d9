// Each STIR refusal of SPEC §6.4 at the HTTP level, from an independent client (node's http2
// and crypto, no ripp code): it crafts every bad PASSporT itself (RFC 8225 JWS, RFC 8224
// Identity value, RFC 8588 SHAKEN claims) and sends POST {trunk}/calls with it. For each:
// 403, application/problem+json, the expected sipCode, and one new line in rippd's log
// naming the refusal and its detail.
//   node stir_refusals.js TRUNK TOKEN CA DIR LOG
// DIR holds the ripp-sticert leaves good/, notn/ and other/ (other: a certificate for
// another number), published by rippd at {origin}/stir/NAME.pem.
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const p = require('./peer');

const [trunk, token, ca, dir, logPath] = process.argv.slice(2);
const ORIG = '14085550100', DEST = '14085551212';
const { session: h2, origin, trunkPath } = p.connect(trunk, ca);
const b64 = p.b64url;

function jws(o) {
  const key = crypto.createPrivateKey(fs.readFileSync(`${dir}/${o.leaf || 'good'}/key.pem`));
  const x5u = o.x5u || `${origin}/stir/${o.leaf || 'good'}.pem`;
  const header = b64(JSON.stringify({ alg: 'ES256', ppt: 'shaken', typ: 'passport', x5u }));
  const claims = b64(JSON.stringify({
    attest: 'A', dest: { tn: [o.dest || DEST] }, iat: Math.floor(Date.now() / 1000) + (o.iatShift || 0),
    orig: { tn: o.orig || ORIG }, origid: crypto.randomUUID() }));
  const sig = crypto.sign('sha256', Buffer.from(header + '.' + claims), { key, dsaEncoding: 'ieee-p1363' });
  if (o.tamper) sig[7] ^= 0x01;
  const payload = o.compact ? '' : claims; // RFC 8224 §5: compact form leaves the claims out
  return `${header}.${payload}.${b64(sig)};info=<${x5u}>;alg=ES256;ppt=shaken`;
}

const refusalLines = () =>
  fs.readFileSync(logPath, 'utf8').split('\n').filter((l) => / -> 403 (missing|bad)-identity: /.test(l));

async function refused(what, identity, sipCode) {
  const before = refusalLines().length;
  const h = { ':method': 'POST', ':path': `${trunkPath}/calls?target=${DEST}%40e164.arpa`,
              authorization: 'Bearer ' + token };
  if (identity !== null) h.identity = identity;
  const t0 = Date.now();
  const res = await p.request(h2, h);
  const ms = Date.now() - t0;
  assert.strictEqual(res.status, 403, `${what}: status ${res.status}; body ${res.body}`);
  assert.strictEqual(res.headers['content-type'], 'application/problem+json', what + ': content-type');
  const b = JSON.parse(res.body.toString());
  assert.strictEqual(b.status, 403, what + ': problem status');
  assert.strictEqual(b.sipCode, sipCode, `${what}: sipCode ${b.sipCode}, want ${sipCode} (${b.detail})`);
  assert.ok(typeof b.type === 'string' && typeof b.title === 'string' && b.detail, what + ': problem members');
  assert.strictEqual(res.headers.location, undefined, what + ': a refused creation has no Location');
  // rippd logs the refusal: exactly one new line, carrying the detail
  await p.waitFor(() => refusalLines().length > before, 3000, what + ': log line');
  const lines = refusalLines().slice(before);
  assert.strictEqual(lines.length, 1, `${what}: ${lines.length} new refusal lines`);
  assert.ok(lines[0].includes(b.detail), `${what}: log line ${lines[0]} lacks the detail ${b.detail}`);
  console.log(`ok ${what}: 403 sipCode ${b.sipCode} in ${ms} ms (${b.detail})`);
  return ms;
}

(async () => {
  // a TCP listener that accepts and never answers: an x5u host that hangs
  const held = [];
  const blackhole = net.createServer((s) => held.push(s));
  await new Promise((r) => blackhole.listen(0, '127.0.0.1', r));
  const bhPort = blackhole.address().port;
  const http = origin.replace(/^https:/, 'http:');
  try {
    await refused('missing Identity', null, 428);
    await refused('compact form', jws({ compact: true }), 438);
    await refused('bad signature', jws({ tamper: true }), 438);
    await refused('certificate without TNAuthList', jws({ leaf: 'notn' }), 437);
    await refused('TNAuthList not covering orig', jws({ leaf: 'other' }), 438);
    await refused('iat 61 s old', jws({ iatShift: -61 }), 438);
    // just after a second boundary, so that rippd's clock (whole seconds) cannot step to
    // the next second before it checks: 61 s ahead must not become 60 s
    await p.sleep(1000 - (Date.now() % 1000) + 5);
    await refused('iat 61 s ahead', jws({ iatShift: 61 }), 438);
    await refused('http:// x5u', jws({ x5u: `${http}/stir/good.pem` }), 436);
    const ms = await refused('unreachable x5u', jws({ x5u: `https://127.0.0.1:${bhPort}/stir/good.pem` }), 436);
    assert.ok(ms < 8000, `unreachable x5u: refused after ${ms} ms, not within the fetch timeout`);
    assert.ok(held.length >= 1, 'unreachable x5u: rippd never tried the x5u host');
    await refused('dest not the target', jws({ dest: '14085559999' }), 438);
    console.log('stir refusals: 10 checked');
  } finally {
    for (const s of held) s.destroy();
    blackhole.close();
    h2.close();
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
