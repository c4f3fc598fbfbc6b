// A real OpenID provider for Arbitral's OIDC login tests: panva's oidc-provider 8
// (an OpenID Certified implementation), on loopback only.
//
//   node provider.mjs --port 0 \
//     --client-id arbitral --client-secret s3cret --redirect-uri http://127.0.0.1:8000/cb \
//     --registration-token t0ken \
//     --account 'li={"email":"li@example.cn","email_verified":true}'
//
// * --port: the port to listen on (0: any free port); the issuer is http://127.0.0.1:<port>.
// * --client-id/--client-secret/--redirect-uri (repeatable): one confidential client
//   (client_secret_basic, authorization code only). Optional; ARBITRAL_TEST_OIDC_CLIENT
//   may carry the same as JSON {"client_id", "client_secret", "redirect_uris"}.
// * --registration-token: enables dynamic client registration (RFC 7591) at /reg,
//   protected by this initial access token, so each test commission can register its
//   own confidential client with its own redirect URI.
// * --account id=JSON (repeatable): an account of the provider and its claims (email,
//   email_verified, name). The devInteractions login form accepts any login name; a
//   name given here becomes the ID token's "sub" with these claims, any other name
//   is an account known by its "sub" alone.
//
// PKCE (S256) is required of every client. When listening, one line goes to stdout:
//   READY http://127.0.0.1:<port>
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'registration-token': { type: 'string' },
    account: { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});

const HOST = '127.0.0.1';

function fail(message) {
  process.stderr.write(`provider.mjs: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(values.port, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${values.port}: not a port`);

const clients = [];
const fromEnv = process.env.ARBITRAL_TEST_OIDC_CLIENT;
if (values['client-id'] || fromEnv) {
  const client = values['client-id']
    ? {
        client_id: values['client-id'],
        client_secret: values['client-secret'],
        redirect_uris: values['redirect-uri'],
      }
    : JSON.parse(fromEnv);
  if (!client.client_secret) fail('a confidential client needs --client-secret');
  if (!client.redirect_uris?.length) fail('the client needs at least one --redirect-uri');
  clients.push({
    ...client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

const accounts = new Map();
for (const entry of values.account) {
  const at = entry.indexOf('=');
  if (at < 1) fail(`--account ${entry}: expected id=JSON`);
  try {
    accounts.set(entry.slice(0, at), JSON.parse(entry.slice(at + 1)));
  } catch (error) {
    fail(`--account ${entry}: ${error.message}`);
  }
}

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}

const server = createServer();
server.listen(port, HOST, () => {
  const { port: bound } = server.address();
  const issuer = `http://${HOST}:${bound}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: {
      keys: [
        signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
        signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
      ],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: {
      devInteractions: { enabled: true },
      registration: values['registration-token']
        ? { enabled: true, initialAccessToken: values['registration-token'] }
        : { enabled: false },
    },
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    async findAccount(ctx, id) {
      const claims = accounts.get(id) ?? {};
      return {
        accountId: id,
        async claims() {
          return { ...claims, sub: id };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});
server.on('error', (error) => fail(error.message));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
