// Drives rippd (echo trunk) by the SPEC alone with node's http2 module:
// POST calls, both event byways, 10 reverse + 1 forward media byways with varint frames.
// Checks acks (seq, channel, receive time), RIPP-Media on reverse responses, the echoed
// payloads, the end of the call, and 404 for a byway after the end.
'use strict';
const assert = require('assert');
const p = require('./peer');

const [trunk, token, ca, key] = process.argv.slice(2);
const auth = { authorization: 'Bearer ' + token };

async function main() {
  const { session, trunkPath } = p.connect(trunk, ca);
  // 1. call creation
  const created = await p.request(session, {
    ':method': 'POST', ':path': trunkPath + '/calls?target=14085551212%40e164.arpa', ...auth,
    identity: p.identity(key, '14085550100', '14085551212'),
  });
  assert.strictEqual(created.status, 201, 'POST calls: ' + created.status + ' ' + created.body);
  const callUri = new URL(created.headers.location);
  assert.match(callUri.pathname, /\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
               'the call URI carries a version-4 UUID');
  const callPath = callUri.pathname;
  console.log('created', callUri.href);

  // 2. signaling byways
  const events = [];
  let evBuf = '';
  const get = session.request({ ':method': 'GET', ':path': callPath + '/event', ...auth });
  get.setEncoding('utf8');
  get.on('data', (d) => {
    evBuf += d;
    // the stream is "[" then comma-separated objects: take complete top-level objects
    let depth = 0, start = -1, inStr = false, esc = false;
    let consumed = 0;
    for (let i = 0; i < evBuf.length; i++) {
      const c = evBuf[i];
      if (inStr) { if (esc) esc = false; else if (c === '\\') esc = true; else if (c === '"') inStr = false; continue; }
      if (c === '"') inStr = true;
      else if (c === '{') { if (depth++ === 0) start = i; }
      else if (c === '}') { if (--depth === 0) { events.push(JSON.parse(evBuf.slice(start, i + 1))); consumed = i + 1; } }
    }
    evBuf = evBuf.slice(consumed);
  });
  const getStatus = new Promise((r) => get.on('response', (h) => r(h[':status'])));
  let getEnded = false;
  get.on('end', () => { getEnded = true; });
  const put = session.request({ ':method': 'PUT', ':path': callPath + '/event', ...auth, 'content-type': 'application/json' });
  put.write('[');
  assert.strictEqual(await getStatus, 200);
  await p.waitFor(() => events.some((e) => e.name === 'accepted'), 5000, 'accepted');
  for (const e of events) {
    assert.strictEqual(e.direction, 's2c');
    assert.strictEqual(e.call, callUri.href);
    assert.ok(Number.isInteger(e.seq) && Number.isInteger(e.timestamp));
  }

  // 3. ten reverse byways at once: request body = acks, response = RIPP-Media + frames
  const reverse = [];
  const rxFrames = new Map(); // seq -> payload
  for (let i = 0; i < 10; i++) {
    const r = session.request({ ':method': 'POST', ':path': callPath + '/media-reverse', ...auth });
    const st = { req: r, status: null, media: null, frames: 0 };
    r.on('response', (h) => {
      st.status = h[':status'];
      if (h['ripp-media']) st.media = p.parseRippMedia(h['ripp-media']);
    });
    r.on('data', p.frameParser((off, payload) => {
      assert.ok(st.media, 'frames before a RIPP-Media header');
      const seq = st.media['seq-base'] + off;
      rxFrames.set(seq, { codec: st.media.codec, payload: Buffer.from(payload) });
      st.frames++;
      r.write(p.ack(seq, st.media.channel || 1)); // ack every frame on its byway
    }));
    r.on('error', () => {});
    reverse.push(st);
  }

  // 4. one forward byway: 100 frames of PCMU, one in flight at a time (the blocking rule)
  const tsBase = Date.now();
  const fwd = session.request({
    ':method': 'POST', ':path': callPath + '/media-forward', ...auth,
    'ripp-media': `codec="audio/PCMU", seq-base=0, ts-base=${tsBase}, frame-ms=20, channel=1`,
  });
  const acks = [];
  fwd.on('data', p.ackParser((a) => acks.push({ ...a, at: Date.now() })));
  const sent = [];
  const t0 = Date.now();
  for (let seq = 0; seq < 100; seq++) {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) {
      const s = Math.round(8000 * Math.sin(2 * Math.PI * (300 + 7 * seq) * (seq * 160 + i) / 8000)) + 9000 * ((i & 1) ? 1 : -1);
      payload[i] = p.ulaw(s);
    }
    sent.push(payload);
    fwd.write(p.frame(seq, payload));
    await p.waitFor(() => acks.length > seq, 1000, 'ack of ' + seq);
    const wait = t0 + (seq + 1) * 20 - Date.now();
    if (wait > 0) await p.sleep(wait);
  }
  // acks: full seq, channel, plausible wall-clock receive time
  acks.forEach((a, i) => {
    assert.strictEqual(a.seq, i, 'ack seq');
    assert.strictEqual(a.channel, 1, 'ack channel');
    const rx = Number(a.rxTimeUs / 1000n);
    assert.ok(Math.abs(rx - a.at) < 2000, `ack receive time ${rx} vs ${a.at}`);
  });
  console.log('acks ok:', acks.length);

  await p.waitFor(() => [...rxFrames.values()].filter((f) => f.codec === 'audio/PCMU').length >= 90, 3000, 'echo');
  const withMedia = reverse.filter((r) => r.status === 200);
  assert.ok(withMedia.length >= 1, 'at least one reverse byway carried media');
  for (const r of withMedia) {
    assert.ok(r.media && typeof r.media.codec === 'string' && Number.isInteger(r.media['seq-base']) &&
              Number.isInteger(r.media['ts-base']) && Number.isInteger(r.media['frame-ms']),
              'RIPP-Media on the reverse response: ' + JSON.stringify(r.media));
  }
  // echoed payloads: G.711 decode + encode is exact, so our frames come back byte for byte
  const norm = (b) => Buffer.from(b.map((x) => (x === 0x7f ? 0xff : x)));
  const echoed = new Set([...rxFrames.values()].filter((f) => f.codec === 'audio/PCMU').map((f) => norm(f.payload).toString('hex')));
  const back = sent.filter((s) => echoed.has(norm(s).toString('hex'))).length;
  console.log(`echoed back exactly: ${back}/${sent.length}; reverse byways with media: ${withMedia.length}`);
  assert.ok(back >= 90, `only ${back} of 100 frames echoed exactly`);

  // 5. the caller ends the call
  put.write(JSON.stringify({ name: 'end', seq: 0, direction: 'c2s', timestamp: Date.now(), call: callUri.href,
                             reason: { protocol: 'Q.850', cause: 16, text: 'normal clearing' } }));
  put.end(']');
  fwd.end();
  reverse.forEach((r) => r.req.end());
  await p.waitFor(() => getEnded, 3000, 'the server to end the event stream');
  const state = await p.request(session, { ':method': 'GET', ':path': callPath, ...auth });
  assert.strictEqual(state.status, 200);
  const last = JSON.parse(state.body);
  assert.strictEqual(last.name, 'end', 'GET {call} gives the last event');
  assert.strictEqual(last.state, 'ended');
  assert.ok(last.stats && last.stats.rx_frames >= 100, 'stats in GET {call}: ' + JSON.stringify(last.stats));
  const after = await p.request(session, { ':method': 'POST', ':path': callPath + '/media-forward', ...auth,
    'ripp-media': `codec="audio/PCMU", seq-base=500, ts-base=${tsBase}, frame-ms=20` }, p.frame(0, Buffer.alloc(160, 0xff)));
  assert.strictEqual(after.status, 404, 'a byway after the end is 404');
  assert.strictEqual(after.headers['content-type'], 'application/problem+json');
  session.close();
  console.log('node client: all checks passed');
}

const timer = setTimeout(() => { console.error('FAIL: timeout'); process.exit(1); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); }, (e) => { console.error('FAIL:', e.stack || e); process.exit(1); });
