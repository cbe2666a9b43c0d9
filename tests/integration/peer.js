// An independent RIPP peer written from the SPEC alone on node's built-in http2 module:
// no ripp code is used. Shared by node_client.js and bad_input.js.
'use strict';
const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

// RFC 8224 full-form Identity value with an ES256 PASSporT (RFC 8225).
function identity(keyPath, orig, dest) {
  const key = crypto.createPrivateKey(fs.readFileSync(keyPath));
  const x5u = 'https://localhost/stir/cert.pem';
  const header = b64url(JSON.stringify({ alg: 'ES256', ppt: 'shaken', typ: 'passport', x5u }));
  const claims = b64url(JSON.stringify({ attest: 'A', dest: { tn: [dest] }, iat: Math.floor(Date.now() / 1000),
                                         orig: { tn: orig }, origid: crypto.randomUUID() }));
  const sig = crypto.sign('sha256', Buffer.from(header + '.' + claims), { key, dsaEncoding: 'ieee-p1363' });
  return `${header}.${claims}.${b64url(sig)};info=<${x5u}>;alg=ES256;ppt=shaken`;
}

// QUIC variable-length integers (RFC 9000 §16).
function varint(v) {
  if (v < 64) return Buffer.from([v]);
  if (v < 16384) return Buffer.from([0x40 | (v >> 8), v & 0xff]);
  if (v < 2 ** 30) { const b = Buffer.alloc(4); b.writeUInt32BE(v); b[0] |= 0x80; return b; }
  const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); b[0] |= 0xc0; return b;
}
// Returns [value, bytes] or null when buf is too short.
function readVarint(buf, off) {
  if (off >= buf.length) return null;
  const len = 1 << (buf[off] >> 6);
  if (off + len > buf.length) return null;
  let v = BigInt(buf[off] & 0x3f);
  for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(buf[off + i]);
  return [Number(v), len];
}
function frame(seqOffset, payload) { return Buffer.concat([varint(seqOffset), varint(payload.length), payload]); }

// Incremental parsers: feed chunks, get records.
function frameParser(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const a = readVarint(buf, 0); if (!a) break;
      const b = readVarint(buf, a[1]); if (!b) break;
      const start = a[1] + b[1];
      if (buf.length < start + b[0]) break;
      onFrame(a[0], buf.subarray(start, start + b[0]));
      buf = buf.subarray(start + b[0]);
    }
  };
}
function ackParser(onAck) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const a = readVarint(buf, 0); if (!a) break;
      const b = readVarint(buf, a[1]); if (!b) break;
      const off = a[1] + b[1];
      if (buf.length < off + 8) break;
      onAck({ seq: a[0], channel: b[0], rxTimeUs: buf.readBigUInt64BE(off) });
      buf = buf.subarray(off + 8);
    }
  };
}
function ack(seq, channel) {
  const t = Buffer.alloc(8); t.writeBigUInt64BE(BigInt(Date.now()) * 1000n);
  return Buffer.concat([varint(seq), varint(channel), t]);
}

// G.711 µ-law encoder (ITU-T G.711, with the usual bias of 0x84).
function ulaw(sample) {
  const BIAS = 0x84, CLIP = 32635;
  let sign = (sample >> 8) & 0x80;
  if (sign) sample = -sample;
  if (sample > CLIP) sample = CLIP;
  sample += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (sample & mask) === 0 && exp > 0; exp--, mask >>= 1);
  const mant = (sample >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

// RFC 8941 dictionary, enough for RIPP-Media: key=value pairs, strings quoted.
function parseRippMedia(v) {
  const out = {};
  for (const part of v.split(',')) {
    const m = part.trim().match(/^([a-z*][a-z0-9_.*-]*)(?:=("(?:[^"\\]|\\.)*"|[^;]*))?/);
    if (!m) return null;
    let val = m[2] === undefined ? true : m[2];
    if (typeof val === 'string' && val.startsWith('"')) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (typeof val === 'string' && /^-?\d+$/.test(val)) val = Number(val);
    out[m[1]] = val;
  }
  return out;
}

function connect(trunk, caPath) {
  const u = new URL(trunk);
  const session = http2.connect(u.origin, { ca: fs.readFileSync(caPath) });
  session.on('error', (e) => { console.error('session error', e.message); });
  return { session, origin: u.origin, trunkPath: u.pathname };
}

// A request; resolves with {status, headers, body} once the response has ended.
function request(session, headers, body) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks = [];
    let resp = null;
    req.on('response', (h) => { resp = h; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve({ status: resp && resp[':status'], headers: resp || {}, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

function waitFor(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (pred()) { clearInterval(iv); resolve(); }
      else if (Date.now() - t0 > ms) { clearInterval(iv); reject(new Error('timeout waiting for ' + what)); }
    }, 5);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { identity, varint, readVarint, frame, frameParser, ackParser, ack, ulaw,
                   parseRippMedia, connect, request, waitFor, sleep, b64url };
