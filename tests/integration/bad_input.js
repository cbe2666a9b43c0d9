// Bad input, one check each, answered with the right status and a problem+json body.
// Run while a healthy call is in progress on the same rippd (see bad_input.sh).
'use strict';
const assert = require('assert');
const p = require('./peer');

const [trunk, token, ca, key, otherToken] = process.argv.slice(2);
const auth = { authorization: 'Bearer ' + token };
let checks = 0;

function problem(res, status, what) {
  assert.strictEqual(res.status, status, `${what}: status ${res.status}, want ${status}; body ${res.body}`);
  assert.strictEqual(res.headers['content-type'], 'application/problem+json', what + ': content-type');
  const b = JSON.parse(res.body.toString());
  for (const k of ['type', 'title', 'status', 'detail'])
    assert.ok(b[k] !== undefined, `${what}: problem member ${k} missing: ${res.body}`);
  assert.strictEqual(b.status, status, what + ': problem status');
  checks++;
  console.log(`ok ${what}: ${status} ${b.type} (${b.detail})`);
  return b;
}

// Streams a body, then ends it; resolves with the response.
function stream(session, headers, chunks, endStream = true) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const got = [];
    let h = null;
    req.on('response', (x) => { h = x; });
    req.on('data', (c) => got.push(c));
    req.on('end', () => resolve({ status: h && h[':status'], headers: h || {}, body: Buffer.concat(got) }));
    req.on('error', (e) => resolve({ status: h && h[':status'], headers: h || {}, body: Buffer.concat(got), error: e }));
    for (const c of chunks) req.write(c);
    if (endStream) req.end();
  });
}

async function newCall(session, trunkPath) {
  const r = await p.request(session, { ':method': 'POST', ':path': trunkPath + '/calls?target=14085551212%40e164.arpa',
                                       ...auth, identity: p.identity(key, '14085550100', '14085551212') });
  assert.strictEqual(r.status, 201, 'call creation ' + r.status + ' ' + r.body);
  return new URL(r.headers.location).pathname;
}

async function main() {
  const { session, trunkPath } = p.connect(trunk, ca);
  const caps = trunkPath + '/capAdv';
  problem(await p.request(session, { ':method': 'GET', ':path': caps }), 401, 'no token');
  problem(await p.request(session, { ':method': 'GET', ':path': caps, authorization: 'Bearer not-a-token' }), 401, 'wrong token');
  problem(await p.request(session, { ':method': 'GET', ':path': caps, authorization: 'Bearer ' + otherToken }), 403, 'token of another trunk');
  problem(await p.request(session, { ':method': 'POST', ':path': trunkPath + '/calls?target=14085551212%40e164.arpa', ...auth }),
          403, 'call without Identity');
  problem(await p.request(session, { ':method': 'POST', ':path': trunkPath + '/calls?target=14085551212%40e164.arpa', ...auth,
                                     identity: 'e30.e30.AAAA;info=<https://x.example/c>' }), 403, 'call with a bad Identity');
  problem(await p.request(session, { ':method': 'POST', ':path': trunkPath + '/calls', ...auth,
                                     identity: p.identity(key, '1', '2') }), 400, 'call without target');

  const call = await newCall(session, trunkPath);
  const mh = (base) => ({ 'ripp-media': `codec="audio/PCMU", seq-base=${base}, ts-base=${Date.now()}, frame-ms=20` });
  problem(await p.request(session, { ':method': 'GET', ':path': call, authorization: 'Bearer ' + otherToken }), 403, 'call of another trunk');
  problem(await stream(session, { ':method': 'PUT', ':path': call + '/event', ...auth }, ['[{"name":"end",,}']), 400, 'malformed event');
  problem(await stream(session, { ':method': 'PUT', ':path': call + '/event', ...auth },
                       ['[{"name":"tnt","tntDestination":"' + 'x'.repeat(70 * 1024) + '"}'], false), 413, 'event over 64 KiB');
  const fwd = { ':method': 'POST', ':path': call + '/media-forward', ...auth };
  problem(await stream(session, { ...fwd, ...mh(0) }, [Buffer.from([0x00, 0x00])]), 400, 'frame of length 0');
  problem(await stream(session, { ...fwd, ...mh(0) }, [Buffer.concat([p.varint(0), p.varint(1501), Buffer.alloc(1501, 0xff)])]),
          400, 'frame over 1500 bytes');
  problem(await stream(session, { ...fwd, ...mh(0) }, [Buffer.from([0x00, 0x80, 0x00])]), 400, 'varint running past the data');
  problem(await stream(session, { ...fwd, ...mh(0) }, [Buffer.from([0x00, 0x10, 0x01, 0x02])]), 400, 'frame running past the data');
  problem(await p.request(session, { ...fwd, 'ripp-media': 'codec=audio/PCMU;;, seq-base=x' }), 400, 'unparsable RIPP-Media');
  problem(await p.request(session, { ...fwd, 'ripp-media': 'codec="audio/G729", seq-base=0, ts-base=0, frame-ms=20' }),
          415, 'codec not accepted');
  problem(await p.request(session, { ':method': 'POST', ':path': call + '/media-reverse', ...auth, ...mh(0) }),
          400, 'RIPP-Media on a reverse byway');
  // twenty forward byways are allowed; the 21st is refused while they are open
  const open = [];
  for (let i = 0; i < 20; i++) {
    const r = session.request({ ...fwd, ...mh(i) });
    const st = { acked: false };
    r.on('data', () => { st.acked = true; });
    r.on('error', () => {});
    r.write(p.frame(0, Buffer.alloc(160, 0x55)));
    open.push({ r, st });
  }
  await p.waitFor(() => open.every((o) => o.st.acked), 5000, 'twenty forward byways acked');
  problem(await p.request(session, { ...fwd, ...mh(30) }), 429, '21st forward byway');
  open.forEach((o) => o.r.end());

  problem(await p.request(session, { ':method': 'GET', ':path': '/call/00000000-0000-4000-8000-000000000000/event', ...auth }),
          404, 'unknown call URI');
  problem(await p.request(session, { ':method': 'DELETE', ':path': call, ...auth }), 405, 'DELETE on a call');
  const del = await p.request(session, { ':method': 'DELETE', ':path': call, ...auth });
  assert.strictEqual(del.headers.allow, 'GET', 'Allow: GET on 405');

  // end the call, then any byway is 404
  await stream(session, { ':method': 'PUT', ':path': call + '/event', ...auth },
               ['[' + JSON.stringify({ name: 'end', seq: 0, direction: 'c2s', timestamp: Date.now() }) + ']']);
  await p.sleep(100);
  problem(await p.request(session, { ...fwd, ...mh(0) }), 404, 'forward byway after end');
  problem(await p.request(session, { ':method': 'POST', ':path': call + '/media-reverse', ...auth }), 404, 'reverse byway after end');
  problem(await p.request(session, { ':method': 'GET', ':path': call + '/event', ...auth }), 404, 'event byway after end');
  session.close();
  console.log(`bad input: ${checks} checks passed`);
}

const timer = setTimeout(() => { console.error('FAIL: timeout'); process.exit(1); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); }, (e) => { console.error('FAIL:', e.stack || e); process.exit(1); });
