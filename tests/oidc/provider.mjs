// A real OpenID provider for the sign-in tests: the certified `oidc-provider` package (a devDependency
// in package.json), on a free port of 127.0.0.1, with the clients and synthetic accounts given as JSON in
// the first argument:
//
//   {"clients": [{"client_id": ..., "client_secret": ..., "redirect_uris": [...]}],
//    "accounts": {"<sub>": {"preferred_username": ..., "email": ..., ...}},
//    "claimsInIdToken": true}
//
// It prints one line of JSON, {"ready": true, "issuer": "http://127.0.0.1:<port>"}, once it answers,
// and stops on SIGTERM. Signing in is a minimal interaction driven over HTTP (no pages):
//
//   GET  /interaction/<uid>         -> {"uid", "prompt"} for the interaction the provider began
//   POST /interaction/<uid>/login   (form: login=<sub>) signs that account in and grants the scopes asked
//   POST /interaction/<uid>/abort   ends the interaction with error=access_denied
//
// Each answers as the provider does, with a redirect back to the authorization endpoint, which then
// redirects to the client's redirect_uri with the code (or the error).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? '{}');
const accounts = config.accounts ?? {};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
  },
  // true: the scopes' claims only from the userinfo endpoint, as the specification reads by default.
  conformIdTokenClaims: !config.claimsInIdToken,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(ctx, sub) {
    const claims = accounts[sub];
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
});

const answer = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const formOf = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
};

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return answer(res, 400, { error: 'not this interaction' });
  if (req.method === 'GET' && !action) return answer(res, 200, { uid, prompt: details.prompt.name });
  if (req.method !== 'POST') return answer(res, 405, { error: 'POST to log in or abort' });
  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'cancelled' });
  }
  const login = (await formOf(req)).get('login');
  if (!Object.hasOwn(accounts, login ?? '')) return answer(res, 400, { error: `no account ${login}` });
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(
    req,
    res,
    { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(new URL(req.url, issuer).pathname);
  if (!match) return callback(req, res);
  try {
    return await interaction(req, res, match[1], match[2]);
  } catch (err) {
    return answer(res, 400, { error: String(err) });
  }
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(JSON.stringify({ ready: true, issuer }));
