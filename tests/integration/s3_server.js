// s3_server.js: an S3-compatible server on 127.0.0.1 for the tests of the
// s3 source plugin: s3rver (tests/s3/node_modules, npm), with AWS Signature
// Version 4 checked in front of it, as S3 does, for s3rver 3.7 only checks
// the access key id of a V4 request ("V4 signatures have incomplete
// support").
//
//   node s3_server.js DIR REGION < keys.json
//
// keys.json: [{"id": ..., "secret": ..., "token": optional session token}].
// Listens on a free port and prints {"port": N} on a line once ready; one
// line per request (never a credential) on stderr.
//
// What is checked, as S3 does: an Authorization header of AWS4-HMAC-SHA256
// (anonymous requests are AccessDenied), a known access key id, the scope's
// region and service, x-amz-date within 15 minutes, host, x-amz-date,
// x-amz-content-sha256 and every other x-amz-* header signed, the session
// token of a key that has one, the signature over the canonical request, and
// for a GET or HEAD the empty body's hash (or UNSIGNED-PAYLOAD). A PUT's body
// is not hashed against x-amz-content-sha256 (s3rver reads the stream).
'use strict';

const crypto = require('crypto');
const path = require('path');

const S3RVER = path.join(__dirname, '..', 's3', 'node_modules', 's3rver');
const S3rver = require(S3RVER);
const AWSAccount = require(path.join(S3RVER, 'lib', 'models', 'account'));

const EMPTY_SHA256 =
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const [dir, region] = process.argv.slice(2);
const keys = new Map(
  JSON.parse(require('fs').readFileSync(0, 'utf8')).map(k => [k.id, k]));

function sha256(s) {
  return crypto.createHash('sha256').update(s).digest('hex');
}

function hmac(key, s) {
  return crypto.createHmac('sha256', key).update(s).digest();
}

// RFC 3986 encoding, as SigV4 wants every path segment and query part.
function enc(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g,
    c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function canonicalRequest(req, signed, payload) {
  const [rawPath, rawQuery = ''] = req.url.split('?', 2);
  const uri = rawPath.split('/').map(s => enc(decodeURIComponent(s)))
    .join('/');
  const query = rawQuery === '' ? '' : rawQuery.split('&').map(p => {
    const [k, v = ''] = p.split('=', 2);
    return [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 :
    a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => k + '=' + v).join('&');
  const headers = signed.map(h => h + ':' +
    String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ') + '\n').join('');
  return [req.method, uri, query, headers, signed.join(';'), payload]
    .join('\n');
}

function verify(req) {
  const auth = req.headers.authorization;
  if (auth === undefined)
    throw new Refused(403, 'AccessDenied', 'Access Denied');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/
    .exec(auth);
  if (m === null)
    throw new Refused(400, 'AuthorizationHeaderMalformed',
      'The authorization header is malformed.');
  const [, id, day, reg, service, signedList, signature] = m;
  const key = keys.get(id);
  if (key === undefined)
    throw new Refused(403, 'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.');
  if (reg !== region || service !== 's3')
    throw new Refused(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${reg}' is ` +
      `wrong; expecting '${region}'`);
  const date = req.headers['x-amz-date'] || '';
  const dm = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(date);
  if (dm === null || date.slice(0, 8) !== day)
    throw new Refused(403, 'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header');
  const t = Date.UTC(dm[1], dm[2] - 1, dm[3], dm[4], dm[5], dm[6]);
  if (Math.abs(Date.now() - t) > 15 * 60 * 1000)
    throw new Refused(403, 'RequestTimeTooSkewed',
      'The difference between the request time and the current time is ' +
      'too large.');
  const signed = signedList.split(';');
  const payload = req.headers['x-amz-content-sha256'];
  if (payload === undefined)
    throw new Refused(400, 'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256');
  const unsigned = ['host', 'x-amz-date', ...Object.keys(req.headers)
    .filter(h => h.startsWith('x-amz-'))].filter(h => !signed.includes(h));
  if (unsigned.length > 0)
    throw new Refused(403, 'AccessDenied', 'There were headers present ' +
      'in the request which were not signed: ' + unsigned.join(', '));
  if ((req.method === 'GET' || req.method === 'HEAD') &&
      payload !== EMPTY_SHA256 && payload !== 'UNSIGNED-PAYLOAD')
    throw new Refused(400, 'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what " +
      'was computed.');
  if (key.token !== undefined &&
      req.headers['x-amz-security-token'] !== key.token)
    throw new Refused(403, 'InvalidToken',
      'The provided token is malformed or otherwise invalid.');
  const scope = `${day}/${reg}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope,
    sha256(canonicalRequest(req, signed, payload))].join('\n');
  let k = hmac('AWS4' + key.secret, day);
  for (const part of [reg, 's3', 'aws4_request'])
    k = hmac(k, part);
  const want = hmac(k, toSign);
  if (!crypto.timingSafeEqual(want, Buffer.from(signature, 'hex')))
    throw new Refused(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature ' +
      'you provided. Check your key and signing method.');
}

async function main() {
  for (const k of keys.values())
    AWSAccount.DUMMY_ACCOUNT.createKeyPair(k.id, k.secret);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir,
    silent: true,
    vhostBuckets: false,
  });
  // First of all middleware (Koa composes it when listening).
  server.middleware.unshift(async (ctx, next) => {
    try {
      verify(ctx.req);
    } catch (e) {
      if (!(e instanceof Refused))
        throw e;
      process.stderr.write(`${ctx.method} ${ctx.url} -> ${e.status} ` +
        `${e.code}\n`);
      ctx.status = e.status;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
        e.code + '</Code><Message>' + e.message + '</Message></Error>';
      return;
    }
    let status;
    try {
      await next();
      status = ctx.status;
    } catch (e) {
      status = `${e.status || 500} ${e.code || e.message}`;
      throw e;
    } finally {
      process.stderr.write(`${ctx.method} ${ctx.url} -> ${status}\n`);
    }
  });
  const addr = await server.run();
  process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
}

main().catch(e => {
  process.stderr.write(`s3_server: ${e.stack}\n`);
  process.exit(1);
});
