// An OAuth 2.0 client written from RFC 6749 / 7636 / 7009 and the SPEC alone on node's
// built-in http2 and crypto modules (no ripp code): it provisions trunks at a provider rippd
// and checks every refusal: status, application/problem+json, and the OAuth error member.
//   node provision.js PROVIDER_ORIGIN CA IDENTITY_KEY CLIENT_SECRET SECRETS_OUT
'use strict';
const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const p = require('./peer');

const [origin, ca, key, secret, secretsOut] = process.argv.slice(2);
const REDIRECT = 'https://consumer.example/cb';
const secrets = [];
let checks = 0;

const b64url = (b) => Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
const form = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined)).toString();
const basic = (id, s) => 'Basic ' + Buffer.from(encodeURIComponent(id) + ':' + encodeURIComponent(s)).toString('base64');

function problem(res, status, what, oauthError) {
  assert.strictEqual(res.status, status, `${what}: status ${res.status}, want ${status}; body ${res.body}`);
  assert.strictEqual(res.headers['content-type'], 'application/problem+json', what + ': content-type');
  const b = JSON.parse(res.body.toString());
  for (const k of ['type', 'title', 'status', 'detail'])
    assert.ok(b[k] !== undefined, `${what}: problem member ${k} missing: ${res.body}`);
  assert.strictEqual(b.status, status, what + ': problem status');
  if (oauthError) {
    assert.strictEqual(b.error, oauthError, `${what}: error ${b.error}, want ${oauthError}`);
    assert.strictEqual(typeof b.error_description, 'string', what + ': error_description');
  }
  if (status === 401) assert.ok(res.headers['www-authenticate'], what + ': WWW-Authenticate');
  checks++;
  console.log(`ok ${what}: ${status} ${b.error || b.type} (${b.detail})`);
  return b;
}

function ok(cond, what) {
  assert.ok(cond, what);
  checks++;
  console.log('ok ' + what);
}

const { session } = p.connect(origin + '/', ca);
const get = (path, hdrs = {}) => p.request(session, { ':method': 'GET', ':path': path, ...hdrs });
const post = (path, body, hdrs = {}) =>
  p.request(session, { ':method': 'POST', ':path': path, 'content-type': 'application/x-www-form-urlencoded', ...hdrs }, body);

// The authorization request; returns the page response and the PKCE pair.
async function authorizePage(clientId, extra = {}) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(12));
  const q = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, state,
              code_challenge: challenge, code_challenge_method: 'S256', ...extra };
  for (const k of Object.keys(q)) if (q[k] === null) delete q[k];
  const res = await get('/oauth/authorize?' + form(q));
  return { res, verifier, state };
}

function hiddenInputs(html) {
  const out = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    out[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return out;
}

// Log in and approve as a browser would; resolves with the POST response.
async function approve(page, user, password, approveValue = 'yes', csrf = undefined) {
  const h = hiddenInputs(page.res.body.toString());
  if (csrf !== undefined) h.csrf = csrf;
  return post('/oauth/authorize', form({ ...h, user, password, approve: approveValue }));
}

function redirectParams(res, what) {
  assert.strictEqual(res.status, 303, `${what}: status ${res.status}; body ${res.body}`);
  const loc = res.headers.location;
  assert.ok(loc.startsWith(REDIRECT + '?'), what + ': Location ' + loc);
  return new URL(loc).searchParams;
}

// The whole code flow up to the code; returns {code, verifier, trunk}.
async function codeFlow(clientId = 'consumer-1', user = 'alice', password = 'correct horse') {
  const page = await authorizePage(clientId);
  assert.strictEqual(page.res.status, 200, 'authorize page ' + page.res.body);
  assert.match(page.res.headers['content-type'], /^text\/html/);
  const q = redirectParams(await approve(page, user, password), 'approval');
  assert.strictEqual(q.get('state'), page.state, 'state round trip');
  const rt = q.get('ripp-trunk');
  assert.ok(!rt.includes('='), 'ripp-trunk is unpadded (D32)');
  const trunk = Buffer.from(rt.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString();
  assert.ok(trunk.startsWith(origin + '/trunks/'), 'ripp-trunk decodes to a trunk URI: ' + trunk);
  return { code: q.get('code'), verifier: page.verifier, trunk };
}

async function exchange(flow, clientId = 'consumer-1') {
  const res = await post('/oauth/token', form({ grant_type: 'authorization_code', code: flow.code,
                                                 redirect_uri: REDIRECT, code_verifier: flow.verifier }),
                         { authorization: basic(clientId, clientId === 'short' ? 'short-secret-0123456789' : secret) });
  assert.strictEqual(res.status, 200, 'token exchange ' + res.body);
  assert.strictEqual(res.headers['cache-control'], 'no-store');
  const t = JSON.parse(res.body.toString());
  assert.strictEqual(t.token_type, 'Bearer');
  assert.ok(t.access_token.length >= 22 && t.refresh_token.length >= 22, 'tokens of >= 128 bits');
  secrets.push(t.access_token, t.refresh_token, flow.code);
  return t;
}

const refresh = (rt) => post('/oauth/token', form({ grant_type: 'refresh_token', refresh_token: rt }),
                             { authorization: basic('consumer-1', secret) });
const caps = (trunk, token) => get(new URL(trunk).pathname + '/capAdv', { authorization: 'Bearer ' + token });

async function main() {
  // ---- the authorization endpoint ----
  let page = await authorizePage('consumer-1', { redirect_uri: 'https://evil.example/cb' });
  problem(page.res, 400, 'unregistered redirect_uri (no redirect)');
  assert.strictEqual(page.res.headers.location, undefined);
  page = await authorizePage('nobody');
  problem(page.res, 400, 'unknown client at authorize');
  page = await authorizePage('consumer-1', { code_challenge_method: 'plain' });
  let q = redirectParams(page.res, 'PKCE plain refused');
  ok(q.get('error') === 'invalid_request' && q.get('state') === page.state, 'PKCE S256 required: error on the redirect with state');
  page = await authorizePage('consumer-1', { response_type: 'token' });
  ok(redirectParams(page.res, 'implicit').get('error') === 'unsupported_response_type', 'response_type=token refused');
  page = await authorizePage('consumer-1');
  ok(!/<script/i.test(page.res.body.toString()), 'the approval page has no script');
  problem(await approve(page, 'alice', 'wrong password'), 403, 'bad login');
  problem(await approve(page, 'mallory', 'x'), 403, 'unknown account');
  problem(await approve(page, 'alice', 'correct horse', 'yes', '1.forged'), 403, 'forged CSRF token');
  q = redirectParams(await approve(page, 'alice', 'correct horse', 'no'), 'deny');
  ok(q.get('error') === 'access_denied', 'denied approval: access_denied on the redirect');
  // the per-account throttle: bob fails six times, the seventh is refused before checking
  page = await authorizePage('consumer-1');
  for (let i = 0; i < 6; i++) problem(await approve(page, 'bob', 'nope'), 403, 'bad login ' + (i + 1));
  const thr = await approve(page, 'bob', 'bob password');
  problem(thr, 429, 'throttled login');
  ok(Number(thr.headers['retry-after']) >= 1, 'Retry-After on the throttled login');

  // ---- the token endpoint ----
  let flow = await codeFlow();
  const tok = (o, auth = basic('consumer-1', secret)) => post('/oauth/token', form(o), { authorization: auth });
  const good = { grant_type: 'authorization_code', code: flow.code, redirect_uri: REDIRECT, code_verifier: flow.verifier };
  problem(await tok(good, basic('nobody', secret)), 401, 'unknown client', 'invalid_client');
  problem(await tok(good, basic('consumer-1', 'not-the-secret-0000')), 401, 'bad client secret', 'invalid_client');
  problem(await post('/oauth/token', form(good)), 401, 'no client authentication', 'invalid_client');
  problem(await tok({ ...good, code_verifier: b64url(crypto.randomBytes(32)) }), 400, 'wrong PKCE verifier', 'invalid_grant');
  problem(await tok({ ...good, code_verifier: undefined }), 400, 'no PKCE verifier', 'invalid_request');
  problem(await tok({ ...good, redirect_uri: 'https://consumer.example/other' }), 400, 'mismatched redirect_uri', 'invalid_grant');
  problem(await tok({ ...good, grant_type: 'password' }), 400, 'unsupported grant type', 'unsupported_grant_type');
  problem(await tok({ ...good, code: 'no-such-code' }), 400, 'unknown code', 'invalid_grant');
  problem(await tok(good, basic('short', 'short-secret-0123456789')), 400, 'code of another client', 'invalid_grant');
  const t1 = await exchange(flow);
  ok((await caps(flow.trunk, t1.access_token)).status === 200, 'the access token is a bearer of its trunk');
  problem(await tok(good), 400, 'replayed authorization code', 'invalid_grant');
  problem(await caps(flow.trunk, t1.access_token), 401, 'tokens of a replayed code are revoked');
  problem(await refresh(t1.refresh_token), 400, 'refresh token of a replayed code', 'invalid_grant');
  problem(await caps(flow.trunk, t1.refresh_token), 401, 'a refresh token is no bearer');

  // ---- refresh rotation and reuse detection ----
  flow = await codeFlow();
  const t2 = await exchange(flow);
  let res = await refresh(t2.refresh_token);
  assert.strictEqual(res.status, 200, 'refresh ' + res.body);
  const t3 = JSON.parse(res.body.toString());
  secrets.push(t3.access_token, t3.refresh_token);
  ok(t3.refresh_token !== t2.refresh_token, 'the refresh token rotates');
  ok((await caps(flow.trunk, t3.access_token)).status === 200, 'the refreshed access token works');
  problem(await refresh(t2.refresh_token), 400, 'reused refresh token after rotation', 'invalid_grant');
  problem(await refresh(t3.refresh_token), 400, 'the whole family is revoked after reuse', 'invalid_grant');
  problem(await caps(flow.trunk, t3.access_token), 401, 'access token of a revoked family');

  // ---- revocation (RFC 7009) ----
  flow = await codeFlow();
  const t4 = await exchange(flow);
  const revoke = (token) => post('/oauth/revoke', form({ token }), { authorization: basic('consumer-1', secret) });
  ok((await revoke(t4.access_token)).status === 200, 'revoke an access token: 200');
  problem(await caps(flow.trunk, t4.access_token), 401, 'revoked access token');
  ok((await revoke('never-issued-token')).status === 200, 'revoking an unknown token is not an error');
  problem(await post('/oauth/revoke', form({ token: t4.refresh_token }), { authorization: basic('short', 'short-secret-0123456789') }),
          400, 'revoking the token of another client', 'unauthorized_client');
  problem(await post('/oauth/revoke', form({ token: t4.refresh_token }), { authorization: basic('consumer-1', 'bad-secret-00000000') }),
          401, 'revocation with a bad secret', 'invalid_client');
  res = await refresh(t4.refresh_token);
  assert.strictEqual(res.status, 200, 'refresh after revoking the access token only');
  const t5 = JSON.parse(res.body.toString());
  secrets.push(t5.access_token, t5.refresh_token);
  ok((await revoke(t5.refresh_token)).status === 200, 'revoke a refresh token');
  problem(await caps(flow.trunk, t5.access_token), 401, 'revoking the refresh token revokes its grant');

  // ---- one trunk's token on another trunk (D10) ----
  const fx = await codeFlow(), tx = await exchange(fx);
  const fy = await codeFlow(), ty = await exchange(fy);
  const yPath = new URL(fy.trunk).pathname;
  problem(await caps(fy.trunk, tx.access_token), 403, 'token of trunk X on trunk Y capAdv');
  const call = await p.request(session, { ':method': 'POST', ':path': yPath + '/calls?target=14085551212%40e164.arpa',
                                          authorization: 'Bearer ' + ty.access_token,
                                          identity: p.identity(key, '14085550100', '14085551212') });
  assert.strictEqual(call.status, 201, 'call on Y ' + call.body);
  const callPath = new URL(call.headers.location).pathname;
  problem(await get(callPath, { authorization: 'Bearer ' + tx.access_token }), 403, 'token of trunk X on a call URI of Y');
  ok((await get(callPath, { authorization: 'Bearer ' + ty.access_token })).status === 200, "Y's own token on its call");
  const ctPut = (path, token, body, method = 'PUT') =>
    p.request(session, { ':method': method, ':path': path + '/consumerTrunk', authorization: 'Bearer ' + token,
                         'content-type': 'application/json' }, JSON.stringify(body));
  const ctBody = { consumerTrunkURI: 'https://consumer.example/trunks/c1', consumerToken: b64url(crypto.randomBytes(24)) };
  problem(await ctPut(yPath, tx.access_token, ctBody), 403, 'consumerTrunk of Y with the token of X');
  problem(await p.request(session, { ':method': 'DELETE', ':path': yPath, authorization: 'Bearer ' + tx.access_token }),
          403, 'DELETE of Y with the token of X');

  // ---- consumerTrunk (R1, D11) ----
  ok((await ctPut(yPath, ty.access_token, ctBody)).status === 204, 'PUT consumerTrunk: 204');
  ok((await ctPut(yPath, ty.access_token, { ...ctBody, consumerToken: b64url(crypto.randomBytes(24)) }, 'POST')).status === 204,
     'POST consumerTrunk (D11) replaces: 204');
  problem(await ctPut(yPath, ty.access_token, { consumerTrunkURI: 'https://c.example/t' }), 400, 'consumerTrunk without a token');
  problem(await ctPut(yPath, ty.access_token, { ...ctBody, consumerTrunkURI: 'http://consumer.example/trunks/c1' }),
          422, 'consumerTrunk URI that is not https');
  problem(await ctPut(yPath, 'not-a-token', ctBody), 401, 'consumerTrunk with an unknown token');

  // ---- DELETE {trunk} (R2, D12) ----
  ok((await p.request(session, { ':method': 'DELETE', ':path': new URL(fx.trunk).pathname,
                                 authorization: 'Bearer ' + tx.access_token })).status === 204, 'DELETE trunk: 204');
  problem(await caps(fx.trunk, tx.access_token), 401, 'the tokens of a deleted trunk');

  // ---- expiry: the "short" client's access tokens live 2 s ----
  const fs2 = await codeFlow('short');
  const ts = await exchange(fs2, 'short');
  ok(ts.expires_in === 2, 'expires_in of the short client');
  ok((await caps(fs2.trunk, ts.access_token)).status === 200, 'fresh short-lived token works');
  await new Promise((r) => setTimeout(r, 2600));
  problem(await caps(fs2.trunk, ts.access_token), 401, 'expired access token');
  const exp = await p.request(session, { ':method': 'POST', ':path': new URL(fs2.trunk).pathname + '/calls?target=1%40e164.arpa',
                                         authorization: 'Bearer ' + ts.access_token, identity: p.identity(key, '1', '1') });
  problem(exp, 401, 'expired access token on call creation');

  fs.writeFileSync(secretsOut, secrets.join('\n') + '\n');
  session.close();
  console.log(`${checks} checks passed`);
}

main().catch((e) => { console.error(e); process.exit(1); });
